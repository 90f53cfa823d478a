"""A running experiment decides what the recommendations endpoint serves each shopper; it logs exposures."""

import pytest

from experiments.models import Experiment
from experiments.services import experiment_create, experiment_start, experiment_stop
from recommendations.attribution import served_log
from recommendations.models import ServedRecommendation
from tenants.scope import tenant_scope
from tests.experiments.conftest import version_copy
from tests.training.factories import ModelVersionFactory

RECOMMENDATIONS = "/api/v1/recommendations"
POPULARITY_ONLY = {"content": 0.0, "collaborative": 0.0, "popularity": 1.0}


def assignment_url(key: str) -> str:
    return f"/api/v1/experiments/{key}/assignment"


@pytest.fixture
def second_version(tenant, live_version, lora_version_dir, tmp_path):
    return ModelVersionFactory(
        tenant=tenant,
        number=2,
        artifact_path=version_copy(lora_version_dir, tmp_path, "v2", weights=POPULARITY_ONLY),
    )


def started(
    tenant, django_capture_on_commit_callbacks, *, variants, traffic_share=1.0, key="ranker"
) -> Experiment:
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        experiment = experiment_create(
            tenant=tenant,
            key=key,
            name="New ranker",
            primary_metric="click_through_rate",
            variants=variants,
            traffic_share=traffic_share,
        )
        experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)
    return experiment


@pytest.fixture
def live_against_v2(tenant, second_version, django_capture_on_commit_callbacks, monkeypatch):
    from recommendations.tasks import item_embeddings_refresh_task

    monkeypatch.setattr(item_embeddings_refresh_task, "delay", lambda **kwargs: None)
    return started(
        tenant,
        django_capture_on_commit_callbacks,
        variants=[
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "treatment", "kind": "model_version", "model_version": second_version.pk, "weight": 1},
        ],
    )


def test_each_shopper_is_served_the_model_of_their_variant_every_time(publishable_client, live_against_v2):
    versions_by_variant = {}
    for shopper in range(40):
        answers = [
            publishable_client.get(RECOMMENDATIONS, {"shopper_id": f"shopper-{shopper}"}).data
            for _ in range(2)
        ]
        assert answers[0]["variant"] == answers[1]["variant"] != ""
        versions_by_variant.setdefault(answers[0]["variant"], set()).add(answers[0]["model_version"])
    assert versions_by_variant == {"control": {1}, "treatment": {2}}


def test_the_assignment_endpoint_agrees_with_the_served_variant(publishable_client, live_against_v2):
    for shopper in ("shopper-1", "shopper-2", "someone-new"):
        served = publishable_client.get(RECOMMENDATIONS, {"shopper_id": shopper}).data["variant"]
        response = publishable_client.get(assignment_url("ranker"), {"shopper_id": shopper})
        assert response.status_code == 200
        assert response.data["running"] is True and response.data["variant"] == served
        assert response.data["kind"] == ("live" if served == "control" else "model_version")


def test_shoppers_outside_the_share_of_traffic_get_the_live_model_and_no_variant(
    publishable_client, tenant, second_version, django_capture_on_commit_callbacks
):
    started(
        tenant,
        django_capture_on_commit_callbacks,
        traffic_share=0.3,
        variants=[
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "treatment", "kind": "model_version", "model_version": second_version.pk, "weight": 1},
        ],
    )
    answers = [publishable_client.get(RECOMMENDATIONS, {"shopper_id": f"s-{i}"}).data for i in range(60)]
    outside = [answer for answer in answers if answer["variant"] == ""]
    assert 25 <= len(outside) <= 55
    assert {answer["model_version"] for answer in outside} <= {1, None}


def test_a_popularity_variant_is_served_popularity_and_says_why(
    publishable_client, tenant, live_version, django_capture_on_commit_callbacks
):
    started(
        tenant,
        django_capture_on_commit_callbacks,
        variants=[
            {"name": "control", "kind": "live", "weight": 0, "is_control": True},
            {"name": "popular", "kind": "popularity", "weight": 1},
        ],
    )
    answer = publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"}).data
    assert answer["variant"] == "popular" and answer["fallback"] is True
    assert answer["fallback_reason"] == "popularity_variant" and answer["model_version"] is None


def test_a_served_list_in_an_experiment_is_logged_as_an_exposure_of_its_variant(
    publishable_client, tenant, live_against_v2
):
    answer = publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-3"}).data
    served_log.flush()
    with tenant_scope(tenant):
        exposure = ServedRecommendation.objects.get(recommendation_id=answer["recommendation_id"])
    assert exposure.experiment_id == live_against_v2.pk and exposure.variant == answer["variant"]


def test_after_the_experiment_stops_everyone_gets_the_live_model_again(
    publishable_client, tenant, live_against_v2, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        experiment_stop(tenant=tenant, experiment_id=live_against_v2.pk)
    for shopper in range(10):
        answer = publishable_client.get(RECOMMENDATIONS, {"shopper_id": f"shopper-{shopper}"}).data
        assert answer["variant"] == "" and answer["model_version"] == 1
    response = publishable_client.get(assignment_url("ranker"), {"shopper_id": "shopper-1"})
    assert response.data["running"] is False and response.data["variant"] is None


def test_the_assignment_of_an_unknown_or_another_tenants_experiment_is_a_404(
    publishable_client, other_tenant_client, live_against_v2
):
    assert publishable_client.get(assignment_url("no-such"), {"shopper_id": "a"}).status_code == 404
    assert other_tenant_client.get(assignment_url("ranker"), {"shopper_id": "a"}).status_code == 404


def test_the_assignment_needs_a_shopper_id(publishable_client, live_against_v2):
    response = publishable_client.get(assignment_url("ranker"))
    assert response.status_code == 400 and "shopper_id" in response.data
