"""Replay's Prometheus metrics (labels stay low-cardinality: never a session or event id)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class ReplayMetrics:
    state_seconds: Histogram
    folded_events: Histogram
    events_applied: Counter
    snapshots: Counter
    snapshot_bytes: Counter
    snapshot_corrupt: Counter
    cache_hits: Counter
    cache_misses: Counter
    cache_errors: Counter
    sessions_in_memory: Gauge
    catch_ups: Counter
    expression_failures: Counter
    replays: Counter
    replayed_events: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ReplayMetrics:
        return cls(
            state_seconds=Histogram(
                "swarmscope_replay_state_seconds",
                "Time to compute the state at a seq or timestamp, by where it came from",
                ["source"],
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                registry=registry,
            ),
            folded_events=Histogram(
                "swarmscope_replay_state_folded_events",
                "Events folded on top of the nearest snapshot to answer a state query",
                buckets=(0, 1, 10, 50, 100, 250, 500, 1000, 5000, 20000, 100000),
                registry=registry,
            ),
            events_applied=Counter(
                "swarmscope_replay_events_applied_total",
                "Events the consumer applied to session states",
                registry=registry,
            ),
            snapshots=Counter(
                "swarmscope_replay_snapshots_total",
                "Snapshots written, by why they were taken",
                ["reason"],
                registry=registry,
            ),
            snapshot_bytes=Counter(
                "swarmscope_replay_snapshot_bytes_total",
                "Bytes of snapshots written (as stored, after compression)",
                registry=registry,
            ),
            snapshot_corrupt=Counter(
                "swarmscope_replay_snapshot_corrupt_total",
                "Snapshots ignored because their bytes did not match their hash",
                registry=registry,
            ),
            cache_hits=Counter(
                "swarmscope_replay_cache_hits_total",
                "Hot-state and snapshot cache hits",
                ["cache"],
                registry=registry,
            ),
            cache_misses=Counter(
                "swarmscope_replay_cache_misses_total",
                "Hot-state and snapshot cache misses",
                ["cache"],
                registry=registry,
            ),
            cache_errors=Counter(
                "swarmscope_replay_cache_errors_total",
                "Cache operations that failed (the query went on without the cache)",
                registry=registry,
            ),
            sessions_in_memory=Gauge(
                "swarmscope_replay_sessions_in_memory",
                "Session states the consumer keeps in memory",
                registry=registry,
            ),
            catch_ups=Counter(
                "swarmscope_replay_catch_ups_total",
                "Sessions reloaded from a snapshot and caught up from the store",
                registry=registry,
            ),
            expression_failures=Counter(
                "swarmscope_replay_expression_failures_total",
                "CEL evaluations stopped by a limit, by kind",
                ["kind"],
                registry=registry,
            ),
            replays=Counter(
                "swarmscope_replay_replays_total",
                "Sessions republished as live, by outcome",
                ["outcome"],
                registry=registry,
            ),
            replayed_events=Counter(
                "swarmscope_replay_replayed_events_total",
                "Events republished into TRACES_RAW by replays",
                registry=registry,
            ),
        )
