"""The merchant dashboard: its figures, its empty states, its live jobs tile, and tenant isolation."""
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Event, ImportStatus, ProductImport
from courses.models import Certificate, Enrollment
from experiments.models import Experiment
from experiments.services import experiment_create, experiment_start
from recommendations.models import ServedRecommendation
from tenants import dashboard
from tenants.dashboard import EVENT_DAYS, event_counts_by_day
from tenants.models import ApiKeyKind, Membership, Role
from tenants.scope import tenant_scope
from tenants.services import api_key_issue
from tests.courses.factories import CourseFactory
from tests.factories import MembershipFactory, ProductFactory, UserFactory
from tests.training.factories import ModelVersionFactory, TrainingJobFactory, a_live_model
from training.models import JobStatus, VersionStatus

DASHBOARD = "/"
JOBS_FRAGMENT = "/dashboard/jobs/"
HTMX = {"HX-Request": "true"}

METRICS = {
    "validation": {
        "hybrid": {"ndcg@10": 0.1234, "recall@10": 0.2345, "hr@10": 0.3456, "mrr@10": 0.0987, "coverage@10": 0.5},
        "popularity": {"ndcg@10": 0.0511, "recall@10": 0.1022, "hr@10": 0.2033, "mrr@10": 0.0444},
        "ease": {"ndcg@10": 0.0899, "recall@10": 0.1788, "hr@10": 0.2677, "mrr@10": 0.0666},
    },
}


# --- Set-ups ---------------------------------------------------------------------------------


def days_ago(days: int) -> dt.datetime:
    """Noon of a day `days` before today, in the site's time zone: the middle of that day's bar."""
    day = timezone.localdate() - dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def events_on(tenant, when: dt.datetime, count: int, *, prefix: str = "e") -> None:
    Event.all_tenants.bulk_create([
        Event(
            tenant=tenant, event_id=f"{prefix}-{when:%Y%m%d}-{number}", shopper_key=f"shopper-{number}",
            type="view", product_external_id="SKU-1", occurred_at=when,
        )
        for number in range(count)
    ])


def running_experiment(tenant, *, key: str = "ranker-test", name: str = "Ranker test") -> Experiment:
    design = {
        "key": key, "name": name, "primary_metric": "conversion_rate",
        "variants": [
            {"name": "control", "kind": "live", "weight": 1, "is_control": True},
            {"name": "popular", "kind": "popularity", "weight": 1},
        ],
    }
    a_live_model(tenant)
    with tenant_scope(tenant):
        experiment = experiment_create(tenant=tenant, **design)
        return experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)


def shoppers_served(tenant, experiment: Experiment, variant: str, *, shoppers: int, buyers: int) -> None:
    """`shoppers` shoppers each served one list by `variant`; the first `buyers` of them bought from it."""
    now = timezone.now()
    served = ServedRecommendation.all_tenants.bulk_create([
        ServedRecommendation(
            tenant=tenant, recommendation_id=f"{variant}-{number}", endpoint="recommendations",
            shopper_key=f"{variant}-shopper-{number}", experiment=experiment, variant=variant,
            product_ids=["sku-1"], served_at=now,
        )
        for number in range(shoppers)
    ])
    Event.all_tenants.bulk_create([
        Event(
            tenant=tenant, event_id=f"purchase-{served_list.recommendation_id}", shopper_key=served_list.shopper_key,
            type="purchase", product_external_id="sku-1", occurred_at=now, value=Decimal("20.00"),
            recommendation_id=served_list.recommendation_id,
        )
        for served_list in served[:buyers]
    ])


def certified_learner(tenant, user, *, course_title: str = "Recommendations 101") -> None:
    """`user` enrolled in a platform course of that title and holding its certificate."""
    membership = Membership.all_tenants.get(tenant=tenant, user=user)
    enrollment = Enrollment.all_tenants.create(
        tenant=tenant, membership=membership, course=CourseFactory(title=course_title),
        completed_at=timezone.now(),
    )
    Certificate.all_tenants.create(
        tenant=tenant, enrollment=enrollment, learner_name=user.username, course_title=course_title
    )


def json_data(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert match, f"no json_script {element_id}"
    return json.loads(match.group(1))


def tile(html: str, tile_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{tile_id}".*?</section>', html, re.DOTALL)
    assert match, f"no tile {tile_id}"
    return match.group(0)


# --- The figures -----------------------------------------------------------------------------


def test_the_events_series_has_every_one_of_the_last_30_days_with_zeros_between_the_busy_ones(tenant):
    events_on(tenant, days_ago(0), 2)
    events_on(tenant, days_ago(3), 5)
    events_on(tenant, days_ago(11), 1)
    events_on(tenant, days_ago(EVENT_DAYS), 9)  # the day before the window: not counted
    with tenant_scope(tenant):
        series = event_counts_by_day(tenant=tenant)

    today = timezone.localdate()
    assert [day.day for day in series.days] == [today - dt.timedelta(days=n) for n in range(29, -1, -1)]
    counts = {(today - day.day).days: day.count for day in series.days}
    assert (counts[0], counts[3], counts[11]) == (2, 5, 1)
    assert sum(counts.values()) == 8 and list(counts.values()).count(0) == 27
    assert series.busiest.day == today - dt.timedelta(days=3)


def test_the_events_are_counted_in_one_query(tenant, django_assert_num_queries):
    for days in (0, 3, 11):
        events_on(tenant, days_ago(days), 3)
    with tenant_scope(tenant), django_assert_num_queries(1):
        event_counts_by_day(tenant=tenant)


def test_the_dashboard_shows_each_tiles_figures_and_links_to_their_pages(owner_client, tenant, merchant_user):
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=tenant)
    ProductFactory(tenant=tenant, in_stock=False)
    events_on(tenant, days_ago(1), 4)
    events_on(tenant, days_ago(5), 2)
    events_on(tenant, days_ago(20), 1)
    ModelVersionFactory(tenant=tenant, number=3, status=VersionStatus.LIVE, metrics=METRICS)
    job = TrainingJobFactory(
        tenant=tenant, status=JobStatus.RUNNING, progress=0.42, epoch=1, step=42, total_steps=100
    )
    running_experiment(tenant, name="Ranker test")
    certified_learner(tenant, merchant_user)

    html = owner_client.get(DASHBOARD).content.decode()

    catalog = tile(html, "dashboard-catalog")
    assert 'class="figure">3<' in catalog and "2 in stock" in catalog and 'href="/catalog/' in catalog

    events = tile(html, "dashboard-events")
    assert 'id="dashboard-events-total">7<' in events and 'href="/catalog/events/"' in events
    counts = json_data(html, "dashboard-events-data")["counts"]
    assert len(counts) == 30 and (counts[-2], counts[-6], counts[-21]) == (4, 2, 1) and sum(counts) == 7
    assert "7 in all" in events  # the chart's text alternative

    model = tile(html, "dashboard-model")
    assert "v3" in model and "0.1234" in model and 'href="/training/models/"' in model
    chart = json_data(html, "dashboard-model-data")
    assert chart["labels"] == ["NDCG@10", "Recall@10", "Hit rate@10", "MRR@10"]
    bars = {dataset["label"]: dataset["data"] for dataset in chart["datasets"]}
    assert bars == {
        "Hybrid (ours)": [0.1234, 0.2345, 0.3456, 0.0987],
        "Popularity": [0.0511, 0.1022, 0.2033, 0.0444],
        "EASE": [0.0899, 0.1788, 0.2677, 0.0666],
    }

    jobs = tile(html, "dashboard-jobs")
    assert f'href="/training/jobs/{job.pk}/"' in jobs
    assert 'value="42"' in jobs and "Epoch 1 of 2 · step 42 of 100" in jobs

    experiments = tile(html, "dashboard-experiments")
    assert "Ranker test" in experiments and "popular against control" in experiments
    assert "Not enough data" in experiments

    learning = tile(html, "dashboard-learning")
    assert 'id="dashboard-enrollments">1<' in learning and 'id="dashboard-certificates">1<' in learning
    assert 'href="/courses/"' in learning


def queries_of_dashboard(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(DASHBOARD).status_code == 200
    return len(captured.captured_queries)


def test_the_dashboard_reads_as_many_queries_for_a_busy_tenant_as_for_a_quiet_one(owner_client, tenant):
    ProductFactory(tenant=tenant)
    events_on(tenant, days_ago(1), 1)
    TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)
    quiet = queries_of_dashboard(owner_client)

    for _ in range(5):
        ProductFactory(tenant=tenant)
    for days in range(2, 25, 3):
        events_on(tenant, days_ago(days), 4)
    for _ in range(3):
        TrainingJobFactory(tenant=tenant, status=JobStatus.QUEUED)

    assert queries_of_dashboard(owner_client) == quiet


def test_a_running_experiment_shows_the_verdict_its_page_shows(owner_client, tenant):
    experiment = running_experiment(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=300, buyers=90)

    experiments = tile(owner_client.get(DASHBOARD).content.decode(), "dashboard-experiments")

    verdict = re.search(r'<li data-variant="popular">(.*?)</li>', experiments, re.DOTALL).group(1)
    assert "verdict-better" in verdict and "Better" in verdict and "+200.0%" in verdict
    # The lift with its interval, as the experiment's page gives it: a bare +200% says too much.
    assert re.search(r"\+200\.0% \(95% interval \+\d+\.\d% to \+\d+\.\d%\)", verdict)
    assert f'href="/experiments/{experiment.pk}/"' in experiments


def test_a_running_experiment_whose_split_is_off_the_design_shows_the_warning_not_a_verdict(owner_client, tenant):
    experiment = running_experiment(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=300, buyers=30)
    shoppers_served(tenant, experiment, "popular", shoppers=450, buyers=90)

    experiments = tile(owner_client.get(DASHBOARD).content.decode(), "dashboard-experiments")

    assert "data-sample-ratio-mismatch" in experiments and "Do not trust these results yet" in experiments
    assert "verdict-" not in experiments


def test_a_new_store_sees_its_steps_to_a_first_model_in_order_with_the_data_it_still_needs(owner_client, tenant):
    from tests.factories import ProductFactory

    ProductFactory(tenant=tenant)
    html = owner_client.get(DASHBOARD).content.decode()
    steps = tile(html, "getting-started")
    assert [step for step in ("catalog", "events", "train", "live") if f'data-step="{step}"' in steps] == [
        "catalog", "events", "train", "live"]
    assert 'class="done" data-step="catalog"' in steps and 'class="todo" data-step="events"' in steps
    assert "You have 0 events from 0 shoppers; fine-tuning needs at least 200 events from 20 shoppers." in steps
    assert 'href="/training/jobs/new/"' not in steps  # not before there is enough to learn from


def test_a_store_whose_first_job_is_queued_is_pointed_to_it_not_asked_to_start_another(owner_client, tenant):
    ProductFactory(tenant=tenant)
    events_on(tenant, days_ago(1), 200)
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.QUEUED)

    html = owner_client.get(DASHBOARD).content.decode()

    steps = tile(html, "getting-started")
    train_step = re.search(r'<li[^>]*data-step="train".*?</li>', steps, re.DOTALL).group(0)
    assert f'href="/training/jobs/{job.pk}/"' in train_step and "Queued" in train_step
    assert 'href="/training/jobs/new/"' not in train_step
    model = tile(html, "dashboard-model")
    assert "A fine-tuning job is under way" in model and f'href="/training/jobs/{job.pk}/"' in model
    assert "Start your first fine-tuning job" not in model


def test_a_store_with_a_live_model_no_longer_sees_the_first_steps(owner_client, tenant):
    from tests.training.factories import a_live_model

    a_live_model(tenant)
    assert 'id="getting-started"' not in owner_client.get(DASHBOARD).content.decode()


def test_an_empty_tenant_is_told_what_to_do_next(owner_client, tenant):
    html = owner_client.get(DASHBOARD).content.decode()

    assert 'href="/catalog/import/"' in tile(html, "dashboard-catalog")
    assert "Import a catalog" in tile(html, "dashboard-catalog")
    assert "dashboard-events-empty" in html and "dashboard-events-data" not in html
    model = tile(html, "dashboard-model")
    assert "Start your first fine-tuning job" in model and 'href="/training/jobs/new/"' in model
    assert "No fine-tuning job is running or queued." in tile(html, "dashboard-jobs")
    assert "hx-trigger" not in html  # nothing to watch
    experiments = tile(html, "dashboard-experiments")
    assert "Create an experiment" in experiments and 'href="/experiments/new/"' in experiments
    assert "No one in your team has enrolled yet" in tile(html, "dashboard-learning")


def test_an_import_whose_worker_was_lost_shows_as_failed_not_as_importing(owner_client, tenant):
    silent_since = timezone.now() - ProductImport.RUNNING_LOST_AFTER - dt.timedelta(minutes=1)
    ProductImport.all_tenants.create(
        tenant=tenant, filename="catalog.csv", file_format="csv", status=ImportStatus.RUNNING,
        started_at=silent_since, progress_at=silent_since,
    )

    imports = tile(owner_client.get(DASHBOARD).content.decode(), "dashboard-import")

    assert ">Failed</a>" in imports and "Importing" not in imports


def test_versions_without_a_live_one_point_to_the_models_page_not_to_a_first_job(owner_client, tenant):
    ModelVersionFactory(tenant=tenant, status=VersionStatus.CANDIDATE)
    model = tile(owner_client.get(DASHBOARD).content.decode(), "dashboard-model")
    assert "No model version is live" in model and "Start your first fine-tuning job" not in model


def test_an_analyst_sees_no_links_to_pages_only_owners_and_admins_may_open(analyst_client, tenant):
    html = analyst_client.get(DASHBOARD).content.decode()
    for owners_only in ('href="/training/jobs/new/"', 'href="/experiments/new/"', 'href="/settings/api-keys/"'):
        assert owners_only not in html
    assert "Owners and admins can start your first fine-tuning job." in html


def test_the_page_loads_htmx_and_chartjs_from_the_site_itself(owner_client, tenant):
    html = owner_client.get(DASHBOARD).content.decode()
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert "/static/vendor/htmx/htmx.min.js" in sources
    assert "/static/vendor/chartjs/chart.umd.min.js" in sources
    assert "/static/js/dashboard.js" in sources
    assert all(source.startswith("/static/") for source in sources)
    vendor = Path(settings.BASE_DIR) / "static" / "vendor"
    for shipped in ("htmx/htmx.min.js", "htmx/LICENSE", "chartjs/chart.umd.min.js", "chartjs/LICENSE.md"):
        assert (vendor / shipped).is_file()


# --- Tenant isolation ------------------------------------------------------------------------


def test_one_tenants_dashboard_shows_nothing_of_another_tenants(owner_client, tenant, other_tenant):
    ProductFactory(tenant=tenant)
    for _ in range(7):
        ProductFactory(tenant=other_tenant, title="Globex Oolong Tea", in_stock=False)
    events_on(other_tenant, days_ago(2), 55, prefix="globex")
    ModelVersionFactory(
        tenant=other_tenant, number=17, status=VersionStatus.LIVE,
        metrics={"validation": {"hybrid": {"ndcg@10": 0.9876}, "als": {"ndcg@10": 0.8765}}},
    )
    their_job = TrainingJobFactory(tenant=other_tenant, status=JobStatus.RUNNING, progress=0.77)
    their_experiment = running_experiment(other_tenant, key="globex-pricing", name="Globex pricing test")
    globex_learner = UserFactory(username="learner@globex.test")
    MembershipFactory(tenant=other_tenant, user=globex_learner, role=Role.LEARNER)
    certified_learner(other_tenant, globex_learner, course_title="Globex onboarding")

    html = owner_client.get(DASHBOARD).content.decode()

    for theirs in ("Globex", "Oolong", "0.9876", "0.8765", "ALS", "v17", 'value="77"',
                   f"/training/jobs/{their_job.pk}/", f"/experiments/{their_experiment.pk}/"):
        assert theirs not in html
    assert 'class="figure">1<' in tile(html, "dashboard-catalog")
    assert "dashboard-events-empty" in html and "dashboard-events-data" not in html
    assert "Start your first fine-tuning job" in tile(html, "dashboard-model")
    assert "No experiment is running" in tile(html, "dashboard-experiments")
    assert "No one in your team has enrolled yet" in tile(html, "dashboard-learning")


# --- The live jobs tile ----------------------------------------------------------------------


def test_htmx_gets_the_jobs_tile_alone_asking_for_itself_again_while_a_job_runs(owner_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING, progress=0.5, epoch=1, step=5, total_steps=10)
    queued = TrainingJobFactory(tenant=tenant, status=JobStatus.QUEUED)

    response = owner_client.get(JOBS_FRAGMENT, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<body" not in html and "topbar" not in html
    assert html.strip().startswith('<section class="tile dash-tile dash-wide" id="dashboard-jobs"')
    assert 'hx-get="/dashboard/jobs/"' in html and 'hx-trigger="every 3s"' in html and 'hx-swap="outerMorph"' in html
    assert f'id="dashboard-job-{job.pk}"' in html and 'value="50"' in html
    assert f'id="dashboard-job-{queued.pk}"' in html and "Not started yet" in html
    # The running job first: the queue's order.
    assert html.index(f"dashboard-job-{job.pk}") < html.index(f"dashboard-job-{queued.pk}")


def test_the_tile_stops_asking_once_the_last_job_has_ended(owner_client, tenant):
    TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED, progress=1.0)

    html = owner_client.get(JOBS_FRAGMENT, headers=HTMX).content.decode()

    assert "hx-get" not in html and "hx-trigger" not in html
    assert "The job has ended." in html and 'href="/"' in html


def test_the_jobs_tile_shows_only_the_active_tenants_jobs(owner_client, tenant, other_tenant):
    mine = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING, progress=0.1)
    theirs = TrainingJobFactory(tenant=other_tenant, status=JobStatus.RUNNING, progress=0.9)

    html = owner_client.get(JOBS_FRAGMENT, headers=HTMX).content.decode()

    assert f"dashboard-job-{mine.pk}" in html
    assert f"dashboard-job-{theirs.pk}" not in html and 'value="90"' not in html


def test_another_tenants_running_job_does_not_start_the_polling(owner_client, tenant, other_tenant):
    TrainingJobFactory(tenant=other_tenant, status=JobStatus.RUNNING)
    html = owner_client.get(JOBS_FRAGMENT, headers=HTMX).content.decode()
    assert "hx-trigger" not in html and "No fine-tuning job is running or queued." in html


def test_the_fragment_opened_without_htmx_leads_to_the_dashboard(owner_client, tenant):
    response = owner_client.get(JOBS_FRAGMENT)
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_poll_after_the_session_ended_reloads_the_page_instead_of_showing_the_login_form(client, db):
    response = client.get(JOBS_FRAGMENT, headers=HTMX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert b"password" not in response.content


def test_the_fragment_without_htmx_needs_a_login(client, db):
    response = client.get(JOBS_FRAGMENT)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_analyst_may_watch_the_jobs(client, member_with_role, tenant):
    TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)
    client.force_login(member_with_role(Role.ANALYST))
    response = client.get(JOBS_FRAGMENT, headers=HTMX)
    assert response.status_code == 200 and 'hx-trigger="every 3s"' in response.content.decode()


def test_a_learner_of_the_store_may_not_watch_its_jobs(client, member_with_role, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)
    client.force_login(member_with_role(Role.LEARNER))
    response = client.get(JOBS_FRAGMENT, headers=HTMX)
    assert response.status_code == 403 and f"/training/jobs/{job.pk}/" not in response.content.decode()


def test_a_running_experiments_analysis_is_kept_a_minute_not_rerun_on_every_load(owner_client, tenant):
    running_experiment(tenant)
    with mock.patch("tenants.dashboard.experiment_results", wraps=dashboard.experiment_results) as analysis:
        owner_client.get(DASHBOARD)
        owner_client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert analysis.call_count == 1


def test_the_api_keys_tile_says_one_key_in_the_singular_and_more_in_the_plural(owner_client, tenant):
    def tile() -> str:
        html = owner_client.get("/").content.decode()
        return re.search(r'id="dashboard-api-keys".*?</section>', html, re.DOTALL).group(0)

    with tenant_scope(tenant):
        api_key_issue(tenant=tenant, name="Storefront", kind=ApiKeyKind.SECRET)
    assert re.search(r'<span class="figure">1</span>active API key\s*</section>', tile())
    with tenant_scope(tenant):
        api_key_issue(tenant=tenant, name="Browser", kind=ApiKeyKind.PUBLISHABLE)
    assert '<span class="figure">2</span>active API keys' in tile()
