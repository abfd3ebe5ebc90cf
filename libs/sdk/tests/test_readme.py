"""The README's CLI examples name sessions that exist (issue 17 #9: its `tail --session
swarm-demo-01` once named a session no command ever created, so `tail` waited for ever)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from rich.console import Console

from swarmscope.cli import _DemoRun, build_parser

README = Path(__file__).resolve().parents[3] / "README.md"


def _commands() -> list[list[str]]:
    """Every `swarmscope …` command in the README's shell blocks, as argv (without `swarmscope`)."""
    out: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if "swarmscope" in words:
                out.append(words[words.index("swarmscope") + 1 :])
    return out


def test_every_session_the_readme_tails_or_exports_is_one_its_demo_creates() -> None:
    parser = build_parser()
    created: set[str] = set()
    named: list[tuple[str, str]] = []
    for argv in _commands():
        args = parser.parse_args(argv)  # every example is a valid command line
        if args.command == "demo":
            run = _DemoRun(args, Console(quiet=True), None)
            created.update(run.session_id(i) for i in range(args.sessions if not args.loop else 0))
        elif args.command == "tail" and args.session:
            named.append(("tail", args.session))
        elif args.command == "export":
            named.append(("export", args.session))
    assert named, "the README shows tail and export"
    for command, session in named:
        assert session in created, f"README: `{command}` names {session!r}, which no README demo creates"
