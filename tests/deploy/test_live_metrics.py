"""The running services' /metrics: valid Prometheus exposition, and every always-present series the
dashboard and alerts use is really exported (the code scan of test_monitoring.py covers the
labelled ones, which appear only once something happened)."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from swarmscope_dev.stack import SERVICES, LocalStack

Samples = dict[str, list[dict[str, str]]]


def _scrape(stack: LocalStack, service: str) -> Samples:
    response = httpx.get(stack.url(service) + "/metrics", timeout=20)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    # The parser raises on anything that is not valid exposition format.
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def test_every_service_exports_valid_metrics(local_stack: LocalStack) -> None:
    for service in SERVICES:
        samples = _scrape(local_stack, service)
        names = [name for name in samples if not name.startswith(("python_", "process_"))]
        assert names, f"{service} exports no metrics"
        assert all(name.startswith("swarmscope_") for name in names), (service, names)
    # Unlabelled counters and histograms exist from the start.
    assert "swarmscope_ingest_events_accepted_total" in _scrape(local_stack, "ingest")
    assert "swarmscope_store_stored_latency_seconds_bucket" in _scrape(local_stack, "store")


def test_each_consumer_exports_the_lag_of_its_durable(local_stack: LocalStack) -> None:
    # The gauges of the dashboard's lag row and of the lag alerts, read from JetStream every 5 s.
    for service, stream, durable in (
        ("ingest", "TRACES_RAW", "ingest"),
        ("store", "TRACES", "store"),
        ("replay", "TRACES", "replay"),
    ):
        deadline = time.monotonic() + 30
        while True:
            samples = _scrape(local_stack, service)
            wanted = {"stream": stream, "durable": durable}
            found = {
                gauge
                for gauge in (
                    "swarmscope_consumer_pending_messages",
                    "swarmscope_consumer_ack_pending_messages",
                    "swarmscope_consumer_redelivered_messages",
                )
                if any(labels == wanted for labels in samples.get(gauge, []))
            }
            if len(found) == 3:
                break
            assert time.monotonic() < deadline, f"{service} does not export the lag of {durable}: {found}"
            time.sleep(0.5)
