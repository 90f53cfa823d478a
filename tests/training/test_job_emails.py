"""A member who asks for it, as they start a fine-tuning job, is emailed how it ended, in the
language they started it in: the version made and whether it is live, or why the job failed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from tenants.scope import tenant_scope
from tests.training.factories import TrainingJobFactory
from training.models import JobStatus, TrainingJob
from training.notifications import training_job_email_outcome
from training.services.jobs import training_job_create, training_job_retry
from training.tasks import training_job_run_task, training_jobs_reap_task

JOBS = "/api/v1/training/jobs"


@pytest.fixture
def email_set_up(settings):
    """As with EMAIL_URL set, into Django's in-memory outbox."""
    settings.TRAINING_EMAILS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://reco.example.com"


@pytest.fixture(autouse=True)
def _model_folders_in_tmp(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.TRAINING_WORK_DIR = tmp_path / "training"


def started_by(tenant, user, settings_given, *, language="en", email_when_done=True) -> TrainingJob:
    with tenant_scope(tenant), translation.override(language), mock.patch("training.tasks.training_job_run_task.delay"):
        return training_job_create(
            tenant=tenant, settings_given=settings_given, created_by=user, email_when_done=email_when_done
        )


def run_here(job) -> TrainingJob:
    training_job_run_task.apply(kwargs={"tenant_id": job.tenant_id, "job_id": job.id})
    return TrainingJob.all_tenants.get(pk=job.pk)


def test_a_job_that_succeeds_emails_who_started_it_the_version_and_how_it_compares(
    tenant_with_shop, tiny_job_settings, merchant_user, email_set_up, mailoutbox
):
    job = run_here(started_by(tenant_with_shop, merchant_user, tiny_job_settings))

    assert job.status == JobStatus.SUCCEEDED, job.error
    [email] = mailoutbox
    assert email.to == [merchant_user.email]
    assert email.subject == f"{tenant_with_shop.display_name}: fine-tuning job #1 made v1, now live"
    assert "Version v1 saved; it is now live." in email.body
    assert "the baseline that did best on validation" in email.body
    assert "https://reco.example.com/training/models/" in email.body
    assert job.emailed_at is not None


def test_the_email_is_in_the_language_the_job_was_started_in(
    tenant_with_shop, tiny_job_settings, merchant_user, email_set_up, mailoutbox
):
    job = started_by(tenant_with_shop, merchant_user, tiny_job_settings, language="zh-hans")

    with mock.patch("training.services.runs._train", side_effect=RuntimeError("the GPU caught fire")):
        run_here(job)

    [email] = mailoutbox
    assert "微调任务 #1" in email.subject and "失败" in email.subject
    assert "失败" in email.body and f"https://reco.example.com/training/jobs/{job.pk}/" in email.body


def test_a_job_that_fails_says_why(tenant_with_shop, tiny_job_settings, merchant_user, email_set_up, mailoutbox):
    job = started_by(tenant_with_shop, merchant_user, tiny_job_settings)

    with mock.patch("training.services.runs._train", side_effect=RuntimeError("the GPU caught fire")):
        job = run_here(job)

    [email] = mailoutbox
    assert email.subject.endswith("fine-tuning job #1 failed")
    assert "Training stopped on an unexpected error. Retry the job from its page" in email.body


def test_no_email_is_sent_when_the_member_did_not_ask(
    tenant_with_shop, tiny_job_settings, merchant_user, email_set_up, mailoutbox
):
    job = started_by(tenant_with_shop, merchant_user, tiny_job_settings, email_when_done=False)

    with mock.patch("training.services.runs._train", side_effect=RuntimeError("crash")):
        run_here(job)

    assert mailoutbox == []


def test_asking_for_an_email_the_platform_cannot_send_is_refused_and_queues_nothing(
    tenant_with_shop, tiny_job_settings, merchant_user, settings
):
    settings.TRAINING_EMAILS = False

    with pytest.raises(ValidationError) as refused:
        started_by(tenant_with_shop, merchant_user, tiny_job_settings)

    assert refused.value.message_dict == {"email_when_done": ["The platform is not set up to send email."]}
    assert not TrainingJob.all_tenants.exists()


def test_the_api_queues_a_job_that_emails_the_member_whose_session_started_it(
    session_client, tenant_with_shop, tiny_job_settings, merchant_user, email_set_up
):
    with mock.patch("training.tasks.training_job_run_task.delay"):
        answer = session_client.post(JOBS, {**tiny_job_settings, "email_when_done": True}, format="json")

    assert answer.status_code == 201, answer.data
    assert answer.data["email_when_done"] is True
    assert TrainingJob.all_tenants.get().created_by == merchant_user


def test_the_api_refuses_an_email_for_a_job_an_api_key_starts(
    secret_client, tenant_with_shop, tiny_job_settings, email_set_up
):
    answer = secret_client.post(JOBS, {**tiny_job_settings, "email_when_done": True}, format="json")

    assert answer.status_code == 400
    assert "API key" in answer.data["email_when_done"][0]
    assert not TrainingJob.all_tenants.exists()


def test_the_api_refuses_an_email_wish_that_is_not_true_or_false(
    session_client, tenant_with_shop, tiny_job_settings, email_set_up
):
    answer = session_client.post(JOBS, {**tiny_job_settings, "email_when_done": "yes"}, format="json")

    assert answer.status_code == 400 and "email_when_done" in answer.data
    assert not TrainingJob.all_tenants.exists()


def test_the_job_page_says_where_the_email_goes(owner_client, tenant, merchant_user, email_set_up):
    job = TrainingJobFactory(tenant=tenant, created_by=merchant_user, email_when_done=True)

    page = owner_client.get(f"/training/jobs/{job.pk}/").content.decode()

    assert f"An email goes to {merchant_user.email} when it ends." in page


def test_a_cancelled_job_sends_nothing(tenant, merchant_user, email_set_up, mailoutbox):
    job = TrainingJobFactory(
        tenant=tenant, created_by=merchant_user, email_when_done=True, status=JobStatus.CANCELLED
    )

    assert training_job_email_outcome(job_id=job.pk) is False
    assert mailoutbox == []


def test_an_ending_is_emailed_once_and_a_retrys_ending_again(tenant, merchant_user, email_set_up, mailoutbox):
    job = TrainingJobFactory(
        tenant=tenant, created_by=merchant_user, email_when_done=True, status=JobStatus.FAILED,
        error_code="crashed",
    )

    assert training_job_email_outcome(job_id=job.pk) is True
    assert training_job_email_outcome(job_id=job.pk) is False  # a redelivered task, the reaper
    with tenant_scope(tenant), mock.patch("training.tasks.training_job_run_task.delay"):
        training_job_retry(tenant=tenant, job_id=job.pk)
    TrainingJob.all_tenants.filter(pk=job.pk).update(status=JobStatus.FAILED)

    assert training_job_email_outcome(job_id=job.pk) is True
    assert len(mailoutbox) == 2


def test_a_job_the_reaper_gives_up_on_is_emailed_with_the_reason(
    tenant, merchant_user, email_set_up, mailoutbox, settings
):
    settings.TRAINING_MAX_ATTEMPTS = 2
    TrainingJobFactory(
        tenant=tenant, created_by=merchant_user, email_when_done=True, status=JobStatus.RUNNING, attempts=2,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    training_jobs_reap_task.apply()

    [email] = mailoutbox
    assert email.subject.endswith("failed") and "2 times" in email.body


def test_an_email_that_cannot_be_sent_leaves_the_job_as_it_ended(
    tenant_with_shop, tiny_job_settings, merchant_user, email_set_up, mailoutbox
):
    job = started_by(tenant_with_shop, merchant_user, tiny_job_settings)

    with (
        mock.patch("training.services.runs._train", side_effect=RuntimeError("crash")),
        mock.patch("training.notifications.send_mail", side_effect=ConnectionRefusedError("no SMTP server")),
    ):
        job = run_here(job)

    assert job.status == JobStatus.FAILED and job.error_code == "crashed"


def test_the_new_job_form_offers_the_email_only_where_one_can_be_sent(owner_client, settings):
    settings.TRAINING_EMAILS = False
    assert "Email me when it ends" not in owner_client.get("/training/jobs/new/").content.decode()

    settings.TRAINING_EMAILS = True
    assert "Email me when it ends" in owner_client.get("/training/jobs/new/").content.decode()
