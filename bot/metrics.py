"""Prometheus metrics, in a registry of their own per application."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The figures /metrics serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "caunoi_updates_handled_total",
            "Inbound events handled, by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "caunoi_handler_seconds",
            "Time to handle one inbound event, database included",
            ["channel"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.sent = Counter(
            "caunoi_messages_sent_total",
            "Outbox messages delivered",
            ["channel"],
            registry=self.registry,
        )
        self.send_errors = Counter(
            "caunoi_send_errors_total",
            "Outbox send failures, by reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "caunoi_inbox_depth", "Inbound events waiting", registry=self.registry
        )
        self.outbox_depth = Gauge(
            "caunoi_outbox_depth", "Outbox messages waiting", registry=self.registry
        )
