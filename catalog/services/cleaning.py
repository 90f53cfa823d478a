"""Cleaning a tenant's shopper events before they become training data.

Three rules, each counted in the CleaningReport of the run:
1. exact duplicates: the same action sent twice under two event ids (a
   storefront retrying with a fresh id) is kept once;
2. bot-like shoppers: a shopper whose event rate lies far outside the
   tenant's own distribution is flagged; their events stay (the merchant may
   want to see them) but are left out of training data;
3. impossible values: refused at ingest already; the run reports the tallies
   gathered since the previous run.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Min
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import CleaningReport, CleaningStatus, Event, FlaggedShopper, IngestTally
from catalog.services.events import IngestRule, require_scope_of
from tenants.models import Tenant

# Two events with all of these equal are the same action, whatever their event ids. The list
# each came from too: two clicks in the same second from two lists (one per experiment variant,
# say) are two actions, and each list's statistics need theirs.
DUPLICATE_KEY_FIELDS = (
    "shopper_key", "type", "product_external_id", "occurred_at", "quantity", "value", "recommendation_id",
)

BOT_RULE = "event_rate"
# A shopper is a bot when their events per active day are above BOTH
# - the tenant's median rate times a wide margin: on a log scale, above
#   median + BOT_MAD_FACTOR * MAD (scaled to a standard deviation). Rates are
#   skewed, hence the log; median and MAD, because the bots themselves would
#   drag a mean and a standard deviation towards them;
# - an absolute floor: a person looking at a product every minute of an
#   eight-hour day sends fewer than 500 events. Without it, a small honest
#   tenant whose shoppers all behave alike (MAD near 0) would see its
#   keenest shopper flagged.
BOT_MAD_FACTOR = 5.0
BOT_MIN_EVENTS_PER_DAY = 500.0
# MAD * 1.4826 estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826


class ReportCount:
    """The keys of CleaningReport.counts besides the ingest rules (IngestRule.ALL)."""

    EXACT_DUPLICATES = "exact_duplicates"
    BOT_SHOPPERS = "bot_shoppers"
    BOT_SHOPPER_EVENTS = "bot_shopper_events"


# What the merchant reads for each count of a report.
REPORT_COUNT_LABELS = {
    ReportCount.EXACT_DUPLICATES: _("Exact duplicates removed"),
    ReportCount.BOT_SHOPPERS: _("Bot-like shoppers flagged"),
    ReportCount.BOT_SHOPPER_EVENTS: _("Events of flagged shoppers (kept, left out of training)"),
    IngestRule.INVALID_ID: _("Refused at ingest: missing, empty or over-long id"),
    IngestRule.UNKNOWN_TYPE: _("Refused at ingest: unknown event type"),
    IngestRule.UNKNOWN_PRODUCT: _("Refused at ingest: SKU not in the catalog"),
    IngestRule.FUTURE_TIMESTAMP: _("Refused at ingest: time in the future"),
    IngestRule.TIMESTAMP_BEFORE_2000: _("Refused at ingest: time before 2000"),
    IngestRule.QUANTITY_OUT_OF_RANGE: _("Refused at ingest: quantity below 1 or above 10,000"),
    IngestRule.NEGATIVE_VALUE: _("Refused at ingest: negative value"),
    IngestRule.MALFORMED: _("Refused at ingest: unreadable field"),
    IngestRule.UNSIGNED_SHOPPER: _("Refused at ingest: shopper id not signed, or signed wrong"),
}


@dataclass(frozen=True)
class ShopperRate:
    shopper_key: str
    event_count: int
    events_per_day: float


def exact_duplicates_remove(*, tenant: Tenant) -> int:
    """Delete all but the first-stored event of each group of exact duplicates; returns how many went."""
    first_of_each_group = (
        Event.objects.filter(tenant=tenant)
        .order_by()  # Meta.ordering must not join the GROUP BY
        .values(*DUPLICATE_KEY_FIELDS)
        .annotate(first_id=Min("id"))
        .values("first_id")
    )
    # One statement, so the table is not read into Python. Nothing points at
    # an event, so Django deletes without fetching the rows first.
    _total, deleted_per_model = (
        Event.objects.filter(tenant=tenant).exclude(id__in=first_of_each_group).delete()
    )
    return deleted_per_model.get(Event._meta.label, 0)


def shopper_rates(*, tenant: Tenant) -> list[ShopperRate]:
    """Each shopper's event count and events per day on which they were active."""
    rows = (
        Event.objects.filter(tenant=tenant)
        .order_by()
        .values("shopper_key")
        .annotate(event_count=Count("id"), active_days=Count(TruncDate("occurred_at"), distinct=True))
    )
    return [
        ShopperRate(row["shopper_key"], row["event_count"], row["event_count"] / max(row["active_days"], 1))
        for row in rows
    ]


def bot_rate_threshold(rates: list[float]) -> float:
    """The events per day above which a shopper of this distribution counts as a bot."""
    if not rates:
        return math.inf
    logs = [math.log(rate) for rate in rates]
    median = statistics.median(logs)
    mad = statistics.median(abs(value - median) for value in logs)
    relative = math.exp(median + BOT_MAD_FACTOR * MAD_TO_SIGMA * mad)
    return max(relative, BOT_MIN_EVENTS_PER_DAY)


def bot_shoppers_flag(*, tenant: Tenant) -> list[ShopperRate]:
    """Flag the shoppers whose rate is far outside the tenant's distribution; returns them.

    The rule's flags are recomputed on each run: a shopper who no longer
    stands out (the tenant grew, the bot stopped) is unflagged.
    """
    rates = shopper_rates(tenant=tenant)
    threshold = bot_rate_threshold([rate.events_per_day for rate in rates])
    bots = [rate for rate in rates if rate.events_per_day > threshold]
    FlaggedShopper.objects.filter(tenant=tenant, rule=BOT_RULE).exclude(
        shopper_key__in=[bot.shopper_key for bot in bots]
    ).delete()
    FlaggedShopper.objects.bulk_create(
        [
            FlaggedShopper(
                tenant=tenant, shopper_key=bot.shopper_key, rule=BOT_RULE,
                events_per_day=bot.events_per_day, event_count=bot.event_count,
            )
            for bot in bots
        ],
        update_conflicts=True,
        unique_fields=["tenant", "shopper_key"],
        update_fields=["rule", "events_per_day", "event_count"],
    )
    return bots


def ingest_tallies_drain(*, tenant: Tenant) -> dict[str, int]:
    """The events refused at ingest since the previous run, per rule; the tallies start again from 0.

    The caller holds a transaction. Subtracting what was read (rather than
    setting 0) keeps the refusals that a concurrent batch adds meanwhile.
    """
    tallies = list(IngestTally.objects.select_for_update().filter(tenant=tenant, count__gt=0))
    for tally in tallies:
        IngestTally.objects.filter(pk=tally.pk).update(count=F("count") - tally.count)
    return {tally.rule: tally.count for tally in tallies}


@transaction.atomic
def events_clean(*, tenant: Tenant, run: CleaningReport | None = None) -> CleaningReport:
    """Run the three cleaning rules on the tenant's events and record what they found: in `run`
    (a queued run a worker took, catalog.tasks) or in a new report.

    Runs inside `tenant`'s scope. Safe to run again: a second run finds no
    duplicates left and recomputes the same flags.
    """
    require_scope_of(tenant)
    refused_at_ingest = ingest_tallies_drain(tenant=tenant)
    duplicates_removed = exact_duplicates_remove(tenant=tenant)
    # After the duplicates are gone, so that a retrying storefront does not make its shoppers look busier.
    bots = bot_shoppers_flag(tenant=tenant)
    counts = {
        ReportCount.EXACT_DUPLICATES: duplicates_removed,
        ReportCount.BOT_SHOPPERS: len(bots),
        ReportCount.BOT_SHOPPER_EVENTS: sum(bot.event_count for bot in bots),
        **{rule: refused_at_ingest.get(rule, 0) for rule in IngestRule.ALL},
    }
    run = run or CleaningReport(tenant=tenant)
    run.events_total, run.counts = Event.objects.filter(tenant=tenant).count(), counts
    run.status, run.finished_at = CleaningStatus.SUCCEEDED, timezone.now()
    run.save()
    return run
