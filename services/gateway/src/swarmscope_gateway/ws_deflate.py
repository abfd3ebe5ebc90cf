"""uvicorn's sans-I/O WebSocket protocol with a cheaper permessage-deflate.

Each WebSocket client compresses its own stream (the deflate context is per connection), so with
50 clients the gateway compresses every batch 50 times: at zlib's default level that doubled the
gateway's CPU in bench/gateway_live.py. Level 1 keeps most of the gain on repetitive event JSON for
a fraction of the work. Window and memory settings are uvicorn's (12 bits, memLevel 5).
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

DEFLATE_LEVEL = 1


class CheapDeflateProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[
                    ServerPerMessageDeflateFactory(
                        server_max_window_bits=12,
                        client_max_window_bits=12,
                        compress_settings={"memLevel": 5, "level": DEFLATE_LEVEL},
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )
