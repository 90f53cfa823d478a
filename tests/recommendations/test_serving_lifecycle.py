"""What is served follows the model's life: promotion, rollback, broken artifacts, new products; the log."""

import logging
import shutil
from pathlib import Path

from django.core.cache import cache
from django.utils import timezone

from catalog.models import Event, Product
from recommendations.attribution import served_log
from recommendations.models import ItemEmbedding, ServedRecommendation
from recommendations.tasks import item_embeddings_refresh_task
from tenants.scope import tenant_scope
from tests.recommendations.conftest import RECOMMENDATIONS, similar_url, version_copy
from tests.training.factories import ModelVersionFactory
from training.models import VersionStatus
from training.services.versions import model_version_promote, model_version_rollback

POPULARITY_ONLY = {"content": 0.0, "collaborative": 0.0, "popularity": 1.0}


def skus_of(response) -> list[str]:
    return [item["external_id"] for item in response.data["items"]]


def served(client, **params):
    response = client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0", **params})
    assert response.status_code == 200
    return response


def test_promotion_and_rollback_change_what_is_served_without_a_restart(
    publishable_client, live_version, tenant, lora_version_dir, tmp_path, django_capture_on_commit_callbacks
):
    second = ModelVersionFactory(
        tenant=tenant,
        number=2,
        artifact_path=version_copy(lora_version_dir, tmp_path, "v2", weights=POPULARITY_ONLY),
    )
    before = served(publishable_client)
    assert before.data["model_version"] == 1

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        model_version_promote(tenant=tenant, version_id=second.pk)
    after = served(publishable_client)
    assert after.data["model_version"] == 2
    assert skus_of(after) != skus_of(before)

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        model_version_rollback(tenant=tenant)
    back = served(publishable_client)
    assert back.data["model_version"] == 1 and skus_of(back) == skus_of(before)


def test_removed_artifacts_make_popularity_answer_with_a_200(publishable_client, live_version):
    shutil.rmtree(live_version.artifact_path)
    response = served(publishable_client)
    assert response.data["fallback"] is True and response.data["fallback_reason"] == "model_unavailable"
    assert response.data["model_version"] is None and len(response.data["items"]) == 10
    assert publishable_client.get(similar_url("coffee-1")).data["fallback"] is True
    assert publishable_client.get("/api/v1/search", {"q": "earl grey"}).status_code == 200


def test_corrupt_artifacts_are_logged_once_not_per_request(publishable_client, live_version, caplog):
    Path(live_version.artifact_path, "scorer", "item_embeddings.npy").write_bytes(b"not an array")
    with caplog.at_level(logging.ERROR, logger="recommendations.serving"):
        for _ in range(3):
            assert served(publishable_client).data["fallback"] is True
    assert len([r for r in caplog.records if "cannot be loaded" in r.getMessage()]) == 1


def test_with_no_live_model_popularity_answers(publishable_client, tiny_shop):
    response = served(publishable_client)
    assert response.data["fallback"] is True and response.data["fallback_reason"] == "no_live_model"
    assert response.data["items"]


def test_a_product_imported_after_training_is_recommended_by_its_content_right_away(
    secret_client, publishable_client, live_version, tenant, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(item_embeddings_refresh_task, "delay", lambda **kwargs: queued.append(kwargs))
    new_product = {
        "external_id": "coffee-new",
        "title": "dark roast coffee",
        "category": "coffee",
        "brand": "Bean Co",
        "description": "ground coffee beans with a rich aroma",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = secret_client.post("/api/v1/catalog/products", {"products": [new_product]}, format="json")
    assert response.status_code == 200
    assert queued == [{"tenant_id": tenant.pk}]  # the import asked for its embedding

    assert item_embeddings_refresh_task.apply(kwargs={"tenant_id": tenant.pk}).get() == 1
    with tenant_scope(tenant):
        assert ItemEmbedding.objects.filter(product__external_id="coffee-new").count() == 1
    # Beside a coffee, the new coffee is ranked by its content: among its look-alikes, above every
    # product of an unrelated kind, though not above the warm ones that behaviour vouches for.
    similar = skus_of(publishable_client.get(similar_url("coffee-0"), {"limit": 20}))
    unrelated = [sku for sku in similar if sku.split("-")[0] in {"shampoo", "tea"}]
    assert "coffee-new" in similar and unrelated
    assert similar.index("coffee-new") < min(similar.index(sku) for sku in unrelated)
    # A shopper whose only event is the new product is scored by the model from it.
    Event.all_tenants.create(
        tenant=tenant,
        event_id="first-look",
        shopper_key=tenant.pseudonymise_shopper("newcomer"),
        type="view",
        product=Product.all_tenants.get(tenant=tenant, external_id="coffee-new"),
        product_external_id="coffee-new",
        occurred_at=timezone.now(),
    )
    response = publishable_client.get(RECOMMENDATIONS, {"shopper_id": "newcomer", "limit": 5})
    assert response.data["model_version"] == 1 and response.data["fallback"] is False
    assert [item["category"] for item in response.data["items"]].count("coffee") >= 3
    # Nothing is embedded twice.
    assert item_embeddings_refresh_task.apply(kwargs={"tenant_id": tenant.pk}).get() == 0


def test_a_worker_whose_base_models_live_elsewhere_still_embeds_new_products(
    secret_client, base_models_elsewhere, tenant, monkeypatch
):
    monkeypatch.setattr(item_embeddings_refresh_task, "delay", lambda **kwargs: None)
    product = {"external_id": "tea-new", "title": "green tea", "category": "tea", "brand": "Leaf"}
    assert secret_client.post("/api/v1/catalog/products", {"products": [product]}, format="json").status_code == 200

    assert item_embeddings_refresh_task.apply(kwargs={"tenant_id": tenant.pk}).get() == 1


def test_a_served_list_is_logged_off_the_request_path_with_what_attribution_needs(
    publishable_client, live_version, tenant
):
    response = served(publishable_client, limit=4)
    with tenant_scope(tenant):
        assert ServedRecommendation.objects.count() == 0  # the request wrote nothing
    assert served_log.pending() == 1

    assert served_log.flush() == 1
    with tenant_scope(tenant):
        logged = ServedRecommendation.objects.get()
    assert logged.recommendation_id == response.data["recommendation_id"]
    assert logged.shopper_key == tenant.pseudonymise_shopper("shopper-0") != "shopper-0"
    assert logged.model_version == 1 and logged.variant == "" and logged.fallback is False
    assert logged.product_ids == skus_of(response) and logged.endpoint == "recommendations"


def test_the_log_records_the_kind_of_key_each_list_was_served_to(
    publishable_client, secret_client, live_version, tenant
):
    by_browser = served(publishable_client)
    by_server = served(secret_client)

    served_log.flush()
    with tenant_scope(tenant):
        kinds = dict(ServedRecommendation.objects.values_list("recommendation_id", "api_key_kind"))
    assert kinds == {
        by_browser.data["recommendation_id"]: "publishable",
        by_server.data["recommendation_id"]: "secret",
    }


def test_the_log_is_kept_when_the_database_cannot_take_it(publishable_client, live_version, monkeypatch):
    served(publishable_client)

    def database_down(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(ServedRecommendation.objects, "bulk_create", database_down)
    try:
        served_log.flush()
    except ConnectionError:
        pass
    assert served_log.pending() == 1
    monkeypatch.undo()
    assert served_log.flush() == 1


def test_a_promoted_version_is_served_by_the_next_request_even_within_the_state_cache(
    publishable_client, live_version, tenant, lora_version_dir, tmp_path, django_capture_on_commit_callbacks
):
    served(publishable_client)  # the state is cached now
    second = ModelVersionFactory(
        tenant=tenant,
        number=2,
        artifact_path=version_copy(lora_version_dir, tmp_path, "v2"),
    )
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        model_version_promote(tenant=tenant, version_id=second.pk)
    assert served(publishable_client).data["model_version"] == 2
    second.refresh_from_db()
    assert second.status == VersionStatus.LIVE
    cache.clear()


def test_popularity_is_kept_only_for_tenants_served_lately(tiny_shop, other_tenant, settings):
    from recommendations import serving

    settings.RECOMMENDATIONS_TRENDING_CACHE_SECONDS = 0  # every entry is stale by the next request
    for tenant in (tiny_shop, other_tenant):
        with tenant_scope(tenant):
            state = serving.serving_state(tenant=tenant)
            serving.popularity_scores(
                tenant=tenant, catalog=serving.serving_catalog(tenant=tenant, state=state)
            )
    assert list(serving._popularity) == [other_tenant.pk]
