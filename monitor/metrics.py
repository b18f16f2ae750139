"""Prometheus metrics of a running daemon, in a registry of its own.

The daemon records what its jobs report (poll outcomes, digests, deliveries); the
outbox depth and each source's last successful poll are read from the database at
scrape time, so they are right even with several workers. Nothing here does I/O
except ``StoreCollector`` at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.models import DeliveryOutcome, PollOutcome
from monitor.store import Store


class Metrics:
    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "news_monitor_polls", "Source polls by outcome.", ["source", "outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.items = Counter(
            "news_monitor_new_items", "New items stored.", ["source"], registry=self.registry
        )
        self.matches = Counter(
            "news_monitor_matches", "Alerts created (item × subscriber).", ["source"],
            registry=self.registry,
        )  # fmt: skip
        self.digests = Counter(
            "news_monitor_digests", "Digests frozen.", ["subscriber"], registry=self.registry
        )
        self.deliveries = Counter(
            "news_monitor_deliveries", "Delivery attempts by outcome (sent, retry, failed).",
            ["channel", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.fetch_seconds = Histogram(
            "news_monitor_fetch_seconds", "Time to fetch a source (whole request).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )  # fmt: skip
        if store is not None:
            self.registry.register(StoreCollector(store))

    def record_poll(self, outcome: PollOutcome) -> None:
        if outcome.status == "skipped":
            return
        self.polls.labels(outcome.source, outcome.status).inc()
        self.items.labels(outcome.source).inc(outcome.new_items)
        self.matches.labels(outcome.source).inc(outcome.matches)
        if outcome.fetch_seconds is not None:
            self.fetch_seconds.observe(outcome.fetch_seconds)

    def record_digests(self, subscribers: Sequence[str]) -> None:
        for subscriber in subscribers:
            self.digests.labels(subscriber).inc()

    def record_deliveries(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        for outcome in outcomes:
            self.deliveries.labels(outcome.channel, outcome.status).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Outbox depth and last successful poll per source, read at scrape time."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "news_monitor_outbox_depth", "Deliveries by status.", labels=["status"]
        )
        for status, count in sorted(self._store.delivery_counts().items()):
            depth.add_metric([status], count)
        yield depth
        last = GaugeMetricFamily(
            "news_monitor_last_success_timestamp_seconds",
            "When each source was last polled successfully (Unix time).",
            labels=["source"],
        )
        for name, state in sorted(self._store.source_states().items()):
            if state.last_success_at is not None:
                last.add_metric([name], state.last_success_at.timestamp())
        yield last
