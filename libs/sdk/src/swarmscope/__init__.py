"""swarmscope: trace multi-agent LLM swarms with a few lines, for almost nothing on the caller's path.

    from swarmscope import Tracer

    tracer = Tracer(session_id="swarm-demo-01", agent_id="coder-1")
    with tracer.task("T2"):
        with tracer.tool_call("Bash", {"command": "pytest -q"}) as call:
            call.set(exit_code=0)
    tracer.close()

See `Tracer` for options, `swarmscope.vocabulary` for the swarm helpers, `swarmscope.demo` for a
realistic generated swarm, and `swarmscope --help` for the CLI.
"""

from swarmscope.buffer import FILTER_REASONS, LOSS_REASONS
from swarmscope.context import current_span_id, propagate
from swarmscope.emitter import SESSION
from swarmscope.encoding import TRUNCATION_MARK
from swarmscope.instrument import uninstrument
from swarmscope.publisher import DROPS_EVENT_TYPE
from swarmscope.selective import TraceLevel
from swarmscope.spans import LlmSpan, Span, TaskSpan
from swarmscope.tracer import Tracer
from swarmscope.transport import HttpTransport, NatsTransport, Transport
from swarmscope.vocabulary import Emitter
from swarmscope_schema.taxonomy import EventType

__version__ = "0.1.0"

__all__ = [
    "DROPS_EVENT_TYPE",
    "FILTER_REASONS",
    "LOSS_REASONS",
    "SESSION",
    "TRUNCATION_MARK",
    "Emitter",
    "EventType",
    "HttpTransport",
    "LlmSpan",
    "NatsTransport",
    "Span",
    "TaskSpan",
    "TraceLevel",
    "Tracer",
    "Transport",
    "__version__",
    "current_span_id",
    "propagate",
    "uninstrument",
]
