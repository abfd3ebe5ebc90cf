"""Selective tracing (seed §7.1): trace levels, sampling, per-agent rate limits, pressure mode.

Rules, in order, for an event the agent emits:
1. `high` and `critical` events, error phases, and the end of a span whose start was traced always
   pass: losing them would hide failures or leave spans open forever.
2. Under CPU or memory pressure only essential events pass (the swarm's skeleton: session, agent and
   task lifecycle, errors, alerts).
3. Trace level: each type has a level (minimal < standard < verbose); a tracer set to a level keeps
   the types at or below it.
4. Sampling is decided once per trace: a root span or event draws, and everything inside a span
   follows its root's decision, so a kept span is kept whole.
5. Per-agent rate limit: a token bucket per agent (events per second, with a burst).
Events left out are counted by reason (`pressure`, `level`, `sampled`, `rate_limited`).
"""

from __future__ import annotations

import os
import random
import resource
import time
import weakref
from enum import StrEnum

from swarmscope_schema.taxonomy import EventType

HIGH_RANK = 2


class TraceLevel(StrEnum):
    """How much to trace: minimal keeps the skeleton, verbose keeps everything."""

    MINIMAL = "minimal"
    STANDARD = "standard"
    VERBOSE = "verbose"


LEVEL_RANK: dict[str, int] = {TraceLevel.MINIMAL: 0, TraceLevel.STANDARD: 1, TraceLevel.VERBOSE: 2}

_MINIMAL_TYPES = (
    EventType.SESSION_START,
    EventType.SESSION_END,
    EventType.AGENT_SPAWN,
    EventType.AGENT_TERMINATE,
    EventType.TASK_CREATE,
    EventType.TASK_ASSIGNMENT,
    EventType.TASK_START,
    EventType.TASK_COMPLETE,
    EventType.TASK_FAIL,
    EventType.TASK_CANCEL,
    EventType.DECISION,
    EventType.ERROR,
    EventType.PERFORMANCE_ALERT,
)
_VERBOSE_TYPES = (EventType.AGENT_METHOD, EventType.MEMORY_READ)

# The level of each canonical type; anything else (aliases, custom types) is `standard`.
TYPE_LEVEL: dict[str, int] = {str(t): 1 for t in EventType}
TYPE_LEVEL.update({str(t): 0 for t in _MINIMAL_TYPES})
TYPE_LEVEL.update({str(t): 2 for t in _VERBOSE_TYPES})

# What still passes under pressure.
ESSENTIAL_TYPES = frozenset(
    str(t)
    for t in (
        EventType.SESSION_START,
        EventType.SESSION_END,
        EventType.AGENT_SPAWN,
        EventType.AGENT_TERMINATE,
        EventType.TASK_CREATE,
        EventType.TASK_ASSIGNMENT,
        EventType.TASK_START,
        EventType.TASK_COMPLETE,
        EventType.TASK_FAIL,
        EventType.TASK_CANCEL,
        EventType.ERROR,
        EventType.PERFORMANCE_ALERT,
    )
)


class Selector:
    """Decides whether an event is traced; returns None (trace it) or the reason it is left out."""

    def __init__(
        self,
        *,
        level: TraceLevel | str = TraceLevel.VERBOSE,
        sample_rate: float = 1.0,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        try:
            self.level = LEVEL_RANK[TraceLevel(level)]
        except ValueError:
            raise ValueError(
                f"trace level must be one of {[lvl.value for lvl in TraceLevel]}, got {level!r}"
            ) from None
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, got {sample_rate}")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive (events per second per agent), got {rate_limit}")
        self.sample_rate = sample_rate
        self.rate_limit = rate_limit
        self.rate_burst = float(rate_burst) if rate_burst is not None else max(1.0, rate_limit or 0.0)
        if rate_burst is not None and rate_burst < 1:
            raise ValueError(f"rate_burst must be at least 1, got {rate_burst}")
        self._random = (rng or random.Random()).random
        # agent → [tokens, last refill (monotonic seconds)]
        self._buckets: dict[str | None, list[float]] = {}
        self.pressure = False

    @property
    def active(self) -> bool:
        """False when nothing can be left out, so the caller's path can skip the check."""
        return (
            self.level < LEVEL_RANK[TraceLevel.VERBOSE]
            or self.sample_rate < 1.0
            or self.rate_limit is not None
            or self.pressure
        )

    def sample(self) -> bool:
        """A fresh sampling decision for a new root."""
        return self.sample_rate >= 1.0 or self._random() < self.sample_rate

    def check(
        self, event_type: str, phase: str, rank: int, agent_id: str | None, sampled: bool | None
    ) -> str | None:
        """None to trace the event, else the reason it is left out.

        `sampled` is the enclosing span's decision (None outside any span).
        """
        if rank >= HIGH_RANK or phase == "error":
            return None
        if self.pressure and event_type not in ESSENTIAL_TYPES:
            return "pressure"
        if TYPE_LEVEL.get(event_type, 1) > self.level:
            return "level"
        if sampled is None:
            if self.sample_rate < 1.0 and self._random() >= self.sample_rate:
                return "sampled"
        elif not sampled:
            return "sampled"
        if self.rate_limit is not None and not self._take(agent_id):
            return "rate_limited"
        return None

    def _take(self, agent_id: str | None) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(agent_id)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._buckets.clear()
            bucket = self._buckets[agent_id] = [self.rate_burst, now]
        assert self.rate_limit is not None
        tokens = min(self.rate_burst, bucket[0] + (now - bucket[1]) * self.rate_limit)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        return False


class ResourceProbe:
    """Cheap readings of CPU and memory pressure, without psutil.

    CPU: the 1-minute load average per CPU, or this process's own share of the machine's CPUs since
    the last reading, whichever is higher. Memory: this process's resident set (Linux /proc, else the
    peak from getrusage).
    """

    def __init__(self) -> None:
        self._cpus = os.cpu_count() or 1
        self._last_wall = time.monotonic()
        self._last_cpu = self._process_cpu()
        self._statm: int | None = None
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._statm = None
        else:
            # A tracer that is never closed still gives its descriptor back when it is collected.
            self._finalizer = weakref.finalize(self, os.close, self._statm)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    @staticmethod
    def _process_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def cpu_load(self) -> float:
        """Fraction of the machine's CPUs in use (can exceed 1 when the run queue is longer)."""
        try:
            load = os.getloadavg()[0] / self._cpus
        except OSError:
            load = 0.0
        now = time.monotonic()
        cpu = self._process_cpu()
        wall = now - self._last_wall
        share = (cpu - self._last_cpu) / (wall * self._cpus) if wall > 0 else 0.0
        self._last_wall, self._last_cpu = now, cpu
        return max(load, share)

    def rss_bytes(self) -> int:
        """Resident memory of this process in bytes."""
        if self._statm is not None:
            try:
                return int(os.pread(self._statm, 64, 0).split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def close(self) -> None:
        if self._statm is not None:
            self._statm = None
            self._finalizer()
