"""The OTLP/HTTP trace receiver: `POST /v1/traces` on the gateway port (CONTRACT §1b).

An OpenTelemetry exporter pointed at the gateway (`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8000`)
sends ExportTraceServiceRequests, protobuf or JSON, gzip, deflate or plain. Each request is decoded
with opentelemetry-proto, mapped to contract events by `swarmscope_schema.otel` and published to
TRACES_RAW like every other edge, so ingest validates, redacts, dead-letters and counts them.

Answers follow the OTLP/HTTP specification: 200 with ExportTraceServiceResponse (partial_success
with the count and reasons of refused spans), 400 for a body that is not an export request (also
dead-lettered, so an operator sees it), 413 when too large, 415 for another content type, 429 and
503 with Retry-After so exporters back off and retry. A span is published whole (its start and end
events) or refused whole; a failed publish answers 503 and the retry stores nothing twice, since
event ids derive from trace id + span id + phase.

OTLP/gRPC is not served: every OTel SDK and the Collector speak OTLP/HTTP, and gRPC would add
grpcio (a large native wheel) and a second server for the same capability.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import Response

from swarmscope_gateway.auth import Principal
from swarmscope_gateway.bodies import stream_body
from swarmscope_gateway.edges import Reject, to_raw
from swarmscope_gateway.errors import ApiError
from swarmscope_gateway.otlp_codec import (
    MEDIA_TYPES,
    Encoding,
    OtlpDecodeError,
    RejectedSpan,
    decode_request,
    encode_response,
    encode_status,
    encoding_of,
    spans_of,
)
from swarmscope_schema.otel import MappedSpan, map_spans, ordered_events
from swarmscope_schema.requests import ErrorCode
from swarmscope_schema.subjects import (
    DLQ_ERROR_HEADER,
    DLQ_REASON_HEADER,
    DLQ_SOURCE_HEADER,
    MSG_ID_HEADER,
    STREAM_DLQ,
    DlqReason,
    dlq_subject,
)
from swarmscope_service.publishing import (
    BatchPublisher,
    Outgoing,
    PublishError,
    RawEvent,
    publish_all,
    publish_raw,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request, Principal], Awaitable[Response]]

ENDPOINT = "otlp"
RETRY_AFTER_SECONDS = 5
# A dead letter keeps the head of a malformed body: enough to see what was sent, within NATS'
# default max payload.
DLQ_BODY_BYTES = 512 * 1024
MAX_REASONS_IN_MESSAGE = 5

# google.rpc.Code of each HTTP status the receiver answers (the Status body of a 4xx / 5xx).
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14, 504: 4}


@dataclass
class OtlpMetrics:
    """What the receiver counts. Labels are bounded: encoding, outcome and reason tokens."""

    requests: Counter
    spans_received: Counter
    spans_accepted: Counter
    spans_rejected: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> OtlpMetrics:
        return cls(
            requests=Counter(
                "swarmscope_gateway_otlp_requests_total",
                "OTLP export requests, by encoding and outcome "
                "(accepted, partial, rejected, bad_request, too_large, unsupported_media_type, unavailable)",
                ["encoding", "outcome"],
                registry=registry,
            ),
            spans_received=Counter(
                "swarmscope_gateway_otlp_spans_received_total",
                "Spans in OTLP export requests that decoded",
                registry=registry,
            ),
            spans_accepted=Counter(
                "swarmscope_gateway_otlp_spans_accepted_total",
                "Spans published to TRACES_RAW as contract events",
                registry=registry,
            ),
            spans_rejected=Counter(
                "swarmscope_gateway_otlp_spans_rejected_total",
                "Spans refused, by reason (invalid_trace_id, invalid_span_id, too_large, invalid_event, "
                "unavailable)",
                ["reason"],
                registry=registry,
            ),
        )


def _request_encoding(request: Request) -> Encoding:
    return encoding_of(request.headers.get("content-type")) or "protobuf"


def status_response(request: Request, exc: ApiError) -> Response:
    """An API error as OTLP/HTTP answers it: google.rpc.Status in the request's encoding, with the
    error's status and headers (Retry-After, WWW-Authenticate)."""
    encoding = _request_encoding(request)
    body = encode_status(_GRPC_CODES.get(exc.status, 2), exc.message, encoding)
    return Response(body, status_code=exc.status, headers=exc.headers, media_type=MEDIA_TYPES[encoding])


async def publish_events(publisher: BatchPublisher, events: Sequence[RawEvent]) -> None:
    """Publishes one request's events to TRACES_RAW as v1.1 batch messages (one per session and
    max message size), pipelined, with one wait for the acks."""
    await publish_raw(publisher, events)


def _outgoing_of(mapped: Sequence[MappedSpan]) -> tuple[list[RawEvent], list[RejectedSpan]]:
    """The messages of every span that can be published whole, in the mapping's log order; the
    other spans with the reason."""
    encoded: dict[int, RawEvent] = {}
    whole: list[MappedSpan] = []
    rejected: list[RejectedSpan] = []
    for m in mapped:
        problem: Reject | None = None
        for event in m.events:
            result = to_raw(event)
            if isinstance(result, Reject):
                problem = result
                break
            encoded[id(event)] = result
        if problem is None:
            whole.append(m)
        else:
            reason = "too_large" if problem.code == "too_large" else "invalid_event"
            rejected.append(RejectedSpan(reason, f"span {m.span.span_id} ({m.span.name}): {problem.message}"))
    return [encoded[id(event)] for event in ordered_events(whole)], rejected


def _partial_message(rejected: Sequence[RejectedSpan]) -> str:
    reasons = Tally(r.reason for r in rejected)
    counts = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    examples = "; ".join(r.message for r in rejected[:MAX_REASONS_IN_MESSAGE])
    return f"{len(rejected)} spans rejected ({counts}): {examples}"


def otlp_handlers(
    publisher: BatchPublisher,
    js: JetStreamContext,
    metrics: OtlpMetrics,
    published: Counter,
    *,
    max_body_bytes: int,
    publish_timeout: float,
) -> dict[str, Handler]:
    """The receiver's handler by endpoint name (see api_spec); `published` counts its events."""

    async def dead_letter(body: bytes, encoding: Encoding, error: str) -> None:
        reason = DlqReason.INVALID_JSON if encoding == "json" else DlqReason.SCHEMA_VIOLATION
        letter = Outgoing(
            subject=dlq_subject(reason),
            payload=body[:DLQ_BODY_BYTES],
            headers={
                DLQ_REASON_HEADER: reason.value,
                DLQ_ERROR_HEADER: error[:400],
                DLQ_SOURCE_HEADER: f"gateway/otlp ({MEDIA_TYPES[encoding]}, {len(body)} bytes)",
                # An exporter retrying the same bad body makes one dead letter, not one per try.
                MSG_ID_HEADER: f"dlq:otlp:{hashlib.sha256(body).hexdigest()}",
            },
            stream=STREAM_DLQ,
        )
        try:
            await publish_all(js, [letter], timeout=publish_timeout)
        except PublishError as exc:
            log.warning("could not dead-letter a malformed OTLP body", extra={"error": str(exc)})

    async def export_traces(request: Request, _: Principal) -> Response:
        encoding = encoding_of(request.headers.get("content-type"))
        if encoding is None:
            metrics.requests.labels("unknown", "unsupported_media_type").inc()
            raise ApiError(
                ErrorCode.BAD_REQUEST,
                "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)",
                status=415,
            )
        try:
            body = b"".join([chunk async for chunk in stream_body(request, max_body_bytes)])
        except ApiError as exc:
            outcome = "too_large" if exc.code is ErrorCode.PAYLOAD_TOO_LARGE else "bad_request"
            metrics.requests.labels(encoding, outcome).inc()
            raise
        try:
            export = decode_request(body, encoding)
        except OtlpDecodeError as exc:
            metrics.requests.labels(encoding, "bad_request").inc()
            await dead_letter(body, encoding, str(exc))
            raise ApiError(ErrorCode.BAD_REQUEST, f"body: {exc}") from None
        spans, rejected = spans_of(export)
        metrics.spans_received.inc(len(spans) + len(rejected))
        outgoing, unpublishable = _outgoing_of(map_spans(spans))
        rejected.extend(unpublishable)
        accepted = len(spans) - len(unpublishable)
        try:
            await publish_events(publisher, outgoing)
        except PublishError as exc:
            log.warning("OTLP export not published", extra={"error": str(exc), "spans": len(spans)})
            metrics.requests.labels(encoding, "unavailable").inc()
            metrics.spans_rejected.labels("unavailable").inc(accepted)
            raise ApiError(
                ErrorCode.UNAVAILABLE,
                "NATS did not acknowledge the spans; retry (span ids make a retry safe)",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        published.inc(len(outgoing))
        metrics.spans_accepted.inc(accepted)
        for r in rejected:
            metrics.spans_rejected.labels(r.reason).inc()
        outcome = "accepted" if not rejected else ("partial" if accepted else "rejected")
        metrics.requests.labels(encoding, outcome).inc()
        message = _partial_message(rejected) if rejected else ""
        return Response(
            encode_response(len(rejected), message, encoding),
            status_code=200,
            media_type=MEDIA_TYPES[encoding],
        )

    return {"export_traces": export_traces}
