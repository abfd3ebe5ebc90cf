"""The demo swarm: valid, complete, repeatable data, and a live run through NATS."""

from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from swarmscope.cli import build_parser, main
from swarmscope.demo import (
    BIG_SWARM,
    DEFAULT_AGENTS,
    DEFAULT_EPOCH_MS,
    generate_session,
    live_story,
    run_live_session,
)
from swarmscope.testing import published_events
from swarmscope_dev.nats_server import free_port, start_nats_server
from swarmscope_dev.story import FIXTURES_DIR, find, story_documents, story_session
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.taxonomy import EventType
from swarmscope_service.nats_setup import provision


def canonical(events: list[dict[str, Any]]) -> list[TraceEvent]:
    return [TraceEvent.model_validate(e) for e in events]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_a_session_is_valid_covers_the_taxonomy_and_tells_the_story(seed: int) -> None:
    raw = generate_session(seed)
    events = canonical(raw)
    assert {e.type for e in events} == set(EventType)
    assert events[0].type == "session_start"
    assert events[0].data["objective"]
    assert events[-1].type == "session_end"
    assert events[-1].data["status"] == "completed"
    assert len({e.id for e in events}) == len(events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)

    created = [e.data["task_id"] for e in events if e.type == "task_create"]
    completed = [e.data["task_id"] for e in events if e.type == "task_complete"]
    cancelled = [e.data["task_id"] for e in events if e.type == "task_cancel"]
    assert sorted(completed + cancelled) == sorted(created)  # every task completed but the fallback
    (failure,) = [e for e in events if e.type == "task_fail"]
    assert failure.data["will_retry"] is True
    assert failure.phase == "error"
    retried = failure.data["task_id"]
    attempts = [
        e.data["attempt"] for e in events if e.type == "task_assignment" and e.data["task_id"] == retried
    ]
    assert attempts == [1, 2]
    assert any(e.type == "decision" and e.data["kind"] == "retry_strategy" for e in events)
    assert any(e.type == "error" and e.data["recoverable"] for e in events)

    # The DAG: a task starts only after its dependencies completed.
    deps = {e.data["task_id"]: e.data["dependencies"] for e in events if e.type == "task_create"}
    done_at: dict[str, int] = {}
    for index, event in enumerate(events):
        if event.type == "task_complete":
            done_at[event.data["task_id"]] = index
        if event.type == "task_start":
            assert all(done_at.get(d, len(events)) < index for d in deps[event.data["task_id"]])

    # Messages with replies; memory with versions; LLM calls with tokens and cost.
    sent = {
        e.data["message"]["id"]
        for e in events
        if e.type == "communication" and e.data.get("direction") == "sent"
    }
    replies = [
        e.data["message"]["in_reply_to"]
        for e in events
        if e.type == "communication" and e.data["message"].get("in_reply_to")
    ]
    assert replies
    assert set(replies) <= sent
    versions: dict[str, list[int]] = {}
    for e in events:
        if e.type == "memory_write":
            versions.setdefault(e.data["key"], []).append(e.data["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert max(len(v) for v in versions.values()) >= 2
    llm_done = [e for e in events if e.type == "llm_call" and e.phase == "complete"]
    assert llm_done
    assert all(e.performance and e.performance.cost_usd and e.performance.input_tokens for e in llm_done)
    tools = Counter(e.data["tool"] for e in events if e.type == "tool_call" and e.phase == "start")
    assert {"Bash", "Read", "Edit"} <= set(tools)

    # Spans: every start has exactly one end with the same span id, in this session's order.
    opened = Counter(e.span_id for e in events if e.phase == "start")
    closed = Counter(e.span_id for e in events if e.phase in ("complete", "error") and e.span_id in opened)
    assert opened == closed


def test_generation_is_repeatable_and_parametrised() -> None:
    first = generate_session(11, "swarm-a")
    assert orjson.dumps(first) == orjson.dumps(generate_session(11, "swarm-a"))
    assert orjson.dumps(first) != orjson.dumps(generate_session(12, "swarm-a"))
    assert first[0]["timestamp"] == DEFAULT_EPOCH_MS + 11 * 3_600_000
    assert all(e["session_id"] == "swarm-a" for e in first)
    later = generate_session(11, "swarm-a", start_ms=2_000_000_000_000.0)
    assert later[0]["timestamp"] == 2_000_000_000_000.0
    assert generate_session(5)[0]["session_id"] == "swarm-demo-0005"


@pytest.mark.parametrize(
    "agents",
    [
        ["coordinator"],
        ["coordinator", "coder"],
        ["researcher", "coder", "coder", "tester", "tester", "reviewer"],
        [
            "coordinator",
            "researcher",
            "coder",
            "tester",
            "reviewer",
            "analyst",
            "architect",
            "optimizer",
            "documenter",
            "monitor",
            "specialist",
        ],
    ],
)
def test_other_agent_line_ups_still_tell_a_complete_valid_story(agents: list[str]) -> None:
    events = canonical(generate_session(3, agents=agents))
    spawned = [e.data["agent_type"] for e in events if e.type == "agent_spawn"]
    assert spawned[0] == "coordinator"
    assert sorted(spawned[1:]) == sorted(a for a in agents if a != "coordinator")
    assert events[-1].type == "session_end"
    assert {e.type for e in events} == set(EventType)


@pytest.mark.parametrize("agents", [DEFAULT_AGENTS, BIG_SWARM], ids=["five", "big"])
def test_a_failing_session_exhausts_its_retries_and_ends_failed(agents: tuple[str, ...]) -> None:
    events = canonical(generate_session(8, agents=agents, failing=True))
    for event in events:
        TraceEvent.model_validate(event.model_dump())
    assert events[-1].type == "session_end"
    assert events[-1].data["status"] == "failed"
    fails = [e for e in events if e.type == "task_fail"]
    failed_for_good = {e.data["task_id"] for e in fails if e.data["will_retry"] is False}
    assert failed_for_good, "a task that exhausted its retries"
    for task_id in failed_for_good:
        attempts = [
            e.data["attempt"] for e in events if e.type == "task_assignment" and e.data["task_id"] == task_id
        ]
        assert attempts == [1, 2]
    # Nothing is left hanging: every task ends completed, failed or cancelled, every span closes.
    created = {e.data["task_id"] for e in events if e.type == "task_create"}
    ended = {
        e.data["task_id"] for e in events if e.type in ("task_complete", "task_cancel")
    } | failed_for_good
    assert created == ended
    assert any(e.type == "decision" and e.data.get("chosen") == "abort" for e in events)
    assert any(e.type == "error" and e.data.get("scope") == "session" for e in events)
    opened = Counter(e.span_id for e in events if e.phase == "start")
    closed = Counter(e.span_id for e in events if e.phase in ("complete", "error") and e.span_id in opened)
    assert opened == closed
    # The plain story of the same seed still completes.
    assert generate_session(8, agents=agents)[-1]["data"]["status"] == "completed"


@pytest.mark.parametrize("agents", [DEFAULT_AGENTS, BIG_SWARM], ids=["five", "big"])
def test_a_calm_session_passes_its_first_test_run(agents: tuple[str, ...]) -> None:
    events = canonical(generate_session(8, agents=agents, flaky=False))
    assert events[-1].type == "session_end"
    assert events[-1].data["status"] == "completed"
    assert not [e for e in events if e.type in ("error", "task_fail", "task_cancel") or e.phase == "error"]
    assert {e.data["attempt"] for e in events if e.type == "task_assignment"} == {1}
    created = {e.data["task_id"] for e in events if e.type == "task_create"}
    assert created == {e.data["task_id"] for e in events if e.type == "task_complete"}
    # Each tester takes the service it starts, and gives it back.
    resources: dict[str | None, list[str]] = {}
    for e in events:
        if str(e.data.get("kind", "")).startswith("resource_"):
            resources.setdefault(e.agent_id, []).append(e.data["kind"])
    assert resources
    assert all(kinds == ["resource_acquired", "resource_released"] for kinds in resources.values())
    with pytest.raises(ValueError, match="flaky"):
        generate_session(8, agents=agents, failing=True, flaky=False)


def test_the_committed_story_is_what_the_demo_tells() -> None:
    """docs/contract/fixtures/swarm-story*.jsonl, the story the tests, the frontend's tests and the UI
    benchmark read, is generate_session's (seed 7) as it is today."""
    for name, text in story_documents(generate_session).items():
        path = FIXTURES_DIR / name
        assert path.exists(), f"{path} missing: run `make contract`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make contract`"
    events = story_session("s")
    assert events[-1]["data"]["status"] == "completed"
    assert story_session("s", failing=True)[-1]["data"]["status"] == "failed"
    calm = story_session("s", flaky=False)
    assert not [e for e in calm if e["type"] in ("error", "task_fail")]
    assert {e["session_id"] for e in events} == {"s"}
    assert [e["id"] for e in events] == [f"s-e{n}" for n in range(1, len(events) + 1)]
    # Span and parent ids that were event ids follow their events; the task spans keep their names.
    ids = {e["id"] for e in events}
    parents = {(e.get("metadata") or {}).get("parent_id") for e in events} - {None}
    assert parents <= ids | {e["span_id"] for e in events if "span_id" in e}
    assert find(events, "task_start", task_id="T3", attempt=2)["span_id"] == "sp_T3_a2"


def test_the_live_demo_fails_now_and_then_and_runs_a_big_swarm_now_and_then() -> None:
    stories = [live_story(i) for i in range(20)]
    assert stories[0].agents == DEFAULT_AGENTS
    assert not stories[0].failing
    assert [i for i, s in enumerate(stories) if s.failing] == [3, 7, 11, 15, 19]
    assert [i for i, s in enumerate(stories) if len(s.agents) >= 10] == [4, 9, 14, 19]
    assert len(BIG_SWARM) >= 10
    fixed = [live_story(i, agents=["coordinator", "coder"]) for i in range(10)]
    assert {s.agents for s in fixed} == {("coordinator", "coder")}
    assert not any(s.failing for s in (live_story(i, fail_every=0) for i in range(10)))
    assert not any(len(s.agents) > 5 for s in (live_story(i, big_every=0) for i in range(10)))


def test_the_default_pace_plays_each_story_in_one_to_three_minutes_a_few_at_once() -> None:
    """Issue 17 #7: at the old default rate a session lasted 3.6 s. At the default speed every story
    of the live demo (plain, failing, big swarm) lasts as long as a person can follow, and `make
    run` (Procfile) plays a few side by side."""
    args = build_parser().parse_args(["demo", "--loop"])
    assert args.rate is None  # the default paces by speed, not by a rate that squeezes stories
    for index in range(20):
        story = live_story(index)
        events = generate_session(100 + index, agents=story.agents, failing=story.failing)
        seconds = (events[-1]["timestamp"] - events[0]["timestamp"]) / 1000 / args.speed
        assert 60 <= seconds <= 180, (index, story, seconds)
    procfile = (Path(__file__).resolve().parents[3] / "Procfile").read_text()
    demo = next(line for line in procfile.splitlines() if line.startswith("demo:"))
    played = build_parser().parse_args(demo.split()[2:])
    assert played.loop
    assert played.concurrency >= 2
    assert played.rate is None


def test_unknown_agent_types_are_refused() -> None:
    with pytest.raises(ValueError, match="wizard"):
        generate_session(1, agents=["coordinator", "wizard"])


def test_live_session_publishes_the_same_story_through_nats(js_url: str, session_id: str) -> None:
    result = run_live_session(4, session_id, nats_url=js_url, rate=None)
    assert result.lost == 0
    assert result.published >= result.events
    live = published_events(js_url, session_id)
    expected = generate_session(4, session_id)
    story = [(e["type"], e["phase"], e.get("agent_id")) for e in live if e["type"] != "custom.sdk_drops"]
    assert story == [(e["type"], e["phase"], e.get("agent_id")) for e in expected]
    for event in live:
        TraceEvent.model_validate(event)
    llm = next(e for e in live if e["type"] == "llm_call" and e["phase"] == "complete")
    assert llm["performance"]["memory_usage"] > 0  # real measurements in live mode


def test_an_unpaced_session_keeps_the_durations_of_its_story(js_url: str, session_id: str) -> None:
    """`--rate 0` publishes as fast as it can; its timestamps still span the story's time."""
    result = run_live_session(5, session_id, nats_url=js_url, rate=None, failing=True)
    assert (result.lost, result.status) == (0, "failed")
    live = [e for e in published_events(js_url, session_id) if e["type"] != "custom.sdk_drops"]
    dry = generate_session(5, session_id, failing=True)
    assert [e["type"] for e in live] == [e["type"] for e in dry]
    span = live[-1]["timestamp"] - live[0]["timestamp"]
    assert span == pytest.approx(dry[-1]["timestamp"] - dry[0]["timestamp"], abs=1.0)
    assert span > 20_000  # the story takes about 40 simulated seconds, not the milliseconds of publishing
    assert live[-1]["timestamp"] <= time.time() * 1000 + 1000  # it ends about now, not in the future
    assert live[-1]["data"]["status"] == "failed"


def test_demo_command_runs_sessions_side_by_side(js_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "swarmscope",
            "demo",
            "--sessions",
            "3",
            "--concurrency",
            "3",
            "--rate",
            "0",
            "--fail-every",
            "2",
            "--big-every",
            "3",
            "--seed",
            "4",
            "--nats-url",
            js_url,
            "--prefix",
            "side",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    lines = sorted(line for line in result.stderr.splitlines() if "events published in" in line)
    assert len(lines) == 3, result.stderr
    assert [line.split(":")[0][-3:] for line in lines] == ["001", "002", "003"]
    assert "completed" in lines[0]
    assert "5 agents" in lines[0]
    assert "failed" in lines[1]
    assert f"{len(BIG_SWARM)} agents" in lines[2]
    statuses = [published_events(js_url, line.split(":")[0])[-1]["data"]["status"] for line in lines]
    assert statuses == ["completed", "failed", "completed"]


def test_demo_command_publishes_sessions(js_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "swarmscope",
            "demo",
            "--sessions",
            "2",
            "--rate",
            "0",
            "--seed",
            "9",
            "--nats-url",
            js_url,
            "--prefix",
            "cli-demo",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "events published in" in line]
    assert len(lines) == 2
    session = lines[0].split(":")[0]
    assert session.startswith("cli-demo-")
    events = published_events(js_url, session)
    assert events[0]["type"] == "session_start"
    assert events[-1]["type"] == "session_end"


def test_demo_command_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--agents", "coordinator,wizard"]) == 2
    assert "wizard" in capsys.readouterr().err
    assert main(["demo", "--sessions", "0"]) == 2
    assert main(["demo", "--speed", "0"]) == 2
    assert main(["demo", "--concurrency", "0"]) == 2
    assert main(["demo", "--rate", "-1"]) == 2


def test_demo_loop_waits_for_nats_and_stops_cleanly(tmp_path: Path) -> None:
    """`make run` starts the demo beside NATS and ingest, and stops it with SIGTERM."""
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swarmscope",
            "demo",
            "--loop",
            "--rate",
            "200",
            "--nats-url",
            url,
            "--prefix",
            "loop",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    server = None
    try:
        assert demo.stderr is not None
        assert "demo swarm" in demo.stderr.readline()
        server = start_nats_server(tmp_path / "nats", port)  # late, as under make run
        asyncio.run(_provision(url))
        finished, seen = "", []
        while "events published in" not in finished:
            finished = demo.stderr.readline()
            seen.append(finished)
            assert finished, f"the demo exited early: {''.join(seen)}"
        assert "143/143" in finished
        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=60)[1]
        assert demo.returncode == 0
        assert "stopped" in rest
        first = finished.split(":")[0]
        assert published_events(url, first)[-1]["data"]["status"] == "completed"
        interrupted = first[:-3] + f"{int(first[-3:]) + 1:03d}"
        # The signal lands in the next session (or between two): whatever it had started ends cancelled.
        cut_short = published_events(url, interrupted)
        if cut_short:
            assert cut_short[-1]["type"] == "session_end"
            assert cut_short[-1]["data"]["status"] == "cancelled"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
        if server is not None:
            server.stop()


async def _provision(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


@pytest.mark.parametrize("stop_at", [15, 26, 70])
def test_an_interrupted_live_session_closes_its_spans_and_ends_cancelled(
    js_url: str, session_id: str, caplog: pytest.LogCaptureFixture, stop_at: int
) -> None:
    calls = 0

    def interrupt(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == stop_at:
            raise KeyboardInterrupt

    interrupted = False
    try:
        run_live_session(6, session_id, nats_url=js_url, rate=None, on_event=interrupt)
    except KeyboardInterrupt:
        interrupted = True
    assert interrupted
    gc.collect()  # nothing may be left suspended that could emit into the closed tracer
    assert "after the tracer was closed" not in caplog.text
    events = published_events(js_url, session_id)
    assert events[-1]["type"] == "session_end"
    assert events[-1]["data"]["status"] == "cancelled"
    opened = {e["span_id"] for e in events if e["phase"] == "start"}
    closed = {e.get("span_id") for e in events if e["phase"] in ("complete", "error")}
    assert opened <= closed  # every span that was running ended (in error: it was cut short)
