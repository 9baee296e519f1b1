"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "hub_ingest_messages",
            "Inbound messages by channel and result (stored, duplicate, rejected).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "hub_ingest_seconds",
            "Time from a parsed inbound message to its acknowledgement.",
            ["channel"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.deliveries = Counter(
            "hub_outbox_deliveries",
            "Outbound delivery attempts by channel and result (sent, retrying, failed).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "hub_webhook_deliveries",
            "Webhook deliveries by result (sent, failed).",
            ["result"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "hub_jobs",
            "Tries of the job queue's jobs by kind and result (done, retrying, parked).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "hub_job_seconds",
            "How long one try of a job took, by kind.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.http_requests = Counter(
            "hub_http_requests",
            "HTTP requests by route and status class.",
            ["route", "status"],
            registry=self.registry,
        )
        self.logins = Counter(
            "hub_logins",
            "Staff sign-ins by result (succeeded, failed, throttled).",
            ["result"],
            registry=self.registry,
        )
        self.classified = Counter(
            "hub_nlp_messages",
            "Inbound messages classified and acted on, by intent and the model that answered.",
            ["intent", "model"],
            registry=self.registry,
        )
        self.intent_reviews = Counter(
            "hub_nlp_reviews",
            "Agents' reviews of a message's intent: agreed with the model or corrected it "
            "(live accuracy = agreed / all).",
            ["verdict"],
            registry=self.registry,
        )
        self.nlp_batch_seconds = Histogram(
            "hub_nlp_batch_seconds",
            "Time to classify one batch (inference only, in the worker thread).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.listener_events = Counter(
            "hub_listener_events",
            "Domain events by listener and result (handled, failed attempts, parked).",
            ["listener", "result"],
            registry=self.registry,
        )
        self.stream_clients = Gauge(
            "hub_stream_clients", "Open realtime websocket connections.", registry=self.registry
        )
        self.widget_clients = Gauge(
            "hub_widget_clients", "Open widget (visitor) websocket connections.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
