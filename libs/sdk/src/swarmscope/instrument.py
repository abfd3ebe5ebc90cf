"""Tracing code that does not know it is traced: decorated functions, instrumented objects, event buses.

Every wrapper keeps the wrapped code's behaviour: same return values, same exceptions (re-raised
unchanged after the error event), same signature metadata. Generators are traced over their whole
iteration, and the span is the current one only while the generator's own code runs, so a consumer
interleaving several traced generators sees correct parents.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from swarmscope.context import CURRENT_SPAN, SpanContext
from swarmscope.spans import Span
from swarmscope_schema.aliases import resolve_alias
from swarmscope_schema.events import NAME_PATTERN
from swarmscope_schema.taxonomy import REQUIRED_FIELDS

if TYPE_CHECKING:
    from swarmscope.emitting import Emitting as Emitter

log = logging.getLogger("swarmscope")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
EventBusMode = Literal["aliased", "communication"]

_TRACED_FLAG = "__swarmscope_traced__"
_INSTRUMENTED_ATTR = "__swarmscope_instrumented__"
_NAME = re.compile(NAME_PATTERN)
# Required payload fields that @trace fills with the function's name.
_NAME_FIELDS = ("method", "tool", "model", "kind", "metric")


def _arg_binder(
    fn: Callable[..., Any], skip_first: bool
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """A cheap `(args, kwargs) → {name: value}` for one function (the signature is read once)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    offset = 1 if skip_first and positional and positional[0] in ("self", "cls") else 0
    names = positional[offset:]

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        args = args[offset:]
        bound = dict(zip(names, args, strict=False))
        if len(args) > len(names):
            bound["*args"] = list(args[len(names) :])
        if kwargs:
            bound.update(kwargs)
        return bound

    return bind


def trace_callable(
    emitter: Emitter,
    fn: F,
    *,
    event_type: str = "agent_method",
    name: str | None = None,
    capture_args: bool = True,
    capture_result: bool = True,
    priority: str | None = None,
    agent_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> F:
    """`fn` wrapped so that each call is a span of `event_type` (see Emitter.trace)."""
    if getattr(fn, _TRACED_FLAG, False):
        return fn
    label = name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    base: dict[str, Any] = dict(extra or {})
    for field in REQUIRED_FIELDS.get(event_type, ()):
        if field in _NAME_FIELDS:
            base.setdefault(field, label)
    missing = [f for f in REQUIRED_FIELDS.get(event_type, ()) if f not in base]
    if missing:
        raise ValueError(
            f"@trace cannot fill the required fields {missing} of {event_type!r}; use tracer.span() instead"
        )
    bind = _arg_binder(fn, skip_first=not inspect.ismethod(fn))

    def new_span(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
        data = dict(base)
        if capture_args:
            data["args"] = bind(args, kwargs)
        return Span(emitter, event_type, data, agent_id=agent_id, priority=priority)

    def finish(span: Span, result: Any) -> None:
        if capture_result:
            span.set(result=result)
        span.end()

    wrapper: Callable[..., Any]
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            span = new_span(args, kwargs).start(attach=False)
            agen = fn(*args, **kwargs)
            ctx = span.context_value
            send: Callable[[Any], Any] = agen.asend
            value: Any = None
            count = 0
            while True:
                token = CURRENT_SPAN.set(ctx)
                try:
                    item = await send(value)
                except StopAsyncIteration:
                    span.set(items=count)
                    span.end()
                    return
                except BaseException as exc:
                    span.end(exc)
                    raise
                finally:
                    CURRENT_SPAN.reset(token)
                count += 1
                try:
                    value = yield item
                    send = agen.asend
                except GeneratorExit:
                    await agen.aclose()
                    span.set(items=count, closed_early=True)
                    span.end()
                    raise
                except BaseException as exc:
                    send, value = agen.athrow, exc

        wrapper = async_gen_wrapper
    elif inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            span = new_span(args, kwargs).start(attach=False)
            gen = fn(*args, **kwargs)
            ctx = span.context_value
            send: Callable[[Any], Any] = gen.send
            value: Any = None
            count = 0
            while True:
                token = CURRENT_SPAN.set(ctx)
                try:
                    item = send(value)
                except StopIteration as stop:
                    span.set(items=count)
                    finish(span, stop.value)
                    return stop.value
                except BaseException as exc:
                    span.end(exc)
                    raise
                finally:
                    CURRENT_SPAN.reset(token)
                count += 1
                try:
                    value = yield item
                    send = gen.send
                except GeneratorExit:
                    gen.close()
                    span.set(items=count, closed_early=True)
                    span.end()
                    raise
                except BaseException as exc:
                    send, value = gen.throw, exc

        wrapper = gen_wrapper
    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = new_span(args, kwargs).start()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                span.end(exc)
                raise
            finish(span, result)
            return result

        wrapper = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = new_span(args, kwargs).start()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                span.end(exc)
                raise
            finish(span, result)
            return result

        wrapper = sync_wrapper
    setattr(wrapper, _TRACED_FLAG, True)
    return cast(F, wrapper)


def agent_of(obj: Any) -> str | None:
    """The agent an object speaks for: its `agent_id` or `id` attribute, when a valid agent name."""
    for attribute in ("agent_id", "id"):
        value = getattr(obj, attribute, None)
        if isinstance(value, str) and _NAME.match(value) and value != "_":
            return value
    return None


def instrument_object(
    emitter: Emitter,
    obj: T,
    *,
    agent_id: str | None = None,
    methods: list[str] | None = None,
    exclude: list[str] | None = None,
    capture_args: bool = True,
    capture_result: bool = True,
) -> T:
    """See Emitter.instrument."""
    if isinstance(obj, type):
        raise TypeError(
            f"instrument() takes an object, not the class {obj.__name__}: instrument each instance, or "
            "decorate the class's methods with @tracer.trace"
        )
    cls = type(obj)
    agent = agent_id or agent_of(obj)
    skip = set(exclude or ())
    names = methods if methods is not None else [n for n in dir(cls) if not n.startswith("_")]
    done: list[str] = []
    for method_name in names:
        if method_name in skip:
            continue
        try:
            static = inspect.getattr_static(obj, method_name)
        except AttributeError:
            if methods is not None:
                raise AttributeError(f"{cls.__name__} has no method {method_name!r}") from None
            continue
        if isinstance(static, property) or not (
            inspect.isfunction(static)
            or isinstance(static, (staticmethod, classmethod))
            or inspect.ismethoddescriptor(static)
            or (methods is not None and callable(static))
        ):
            continue
        bound = getattr(obj, method_name)
        if not callable(bound) or getattr(bound, _TRACED_FLAG, False):
            continue
        wrapped = trace_callable(
            emitter,
            bound,
            name=method_name,
            capture_args=capture_args,
            capture_result=capture_result,
            agent_id=agent,
            extra={"class": cls.__name__},
        )
        _set_instance_attribute(obj, method_name, wrapped)
        done.append(method_name)
    previous = list(getattr(obj, _INSTRUMENTED_ATTR, ()))
    _set_instance_attribute(obj, _INSTRUMENTED_ATTR, previous + done)
    return obj


def _set_instance_attribute(obj: Any, name: str, value: Any) -> None:
    instance_dict = getattr(obj, "__dict__", None)
    if isinstance(instance_dict, dict):
        instance_dict[name] = value
        return
    try:
        object.__setattr__(obj, name, value)
    except (AttributeError, TypeError) as exc:
        raise TypeError(
            f"cannot instrument {type(obj).__name__} objects in place (no instance __dict__): "
            "decorate its methods with @tracer.trace instead"
        ) from exc


def uninstrument(obj: Any) -> None:
    """Removes what `instrument` / `trace_event_bus` put on `obj`."""
    instance_dict = getattr(obj, "__dict__", None)
    if not isinstance(instance_dict, dict):
        return
    for name in instance_dict.pop(_INSTRUMENTED_ATTR, ()):
        instance_dict.pop(name, None)


def _bus_payload(data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    return {} if data is None else {"value": data}


def _alias_complete(name: str, payload: dict[str, Any]) -> bool:
    """True when ingest's alias adapter will find every required field in this payload."""
    canonical, adapt = resolve_alias(name)
    if canonical == name:
        return False
    adapted = adapt(payload)
    return all(field in adapted for field in REQUIRED_FIELDS.get(canonical, ()))


def bus_event(emitter: Emitter, name: str, data: Any, mode: EventBusMode, agent_id: str | None) -> str | None:
    """Emits the trace event of one `emit(name, data)` on a traced bus; returns its id."""
    payload = _bus_payload(data)
    correlation = payload.get("correlationId")
    causation = payload.get("causationId")
    correlation = correlation if isinstance(correlation, str) else None
    causation = causation if isinstance(causation, str) else None
    agent = agent_id
    if agent is None:
        for key in ("agentId", "source"):
            named = payload.get(key)
            if isinstance(named, str) and _NAME.match(named) and named != "_":
                agent = named
                break
    if mode == "aliased" and _alias_complete(name, payload):
        return emitter.emit(
            name,
            payload,
            agent_id=agent,
            correlation_id=correlation,
            causation_id=causation,
            tags=["eventbus"],
        )
    core = emitter._core
    sender = agent or emitter.agent_id or "eventbus"
    targets = payload.get("targets") or payload.get("to")
    if isinstance(targets, str):
        targets = [targets]
    recipients = [str(t) for t in targets] if isinstance(targets, list) else []
    message: dict[str, Any] = {
        "id": core.new_message_id(),
        "from": sender,
        "to": recipients,
        "type": "event",
        "content": data,
    }
    if not recipients:
        message["broadcast"] = True
    return emitter.emit(
        "communication",
        {"message": message, "direction": "sent", "event": name},
        agent_id=agent,
        correlation_id=correlation,
        causation_id=causation,
        tags=["eventbus"],
    )


def trace_event_bus(
    emitter: Emitter,
    bus: T,
    *,
    mode: EventBusMode = "aliased",
    agent_id: str | None = None,
    method: str = "emit",
) -> T:
    """See Emitter.trace_event_bus."""
    if mode not in ("aliased", "communication"):
        raise ValueError(f"mode must be 'aliased' or 'communication', got {mode!r}")
    original = getattr(bus, method, None)
    if not callable(original):
        raise TypeError(f"{type(bus).__name__} has no callable {method!r} to trace")
    if getattr(original, _TRACED_FLAG, False):
        return bus
    warned: set[str] = set()

    def record(args: tuple[Any, ...], kwargs: dict[str, Any]) -> SpanContext | None:
        name = args[0] if args else kwargs.get("event", kwargs.get("name"))
        data = args[1] if len(args) > 1 else kwargs.get("data")
        try:
            event_id = bus_event(emitter, str(name), data, mode, agent_id)
        except Exception as exc:
            # Tracing must never break the bus it watches.
            emitter._core.drops.add("rejected", 1)
            if str(name) not in warned:
                warned.add(str(name))
                log.warning("swarmscope: could not trace bus event %r: %s", name, exc)
            return None
        if event_id is None:
            return None
        ctx = emitter._core.context()
        return SpanContext(
            emitter.session_id,
            event_id,
            agent_id or (ctx.agent_id if ctx else None) or emitter.agent_id,
            True,
            ctx.correlation_id if ctx else None,
        )

    traced: Callable[..., Any]
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def async_emit(*args: Any, **kwargs: Any) -> Any:
            ctx = record(args, kwargs)
            token = CURRENT_SPAN.set(ctx) if ctx is not None else None
            try:
                return await original(*args, **kwargs)
            finally:
                if token is not None:
                    CURRENT_SPAN.reset(token)

        traced = async_emit
    else:

        @functools.wraps(original)
        def emit(*args: Any, **kwargs: Any) -> Any:
            ctx = record(args, kwargs)
            token = CURRENT_SPAN.set(ctx) if ctx is not None else None
            try:
                return original(*args, **kwargs)
            finally:
                if token is not None:
                    CURRENT_SPAN.reset(token)

        traced = emit
    setattr(traced, _TRACED_FLAG, True)
    _set_instance_attribute(bus, method, traced)
    previous = list(getattr(bus, _INSTRUMENTED_ATTR, ()))
    _set_instance_attribute(bus, _INSTRUMENTED_ATTR, [*previous, method])
    return bus
