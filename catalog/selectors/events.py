"""Reads on shopper events: training data, the overview's daily counts, cleaning reports."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import CleaningReport, CleaningStatus, Event, EventType, FlaggedShopper
from tenants.models import Tenant


def events_for_training(*, tenant: Tenant) -> QuerySet[Event]:
    """The tenant's events that training may learn from: those of shoppers not flagged as bots.

    Ordered by time, the order in which a shopper's history is read.
    """
    flagged = FlaggedShopper.objects.filter(tenant=tenant).values("shopper_key")
    return Event.objects.filter(tenant=tenant).exclude(shopper_key__in=flagged).order_by("occurred_at", "id")


@dataclass
class EventDay:
    """One row of the overview: a day's event counts, per type and in all."""

    day: dt.date
    per_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EventType.values, 0))

    @property
    def total(self) -> int:
        return sum(self.per_type.values())

    @property
    def counts(self) -> list[int]:
        """The counts in the order of EventType, for a table's columns."""
        return [self.per_type[event_type] for event_type in EventType.values]


def event_counts_per_day(*, tenant: Tenant, days: int = 30) -> list[EventDay]:
    """Events per type on each of the last `days` days (today included), newest first: every day,
    those without events too (a day of nothing is a storefront feed that broke), or none at all
    when the window has no event.

    Days are counted in the site's time zone, by when the shopper acted.
    Aggregated by the database: the rows never come to Python.
    """
    today = timezone.localdate()
    since = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time.min))
    rows = (
        Event.objects.filter(tenant=tenant, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at"))
        .order_by()
        .values("day", "type")
        .annotate(count=Count("id"))
    )
    per_day: dict[dt.date, EventDay] = {}
    for row in rows:
        event_day = per_day.setdefault(row["day"], EventDay(day=row["day"]))
        event_day.per_type[row["type"]] = row["count"]
    if not per_day:
        return []
    window = (today - dt.timedelta(days=back) for back in range(days))
    return [per_day.get(day) or EventDay(day=day) for day in window]


def event_count(*, tenant: Tenant) -> int:
    return Event.objects.filter(tenant=tenant).count()


def cleaning_report_latest(*, tenant: Tenant) -> CleaningReport | None:
    return (
        CleaningReport.objects.filter(tenant=tenant, status=CleaningStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )
