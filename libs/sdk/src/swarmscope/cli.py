"""The `swarmscope` command: demo, tail, export, import, and Claude Code's hook.

    swarmscope demo --sessions 3 --seed 7                # realistic swarms, at a pace a person can follow
    swarmscope demo --loop --concurrency 3               # continuous live data (make run)
    swarmscope demo --sessions 20 --rate 0               # as fast as possible (durations stay real)
    swarmscope tail --session swarm-demo-0007            # live events in the terminal
    swarmscope export swarm-demo-0007 -o run.jsonl       # a session's events as JSON Lines
    swarmscope import run.jsonl                          # events back in (republished to ingest)
    swarmscope hooks install --project                   # trace Claude Code: hooks in .claude/settings.json
    swarmscope hook < payload.json                       # what those hooks run (stdin: one hook's JSON)

Event text is untrusted (LLM output, tool args): it is printed as plain text, never interpreted as
terminal markup.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from swarmscope import claude_hook, claude_settings, local_stack
from swarmscope.demo import AGENT_TYPES, DEFAULT_AGENTS, DemoStopped, LiveResult, live_story, run_live_session
from swarmscope.gateway_client import GatewayClient, GatewayError
from swarmscope_schema.claude_code import HOOK_EVENTS

_TYPE_STYLES = {
    "agent_method": "green",
    "communication": "blue",
    "error": "bold red",
    "tool_call": "cyan",
    "llm_call": "magenta",
    "decision": "yellow",
}


def _type_style(event_type: str, phase: str) -> str:
    if phase == "error":
        return "bold red"
    if event_type.startswith("task_"):
        return "dark_orange"
    if event_type.startswith("memory_"):
        return "purple"
    return _TYPE_STYLES.get(event_type, "grey70")


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=repr).decode()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(event: dict[str, Any]) -> str:
    """A one-line human summary of an event's payload."""
    data = event.get("data") or {}
    kind = event.get("type", "")
    if kind == "tool_call":
        extra = f" exit={data['exit_code']}" if data.get("exit_code") is not None else ""
        return f"{data.get('tool')} {_short(data.get('args'), 60)}{extra}"
    if kind == "llm_call":
        tokens = ""
        if data.get("input_tokens") is not None:
            tokens = f" {data.get('input_tokens')}→{data.get('output_tokens')} tok ${data.get('cost_usd', 0)}"
        return f"{data.get('model')}{tokens}"
    if kind == "communication":
        message = data.get("message") or {}
        to = ",".join(str(t) for t in message.get("to") or []) or "*"
        return f"{message.get('from')} → {to} [{message.get('type') or data.get('event') or ''}] {_short(message.get('content'), 50)}"
    if kind.startswith("task_"):
        rest = {k: v for k, v in data.items() if k not in ("task_id", "stack")}
        return f"{data.get('task_id')} {_short(rest, 70)}"
    if kind.startswith("memory_"):
        version = data.get("version", data.get("version_read"))
        return f"{data.get('namespace') or ''}/{data.get('key')}" + (
            f" v{version}" if version is not None else ""
        )
    if kind == "decision":
        return f"{data.get('kind')} → {_short(data.get('chosen'), 50)}"
    if kind == "error":
        return _short(data.get("message"), 100)
    return _short(data, 90)


def event_line(event: dict[str, Any]) -> Text:
    """A colored, markup-free line for one stored event."""
    stamp = time.strftime("%H:%M:%S", time.localtime(float(event.get("timestamp", 0)) / 1000.0))
    millis = int(float(event.get("timestamp", 0)) % 1000)
    phase = str(event.get("phase", "complete"))
    kind = str(event.get("type", "?"))
    line = Text()
    line.append(f"{stamp}.{millis:03d} ", style="dim")
    line.append(f"{event.get('seq', ''):>7} ", style="dim")
    line.append(f"{_short(event.get('session_id', ''), 24):<24} ", style="bright_black")
    line.append(f"{_short(event.get('agent_id') or '-', 10):<10} ", style="bold")
    label = kind if phase == "complete" else f"{kind}:{phase}"
    line.append(f"{label:<24} ", style=_type_style(kind, phase))
    line.append(summarize(event))
    return line


# ---------------------------------------------------------------------------------------- demo --


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _demo_pacing(args: argparse.Namespace) -> tuple[float | None, float | None, str]:
    """(rate, speed, description) from --rate / --speed: --rate wins when given."""
    if args.rate is not None:
        return (args.rate or None, None, f"{args.rate:g} events/s per session" if args.rate else "max speed")
    return (None, args.speed, f"{args.speed:g}× real time")


class _DemoRun:
    """The sessions of one `swarmscope demo`, played by `concurrency` workers at once."""

    def __init__(self, args: argparse.Namespace, console: Console, agents: list[str] | None) -> None:
        self.args = args
        self.console = console
        self.agents = agents
        self.base_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10_000)
        self.run_tag = time.strftime("%m%d-%H%M%S")
        self.rate, self.speed, self.pacing = _demo_pacing(args)
        self.stop = threading.Event()
        self.totals = {"sessions": 0, "events": 0, "published": 0, "lost": 0}
        self._lock = threading.Lock()
        self._next = 0

    def _take(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or (not self.args.loop and self._next >= self.args.sessions):
                return None
            index = self._next
            self._next += 1
            return index

    def session_id(self, index: int) -> str:
        args = self.args
        if args.session_id and not args.loop and args.sessions == 1:
            return str(args.session_id)
        return f"{args.prefix}-{self.run_tag}-{index + 1:03d}"

    def worker(self, slot: int, progress: Progress | None) -> None:
        # Staggered starts: sessions running side by side are at different stages of their story.
        if slot and self.stop.wait(min(30.0, 12.0 * slot / max(self.speed or 1.0, 0.1))):
            return
        while (index := self._take()) is not None:
            story = live_story(
                index, agents=self.agents, fail_every=self.args.fail_every, big_every=self.args.big_every
            )
            seed = self.base_seed + index
            session_id = self.session_id(index)
            bar = progress.add_task(session_id, total=None) if progress is not None else None

            def update(done: int, total: int, bar: Any = bar) -> None:
                if progress is not None and bar is not None:
                    progress.update(bar, completed=done, total=total)

            try:
                result = run_live_session(
                    seed,
                    session_id,
                    nats_url=self.args.nats_url,
                    rate=self.rate,
                    speed=self.speed,
                    agents=story.agents,
                    failing=story.failing,
                    on_event=update,
                    stop=self.stop,
                )
            except DemoStopped:
                return
            finally:
                if progress is not None and bar is not None:
                    progress.remove_task(bar)
            self.report(result, seed, len(story.agents))

    def report(self, result: LiveResult, seed: int, agents: int) -> None:
        with self._lock:
            self.totals["sessions"] += 1
            self.totals["events"] += result.events
            self.totals["published"] += result.published
            self.totals["lost"] += result.lost
        status = Text(
            f"{result.session_id}: {result.published}/{result.events} events published "
            f"in {result.seconds:.1f}s (seed {seed}, {agents} agents, {result.status})",
            style="green" if result.lost == 0 else "yellow",
        )
        if result.lost:
            status.append(
                f" · {result.lost} lost (is NATS and ingest running at {self.args.nats_url}?)", style="red"
            )
        self.console.print(status)

    def play(self) -> None:
        interactive = self.console.is_terminal and not self.args.quiet
        workers = max(1, min(self.args.concurrency, self.args.sessions if not self.args.loop else 1 << 16))
        progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            if interactive
            else None
        )
        with progress if progress is not None else contextlib.nullcontext(), self._signals_stop():
            # Not daemon threads: a daemon thread still inside a native extension (the RE2 of
            # redaction) when the interpreter finalizes aborts the process (std::terminate).
            threads = [
                threading.Thread(target=self.worker, args=(slot, progress), name=f"demo-{slot}")
                for slot in range(workers)
            ]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
        if self.stop.is_set():
            # Every running session ended `cancelled` before this line.
            self.console.print(Text("stopped", style="dim"))

    @contextlib.contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM set the stop event instead of raising in the main thread: an exception
        interrupting `Thread.join` can leave a running worker looking stopped, and the process
        would then finalize under it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else None
    unknown = [a for a in agents or [] if a not in AGENT_TYPES]
    if unknown:
        console.print(
            Text(f"unknown agent types {unknown}; choose from {', '.join(AGENT_TYPES)}", style="red")
        )
        return 2
    run = _DemoRun(args, console, agents)
    line_up = ",".join(agents) if agents else f"{','.join(DEFAULT_AGENTS)} (a dozen now and then)"
    console.print(
        Text(
            f"demo swarm → NATS {args.nats_url} · agents {line_up} · "
            f"{'loop' if args.loop else f'{args.sessions} session(s)'}, {args.concurrency} at once · "
            f"{run.pacing} · seed {run.base_seed}"
        )
    )
    run.play()
    totals = run.totals
    console.print(
        Text(
            f"{totals['sessions']} session(s), {totals['published']}/{totals['events']} events published; "
            f"browse them at {local_stack.gateway_url().rstrip('/')}/"
        )
    )
    return 0 if totals["lost"] == 0 else 1


# ---------------------------------------------------------------------------------------- tail --


def cmd_tail(args: argparse.Namespace, console: Console, client: GatewayClient) -> int:
    shown = 0
    _stop_on_sigterm()
    deadline = time.monotonic() + args.duration if args.duration else None

    def stop() -> bool:
        return (args.max_events is not None and shown >= args.max_events) or (
            deadline is not None and time.monotonic() > deadline
        )

    if args.session:
        _say_if_unknown(args.session, console, client)
    if not args.json:
        what = f"session {args.session}" if args.session else "all sessions"
        console.print(
            Text(f"following {what} at {client.base_url} (Ctrl-C to stop)", style="dim"), highlight=False
        )
    out = sys.stdout.buffer
    lines = Console(highlight=False, soft_wrap=True)
    try:
        for event in client.stream(
            session=args.session,
            agent=args.agent,
            type=args.type,
            after_seq=args.after_seq,
            stop=stop,
            on_retry=lambda reason: console.print(Text(reason, style="yellow")),
        ):
            if args.json:
                out.write(orjson.dumps(event) + b"\n")
                out.flush()
            else:
                lines.print(event_line(event))
            shown += 1
            if stop():
                break
    except KeyboardInterrupt:
        pass
    return 0


def _say_if_unknown(session_id: str, console: Console, client: GatewayClient) -> None:
    """Tells the person when the session they follow does not exist (yet), and which ones do."""
    try:
        client.session(session_id)
        return
    except GatewayError as exc:
        if exc.status != 404:
            raise
    recent = client.sessions(limit=5, system="exclude")
    similar = client.sessions(q=session_id[: max(4, len(session_id) // 2)], limit=5, system="exclude")
    names = list(dict.fromkeys(s["id"] for s in similar + recent))[:5]
    message = Text(f"no session {session_id!r} at {client.base_url}", style="yellow")
    if names:
        message.append(f"; recent sessions: {', '.join(names)}", style="yellow")
    message.append(". Waiting for it to start (Ctrl-C to stop).", style="yellow")
    console.print(message, highlight=False)


# ------------------------------------------------------------------------------ export, import --


def cmd_export(args: argparse.Namespace, console: Console, client: GatewayClient) -> int:
    summary = client.session(args.session)
    total = int(summary.get("event_count") or 0) or None
    to_stdout = args.output in (None, "-")
    target: IO[bytes]
    with contextlib.ExitStack() as stack:
        if to_stdout:
            target = sys.stdout.buffer
        else:
            path = Path(args.output)
            partial = path.with_name(path.name + ".part")
            target = stack.enter_context(partial.open("wb"))
        with Progress(
            TextColumn("export {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=args.quiet or not console.is_terminal,
        ) as progress:
            bar = progress.add_task(args.session, total=total)
            count = client.export(args.session, target, on_line=lambda n: progress.update(bar, completed=n))
            progress.update(bar, completed=count, total=count)
    if not to_stdout:
        partial.replace(path)
        console.print(Text(f"{count} events of {args.session} written to {path}"))
    return 0


def _check_jsonl(path: Path, console: Console, quiet: bool) -> list[tuple[int, str]]:
    """Lines that are not JSON objects (line number, problem); the upload is refused if any."""
    problems: list[tuple[int, str]] = []
    size = path.stat().st_size
    with (
        Progress(
            TextColumn("check {task.description}"),
            BarColumn(),
            DownloadColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,
        ) as progress,
        path.open("rb") as source,
    ):
        bar = progress.add_task(path.name, total=size)
        for number, line in enumerate(source, start=1):
            progress.advance(bar, len(line))
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                problems.append((number, f"not valid JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                problems.append((number, "not a JSON object"))
    return problems


def cmd_import(args: argparse.Namespace, console: Console, client: GatewayClient) -> int:
    path = Path(args.file)
    if not path.is_file():
        console.print(Text(f"no such file: {path}", style="red"))
        return 2
    problems = _check_jsonl(path, console, args.quiet)
    if problems:
        console.print(
            Text(
                f"{path} has {len(problems)} line(s) that are not JSON objects; nothing was sent:",
                style="red",
            )
        )
        for number, problem in problems[:10]:
            console.print(Text(f"  line {number}: {problem}"))
        return 2
    with Progress(
        TextColumn("import {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet or not console.is_terminal,
    ) as progress:
        bar = progress.add_task(path.name, total=path.stat().st_size)
        report = client.import_file(
            path, session_id=args.session_id, on_bytes=lambda n: progress.advance(bar, n)
        )
    accepted, rejected = report.get("accepted", 0), report.get("rejected", 0)
    console.print(
        Text(f"{accepted} events accepted, {rejected} rejected (of {report.get('lines', '?')} lines)")
    )
    if rejected:
        table = Table("line", "code", "message")
        for reject in report.get("rejects", [])[:20]:
            table.add_row(
                str(reject.get("line", reject.get("index", ""))),
                str(reject.get("code")),
                Text(str(reject.get("message"))),
            )
        console.print(table)
    return 0 if not rejected else 1


# ------------------------------------------------------------------------------ claude code --


def _hook_options(args: argparse.Namespace) -> claude_hook.HookOptions:
    return claude_hook.resolve_options(
        nats_url=args.nats_url,
        gateway_url=args.gateway_url,
        api_key=args.api_key,
        state_dir=args.state_dir,
        log_path=args.log,
        timeout=args.timeout,
    )


def cmd_hook(args: argparse.Namespace, console: Console) -> int:
    options = _hook_options(args)
    if args.flush:
        sent, left = claude_hook.flush(options, time.monotonic() + max(options.timeout, 10.0))
        console.print(Text(f"{sent} spooled event(s) sent, {left} still spooled (log: {options.log_path})"))
        return 0 if left == 0 else 1
    if sys.stdin.isatty():
        console.print(
            Text(
                "swarmscope hook reads one Claude Code hook payload (JSON) on stdin; Claude Code runs it "
                "from the hooks `swarmscope hooks install` writes",
                style="yellow",
            )
        )
        return 1
    return claude_hook.run(sys.stdin.buffer, options)


def _hook_command(args: argparse.Namespace) -> str:
    command = args.hook_command or claude_settings.default_command()
    for flag, value in (("--nats-url", args.nats_url), ("--gateway-url", args.gateway_url)):
        if value:
            command += f" {flag} {shlex.quote(value)}"
    return command


def cmd_hooks(args: argparse.Namespace, console: Console) -> int:
    path = claude_settings.settings_path(args.scope, Path(args.dir) if args.dir else None)
    try:
        if args.action == "uninstall":
            result = claude_settings.uninstall(path)
            console.print(
                Text(
                    f"swarmscope's hooks removed from {path} ({', '.join(result.events)})"
                    if result.changed
                    else f"no swarmscope hook in {path}; nothing changed"
                )
            )
            return 0
        events = [e.strip() for e in args.events.split(",") if e.strip()] if args.events else None
        command = _hook_command(args)
        if args.print:
            settings = claude_settings.merged(
                claude_settings.read_settings(path), command, events or HOOK_EVENTS
            )
            sys.stdout.write(orjson.dumps(settings, option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        result = claude_settings.install(path, command, events or HOOK_EVENTS)
    except claude_settings.SettingsError as exc:
        console.print(Text(f"error: {exc}; nothing was written", style="red"))
        return 2
    state = "installed in" if result.changed else "already up to date in"
    console.print(Text(f"swarmscope's hook on {len(result.events)} Claude Code events {state} {path}"))
    console.print(Text(f"command: {command}", style="dim"))
    return 0


# ----------------------------------------------------------------------------------------- main --


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarmscope", description="swarmscope: trace and debug multi-agent LLM swarms"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="publish realistic Claude-Flow-style swarm sessions to NATS")
    demo.add_argument("--sessions", type=int, default=1, help="how many sessions (default 1)")
    demo.add_argument(
        "--speed",
        type=float,
        default=0.5,
        help="simulated time per real time (default 0.5: a session takes 1–3 minutes, as a person can follow)",
    )
    demo.add_argument(
        "--rate",
        type=float,
        default=None,
        help="instead of --speed: events per second per session; 0 = as fast as possible "
        "(timestamps keep the story's durations)",
    )
    demo.add_argument("--concurrency", type=int, default=1, help="sessions running at once (default 1)")
    demo.add_argument(
        "--loop", action="store_true", help="start new sessions for ever (live data for make run)"
    )
    demo.add_argument(
        "--fail-every",
        type=int,
        default=4,
        help="every n-th session fails for real (a task exhausts its retries); 0 = never (default 4)",
    )
    demo.add_argument(
        "--big-every",
        type=int,
        default=5,
        help="every n-th session is a swarm of a dozen agents (without --agents); 0 = never (default 5)",
    )
    demo.add_argument("--seed", type=int, default=None, help="seed of the first session (repeatable stories)")
    demo.add_argument(
        "--agents",
        default=None,
        help=f"agent types, comma-separated, from: {', '.join(AGENT_TYPES)} "
        f"(default {','.join(DEFAULT_AGENTS)}, and now and then a dozen)",
    )
    demo.add_argument(
        "--nats-url",
        default=local_stack.nats_url(),
        help="default $SWARMSCOPE_NATS_URL, else the NATS of a running `make run`, else nats://127.0.0.1:14222",
    )
    demo.add_argument("--prefix", default="swarm-demo", help="session id prefix")
    demo.add_argument("--session-id", default=None, help="session id (a single session only)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    def gateway_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--gateway-url",
            default=local_stack.gateway_url(),
            help="default $SWARMSCOPE_GATEWAY_URL, else the gateway of a running `make run` "
            "(its .data/run.json), else http://127.0.0.1:8000",
        )
        p.add_argument(
            "--api-key", default=os.environ.get("SWARMSCOPE_API_KEY"), help="default $SWARMSCOPE_API_KEY"
        )
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    tail = sub.add_parser("tail", help="follow events live from the gateway's stream")
    tail.add_argument("--session", help="one session (default: all)")
    tail.add_argument("--agent", help="agent id(s), comma-separated")
    tail.add_argument("--type", help="event type(s), comma-separated")
    tail.add_argument("--after-seq", type=int, default=None, help="start after this seq (default: from now)")
    tail.add_argument("--json", action="store_true", help="print events as JSON Lines")
    tail.add_argument("--max-events", type=int, default=None, help="stop after this many events")
    tail.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    gateway_options(tail)

    export = sub.add_parser("export", help="download a session's events as JSON Lines")
    export.add_argument("session", help="session id")
    export.add_argument("-o", "--output", default=None, help="file to write (default: standard output)")
    gateway_options(export)

    imp = sub.add_parser("import", help="upload a JSON Lines file of events (republished into ingest)")
    imp.add_argument("file", help="JSON Lines file, one event per line")
    imp.add_argument("--session-id", default=None, help="import every event into this session instead")
    gateway_options(imp)

    hook = sub.add_parser(
        "hook",
        help="Claude Code's hook command: maps the hook JSON on stdin to events and publishes them "
        "(prints nothing, always exits 0, bounded time; errors go to the log)",
    )
    hook.add_argument(
        "--nats-url",
        default=None,
        help="default $SWARMSCOPE_NATS_URL, else HTTP if "
        "$SWARMSCOPE_GATEWAY_URL is set, else the NATS of a running `make run`",
    )
    hook.add_argument("--gateway-url", default=None, help="publish over HTTP to this gateway instead")
    hook.add_argument("--api-key", default=None, help="for HTTP; default $SWARMSCOPE_API_KEY")
    hook.add_argument(
        "--state-dir",
        default=None,
        help="default $SWARMSCOPE_HOOK_STATE_DIR, else $XDG_STATE_HOME/swarmscope/claude-code",
    )
    hook.add_argument(
        "--log", default=None, help="log file; default $SWARMSCOPE_HOOK_LOG, else <state dir>/hook.log"
    )
    hook.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="bound on one call in seconds (default $SWARMSCOPE_HOOK_TIMEOUT, else 2)",
    )
    hook.add_argument(
        "--flush", action="store_true", help="send the events spooled while NATS or the gateway was away"
    )

    hooks = sub.add_parser(
        "hooks", help="install or remove swarmscope's hooks in Claude Code's settings.json"
    )
    hooks.add_argument("action", choices=["install", "uninstall"])
    scope = hooks.add_mutually_exclusive_group()
    scope.add_argument(
        "--project",
        dest="scope",
        action="store_const",
        const="project",
        help=".claude/settings.json of the project (default)",
    )
    scope.add_argument(
        "--user", dest="scope", action="store_const", const="user", help="~/.claude/settings.json"
    )
    scope.add_argument(
        "--local",
        dest="scope",
        action="store_const",
        const="local",
        help=".claude/settings.local.json of the project (not committed)",
    )
    hooks.set_defaults(scope="project")
    hooks.add_argument("--dir", default=None, help="the project directory (default: the current one)")
    hooks.add_argument(
        "--command",
        dest="hook_command",
        default=None,
        help="the hook command line (default: this swarmscope's absolute path + ` hook`)",
    )
    hooks.add_argument("--nats-url", default=None, help="write this NATS URL into the hook command")
    hooks.add_argument(
        "--gateway-url", default=None, help="write this gateway URL into the hook command (HTTP)"
    )
    hooks.add_argument(
        "--events", default=None, help="comma-separated hook events (default: every documented one)"
    )
    hooks.add_argument(
        "--print", action="store_true", help="print the merged settings instead of writing them"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:
        if arguments[:1] == ["hook"] and exc.code not in (0, None):
            # A mistyped hook command line must not block Claude Code (exit 2 would): say it, go on.
            return 0
        raise
    console = Console(stderr=True, soft_wrap=True)
    if args.command == "hook":
        return cmd_hook(args, console)
    if args.command == "hooks":
        return cmd_hooks(args, console)
    if args.command == "demo":
        if (
            args.sessions < 1
            or (args.rate is not None and args.rate < 0)
            or args.speed <= 0
            or args.concurrency < 1
            or args.fail_every < 0
            or args.big_every < 0
        ):
            console.print(
                Text(
                    "--sessions and --concurrency must be ≥ 1, --speed > 0, --rate, --fail-every and "
                    "--big-every ≥ 0",
                    style="red",
                )
            )
            return 2
        return cmd_demo(args, console)
    commands = {"tail": cmd_tail, "export": cmd_export, "import": cmd_import}
    with GatewayClient(args.gateway_url, api_key=args.api_key) as client:
        try:
            return commands[args.command](args, console, client)
        except GatewayError as exc:
            console.print(Text(f"error: {exc}", style="red"))
            return 1


if __name__ == "__main__":
    sys.exit(main())
