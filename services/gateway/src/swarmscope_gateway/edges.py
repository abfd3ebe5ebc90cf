"""Events in and out over HTTP: POST /ingest, POST /import (JSON Lines, streamed) and export.

In: each event goes through the contract's one validator (`swarmscope_schema.validation`, the checks
ingest runs on every raw message) before anything is published, so the answer is exact: an event
ingest would dead-letter is rejected in the answer with the dead-letter reason ingest would give
(`schema_violation`, `too_large`, `invalid_json`, `invalid_utf8`) and is never published; the good
ones go to TRACES_RAW through the services' one publisher, a session's events as batch messages
(v1.1). Out: export pages the store and streams one StoredEvent per line, so a session of any size
leaves in constant memory, redacted again on the way out (events stored before a rule was widened
leave without what it now catches).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from swarmscope_gateway.auth import Principal
from swarmscope_gateway.bodies import read_body, stream_body
from swarmscope_gateway.errors import ApiError, JsonResponse
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_gateway.params import ExportParams, ImportParams, parse_params
from swarmscope_gateway.rpc import RpcClients
from swarmscope_schema.codec import MAX_EVENT_BYTES, DecodeError, loads
from swarmscope_schema.redaction import Redactor
from swarmscope_schema.requests import ErrorCode, EventsQuery, SessionRef, StoreOp
from swarmscope_schema.subjects import DlqReason
from swarmscope_schema.validation import Rejected, check_object, check_schema
from swarmscope_service.publishing import BatchPublisher, PublishError, RawEvent, publish_raw
from swarmscope_service.request_reply import ServiceError

log = logging.getLogger(__name__)

Handler = Callable[[Request, Principal], Awaitable[Response]]

PUBLISH_CHUNK = 1000
MAX_REPORTED_REJECTS = 1000
MAX_REPORTED_SESSIONS = 100
EXPORT_PAGE = 1000
# Assigned by the log, not by producers: an exported event carries its old ones.
_ASSIGNED_FIELDS = ("seq", "received_at")


@dataclass
class Reject:
    """Why one event was not published; `code` is the dead-letter reason ingest would have given."""

    code: str
    message: str

    @classmethod
    def of(cls, rejected: Rejected) -> Reject:
        return cls(rejected.reason.value, rejected.detail)


@dataclass
class PublishReport:
    accepted: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, where: dict[str, int], problem: Reject) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_REPORTED_REJECTS:
            self.rejects.append({**where, "code": problem.code, "message": problem.message})

    def body(self, **extra: Any) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejects": self.rejects,
            "rejects_truncated": self.rejected > len(self.rejects),
            **extra,
        }


def to_raw(event: Any, *, session_override: str | None = None) -> RawEvent | Reject:
    """The raw message of one event, or why ingest would dead-letter it (then it is not published).

    The checks are ingest's own (size, then `check_schema`); the message is addressed from the
    validated event, so its subject agrees with the body by construction.
    """
    raw = check_object(event)
    if isinstance(raw, Rejected):
        return Reject.of(raw)
    for key in _ASSIGNED_FIELDS:
        raw.pop(key, None)
    if session_override is not None:
        raw.pop("sessionId", None)
        raw["session_id"] = session_override
    payload = orjson.dumps(raw)
    if len(payload) > MAX_EVENT_BYTES:
        return Reject(
            DlqReason.TOO_LARGE.value,
            f"the event is {len(payload)} bytes; the limit is {MAX_EVENT_BYTES} bytes (1 MiB)",
        )
    body = check_schema(raw)
    if isinstance(body, Rejected):
        return Reject.of(body)
    sent_type = raw.get("type")
    return RawEvent(
        session_id=body["session_id"],
        agent_id=body.get("agent_id"),
        event_id=body["id"],
        event_type=sent_type if isinstance(sent_type, str) else body["type"],
        payload=payload,
    )


def line_event(line: bytes) -> Any:
    """One import line parsed, or the Reject naming why it is not JSON (as ingest would)."""
    try:
        return loads(line)
    except DecodeError as exc:
        return Reject(exc.reason, str(exc))


def _unavailable(exc: Exception, report: PublishReport, **extra: Any) -> ApiError:
    log.warning("publish to TRACES_RAW failed", extra={"error": str(exc)})
    return ApiError(
        ErrorCode.UNAVAILABLE,
        "NATS did not acknowledge the events; retry (event ids make a retry safe)",
        details={"accepted": report.accepted, **extra},
    )


def edge_handlers(
    publisher: BatchPublisher,
    rpc: RpcClients,
    metrics: GatewayMetrics,
    *,
    max_body_bytes: int,
    max_import_bytes: int,
    redactor: Redactor,
) -> dict[str, Handler]:
    """Handlers by endpoint name (see api_spec)."""
    published = {name: metrics.published.labels(name) for name in ("ingest", "import")}

    async def publish(endpoint: str, outgoing: list[RawEvent]) -> None:
        await publish_raw(publisher, outgoing)
        published[endpoint].inc(len(outgoing))

    async def stored_count(session_id: str) -> int | None:
        try:
            summary = await rpc.store(StoreOp.SESSION, SessionRef(session_id=session_id))
        except ServiceError as exc:
            return 0 if exc.code is ErrorCode.NOT_FOUND else None
        count = summary.get("event_count") if isinstance(summary, dict) else None
        return int(count) if isinstance(count, int) else None

    def count_reject(endpoint: str, problem: Reject) -> None:
        metrics.rejected.labels(endpoint, problem.code).inc()

    async def ingest_events(request: Request, _: Principal) -> Response:
        raw = await read_body(request, max_body_bytes)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(ErrorCode.BAD_REQUEST, f"body: not valid JSON ({exc})") from None
        report = PublishReport()
        if isinstance(body, dict):
            single = to_raw(body)
            if isinstance(single, Reject):
                count_reject("ingest", single)
                raise ApiError(
                    ErrorCode.BAD_REQUEST, f"event: {single.message}", details={"reason": single.code}
                )
            outgoing = [single]
        elif isinstance(body, list):
            if not body:
                raise ApiError(ErrorCode.BAD_REQUEST, "body: the array holds no events")
            outgoing = []
            for index, item in enumerate(body):
                result = to_raw(item)
                if isinstance(result, Reject):
                    count_reject("ingest", result)
                    report.reject({"index": index}, result)
                else:
                    outgoing.append(result)
            if not outgoing:
                first = report.rejects[0]
                raise ApiError(
                    ErrorCode.BAD_REQUEST,
                    f"no event was accepted; [{first['index']}]: {first['message']}",
                    details={"rejects": report.rejects},
                )
        else:
            raise ApiError(ErrorCode.BAD_REQUEST, "body: must be an event object or an array of events")
        try:
            for start in range(0, len(outgoing), PUBLISH_CHUNK):
                chunk = outgoing[start : start + PUBLISH_CHUNK]
                await publish("ingest", chunk)
                report.accepted += len(chunk)
        except PublishError as exc:
            raise _unavailable(exc, report) from None
        return JsonResponse(report.body(), status_code=202)

    async def import_events(request: Request, _: Principal) -> Response:
        params = parse_params(ImportParams, request)
        report = PublishReport()
        # Per session: events sent, and its stored count before them (asked once, at its first line,
        # before any of its events is published), so that the person learns what was new.
        sessions: dict[str, dict[str, Any]] = {}
        chunk: list[RawEvent] = []
        chunk_first_line = 1
        line_no = 0
        try:
            async for line_no, line in _lines(stream_body(request, max_import_bytes)):
                if line is None:
                    problem = Reject(
                        DlqReason.TOO_LARGE.value, f"the line is longer than {MAX_EVENT_BYTES} bytes"
                    )
                    count_reject("import", problem)
                    report.reject({"line": line_no}, problem)
                    continue
                if not line.strip():
                    continue
                event = line_event(line)
                result = (
                    event if isinstance(event, Reject) else to_raw(event, session_override=params.session_id)
                )
                if isinstance(result, Reject):
                    count_reject("import", result)
                    report.reject({"line": line_no}, result)
                    continue
                session_id = result.session_id
                entry = sessions.get(session_id)
                if entry is None and len(sessions) < MAX_REPORTED_SESSIONS:
                    entry = sessions[session_id] = {
                        "session_id": session_id,
                        "events": 0,
                        "stored_before": await stored_count(session_id),
                    }
                if entry is not None:
                    entry["events"] += 1
                if not chunk:
                    chunk_first_line = line_no
                chunk.append(result)
                if len(chunk) >= PUBLISH_CHUNK:
                    await publish("import", chunk)
                    report.accepted += len(chunk)
                    chunk = []
            if chunk:
                await publish("import", chunk)
                report.accepted += len(chunk)
        except PublishError as exc:
            raise _unavailable(exc, report, failed_from_line=chunk_first_line) from None
        if not line_no:
            raise ApiError(ErrorCode.BAD_REQUEST, "body: the import holds no lines")
        return JsonResponse(report.body(lines=line_no, sessions=list(sessions.values())), status_code=202)

    async def export_session(request: Request, _: Principal) -> Response:
        params = parse_params(ExportParams, request)
        # A typo should be a 404, not an empty download.
        await rpc.store(StoreOp.SESSION, SessionRef(session_id=params.session_id))

        async def lines() -> AsyncIterator[bytes]:
            cursor = params.after_seq
            limit = EXPORT_PAGE
            while True:
                query = EventsQuery(
                    session_id=params.session_id,
                    after_seq=cursor,
                    until_seq=params.until_seq,
                    limit=limit,
                    agent=params.agent,
                    type=params.type,
                    phase=params.phase,
                )
                try:
                    result = await rpc.store(StoreOp.EVENTS, query)
                except ServiceError as exc:
                    if exc.code is ErrorCode.PAYLOAD_TOO_LARGE and limit > 10:
                        limit = max(10, limit // 4)
                        continue
                    # The status line is gone; cutting the chunked body is how HTTP says "failed".
                    log.warning("export cut short", extra={"error": exc.message})
                    raise
                items = result.get("items") if isinstance(result, dict) else result
                if not items:
                    return
                yield b"".join(redactor.redact_encoded(item, orjson.dumps(item))[0] + b"\n" for item in items)
                cursor = int(items[-1]["seq"])
                if not (isinstance(result, dict) and result.get("next_cursor")):
                    return

        filename = f"{params.session_id}.jsonl"
        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    return {"ingest_events": ingest_events, "import_events": import_events, "export_session": export_session}


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """(line number, line) of a byte stream; None for a line too long to be an event (skipped
    without holding it in memory)."""
    limit = MAX_EVENT_BYTES + 64 * 1024
    remainder = b""
    skipping = False
    line_no = 0
    async for chunk in chunks:
        parts = (remainder + chunk).split(b"\n")
        remainder = parts.pop()
        for part in parts:
            line_no += 1
            if skipping:
                skipping = False
                yield line_no, None
            else:
                yield line_no, None if len(part) > limit else part
        if len(remainder) > limit:
            skipping = True
            remainder = b""
    if skipping:
        yield line_no + 1, None
    elif remainder:
        yield line_no + 1, None if len(remainder) > limit else remainder
