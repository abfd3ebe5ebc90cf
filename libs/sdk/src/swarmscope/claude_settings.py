"""`swarmscope hooks install|uninstall`: swarmscope's hooks block in Claude Code's settings.json.

Claude Code reads hooks from `~/.claude/settings.json` (user), `.claude/settings.json` (project,
committed) and `.claude/settings.local.json` (project, not committed), as
`hooks.<Event>: [{matcher, hooks: [{type: "command", command, timeout}]}]`. Other tools keep their
own hooks there (`claude-flow init` writes a dozen that call its `hook-handler.cjs`), so installing
only adds a matcher group of ours to each event, or updates the one already there: every other
key, event and hook is left exactly as it was, and installing twice writes the same file. A hook is
ours when its command runs `swarmscope … hook` (the Python CLI, `python -m swarmscope`, or the
TypeScript package's bin: both install the same block and recognise each other's).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmscope_schema.claude_code import HOOK_EVENTS as HOOK_EVENTS

# Events whose matcher is a tool name pattern ("*" = every tool); the others take none.
TOOL_EVENTS: tuple[str, ...] = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest")
# Claude Code's bound on the command (seconds); the hook bounds itself well below it.
HOOK_TIMEOUT_SECONDS = 10
_OURS = re.compile(r"(?:^|[\s/\\])swarmscope(?:@\S*)?(?:\.[cm]?js|\.exe)?[\"']?\s+(?:--?\S+\s+)*hook(?:\s|$)")


class SettingsError(ValueError):
    """The settings file cannot be read as a JSON object with a well-formed `hooks` key."""


@dataclass(frozen=True)
class InstallResult:
    """What an install or uninstall did to one settings file."""

    path: Path
    changed: bool
    events: tuple[str, ...]


def settings_path(scope: str, project_dir: Path | None = None) -> Path:
    """The settings file of `scope`: `user`, `project` or `local`."""
    if scope == "user":
        return Path.home() / ".claude" / "settings.json"
    base = project_dir if project_dir is not None else Path.cwd()
    return base / ".claude" / ("settings.local.json" if scope == "local" else "settings.json")


def default_command() -> str:
    """The command line that runs this CLI's hook: the `swarmscope` script being run (absolute, so
    it works from any directory Claude Code starts in), else `<python> -m swarmscope`."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "swarmscope" and script.is_file():
        return f"{shlex.quote(str(script.resolve()))} hook"
    found = shutil.which("swarmscope")
    if found:
        return f"{shlex.quote(found)} hook"
    return f"{shlex.quote(sys.executable)} -m swarmscope hook"


def is_ours(hook: Any) -> bool:
    """True for a hook entry that runs `swarmscope hook`."""
    return (
        isinstance(hook, Mapping)
        and isinstance(hook.get("command"), str)
        and bool(_OURS.search(hook["command"]))
    )


def _entry(event: str, command: str) -> dict[str, Any]:
    group: dict[str, Any] = {}
    if event in TOOL_EVENTS:
        group["matcher"] = "*"
    group["hooks"] = [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECONDS}]
    return group


def read_settings(path: Path) -> dict[str, Any]:
    """The settings object of `path` ({} when there is no file); SettingsError when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} holds no JSON object")
    hooks = settings.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise SettingsError(f"{path}: `hooks` is not an object")
    for event, groups in (hooks or {}).items():
        if not isinstance(groups, list):
            raise SettingsError(f"{path}: hooks.{event} is not a list")
    return settings


def _only_ours(group: Any) -> bool:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return isinstance(hooks, list) and bool(hooks) and all(is_ours(h) for h in hooks)


def _without_ours(groups: list[Any]) -> list[Any]:
    """The matcher groups with our hooks taken out (a group left empty by that goes too)."""
    out: list[Any] = []
    for group in groups:
        if isinstance(group, dict) and isinstance(group.get("hooks"), list):
            kept = [h for h in group["hooks"] if not is_ours(h)]
            if len(kept) != len(group["hooks"]):
                if kept:
                    out.append({**group, "hooks": kept})
                continue
        out.append(group)
    return out


def merged(settings: dict[str, Any], command: str, events: Sequence[str] = HOOK_EVENTS) -> dict[str, Any]:
    """`settings` with our hook on `events`: a group holding only our hook is replaced where it
    stands (so a repeated install changes nothing); a hook of ours inside someone else's group is
    taken out of it; with no group of ours, one is appended after theirs."""
    hooks = dict(settings.get("hooks") or {})
    for event in events:
        groups = list(hooks.get(event) or [])
        entry = _entry(event, command)
        position = next((i for i, group in enumerate(groups) if _only_ours(group)), None)
        if position is None:
            groups = [*_without_ours(groups), entry]
        else:
            groups = [*_without_ours(groups[:position]), entry, *_without_ours(groups[position + 1 :])]
        hooks[event] = groups
    return {**settings, "hooks": hooks}


def removed(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without any hook of ours (events left without hooks are removed)."""
    hooks: dict[str, Any] = {}
    for event, groups in (settings.get("hooks") or {}).items():
        left = _without_ours(list(groups))
        if left:
            hooks[event] = left
    out = {k: v for k, v in settings.items() if k != "hooks"}
    if hooks:
        out["hooks"] = hooks
    return out


def _write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if path.exists():
        # Keep the file's permissions (a user's settings may be private).
        os.chmod(partial, path.stat().st_mode & 0o7777)
    partial.replace(path)


def install(path: Path, command: str, events: Sequence[str] = HOOK_EVENTS) -> InstallResult:
    """Adds (or updates) our hooks in the settings file at `path`; writes only on a change."""
    unknown = [e for e in events if e not in HOOK_EVENTS]
    if unknown:
        raise SettingsError(f"unknown hook events {unknown}; Claude Code documents {', '.join(HOOK_EVENTS)}")
    before = read_settings(path)
    after = merged(before, command, events)
    changed = after != before or not path.exists()
    if changed:
        _write(path, after)
    return InstallResult(path, changed, tuple(events))


def uninstall(path: Path) -> InstallResult:
    """Takes our hooks out of the settings file at `path` (others' stay); writes only on a change."""
    before = read_settings(path)
    after = removed(before)
    changed = after != before
    if changed:
        _write(path, after)
    events = tuple(
        e for e, groups in (before.get("hooks") or {}).items() if _without_ours(list(groups)) != groups
    )
    return InstallResult(path, changed, events)
