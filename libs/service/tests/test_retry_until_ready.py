"""Waiting for a database at start: retried with backoff while it is down, given up when stopped,
and a mistake (not an outage) raised at once."""

from __future__ import annotations

import asyncio

import pytest

from swarmscope_service.lifecycle import retry_until_ready


async def test_failures_are_retried_until_the_attempt_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if len(calls) < 3:
            raise ConnectionError("database down")
        return "open"

    result = await retry_until_ready(
        attempt, asyncio.Event(), what="db", retry_on=(ConnectionError,), first_delay=0.001
    )
    assert result == "open"
    assert len(calls) == 3
    assert [r.getMessage() for r in caplog.records].count("db not ready, retrying") == 2


async def test_an_error_it_was_not_told_to_wait_for_is_raised_at_once() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("unsupported database URL")

    with pytest.raises(ValueError, match="unsupported"):
        await retry_until_ready(attempt, asyncio.Event(), what="db", retry_on=(ConnectionError,))
    assert calls == 1


async def test_stop_ends_the_wait_with_none() -> None:
    stop = asyncio.Event()

    async def attempt() -> str:
        stop.set()  # the service is told to stop while the database is still down
        raise ConnectionError("down")

    assert await retry_until_ready(attempt, stop, what="db", first_delay=30.0) is None
