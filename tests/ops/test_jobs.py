"""The ops console's jobs table: staff only and hidden, every tenant's jobs, filters, and
Retry and Cancel on stuck jobs."""
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tenants.models import Role, Tenant
from tests.factories import MembershipFactory, UserFactory
from training.models import JobStatus, TrainingJob

HEARTBEAT_LOST = timedelta(minutes=10)


def _row(response, job) -> str:
    """The <tr> of the job in the jobs table; fails the test when the job is not listed."""
    html = response.content.decode()
    match = re.search(rf'<tr id="job-{job.pk}"[^>]*>.*?</tr>', html, re.DOTALL)
    assert match, f"job {job.pk} is not in the table"
    return match.group(0)


def _listed_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'<tr id="job-(\d+)"', response.content.decode())}


@pytest.fixture
def stale_after_a_minute(settings):
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 60


@pytest.fixture
def stuck_job(tenant, make_job, stale_after_a_minute):
    return make_job(
        tenant, status=JobStatus.RUNNING, attempts=2, worker_host="gpu-1",
        started_at=timezone.now() - timedelta(hours=1), heartbeat_at=timezone.now() - HEARTBEAT_LOST,
    )


# --- Who may see it --------------------------------------------------------------------------


@pytest.mark.parametrize("url_name", ["ops:jobs", "ops:system"])
def test_an_anonymous_visitor_gets_404_not_a_login_page(client, db, url_name):
    assert client.get(reverse(url_name)).status_code == 404


@pytest.mark.parametrize("url_name", ["ops:jobs", "ops:system"])
def test_a_merchant_owner_gets_404(owner_client, url_name):
    assert owner_client.get(reverse(url_name)).status_code == 404


@pytest.mark.parametrize("url_name", ["ops:job-retry", "ops:job-cancel"])
def test_a_merchant_cannot_retry_or_cancel_and_gets_404(owner_client, stuck_job, url_name):
    assert owner_client.post(reverse(url_name, args=[stuck_job.pk])).status_code == 404
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.RUNNING and stuck_job.attempts == 2


@pytest.mark.parametrize("url_name", ["ops:job-retry", "ops:job-cancel"])
def test_an_anonymous_visitor_cannot_retry_or_cancel_and_gets_404(client, stuck_job, url_name):
    assert client.post(reverse(url_name, args=[stuck_job.pk])).status_code == 404
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.RUNNING


def test_retry_and_cancel_take_only_post(staff_client, stuck_job):
    assert staff_client.get(reverse("ops:job-retry", args=[stuck_job.pk])).status_code == 405
    assert staff_client.get(reverse("ops:job-cancel", args=[stuck_job.pk])).status_code == 405


def test_a_job_that_does_not_exist_is_a_404(staff_client):
    assert staff_client.post(reverse("ops:job-retry", args=[999999])).status_code == 404


def test_the_console_is_at_ops(db):
    assert reverse("ops:jobs") == "/ops/"


# --- The jobs of every tenant ----------------------------------------------------------------


def test_staff_without_a_tenant_see_the_jobs_of_every_tenant(staff_client, tenant, other_tenant, make_job):
    ours, theirs = make_job(tenant), make_job(other_tenant, status=JobStatus.SUCCEEDED)
    response = staff_client.get(reverse("ops:jobs"))
    assert response.status_code == 200
    assert _listed_ids(response) == {ours.pk, theirs.pk}
    assert "Acme Grocer" in _row(response, ours) and "Globex Market" in _row(response, theirs)
    # The console's own navigation stands in for the merchant's, which needs a tenant.
    assert reverse("ops:system") in response.content.decode()


def test_staff_who_are_also_a_merchant_still_see_every_tenant(client, staff_user, tenant, other_tenant, make_job):
    MembershipFactory(tenant=tenant, user=staff_user, role=Role.OWNER)
    client.force_login(staff_user)
    jobs = {make_job(tenant).pk, make_job(other_tenant).pk}
    assert _listed_ids(client.get(reverse("ops:jobs"))) == jobs


def test_staff_who_are_also_a_merchant_read_the_consoles_times_in_utc_not_their_stores_zone(
    client, staff_user, tenant, make_job
):
    Tenant.objects.filter(pk=tenant.pk).update(time_zone="Asia/Shanghai")
    MembershipFactory(tenant=tenant, user=staff_user, role=Role.OWNER)
    client.force_login(staff_user)
    job = make_job(tenant)
    TrainingJob.all_tenants.filter(pk=job.pk).update(
        created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    )
    html = client.get(reverse("ops:jobs")).content.decode()
    assert "2026-03-01 23:30" in _row(client.get(reverse("ops:jobs")), job)  # not Shanghai's 07:30 the next day
    assert 'id="ops-time-zone">Times in UTC<' in html


def test_the_status_filter_keeps_jobs_of_that_status(staff_client, tenant, make_job):
    failed = make_job(tenant, status=JobStatus.FAILED, error="CUDA out of memory")
    make_job(tenant, status=JobStatus.SUCCEEDED)
    response = staff_client.get(reverse("ops:jobs"), {"status": "failed"})
    assert _listed_ids(response) == {failed.pk}
    assert "CUDA out of memory" in _row(response, failed)


def test_the_tenant_filter_keeps_that_tenants_jobs(staff_client, tenant, other_tenant, make_job):
    make_job(tenant)
    theirs = make_job(other_tenant)
    assert _listed_ids(staff_client.get(reverse("ops:jobs"), {"tenant": other_tenant.pk})) == {theirs.pk}


def test_the_age_filter_leaves_out_older_jobs(staff_client, tenant, make_job):
    recent, old = make_job(tenant), make_job(tenant)
    type(old).all_tenants.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert _listed_ids(staff_client.get(reverse("ops:jobs"), {"age": "day"})) == {recent.pk}
    assert _listed_ids(staff_client.get(reverse("ops:jobs"), {"age": "week"})) == {recent.pk, old.pk}


def test_filters_combine(staff_client, tenant, other_tenant, make_job):
    make_job(tenant, status=JobStatus.FAILED)
    make_job(other_tenant, status=JobStatus.SUCCEEDED)
    wanted = make_job(other_tenant, status=JobStatus.FAILED)
    response = staff_client.get(reverse("ops:jobs"), {"status": "failed", "tenant": other_tenant.pk, "age": "hour"})
    assert _listed_ids(response) == {wanted.pk}


def test_a_filter_value_that_does_not_fit_is_ignored(staff_client, tenant, make_job):
    job = make_job(tenant)
    response = staff_client.get(reverse("ops:jobs"), {"status": "exploded", "tenant": "abc", "age": "century"})
    assert response.status_code == 200 and _listed_ids(response) == {job.pk}


def test_a_filter_value_that_does_not_fit_is_named_beside_its_field(staff_client, tenant, make_job):
    make_job(tenant)
    html = staff_client.get(reverse("ops:jobs"), {"status": "exploded", "age": "century"}).content.decode()

    assert 'id="id_status_error"' in html and "exploded" in html
    assert 'id="id_age_error"' in html
    assert 'id="id_tenant_error"' not in html


def test_the_jobs_are_paginated_and_the_pages_keep_the_filters(staff_client, tenant, make_job):
    for _ in range(30):
        make_job(tenant, status=JobStatus.FAILED)
    first = staff_client.get(reverse("ops:jobs"), {"status": "failed"})
    assert len(_listed_ids(first)) == 25
    assert "status=failed&amp;page=2" in first.content.decode()
    second = staff_client.get(reverse("ops:jobs"), {"status": "failed", "page": 2})
    assert len(_listed_ids(second)) == 5


# --- Stuck jobs ------------------------------------------------------------------------------


def test_a_running_job_with_an_old_heartbeat_is_flagged_stuck_with_retry_and_cancel(staff_client, stuck_job):
    response = staff_client.get(reverse("ops:jobs"))
    row = _row(response, stuck_job)
    assert row.startswith(f'<tr id="job-{stuck_job.pk}" class="stuck">')
    assert re.search(r"<button[^>]*>\s*Retry\s*</button>", row)
    assert reverse("ops:job-retry", args=[stuck_job.pk]) in row
    assert reverse("ops:job-cancel", args=[stuck_job.pk]) in row
    assert "csrfmiddlewaretoken" in row
    assert "1 stuck job" in response.content.decode()


def test_a_running_job_with_a_fresh_heartbeat_is_not_stuck(staff_client, tenant, make_job, stale_after_a_minute):
    alive = make_job(tenant, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    row = _row(staff_client.get(reverse("ops:jobs")), alive)
    assert 'class="stuck"' not in row and "Retry" not in row


def test_the_stuck_filter_lists_only_stuck_jobs(staff_client, tenant, stuck_job, make_job):
    make_job(tenant, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    make_job(tenant, status=JobStatus.QUEUED)
    assert _listed_ids(staff_client.get(reverse("ops:jobs"), {"status": "stuck"})) == {stuck_job.pk}


def test_retry_queues_a_stuck_job_again_with_fresh_attempts(
    staff_client, stuck_job, django_capture_on_commit_callbacks
):
    with (
        mock.patch("training.tasks.training_job_run_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = staff_client.post(reverse("ops:job-retry", args=[stuck_job.pk]), {"next": "/ops/?status=stuck"})
    assert response.status_code == 302 and response["Location"] == "/ops/?status=stuck"
    delay.assert_called_once_with(tenant_id=stuck_job.tenant_id, job_id=stuck_job.pk)
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.QUEUED
    assert stuck_job.attempts == 0 and stuck_job.heartbeat_at is None and stuck_job.error == ""


def test_retry_of_a_job_of_another_tenant_than_the_staffs_own(
    client, staff_user, other_tenant, make_job, tenant, stale_after_a_minute, django_capture_on_commit_callbacks
):
    # The staff member works in `tenant`; the retry must run in the job's tenant's scope.
    MembershipFactory(tenant=tenant, user=staff_user, role=Role.OWNER)
    client.force_login(staff_user)
    theirs = make_job(other_tenant, status=JobStatus.RUNNING, heartbeat_at=timezone.now() - HEARTBEAT_LOST)
    with mock.patch("training.tasks.training_job_run_task.delay"), django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ops:job-retry", args=[theirs.pk]))
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.QUEUED


def test_retry_refused_by_the_training_rules_leaves_the_stuck_job_as_it_was(
    staff_client, stuck_job, tenant, make_job
):
    make_job(tenant, status=JobStatus.QUEUED)  # the tenant may have one active job
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        response = staff_client.post(reverse("ops:job-retry", args=[stuck_job.pk]), follow=True)
    delay.assert_not_called()
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.RUNNING and stuck_job.heartbeat_at is not None
    assert "Another job is queued or running" in response.content.decode()


def test_cancel_first_says_what_it_does_and_cancels_nothing_until_confirmed(staff_client, stuck_job):
    row = _row(staff_client.get(reverse("ops:jobs"), {"status": "stuck"}), stuck_job)
    confirm_url = reverse("ops:job-cancel-confirm", args=[stuck_job.pk])
    # The table offers a link to the question, not a button that cancels on the spot.
    assert f'href="{confirm_url}?next=/ops/%3Fstatus%3Dstuck"' in row
    assert f'action="{reverse("ops:job-cancel", args=[stuck_job.pk])}"' not in row

    page = staff_client.get(confirm_url, {"next": "/ops/?status=stuck"}).content.decode()
    assert f"Cancel job #{stuck_job.number} of Acme Grocer?" in page
    assert "Its worker sends no heartbeat: the job is cancelled at once." in page
    assert f'action="{reverse("ops:job-cancel", args=[stuck_job.pk])}"' in page
    assert 'name="next" value="/ops/?status=stuck"' in page
    assert 'href="/ops/?status=stuck">Keep the job' in page
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.RUNNING and not stuck_job.cancel_requested


def test_the_cancel_question_of_a_job_with_a_live_worker_says_it_stops_after_its_step(
    staff_client, tenant, make_job, stale_after_a_minute
):
    alive = make_job(tenant, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    page = staff_client.get(reverse("ops:job-cancel-confirm", args=[alive.pk])).content.decode()
    assert "Its worker stops it after the current training step." in page


def test_the_cancel_question_of_a_job_finished_meanwhile_says_why_it_cannot(staff_client, tenant, make_job):
    done = make_job(tenant, status=JobStatus.SUCCEEDED)
    url = reverse("ops:job-cancel-confirm", args=[done.pk])
    response = staff_client.get(url, {"next": "https://evil.test/"})
    assert response.status_code == 302 and response["Location"] == "/ops/"
    assert "The job has already finished" in staff_client.get("/ops/").content.decode()


def test_the_cancel_question_is_a_404_for_a_merchant_and_an_anonymous_visitor(
    client, owner_client, stuck_job
):
    url = reverse("ops:job-cancel-confirm", args=[stuck_job.pk])
    assert owner_client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 404


def test_cancel_ends_a_stuck_job_at_once(staff_client, stuck_job):
    response = staff_client.post(reverse("ops:job-cancel", args=[stuck_job.pk]), follow=True)
    stuck_job.refresh_from_db()
    assert stuck_job.status == JobStatus.CANCELLED and stuck_job.finished_at is not None
    assert f"Job #{stuck_job.number} of Acme Grocer is cancelled." in response.content.decode()


def test_cancel_asks_a_job_with_a_live_worker_to_stop(staff_client, tenant, make_job, stale_after_a_minute):
    alive = make_job(tenant, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    staff_client.post(reverse("ops:job-cancel", args=[alive.pk]))
    alive.refresh_from_db()
    assert alive.status == JobStatus.RUNNING and alive.cancel_requested


def test_cancel_of_a_finished_job_says_why_it_cannot(staff_client, tenant, make_job):
    done = make_job(tenant, status=JobStatus.SUCCEEDED)
    response = staff_client.post(reverse("ops:job-cancel", args=[done.pk]), follow=True)
    assert "The job has already finished" in response.content.decode()


def test_the_buttons_never_send_staff_to_another_site(staff_client, stuck_job):
    response = staff_client.post(reverse("ops:job-cancel", args=[stuck_job.pk]), {"next": "https://evil.test/ops/"})
    assert response["Location"] == "/ops/"


# --- Who did what ------------------------------------------------------------------------------


def test_a_staff_retry_is_recorded_with_who_took_it(
    staff_client, staff_user, stuck_job, django_capture_on_commit_callbacks
):
    with mock.patch("training.tasks.training_job_run_task.delay"), django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("ops:job-retry", args=[stuck_job.pk]))
    entry = LogEntry.objects.get(object_id=str(stuck_job.pk))
    assert entry.user == staff_user and entry.action_flag == CHANGE
    assert entry.content_type.model_class() is TrainingJob
    assert entry.change_message.startswith("Retried from the ops console")


def test_a_staff_cancel_is_recorded_with_who_took_it(staff_client, staff_user, stuck_job):
    staff_client.post(reverse("ops:job-cancel", args=[stuck_job.pk]))
    entry = LogEntry.objects.get(object_id=str(stuck_job.pk))
    assert entry.user == staff_user and entry.change_message.startswith("Cancelled from the ops console")


@pytest.mark.parametrize("language, says", [
    ("en", "Platform support cancelled this job."),
    ("zh-hans", "平台支持团队取消了这个任务。"),
])
def test_the_merchant_reads_on_the_jobs_page_that_platform_support_acted_on_it(
    staff_client, stuck_job, merchant_user, language, says
):
    staff_client.post(reverse("ops:job-cancel", args=[stuck_job.pk]))
    merchant = Client()
    merchant.force_login(merchant_user)
    merchant.cookies["django_language"] = language
    page = merchant.get(reverse("training-job-detail", args=[stuck_job.pk])).content.decode()
    section = page[page.index('id="staff-actions"'):]
    assert says in section
    assert "ops@platform.test" not in section  # which staff member, the platform's admin log keeps


def test_a_stop_asked_by_platform_support_is_said_in_the_past_once_the_job_has_stopped(
    staff_client, tenant, make_job, merchant_user
):
    running = make_job(tenant, status=JobStatus.RUNNING, worker_host="gpu-1", heartbeat_at=timezone.now())
    staff_client.post(reverse("ops:job-cancel", args=[running.pk]))
    merchant = Client()
    merchant.force_login(merchant_user)
    page = merchant.get(reverse("training-job-detail", args=[running.pk])).content.decode()
    assert "Platform support asked this job to stop; it stops within a training step." in page
    TrainingJob.all_tenants.filter(pk=running.pk).update(status=JobStatus.CANCELLED)
    page = merchant.get(reverse("training-job-detail", args=[running.pk])).content.decode()
    assert "Platform support asked this job to stop." in page and "within a training step" not in page


def test_an_action_the_rules_refuse_leaves_no_record(staff_client, tenant, make_job):
    done = make_job(tenant, status=JobStatus.SUCCEEDED)
    staff_client.post(reverse("ops:job-cancel", args=[done.pk]))
    assert not LogEntry.objects.exists()


# --- Learners' sandboxes -----------------------------------------------------------------------


@pytest.fixture
def two_learners_sandboxes(tenant):
    sandboxes = []
    for email in ("li@acme.test", "mo@acme.test"):
        learner = UserFactory(username=email, email=email)
        sandboxes.append(Tenant.objects.create(
            name="Acme Grocer (sandbox)", slug=f"sandbox-{learner.pk}", sandbox_of=tenant, sandbox_owner=learner
        ))
    return sandboxes


def test_each_sandbox_job_names_the_store_and_its_learner(staff_client, two_learners_sandboxes, make_job):
    first, second = (make_job(sandbox) for sandbox in two_learners_sandboxes)
    response = staff_client.get(reverse("ops:jobs"))
    assert "Acme Grocer (sandbox of li@acme.test)" in _row(response, first)
    assert "Acme Grocer (sandbox of mo@acme.test)" in _row(response, second)
    options = re.findall(r"<option[^>]*>([^<]*)</option>", response.content.decode())
    assert {"Acme Grocer (sandbox of li@acme.test)", "Acme Grocer (sandbox of mo@acme.test)"} <= set(options)


def test_the_jobs_page_reads_sandboxes_without_a_query_per_row(
    staff_client, tenant, two_learners_sandboxes, make_job, django_assert_max_num_queries
):
    for _ in range(3):
        make_job(tenant)
    with CaptureQueriesContext(connection) as real_stores_only:
        staff_client.get(reverse("ops:jobs"))
    for sandbox in two_learners_sandboxes * 5:
        make_job(sandbox)
    with django_assert_max_num_queries(len(real_stores_only.captured_queries)):
        staff_client.get(reverse("ops:jobs"))


def test_the_jobs_table_and_the_stuck_count_read_an_index_not_every_job(db):
    from ops.selectors import JobFilters, ops_job_list, stuck_job_q

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a table this small is scanned; ask what it would use
            cursor.execute("SET LOCAL enable_seqscan = off")
    newest_first = ops_job_list(filters=JobFilters())[:25].explain()  # a page of the table
    stuck = TrainingJob.all_tenants.filter(stuck_job_q()).explain()
    assert "job_created" in newest_first and "job_status_heartbeat" in stuck
    assert "TEMP B-TREE FOR ORDER BY" not in newest_first  # SQLite's words for sorting every row
