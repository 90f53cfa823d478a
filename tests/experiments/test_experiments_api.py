"""The merchant's experiments API: design, start, stop, ramp, delete, results; tenants and roles kept apart."""

import json

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.urls import resolve

from experiments.apis.experiments import ExperimentDetailApi
from experiments.models import Experiment, ExperimentStatus
from experiments.services import experiment_create
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.training.factories import ModelVersionFactory, a_live_model
from training.models import ModelVersion, VersionStatus

EXPERIMENTS = "/api/v1/experiments"


@pytest.fixture(autouse=True)
def model_live(tenant):
    """A "live model" variant needs a live model to start."""
    return a_live_model(tenant)


def design(key: str = "home-list", **overrides) -> dict:
    body = {
        "key": key,
        "name": "Home page list",
        "hypothesis": "Trending products beat the model for new shoppers.",
        "primary_metric": "click_through_rate",
        "guardrail_metrics": ["revenue_per_shopper"],
        "variants": [
            {"name": "control", "kind": "live", "weight": 0.5, "is_control": True},
            {"name": "trending", "kind": "popularity", "weight": 0.5},
        ],
    }
    body.update(overrides)
    return body


def created(client, key: str = "home-list", **overrides) -> dict:
    response = client.post(EXPERIMENTS, design(key, **overrides), format="json")
    assert response.status_code == 201, response.data
    return response.data


def status_in_database(tenant, key: str) -> str:
    with tenant_scope(tenant):
        return Experiment.objects.get(key=key).status


def test_an_owner_designs_a_draft_and_reads_it_back_with_its_variants(session_client, merchant_user):
    body = created(session_client)
    assert body["status"] == ExperimentStatus.DRAFT and body["started_at"] is None
    assert body["created_by"] == merchant_user.username
    assert [(v["name"], v["kind"], v["weight"], v["is_control"]) for v in body["variants"]] == [
        ("control", "live", 0.5, True),
        ("trending", "popularity", 0.5, False),
    ]

    detail = session_client.get(f"{EXPERIMENTS}/home-list")
    assert detail.status_code == 200 and detail.data == body
    listed = session_client.get(EXPERIMENTS)
    assert listed.status_code == 200
    assert [experiment["key"] for experiment in listed.data["results"]] == ["home-list"]


def test_a_variant_serves_one_of_the_tenants_own_model_versions(session_client, tenant):
    version = ModelVersionFactory(tenant=tenant, number=4)
    body = created(
        session_client,
        variants=[
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "v4", "kind": "model_version", "model_version": version.pk, "weight": 1},
        ],
    )
    assert body["variants"][1]["model_version"] == version.pk
    assert body["variants"][1]["model_version_number"] == 4
    assert (
        body["variants"][0]["model_version"] is None and body["variants"][0]["model_version_number"] is None
    )


def test_a_variant_pointing_at_another_tenants_model_version_is_refused_by_its_field(
    session_client, tenant, other_tenant
):
    theirs = ModelVersionFactory(tenant=other_tenant, number=1)
    response = session_client.post(
        EXPERIMENTS,
        design(
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "theirs", "kind": "model_version", "model_version": theirs.pk, "weight": 1},
            ]
        ),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.data) == {"variants[1].model_version"}
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


def test_a_model_version_variant_without_its_version_is_asked_for_it(session_client):
    response = session_client.post(
        EXPERIMENTS,
        design(variants=[
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "new", "kind": "model_version", "weight": 1},
        ]),
        format="json",
    )
    assert response.status_code == 400
    assert response.data == {"variants[1].model_version": ["Choose the model version this variant serves."]}


def test_values_of_the_wrong_type_are_named_by_their_field(session_client):
    response = session_client.post(
        EXPERIMENTS,
        design(
            name="",
            primary_metric="happiness",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "b", "kind": "magic", "weight": "heavy"},
            ],
        ),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.data) == {"name", "primary_metric", "variants[1].kind", "variants[1].weight"}


def test_a_design_the_rules_refuse_names_each_problem(session_client):
    response = session_client.post(
        EXPERIMENTS,
        design(
            key="Not A Slug",
            traffic_share=1.5,
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "Also Control", "kind": "popularity", "weight": 1, "is_control": True},
            ],
        ),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.data) == {"key", "traffic_share", "variants", "variants[1].name"}
    assert "control" in response.data["variants"][0]


def _post_json_text(client, url: str, text: str):
    """For numbers json.dumps cannot write: 1e999 as a JSON number."""
    return client.generic("POST", url, text, content_type="application/json")


NOT_FINITE = ['"Infinity"', '"NaN"', '"1e999"', "1e999"]


@pytest.mark.parametrize("weight", NOT_FINITE)
def test_a_weight_that_is_not_a_finite_number_is_refused_by_its_field_and_nothing_is_stored(
    session_client, tenant, weight
):
    body = design()
    body["variants"][1]["weight"] = "WEIGHT"
    response = _post_json_text(session_client, EXPERIMENTS, json.dumps(body).replace('"WEIGHT"', weight))
    assert response.status_code == 400
    assert set(response.data) == {"variants[1].weight"}
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


def test_a_weight_above_a_million_is_refused_so_that_no_two_add_up_past_the_largest_float(
    session_client, tenant
):
    body = design()
    for variant in body["variants"]:
        variant["weight"] = 1e308
    response = session_client.post(EXPERIMENTS, body, format="json")
    assert response.status_code == 400
    assert response.data["variants[0].weight"] == ["A weight is a number from 0 to 1,000,000."]
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


def test_true_is_not_a_number_for_a_weight_or_a_share_of_traffic(session_client, tenant):
    body = design(traffic_share=True)
    body["variants"][1]["weight"] = True
    response = session_client.post(EXPERIMENTS, body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"traffic_share", "variants[1].weight"}

    created(session_client, traffic_share=0.5)
    ramp = session_client.post(f"{EXPERIMENTS}/home-list/traffic", {"traffic_share": True}, format="json")
    assert ramp.status_code == 400 and set(ramp.data) == {"traffic_share"}
    with tenant_scope(tenant):
        assert Experiment.objects.get(key="home-list").traffic_share == 0.5


@pytest.mark.parametrize("guardrails, says", [
    (["click_through_rate"], "Click-through rate is the primary metric, so it cannot be a guardrail too."),
    (["bounce_rate"], "Not a metric: bounce_rate. Choose from: "),
])
def test_a_guardrail_that_is_no_metric_or_the_primary_one_is_refused_by_name(
    session_client, tenant, guardrails, says
):
    response = session_client.post(EXPERIMENTS, design(guardrail_metrics=guardrails), format="json")
    assert response.status_code == 400 and set(response.data) == {"guardrail_metrics"}
    assert says in response.data["guardrail_metrics"][0]
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


@pytest.mark.parametrize("share", NOT_FINITE)
def test_a_share_of_traffic_that_is_not_a_finite_number_is_refused_as_such(session_client, share):
    text = json.dumps(design(traffic_share="SHARE")).replace('"SHARE"', share)
    response = _post_json_text(session_client, EXPERIMENTS, text)
    assert response.status_code == 400 and set(response.data) == {"traffic_share"}
    assert "finite" in response.data["traffic_share"][0]

    created(session_client)
    ramp = f'{{"traffic_share": {share}}}'
    response = _post_json_text(session_client, f"{EXPERIMENTS}/home-list/traffic", ramp)
    assert response.status_code == 400 and set(response.data) == {"traffic_share"}
    assert "finite" in response.data["traffic_share"][0]


@pytest.mark.parametrize("weight", [float("inf"), float("nan")])
def test_the_service_refuses_a_weight_that_is_not_finite_whoever_calls_it(tenant, weight):
    # The web form's FloatField refuses them already; the service is the rule for every caller.
    with tenant_scope(tenant), pytest.raises(ValidationError) as refused:
        experiment_create(
            tenant=tenant,
            key="home-list",
            name="Home page list",
            primary_metric="click_through_rate",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "trending", "kind": "popularity", "weight": weight},
            ],
        )
    assert set(refused.value.message_dict) == {"variants[1].weight"}
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


def test_a_misspelt_key_in_a_design_is_refused_by_name_and_nothing_is_stored(session_client, tenant):
    body = design(trafic_share=0.05)
    body["variants"][1]["colour"] = "blue"
    response = session_client.post(EXPERIMENTS, body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"trafic_share", "variants[1].colour"}
    assert "traffic_share" in response.data["trafic_share"][0]  # the reason lists the fields there are
    with tenant_scope(tenant):
        assert not Experiment.objects.exists()


def test_a_misspelt_key_when_replacing_a_draft_or_ramping_its_traffic_is_refused_by_name(session_client):
    created(session_client, traffic_share=0.5)
    new_design = {k: v for k, v in design().items() if k != "key"}
    new_design["trafic_share"] = 0.1
    response = session_client.put(f"{EXPERIMENTS}/home-list", new_design, format="json")
    assert response.status_code == 400 and set(response.data) == {"trafic_share"}

    body = {"traffic_share": 0.1, "ramp": "slowly"}
    response = session_client.post(f"{EXPERIMENTS}/home-list/traffic", body, format="json")
    assert response.status_code == 400 and set(response.data) == {"ramp"}
    assert session_client.get(f"{EXPERIMENTS}/home-list").data["traffic_share"] == 0.5


@pytest.mark.parametrize("query,name", [
    ({"page": "abc"}, "page"),
    ({"page": "0"}, "page"),
    ({"status": "running"}, "status"),
])
def test_a_bad_page_or_an_unknown_parameter_of_the_list_is_a_400_naming_it(session_client, query, name):
    response = session_client.get(EXPERIMENTS, query)
    assert response.status_code == 400 and list(response.data) == [name]


def test_a_page_past_the_last_experiment_stays_a_404_where_a_page_that_is_no_number_is_a_400(session_client):
    created(session_client)
    assert session_client.get(EXPERIMENTS, {"page": 1}).status_code == 200
    assert session_client.get(EXPERIMENTS, {"page": 2}).status_code == 404
    assert session_client.get(EXPERIMENTS, {"page": "two"}).status_code == 400


def test_a_key_is_used_once_per_tenant(session_client):
    created(session_client)
    response = session_client.post(EXPERIMENTS, design(), format="json")
    assert response.status_code == 400 and set(response.data) == {"key"}


def test_an_experiment_starts_once_and_stops_once_each_wrong_move_a_409(session_client, tenant):
    created(session_client)
    started = session_client.post(f"{EXPERIMENTS}/home-list/start")
    assert started.status_code == 200
    assert started.data["status"] == ExperimentStatus.RUNNING and started.data["started_at"]

    again = session_client.post(f"{EXPERIMENTS}/home-list/start")
    assert again.status_code == 409 and "draft" in again.data["detail"].lower()
    assert session_client.delete(f"{EXPERIMENTS}/home-list").status_code == 409

    stopped = session_client.post(f"{EXPERIMENTS}/home-list/stop")
    assert stopped.status_code == 200
    assert stopped.data["status"] == ExperimentStatus.STOPPED and stopped.data["stopped_at"]
    assert session_client.post(f"{EXPERIMENTS}/home-list/stop").status_code == 409
    assert session_client.post(f"{EXPERIMENTS}/home-list/start").status_code == 409
    assert status_in_database(tenant, "home-list") == ExperimentStatus.STOPPED


def test_a_live_model_variant_does_not_start_while_no_model_is_live(session_client, tenant, model_live):
    # It would serve best sellers, the fallback, and the test would compare popularity with itself.
    ModelVersion.all_tenants.filter(pk=model_live.pk).update(status=VersionStatus.ARCHIVED)
    created(session_client)
    response = session_client.post(f"{EXPERIMENTS}/home-list/start")
    assert response.status_code == 409
    assert "No model is live" in response.data["detail"] and "“control”" in response.data["detail"]
    assert status_in_database(tenant, "home-list") == ExperimentStatus.DRAFT


def test_only_one_experiment_runs_at_a_time(session_client, tenant):
    created(session_client, "first")
    created(session_client, "second")
    assert session_client.post(f"{EXPERIMENTS}/first/start").status_code == 200

    response = session_client.post(f"{EXPERIMENTS}/second/start")
    assert response.status_code == 409
    assert "first" in response.data["detail"]
    assert status_in_database(tenant, "second") == ExperimentStatus.DRAFT

    session_client.post(f"{EXPERIMENTS}/first/stop")
    assert session_client.post(f"{EXPERIMENTS}/second/start").status_code == 200


def test_a_drafts_design_can_be_replaced_but_not_once_it_has_started(session_client):
    created(session_client)
    new_design = {k: v for k, v in design().items() if k != "key"}
    new_design["name"] = "Home page, three ways"
    new_design["variants"] = new_design["variants"] + [{"name": "again", "kind": "popularity", "weight": 0.25}]
    response = session_client.put(f"{EXPERIMENTS}/home-list", new_design, format="json")
    assert response.status_code == 200, response.data
    assert response.data["name"] == "Home page, three ways" and response.data["key"] == "home-list"
    assert [variant["name"] for variant in response.data["variants"]] == ["control", "trending", "again"]

    new_design["variants"][2]["weight"] = -1
    response = session_client.put(f"{EXPERIMENTS}/home-list", new_design, format="json")
    assert response.status_code == 400 and "variants[2].weight" in response.data

    session_client.post(f"{EXPERIMENTS}/home-list/start")
    new_design["variants"][2]["weight"] = 1
    response = session_client.put(f"{EXPERIMENTS}/home-list", new_design, format="json")
    assert response.status_code == 409
    assert len(session_client.get(f"{EXPERIMENTS}/home-list").data["variants"]) == 3


def test_a_draft_can_be_deleted(session_client):
    created(session_client)
    assert session_client.delete(f"{EXPERIMENTS}/home-list").status_code == 204
    assert session_client.get(f"{EXPERIMENTS}/home-list").status_code == 404


def test_the_share_of_traffic_ramps_while_running_but_not_once_stopped(session_client):
    created(session_client, traffic_share=0.1)
    session_client.post(f"{EXPERIMENTS}/home-list/start")
    response = session_client.post(f"{EXPERIMENTS}/home-list/traffic", {"traffic_share": 0.5}, format="json")
    assert response.status_code == 200 and response.data["traffic_share"] == 0.5

    for bad in ({"traffic_share": 0}, {"traffic_share": "half"}, {}):
        response = session_client.post(f"{EXPERIMENTS}/home-list/traffic", bad, format="json")
        assert response.status_code == 400 and set(response.data) == {"traffic_share"}, bad

    session_client.post(f"{EXPERIMENTS}/home-list/stop")
    response = session_client.post(f"{EXPERIMENTS}/home-list/traffic", {"traffic_share": 1}, format="json")
    assert response.status_code == 409


def test_a_draft_has_results_that_say_there_is_not_enough_data(session_client):
    created(session_client)
    response = session_client.get(f"{EXPERIMENTS}/home-list/results")
    assert response.status_code == 200
    body = response.data
    assert body["shoppers"] == 0 and body["control"] == "control"
    assert body["sample_ratio"] == {
        "p_value": None,
        "flagged": False,
        "shoppers": {"control": 0, "trending": 0},
        "expected_shares": {"control": 0.5, "trending": 0.5},
    }
    assert [c["verdict"] for c in body["primary"]["comparisons"]] == ["not_enough_data"]
    assert [g["metric"] for g in body["guardrails"]] == ["revenue_per_shopper"]
    assert body["primary_over_time"] == []
    assert body["planner"]["shoppers_needed_per_variant"] is None


@pytest.fixture
def their_experiment(other_tenant):
    with tenant_scope(other_tenant):
        return experiment_create(
            tenant=other_tenant,
            key="theirs",
            name="Their experiment",
            primary_metric="conversion_rate",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "trending", "kind": "popularity", "weight": 1},
            ],
        )


@pytest.mark.parametrize(
    "method,suffix,body",
    [
        ("get", "", None),
        ("delete", "", None),
        ("put", "", {k: v for k, v in design().items() if k != "key"}),
        ("post", "/start", None),
        ("post", "/stop", None),
        ("post", "/traffic", {"traffic_share": 0.5}),
        ("get", "/results", None),
    ],
)
def test_another_tenants_experiment_is_404_on_every_route(
    session_client, their_experiment, other_tenant, method, suffix, body
):
    response = getattr(session_client, method)(f"{EXPERIMENTS}/theirs{suffix}", body, format="json")
    assert response.status_code == 404
    with tenant_scope(other_tenant):
        untouched = Experiment.objects.get(pk=their_experiment.pk)
    assert (untouched.status, untouched.traffic_share) == (ExperimentStatus.DRAFT, 1.0)


def test_another_tenants_experiments_are_not_listed(session_client, their_experiment):
    assert session_client.get(EXPERIMENTS).data["results"] == []


def test_an_analyst_reads_experiments_but_cannot_design_or_start_one(
    session_client, api_client, member_with_role
):
    created(session_client)
    api_client.force_login(member_with_role(Role.ANALYST))
    assert api_client.get(EXPERIMENTS).status_code == 200
    assert api_client.get(f"{EXPERIMENTS}/home-list/results").status_code == 200
    assert api_client.post(EXPERIMENTS, design("mine"), format="json").status_code == 403
    assert api_client.post(f"{EXPERIMENTS}/home-list/start").status_code == 403
    assert api_client.delete(f"{EXPERIMENTS}/home-list").status_code == 403


def test_a_learner_of_the_store_neither_reads_nor_changes_experiments(
    session_client, api_client, member_with_role
):
    created(session_client)
    api_client.force_login(member_with_role(Role.LEARNER))
    for response in (api_client.get(EXPERIMENTS), api_client.get(f"{EXPERIMENTS}/home-list/results")):
        assert response.status_code == 403 and "home-list" not in response.content.decode()
    assert api_client.post(f"{EXPERIMENTS}/home-list/start").status_code == 403


def test_an_experiments_assignment_route_is_not_taken_by_the_detail_route():
    assert resolve(f"{EXPERIMENTS}/home-list").func.view_class is ExperimentDetailApi
    assert resolve(f"{EXPERIMENTS}/home-list/assignment").func.view_class is not ExperimentDetailApi


def test_the_schema_calls_the_95_percent_intervals_unadjusted_and_counts_the_flagged_shoppers(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)["components"]["schemas"]
    comparison = schema["ExperimentComparison"]["properties"]
    for interval in ["absolute_interval", "relative_interval"]:
        assert "unadjusted" in comparison[interval]["description"].lower()
    assert "Holm-adjusted" in comparison["p_value"]["description"]
    for component in ["ExperimentResults", "ExperimentVariantSummary"]:
        assert "bot-like" in schema[component]["properties"]["flagged_shoppers_left_out"]["description"]
