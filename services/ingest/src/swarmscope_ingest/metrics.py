"""Prometheus metrics of the ingest service (issue 8 §1), all named `swarmscope_ingest_*`.

Dead letters by reason, batch sizes and batch seconds are counted by the shared consumer loop, on the
same registry, as `swarmscope_consumer_dead_letters_total{durable="ingest",reason=…}`,
`swarmscope_consumer_batch_size{durable="ingest"}` and `swarmscope_consumer_batch_seconds{…}`: it
counts a dead letter only once JetStream has acknowledged it, which the handler cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class IngestMetrics:
    accepted: Counter
    duplicates: Counter
    redacted: Counter
    stage_seconds: Histogram
    latency: Histogram
    sdk_dropped: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> IngestMetrics:
        return cls(
            accepted=Counter(
                "swarmscope_ingest_events_accepted_total",
                "Canonical events published to TRACES for the first time",
                registry=registry,
            ),
            duplicates=Counter(
                "swarmscope_ingest_duplicates_dropped_total",
                "Events dropped as duplicates of an id already published (same session)",
                registry=registry,
            ),
            redacted=Counter(
                "swarmscope_ingest_redacted_values_total",
                "Values replaced by [REDACTED] because their key names a secret",
                registry=registry,
            ),
            stage_seconds=Histogram(
                "swarmscope_ingest_stage_seconds",
                "Seconds per batch in each stage: validate (decode, check, normalize, redact, encode) "
                "and publish (until TRACES acknowledged every event)",
                ["stage"],
                buckets=STAGE_BUCKETS,
                registry=registry,
            ),
            latency=Histogram(
                "swarmscope_ingest_latency_seconds",
                "Producer timestamp to canonical event acknowledged by TRACES",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            sdk_dropped=Counter(
                "swarmscope_sdk_dropped_events_total",
                "Events agents' SDKs reported they could not send (custom.sdk_drops), by reason and priority",
                ["reason", "priority"],
                registry=registry,
            ),
        )
