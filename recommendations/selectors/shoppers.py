"""Reads on one shopper's events, as serving needs them."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.models import Event, EventType
from tenants.models import Tenant

# Enough to cover the model's history window many times over, and a shopper's
# purchases for the "already bought" rule; bounded, so a bot's history costs no more.
HISTORY_EVENTS_READ = 500


@dataclass(frozen=True)
class ShopperHistory:
    items: list[str] = field(default_factory=list)  # SKUs, oldest first
    purchased: frozenset[str] = frozenset()

    @property
    def is_new(self) -> bool:
        return not self.items


def shopper_history(*, tenant: Tenant, shopper_id: str) -> ShopperHistory:
    """What the shopper did lately, by their id as the storefront knows it (pseudonymised here)."""
    shopper_key = tenant.pseudonymise_shopper(shopper_id)
    rows = list(
        Event.objects.filter(tenant=tenant, shopper_key=shopper_key)
        .order_by("-occurred_at", "-id")
        .values_list("product_external_id", "type")[:HISTORY_EVENTS_READ]
    )
    rows.reverse()
    return ShopperHistory(
        items=[sku for sku, _type in rows],
        purchased=frozenset(sku for sku, event_type in rows if event_type == EventType.PURCHASE),
    )
