"""What the operator and the monitoring read about the exchange: states, peers, counters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from lienthong.exchange.models import InboundMessage, LogHead, LogTimestamp, OutboundMessage


@dataclass(frozen=True)
class PeerHealth:
    """One receiving node, as this node's outbox sees it."""

    endpoint: str
    queued: int
    retrying: int  # queued after at least one failed attempt
    delivered: int
    refused: int
    dead: int
    last_delivery: dt.datetime | None
    oldest_queued: dt.datetime | None
    last_error: str

    @property
    def error_rate(self) -> float:
        """Share of the messages that reached an end (or are retrying) which did not get through."""
        settled = self.delivered + self.refused + self.dead + self.retrying
        return (self.refused + self.dead + self.retrying) / settled if settled else 0.0


def state_counts() -> dict[str, int]:
    counts = dict.fromkeys(OutboundMessage.State.values, 0)
    for row in OutboundMessage.objects.values("state").annotate(n=Count("pk")):
        counts[row["state"]] = row["n"]
    return counts


def peers() -> list[PeerHealth]:
    State = OutboundMessage.State
    rows = (
        OutboundMessage.objects.values("endpoint")
        .annotate(
            queued=Count("pk", filter=Q(state=State.QUEUED)),
            retrying=Count("pk", filter=Q(state=State.QUEUED, attempts__gt=0)),
            delivered=Count("pk", filter=Q(state=State.DELIVERED)),
            refused=Count("pk", filter=Q(state=State.REFUSED)),
            dead=Count("pk", filter=Q(state=State.DEAD)),
            last_delivery=Max("delivered_at"),
            oldest_queued=Min("created_at", filter=Q(state=State.QUEUED)),
        )
        .order_by("endpoint")
    )
    result = []
    for row in rows:
        error = (
            OutboundMessage.objects.filter(endpoint=row["endpoint"])
            .exclude(last_error="")
            .order_by("-last_attempt_at")
            .values_list("last_error", flat=True)
            .first()
        )
        result.append(PeerHealth(last_error=error or "", **row))
    return result


def prometheus_text() -> str:
    """The exchange's counters in the Prometheus text exposition format (0.0.4)."""
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, samples: list[tuple[dict[str, str], float]]):
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")

    now = timezone.now()
    metric(
        "lienthong_exchange_outbound_messages",
        "gauge",
        "Messages of this node's outbox, by state.",
        [({"state": state}, n) for state, n in state_counts().items()],
    )
    metric(
        "lienthong_exchange_inbound_messages_total",
        "counter",
        "Envelopes this node accepted.",
        [({}, InboundMessage.objects.count())],
    )
    head = LogHead.objects.filter(pk=1).first()
    metric(
        "lienthong_exchange_log_records_total",
        "counter",
        "Records in the message log.",
        [({}, head.sequence if head else 0)],
    )
    stamped = LogTimestamp.objects.order_by("-sequence").first()
    metric(
        "lienthong_exchange_log_unstamped_records",
        "gauge",
        "Log records after the last timestamped head.",
        [({}, (head.sequence if head else 0) - (stamped.sequence if stamped else 0))],
    )
    if stamped is not None:
        metric(
            "lienthong_exchange_log_last_timestamp_seconds",
            "gauge",
            "When the log head was last timestamped (Unix time).",
            [({}, stamped.time.timestamp())],
        )
    metric(
        "lienthong_exchange_log_timestamp_failures",
        "gauge",
        "Failed attempts to timestamp the log head since the last success.",
        [({}, head.stamp_failures if head else 0)],
    )
    health = peers()
    metric(
        "lienthong_exchange_peer_backlog",
        "gauge",
        "Queued messages per receiving node.",
        [({"peer": p.endpoint}, p.queued) for p in health],
    )
    metric(
        "lienthong_exchange_peer_dead_letters",
        "gauge",
        "Dead letters per receiving node.",
        [({"peer": p.endpoint}, p.dead) for p in health],
    )
    metric(
        "lienthong_exchange_peer_error_ratio",
        "gauge",
        "Share of messages per receiving node that are retrying, refused or dead.",
        [({"peer": p.endpoint}, round(p.error_rate, 4)) for p in health],
    )
    metric(
        "lienthong_exchange_peer_last_delivery_timestamp_seconds",
        "gauge",
        "When the last message to each receiving node was delivered (Unix time).",
        [({"peer": p.endpoint}, p.last_delivery.timestamp()) for p in health if p.last_delivery],
    )
    metric(
        "lienthong_exchange_peer_oldest_queued_age_seconds",
        "gauge",
        "Age of the oldest queued message per receiving node.",
        [
            ({"peer": p.endpoint}, (now - p.oldest_queued).total_seconds())
            for p in health
            if p.oldest_queued
        ],
    )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
