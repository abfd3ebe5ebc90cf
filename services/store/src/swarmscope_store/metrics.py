"""The store's Prometheus metrics (`swarmscope_store_*`); labels are low-cardinality by design."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass
class StoreMetrics:
    rows_committed: Counter
    duplicates_skipped: Counter
    batch_rows: Histogram
    commit_seconds: Histogram
    stored_latency: Histogram
    write_failures: Counter
    dead_lettered: Counter
    retention_deleted: Counter
    retention_runs: Counter
    redeliveries: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> StoreMetrics:
        return cls(
            rows_committed=Counter(
                "swarmscope_store_rows_committed_total",
                "Rows committed by the store, by table (events, dead_letters)",
                ["table"],
                registry=registry,
            ),
            duplicates_skipped=Counter(
                "swarmscope_store_duplicates_skipped_total",
                "Delivered rows already stored (redelivery or duplicate id), by table",
                ["table"],
                registry=registry,
            ),
            batch_rows=Histogram(
                "swarmscope_store_batch_rows",
                "Rows per write transaction, by table",
                ["table"],
                buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
                registry=registry,
            ),
            commit_seconds=Histogram(
                "swarmscope_store_commit_seconds",
                "Time of one write transaction (stage, insert, projections, commit), by table",
                ["table"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                registry=registry,
            ),
            stored_latency=Histogram(
                "swarmscope_store_stored_latency_seconds",
                "Producer timestamp to committed in the store",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            write_failures=Counter(
                "swarmscope_store_write_failures_total",
                "Write transactions that failed, by kind (unavailable, rejected)",
                ["table", "kind"],
                registry=registry,
            ),
            dead_lettered=Counter(
                "swarmscope_store_events_dead_lettered_total",
                "Canonical events the store could not keep and sent to the DLQ",
                registry=registry,
            ),
            retention_deleted=Counter(
                "swarmscope_store_retention_deleted_total",
                "What retention removed, by kind (events, partitions, sessions, projections, dead_letters)",
                ["kind"],
                registry=registry,
            ),
            retention_runs=Counter(
                "swarmscope_store_retention_runs_total",
                "Retention passes, by outcome",
                ["outcome"],
                registry=registry,
            ),
            redeliveries=Counter(
                "swarmscope_consumer_redeliveries_total",
                "Messages delivered more than once to a durable",
                ["durable"],
                registry=registry,
            ),
        )


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """Observes every value, adding to each bucket once per batch instead of once per value.

    Histogram.observe walks the buckets in Python and takes a lock per call, which at thousands of
    events per batch is a measurable share of the store's CPU. This uses prometheus_client's
    bucket counters directly and falls back to observe() if their layout ever changes.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if not values:
        return
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    last = len(bounds) - 1
    for index, count in Tally(min(bisect_left(bounds, v), last) for v in values).items():
        buckets[index].inc(count)
    total.inc(sum(values))
