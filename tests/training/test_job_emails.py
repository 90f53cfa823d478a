"""A member who asks for it, as they start a fine-tuning job, is emailed how it ended, in the
language they started it in: the version made and whether it is live, or why the job failed."""

from datetime import timedelta
from unittest import mock

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from tenants.scope import tenant_scope
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
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


def a_candidate_not_better_than_the_live_one(tenant, user, *, language="en") -> TrainingJob:
    not_better = {"code": "saved_not_better", "params": {
        "number": 2, "value": "0.4100", "live": 1, "live_value": "0.4500",
    }}
    job = TrainingJobFactory(
        tenant=tenant, created_by=user, email_when_done=True, status=JobStatus.SUCCEEDED, language=language,
        finished_at=timezone.now(), log_entries=[not_better],
    )
    ModelVersionFactory(tenant=tenant, job=job, number=2, metrics={"comparison": {
        "baseline": "repeat", "ratio": 1.04, "low": 0.98, "high": 1.09, "shoppers": 83,
    }})
    return job


def test_a_candidates_email_says_why_it_waits_without_pointing_at_the_job_page(
    tenant, merchant_user, email_set_up, mailoutbox
):
    job = a_candidate_not_better_than_the_live_one(tenant, merchant_user)

    training_job_email_outcome(job_id=job.pk)

    [email] = mailoutbox
    assert email.subject.endswith("made v2, a candidate")
    assert "not above the live v1's 0.4500. Promote it from the models page to serve it anyway." in email.body
    assert "epochs above" not in email.body


def test_a_chinese_email_runs_its_sentences_on_without_a_space(tenant, merchant_user, email_set_up, mailoutbox):
    job = a_candidate_not_better_than_the_live_one(tenant, merchant_user, language="zh-hans")

    training_job_email_outcome(job_id=job.pk)

    [email] = mailoutbox
    assert "上面各轮" not in email.body and "购物者" not in email.body
    comparison = next(line for line in email.body.splitlines() if "1.04" in line)
    assert "。 " not in comparison and comparison.count("。") == 2


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
    for not_a_json_boolean in ["yes", "true", 1]:
        answer = session_client.post(
            JOBS, {**tiny_job_settings, "email_when_done": not_a_json_boolean}, format="json"
        )

        assert answer.status_code == 400
        assert answer.data["email_when_done"] == ["Must be true or false."]
    assert not TrainingJob.all_tenants.exists()


def test_the_schema_says_the_email_wish_is_a_json_boolean(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    wish = schema["components"]["schemas"]["TrainingJobSettings"]["properties"]["email_when_done"]
    assert wish["type"] == "boolean" and 'a string such as "true", or 1, is refused' in wish["description"]


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
    assert job.email_failed


def ended_job(tenant, user, **fields) -> TrainingJob:
    fields = {"status": JobStatus.SUCCEEDED, "finished_at": timezone.now(), **fields}
    return TrainingJobFactory(tenant=tenant, created_by=user, email_when_done=True, **fields)


def job_page(client, job) -> str:
    return client.get(f"/training/jobs/{job.pk}/").content.decode()


def test_the_job_page_says_the_email_went_only_when_it_was_sent(
    owner_client, tenant, merchant_user, email_set_up, mailoutbox
):
    job = ended_job(tenant, merchant_user)
    with mock.patch("training.notifications.send_mail", side_effect=ConnectionRefusedError("no SMTP server")):
        training_job_email_outcome(job_id=job.pk)

    page = job_page(owner_client, job)

    assert f"How it ended could not be emailed to {merchant_user.email}." in page
    assert "was emailed" not in page


def test_the_job_page_says_the_email_went_once_it_was_sent(
    owner_client, tenant, merchant_user, email_set_up, mailoutbox
):
    job = ended_job(tenant, merchant_user)
    training_job_email_outcome(job_id=job.pk)
    assert f"How it ended was emailed to {merchant_user.email}." in job_page(owner_client, job)


def test_a_retry_forgets_that_the_last_email_failed(tenant, merchant_user, email_set_up):
    job = ended_job(
        tenant, merchant_user, status=JobStatus.FAILED, emailed_at=timezone.now(), email_failed=True
    )
    with tenant_scope(tenant), mock.patch("training.tasks.training_job_run_task.delay"):
        retried = training_job_retry(tenant=tenant, job_id=job.pk)
    assert retried.emailed_at is None and not retried.email_failed


def test_a_page_drawn_as_the_job_ended_polls_until_the_email_has_gone(
    owner_client, tenant, merchant_user, email_set_up, mailoutbox
):
    job = ended_job(tenant, merchant_user)
    fragment = f"/training/jobs/{job.pk}/progress/?status={job.status}&epochs=0"

    page = job_page(owner_client, job)
    assert "is being emailed to" in page and 'hx-trigger="every 2s"' in page

    training_job_email_outcome(job_id=job.pk)
    answer = owner_client.get(fragment, headers={"HX-Request": "true"})

    html = answer.content.decode()
    assert answer.status_code == 200 and "HX-Refresh" not in answer
    assert f"How it ended was emailed to {merchant_user.email}." in html
    assert "hx-trigger" not in html  # the swap ends the polls


def test_an_email_never_sent_is_not_awaited_forever(owner_client, tenant, merchant_user, email_set_up):
    job = ended_job(tenant, merchant_user)
    TrainingJob.all_tenants.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=1))

    page = job_page(owner_client, job)

    assert f"How it ended could not be emailed to {merchant_user.email}." in page
    assert "hx-trigger" not in page


def test_a_cancelled_jobs_page_says_nothing_of_an_email(owner_client, tenant, merchant_user, email_set_up):
    job = ended_job(tenant, merchant_user, status=JobStatus.CANCELLED)
    assert 'id="email-when-done"' not in job_page(owner_client, job)


def test_the_new_job_form_offers_the_email_only_where_one_can_be_sent(owner_client, settings):
    settings.TRAINING_EMAILS = False
    assert "Email me when it ends" not in owner_client.get("/training/jobs/new/").content.decode()

    settings.TRAINING_EMAILS = True
    assert "Email me when it ends" in owner_client.get("/training/jobs/new/").content.decode()


def test_the_email_checkbox_label_ends_without_a_colon(owner_client, settings):
    settings.TRAINING_EMAILS = True
    page = owner_client.get("/training/jobs/new/").content.decode()
    assert ">Email me when it ends</label>" in page


def test_another_stores_job_and_where_its_email_goes_are_a_404_to_this_store(
    owner_client, session_client, other_tenant, other_merchant_user, email_set_up
):
    theirs = ended_job(other_tenant, other_merchant_user)

    page = owner_client.get(f"/training/jobs/{theirs.pk}/")
    fragment = owner_client.get(
        f"/training/jobs/{theirs.pk}/progress/?status={theirs.status}&epochs=0", headers={"HX-Request": "true"}
    )
    answer = session_client.get(f"{JOBS}/{theirs.pk}")

    assert (page.status_code, fragment.status_code, answer.status_code) == (404, 404, 404)
    assert not any(other_merchant_user.email in r.content.decode() for r in (page, fragment, answer))
