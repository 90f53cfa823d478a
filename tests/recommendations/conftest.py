"""A tenant whose catalog and events are the tiny shop, with a fine-tuned tiny model live.

The model is trained once per session (tests/training/ml); each test serves a
copy of its folder, so a test may break its artifacts.
"""

import json
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from recommendations.attribution import served_log
from recommendations.serving import forget_everything
from tests.training.conftest import load_shop_into
from tests.training.factories import ModelVersionFactory
from tests.training.ml.conftest import (  # noqa: F401
    lora_outcome,
    lora_version_dir,
    shop_interactions,
    shop_items,
    tiny_model_dir,
)
from training.models import VersionStatus

RECOMMENDATIONS = "/api/v1/recommendations"
SEARCH = "/api/v1/search"


def similar_url(external_id: str) -> str:
    return f"/api/v1/products/{external_id}/similar"


@pytest.fixture(autouse=True)
def fresh_serving_caches():
    """Each test starts with nothing loaded and nothing buffered, as a new web process would."""
    cache.clear()
    forget_everything()
    served_log.discard()
    yield
    forget_everything()
    served_log.discard()


@pytest.fixture
def tiny_shop(tenant, shop_items, shop_interactions):  # noqa: F811
    load_shop_into(tenant, shop_items, shop_interactions)
    return tenant


def version_copy(source, tmp_path, name: str, *, weights: dict | None = None) -> str:
    """A copy of a trained version's folder; `weights` replaces its blend weights."""
    folder = tmp_path / name
    shutil.copytree(source, folder)
    if weights is not None:
        state_file = folder / "scorer" / "scorer.json"
        state = json.loads(state_file.read_text())
        state["weights"] = weights
        state_file.write_text(json.dumps(state))
    return str(folder)


@pytest.fixture
def base_models_elsewhere(live_version, tiny_model_dir, tmp_path, settings):  # noqa: F811
    """The live version as trained on another machine, whose base model folder this one lacks;
    this one keeps the same base model in its own TRAINING_BASE_MODEL_DIRS."""
    metadata_file = Path(live_version.artifact_path) / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    name = Path(metadata["base_model"]).name
    metadata["base_model"] = f"/srv/gpu-worker/base-models/{name}"
    metadata_file.write_text(json.dumps(metadata))
    shutil.copytree(tiny_model_dir, tmp_path / "base-models-here" / name)
    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base-models-here"]
    return live_version


@pytest.fixture
def live_version(tiny_shop, lora_version_dir, tmp_path):  # noqa: F811
    return ModelVersionFactory(
        tenant=tiny_shop,
        number=1,
        status=VersionStatus.LIVE,
        promoted_at=timezone.now(),
        artifact_path=version_copy(lora_version_dir, tmp_path, "v1"),
    )
