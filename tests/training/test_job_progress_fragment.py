"""The job page's live part: its progress and log, which htmx asks for every 2 s while the job is
active, and the reload of the whole page once the job's status changed or an epoch was added."""
import pytest
from django.urls import reverse

from tenants.models import Role
from tests.training.factories import TrainingJobFactory
from training.models import JobStatus

HTMX = {"HX-Request": "true"}
TWO_EPOCHS = [
    {"epoch": 0, "train_loss": None, "validation": {"ndcg@10": 0.10}, "seconds": 1.0},
    {"epoch": 1, "train_loss": 2.0, "validation": {"ndcg@10": 0.20}, "seconds": 9.0},
]


def fragment_url(job, *, epochs: int | None = None, status: str | None = None) -> str:
    """The address the page polls: with the status and the epochs it was drawn with (the job's
    status unless told), or bare, as a page that says neither."""
    url = reverse("training-job-progress-fragment", args=[job.pk])
    if epochs is None:
        return url
    return f"{url}?status={status or job.status}&epochs={epochs}"


def running_job(tenant, **fields):
    fields = {
        "status": JobStatus.RUNNING, "progress": 0.25, "epoch": 1, "step": 30, "total_steps": 120,
        "eta_seconds": 90.0, "loss": 0.75, "epoch_metrics": TWO_EPOCHS,
        "log_tail": "epoch 1: train loss 2.0", **fields,
    }
    return TrainingJobFactory(tenant=tenant, **fields)


def test_an_active_jobs_page_asks_htmx_for_its_progress_every_2_seconds(owner_client, tenant):
    job = running_job(tenant)

    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()

    polled = fragment_url(job, epochs=2).replace("&", "&amp;")
    assert f'<div id="job-progress" hx-get="{polled}" hx-trigger="every 2s" hx-swap="outerMorph">' in html
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    # A failed poll keeps the last figures rather than swapping an error page into the job's.
    assert '"noSwap": [204, 304, "4xx", "5xx"]' in html


def test_htmx_gets_the_progress_and_log_alone_with_the_current_figures(owner_client, tenant):
    job = running_job(tenant)

    response = owner_client.get(fragment_url(job, epochs=2), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and "HX-Refresh" not in response
    assert "<html" not in html and "<body" not in html and "topbar" not in html
    assert "Training curves" not in html and "Cancel job" not in html
    polled = fragment_url(job, epochs=2).replace("&", "&amp;")
    assert html.strip().startswith(f'<div id="job-progress" hx-get="{polled}"')
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerMorph"' in html
    assert '<progress class="bar wide" max="100" value="25"' in html and '<strong id="job-percent" role="status">25%' in html
    assert "Epoch 1 of 2 · step 30 of 120" in html and "about 1 min 30 s left" in html
    assert '<dd id="job-loss">0.7500</dd>' in html
    assert '<pre class="log" id="job-log">epoch 1: train loss 2.0</pre>' in html


def test_a_queued_job_keeps_asking_until_a_worker_takes_it(owner_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.QUEUED)

    response = owner_client.get(fragment_url(job, epochs=0), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and "HX-Refresh" not in response
    assert 'hx-trigger="every 2s"' in html and "Not started yet" in html and "Nothing logged yet." in html


def test_a_cancel_the_worker_has_not_acted_on_yet_shows_while_polling(owner_client, tenant):
    job = running_job(tenant, cancel_requested=True)
    html = owner_client.get(fragment_url(job, epochs=2), headers=HTMX).content.decode()
    assert "Stopping after the current step…" in html


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_the_page_reloads_once_the_job_has_ended(owner_client, tenant, status):
    job = running_job(tenant, status=status, progress=1.0)

    response = owner_client.get(fragment_url(job, epochs=2, status=JobStatus.RUNNING), headers=HTMX)

    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert b"job-progress" not in response.content


def test_the_page_reloads_when_an_epoch_was_added_since_it_was_drawn(owner_client, tenant):
    job = running_job(tenant)

    response = owner_client.get(fragment_url(job, epochs=1), headers=HTMX)

    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_a_page_that_does_not_say_which_epochs_it_drew_is_reloaded(owner_client, tenant):
    job = running_job(tenant)
    response = owner_client.get(fragment_url(job), headers=HTMX)
    assert response["HX-Refresh"] == "true"


def test_another_tenants_job_is_404(owner_client, other_tenant):
    job = running_job(other_tenant)
    assert owner_client.get(fragment_url(job, epochs=2), headers=HTMX).status_code == 404


def test_the_fragment_opened_without_htmx_leads_to_the_job_page(owner_client, tenant):
    job = running_job(tenant)
    response = owner_client.get(fragment_url(job, epochs=2))
    assert response.status_code == 302 and response["Location"] == reverse("training-job-detail", args=[job.pk])


def test_a_poll_after_the_session_ended_reloads_the_page_instead_of_showing_the_login_form(client, tenant):
    job = running_job(tenant)
    response = client.get(fragment_url(job, epochs=2), headers=HTMX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert b"password" not in response.content


def test_the_fragment_without_htmx_needs_a_login(client, tenant):
    job = running_job(tenant)
    response = client.get(fragment_url(job, epochs=2))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_analyst_may_watch_a_job(client, member_with_role, tenant):
    job = running_job(tenant)
    client.force_login(member_with_role(Role.ANALYST))
    response = client.get(fragment_url(job, epochs=2), headers=HTMX)
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in response.content.decode()


def test_a_learner_of_the_store_may_not_watch_a_job(client, member_with_role, tenant):
    job = running_job(tenant)
    client.force_login(member_with_role(Role.LEARNER))
    response = client.get(fragment_url(job, epochs=2), headers=HTMX)
    assert response.status_code == 403 and 'hx-trigger="every 2s"' not in response.content.decode()


def test_the_fragment_only_answers_gets(owner_client, tenant):
    job = running_job(tenant)
    assert owner_client.post(fragment_url(job, epochs=2), headers=HTMX).status_code == 405
