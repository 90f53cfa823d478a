"""A tenant whose catalog and events are the tiny shop of tests/training/ml, and the tiny encoder."""

import datetime as dt

import pytest

from catalog.models import Event, Product
from tests.training.factories import encoder_folder, purchases_create
from tests.training.ml.conftest import (  # noqa: F401
    make_interactions,
    make_items,
    shop_items,
    tiny_model_dir,
    tiny_training_settings,
)


def load_shop_into(tenant, items, interactions) -> None:
    """The tiny shop as the tenant's catalog and purchase events."""
    products = Product.all_tenants.bulk_create(
        [
            Product(
                tenant=tenant,
                external_id=row.item_id,
                title=row.title,
                category=row.category,
                brand=row.brand,
                description=row.description,
            )
            for row in items.itertuples()
        ]
    )
    by_sku = {product.external_id: product for product in products}
    Event.all_tenants.bulk_create(
        [
            Event(
                tenant=tenant,
                event_id=f"e{index}",
                shopper_key=tenant.pseudonymise_shopper(row.user_id),
                type="purchase",
                product=by_sku[row.item_id],
                product_external_id=row.item_id,
                occurred_at=row.timestamp.floor("us").to_pydatetime().replace(tzinfo=dt.UTC),
            )
            for index, row in enumerate(interactions.itertuples())
        ],
        batch_size=500,
    )


@pytest.fixture
def tenant_with_shop(tenant, shop_items):  # noqa: F811
    load_shop_into(tenant, shop_items, make_interactions(shop_items))
    return tenant


@pytest.fixture
def ready_tenant(tenant, settings, tmp_path):
    """Just enough data to queue a job (small minimums), and a base-model folder nothing loads."""
    settings.TRAINING_MIN_EVENTS = 4
    settings.TRAINING_MIN_SHOPPERS = 2
    settings.TRAINING_BASE_MODEL = encoder_folder(tmp_path)
    purchases_create(tenant, shoppers=2, per_shopper=2)
    return tenant


@pytest.fixture
def tiny_job_settings(tiny_model_dir) -> dict:  # noqa: F811
    """Settings for a job that trains the tiny encoder in seconds."""
    return tiny_training_settings(tiny_model_dir, epochs=2)
