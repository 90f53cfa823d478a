"""Writes on shopper events: ingesting a storefront's batch, and erasing a shopper.

Ingest is the hot path of the platform (a storefront sends every view and
click), so a batch is checked by hand in plain Python rather than through a
DRF serializer per event, and it costs a fixed number of queries whatever its
size: one for the products, one for the event ids already stored, one insert.

Each event has its own outcome: the good events of a batch are stored even
when others are refused, and each refused event is named by its index.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Event, EventType, FlaggedShopper, IngestTally, Product
from catalog.signals import shopper_erased
from tenants.models import Tenant
from tenants.scope import TenantScopeMissing, current_tenant, tenant_scope

EVENT_FIELDS = (
    "event_id", "shopper_id", "type", "product", "timestamp", "quantity", "value", "recommendation_id",
    "shopper_signature",
)
EVENT_ID_MAX_LENGTH = Event._meta.get_field("event_id").max_length
PRODUCT_ID_MAX_LENGTH = Event._meta.get_field("product_external_id").max_length
RECOMMENDATION_ID_MAX_LENGTH = Event._meta.get_field("recommendation_id").max_length
# PostgreSQL's text refuses it (a 500 on insert, where SQLite stores it): refused at ingest instead.
NUL = "\x00"
# The raw shopper id is never stored, so no column bounds it; this is room for
# an email address or a UUID with a prefix, and a stop for garbage.
SHOPPER_ID_MAX_LENGTH = 256
QUANTITY_MIN, QUANTITY_MAX = 1, 10_000
# Event.value: 12 digits, 2 of them after the point.
VALUE_MAX = Decimal("9999999999.99")
CENTS = Decimal("0.01")
EARLIEST_TIMESTAMP = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
SIGNATURE_FORMAT = re.compile(r"[0-9a-fA-F]{64}")
EVENT_TYPES = frozenset(EventType.values)


class IngestRule:
    """Why an event was refused at ingest: the keys of IngestTally and of the cleaning report."""

    INVALID_ID = "invalid_id"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_PRODUCT = "unknown_product"
    FUTURE_TIMESTAMP = "future_timestamp"
    TIMESTAMP_BEFORE_2000 = "timestamp_before_2000"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    NEGATIVE_VALUE = "negative_value"
    # Not an impossible value but an unreadable one: wrong JSON type, unknown key, bad format.
    MALFORMED = "malformed"
    # A publishable key's event without the shopper's signature where the store requires it, or
    # with a wrong one (Tenant.shopper_signatures_required).
    UNSIGNED_SHOPPER = "unsigned_shopper"

    ALL = (
        INVALID_ID, UNKNOWN_TYPE, UNKNOWN_PRODUCT, FUTURE_TIMESTAMP, TIMESTAMP_BEFORE_2000,
        QUANTITY_OUT_OF_RANGE, NEGATIVE_VALUE, MALFORMED, UNSIGNED_SHOPPER,
    )


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    reason: str
    rule: str


@dataclass
class EventIngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[EventError] = field(default_factory=list)


class _Problems:
    """The problems of one event; the first one decides which rule it is tallied under."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.errors: list[EventError] = []

    def add(self, field_name: str, reason: str, rule: str) -> None:
        self.errors.append(EventError(self.index, field_name, reason, rule))


def require_scope_of(tenant: Tenant) -> None:
    # bulk_create bypasses TenantOwned.save(), the check that a row belongs to
    # the scope it is written in: without this, a caller mixing up tenants
    # would write into another merchant's history.
    if current_tenant().pk != tenant.pk:
        raise TenantScopeMissing(f"Writing events of tenant {tenant.pk} in the scope of another tenant.")


def _clean_id(raw: Mapping, name: str, max_length: int, problems: _Problems) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        # Mostly a storefront's database id as a JSON number: "Required" told its developer it was missing.
        problems.add(
            name, _('Must be a string: a number goes in quotes, as "42", not 42.'), IngestRule.INVALID_ID
        )
        return None
    if value is None or not value.strip():
        problems.add(name, _("Required: a non-empty string."), IngestRule.INVALID_ID)
        return None
    if len(value) > max_length:
        problems.add(
            name,
            _("At most %(limit)d characters; this one has %(length)d.")
            % {"limit": max_length, "length": len(value)},
            IngestRule.INVALID_ID,
        )
        return None
    if NUL in value:
        problems.add(name, _("Must not contain a NUL character."), IngestRule.INVALID_ID)
        return None
    return value


def _clean_timestamp(raw: Mapping, latest_allowed: dt.datetime, problems: _Problems) -> dt.datetime | None:
    value = raw.get("timestamp")
    if value is None:
        problems.add("timestamp", _("Required: an ISO 8601 date and time, such as 2025-01-31T09:30:00Z."),
                     IngestRule.MALFORMED)
        return None
    try:
        occurred_at = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        occurred_at = None
    if occurred_at is None:
        # A number too (Date.now()'s milliseconds, a Unix time): it was sent, so not "Required".
        problems.add("timestamp", _("Not an ISO 8601 date and time, such as 2025-01-31T09:30:00Z."),
                     IngestRule.MALFORMED)
        return None
    without_offset = occurred_at.tzinfo is None
    if without_offset:
        # A storefront that sends no offset is most likely logging in UTC; any
        # other guess (the server's zone, the merchant's) would be arbitrary.
        occurred_at = occurred_at.replace(tzinfo=dt.timezone.utc)
    if occurred_at > latest_allowed:
        if without_offset:
            # Mostly a storefront east of UTC logging its local time (datetime.now() in Shanghai):
            # "in the future" alone left its developer looking at a clock that says now.
            reason = _(
                "The time is in the future when read as UTC, as a time without an offset is. If it is "
                "your local time, send its offset too, such as 2025-01-31T17:30:00+08:00."
            )
        else:
            reason = _("The time is in the future.")
        problems.add("timestamp", reason, IngestRule.FUTURE_TIMESTAMP)
        return None
    if occurred_at < EARLIEST_TIMESTAMP:
        problems.add("timestamp", _("The time is before the year 2000."), IngestRule.TIMESTAMP_BEFORE_2000)
        return None
    return occurred_at


def _clean_quantity(raw: Mapping, problems: _Problems) -> int | None:
    value = raw.get("quantity", 1)
    # bool is an int in Python; `true` is not a quantity.
    if not isinstance(value, int) or isinstance(value, bool):
        problems.add("quantity", _("Must be a whole number."), IngestRule.MALFORMED)
        return None
    if not QUANTITY_MIN <= value <= QUANTITY_MAX:
        problems.add(
            "quantity",
            _("Must be between %(min)d and %(max)d.") % {"min": QUANTITY_MIN, "max": QUANTITY_MAX},
            IngestRule.QUANTITY_OUT_OF_RANGE,
        )
        return None
    return value


def _clean_value(raw: Mapping, problems: _Problems) -> Decimal | None:
    value = raw.get("value", 0)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.add("value", _("Must be a number."), IngestRule.MALFORMED)
        return None
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into the amount.
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        problems.add("value", _("Must be a number."), IngestRule.MALFORMED)
        return None
    if not amount.is_finite():
        problems.add("value", _("Must be a number."), IngestRule.MALFORMED)
        return None
    if amount < 0:
        problems.add("value", _("Must not be negative."), IngestRule.NEGATIVE_VALUE)
        return None
    if amount > VALUE_MAX:
        problems.add("value", _("Must be at most %(max)s.") % {"max": VALUE_MAX}, IngestRule.MALFORMED)
        return None
    # Sub-cent digits come from float arithmetic in browsers (0.1 * 3): round
    # them rather than refuse an honest purchase.
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def _clean_recommendation_id(raw: Mapping, problems: _Problems) -> str | None:
    value = raw.get("recommendation_id")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > RECOMMENDATION_ID_MAX_LENGTH or NUL in value:
        problems.add(
            "recommendation_id",
            _("Must be a string of at most %(limit)d characters: the id a recommendation response gave.")
            % {"limit": RECOMMENDATION_ID_MAX_LENGTH},
            IngestRule.MALFORMED,
        )
        return None
    return value


def _check_shopper_signature(
    raw: Mapping, shopper_id: str | None, tenant: Tenant, required: bool, problems: _Problems
) -> None:
    if shopper_id is None:
        return  # already refused for its id
    signature = raw.get("shopper_signature")
    if signature is None:
        if required:
            problems.add(
                "shopper_signature",
                _(
                    "Your store requires a signed shopper id from publishable keys: send "
                    "shopper_signature, made on your server with your shopper signing key."
                ),
                IngestRule.UNSIGNED_SHOPPER,
            )
    elif not isinstance(signature, str) or not SIGNATURE_FORMAT.fullmatch(signature):
        problems.add("shopper_signature", _("Send the signature as 64 hexadecimal digits."), IngestRule.MALFORMED)
    elif not tenant.shopper_signature_matches(shopper_id, signature):
        problems.add(
            "shopper_signature",
            _("This is not the signature of this shopper_id under your signing key."),
            IngestRule.UNSIGNED_SHOPPER,
        )


def _clean_event(
    raw: Any,
    index: int,
    products: Mapping[str, Product],
    latest_allowed: dt.datetime,
    tenant: Tenant,
    signatures_required: bool,
) -> tuple[dict | None, list[EventError]]:
    """The event's clean fields, or None and every problem it has."""
    problems = _Problems(index)
    if not isinstance(raw, Mapping):
        problems.add("event", _("Each event must be a JSON object."), IngestRule.MALFORMED)
        return None, problems.errors
    for key in raw:
        if key not in EVENT_FIELDS:
            # A misspelt "quantiy" would otherwise be dropped and its default
            # stored in its place.
            problems.add(
                str(key),
                _("Unknown field. Event fields are: %(fields)s.") % {"fields": ", ".join(EVENT_FIELDS)},
                IngestRule.MALFORMED,
            )
    clean = {
        "event_id": _clean_id(raw, "event_id", EVENT_ID_MAX_LENGTH, problems),
        "shopper_id": _clean_id(raw, "shopper_id", SHOPPER_ID_MAX_LENGTH, problems),
    }
    _check_shopper_signature(raw, clean["shopper_id"], tenant, signatures_required, problems)
    event_type = raw.get("type")
    if not isinstance(event_type, str):
        problems.add(
            "type", _("Required: one of %(types)s.") % {"types": ", ".join(EventType.values)},
            IngestRule.MALFORMED,
        )
    elif event_type not in EVENT_TYPES:
        problems.add(
            "type", _("Unknown event type. Use one of: %(types)s.") % {"types": ", ".join(EventType.values)},
            IngestRule.UNKNOWN_TYPE,
        )
    # Trimmed as the catalog trims the SKUs it stores: " SKU-1" can only mean SKU-1. Event and
    # shopper ids are taken as sent, as the serving API takes them and the merchant signs them.
    sku = _clean_id(raw, "product", PRODUCT_ID_MAX_LENGTH, problems)
    sku = sku.strip() if sku is not None else None
    if sku is not None and sku not in products:
        problems.add("product", _("No product with this SKU in your catalog."), IngestRule.UNKNOWN_PRODUCT)
    clean.update(
        type=event_type,
        product_external_id=sku,
        occurred_at=_clean_timestamp(raw, latest_allowed, problems),
        quantity=_clean_quantity(raw, problems),
        value=_clean_value(raw, problems),
        recommendation_id=_clean_recommendation_id(raw, problems),
    )
    if problems.errors:
        return None, problems.errors
    return clean, []


def _ids_named(events: Sequence[Any], name: str, max_length: int) -> set[str]:
    """The ids the batch's events give under `name` that can be looked up: one that _clean_id
    refuses is not (PostgreSQL refuses a NUL in a query as in a row)."""
    return {
        raw[name] for raw in events
        if isinstance(raw, Mapping) and isinstance(raw.get(name), str)
        and len(raw[name]) <= max_length and NUL not in raw[name]
    }


def _skus_named(events: Sequence[Any]) -> set[str]:
    return {sku.strip() for sku in _ids_named(events, "product", PRODUCT_ID_MAX_LENGTH)}


def _event_ids_named(events: Sequence[Any]) -> set[str]:
    return _ids_named(events, "event_id", EVENT_ID_MAX_LENGTH)


def ingest_tally_add(*, tenant: Tenant, counts: Mapping[str, int]) -> None:
    """Add refused events to the tenant's running tallies, per rule.

    An F() increment, so concurrent batches of the same tenant add up instead
    of overwriting each other's counts.
    """
    counts = {rule: count for rule, count in counts.items() if count}
    if not counts:
        return
    # Make sure each row exists; a concurrent batch may have just made it, hence ignore_conflicts.
    IngestTally.objects.bulk_create(
        [IngestTally(tenant=tenant, rule=rule, count=0) for rule in counts], ignore_conflicts=True
    )
    for rule, count in counts.items():
        IngestTally.objects.filter(tenant=tenant, rule=rule).update(count=F("count") + count)


@transaction.atomic
def event_ingest_batch(
    *, tenant: Tenant, events: Sequence[Any], shopper_signatures_required: bool = False
) -> EventIngestResult:
    """Store the valid, new events of a batch; count the duplicates; name the refused ones.

    Runs inside `tenant`'s scope. The caller has checked the batch's size
    (settings.EVENTS_MAX_BATCH). An event whose event_id is already stored, or
    appeared earlier in the batch, is a duplicate and is not stored again, so
    a storefront may safely resend a batch whose answer it did not get.
    An event's `shopper_signature`, when sent, must be its shopper's; with
    `shopper_signatures_required` (a publishable key, in a store that requires
    signed shopper ids), an event without one is refused.
    """
    require_scope_of(tenant)
    result = EventIngestResult()
    # One query for every SKU named in the batch, instead of one per event.
    products = {
        product.external_id: product
        for product in Product.objects.filter(tenant=tenant, external_id__in=_skus_named(events)).only(
            "id", "external_id"
        )
    }
    latest_allowed = timezone.now() + dt.timedelta(seconds=settings.EVENTS_MAX_CLOCK_SKEW_SECONDS)
    # One query for the ids already stored.
    seen_event_ids = set(
        Event.objects.filter(tenant=tenant, event_id__in=_event_ids_named(events))
        .values_list("event_id", flat=True)
    )
    # A shopper often sends many events in one batch; the HMAC is computed once per shopper.
    shopper_keys: dict[str, str] = {}
    refused_per_rule: Counter[str] = Counter()
    to_store: list[Event] = []
    for index, raw in enumerate(events):
        clean, errors = _clean_event(raw, index, products, latest_allowed, tenant, shopper_signatures_required)
        if errors:
            result.rejected += 1
            result.errors.extend(errors)
            refused_per_rule[errors[0].rule] += 1
            continue
        if clean["event_id"] in seen_event_ids:
            result.duplicates += 1
            continue
        seen_event_ids.add(clean["event_id"])
        shopper_id = clean.pop("shopper_id")
        shopper_key = shopper_keys.get(shopper_id)
        if shopper_key is None:
            shopper_key = shopper_keys[shopper_id] = tenant.pseudonymise_shopper(shopper_id)
        product = products[clean["product_external_id"]]
        to_store.append(Event(tenant=tenant, shopper_key=shopper_key, product=product, **clean))
    # ignore_conflicts: a concurrent request may store the same event_id
    # between our read and this insert; the unique constraint keeps one copy.
    # Such a race counts the event as accepted by both requests.
    Event.objects.bulk_create(to_store, ignore_conflicts=True)
    result.accepted = len(to_store)
    ingest_tally_add(tenant=tenant, counts=refused_per_rule)
    return result


@dataclass(frozen=True)
class ShopperErasure:
    """What erasing a shopper deleted: their events in the store itself, and the copies of them
    in the store's course sandboxes (courses.labs.sandbox), which keep the store's pseudonyms."""

    events: int
    sandbox_events: int


@transaction.atomic
def shopper_erase(*, tenant: Tenant, shopper_id: str) -> ShopperErasure:
    """Erase every event of a shopper, their bot flag and what other apps keep of them (the
    recommendation lists served to them), in the store and in each of its sandboxes.

    Runs inside `tenant`'s scope. The shopper is found by the same HMAC as at ingest, so the raw
    id needs no storing for this to work. Erasing a shopper the tenant never saw deletes nothing
    and is not an error: a privacy request may be sent to be safe. A sandbox is erased in its own
    scope, one after the other, in this transaction: a store has one per learner who opened one,
    and each costs a few indexed deletes and two scope switches.
    """
    require_scope_of(tenant)
    shopper_key = tenant.pseudonymise_shopper(shopper_id)
    # The lock a sandbox's seed holds shared while it copies the store (courses.labs.sandbox):
    # a seed that began first has committed when this gets it, so its sandbox is listed below;
    # one that begins later waits, then reads the store without these events. NO KEY: events
    # go on being ingested meanwhile (their inserts only share the row's key).
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).first()
    events = _shopper_key_erase(tenant=tenant, shopper_key=shopper_key)
    sandbox_events = sum(
        _shopper_key_erase(tenant=sandbox, shopper_key=shopper_key) for sandbox in _sandboxes_in_scope(tenant)
    )
    return ShopperErasure(events=events, sandbox_events=sandbox_events)


def _sandboxes_in_scope(store: Tenant) -> Iterator[Tenant]:
    """Each course sandbox of the store, in its own scope while the caller works in it: row-level
    security shows a tenant's rows only there."""
    for sandbox in Tenant.objects.filter(sandbox_of=store).order_by("pk"):
        with tenant_scope(sandbox):
            yield sandbox


def _shopper_key_erase(*, tenant: Tenant, shopper_key: str) -> int:
    """Delete what `tenant` keeps under this pseudonym; returns how many events went. In
    `tenant`'s scope."""
    _total, deleted_per_model = Event.objects.filter(tenant=tenant, shopper_key=shopper_key).delete()
    FlaggedShopper.objects.filter(tenant=tenant, shopper_key=shopper_key).delete()
    # The lists served to them, say, which carry the same pseudonym (recommendations.apps).
    shopper_erased.send(sender=Event, tenant_id=tenant.pk, shopper_key=shopper_key)
    return deleted_per_model.get(Event._meta.label, 0)


def shopper_event_count(*, tenant: Tenant, shopper_id: str) -> int:
    """How many events the shopper with this id (as the storefront sends it) has: what an erasure
    would delete."""
    return Event.objects.filter(tenant=tenant, shopper_key=tenant.pseudonymise_shopper(shopper_id)).count()


def shopper_sandbox_event_count(*, tenant: Tenant, shopper_id: str) -> int:
    """How many copies of the shopper's events the store's course sandboxes hold: what an erasure
    would delete there too. Each sandbox is read in its own scope."""
    shopper_key = tenant.pseudonymise_shopper(shopper_id)
    return sum(
        Event.objects.filter(tenant=sandbox, shopper_key=shopper_key).count()
        for sandbox in _sandboxes_in_scope(tenant)
    )
