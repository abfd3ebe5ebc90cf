"""serve(): a finished background task keeps the service up; a failed one stops it cleanly."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import free_port
from swarmscope_schema.requests import Request
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.request_reply import Operation, RequestClient, RequestServer
from swarmscope_service.runtime import ServiceParts, serve


def health_only_http() -> HttpServer:
    """An HTTP server with the health routes only, on a free port."""
    return HttpServer(health_app(CollectorRegistry(), {}), "127.0.0.1", free_port())


async def test_a_background_task_that_returns_does_not_stop_the_service(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    stop = asyncio.Event()
    finished = asyncio.Event()

    async def warm_up() -> None:
        finished.set()

    parts = ServiceParts(
        nc=nc,
        http=health_only_http(),
        background=[warm_up],
    )
    service = asyncio.create_task(serve(parts, stop))
    await asyncio.wait_for(finished.wait(), 10)
    await asyncio.sleep(0.2)
    assert not service.done()
    stop.set()
    await asyncio.wait_for(service, 10)
    assert nc.is_closed


async def test_a_failing_background_task_shuts_the_service_down_and_raises(nats_url: str) -> None:
    nc = await nats.connect(nats_url)

    async def broken() -> None:
        raise RuntimeError("lost the database for good")

    parts = ServiceParts(
        nc=nc,
        http=health_only_http(),
        background=[broken],
    )
    with pytest.raises(RuntimeError, match="lost the database"):
        await asyncio.wait_for(serve(parts, asyncio.Event()), 10)
    assert nc.is_closed


async def test_a_background_task_that_loses_a_cancellation_still_lets_the_service_stop(nats_url: str) -> None:
    # asyncio.wait_for on Python 3.11 may swallow a cancel that arrives as its inner future
    # finishes; the monitor's loop around it then went on, and the store's shutdown hung in CI.
    nc = await nats.connect(nats_url)
    stop = asyncio.Event()
    running = asyncio.Event()
    cancels: list[int] = []

    async def loses_the_first_cancel() -> None:
        running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels.append(1)
        await asyncio.sleep(3600)

    parts = ServiceParts(
        nc=nc,
        http=health_only_http(),
        background=[loses_the_first_cancel],
    )
    service = asyncio.create_task(serve(parts, stop))
    await asyncio.wait_for(running.wait(), 10)
    stop.set()
    await asyncio.wait_for(service, 10)
    assert cancels == [1]
    assert nc.is_closed


async def test_provisioning_that_times_out_is_run_again_not_fatal(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded or electing JetStream cluster may time out an API request mid-provisioning; the
    service provisions again instead of exiting (seen in the 3-node test under load)."""
    from nats.errors import TimeoutError as NatsTimeoutError

    from swarmscope_schema.subjects import STREAM_SUBJECTS
    from swarmscope_service import runtime
    from swarmscope_service.settings import ServiceSettings

    real = runtime.provision
    calls: list[int] = []

    async def flaky(js: object, settings: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise NatsTimeoutError
        await real(js, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "provision", flaky)
    nc = await nats.connect(nats_url)
    try:
        _, js = await asyncio.wait_for(
            runtime.connect_and_provision(ServiceSettings(nats_url=nats_url), "test", nc), 20
        )
        assert len(calls) == 2
        for name in STREAM_SUBJECTS:
            assert (await js.stream_info(name)).config.name == name
    finally:
        await nc.close()


class _HttpThatCallsFirst(HttpServer):
    """An HTTP server that, as it starts (the moment /readyz can first say yes), asks an op."""

    def __init__(self, client: RequestClient, subject: str) -> None:
        super().__init__(health_app(CollectorRegistry(), {}), "127.0.0.1", free_port())
        self.client = client
        self.subject = subject
        self.answer: object = None

    async def start(self) -> None:
        self.answer = await self.client.call(self.subject, Request())
        await super().start()


async def test_ops_answer_before_the_service_can_say_it_is_ready(nats_url: str) -> None:
    # A caller that waits for /readyz and then asks an op must never meet "no responders" (the
    # store's progress test did, once, in CI).
    nc = await nats.connect(nats_url)
    caller = await nats.connect(nats_url)
    try:
        prefix = f"test.ready.{uuid.uuid4().hex[:8]}"

        async def ping(_: Request) -> dict[str, bool]:
            return {"pong": True}

        server = RequestServer(
            nc, prefix, {"ping": Operation(Request, ping)}, CollectorRegistry(), queue="test"
        )
        http = _HttpThatCallsFirst(RequestClient(caller, timeout=2), f"{prefix}.ping")
        stop = asyncio.Event()
        service = asyncio.create_task(serve(ServiceParts(nc=nc, http=http, request_servers=[server]), stop))
        while http.answer is None and not service.done():
            await asyncio.sleep(0.01)
        assert not service.done(), service.exception()
        assert http.answer == {"pong": True}
        stop.set()
        await asyncio.wait_for(service, 10)
    finally:
        await caller.close()
