"""The CLI's gateway commands and the HTTP transport, against a real local swarmscope (LocalStack:
nats-server, ingest, store, replay and gateway as processes), with API keys switched on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from swarmscope import Tracer, local_stack
from swarmscope.cli import main
from swarmscope.demo import generate_session, run_live_session
from swarmscope.gateway_client import GatewayClient, GatewayError
from swarmscope.local_stack import ENV_STATE_FILE, STATE_FILE, remove_state, write_state
from swarmscope_dev.stack import LocalStack
from swarmscope_schema.events import TraceEvent

API_KEY = "sdk-test-key-0123"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        data_dir=tmp_path_factory.mktemp("stack"),
        env={"SWARMSCOPE_DEMO": "0", "SWARMSCOPE_API_KEYS": API_KEY},
    ) as running:
        yield running


def gateway(stack: LocalStack) -> list[str]:
    return ["--gateway-url", stack.gateway_url, "--api-key", API_KEY]


def stored_count(stack: LocalStack, session_id: str) -> int:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/sessions/{session_id}", headers={"authorization": f"Bearer {API_KEY}"}
    )
    return int(response.json()["event_count"]) if response.status_code == 200 else 0


def stored_events(stack: LocalStack, session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.gateway_url}/api/v1/sessions/{session_id}/events",
        params={"limit": 1000},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_import_then_export_round_trip(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str], wait_for: Callable[..., None]
) -> None:
    source = tmp_path / "session.jsonl"
    generated = generate_session(21, "cli-roundtrip")
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generated))

    assert main(["import", str(source), *gateway(stack)]) == 0
    assert f"{len(generated)} events accepted, 0 rejected" in capsys.readouterr().err
    wait_for(lambda: stored_count(stack, "cli-roundtrip") == len(generated), timeout=60)

    out = tmp_path / "export.jsonl"
    assert main(["export", "cli-roundtrip", "-o", str(out), *gateway(stack)]) == 0
    assert f"{len(generated)} events of cli-roundtrip written" in capsys.readouterr().err
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [e["id"] for e in exported] == [e["id"] for e in generated]
    assert [e["seq"] for e in exported] == sorted(e["seq"] for e in exported)
    assert exported[5]["data"] == TraceEvent.model_validate(generated[5]).data

    # To standard output as well.
    assert main(["export", "cli-roundtrip", *gateway(stack), "--quiet"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(generated)


def test_live_demo_lands_in_the_store(stack: LocalStack, wait_for: Callable[..., None]) -> None:
    result = run_live_session(22, "cli-live", nats_url=str(stack.nats_url), rate=None)
    assert result.lost == 0
    wait_for(lambda: stored_count(stack, "cli-live") == result.events, timeout=60)


def test_bad_input_gets_clear_errors_and_sends_nothing(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "session_id": "cli-broken", "type": "custom.x"}\nnot json\n[1, 2]\n')
    assert main(["import", str(broken), *gateway(stack)]) == 2
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err
    assert "line 3: not a JSON object" in err
    assert stored_count(stack, "cli-broken") == 0
    assert main(["import", str(tmp_path / "missing.jsonl"), *gateway(stack)]) == 2
    assert main(["export", "no-such-session", *gateway(stack)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["export", "cli-live", "--gateway-url", stack.gateway_url, "--api-key", "wrong-key-000"]) == 1
    assert "error:" in capsys.readouterr().err


def test_tail_follows_the_live_stream(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    received: list[dict[str, Any]] = []
    ready = threading.Event()
    session = "cli-tail"

    def follow() -> None:
        with GatewayClient(stack.gateway_url, api_key=API_KEY) as client:
            ready.set()
            for event in client.stream(session=session, stop=lambda: len(received) >= 30):
                received.append(event)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    ready.wait(10)
    time.sleep(0.5)  # let the stream subscribe before the events exist ("from now")
    tracer = Tracer(session, str(stack.nats_url), agent_id="cod-1")
    for i in range(30):
        tracer.emit("custom.tick", {"i": i, "note": "[bold red]not markup[/]"})
    assert tracer.flush(10)
    tracer.close()
    follower.join(60)
    assert [e["data"]["i"] for e in received] == list(range(30))
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs)

    # The command: history from a seq, then live; event text printed as text, never as markup.
    assert (
        main(
            ["tail", "--session", session, "--after-seq", str(seqs[9]), "--max-events", "5", *gateway(stack)]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert "custom.tick" in lines[0]
    assert "[bold red]not markup[/]" in lines[0]
    assert (
        main(
            ["tail", "--session", session, "--after-seq", "0", "--max-events", "3", "--json", *gateway(stack)]
        )
        == 0
    )
    as_json = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["data"]["i"] for e in as_json] == [0, 1, 2]


def test_http_transport_publishes_through_the_gateway(
    stack: LocalStack, wait_for: Callable[..., None]
) -> None:
    tracer = Tracer("cli-http", gateway_url=stack.gateway_url, api_key=API_KEY, agent_id="cod-1")
    assert tracer.transport_description.startswith("HTTP")
    with tracer.task("T1"):
        for i in range(20):
            tracer.emit("tool_call", {"tool": "Bash", "args": {"i": i}, "exit_code": 0})
    assert tracer.flush(20)
    assert tracer.stats()["lost"] == 0
    tracer.close()
    wait_for(lambda: stored_count(stack, "cli-http") == 22, timeout=60)
    events = stored_events(stack, "cli-http")
    assert [e["type"] for e in events][:2] == ["task_start", "tool_call"]
    assert events[1]["metadata"]["parent_id"] == "sp_T1_a1"

    refused = Tracer("cli-http-refused", gateway_url=stack.gateway_url, api_key="wrong-key-000")
    refused.emit("custom.x", {})
    assert refused.flush(20)
    assert refused.stats()["dropped"] == {"rejected": {"normal": 1}}
    refused.close()


def test_gateway_errors_are_readable(stack: LocalStack) -> None:
    with GatewayClient(stack.gateway_url, api_key=API_KEY) as client, pytest.raises(GatewayError) as raised:
        client.session("nope-nothing-here")
    assert raised.value.status == 404
    with (
        GatewayClient("http://127.0.0.1:9", api_key=API_KEY) as client,
        pytest.raises(GatewayError, match="reach"),
    ):
        client.session("x")


def test_tail_says_when_the_session_does_not_exist(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", "--session", "swarm-demo-01", "--duration", "0.5", *gateway(stack)]) == 0
    err = capsys.readouterr().err
    assert "no session 'swarm-demo-01'" in err
    assert "Waiting for it to start" in err


def test_the_cli_follows_the_stack_make_run_started(
    stack: LocalStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    wait_for: Callable[..., None],
) -> None:
    """No --gateway-url and no environment: the CLI reads .data/run.json from the checkout."""
    checkout = tmp_path / "checkout"
    (checkout / "deep" / "er").mkdir(parents=True)
    write_state(checkout / STATE_FILE, gateway_url=stack.gateway_url, nats_url=str(stack.nats_url))
    monkeypatch.delenv("SWARMSCOPE_GATEWAY_URL", raising=False)
    monkeypatch.delenv("SWARMSCOPE_NATS_URL", raising=False)
    monkeypatch.delenv(ENV_STATE_FILE, raising=False)
    monkeypatch.chdir(checkout / "deep" / "er")
    assert local_stack.gateway_url() == stack.gateway_url
    assert local_stack.nats_url() == str(stack.nats_url)
    assert main(["demo", "--rate", "0", "--session-id", "cli-state", "--quiet"]) == 0
    assert f"browse them at {stack.gateway_url}/" in capsys.readouterr().err
    wait_for(lambda: stored_count(stack, "cli-state") > 100, timeout=60)
    assert main(["export", "cli-state", "--api-key", API_KEY, "--quiet"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 100
    # A state file whose writer is gone is ignored.
    write_state(checkout / STATE_FILE, gateway_url="http://127.0.0.1:9", nats_url=None, pid=2**22 + 7)
    assert local_stack.gateway_url() == "http://127.0.0.1:8000"
    remove_state(checkout / STATE_FILE)  # not ours: stays
    assert (checkout / STATE_FILE).exists()


def test_make_runs_banner_writes_the_state_file_and_removes_it(stack: LocalStack, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        **{f"SWARMSCOPE_{name.upper()}_PORT": str(port) for name, port in stack.service_ports().items()},
        "SWARMSCOPE_NATS_URL": str(stack.nats_url),
    }
    ready = subprocess.Popen(
        [sys.executable, str(root / "scripts" / "dev_ready.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert ready.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner:
            line = ready.stdout.readline()
            assert line, "the banner ended early"
            banner += line
        state = orjson.loads((tmp_path / STATE_FILE).read_bytes())
        assert state == {"gateway_url": stack.gateway_url, "nats_url": str(stack.nats_url), "pid": ready.pid}
        assert str(STATE_FILE) in banner
        found = local_stack.find_local_stack(tmp_path)
        assert found is not None
        assert found.gateway_url == stack.gateway_url
        ready.send_signal(signal.SIGTERM)
        assert ready.wait(30) == 0
        assert not (tmp_path / STATE_FILE).exists()
    finally:
        if ready.poll() is None:
            ready.kill()
            ready.wait()
        if ready.stdout is not None:
            ready.stdout.close()
