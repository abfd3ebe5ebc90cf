"""A realistic Claude-Flow-style swarm, traced with the SDK itself: the demo and a test-data source.

Stable API (other packages' tests use it as realistic data):

    from swarmscope.demo import generate_session
    events = generate_session(seed=7, session_id="swarm-demo-07")   # list of wire-event dicts

- Same seed and arguments → the same events, byte for byte (ids, timestamps, content). Timestamps
  start at `start_ms` (default: a fixed instant derived from the seed; pass `time.time() * 1000`
  for "now") and follow simulated durations.
- The events are exactly what the SDK would publish (redacted, JSON round-tripped), in emission
  order; every one validates as `swarmscope_schema.TraceEvent`, and together they cover every type
  of the taxonomy (CONTRACT §2), some through Claude-Flow aliases (`resource:acquired`, …).
- The story: a coordinator plans a task DAG (research → code → test ∥ review, plus tasks for any extra
  agent roles), agents exchange messages with replies and share versioned memory, call tools (Bash,
  Read, Edit, WebSearch…) and LLMs (tokens, cost), take decisions; the first test run fails on a
  missing service, the coordinator decides a retry strategy, the retry passes, a fallback task is
  cancelled, and the session ends `completed` with every other task completed.
- `failing=True` tells the other ending: the retry fails too (the service cannot start), the task
  has exhausted its retries and fails for good, the coordinator aborts, the tasks that depended on
  it are cancelled, and the session ends `failed`.
- `flaky=False` tells the calm one: the tester starts the service itself and the first test run
  passes (no error, no retry, no fallback task); the session ends `completed`.

The tests, the frontend's end-to-end tests and the UI benchmark read these stories as committed
JSON Lines (`docs/contract/fixtures/swarm-story*.jsonl`, written by `make contract`; loaded by
`swarmscope_dev.story` and `frontend/shared/swarm.mjs`), so every one of them tells this one story.

`run_live_session(...)` plays the same story in real time against NATS (the `swarmscope demo`
command); `live_story(index)` is which story the demo's n-th session tells (now and then a failing
one, now and then a swarm of a dozen agents).
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from swarmscope.tracer import Tracer
from swarmscope.vocabulary import Emitter

DEFAULT_AGENTS: tuple[str, ...] = ("coordinator", "researcher", "coder", "tester", "reviewer")
# The swarm the demo runs now and then: a dozen agents, several of a kind.
BIG_SWARM: tuple[str, ...] = (
    "coordinator",
    "analyst",
    "researcher",
    "researcher",
    "architect",
    "coder",
    "coder",
    "coder",
    "tester",
    "tester",
    "reviewer",
    "documenter",
    "optimizer",
    "specialist",
    "monitor",
)
AGENT_TYPES: tuple[str, ...] = (
    "coordinator",
    "researcher",
    "coder",
    "analyst",
    "architect",
    "tester",
    "reviewer",
    "optimizer",
    "documenter",
    "monitor",
    "specialist",
)
_PREFIX = {
    "coordinator": "coord",
    "researcher": "res",
    "coder": "cod",
    "analyst": "ana",
    "architect": "arch",
    "tester": "tst",
    "reviewer": "rev",
    "optimizer": "opt",
    "documenter": "doc",
    "monitor": "mon",
    "specialist": "spec",
}
_CAPABILITIES = {
    "coordinator": ["planning", "task-decomposition", "consensus"],
    "researcher": ["web-search", "summarization", "comparison"],
    "coder": ["python", "refactoring", "code-generation"],
    "analyst": ["requirements", "data-analysis"],
    "architect": ["system-design", "interfaces"],
    "tester": ["pytest", "integration-tests", "coverage"],
    "reviewer": ["code-review", "security", "style"],
    "optimizer": ["profiling", "performance"],
    "documenter": ["docs", "examples"],
    "monitor": ["metrics", "alerting"],
    "specialist": ["security-audit", "threat-modelling"],
}
# Fixed origin of simulated time (2025-07-12T06:00:00Z) so generated sessions are reproducible.
DEFAULT_EPOCH_MS = 1_752_300_000_000.0
# USD per million tokens (input, output).
PRICES = {"claude-sonnet-4": (3.0, 15.0), "claude-haiku-3.5": (0.8, 4.0), "claude-opus-4": (15.0, 75.0)}


@dataclass(frozen=True)
class Scenario:
    """One objective the swarm can be given."""

    slug: str
    objective: str
    topic: str
    module: str
    test_file: str
    service: str
    address: str
    error: str
    options: tuple[str, ...]
    chosen: str
    notes: str
    snippet: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        slug="rate-limit",
        objective="Build a token-bucket rate limiter for the public REST API",
        topic="rate limiting",
        module="src/api/ratelimit.py",
        test_file="tests/test_ratelimit.py",
        service="redis",
        address="127.0.0.1:6379",
        error="redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        options=("token bucket", "sliding window log", "GCRA"),
        chosen="token bucket",
        notes="Token bucket gives bursts up to capacity and a steady refill; GCRA is equivalent with one "
        "timestamp per key; sliding logs cost O(requests) memory. Store buckets in Redis with a Lua "
        "script so check-and-decrement is atomic across API replicas.",
        snippet="class TokenBucket:\n    def __init__(self, rate: float, capacity: int) -> None:\n"
        "        self.rate, self.capacity = rate, capacity\n\n    def allow(self, key: str) -> bool:\n"
        "        return self._script(keys=[key], args=[self.rate, self.capacity, time.time()]) == 1\n",
    ),
    Scenario(
        slug="oauth-login",
        objective="Add GitHub OAuth2 login to the web app",
        topic="OAuth2 authorization code flow",
        module="src/auth/oauth.py",
        test_file="tests/test_oauth.py",
        service="postgres",
        address="127.0.0.1:5432",
        error='psycopg.OperationalError: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused",
        options=("authorization code + PKCE", "implicit flow", "device flow"),
        chosen="authorization code + PKCE",
        notes="Use the authorization code flow with PKCE and a state parameter bound to the session; "
        "never the implicit flow. Persist sessions server-side (Postgres) and rotate the session id "
        "after login.",
        snippet="async def callback(request: Request) -> Response:\n"
        "    state = request.query_params['state']\n    if not secrets.compare_digest(state, "
        "request.session.pop('oauth_state')):\n        raise HTTPException(400, 'bad state')\n",
    ),
    Scenario(
        slug="search-cache",
        objective="Cache expensive product-search queries",
        topic="query result caching",
        module="src/search/cache.py",
        test_file="tests/test_search_cache.py",
        service="redis",
        address="127.0.0.1:6379",
        error="ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 6379)",
        options=("read-through cache", "write-through cache", "materialized view"),
        chosen="read-through cache",
        notes="Read-through with a normalized query key, a 5 minute TTL with jitter against stampedes, "
        "and explicit invalidation on catalogue writes; cache only the first three pages.",
        snippet="def cached_search(query: Query) -> list[Product]:\n    key = 'search:' + query.fingerprint()\n"
        "    if (hit := cache.get(key)) is not None:\n        return hit\n",
    ),
    Scenario(
        slug="invoice-pdf",
        objective="Export monthly invoices as PDF",
        topic="PDF generation and storage",
        module="src/billing/invoice_pdf.py",
        test_file="tests/test_invoice_pdf.py",
        service="minio",
        address="127.0.0.1:9000",
        error="botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "
        '"http://127.0.0.1:9000/invoices"',
        options=("HTML → PDF renderer", "ReportLab canvas", "LaTeX"),
        chosen="HTML → PDF renderer",
        notes="Render from the existing HTML invoice template so finance sees one layout; store PDFs in "
        "the S3-compatible bucket under invoices/<yyyy-mm>/<id>.pdf with a content hash.",
        snippet="def render_invoice(invoice: Invoice) -> bytes:\n    html = templates.get('invoice.html')"
        ".render(invoice=invoice)\n    return HTML(string=html).write_pdf()\n",
    ),
    Scenario(
        slug="order-events",
        objective="Stream order events to the analytics pipeline",
        topic="event streaming",
        module="src/events/publisher.py",
        test_file="tests/test_order_events.py",
        service="nats",
        address="127.0.0.1:4222",
        error="nats.errors.NoServersError: nats: no servers available for connection",
        options=("JetStream with dedupe", "outbox table + poller", "direct HTTP webhooks"),
        chosen="JetStream with dedupe",
        notes="Publish order events to JetStream with Nats-Msg-Id = order event id so retries are "
        "idempotent; analytics consumes with a durable pull consumer and acks after its write.",
        snippet="async def publish(event: OrderEvent) -> None:\n    await js.publish(f'orders.{event.kind}', "
        "event.json(), headers={'Nats-Msg-Id': event.id})\n",
    ),
)


class SimClock:
    """Simulated epoch-millisecond time, advanced by the scheduler."""

    def __init__(self, start_ms: float) -> None:
        self.ms = start_ms

    def now(self) -> float:
        return self.ms


# A process yields how many simulated milliseconds its next step takes.
Process = Generator[float, None, None]


class Scheduler:
    """Runs processes (generators) in simulated time, each in its own context (so spans nest per
    process, as they would per thread or task). Deterministic: ties run in spawn order."""

    def __init__(self, start_ms: float, on_time: Callable[[float], None]) -> None:
        self.now = start_ms
        self._on_time = on_time
        self._queue: list[tuple[float, int, Process, contextvars.Context]] = []
        self._order = itertools.count()

    def spawn(self, process: Process, delay: float = 0.0) -> None:
        heapq.heappush(self._queue, (self.now + delay, next(self._order), process, contextvars.Context()))

    def cancel(self) -> None:
        """Closes every unfinished process: their open spans end with an error (GeneratorExit)."""
        while self._queue:
            _, _, process, context = heapq.heappop(self._queue)
            context.run(process.close)

    def run(self) -> None:
        while self._queue:
            when = self._queue[0][0]
            if when > self.now:
                # Before the pop: if pacing is interrupted, the process is still queued for cancel().
                self._on_time(when)
                self.now = when
            _, _, process, context = heapq.heappop(self._queue)
            try:
                step = context.run(next, process)
            except StopIteration:
                continue
            heapq.heappush(self._queue, (self.now + max(0.0, step), next(self._order), process, context))


class EventBus:
    """A Claude-Flow style event bus (`emit(event, data)`, `on(event, handler)`), traced by the demo."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[[Any], None]]] = {}

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def emit(self, event: str, data: Any = None) -> None:
        for handler in self._handlers.get(event, []):
            handler(data)


@dataclass
class TaskPlan:
    task_id: str
    role: str
    title: str
    dependencies: list[str]
    agent: str = ""
    status: str = "created"
    attempt: int = 0
    max_retries: int = 2


@dataclass
class Message:
    message_id: str
    sender: str
    type: str
    content: Any


@dataclass
class SwarmState:
    tasks: dict[str, TaskPlan] = field(default_factory=dict)
    mailboxes: dict[str, list[Message]] = field(default_factory=dict)
    memory_versions: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    cost: float = 0.0
    retries: int = 0


class DemoSwarm:
    """The scripted swarm; see the module docstring for the story."""

    def __init__(
        self,
        tracer: Tracer,
        rng: random.Random,
        agent_types: Sequence[str],
        scheduler: Scheduler,
        *,
        failing: bool = False,
        flaky: bool = True,
    ) -> None:
        if failing and not flaky:
            raise ValueError("a failing story is flaky: its first test run fails too")
        self.tracer = tracer
        self.rng = rng
        self.scheduler = scheduler
        self.failing = failing
        self.flaky = flaky
        self.scenario = rng.choice(SCENARIOS)
        self.state = SwarmState()
        self.bus = EventBus()
        roles = [t for t in agent_types if t != "coordinator"]
        counts: dict[str, int] = {}
        self.agents: list[tuple[str, str]] = [("coord-1", "coordinator")]
        for role in roles:
            counts[role] = counts.get(role, 0) + 1
            self.agents.append((f"{_PREFIX[role]}-{counts[role]}", role))
        self.coordinator = tracer.agent("coord-1")
        self.views: dict[str, Emitter] = {"coord-1": self.coordinator}
        for agent_id, _ in self.agents:
            self.state.mailboxes[agent_id] = []
        self.coordinator.trace_event_bus(self.bus)
        # Each agent's own code, instrumented: its method calls become agent_method spans.
        self.runtimes = {
            agent_id: tracer.instrument(AgentRuntime(self, agent_id, role)) for agent_id, role in self.agents
        }
        self.final_deps: list[str] = []
        self.planned: list[TaskPlan] = []
        self.done = False

    # ------------------------------------------------------------------------------- utilities --

    def llm(
        self, agent: Emitter, model: str, prompt: str, response: str, input_tokens: int, output_tokens: int
    ) -> Iterator[float]:
        """An LLM call span lasting a realistic time for its output size."""
        price_in, price_out = PRICES[model]
        cost = round(input_tokens * price_in / 1e6 + output_tokens * price_out / 1e6, 6)
        with agent.llm_call(model, prompt, temperature=0.2, max_tokens=4096) as call:
            yield 400 + output_tokens * self.rng.uniform(8, 14)
            call.set_response(response)
            call.set_usage(input_tokens, output_tokens, cost)
        self.state.tokens += input_tokens + output_tokens
        self.state.cost += cost

    def tool(
        self,
        agent: Emitter,
        tool: str,
        args: dict[str, Any],
        duration: float,
        result: Any,
        exit_code: int | None = 0,
        error: str | None = None,
    ) -> Iterator[float]:
        with agent.tool_call(tool, args) as call:
            yield duration
            if error is not None:
                call.fail(error, exit_code=exit_code, result=result)
            else:
                call.set(result=result)
                if exit_code is not None:
                    call.set(exit_code=exit_code)

    def write_memory(self, agent: Emitter, key: str, value: Any) -> None:
        version = self.state.memory_versions.get(key, 0) + 1
        self.state.memory_versions[key] = version
        agent.memory_write(key, value, namespace="swarm", version=version)

    def read_memory(self, agent: Emitter, key: str) -> None:
        version = self.state.memory_versions.get(key)
        agent.memory_read(key, namespace="swarm", version_read=version, hit=version is not None)

    def send(self, sender: Emitter, to: str, kind: str, content: Any, in_reply_to: str | None = None) -> str:
        message_id = sender.send_message(to, content, type=kind, in_reply_to=in_reply_to)
        self.state.mailboxes[to].append(Message(message_id, str(sender.agent_id), kind, content))
        return message_id

    def receive(self, agent: Emitter, message: Message) -> None:
        agent.receive_message(message.message_id, message.sender, message.content, type=message.type)

    def wait_message(self, agent_id: str, kinds: tuple[str, ...]) -> Iterator[float]:
        """Polls (in simulated time) until a message of one of `kinds` arrives."""
        while not any(m.type in kinds for m in self.state.mailboxes[agent_id]):
            yield 50.0

    def take_message(self, agent_id: str, kinds: tuple[str, ...]) -> Message:
        box = self.state.mailboxes[agent_id]
        for index, message in enumerate(box):
            if message.type in kinds:
                return box.pop(index)
        raise LookupError(f"no {kinds} message for {agent_id}")

    def agents_of(self, role: str) -> list[str]:
        return [agent_id for agent_id, agent_role in self.agents if agent_role == role]

    def worker_for(self, role: str, index: int = 0) -> str:
        """The agent for a role: one of that role, else the first non-coordinator, else the coordinator."""
        matches = self.agents_of(role)
        if matches:
            return matches[index % len(matches)]
        others = [agent_id for agent_id, r in self.agents if r != "coordinator"]
        return others[index % len(others)] if others else "coord-1"

    # ---------------------------------------------------------------------------------- the plan --

    def plan_tasks(self) -> list[TaskPlan]:
        s = self.scenario
        tasks: list[TaskPlan] = []
        counter = itertools.count(1)

        def add(role: str, title: str, deps: list[str]) -> list[str]:
            ids = []
            for index, _ in enumerate(self.agents_of(role) or [None]):
                task_id = f"T{next(counter)}"
                tasks.append(
                    TaskPlan(task_id, role, title if index == 0 else f"{title} (part {index + 1})", deps)
                )
                tasks[-1].agent = self.worker_for(role, index)
                ids.append(task_id)
            return ids

        first: list[str] = []
        if self.agents_of("analyst"):
            first += add("analyst", f"Analyse requirements for: {s.objective}", [])
        research = add("researcher", f"Research approaches to {s.topic}", [])
        design = (
            add("architect", f"Design the interfaces of {s.module}", research)
            if self.agents_of("architect")
            else []
        )
        code = add("coder", f"Implement {s.module}", research + design + first)
        test = add("tester", f"Test {s.module} ({s.test_file})", code)
        review = add("reviewer", f"Review {s.module}", code)
        extra: list[str] = []
        if self.agents_of("documenter"):
            extra += add("documenter", f"Document {s.module}", code)
        if self.agents_of("optimizer"):
            extra += add("optimizer", f"Profile and optimize {s.module}", test)
        if self.agents_of("specialist"):
            extra += add("specialist", f"Security audit of {s.module}", code)
        self.final_deps = test + review + extra
        self.planned = tasks
        return tasks

    # -------------------------------------------------------------------------------- processes --

    def run(self) -> None:
        self.scheduler.spawn(self.coordinate())
        if self.agents_of("monitor"):
            self.scheduler.spawn(self.monitor(self.agents_of("monitor")[0]), delay=1500)
        self.scheduler.run()

    def coordinate(self) -> Process:
        s, rng, coord, state = self.scenario, self.rng, self.coordinator, self.state
        tracer = self.tracer
        tracer.session_start(
            s.objective,
            name=f"{s.slug} swarm",
            topology="hierarchical",
            strategy="development",
            max_agents=len(self.agents),
        )
        yield 20
        coord.agent_spawn(
            "coord-1", "coordinator", name="Coordinator", capabilities=_CAPABILITIES["coordinator"]
        )
        yield 15
        for agent_id, role in self.agents[1:]:
            view = coord.agent_spawn(
                agent_id,
                role,
                name=f"{role.title()} {agent_id.rsplit('-', 1)[1]}",
                capabilities=_CAPABILITIES[role],
            )
            self.views[agent_id] = view
            yield rng.uniform(30, 120)
        self.bus.emit("system:healthcheck", {"agents": len(self.agents), "status": "healthy"})
        coord.agent_status("busy", from_="idle", reason="planning")
        self.runtimes["coord-1"].plan(s.objective)
        plan = self.planned
        plan_text = "\n".join(
            f"{t.task_id}: {t.title} [{t.role}] after {t.dependencies or '-'}" for t in plan
        )
        yield from self.llm(
            coord,
            "claude-sonnet-4",
            f"Objective: {s.objective}\nAgents: {', '.join(a for a, _ in self.agents)}\n"
            "Decompose into tasks with dependencies.",
            plan_text,
            rng.randint(1800, 2600),
            rng.randint(350, 600),
        )
        coord.decision(
            "task_decomposition",
            options=["single coder end to end", "research → code → test ∥ review", "spike first"],
            chosen="research → code → test ∥ review",
            rationale="Research de-risks the design; testing and review can run in parallel once code exists.",
            confidence=0.86,
        )
        self.write_memory(coord, "scratch/plan-draft", {"tasks": [t.task_id for t in plan], "draft": True})
        self.write_memory(coord, "test/env", {"services": [], "python": "3.11"})
        for task in plan:
            state.tasks[task.task_id] = task
            coord.task_create(
                task.task_id,
                task.title,
                dependencies=task.dependencies,
                priority="high" if task.role in ("coder", "tester") else "normal",
                max_retries=task.max_retries,
                role=task.role,
            )
            yield rng.uniform(5, 25)
        coord.agent_status("idle", from_="busy")
        final_id = f"T{len(plan) + 1}"
        final = TaskPlan(
            final_id, "coordinator", f"Integrate and summarise: {s.objective}", list(self.final_deps)
        )
        final.agent = "coord-1"
        state.tasks[final_id] = final
        coord.task_create(final_id, final.title, dependencies=final.dependencies, max_retries=0)
        while True:
            for task in state.tasks.values():
                if task.status in ("created", "retrying") and all(
                    state.tasks[d].status == "completed" for d in task.dependencies
                ):
                    if task.task_id == final_id:
                        continue
                    yield from self.assign(task)
            if all(
                t.status in ("completed", "pending") for t in state.tasks.values() if t.task_id != final_id
            ):
                break
            failed = [t for t in state.tasks.values() if t.status == "failed"]
            if failed and not any(t.status == "assigned" for t in state.tasks.values()):
                yield from self.abort(failed[0])
                return
            reports = ("result", "failure_report")
            if any(m.type in reports for m in state.mailboxes["coord-1"]):
                yield from self.handle_report(self.take_message("coord-1", reports))
                continue
            yield 100
        yield from self.finish(final)

    def assign(self, task: TaskPlan) -> Iterator[float]:
        task.attempt += 1
        task.status = "assigned"
        coord = self.coordinator
        coord.task_assign(task.task_id, task.agent, attempt=task.attempt)
        content = {"task_id": task.task_id, "title": task.title, "attempt": task.attempt}
        if task.attempt > 1:
            content["note"] = f"{self.scenario.service} is now running at {self.scenario.address}"
        self.send(coord, task.agent, "task_assignment", content)
        yield 10
        self.scheduler.spawn(self.work(task), delay=self.rng.uniform(20, 80))

    def handle_report(self, message: Message) -> Iterator[float]:
        coord, state, s, rng = self.coordinator, self.state, self.scenario, self.rng
        self.receive(coord, message)
        task = state.tasks[message.content["task_id"]]
        if message.type == "result":
            task.status = "completed"
            yield 20
            return
        if task.attempt >= task.max_retries:
            yield from self.give_up(task, message.content["error"])
            return
        # A failure report: decide how to retry.
        task.status = "retrying"
        state.retries += 1
        yield from self.llm(
            coord,
            "claude-sonnet-4",
            f"Task {task.task_id} failed with:\n{message.content['error']}\nHow should the swarm proceed?",
            f"The failure is environmental: {s.service} is not running at {s.address}. Start it for the "
            "test run and retry; the code itself is not implicated.",
            rng.randint(2200, 3000),
            rng.randint(120, 260),
        )
        coord.decision(
            "retry_strategy",
            options=["retry as is", f"start {s.service} then retry", f"mock {s.service} in tests", "abort"],
            chosen=f"start {s.service} then retry",
            rationale=f"Tests failed on a missing {s.service} service, not on the code; retry after "
            f"2^{task.attempt} × 1000 ms with {s.service} running.",
            confidence=0.82,
            attempt=task.attempt,
        )
        fallback = f"{task.task_id}b"
        state.tasks[fallback] = TaskPlan(
            fallback, "tester", f"Mock {s.service} in {s.test_file}", [task.task_id]
        )
        state.tasks[fallback].agent = task.agent
        state.tasks[fallback].status = "pending"
        coord.task_create(fallback, state.tasks[fallback].title, dependencies=[task.task_id], priority="low")
        self.bus.emit("resource:acquired", {"resourceId": f"{s.service}-test", "agentId": "coord-1"})
        self.write_memory(
            coord, "test/env", {"services": [s.service], "address": s.address, "python": "3.11"}
        )
        yield (2**task.attempt) * 1000.0

    def give_up(self, task: TaskPlan, error: str) -> Iterator[float]:
        """A task failed on its last allowed attempt: the coordinator decides to abort."""
        coord, s, rng = self.coordinator, self.scenario, self.rng
        task.status = "failed"
        yield from self.llm(
            coord,
            "claude-sonnet-4",
            f"Task {task.task_id} failed again (attempt {task.attempt} of {task.max_retries}):\n{error}\n"
            "Retry, work around it, or abort?",
            f"{s.service} cannot start on this host ({s.address} stays unreachable); a mock would hide "
            "the integration the objective asks for. Abort and report.",
            rng.randint(2400, 3200),
            rng.randint(90, 180),
        )
        coord.decision(
            "failure_handling",
            options=["retry again", f"mock {s.service} in tests", "abort"],
            chosen="abort",
            rationale=f"{task.task_id} exhausted its {task.max_retries} attempts on an environment fault.",
            confidence=0.77,
            attempt=task.attempt,
        )
        yield 20

    def abort(self, failed: TaskPlan) -> Iterator[float]:
        """Ends the session `failed`: what depended on the failed task is cancelled."""
        coord, state = self.coordinator, self.state
        for task in state.tasks.values():
            if task.status in ("created", "pending", "retrying"):
                task.status = "cancelled"
                coord.task_cancel(task.task_id, f"{failed.task_id} failed: the objective cannot be met")
                yield 10
        coord.error(
            f"objective not met: {failed.task_id} ({failed.title}) failed after {failed.attempt} attempts",
            error_type="TaskFailed",
            scope="session",
            recoverable=False,
            task_id=failed.task_id,
        )
        self.done = True
        yield 50
        for agent_id, _ in reversed(self.agents):
            self.views[agent_id].agent_terminate("objective failed")
            yield 10
        self.tracer.session_end(
            "failed",
            reason=f"{failed.task_id} exhausted its retries",
            tasks=len(state.tasks),
            retries=state.retries,
            tokens=state.tokens,
            cost_usd=round(state.cost, 4),
        )

    def work(self, task: TaskPlan) -> Process:
        agent = self.views[task.agent]
        message = self.take_message(task.agent, ("task_assignment",))
        self.receive(agent, message)
        agent.agent_status("busy", from_="idle", reason=task.task_id)
        yield 30
        report: dict[str, Any] = {"task_id": task.task_id}
        kind = "result"
        try:
            outcome = yield from self.runtimes[task.agent].execute(task.task_id, task.attempt)
            report.update(outcome)
        except ServiceUnavailable as exc:
            kind = "failure_report"
            report["error"] = str(exc)
        agent.agent_status("idle", from_="busy")
        self.send(agent, "coord-1", kind, report, in_reply_to=message.message_id)

    def research(self, agent: Emitter, task: TaskPlan, span: Any) -> Generator[float, None, dict[str, Any]]:
        s, rng = self.scenario, self.rng
        yield from self.tool(
            agent,
            "WebSearch",
            {"query": f"{s.topic} best practices production"},
            rng.uniform(900, 1600),
            [f"https://example.org/{s.slug}/{i}" for i in range(1, 4)],
        )
        yield from self.tool(
            agent,
            "Read",
            {"file_path": f"docs/adr/{s.slug}.md"},
            rng.uniform(40, 120),
            f"# ADR: {s.topic}\n…",
        )
        span.progress(0.5, f"compared {', '.join(s.options)}")
        yield from self.llm(
            agent,
            "claude-haiku-3.5",
            f"Compare {', '.join(s.options)} for: {s.objective}",
            s.notes,
            rng.randint(3000, 4200),
            rng.randint(400, 700),
        )
        agent.decision(
            "approach",
            options=list(s.options),
            chosen=s.chosen,
            rationale=s.notes.split(";")[0],
            confidence=round(rng.uniform(0.75, 0.92), 2),
        )
        self.write_memory(
            agent, f"research/{s.slug}", {"summary": s.notes, "recommendation": s.chosen, "sources": 3}
        )
        yield 40
        return {"recommendation": s.chosen}

    def implement(self, agent: Emitter, task: TaskPlan, span: Any) -> Generator[float, None, dict[str, Any]]:
        s, rng = self.scenario, self.rng
        self.read_memory(agent, f"research/{s.slug}")
        agent.context_update("focus", {"file": s.module, "approach": s.chosen})
        yield from self.tool(agent, "Read", {"file_path": s.module}, rng.uniform(30, 90), "")
        yield from self.llm(
            agent,
            "claude-sonnet-4",
            f"Implement {s.chosen} in {s.module}. Research notes:\n{s.notes}",
            s.snippet,
            rng.randint(5200, 7400),
            rng.randint(900, 1500),
        )
        agent.performance_alert(
            "context_window_usage", round(rng.uniform(0.91, 0.96), 2), 0.9, model="claude-sonnet-4"
        )
        span.progress(0.6, "first draft written")
        yield from self.tool(
            agent,
            "Edit",
            {"file_path": s.module, "old_string": "", "new_string": s.snippet},
            rng.uniform(20, 60),
            "applied",
        )
        yield from self.tool(
            agent,
            "Bash",
            {"command": f"ruff check {s.module} && mypy {s.module}"},
            rng.uniform(1800, 2600),
            "ok",
        )
        self.write_memory(
            agent,
            f"code/{s.module}",
            {"path": s.module, "lines": s.snippet.count("\n") + 40, "status": "draft"},
        )
        yield 30
        return {"files": [s.module], "lint": "clean"}

    def test(self, agent: Emitter, task: TaskPlan, span: Any) -> Generator[float, None, dict[str, Any]]:
        s, rng = self.scenario, self.rng
        self.read_memory(agent, f"code/{s.module}")
        self.read_memory(agent, "test/env")
        if task.attempt == 1 and self.flaky:
            yield from self.tool(
                agent,
                "Bash",
                {"command": f"pytest {s.test_file} -q"},
                rng.uniform(2500, 3800),
                f"E   {s.error}\n3 failed, 9 passed in 3.4s",
                exit_code=1,
                error=s.error,
            )
            agent.error(
                s.error,
                error_type=s.error.split(":")[0],
                scope="task",
                recoverable=True,
                task_id=task.task_id,
                service=s.service,
            )
            span.retry(task.attempt < task.max_retries)
            raise ServiceUnavailable(s.error)
        if self.failing:
            start = f"{s.service}-server --daemonize yes" if s.service != "minio" else "minio server /tmp/m &"
            yield from self.tool(
                agent,
                "Bash",
                {"command": start},
                rng.uniform(300, 700),
                f"Could not create server TCP listening socket {s.address}: bind: Address already in use",
                exit_code=1,
                error=f"{s.service} failed to start: address {s.address} already in use",
            )
            yield from self.tool(
                agent,
                "Bash",
                {"command": f"pytest {s.test_file} -q"},
                rng.uniform(2500, 3800),
                f"E   {s.error}\n3 failed, 9 passed in 3.5s",
                exit_code=1,
                error=s.error,
            )
            agent.error(
                s.error,
                error_type=s.error.split(":")[0],
                scope="task",
                recoverable=False,
                task_id=task.task_id,
                service=s.service,
            )
            span.retry(task.attempt < task.max_retries)
            raise ServiceUnavailable(s.error)
        if not self.flaky:
            # The calm story: no coordinator took the service for this run; the tester does.
            self.bus.emit("resource:acquired", {"resourceId": f"{s.service}-test", "agentId": agent.agent_id})
        yield from self.tool(
            agent,
            "Bash",
            {
                "command": f"{s.service}-server --daemonize yes"
                if s.service != "minio"
                else "minio server /tmp/m &"
            },
            rng.uniform(300, 700),
            f"{s.service} ready at {s.address}",
        )
        yield from self.tool(
            agent,
            "Bash",
            {"command": f"pytest {s.test_file} -q"},
            rng.uniform(2800, 4000),
            "12 passed in 3.1s",
        )
        self.bus.emit("resource:released", {"resourceId": f"{s.service}-test", "agentId": agent.agent_id})
        yield 20
        return {"passed": 12, "failed": 0, "coverage": round(rng.uniform(0.86, 0.95), 2)}

    def review(self, agent: Emitter, task: TaskPlan, span: Any) -> Generator[float, None, dict[str, Any]]:
        s, rng = self.scenario, self.rng
        self.read_memory(agent, f"code/{s.module}")
        yield from self.tool(agent, "Read", {"file_path": s.module}, rng.uniform(30, 80), s.snippet)
        yield from self.llm(
            agent,
            "claude-opus-4",
            f"Review this change for correctness, security and style:\n{s.snippet}",
            "Two comments: use a monotonic clock for intervals; add a test for the boundary case.",
            rng.randint(2600, 3600),
            rng.randint(200, 420),
        )
        coder = self.worker_for("coder")
        comment = self.send(
            agent,
            coder,
            "review_comment",
            {"file": s.module, "comments": ["use a monotonic clock", "test the boundary case"]},
        )
        self.scheduler.spawn(
            self.address_review(coder, agent.agent_id or "rev-1", comment), delay=rng.uniform(40, 90)
        )
        yield from self.wait_message(str(agent.agent_id), ("review_reply",))
        self.receive(agent, self.take_message(str(agent.agent_id), ("review_reply",)))
        agent.decision(
            "review_verdict",
            options=["approve", "request changes"],
            chosen="approve",
            rationale="Both comments addressed; the change is small and tested.",
            confidence=0.9,
        )
        yield 20
        return {"verdict": "approved", "comments": 2}

    def address_review(self, coder_id: str, reviewer_id: str, comment_id: str) -> Process:
        coder = self.views[coder_id]
        message = self.take_message(coder_id, ("review_comment",))
        self.receive(coder, message)
        yield from self.tool(
            coder,
            "Edit",
            {
                "file_path": self.scenario.module,
                "old_string": "time.time()",
                "new_string": "time.monotonic()",
            },
            self.rng.uniform(20, 60),
            "applied",
        )
        self.write_memory(
            coder, f"code/{self.scenario.module}", {"path": self.scenario.module, "status": "reviewed"}
        )
        self.send(coder, reviewer_id, "review_reply", {"addressed": 2}, in_reply_to=comment_id)

    def generic(self, agent: Emitter, task: TaskPlan, span: Any) -> Generator[float, None, dict[str, Any]]:
        s, rng = self.scenario, self.rng
        yield from self.tool(agent, "Read", {"file_path": s.module}, rng.uniform(30, 90), s.snippet)
        yield from self.llm(
            agent,
            "claude-haiku-3.5",
            f"{task.title}. Context:\n{s.notes}",
            f"{task.role} notes for {s.module}",
            rng.randint(1500, 2500),
            rng.randint(200, 500),
        )
        span.progress(0.7, "notes drafted")
        self.write_memory(agent, f"{task.role}/{s.slug}", {"task": task.task_id, "done": True})
        yield 30
        return {"notes": f"{task.role}/{s.slug}"}

    def monitor(self, agent_id: str) -> Process:
        agent = self.views[agent_id]
        while not self.done:
            self.bus.emit(
                "metrics:collected",
                {"source": agent_id, "tokens": self.state.tokens, "cost_usd": round(self.state.cost, 4)},
            )
            if self.state.cost > 0.05:
                agent.performance_alert("session_cost_usd", round(self.state.cost, 4), 0.05)
            yield 4000

    def finish(self, final: TaskPlan) -> Iterator[float]:
        coord, state, s = self.coordinator, self.state, self.scenario
        for fallback in [t for t in state.tasks.values() if t.status == "pending"]:
            fallback.status = "cancelled"
            coord.task_cancel(
                fallback.task_id, f"retry with a real {s.service} passed; the mock is not needed"
            )
        coord.coordination(
            "consensus",
            {
                "question": "ready to merge?",
                "votes": {
                    agent_id: "yes"
                    for agent_id, role in self.agents
                    if role in ("tester", "reviewer", "coder")
                },
                "result": "approved",
            },
        )
        final.attempt = 1
        coord.task_assign(final.task_id, "coord-1")
        with coord.task(final.task_id, title=final.title) as span:
            yield from self.tool(
                coord,
                "Bash",
                {"command": f"git commit -am 'feat: {s.slug}'"},
                self.rng.uniform(200, 500),
                "1 file changed",
            )
            summary = {
                "tasks": len(state.tasks),
                "retries": state.retries,
                "tokens": state.tokens,
                "cost_usd": round(state.cost, 4),
            }
            span.set(result=summary)
        final.status = "completed"
        self.done = True
        coord.memory_delete("scratch/plan-draft", namespace="swarm")
        yield 50
        for agent_id, _ in reversed(self.agents):
            self.views[agent_id].agent_terminate("objective completed")
            yield 10
        self.tracer.session_end("completed", **summary)


class AgentRuntime:
    """An agent's own code (what a framework would run); the demo instruments it with the SDK."""

    def __init__(self, swarm: DemoSwarm, agent_id: str, role: str) -> None:
        self.agent_id = agent_id
        self.role = role
        self._swarm = swarm

    def plan(self, objective: str) -> list[dict[str, Any]]:
        """Decomposes the objective into the task DAG."""
        return [
            {"task_id": t.task_id, "role": t.role, "dependencies": t.dependencies}
            for t in self._swarm.plan_tasks()
        ]

    def execute(self, task_id: str, attempt: int) -> Generator[float, None, dict[str, Any]]:
        """Runs one attempt of a task as a task span; returns the task's result."""
        swarm = self._swarm
        task = swarm.state.tasks[task_id]
        agent = swarm.views[self.agent_id]
        behaviour = {
            "researcher": swarm.research,
            "coder": swarm.implement,
            "tester": swarm.test,
            "reviewer": swarm.review,
        }.get(task.role, swarm.generic)
        with agent.task(task_id, attempt=attempt, title=task.title) as span:
            outcome = yield from behaviour(agent, task, span)
            span.set(result=outcome)
        return outcome


class ServiceUnavailable(RuntimeError):
    """A test run hit a service that is not running (the demo's one failure)."""


def _swarm_start(seed: int, start_ms: float | None) -> float:
    return start_ms if start_ms is not None else DEFAULT_EPOCH_MS + seed * 3_600_000.0


def _check_agents(agents: Sequence[str]) -> list[str]:
    unknown = [a for a in agents if a not in AGENT_TYPES]
    if unknown:
        raise ValueError(f"unknown agent types {unknown}; choose from {list(AGENT_TYPES)}")
    return list(agents)


def generate_session(
    seed: int = 0,
    session_id: str | None = None,
    *,
    agents: Sequence[str] = DEFAULT_AGENTS,
    start_ms: float | None = None,
    failing: bool = False,
    flaky: bool = True,
) -> list[dict[str, Any]]:
    """The events of one demo session, without NATS; see the module docstring (stable API).

    `session_id` defaults to `swarm-demo-<seed>`; `agents` lists agent types (a coordinator is always
    there); `start_ms` is the epoch-ms timestamp of the first event; `failing` tells the story whose
    test task exhausts its retries (the session ends `failed`); `flaky=False` the one whose first
    test run passes (no failure at all; not with `failing`).
    """
    clock = SimClock(_swarm_start(seed, start_ms))
    tracer = Tracer(
        session_id or f"swarm-demo-{seed:04d}",
        transport="memory",
        clock=clock.now,
        rng=random.Random(seed),
        measure_resources=False,
    )

    def advance(ms: float) -> None:
        clock.ms = ms

    scheduler = Scheduler(clock.ms, advance)
    DemoSwarm(
        tracer, random.Random(seed * 7919 + 1), _check_agents(agents), scheduler, failing=failing, flaky=flaky
    ).run()
    tracer.close()
    return tracer.events


@dataclass(frozen=True)
class LiveStory:
    """Which story one session of the live demo tells."""

    agents: tuple[str, ...]
    failing: bool


def live_story(
    index: int, *, agents: Sequence[str] | None = None, fail_every: int = 4, big_every: int = 5
) -> LiveStory:
    """The story of the demo's `index`-th session (0-based): every `fail_every`-th fails for real,
    every `big_every`-th is a swarm of a dozen agents (unless `agents` fixes the line-up); 0 turns
    either off. The first session is always the plain one, so a fresh `make run` starts calm."""
    big = agents is None and big_every > 0 and index % big_every == big_every - 1
    failing = fail_every > 0 and index % fail_every == fail_every - 1
    line_up = tuple(agents) if agents is not None else (BIG_SWARM if big else DEFAULT_AGENTS)
    return LiveStory(line_up, failing)


class DemoStopped(Exception):
    """The demo was asked to stop (its stop event was set) while a session was playing."""


@dataclass
class LiveResult:
    session_id: str
    events: int
    published: int
    lost: int
    seconds: float
    status: str = "completed"


def run_live_session(
    seed: int,
    session_id: str,
    *,
    nats_url: str,
    rate: float | None = None,
    speed: float | None = None,
    agents: Sequence[str] = DEFAULT_AGENTS,
    failing: bool = False,
    on_event: Callable[[int, int], None] | None = None,
    close_timeout: float = 60.0,
    stop: threading.Event | None = None,
) -> LiveResult:
    """Plays one demo session in real time through a real Tracer publishing to NATS.

    The story and its order are those of `generate_session(seed, agents=…, failing=…)`. Pacing:
    `speed` plays simulated time at that many times real time (1 = as the story's durations say,
    0.5 = twice as slow); else `rate` spreads the session so that it averages that many events per
    second; with neither, it is published as fast as possible. Paced, timestamps and measurements
    are real. Unpaced, timestamps follow the simulated clock (the session ends now, having taken
    its simulated time), so durations stay the story's instead of shrinking to the publish time.
    Setting `stop` (or Ctrl-C) ends the session `cancelled` and raises DemoStopped
    (KeyboardInterrupt).
    """
    agents = _check_agents(agents)
    dry = generate_session(seed, session_id, agents=agents, failing=failing)
    total = len(dry)
    sim_span = max(1.0, dry[-1]["timestamp"] - dry[0]["timestamp"])
    if speed:
        scale = 0.001 / speed  # real seconds per simulated ms
    elif rate:
        scale = (total / rate) / sim_span
    else:
        scale = 0.0
    sim_start = _swarm_start(seed, None)
    clock: SimClock | None = None
    if not scale:
        # Unpaced: the simulated clock, shifted so that the session ends about now.
        clock = SimClock(time.time() * 1000.0 - sim_span)
    offset = (clock.ms - sim_start) if clock is not None else 0.0
    # Generous close timeout: under `make run` the demo may start before NATS and ingest are up, and
    # its tracer keeps the events buffered until they are.
    tracer = Tracer(
        session_id,
        nats_url,
        rng=random.Random(),
        name="swarmscope-demo",
        close_timeout=close_timeout,
        clock=clock.now if clock is not None else None,
    )
    started = time.monotonic()

    def pace(sim_ms: float) -> None:
        if stop is not None and stop.is_set():
            raise DemoStopped
        if clock is not None:
            clock.ms = sim_ms + offset
        if on_event is not None:
            on_event(min(tracer.stats()["published"] + tracer.stats()["buffered"], total), total)
        if scale:
            delay = started + (sim_ms - sim_start) * scale - time.monotonic()
            if delay > 0:
                if stop is not None:
                    if stop.wait(delay):
                        raise DemoStopped
                else:
                    time.sleep(delay)

    scheduler = Scheduler(sim_start, pace)
    try:
        DemoSwarm(tracer, random.Random(seed * 7919 + 1), agents, scheduler, failing=failing).run()
    except (KeyboardInterrupt, DemoStopped):
        # Stopped mid-story (Ctrl-C, SIGTERM, the stop event): close what was running (its spans end
        # in error) and say so, so that the session does not look active for ever.
        scheduler.cancel()
        tracer.session_end("cancelled", reason="demo stopped")
        tracer.close(timeout=3.0)
        raise
    finally:
        tracer.close()
    stats = tracer.stats()
    if on_event is not None:
        on_event(total, total)
    status = str(dry[-1].get("data", {}).get("status", "completed"))
    return LiveResult(
        session_id, total, stats["published"], stats["lost"], time.monotonic() - started, status
    )
