"""Staff find a stuck fine-tuning job in the ops console, among every tenant's jobs, and retry it.

A stuck job is a running job whose heartbeat is older than TRAINING_HEARTBEAT_STALE_SECONDS:
its worker is gone (training.tasks.training_jobs_reap_task takes such jobs back too).
"""

import re
from datetime import timedelta

import pytest
from celery import Task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.conftest import NEEDS_CHROMIUM, log_in
from tests.factories import TenantFactory, UserFactory
from tests.training.factories import TrainingJobFactory
from training.models import JobStatus, TrainingJob
from training.tasks import training_job_run_task

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

STUCK_CLASS = re.compile(r"\bstuck\b")


@pytest.fixture
def staff_user():
    """Platform staff: a member of no tenant."""
    return UserFactory(username="ops@platform.test", is_staff=True)


@pytest.fixture
def stuck_job():
    long_ago = timezone.now() - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS + 600)
    return TrainingJobFactory(
        tenant=TenantFactory(name="Acme Grocer"), status=JobStatus.RUNNING, attempts=1,
        started_at=long_ago, heartbeat_at=long_ago, worker_host="gpu-worker-lost",
    )


@pytest.fixture
def healthy_job():
    now = timezone.now()
    return TrainingJobFactory(
        tenant=TenantFactory(name="Globex Market"), status=JobStatus.RUNNING, attempts=1,
        started_at=now - timedelta(minutes=5), heartbeat_at=now, worker_host="gpu-worker-1",
    )


@pytest.fixture
def tasks_sent(monkeypatch) -> list[tuple[str, dict]]:
    """The tasks sent to the workers: (name, keyword arguments). Recorded instead of sent: a worker
    started here would run the job at once (and fail it: its settings are made up), and without
    one the message would stay in the broker for the next worker, of another test run, to find.

    Patched on Celery's Task class, not on the task: the server's thread may see the task through
    another Celery app than the test's (a shared task has one instance per app)."""
    sent = []

    def record(task, args=None, kwargs=None, **_options):
        sent.append((task.name, kwargs or {}))

    monkeypatch.setattr(Task, "apply_async", record)
    return sent


@pytest.mark.django_db(transaction=True)
def test_staff_find_the_stuck_job_among_every_tenants_jobs_and_queue_it_again(
    page: Page, staff_user, stuck_job, healthy_job, tasks_sent
):
    log_in(page, staff_user.username)
    page.goto(reverse("ops:jobs"))

    stuck_row, healthy_row = page.locator(f"#job-{stuck_job.pk}"), page.locator(f"#job-{healthy_job.pk}")
    expect(stuck_row).to_contain_text("Acme Grocer")
    expect(healthy_row).to_contain_text("Globex Market")
    expect(stuck_row).to_have_class(STUCK_CLASS)
    expect(healthy_row).not_to_have_class(STUCK_CLASS)
    expect(healthy_row.get_by_role("button", name="Retry")).to_have_count(0)

    stuck_row.get_by_role("button", name="Retry").click()

    expect(stuck_row).not_to_have_class(STUCK_CLASS)
    expect(stuck_row).to_contain_text("Queued")
    expect(stuck_row.get_by_role("button", name="Retry")).to_have_count(0)
    assert TrainingJob.all_tenants.get(pk=stuck_job.pk).status == JobStatus.QUEUED
    job_run = (training_job_run_task.name, {"tenant_id": stuck_job.tenant_id, "job_id": stuck_job.pk})
    assert tasks_sent == [job_run]
    assert TrainingJob.all_tenants.get(pk=healthy_job.pk).status == JobStatus.RUNNING
