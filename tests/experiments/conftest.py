"""The recommendations fixtures (a tenant with the tiny shop and a live tiny model), for experiments on them."""

from tests.recommendations.conftest import (  # noqa: F401
    fresh_serving_caches,
    live_version,
    lora_outcome,
    lora_version_dir,
    shop_interactions,
    shop_items,
    tiny_model_dir,
    tiny_shop,
    version_copy,
)
