"""The one swarm story the tests tell: the demo's session, committed as JSON Lines.

`swarmscope.demo.generate_session(seed=7, session_id="story", start_ms=STORY_START_MS, …)` — a
coordinator, a researcher, a coder, a tester and a reviewer building a rate limiter (T1 research →
T2 code → T3 test ∥ T4 review → T5 integrate), traced through the SDK itself — is written by
`make contract` (scripts/gen_contract.py) to docs/contract/fixtures/, once per ending:

- `swarm-story.jsonl` (retried): the first test run of T3 fails on a missing redis, the coordinator
  decides to retry (and plans a fallback task T3b), the retry passes, T3b is cancelled, the session
  ends `completed`;
- `swarm-story-failing.jsonl` (`failing=True`): the retry fails too, T3 fails for good, what
  depended on it is cancelled, the session ends `failed`;
- `swarm-story-calm.jsonl` (`flaky=False`): the first test run passes; no error, no retry.

libs/sdk/tests/test_demo.py fails when the committed files are not what the demo tells today. The
Python tests read them with `story_session`; the frontend's unit and end-to-end tests, its mock
gateway and the UI benchmark read the same files through `frontend/shared/swarm.mjs` (`makeSwarm`).

Points of the story are found by meaning, never by a fixed id or position: `find(events,
"task_complete", task_id="T1")` is "the event at which T1 completed". The events are wire events
(what the SDK publishes, some under Claude-Flow's own names such as `resource:acquired`);
`swarmscope_dev.replay.stored` turns them into what the store would hold.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

STORY_SEED = 7
STORY_SESSION = "story"
# 2025-07-12T06:00:00Z, the demo's own fixed origin.
STORY_START_MS = 1_752_300_000_000.0
FIXTURES_DIR = Path(__file__).resolve().parents[4] / "docs" / "contract" / "fixtures"
# File name → the generate_session knobs that tell that ending.
STORY_FILES: dict[str, dict[str, bool]] = {
    "swarm-story.jsonl": {"failing": False, "flaky": True},
    "swarm-story-failing.jsonl": {"failing": True, "flaky": True},
    "swarm-story-calm.jsonl": {"failing": False, "flaky": False},
}


def story_file(*, failing: bool = False, flaky: bool = True) -> str:
    """The file name of the ending these knobs tell (those of generate_session)."""
    for name, knobs in STORY_FILES.items():
        if knobs == {"failing": failing, "flaky": flaky}:
            return name
    raise ValueError("a failing story is flaky: its first test run fails too")


def story_documents(generate: Callable[..., list[dict[str, Any]]]) -> dict[str, str]:
    """File name (under docs/contract/fixtures/) → JSON Lines text of every ending.

    `generate` is `swarmscope.demo.generate_session`, passed in: the dev package does not depend on
    the SDK (scripts/gen_contract.py and the staleness test import both). The stack traces the
    story's failures carry name files by their path in the repository, not on this machine, so the
    files are the same from any checkout."""
    checkout = f"{FIXTURES_DIR.parents[2]}/"
    return {
        name: "".join(
            json.dumps(event, ensure_ascii=False, separators=(",", ":")).replace(checkout, "") + "\n"
            for event in generate(
                STORY_SEED,
                STORY_SESSION,
                start_ms=STORY_START_MS,
                failing=knobs["failing"],
                flaky=knobs["flaky"],
            )
        )
        for name, knobs in STORY_FILES.items()
    }


@cache
def _committed(name: str) -> tuple[dict[str, Any], ...]:
    lines = (FIXTURES_DIR / name).read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line)


def retell(events: Iterable[Mapping[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """The events under another session: `session_id` set, every event id `<session_id>-e<n>` (n from
    1, in order), and the span ids and parent ids that named an event id renamed with it."""
    events = list(events)
    ids = {str(e["id"]): f"{session_id}-e{n}" for n, e in enumerate(events, start=1)}
    out = []
    for original in events:
        event = copy.deepcopy(dict(original))
        event["id"] = ids[str(event["id"])]
        event["session_id"] = session_id
        if event.get("span_id") in ids:
            event["span_id"] = ids[event["span_id"]]
        metadata = event.get("metadata")
        if isinstance(metadata, dict):
            for key in ("parent_id", "causation_id"):
                if metadata.get(key) in ids:
                    metadata[key] = ids[metadata[key]]
        out.append(event)
    return out


def story_session(
    session_id: str = STORY_SESSION, *, failing: bool = False, flaky: bool = True
) -> list[dict[str, Any]]:
    """The committed story (the ending these knobs of generate_session tell) as wire events of
    `session_id` (see `retell`)."""
    return retell(_committed(story_file(failing=failing, flaky=flaky)), session_id)


def find(
    events: Iterable[Mapping[str, Any]],
    event_type: str,
    *,
    agent_id: str | None = None,
    phase: str | None = None,
    nth: int = 0,
    **data: Any,
) -> dict[str, Any]:
    """The `nth` event (0 = the first, -1 = the last) of `event_type` by `agent_id` in `phase`
    (absent = `complete`) whose data has every item of `data`; LookupError when there is none."""
    matches = [
        dict(e)
        for e in events
        if e["type"] == event_type
        and (agent_id is None or e.get("agent_id") == agent_id)
        and (phase is None or e.get("phase", "complete") == phase)
        and all(e.get("data", {}).get(key) == value for key, value in data.items())
    ]
    try:
        return matches[nth]
    except IndexError:
        raise LookupError(
            f"no {event_type} #{nth} by {agent_id or 'anyone'} with {data} in the story"
        ) from None


def after(events: Iterable[Mapping[str, Any]], event: Mapping[str, Any], steps: int = 1) -> dict[str, Any]:
    """The event `steps` after `event` in the story (negative: before it)."""
    events = list(events)
    index = next(i for i, e in enumerate(events) if e["id"] == event["id"])
    return dict(events[index + steps])


def span_events(events: Iterable[Mapping[str, Any]], span_id: str) -> list[dict[str, Any]]:
    """The events of one span (its start, progress and end), in order."""
    return [dict(e) for e in events if e.get("span_id") == span_id]
