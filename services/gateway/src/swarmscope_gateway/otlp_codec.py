"""OTLP/HTTP trace bodies in and out, with the official `opentelemetry-proto` messages.

In: an ExportTraceServiceRequest as protobuf or as OTLP JSON. OTLP JSON differs from protobuf's
canonical JSON mapping in one way that matters: trace and span ids are hex strings, not base64, so
they are turned into base64 before `json_format` parses the message. Unknown fields are ignored,
as the OTLP specification requires of receivers. Out: ExportTraceServiceResponse (with
`partial_success` when spans were refused) and, for failures, google.rpc.Status, each in the
encoding of the request.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from swarmscope_schema.otel import OtelSpan, SpanEvent, SpanLink, StatusCode

Encoding = Literal["protobuf", "json"]

PROTOBUF_MEDIA = "application/x-protobuf"
JSON_MEDIA = "application/json"
MEDIA_TYPES: dict[Encoding, str] = {"protobuf": PROTOBUF_MEDIA, "json": JSON_MEDIA}

_HEX = re.compile(r"^[0-9a-fA-F]*$")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_MESSAGE_LISTS = frozenset(
    {"resourceSpans", "scopeSpans", "spans", "events", "links", "attributes", "resource_spans", "scope_spans"}
)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_STATUS: dict[int, StatusCode] = {
    Status.STATUS_CODE_UNSET: "unset",
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}
_MAX_DEPTH = 32


class OtlpDecodeError(ValueError):
    """The body is not an ExportTraceServiceRequest in the encoding it claims."""


@dataclass(frozen=True, slots=True)
class RejectedSpan:
    reason: str
    message: str


def encoding_of(content_type: str | None) -> Encoding | None:
    """The OTLP encoding a Content-Type names, or None for a type OTLP/HTTP does not define."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF_MEDIA, "application/protobuf", "application/vnd.google.protobuf"):
        return "protobuf"
    if media == JSON_MEDIA:
        return "json"
    return None


def _hex_ids_to_base64(node: Any, depth: int = 0) -> None:
    """Hex ids → base64, in place; also refuses a list of messages holding a non-object, which
    json_format would take for an empty message when told to ignore unknown fields."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str) and _HEX.match(value) and len(value) % 2 == 0:
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                continue
            if key in _MESSAGE_LISTS and not (
                value is None or (isinstance(value, list) and all(isinstance(item, dict) for item in value))
            ):
                raise OtlpDecodeError(f"{key} must be an array of objects")
            if isinstance(value, (dict, list)):
                _hex_ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item, depth + 1)


def decode_request(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """The export request of a body; raises OtlpDecodeError saying what is wrong."""
    request = ExportTraceServiceRequest()
    if encoding == "protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError) as exc:
            raise OtlpDecodeError(f"not a valid OTLP ExportTraceServiceRequest protobuf ({exc})") from None
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("an OTLP JSON body is an object with resourceSpans")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise OtlpDecodeError(f"not a valid OTLP JSON ExportTraceServiceRequest ({exc})") from None
    return request


def _value(value: AnyValue, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v, depth + 1) for v in value.array_value.values] if depth < _MAX_DEPTH else None
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values, depth + 1) if depth < _MAX_DEPTH else None
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _attributes(pairs: Any, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        out[pair.key] = _value(pair.value, depth)
    return out


_SPAN_KINDS: dict[int, str] = {
    int(value): name.removeprefix("SPAN_KIND_").lower() for name, value in Span.SpanKind.items()
}


def _span_kind(kind: int) -> str:
    token = _SPAN_KINDS.get(kind, "unspecified")
    return "internal" if token == "unspecified" else token


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[OtelSpan], list[RejectedSpan]]:
    """The request's spans with plain values, and those that cannot be traced (bad ids)."""
    spans: list[OtelSpan] = []
    rejected: list[RejectedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for span in scope_spans.spans:
                trace_id = span.trace_id.hex()
                span_id = span.span_id.hex()
                if len(trace_id) != 32 or trace_id == _ZERO_TRACE:
                    rejected.append(
                        RejectedSpan("invalid_trace_id", "trace_id must be 16 bytes, not all zero")
                    )
                    continue
                if len(span_id) != 16 or span_id == _ZERO_SPAN:
                    rejected.append(RejectedSpan("invalid_span_id", "span_id must be 8 bytes, not all zero"))
                    continue
                parent = span.parent_span_id.hex()
                spans.append(
                    OtelSpan(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=parent if len(parent) == 16 and parent != _ZERO_SPAN else None,
                        name=span.name or "(unnamed span)",
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano or span.start_time_unix_nano,
                        kind=_span_kind(span.kind),
                        attributes=_attributes(span.attributes),
                        status=_STATUS.get(span.status.code, "unset"),
                        status_message=span.status.message,
                        events=tuple(
                            SpanEvent(e.name, e.time_unix_nano, _attributes(e.attributes))
                            for e in span.events
                        ),
                        resource=resource,
                        scope=scope,
                        links=tuple(
                            SpanLink(link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
                            for link in span.links
                            if len(link.trace_id) == 16 and len(link.span_id) == 8
                        ),
                    )
                )
    return spans, rejected


def encode_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    """ExportTraceServiceResponse: empty on full success, else partial_success with the count."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if encoding == "protobuf":
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def encode_status(code: int, message: str, encoding: Encoding) -> bytes:
    """google.rpc.Status, the body OTLP/HTTP gives every 4xx and 5xx answer."""
    status = status_pb2.Status(code=code, message=message)
    if encoding == "protobuf":
        encoded: bytes = status.SerializeToString()
        return encoded
    return json_format.MessageToJson(status, indent=None).encode()
