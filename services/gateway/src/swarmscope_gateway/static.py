"""The built web UI (`frontend/dist`) at `/`, as a single-page app: a path that is not a file gets
index.html, so deep links (`/sessions/x?seq=…`) load the app, which routes them itself."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Vite names assets by content hash: they never change under a name, so browsers may keep them.
_IMMUTABLE = "public, max-age=31536000, immutable"


class SpaFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            last = path.rsplit("/", 1)[-1]
            if exc.status_code != 404 or "." in last:
                raise
            response = await super().get_response("index.html", scope)
            path = "index.html"
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = _IMMUTABLE
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
