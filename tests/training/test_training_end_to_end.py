"""Fine-tuning jobs run for real on the tiny encoder: through a Celery worker, cancelled,
resumed, and their versions loaded again in a fresh process."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from celery.contrib.testing.worker import start_worker

from platform_site.celery import app
from tenants.scope import tenant_scope
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus
from training.services.jobs import _JobReporter, checkpoint_dir, training_job_create, training_job_retry
from training.tasks import training_job_run_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _model_folders_in_tmp(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.TRAINING_WORK_DIR = tmp_path / "training"


def _run_here(job) -> TrainingJob:
    training_job_run_task.apply(kwargs={"tenant_id": job.tenant_id, "job_id": job.id})
    return TrainingJob.all_tenants.get(pk=job.pk)


@pytest.mark.django_db(transaction=True)
def test_a_tiny_model_trains_end_to_end_through_a_real_worker(tenant_with_shop, tiny_job_settings):
    tenant = tenant_with_shop
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["gpu"], shutdown_timeout=30):
        with tenant_scope(tenant):
            job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
        # The task returns nothing: watch the job row, as the merchant's progress bar does.
        for _ in range(240):
            job.refresh_from_db()
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                break
            time.sleep(0.5)
    assert job.status == JobStatus.SUCCEEDED, job.error or job.log_tail
    assert job.progress == 1.0 and job.worker_host and job.device == "cpu"
    assert [entry["epoch"] for entry in job.epoch_metrics] == [0, 1, 2]
    version = ModelVersion.all_tenants.get(job=job)
    assert version.status == VersionStatus.LIVE  # nothing was live: the first version goes live
    validation = version.metrics["validation"]
    for scorer in ["hybrid", "content", "popularity", "repeat_purchase", "item_knn", "ease", "als"]:
        assert "ndcg@10" in validation[scorer], scorer
    assert (Path(version.artifact_path) / "adapter").is_dir()
    assert version.artifact_bytes > 0
    assert job.log_tail.endswith("Version v1 saved; it is now live.")


def test_loading_a_version_in_a_fresh_process_gives_the_same_scores(tenant_with_shop, tiny_job_settings):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    job = _run_here(job)
    version = ModelVersion.all_tenants.get(job=job)
    from training.ml.artifacts import load_version

    loaded = load_version(version.artifact_path)
    histories = [loaded.item_ids[:3], loaded.item_ids[10:12]]
    here = loaded.score(histories)
    script = (
        "import json, sys; from training.ml.artifacts import load_version; "
        "v = load_version(sys.argv[1]); print(json.dumps(v.score(json.loads(sys.argv[2])).tolist()))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script, version.artifact_path, json.dumps(histories)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert np.allclose(np.array(json.loads(fresh.stdout)), here, atol=1e-6)


def test_cancel_stops_a_running_job_within_one_step(tenant_with_shop, tiny_job_settings):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    steps_seen = []
    real_progress = _JobReporter.progress

    def cancel_at_step_three(self, step, *args):
        steps_seen.append(step)
        real_progress(self, step, *args)
        if step == 3:
            TrainingJob.all_tenants.filter(pk=self.job_id).update(cancel_requested=True)

    with mock.patch.object(_JobReporter, "progress", cancel_at_step_three):
        job = _run_here(job)
    assert job.status == JobStatus.CANCELLED
    assert max(steps_seen) == 3
    assert not ModelVersion.all_tenants.filter(job=job).exists()
    # The page says where it stopped, though progress is written once a second at most.
    assert job.step == 3 and job.eta_seconds is None


def test_while_the_model_is_measured_the_bar_moves_through_its_last_tenth_and_the_stages_are_timed(
    tenant_with_shop, tiny_job_settings
):
    """Encoding the catalog and fitting the baselines follow the last step and can take minutes:
    100% and "about 0 s left" would say the job is stuck. The store's first job has no ETA for
    them; it times them for the next one."""
    import training.ml.pipeline as pipeline
    from training.presentation import job_progress

    with tenant_scope(tenant_with_shop):
        job = training_job_create(tenant=tenant_with_shop, settings_given=tiny_job_settings)
    real_fit_baselines, seen_while_measuring = pipeline.fit_baselines, []

    def fit_baselines_watched(*args, **kwargs):
        seen_while_measuring.append(job_progress(TrainingJob.all_tenants.get(pk=job.pk)))
        return real_fit_baselines(*args, **kwargs)

    with mock.patch.object(pipeline, "fit_baselines", fit_baselines_watched):
        job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    # The behaviour signals' fit, then the baselines': the bar moves on through its last tenth.
    percents = [shown["percent"] for shown in seen_while_measuring]
    assert len(percents) == 2 and 90 < percents[0] < percents[1] < 100
    assert {shown["eta_display"] for shown in seen_while_measuring} == {""}
    log = job.log_tail
    stages = [
        "Training done: encoding the catalog and measuring the model against the baselines.",
        "Encoding the catalog with the trained model.",
        "Fitting the behaviour signals (what shoppers bought together).",
        "Choosing the blend of content, behaviour and popularity on the validation shoppers.",
        "Measuring the model and the baselines on the test shoppers.",
    ]
    assert [log.index(line) for line in stages] == sorted(log.index(line) for line in stages)
    assert job.progress == 1.0
    timed = job.measuring_times
    assert [entry["stage"] for entry in timed["stages"]] == ["encoding", "signals", "blending", "baselines"]
    assert all(entry["seconds"] >= 0 for entry in timed["stages"]) and timed["products"] > 0


def test_a_retried_job_shows_no_eta_until_its_new_run_steps(tenant_with_shop, tiny_job_settings):
    from training.presentation import job_progress

    with tenant_scope(tenant_with_shop):
        job = training_job_create(tenant=tenant_with_shop, settings_given=tiny_job_settings)
    job = _run_cancelled_in_the_second_epoch(job)
    assert job.eta_seconds is None  # a finished run has nothing left
    with tenant_scope(tenant_with_shop):
        job = training_job_retry(tenant=tenant_with_shop, job_id=job.id)
    assert job.status == JobStatus.QUEUED and job_progress(job)["eta_display"] == ""
    assert TrainingJob.all_tenants.get(pk=job.pk).eta_seconds is None


def _run_cancelled_in_the_second_epoch(job) -> TrainingJob:
    """Run the job here until a member cancels it at the first step of epoch 2: epoch 1's
    checkpoint is on disk."""
    real_progress = _JobReporter.progress

    def cancel_in_the_second_epoch(self, step, total_steps, epoch, *args):
        real_progress(self, step, total_steps, epoch, *args)
        if epoch == 2:
            TrainingJob.all_tenants.filter(pk=self.job_id).update(cancel_requested=True)

    with mock.patch.object(_JobReporter, "progress", cancel_in_the_second_epoch):
        return _run_here(job)


def test_a_retried_job_resumes_from_its_last_checkpoint(tenant_with_shop, tiny_job_settings):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    job = _run_cancelled_in_the_second_epoch(job)
    assert job.status == JobStatus.CANCELLED
    assert checkpoint_dir(job).exists()
    with tenant_scope(tenant):
        training_job_retry(tenant=tenant, job_id=job.id)
    job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "Resumed from the checkpoint of epoch 1." in job.log_tail
    log = job.log_tail
    assert log.index("Cancelled after step") < log.index("Resumed")  # one log, both runs
    # Said when it happened: before the epochs it trained and the measuring that followed.
    assert log.index("Resumed") < log.index("Epoch 2:") < log.index("Training done")
    assert not checkpoint_dir(job).exists()  # a finished job leaves no checkpoint behind


def _run_with_fine_tune_then(job, after):
    """Run the job here; `after()` happens between the training and the saving of the version."""
    from training.ml import pipeline

    real_fine_tune = pipeline.fine_tune

    def fine_tune_then(*args, **kwargs):
        outcome = real_fine_tune(*args, **kwargs)
        after()
        return outcome

    with mock.patch.object(pipeline, "fine_tune", fine_tune_then):
        return _run_here(job)


def test_a_cancel_that_comes_after_the_last_step_keeps_no_version(
    tenant_with_shop, tiny_job_settings, settings
):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    ask_to_cancel = lambda: TrainingJob.all_tenants.filter(pk=job.pk).update(cancel_requested=True)
    job = _run_with_fine_tune_then(job, ask_to_cancel)
    assert job.status == JobStatus.CANCELLED
    assert not ModelVersion.all_tenants.filter(tenant=tenant).exists()
    assert "saved" not in job.log_tail
    assert re.search(r"Cancelled after step \d+\.$", job.log_tail)
    assert list((Path(settings.MODELS_DIR) / str(tenant.pk)).iterdir()) == []  # nor its files


def test_automatic_promotion_turned_off_during_a_run_is_respected(tenant_with_shop, tiny_job_settings):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    turn_it_off = lambda: type(tenant).objects.filter(pk=tenant.pk).update(auto_promote_models=False)
    job = _run_with_fine_tune_then(job, turn_it_off)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert ModelVersion.all_tenants.get(job=job).status == VersionStatus.CANDIDATE
    assert job.log_tail.endswith(
        "Version v1 saved as a candidate: automatic promotion is off. Promote it from the models page to serve it."
    )


def test_a_version_that_does_not_beat_the_live_one_waits_and_the_log_gives_both_figures(
    tenant_with_shop, tiny_job_settings
):
    from tests.training.factories import ModelVersionFactory

    tenant = tenant_with_shop
    ModelVersionFactory(
        tenant=tenant, number=1, status=VersionStatus.LIVE, metrics={"validation": {"hybrid": {"ndcg@10": 0.999}}}
    )
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = ModelVersion.all_tenants.get(job=job)
    assert version.status == VersionStatus.CANDIDATE
    ours = f"{version.validation_metric('ndcg@10'):.4f}"
    # This live version has no files to load: it is held against its own figure, and the log says so.
    assert (
        "The live version v1 could not be measured on these shoppers (FileNotFoundError): the comparison "
        "reads its own figure, measured on the shoppers of its own training."
    ) in job.log_tail
    assert (
        f"Version v2 saved as a candidate: its recommendations score {ours} NDCG@10 on the validation "
        "shoppers, not above the live v1's 0.9990."
    ) in job.log_tail


def test_a_version_whose_fine_tuning_cost_search_waits_and_the_log_gives_both_figures(
    tenant_with_shop, tiny_job_settings, monkeypatch
):
    from training.ml import pipeline

    monkeypatch.setattr(
        pipeline, "_search_figures", lambda *args: {"ndcg@10": 0.2, "pretrained": 0.5, "queries": 6}
    )
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = _run_here(training_job_create(tenant=tenant, settings_given=tiny_job_settings))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert ModelVersion.all_tenants.get(job=job).status == VersionStatus.CANDIDATE  # though nothing else is live
    assert (
        "Version v1 saved as a candidate: fine-tuning made its encoder worse at search. It finds the "
        "catalog's category names with 0.2000 NDCG@10, the pretrained encoder with 0.5000"
    ) in job.log_tail


def test_the_live_version_is_measured_again_on_the_new_versions_validation_shoppers(
    tenant_with_shop, tiny_job_settings
):
    """A stored figure is of its own split's shoppers: one measured on an easier or harder window
    would promote, or hold back, a new version for the wrong reason."""
    from catalog.models import Product
    from training.services.versions import live_validation_figure

    tenant = tenant_with_shop
    with tenant_scope(tenant):
        first = _run_here(training_job_create(tenant=tenant, settings_given=tiny_job_settings))
    live = ModelVersion.all_tenants.get(job=first)
    assert live.status == VersionStatus.LIVE
    own_figure = live.validation_metric("ndcg@10")
    # Its stored figure as if measured on a window where it did badly: a second version would
    # beat it, whatever that version is worth.
    ModelVersion.all_tenants.filter(pk=live.pk).update(metrics={**live.metrics, "validation": {"hybrid": {"ndcg@10": 0.0}}})
    # A product added since: the live version embeds it with its own encoder, as serving does.
    Product.all_tenants.create(tenant=tenant, external_id="new-1", title="Sparkling water lemon")

    with tenant_scope(tenant):
        second = _run_here(training_job_create(tenant=tenant, settings_given=tiny_job_settings))
    assert second.status == JobStatus.SUCCEEDED, second.error
    version = ModelVersion.all_tenants.get(job=second)
    again = version.metrics["live_on_this_validation"]
    assert (again["version_id"], again["number"]) == (live.pk, 1)
    # The same events, one product more that no shopper bought: about the figure it had.
    assert again["ndcg@10"] == pytest.approx(own_figure, abs=0.02)
    live.refresh_from_db()
    assert live_validation_figure(version, live) == again["ndcg@10"]
    assert (version.status == VersionStatus.LIVE) == (version.validation_metric("ndcg@10") > again["ndcg@10"])
    assert "Measuring the live version v1 on the same validation shoppers, to compare the two." in second.log_tail


def test_a_version_that_would_replace_the_live_model_mid_experiment_waits_and_the_log_says_why(
    tenant_with_shop, tiny_job_settings
):
    from tests.training.test_job_lifecycle import _experiment_on

    tenant = tenant_with_shop
    _experiment_on(tenant, arm_kind="live")
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert ModelVersion.all_tenants.get(job=job).status == VersionStatus.CANDIDATE
    assert job.log_tail.endswith(
        "Version v2 saved as a candidate: experiment ranker compares the live model, which does not "
        "change while it runs. Promote it from the models page to serve it."
    )


def test_a_job_whose_fine_tuning_made_things_worse_says_it_kept_the_pretrained_weights(
    tenant_with_shop, tiny_job_settings
):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given={**tiny_job_settings, "learning_rate": 0.5})
    job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "Fine-tuning did not beat the pretrained encoder on validation (0." in job.log_tail
    assert ModelVersion.all_tenants.get(job=job).metrics["best_epoch"] == 0


def test_a_version_that_cannot_be_written_fails_the_job_with_the_reason(
    tenant_with_shop, tiny_job_settings, settings
):
    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    full_disk = OSError(28, "No space left on device")
    with mock.patch("training.ml.scorer.HybridScorer.save", side_effect=full_disk):  # halfway through
        job = _run_here(job)
    assert job.status == JobStatus.FAILED  # not left running, for the reaper to retry
    assert "No space left on device" in job.error and job.error_code == "crashed"
    assert not ModelVersion.all_tenants.filter(tenant=tenant).exists()
    assert list((Path(settings.MODELS_DIR) / str(tenant.pk)).iterdir()) == []  # no half-written copy


def test_a_retried_job_whose_catalog_changed_starts_over_instead_of_failing(
    tenant_with_shop, tiny_job_settings
):
    from catalog.models import Product

    tenant = tenant_with_shop
    with tenant_scope(tenant):
        job = training_job_create(tenant=tenant, settings_given=tiny_job_settings)
    job = _run_cancelled_in_the_second_epoch(job)
    assert checkpoint_dir(job).exists()
    product = Product.all_tenants.filter(tenant=tenant).order_by("pk").first()
    Product.all_tenants.filter(pk=product.pk).update(title=product.title + " (new recipe)")
    with tenant_scope(tenant):
        training_job_retry(tenant=tenant, job_id=job.id)
    job = _run_here(job)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "The data changed since the checkpoint was written: training starts over." in job.log_tail
    assert [entry["epoch"] for entry in job.epoch_metrics] == [0, 1, 2]


def test_a_setting_only_the_worker_can_judge_fails_the_job_naming_it_in_both_languages(
    tenant_with_shop, tiny_job_settings, tmp_path
):
    """The base model was there when the job was queued, and not on the worker that ran it."""
    from django.utils import translation

    from training.presentation import job_failure_message

    base_model = shutil.copytree(tiny_job_settings["base_model"], tmp_path / "base-model-gone")
    with tenant_scope(tenant_with_shop):
        job = training_job_create(
            tenant=tenant_with_shop, settings_given={**tiny_job_settings, "base_model": str(base_model)}
        )
    shutil.rmtree(base_model)
    job = _run_here(job)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "bad_setting")
    assert job_failure_message(job).startswith("The setting base_model cannot be used: The folder ")
    with translation.override("zh-hans"):
        assert "base_model" in job_failure_message(job) and re.search("[\u4e00-\u9fff]", job_failure_message(job))
