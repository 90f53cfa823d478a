"""The experiment pages of the merchant UI: the list, a new design, one experiment and its results."""
import re
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Event, FlaggedShopper
from experiments.analysis import experiment_results
from experiments.models import Experiment, ExperimentStatus, Variant
from experiments.presentation import lift_chart, time_chart
from experiments.services import experiment_create, experiment_start, experiment_stop
from recommendations.models import ServedRecommendation
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.training.factories import ModelVersionFactory, a_live_model

LIST = "/experiments/"
NEW = "/experiments/new/"


@pytest.fixture(autouse=True)
def model_live(tenant):
    """A "live model" variant needs a live model to start."""
    return a_live_model(tenant)


def detail_url(experiment: Experiment, action: str = "") -> str:
    return f"/experiments/{experiment.pk}/{action + '/' if action else ''}"


def design_posted(**changes) -> dict:
    """What the new-experiment form posts for a 50/50 test of the live model against popularity."""
    posted = {
        "name": "Popularity against the live model", "key": "popularity-test", "hypothesis": "",
        "traffic_percent": "100", "primary_metric": "conversion_rate", "control": "0",
        "variants-0-name": "control", "variants-0-kind": "live", "variants-0-weight": "50",
        "variants-1-name": "popular", "variants-1-kind": "popularity", "variants-1-weight": "50",
    }
    for row in range(2, 5):  # rows left empty: the kind select still sends its first choice
        posted[f"variants-{row}-kind"] = "live"
    posted.update(changes)
    return posted


PERCENT_ERROR = "The share of traffic is a percentage: more than 0, at most 100."


def an_experiment(tenant, key: str = "ranker-test", **changes) -> Experiment:
    design = {
        "key": key, "name": "Ranker test", "primary_metric": "conversion_rate",
        "variants": [
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "popular", "kind": "popularity", "weight": 1},
        ],
        **changes,
    }
    with tenant_scope(tenant):
        return experiment_create(tenant=tenant, **design)


def experiments_of(tenant) -> list[Experiment]:
    return list(Experiment.all_tenants.filter(tenant=tenant))


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="id_{re.escape(field_id)}_error">([^<]*)<', html)
    return match.group(1) if match else ""


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


def status_of(experiment: Experiment) -> str:
    return Experiment.all_tenants.get(pk=experiment.pk).status


# --- The list and a new design ---------------------------------------------------------------


def test_the_experiment_pages_need_a_login(client, db):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_owner_creates_an_experiment_through_the_form_and_sees_it_listed(owner_client, tenant):
    version = ModelVersionFactory(tenant=tenant, number=3)
    posted = design_posted(**{
        "traffic_percent": "25", "guardrail_metrics": ["revenue_per_shopper"],
        "variants-1-name": "fine-tuned", "variants-1-kind": "model_version",
        "variants-1-model_version": str(version.pk),
    })
    response = owner_client.post(NEW, posted)

    [experiment] = experiments_of(tenant)
    assert response.status_code == 302 and response["Location"] == detail_url(experiment)
    assert experiment.traffic_share == pytest.approx(0.25)  # a percent in the form, a fraction stored
    assert experiment.guardrail_metrics == ["revenue_per_shopper"]
    variants = [(v.name, v.kind, v.model_version_id, v.weight, v.is_control)
                for v in Variant.all_tenants.filter(experiment=experiment)]
    assert variants == [("control", "live", None, 50.0, True),
                        ("fine-tuned", "model_version", version.pk, 50.0, False)]
    row = re.search(rf'<tr id="experiment-{experiment.pk}">(.*?)</tr>',
                    owner_client.get(LIST).content.decode(), re.S).group(1)
    assert "popularity-test" in row and "Draft" in row and "Conversion rate" in row
    assert "<code>fine-tuned</code> 50" in row


def test_the_error_of_a_bad_variant_row_is_shown_beside_that_row(owner_client, tenant):
    # The second row is left empty, so the third row is the design's second variant (variants[1]).
    posted = design_posted(**{
        "variants-1-name": "", "variants-1-weight": "",
        "variants-2-name": "Not A Slug", "variants-2-kind": "popularity", "variants-2-weight": "50",
    })
    html = owner_client.post(NEW, posted).content.decode()
    assert field_error(html, "variants-2-name") == "Use lowercase letters, digits and hyphens only."
    assert field_error(html, "variants-1-name") == "" and field_error(html, "variants-0-name") == ""
    assert experiments_of(tenant) == []


def test_a_design_without_a_control_says_so_above_the_variants(owner_client, tenant):
    html = owner_client.post(NEW, design_posted(control="")).content.decode()
    errors = re.search(r'id="variants-errors">(.*?)</ul>', html, re.S).group(1)
    assert "Mark exactly one variant as the control." in errors
    assert experiments_of(tenant) == []


def test_a_share_of_traffic_over_100_percent_is_refused_beside_its_field(owner_client, tenant):
    html = owner_client.post(NEW, design_posted(traffic_percent="150")).content.decode()
    assert field_error(html, "traffic_percent") == PERCENT_ERROR
    assert experiments_of(tenant) == []


def test_every_bad_field_is_named_at_once_even_when_the_form_refused_one_itself(owner_client, tenant):
    posted = design_posted(**{
        "traffic_percent": "150", "key": "Bad Key!", "control": "", "variants-1-weight": "-5",
    })
    html = owner_client.post(NEW, posted).content.decode()
    assert field_error(html, "traffic_percent") == PERCENT_ERROR  # once: the form's, not the rules' too
    assert html.count(PERCENT_ERROR) == 1
    assert field_error(html, "key") == "Use lowercase letters, digits and hyphens only."
    assert field_error(html, "variants-1-weight") == "A weight is a number from 0 to 1,000,000."
    assert "Mark exactly one variant as the control." in re.search(
        r'id="variants-errors">(.*?)</ul>', html, re.S
    ).group(1)
    assert experiments_of(tenant) == []


def test_another_tenants_model_version_is_not_offered_and_is_refused(owner_client, tenant, model_live, other_tenant):
    ours = model_live
    theirs = ModelVersionFactory(tenant=other_tenant, number=7)
    html = owner_client.get(NEW).content.decode()
    offered = re.findall(r'<option value="(\d+)"', re.search(
        r'<select name="variants-1-model_version".*?</select>', html, re.S).group(0))
    assert offered == [str(ours.pk)]

    posted = design_posted(**{"variants-1-kind": "model_version", "variants-1-model_version": str(theirs.pk)})
    html = owner_client.post(NEW, posted).content.decode()
    assert "valid choice" in field_error(html, "variants-1-model_version")
    assert experiments_of(tenant) == []


# --- One experiment --------------------------------------------------------------------------


def test_the_owner_starts_and_stops_an_experiment_through_the_page(owner_client, tenant):
    experiment = an_experiment(tenant)
    response = owner_client.post(detail_url(experiment, "start"))
    assert response.status_code == 302 and status_of(experiment) == ExperimentStatus.RUNNING
    html = owner_client.get(detail_url(experiment)).content.decode()
    assert "shoppers are served their variant from now on" in html
    assert 'id="experiment-stop"' in html and 'id="experiment-start"' not in html

    owner_client.post(detail_url(experiment, "stop"))
    assert status_of(experiment) == ExperimentStatus.STOPPED
    html = owner_client.get(detail_url(experiment)).content.decode()
    assert 'id="experiment-stop"' not in html and 'id="experiment-traffic-form"' not in html


def test_starting_while_another_experiment_runs_shows_why_it_cannot(owner_client, tenant):
    running = an_experiment(tenant, key="first")
    with tenant_scope(tenant):
        experiment_start(tenant=tenant, experiment_id=running.pk, by=None)
    waiting = an_experiment(tenant, key="second")
    response = owner_client.post(detail_url(waiting, "start"), follow=True)
    messages = re.search(r'<ul class="messages">(.*?)</ul>', response.content.decode(), re.S).group(1)
    assert "first is running: stop it first" in messages
    assert status_of(waiting) == ExperimentStatus.DRAFT


def test_the_share_of_traffic_of_a_running_experiment_changes_and_the_page_says_who_keeps_their_variant(
    owner_client, tenant
):
    experiment = an_experiment(tenant, traffic_share=0.05)
    with tenant_scope(tenant):
        experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)
    form = section(owner_client.get(detail_url(experiment)).content.decode(), "experiment-traffic-form")
    assert "Shoppers already in the experiment who stay in keep" in form

    owner_client.post(detail_url(experiment, "traffic"), {"traffic_percent": "50"})
    assert Experiment.all_tenants.get(pk=experiment.pk).traffic_share == pytest.approx(0.5)
    html = owner_client.post(detail_url(experiment, "traffic"), {"traffic_percent": "0"}).content.decode()
    assert field_error(html, "traffic_percent") == PERCENT_ERROR
    assert Experiment.all_tenants.get(pk=experiment.pk).traffic_share == pytest.approx(0.5)


def test_a_draft_is_deleted_but_a_running_experiment_is_not(owner_client, tenant):
    draft = an_experiment(tenant, key="draft")
    assert owner_client.post(detail_url(draft, "delete")).status_code == 302
    running = an_experiment(tenant, key="running")
    with tenant_scope(tenant):
        experiment_start(tenant=tenant, experiment_id=running.pk, by=None)
    response = owner_client.post(detail_url(running, "delete"), follow=True)
    assert "Only a draft can be deleted" in response.content.decode()
    assert [experiment.key for experiment in experiments_of(tenant)] == ["running"]


def test_an_analyst_reads_the_pages_but_cannot_create_or_start(analyst_client, tenant):
    experiment = an_experiment(tenant)
    listed = analyst_client.get(LIST).content.decode()
    assert "ranker-test" in listed and 'id="experiment-new"' not in listed
    detail = analyst_client.get(detail_url(experiment)).content.decode()
    assert "Ranker test" in detail and 'id="experiment-start"' not in detail

    assert analyst_client.get(NEW).status_code == 403
    assert analyst_client.post(NEW, design_posted()).status_code == 403
    for action in ("start", "delete"):
        assert analyst_client.post(detail_url(experiment, action)).status_code == 403
    traffic = analyst_client.post(detail_url(experiment, "traffic"), {"traffic_percent": "10"})
    assert traffic.status_code == 403
    assert [(e.key, e.status, e.traffic_share) for e in experiments_of(tenant)] == [
        ("ranker-test", ExperimentStatus.DRAFT, 1.0)
    ]


def test_an_analyst_may_read_an_experiment(client, member_with_role, tenant):
    experiment = an_experiment(tenant)
    client.force_login(member_with_role(Role.ANALYST))
    assert client.get(detail_url(experiment)).status_code == 200


def test_a_learner_of_the_store_may_not_read_an_experiment(client, member_with_role, tenant):
    experiment = an_experiment(tenant)
    client.force_login(member_with_role(Role.LEARNER))
    response = client.get(detail_url(experiment))
    assert response.status_code == 403 and experiment.name not in response.content.decode()


def test_another_tenants_experiment_is_404_everywhere(owner_client, tenant, other_tenant):
    theirs = an_experiment(other_tenant, key="their-test")
    assert "their-test" not in owner_client.get(LIST).content.decode()
    assert owner_client.get(detail_url(theirs)).status_code == 404
    for action in ("start", "stop", "delete"):
        assert owner_client.post(detail_url(theirs, action)).status_code == 404
    assert owner_client.post(detail_url(theirs, "traffic"), {"traffic_percent": "10"}).status_code == 404
    unchanged = [(e.status, e.traffic_share) for e in experiments_of(other_tenant)]
    assert unchanged == [(ExperimentStatus.DRAFT, 1.0)]


def test_the_actions_only_take_posts(owner_client, tenant):
    experiment = an_experiment(tenant)
    for action in ("start", "stop", "traffic", "delete"):
        assert owner_client.get(detail_url(experiment, action)).status_code == 405
    assert status_of(experiment) == ExperimentStatus.DRAFT


# --- Results ---------------------------------------------------------------------------------


def started(tenant, **changes) -> Experiment:
    experiment = an_experiment(tenant, **changes)
    a_live_model(tenant)
    with tenant_scope(tenant):
        return experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)


def shoppers_served(tenant, experiment: Experiment, variant: str, *, shoppers: int, buyers: int) -> None:
    """`shoppers` shoppers each served one list by `variant`; the first `buyers` of them bought from it."""
    now = timezone.now()
    served = [
        ServedRecommendation(
            tenant=tenant, recommendation_id=f"{variant}-{number}", endpoint="recommendations",
            shopper_key=f"{variant}-shopper-{number}", experiment=experiment, variant=variant,
            product_ids=["sku-1", "sku-2"], served_at=now,
        )
        for number in range(shoppers)
    ]
    ServedRecommendation.all_tenants.bulk_create(served)
    Event.all_tenants.bulk_create([
        Event(
            tenant=tenant, event_id=f"purchase-{list_.recommendation_id}", shopper_key=list_.shopper_key,
            type="purchase", product_external_id="sku-1", occurred_at=now, value=Decimal("20.00"),
            recommendation_id=list_.recommendation_id,
        )
        for list_ in served[:buyers]
    ])


def results_section(client, experiment: Experiment) -> str:
    return section(client.get(detail_url(experiment)).content.decode(), "experiment-results")


def result_row(html: str, variant: str) -> str:
    """The cells of a variant's row in the results table."""
    return re.search(rf'<tr class="result-row" data-variant="{variant}">(.*?)</tr>', html, re.DOTALL).group(1)


def test_a_draft_has_no_results_yet(owner_client, tenant):
    html = results_section(owner_client, an_experiment(tenant))
    assert "Not enough data yet: the experiment has not started." in html


def test_a_fresh_experiment_says_there_is_not_enough_data(owner_client, tenant):
    html = results_section(owner_client, started(tenant))
    assert "Not enough data yet: no shopper has been served by the experiment so far." in html
    assert 'id="lift-chart"' not in html and 'id="results-srm"' not in html


def test_a_few_shoppers_show_their_numbers_but_no_verdict(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=20, buyers=2)
    shoppers_served(tenant, experiment, "popular", shoppers=20, buyers=6)
    html = results_section(owner_client, experiment)
    assert "a variant needs at least 100 shoppers before there is a verdict, and the smallest has 20" in html
    row = result_row(html, "popular")
    assert "30.00%" in row and "Not enough data" in row


def test_enough_shoppers_who_have_not_bought_yet_are_told_apart_from_too_few_shoppers(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=124, buyers=0)
    shoppers_served(tenant, experiment, "popular", shoppers=136, buyers=0)
    html = results_section(owner_client, experiment)
    assert "every variant has enough shoppers, but “Conversion rate” is the same for every one of them" in html
    assert "the smallest has" not in html
    row = result_row(html, "popular")
    assert "pp to" not in row  # no interval of zero width, which would read as a certain result


def test_shopper_counts_are_grouped_in_thousands_as_the_planner_is(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=1200, buyers=0)
    html = results_section(owner_client, experiment)
    assert "1,200 shoppers served in the experiment so far." in html
    row = result_row(html, "control")
    assert "<td>1,200</td>" in row


def test_a_stopped_experiment_without_a_verdict_is_not_said_to_be_still_changing(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=20, buyers=2)
    with tenant_scope(tenant):
        experiment_stop(tenant=tenant, experiment_id=experiment.pk)
    html = results_section(owner_client, experiment)
    assert "The experiment stopped before there was a verdict." in html
    assert "can still change a lot" not in html


def test_a_lift_the_always_valid_interval_cannot_tell_from_zero_is_not_conclusive_not_no_difference(
    owner_client, tenant
):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=300, buyers=33)

    row = result_row(results_section(owner_client, experiment), "popular")

    assert '<span class="badge verdict-no_difference_yet">Not conclusive yet</span>' in row
    assert "No difference" not in row


def test_the_over_time_charts_points_read_as_the_table_does(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=300, buyers=90)

    html = results_section(owner_client, experiment)

    chart = re.search(r'<figure class="chart" id="time-chart">.*?</figure>', html, re.S).group(0)
    tooltips = re.findall(r"<title>([^<]+)</title>", chart)
    assert tooltips and all(tip.endswith("%") for tip in tooltips)
    assert any(tip.startswith("control · ") and tip.endswith(" · 10.00%") for tip in tooltips)


def test_results_with_data_show_the_lift_its_interval_and_the_verdict(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=300, buyers=90)
    with tenant_scope(tenant):
        comparison = experiment_results(tenant=tenant, experiment=experiment).primary.comparisons[0]
    html = results_section(owner_client, experiment)

    assert "Not enough data" not in html
    assert "{#" not in html and "withhold_verdicts" not in html  # the table's template comment stays unseen
    control = result_row(html, "control")
    assert "10.00%" in control
    row = result_row(html, "popular")
    low, high = comparison.absolute_interval.low, comparison.absolute_interval.high
    assert "30.00%" in row and "+20.00 pp" in row and "+200.0%" in row
    assert f"{low * 100:+.2f} pp to {high * 100:+.2f} pp" in row and low > 0
    assert "Better" in row
    chart = re.search(r'<figure class="chart" id="lift-chart">.*?</figure>', html, re.S).group(0)
    assert re.search(r'<title>popular: \+200\.0% \(\+\d+\.\d% to \+\d+\.\d%\)</title>', chart)
    owner_client.cookies["django_language"] = "zh-hans"
    chinese = results_section(owner_client, experiment)
    assert re.search(r'<title>popular：\+200\.0%（\+\d+\.\d% 至 \+\d+\.\d%）</title>', chinese)
    owner_client.cookies.pop("django_language")
    planner = re.search(r'id="results-planner">(.*?)</p>', html, re.S).group(1)
    assert "each variant needs" in planner and "the control has 300 so far" in planner


def test_a_split_that_differs_from_the_design_is_flagged_in_plain_words(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=150, buyers=15)
    html = results_section(owner_client, experiment)
    warning = re.search(r'id="results-srm".*?</div>', html, re.S).group(0)
    assert "can't be trusted until the" in warning and "66.7%" in warning and "50.0%" in warning


def test_a_split_off_the_design_shows_no_verdict_in_any_metric_row_as_the_dashboard_shows_none(
    owner_client, tenant
):
    experiment = started(tenant, guardrail_metrics=["revenue_per_shopper"])
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=150, buyers=90)
    with tenant_scope(tenant):
        results = experiment_results(tenant=tenant, experiment=experiment)
    assert results.sample_ratio.flagged and results.primary.comparisons[0].verdict == "better"
    html = results_section(owner_client, experiment)
    assert 'id="results-srm"' in html
    rows = re.findall(r'<tr class="result-row" data-variant="popular">(.*?)</tr>', html, re.DOTALL)
    assert len(rows) == 2  # the primary metric and the guardrail
    for row in rows:
        assert "Withheld: see the warning above" in row
        assert "verdict-better" not in row and "Better" not in row and "Not conclusive yet" not in row


@pytest.mark.parametrize("in_both,said", [
    (1, "1 of them was served by more than one variant and counts in the variant that served them first."),
    (2, "2 of them were served by more than one variant; each counts in the variant that served them first."),
])
def test_shoppers_served_by_two_variants_are_counted_in_words_that_agree_with_their_number(
    owner_client, tenant, in_both, said
):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=3, buyers=0)
    ServedRecommendation.all_tenants.bulk_create([
        ServedRecommendation(
            tenant=tenant, recommendation_id=f"again-{number}", endpoint="recommendations",
            shopper_key=f"control-shopper-{number}", experiment=experiment, variant="popular",
            product_ids=["sku-1"], served_at=timezone.now(),
        )
        for number in range(in_both)
    ])
    html = results_section(owner_client, experiment)
    assert "3 shoppers served in the experiment so far." in html
    assert said in html


def test_with_two_treatments_the_intervals_are_labelled_unadjusted_beside_the_adjusted_p_values(
    owner_client, tenant
):
    experiment = started(tenant, variants=[
        {"name": "control", "kind": "live", "weight": 1, "is_control": True},
        {"name": "popular", "kind": "popularity", "weight": 1},
        {"name": "trending", "kind": "popularity", "weight": 1},
    ])
    for variant in ["control", "popular", "trending"]:
        shoppers_served(tenant, experiment, variant, shoppers=120, buyers=12)
    html = results_section(owner_client, experiment)
    primary = re.search(r'id="results-primary">.*?</thead>', html, re.DOTALL).group(0)
    assert primary.count("95% interval, unadjusted") == 2
    note = re.search(r'id="results-unadjusted-intervals">(.*?)</p>', html, re.DOTALL).group(1)
    assert "only the p-values are adjusted for the number of comparisons" in note
    assert "the 95% intervals (in the tables and the chart) are not" in note


def test_with_one_treatment_the_intervals_are_not_called_unadjusted(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=120, buyers=12)
    shoppers_served(tenant, experiment, "popular", shoppers=120, buyers=12)
    html = results_section(owner_client, experiment)
    assert "95% interval" in html and "unadjusted" not in html


def test_shoppers_flagged_as_bots_are_left_out_and_the_page_says_how_many_per_variant(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=20, buyers=2)
    shoppers_served(tenant, experiment, "popular", shoppers=20, buyers=6)
    FlaggedShopper.all_tenants.create(
        tenant=tenant, shopper_key="popular-shopper-0", rule="event_rate", events_per_day=900, event_count=900
    )
    html = results_section(owner_client, experiment)
    assert "39 shoppers served in the experiment so far." in html
    note = re.search(r'id="results-flagged".*?</div>', html, re.DOTALL).group(0)
    assert "1 more shopper was served but is left out of every figure here" in note
    assert "flagged them as bot-like" in note
    left_out = dict(re.findall(r'data-variant="([\w-]+)"><td><code>[\w-]+</code></td><td>(\d+)</td>', note))
    assert left_out == {"control": "0", "popular": "1"}
    assert "<td>19</td>" in result_row(html, "popular") and "26.32%" in result_row(html, "popular")


def test_no_note_of_flagged_shoppers_when_none_was_left_out(owner_client, tenant):
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=20, buyers=2)
    assert 'id="results-flagged"' not in results_section(owner_client, experiment)


# --- The charts' geometry --------------------------------------------------------------------


def test_the_lift_chart_draws_each_interval_around_its_estimate_on_either_side_of_zero():
    chart = lift_chart([("up", 0.1, -0.05, 0.25, "#000"), ("down", -0.2, -0.3, -0.1, "#111")])
    up, down = chart.marks
    zero = float(chart.zero_x)
    assert chart.plot_left < zero < chart.plot_right
    assert float(up.x_low) < zero < float(up.x) < float(up.x_high)
    assert float(down.x_low) < float(down.x) < float(down.x_high) < zero
    assert chart.low < -0.3 and chart.high > 0.25  # the axis holds every interval, with room
    assert float(up.y) < float(down.y) < chart.height


def test_a_lift_without_an_interval_is_left_out_of_the_chart():
    assert lift_chart([("zero-control", float("nan"), float("nan"), float("nan"), "#000")]) is None
    chart = lift_chart([("kept", 0.1, 0.0, 0.2, "#000"), ("no-interval", 0.1, None, None, "#111")])
    assert [mark.name for mark in chart.marks] == ["kept"]


def test_the_variants_over_time_share_one_scale():
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    chart = time_chart([
        ("control", list(zip(days, [0.10, 0.12, None])), "#000"),
        ("treatment", list(zip(days, [0.20, 0.30, 0.25])), "#111"),
    ])
    control, treatment = chart.series
    assert control.points == "10,170 240,154"  # the day without a value is left out
    assert treatment.points == "10,90 240,10 470,50"
    assert (chart.low, chart.high, chart.first_day, chart.last_day) == (0.10, 0.30, days[0], days[2])


# --- Which fields of a new design must be filled in ------------------------------------------

REQUIRED_DESIGN_FIELDS = {
    # field: what a design without it is told, in English and in Chinese
    "name": ("Give the experiment a name.", "请给实验起个名字。"),
    "key": ("Give the experiment a key.", "请为实验填写标识。"),
    "traffic_percent": ("Give the share of traffic, in percent.", "请以百分比填写流量占比。"),
    "primary_metric": ("Choose the primary metric.", "请选择主要指标。"),
}


def test_the_design_form_marks_optional_only_the_fields_the_rules_let_be_empty(owner_client):
    page = owner_client.get(NEW).content.decode()

    def label_of(name: str) -> str:
        return re.search(rf'<label for="id_{name}">.*?</label>( <span class="empty optional">[^<]*</span>)?', page).group(0)

    for name in ("name", "key", "traffic_percent"):
        assert "optional" not in label_of(name), name
        assert re.search(rf'<input [^>]*name="{name}"[^>]*\brequired\b', page), name
    assert "optional" not in label_of("primary_metric")
    assert label_of("hypothesis").endswith('<span class="empty optional">(optional)</span>')
    legend = re.search(r'id="guardrails">\s*<legend>(.*?)</legend>', page, re.DOTALL).group(1)
    assert legend.endswith('<span class="empty optional">(optional)</span>')


@pytest.mark.parametrize("field", REQUIRED_DESIGN_FIELDS)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_design_without_a_required_field_is_refused_beside_it_in_words_that_name_it(
    owner_client, tenant, field, language
):
    owner_client.cookies["django_language"] = language
    message = REQUIRED_DESIGN_FIELDS[field][language != "en"]

    html = owner_client.post(NEW, design_posted(**{field: ""})).content.decode()

    assert field_error(html, field) == message
    assert html.count(message) == 1  # the form's; the rules, asked after it, do not name it again
    assert experiments_of(tenant) == []


def test_a_name_of_spaces_is_no_name(owner_client, tenant):
    html = owner_client.post(NEW, design_posted(name="   ")).content.decode()
    assert field_error(html, "name") == "Give the experiment a name."
    assert experiments_of(tenant) == []


def test_a_design_that_leaves_the_optional_fields_empty_is_saved(owner_client, tenant):
    response = owner_client.post(NEW, design_posted(hypothesis=""))
    [experiment] = experiments_of(tenant)
    assert response.status_code == 302 and experiment.hypothesis == "" and experiment.guardrail_metrics == []
