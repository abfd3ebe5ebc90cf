"""`swarmscope hooks install|uninstall`: our hooks block merged into Claude Code's settings.json
beside the hooks Claude-Flow installs, idempotently, and taken out again leaving theirs as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swarmscope.claude_settings import HOOK_TIMEOUT_SECONDS, TOOL_EVENTS, is_ours, merged
from swarmscope.cli import main
from swarmscope_schema.claude_code import HOOK_EVENTS

COMMAND = "/opt/venv/bin/swarmscope hook"

# What `claude-flow init` writes (its hook-handler helper on tool and session events), plus keys of
# the user's own.
CLAUDE_FLOW_SETTINGS: dict[str, Any] = {
    "env": {"CLAUDE_FLOW_HOOKS_ENABLED": "true"},
    "permissions": {"allow": ["Bash(npx claude-flow *)", "mcp__claude-flow__:*"]},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "command",
                        "command": "node .claude/helpers/hook-handler.cjs pre-bash",
                        "timeout": 5000,
                    }
                ],
            },
            {
                "matcher": "Write|Edit|MultiEdit",
                "hooks": [{"type": "command", "command": "node .claude/helpers/hook-handler.cjs pre-edit"}],
            },
        ],
        "PostToolUse": [
            {
                "matcher": "Write|Edit|MultiEdit",
                "hooks": [{"type": "command", "command": "node .claude/helpers/hook-handler.cjs post-edit"}],
            }
        ],
        "SessionStart": [
            {
                "hooks": [
                    {"type": "command", "command": "node .claude/helpers/hook-handler.cjs session-restore"}
                ]
            }
        ],
        "Stop": [
            {"hooks": [{"type": "command", "command": "node .claude/helpers/hook-handler.cjs session-end"}]}
        ],
    },
    "statusLine": {"type": "command", "command": ".claude/statusline.sh"},
}


def write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def read(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text())
    return value


def ours(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [g for g in groups if any(is_ours(h) for h in g["hooks"])]


def test_install_adds_our_group_to_every_event_and_keeps_claude_flows_hooks(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, CLAUDE_FLOW_SETTINGS)
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND]) == 0
    after = read(path)
    assert {k: v for k, v in after.items() if k != "hooks"} == {
        k: v for k, v in CLAUDE_FLOW_SETTINGS.items() if k != "hooks"
    }
    assert set(after["hooks"]) == set(HOOK_EVENTS)
    for event, groups in after["hooks"].items():
        theirs = CLAUDE_FLOW_SETTINGS["hooks"].get(event, [])
        # Theirs first and untouched, then exactly one group of ours.
        assert groups[: len(theirs)] == theirs
        assert groups[len(theirs) :] == ours(groups)
        (group,) = ours(groups)
        assert group["hooks"] == [{"type": "command", "command": COMMAND, "timeout": HOOK_TIMEOUT_SECONDS}]
        assert group.get("matcher") == ("*" if event in TOOL_EVENTS else None)


def test_install_twice_writes_the_same_file_and_a_new_command_replaces_ours_in_place(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, CLAUDE_FLOW_SETTINGS)
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND]) == 0
    once = path.read_bytes()
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND]) == 0
    assert path.read_bytes() == once
    # Someone adds a hook after ours; a reinstall with another command keeps positions.
    settings = read(path)
    later = {"hooks": [{"type": "command", "command": "echo later"}]}
    settings["hooks"]["PreToolUse"].append(later)
    write(path, settings)
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", "npx swarmscope hook"]) == 0
    pre = read(path)["hooks"]["PreToolUse"]
    assert pre[-1] == later
    assert pre[-2]["hooks"][0]["command"] == "npx swarmscope hook"
    assert len(ours(pre)) == 1


def test_uninstall_leaves_exactly_what_was_there_before(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write(path, CLAUDE_FLOW_SETTINGS)
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND]) == 0
    assert main(["hooks", "uninstall", "--dir", str(tmp_path)]) == 0
    assert read(path) == CLAUDE_FLOW_SETTINGS


def test_our_hook_sharing_a_group_with_another_is_taken_out_of_it(tmp_path: Path) -> None:
    shared = {
        "hooks": {
            "Stop": [
                {
                    "hooks": [
                        {"type": "command", "command": "say done"},
                        {"type": "command", "command": "swarmscope hook"},
                    ]
                }
            ]
        }
    }
    after = merged(shared, COMMAND, ["Stop"])
    assert after["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "say done"}]},
        {"hooks": [{"type": "command", "command": COMMAND, "timeout": HOOK_TIMEOUT_SECONDS}]},
    ]


def test_user_and_local_scopes_and_chosen_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        main(["hooks", "install", "--user", "--command", COMMAND, "--events", "PreToolUse,PostToolUse"]) == 0
    )
    user = read(tmp_path / "home" / ".claude" / "settings.json")
    assert set(user["hooks"]) == {"PreToolUse", "PostToolUse"}
    assert main(["hooks", "install", "--local", "--dir", str(tmp_path), "--command", COMMAND]) == 0
    assert set(read(tmp_path / ".claude" / "settings.local.json")["hooks"]) == set(HOOK_EVENTS)
    assert not (tmp_path / ".claude" / "settings.json").exists()


def test_the_urls_given_go_into_the_command(tmp_path: Path) -> None:
    args = [
        "hooks",
        "install",
        "--dir",
        str(tmp_path),
        "--command",
        COMMAND,
        "--gateway-url",
        "http://h:8000",
    ]
    assert main(args) == 0
    commands = {
        g["hooks"][0]["command"]
        for groups in read(tmp_path / ".claude" / "settings.json")["hooks"].values()
        for g in groups
    }
    assert commands == {f"{COMMAND} --gateway-url http://h:8000"}


@pytest.mark.parametrize(
    "content",
    ['{"hooks": {"Stop": [', "[1, 2]", '{"hooks": []}', '{"hooks": {"Stop": {}}}'],
)
def test_unusable_settings_are_refused_and_left_untouched(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(content)
    assert main(["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert path.read_text() == content


def test_unknown_events_are_refused(tmp_path: Path) -> None:
    assert (
        main(
            ["hooks", "install", "--dir", str(tmp_path), "--command", COMMAND, "--events", "PreToolUse,Nope"]
        )
        == 2
    )
    assert not (tmp_path / ".claude" / "settings.json").exists()


@pytest.mark.parametrize(
    ("command", "mine"),
    [
        ("swarmscope hook", True),
        ("'/home/u/.venv/bin/swarmscope' hook --nats-url nats://h:4222", True),
        ("/usr/bin/python3 -m swarmscope hook", True),
        ("npx swarmscope hook", True),
        ("npx -y swarmscope@0.1.0 hook", True),
        ("node /x/node_modules/swarmscope/bin/swarmscope.js hook", True),
        ("node .claude/helpers/hook-handler.cjs pre-bash", False),
        ("swarmscope-other hook", False),
        ("swarmscope tail", False),
        ("echo swarmscope hooks", False),
    ],
)
def test_which_commands_are_ours(command: str, mine: bool) -> None:
    assert is_ours({"type": "command", "command": command}) is mine
