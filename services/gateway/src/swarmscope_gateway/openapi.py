"""The OpenAPI 3.1 document, generated from the route table (api_spec) and the pydantic contract
models (swarmscope_schema.api / requests, and the gateway's own parameter and message models).

`python -m swarmscope_gateway openapi > docs/openapi.json` writes it; a test fails when the
committed file differs from what this module generates.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from swarmscope_gateway.access import METRICS, PUBLIC, Access
from swarmscope_gateway.api_spec import ENDPOINTS, EVENT_STREAM, JSON, NDJSON, PROTOBUF, Endpoint
from swarmscope_gateway.params import MAX_INT
from swarmscope_gateway.ws_protocol import CLIENT_MODELS, SERVER_MODELS
from swarmscope_schema.requests import ErrorBody

API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"

DESCRIPTION = """\
The swarmscope gateway: the one API the web UI and outside tools use (CONTRACT §4–§5).

**Authentication.** When the gateway is configured with API keys (`SWARMSCOPE_API_KEYS`), every
`/api/v1` endpoint needs `Authorization: Bearer <key>`, and a key with the scope the operation names
in its `security` (`ingest`: write events; `read`: every read, live streams, the debugger;
`metrics`: `/metrics`; `admin`: everything, including dead letters and import; a key configured
without scopes has them all). A key without the scope is answered 403. EventSource, WebSocket and
download links cannot send headers: get a token from `POST /api/v1/auth/token` for one session (or
`*`, the list stream) and pass it as `?token=`. A stream token is read-only, short-lived and opens
only its stream (the operations that list the `token` scheme, for that session); anywhere else it is
refused with 403. Without configured keys the API is open (development only).

**Errors.** Every error is `{"error": {"code", "message"}}` with the status of its code: bad_request
400, unauthorized 401, forbidden 403, not_found 404, payload_too_large 413, expression_error 422,
rate_limited 429 (with Retry-After), internal 500, unavailable 503, timeout 504.

**Paging.** List endpoints answer `{"items": [...], "next_cursor"}`; pass `next_cursor` back as
`cursor` (events also take it as `after_seq`, dead letters as `before_seq`); null means the last page.

**Order.** `seq` (the TRACES stream sequence) is the total order of events and the resume point of
every live stream.

**Live.** SSE at `/api/v1/sessions/{session_id}/stream` and `/api/v1/stream`; WebSocket at
`/api/v1/ws` (message schemas: the `Ws*` components). See those operations for the protocol.
"""

TAGS = [
    {"name": "sessions", "description": "Sessions, events, agents, graph and performance (from the store)"},
    {
        "name": "debugging",
        "description": "Time travel, stepping, breakpoints, watches, compare (from replay)",
    },
    {"name": "live", "description": "Live streams: SSE and WebSocket"},
    {"name": "data", "description": "Events in (ingest, import) and out (export), dead letters"},
    {"name": "auth", "description": "Stream tokens"},
    {"name": "otlp", "description": "OpenTelemetry (OTLP/HTTP) trace export"},
    {"name": "operations", "description": "Health, readiness, metrics and this document"},
]


# OTLP bodies are protobuf messages (opentelemetry-proto); their JSON form is OTLP JSON. Only
# their outline is described here: the protocol's own definition is the reference.
OTLP_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
OTLP_JSON: dict[str, dict[str, Any]] = {
    "OtlpExportTraceServiceRequest": {
        "type": "object",
        "description": "OTLP JSON ExportTraceServiceRequest (trace and span ids in hex)",
        "properties": {"resourceSpans": {"type": ["array", "null"], "items": {"type": "object"}}},
    },
    "OtlpExportTraceServiceResponse": {
        "type": "object",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {
                    "rejectedSpans": {"type": ["string", "integer"]},
                    "errorMessage": {"type": "string"},
                },
            }
        },
    },
    "OtlpStatus": {
        "type": "object",
        "description": "google.rpc.Status",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    },
}


def _otlp_content(model: str) -> dict[str, Any]:
    return {PROTOBUF: {"schema": OTLP_BINARY}, JSON: {"schema": {"$ref": REF.format(model=model)}}}


# What POST /ingest checks before publishing; ingest validates the rest (TraceEvent) and
# dead-letters what is wrong, as for events published straight to NATS.
INGEST_EVENT: dict[str, Any] = {
    "title": "IngestEvent",
    "description": "A trace event as producers send it: the canonical form (see TraceEvent), the seed "
    "design's camelCase form or a Claude-Flow event name. The gateway checks id, session_id (or "
    "sessionId) and type and a size of at most 1 MiB; ingest validates the rest and dead-letters what "
    "does not conform (see GET /api/v1/dlq).",
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "pattern": "^[!-~]{1,512}$"},
        "session_id": {"type": "string", "minLength": 1},
        "sessionId": {"description": "the seed design's spelling, read when session_id is absent"},
        "type": {"type": "string", "minLength": 1},
    },
    "anyOf": [{"required": ["session_id"]}, {"required": ["sessionId"]}],
    "additionalProperties": True,
}


class ApiErrorResponse(BaseModel):
    """The body of every error answer (extra keys may add detail, e.g. `rejects`)."""

    error: ErrorBody


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` as plain X: an absent query parameter is the None."""
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and len(kept) != len(branches):
            merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            merged.update(kept[0])
            return merged
    if schema.get("default", 0) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def _parameters(spec: Endpoint) -> list[dict[str, Any]]:
    if spec.params is None:
        return []
    schema = spec.params.model_json_schema(ref_template=REF, mode="validation")
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        in_path = "{" + name + "}" in spec.path
        prop = _strip_null(dict(prop))
        if prop.get("type") == "integer":
            prop.setdefault("maximum", MAX_INT)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "path" if in_path else "query",
            "required": in_path or name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        out.append(parameter)
    if spec.name in ("session_stream", "stream"):
        out.append(
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "sent by a reconnecting EventSource; wins over after_seq",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        )
    return out


def _security(access: Access) -> list[dict[str, list[str]]]:
    """The operation's security requirement: OpenAPI 3.1 lets a bearer requirement list roles,
    here the scopes a key needs."""
    if access.public:
        return []
    scopes = sorted(s.value for s in access.scopes)
    if access.stream == "none":
        return [{"bearer": scopes}]
    return [{"bearer": scopes}, {"token": []}]


def _error_responses(codes: tuple[int, ...], auth: bool) -> dict[str, Any]:
    reasons = {
        400: "Invalid parameters or body",
        415: "Unsupported Content-Type",
        401: "Missing or wrong credentials",
        403: "Forbidden",
        404: "Not found",
        413: "Body (or answer) too large",
        422: "An expression does not compile",
        426: "Not a WebSocket handshake",
        429: "Rate limited; see Retry-After",
        500: "Internal error",
        503: "A backend (store, replay, NATS) is unavailable",
        504: "A backend did not answer in time",
    }
    wanted = set(codes) | ({401, 403} if auth else set())
    return {
        str(code): {
            "description": reasons[code],
            "content": {JSON: {"schema": {"$ref": REF.format(model="ApiErrorResponse")}}},
        }
        for code in sorted(wanted)
    }


def _body_without(defs: dict[str, Any], name: str, drop: set[str]) -> str:
    """Registers `<name>Body`: a request model's schema without the fields the path carries."""
    body_name = f"{name}Body"
    schema = copy.deepcopy(defs[name])
    for field in drop:
        schema.get("properties", {}).pop(field, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in drop]
    if not schema["required"]:
        del schema["required"]
    schema["title"] = body_name
    defs[body_name] = schema
    return body_name


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway."""
    from swarmscope_schema.events import TraceEvent

    entries: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ApiErrorResponse, "serialization"),
        (TraceEvent, "validation"),
    ]
    for spec in ENDPOINTS:
        if isinstance(spec.response, type) and issubclass(spec.response, BaseModel):
            entries.append((spec.response, "serialization"))
        if spec.body is not None:
            entries.append((spec.body, "validation"))
    entries += [(m, "validation") for m in CLIENT_MODELS] + [(m, "serialization") for m in SERVER_MODELS]
    refs, top = models_json_schema(list(dict.fromkeys(entries)), ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})

    def ref_of(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, Any] = {}
    for spec in ENDPOINTS:
        operation: dict[str, Any] = {
            "operationId": spec.name,
            "tags": [spec.tag],
            "summary": spec.summary,
        }
        if spec.description:
            operation["description"] = spec.description
        parameters = _parameters(spec)
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            path_fields = {p["name"] for p in parameters if p["in"] == "path"}
            model_ref = ref_of(spec.body, "validation")["$ref"].rsplit("/", 1)[-1]
            name = _body_without(defs, model_ref, path_fields) if path_fields else model_ref
            body_schema = defs[name]
            operation["requestBody"] = {
                # Optional when every field has a default (an empty body is then {}).
                "required": bool(body_schema.get("required")),
                "content": {JSON: {"schema": {"$ref": REF.format(model=name)}}},
            }
        elif spec.body_kind == "ingest":
            defs["IngestEvent"] = INGEST_EVENT
            event = {"$ref": REF.format(model="IngestEvent")}
            operation["requestBody"] = {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "oneOf": [event, {"type": "array", "items": event, "minItems": 1}],
                        }
                    }
                },
            }
        elif spec.body_kind == "otlp":
            defs.update(OTLP_JSON)
            operation["requestBody"] = {
                "required": True,
                "description": "ExportTraceServiceRequest (Content-Encoding gzip or deflate accepted)",
                "content": _otlp_content("OtlpExportTraceServiceRequest"),
            }
        elif spec.body_kind == "jsonl":
            lines = {"schema": {"type": "string", "minLength": 1}}
            operation["requestBody"] = {
                "required": True,
                "description": "JSON Lines: one event per line (any content type; gzip with Content-Encoding)",
                "content": {NDJSON: lines, "text/plain": lines},
            }
        responses: dict[str, Any] = {}
        if spec.body_kind == "otlp":
            responses[str(spec.status)] = {
                "description": "ExportTraceServiceResponse in the request's encoding",
                "content": _otlp_content("OtlpExportTraceServiceResponse"),
            }
        elif spec.media == JSON and spec.response is not None:
            responses[str(spec.status)] = {
                "description": spec.summary,
                "content": {JSON: {"schema": ref_of(spec.response, "serialization")}},
            }
        elif spec.media in (EVENT_STREAM, NDJSON):
            responses[str(spec.status)] = {
                "description": spec.summary,
                "content": {spec.media: {"schema": {"type": "string"}}},
            }
        else:
            responses[str(spec.status)] = {"description": "Switching Protocols (WebSocket)"}
        errors = _error_responses(spec.errors, not spec.access.public)
        if spec.error_format == "otlp":
            for answer in errors.values():
                answer["content"] = _otlp_content("OtlpStatus")
        responses.update(errors)
        operation["responses"] = responses
        operation["security"] = _security(spec.access)
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation

    for path, summary, media, access in (
        ("/healthz", "Liveness", JSON, PUBLIC),
        ("/readyz", "Readiness: NATS, store and replay reachable (503 naming what is not)", JSON, PUBLIC),
        (
            "/metrics",
            "Prometheus metrics (on SWARMSCOPE_GATEWAY_METRICS_PORT instead, without a key, when set)",
            "text/plain",
            METRICS,
        ),
        ("/openapi.json", "This document", JSON, PUBLIC),
    ):
        responses = {
            "200": {
                "description": summary,
                "content": {media: {"schema": {"type": "object"} if media == JSON else {"type": "string"}}},
            }
        }
        if not access.public:
            responses.update(_error_responses((), True))
        if path == "/readyz":
            responses["503"] = {"description": "Not ready", "content": {JSON: {"schema": {"type": "object"}}}}
        paths[path] = {
            "get": {
                "operationId": path.strip("/").replace(".", "_"),
                "tags": ["operations"],
                "summary": summary,
                "security": _security(access),
                "responses": responses,
            }
        }

    return {
        "openapi": "3.1.0",
        "info": {"title": "swarmscope gateway", "version": API_VERSION, "description": DESCRIPTION},
        "tags": TAGS,
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key (its scopes are the roles an operation lists), or a "
                    "stream token where the operation also lists `token`",
                },
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "a stream token from POST /api/v1/auth/token (never an API key), "
                    "bound to one session or * (the list stream)",
                },
            },
        },
    }


def render() -> bytes:
    """The document as committed in docs/openapi.json (stable key order, trailing newline)."""
    return orjson.dumps(build_document(), option=orjson.OPT_INDENT_2) + b"\n"
