"""The performance monitor (seed design §10.2): a service watching its own figures against thresholds.

Every `interval` seconds the monitor reads the samples of the service's Prometheus registry, turns
them into five figures and compares each with its threshold:

| metric (alert name)   | figure                                                         | default |
|-----------------------|----------------------------------------------------------------|---------|
| `collection_overhead` | share of one CPU core the process used over the interval        | > 0.85  |
| `memory_rss`          | resident memory of the process, bytes                           | > 256 MiB |
| `latency_p99`         | p99 over the interval of the service's pipeline-latency histogram | > 0.1 s |
| `storage_write_rate`  | events/s committed, checked only while a backlog waits          | < 1000/s |
| `query_p95`           | p95 over the interval of the request-reply (query) histogram    | > 0.05 s |

Crossing a threshold publishes a `performance_alert` event (a valid TraceEvent, session `_system`,
agent = the service) to `traces.raw._system.<service>.performance_alert` with its `Nats-Msg-Id`, so
it travels the pipeline like any event and shows in the UI; and it counts
`swarmscope_performance_alerts_total{metric}`. While a figure stays over its threshold the alert is
repeated every `repeat_seconds`, not every interval; when it recovers, the next crossing alerts at
once. Figures are rates and quantiles over the last interval (not since start), so an old spike
neither hides nor fakes a current one. A figure whose samples the registry lacks is skipped (a
service without queries has no query time), and so is a quantile over too few observations.

Thresholds come from `SWARMSCOPE_MONITOR_*` environment variables (`MonitorSettings`); which
metrics feed the latency, write-rate and query figures is the service's choice (`MonitorSources`),
since each service names its own histograms. Wiring, in a service's app.py:

    monitor = performance_monitor(js, registry, "store", MonitorSources(
        latency_histogram="swarmscope_store_stored_latency_seconds",
        write_counter="swarmscope_store_rows_committed_total", write_labels={"table": "events"},
        backlog_durable="store", query_histogram="swarmscope_request_seconds"))
    ServiceParts(..., background=[monitor.run] if monitor else [])
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from swarmscope_schema.codec import encode_event
from swarmscope_schema.events import TraceEvent
from swarmscope_schema.subjects import MSG_ID_HEADER, STREAM_RAW, SYSTEM_SESSION_ID, raw_msg_id, raw_subject
from swarmscope_schema.taxonomy import EventType

log = logging.getLogger(__name__)

LabelSet = tuple[tuple[str, str], ...]
Samples = Mapping[tuple[str, LabelSet], float]
Direction = Literal["above", "below"]

MIB = 1024 * 1024


class MonitorSettings(BaseSettings):
    """Thresholds of the performance monitor, from `SWARMSCOPE_MONITOR_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SWARMSCOPE_MONITOR_", frozen=True, extra="ignore")

    enabled: bool = Field(default=True, description="run the performance monitor")
    interval_seconds: float = Field(
        default=5.0, ge=0.05, le=3600, description="how often figures are checked"
    )
    repeat_seconds: float = Field(
        default=300.0, ge=0.0, description="repeat an alert this often while its figure stays crossed"
    )
    collection_overhead_max: float = Field(
        default=0.85, gt=0.0, description="share of one CPU core above which the service is near saturation"
    )
    memory_rss_max_bytes: int = Field(default=256 * MIB, gt=0, description="resident memory ceiling, bytes")
    latency_p99_max_seconds: float = Field(
        default=0.1, gt=0.0, description="p99 of producer timestamp → this service's stage"
    )
    storage_write_rate_min: float = Field(
        default=1000.0, ge=0.0, description="events/s committed while a backlog waits; 0 disables"
    )
    query_p95_max_seconds: float = Field(default=0.05, gt=0.0, description="p95 of request-reply queries")
    min_observations: int = Field(
        default=20, ge=1, description="fewest observations in an interval for a quantile to be judged"
    )


@dataclass(frozen=True)
class MonitorSources:
    """Which of the service's metrics feed the latency, write-rate and query figures (None = none)."""

    latency_histogram: str | None = None
    latency_labels: Mapping[str, str] = field(default_factory=dict)
    # The counter's sample name (with `_total`) and the durable whose pending messages gate it.
    write_counter: str | None = None
    write_labels: Mapping[str, str] = field(default_factory=dict)
    backlog_durable: str | None = None
    query_histogram: str | None = "swarmscope_request_seconds"
    query_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    """One figure and the labels of the series it was computed from (e.g. a pipeline stage)."""

    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


def snapshot(registry: CollectorRegistry) -> dict[tuple[str, LabelSet], float]:
    """Every sample of the registry, keyed by sample name and sorted labels."""
    samples: dict[tuple[str, LabelSet], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def _matches(labels: LabelSet, wanted: Mapping[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in wanted.items())


class Reading(Protocol):
    """Computes figures from two snapshots `seconds` apart; empty when the samples are absent."""

    def measure(self, before: Samples, after: Samples, seconds: float) -> list[Measurement]: ...


@dataclass(frozen=True)
class GaugeReading:
    """The current value of a gauge (each matching series)."""

    sample: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def measure(self, before: Samples, after: Samples, seconds: float) -> list[Measurement]:
        return [
            Measurement(value, dict(labels))
            for (name, labels), value in after.items()
            if name == self.sample and _matches(labels, self.labels)
        ]


@dataclass(frozen=True)
class RateReading:
    """Per-second increase of a counter over the interval, summed over matching series."""

    sample: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def measure(self, before: Samples, after: Samples, seconds: float) -> list[Measurement]:
        keys = [k for k in after if k[0] == self.sample and _matches(k[1], self.labels)]
        if not keys or seconds <= 0:
            return []
        increase = 0.0
        for key in keys:
            delta = after[key] - before.get(key, 0.0)
            # A counter only goes down when its process restarted: then all of it is new.
            increase += delta if delta >= 0 else after[key]
        return [Measurement(increase / seconds, dict(self.labels))]


@dataclass(frozen=True)
class QuantileReading:
    """A quantile of a histogram's observations during the interval, per series (le excluded)."""

    histogram: str
    quantile: float
    labels: Mapping[str, str] = field(default_factory=dict)
    min_observations: int = 20

    def measure(self, before: Samples, after: Samples, seconds: float) -> list[Measurement]:
        bucket = self.histogram + "_bucket"
        series: dict[LabelSet, list[tuple[float, float]]] = {}
        for (name, labels), value in after.items():
            if name != bucket or not _matches(labels, self.labels):
                continue
            le = dict(labels).get("le")
            if le is None:
                continue
            rest = tuple((k, v) for k, v in labels if k != "le")
            increase = value - before.get((name, labels), 0.0)
            if increase < 0:
                increase = value
            series.setdefault(rest, []).append((float(le), increase))
        out: list[Measurement] = []
        for labels, buckets in series.items():
            buckets.sort()
            total = buckets[-1][1] if buckets and math.isinf(buckets[-1][0]) else 0.0
            if total < self.min_observations:
                continue
            out.append(Measurement(histogram_quantile(self.quantile, buckets), dict(labels)))
        return out


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets, +Inf last.

    Linear interpolation inside the bucket holding the rank; a rank in the +Inf bucket answers the
    highest finite bound (what is known for sure about those observations).
    """
    if not buckets:
        return math.nan
    total = buckets[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound
            if count == lower_count:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = upper_bound, count
    return lower_bound


Gate = Callable[[Samples, Samples, float], bool]


@dataclass(frozen=True)
class Threshold:
    """One figure checked against a limit; `gate` (if any) must hold for the check to apply."""

    metric: str
    limit: float
    direction: Direction
    unit: str
    reading: Reading
    gate: Gate | None = None

    def crossed(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value > self.limit if self.direction == "above" else value < self.limit


def backlog_gate(durable: str, rate_min: float) -> Gate:
    """True while the durable's pending messages exceed what `rate_min` writes in one interval.

    A low write rate is only a fault when work was waiting: with an empty backlog the store writes
    as fast as events arrive, however slowly that is.
    """
    reading = GaugeReading("swarmscope_consumer_pending_messages", {"durable": durable})

    def gate(before: Samples, after: Samples, seconds: float) -> bool:
        pending = [m.value for m in reading.measure(before, after, seconds)]
        return bool(pending) and max(pending) > rate_min * seconds

    return gate


def thresholds_from_settings(settings: MonitorSettings, sources: MonitorSources) -> list[Threshold]:
    """The five checks of seed §10.2 with the configured limits and the service's sources."""
    checks = [
        Threshold(
            "collection_overhead",
            settings.collection_overhead_max,
            "above",
            "cores",
            RateReading("process_cpu_seconds_total"),
        ),
        Threshold(
            "memory_rss",
            settings.memory_rss_max_bytes,
            "above",
            "bytes",
            GaugeReading("process_resident_memory_bytes"),
        ),
    ]
    if sources.latency_histogram:
        checks.append(
            Threshold(
                "latency_p99",
                settings.latency_p99_max_seconds,
                "above",
                "seconds",
                QuantileReading(
                    sources.latency_histogram, 0.99, sources.latency_labels, settings.min_observations
                ),
            )
        )
    # A write rate is only judged against a backlog: without one, a low rate is just a quiet swarm.
    if sources.write_counter and sources.backlog_durable and settings.storage_write_rate_min > 0:
        checks.append(
            Threshold(
                "storage_write_rate",
                settings.storage_write_rate_min,
                "below",
                "events/s",
                RateReading(sources.write_counter, sources.write_labels),
                gate=backlog_gate(sources.backlog_durable, settings.storage_write_rate_min),
            )
        )
    if sources.query_histogram:
        checks.append(
            Threshold(
                "query_p95",
                settings.query_p95_max_seconds,
                "above",
                "seconds",
                QuantileReading(
                    sources.query_histogram, 0.95, sources.query_labels, settings.min_observations
                ),
            )
        )
    return checks


@dataclass(frozen=True)
class PerformanceAlert:
    """A crossing the monitor reported."""

    event: TraceEvent
    published: bool


@dataclass(frozen=True)
class MonitorMetrics:
    alerts: Counter
    publish_errors: Counter
    value: Gauge
    threshold: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> MonitorMetrics:
        return cls(
            alerts=Counter(
                "swarmscope_performance_alerts_total",
                "performance_alert events raised by the performance monitor, by figure",
                ["metric"],
                registry=registry,
            ),
            publish_errors=Counter(
                "swarmscope_performance_alert_publish_errors_total",
                "performance_alert events JetStream did not acknowledge",
                registry=registry,
            ),
            value=Gauge(
                "swarmscope_performance_value",
                "Latest figure of the performance monitor (worst series), in the unit of its metric",
                ["metric"],
                registry=registry,
            ),
            threshold=Gauge(
                "swarmscope_performance_threshold",
                "Threshold of the performance monitor's figure",
                ["metric"],
                registry=registry,
            ),
        )


def _agent_token(name: str) -> str:
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in name)
    return safe[:128] or "service"


@dataclass
class PerformanceMonitor:
    """Checks `thresholds` every `interval` seconds; `run` is a `ServiceParts.background` task."""

    js: JetStreamContext
    registry: CollectorRegistry
    service: str
    thresholds: Sequence[Threshold]
    interval: float = 5.0
    repeat_seconds: float = 300.0
    publish_timeout: float = 5.0
    instance: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    metrics: MonitorMetrics = field(init=False)
    _before: Samples | None = field(default=None, init=False)
    _before_at: float = field(default=0.0, init=False)
    _last_alert: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        _ensure_process_metrics(self.registry)
        self.metrics = MonitorMetrics.create(self.registry)
        for threshold in self.thresholds:
            self.metrics.threshold.labels(threshold.metric).set(threshold.limit)

    @classmethod
    def from_settings(
        cls,
        js: JetStreamContext,
        registry: CollectorRegistry,
        service: str,
        settings: MonitorSettings,
        sources: MonitorSources | None = None,
    ) -> PerformanceMonitor:
        """A monitor with the thresholds of `settings` over the service's `sources`."""
        return cls(
            js=js,
            registry=registry,
            service=service,
            thresholds=thresholds_from_settings(settings, sources or MonitorSources()),
            interval=settings.interval_seconds,
            repeat_seconds=settings.repeat_seconds,
        )

    async def run(self) -> None:
        """Checks every interval until cancelled; a failed check is logged, never fatal."""
        self.baseline()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("performance check failed", extra={"service": self.service})

    def baseline(self) -> None:
        """Takes the snapshot the next check measures against."""
        self._before = snapshot(self.registry)
        self._before_at = self.clock()

    async def check(self) -> list[PerformanceAlert]:
        """Measures every figure since the last check, publishes the alerts due; returns them."""
        now = self.clock()
        after = snapshot(self.registry)
        if self._before is None:
            self._before, self._before_at = after, now
            return []
        before, seconds = self._before, now - self._before_at
        self._before, self._before_at = after, now
        alerts: list[PerformanceAlert] = []
        for threshold in self.thresholds:
            measurements = threshold.reading.measure(before, after, seconds)
            if not measurements:
                continue
            worst = max(measurements, key=lambda m: m.value if threshold.direction == "above" else -m.value)
            self.metrics.value.labels(threshold.metric).set(worst.value)
            if threshold.gate is not None and not threshold.gate(before, after, seconds):
                self._last_alert.pop(threshold.metric, None)
                continue
            if not threshold.crossed(worst.value):
                self._last_alert.pop(threshold.metric, None)
                continue
            last = self._last_alert.get(threshold.metric)
            if last is not None and now - last < self.repeat_seconds:
                continue
            self._last_alert[threshold.metric] = now
            alerts.append(await self._alert(threshold, worst, seconds))
        return alerts

    def build_event(self, threshold: Threshold, measurement: Measurement, seconds: float) -> TraceEvent:
        """The performance_alert event of one crossing (CONTRACT §2: metric, value, threshold)."""
        return TraceEvent.model_validate(
            {
                "id": f"perf-{uuid.uuid4().hex}",
                "timestamp": self.wall_clock() * 1000.0,
                "session_id": SYSTEM_SESSION_ID,
                "agent_id": _agent_token(self.service),
                "type": EventType.PERFORMANCE_ALERT.value,
                "data": {
                    "metric": threshold.metric,
                    "value": measurement.value,
                    "threshold": threshold.limit,
                    "direction": threshold.direction,
                    "unit": threshold.unit,
                    "window_seconds": round(seconds, 3),
                    "labels": dict(measurement.labels),
                    "service": self.service,
                    "instance": self.instance,
                },
                "metadata": {"priority": "high", "tags": ["performance", self.service]},
            }
        )

    async def _alert(
        self, threshold: Threshold, measurement: Measurement, seconds: float
    ) -> PerformanceAlert:
        event = self.build_event(threshold, measurement, seconds)
        self.metrics.alerts.labels(threshold.metric).inc()
        log.warning(
            "performance threshold crossed",
            extra={
                "metric": threshold.metric,
                "value": measurement.value,
                "threshold": threshold.limit,
                "labels": dict(measurement.labels),
            },
        )
        subject = raw_subject(SYSTEM_SESSION_ID, event.agent_id, event.type)
        try:
            await asyncio.wait_for(
                self.js.publish(
                    subject,
                    encode_event(event),
                    headers={MSG_ID_HEADER: raw_msg_id(SYSTEM_SESSION_ID, event.id)},
                    stream=STREAM_RAW,
                ),
                self.publish_timeout,
            )
        except Exception as exc:
            # The alert still shows in /metrics; losing the event must not stop the service.
            self.metrics.publish_errors.inc()
            log.warning("performance alert not published", extra={"error": repr(exc)})
            return PerformanceAlert(event, published=False)
        return PerformanceAlert(event, published=True)


def performance_monitor(
    js: JetStreamContext,
    registry: CollectorRegistry,
    service: str,
    sources: MonitorSources | None = None,
    settings: MonitorSettings | None = None,
) -> PerformanceMonitor | None:
    """The monitor a service runs as a background task, or None when SWARMSCOPE_MONITOR_ENABLED=false.

    Settings are read from the environment unless given (a bad value stops the service at start,
    naming the variable).
    """
    if settings is None:
        from swarmscope_service.settings import load_settings

        settings = load_settings(MonitorSettings)
    if not settings.enabled:
        return None
    return PerformanceMonitor.from_settings(js, registry, service, settings, sources)


def _ensure_process_metrics(registry: CollectorRegistry) -> None:
    # CPU and RSS come from the process collector; a service registry may not have one yet.
    names: Iterable[str] = (s.name for family in registry.collect() for s in family.samples)
    if "process_cpu_seconds_total" not in set(names):
        ProcessCollector(registry=registry)
