"""The run of a claimed job: data -> fine-tuning -> a model version, with progress on the job row.

The caller (the Celery task) has claimed the job (status running) and set the
tenant scope.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tenants.models import Tenant
from training.ml.config import ConfigError, TrainConfig, resolve_device
from training.ml.data import DataError
from training.ml.loop import CheckpointMismatch, TrainingCancelled
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus
from training.notifications import training_job_email_outcome
from training.presentation import config_error_params
from training.selectors import training_frames
from training.services.jobs import (
    _Heartbeat,
    _JobReporter,
    base_model_search_folders,
    checkpoint_dir,
    heartbeat_interval,
    this_run,
)
from training.services.versions import (
    HEADLINE_METRIC,
    experiment_on_the_live_model,
    live_validation_figure,
    model_version_promote_if_better,
    search_cost,
)

logger = logging.getLogger(__name__)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _finish(job: TrainingJob, status: str, **fields) -> None:
    # A finished job has nothing left: no ETA (the last one written was for a run that went on).
    this_run(job.pk, job.run_number).update(status=status, finished_at=timezone.now(), eta_seconds=None, **fields)


def training_job_run(*, job_id: int) -> ModelVersion | None:
    """Train the job's model and store its version; the job ends succeeded, failed or cancelled.

    Whatever goes wrong, from picking the device to writing the version, ends the job failed
    with the reason: a run that raised is never left "running" for the reaper to retry.
    """
    job = TrainingJob.objects.get(pk=job_id)
    reporter = _JobReporter(
        job_id=job.pk, run_number=job.run_number, started=time.monotonic() - job.compute_seconds,
        log_entries=list(job.log_entries),  # a resumed run's log goes on from the last run's
    )

    def still_moving() -> bool:
        return reporter.silent_for() < settings.TRAINING_MAX_SILENT_SECONDS

    version = None
    with _Heartbeat(
        job.pk, job.run_number, every=heartbeat_interval(), alive=still_moving, fields=reporter.heartbeat_fields
    ):
        try:
            outcome = _train(job, reporter)
            _measure_the_live_version_again(job, outcome, reporter)
            version = _store_version(job, outcome, reporter)
        except TrainingCancelled as cancelled:
            reporter.log("cancelled", step=cancelled.step)
            # Progress is written once a second at most: the step it stopped after, not the last written.
            _finish(job, JobStatus.CANCELLED, cancel_requested=False, step=cancelled.step)
        except DataError as error:
            _finish(job, JobStatus.FAILED, error=str(error), error_code=error.code, error_params=error.params)
        except ConfigError as error:  # one the checks before queueing could not make (another machine's folders)
            _finish(job, JobStatus.FAILED, error=str(error), error_code="bad_setting",
                    error_params=config_error_params(error))
        except Exception:
            logger.exception("training job %s failed", job.pk)
            _finish(job, JobStatus.FAILED, error=traceback.format_exc(limit=5)[-4000:], error_code="crashed")
    # Whatever happened above: it sends only for a job that ended succeeded or failed.
    training_job_email_outcome(job_id=job.pk)
    return version


def _train(job: TrainingJob, reporter: _JobReporter):
    from training.ml.pipeline import fine_tune

    config = TrainConfig.from_stored(job.config)
    device = resolve_device(config.device)
    this_run(job.pk, job.run_number).update(device=device)
    interactions, items = training_frames(tenant=job.tenant, as_of=job.data_as_of)
    reporter.log("data", events=len(interactions), products=len(items), device=device)
    reporter.expect_measuring(device=device, products=len(items))
    metric = f"ndcg@{config.eval_k}"

    def record_epoch(record) -> None:
        entry = asdict(record)
        job.epoch_metrics = [e for e in job.epoch_metrics if e["epoch"] != entry["epoch"]] + [entry]
        this_run(job.pk, job.run_number).update(epoch_metrics=job.epoch_metrics)
        value, loss = entry["validation"].get(metric), entry["train_loss"]
        reporter.log(
            "epoch", epoch=entry["epoch"], metric=metric,
            loss="—" if loss is None else f"{loss:.4f}", value="—" if value is None else f"{value:.4f}",
        )

    def run():
        return fine_tune(
            config, interactions, items,
            checkpoint_dir=checkpoint_dir(job),
            progress=reporter.progress,
            should_cancel=reporter.cancel_requested,
            on_epoch=record_epoch,
            # Said as it happens: before the steps it resumes, and in a run that is cancelled again.
            on_resumed=lambda epoch: reporter.log("resumed", epoch=epoch),
            on_training_done=reporter.training_done,
            on_measuring_stage=reporter.measuring_stage,
        )

    try:
        outcome = run()
    except CheckpointMismatch as mismatch:
        # Made from other data (the catalog's texts changed, shoppers' events were erased) or by
        # other code: it cannot be resumed, and without this every retry would fail the same way.
        if mismatch.changed:
            reporter.log("other_settings", settings=", ".join(mismatch.changed))
        else:
            reporter.log("other_data")
        shutil.rmtree(checkpoint_dir(job), ignore_errors=True)
        job.epoch_metrics = []
        outcome = run()
    return outcome


def _measure_the_live_version_again(job: TrainingJob, outcome, reporter: _JobReporter) -> None:
    """Measure the live version on this job's validation shoppers, so that promotion compares the
    two on the same shoppers and items (training.ml.pipeline.measure_version_on); kept in the new
    version's metrics as `live_on_this_validation`. Where the live version cannot be loaded (its
    base model moved, its files were removed), the log says so and promotion reads its own figure."""
    from training.ml.artifacts import load_version
    from training.ml.pipeline import MEASURING_STAGES, measure_version_on

    live = ModelVersion.objects.filter(tenant=job.tenant, status=VersionStatus.LIVE).first()
    if live is None:
        return
    stages = len(MEASURING_STAGES)
    reporter.measuring_stage("live", stages, stages + 1, number=live.number)
    try:
        loaded = load_version(live.artifact_path, base_model_search=base_model_search_folders(job.tenant))
        value = measure_version_on(loaded, outcome.dataset, outcome.config)
    except Exception as error:  # a comparison that cannot be made must not cost the new version
        logger.warning("job %s: live version v%s not measured again", job.pk, live.number, exc_info=True)
        reporter.log("live_not_measured", number=live.number, reason=type(error).__name__)
        return
    outcome.metrics["live_on_this_validation"] = {
        "version_id": live.pk, "number": live.number, HEADLINE_METRIC: value,
    }


def _store_version(job: TrainingJob, outcome, reporter: _JobReporter) -> ModelVersion | None:
    from training.ml.artifacts import save_version

    # Written before the lock is taken: on SQLite a held lock stops every write to the database.
    tenant_folder = Path(settings.MODELS_DIR) / str(job.tenant_id)
    staging = tenant_folder / f".job-{job.pk}-run-{job.run_number}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        save_version(staging, **outcome.version_parts())
        return _publish_version(job, outcome, reporter, staging, tenant_folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # renamed away when published


def _saved_line(tenant: Tenant, version: ModelVersion, *, promoted: bool, held_for) -> tuple[str, dict]:
    """The log line that says where the new version stands, and why it is not live when it is not."""
    number = version.number
    if promoted:
        return "saved_live", {"number": number}
    if held_for is not None:
        return "saved_held_for_experiment", {"number": number, "experiment": held_for.key}
    if not tenant.auto_promote_models:
        return "saved_auto_promotion_off", {"number": number}
    cost = search_cost(version)
    if cost is not None:
        return "saved_search_worse", {"number": number, "value": _figure(cost[0]), "pretrained": _figure(cost[1])}
    live = ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).exclude(pk=version.pk).first()
    if live is None:
        return "saved", {"number": number}
    return "saved_not_better", {
        "number": number, "live": live.number,
        "value": _figure(version.validation_metric(HEADLINE_METRIC)),
        "live_value": _figure(live_validation_figure(version, live)),
    }


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _publish_version(
    job: TrainingJob, outcome, reporter: _JobReporter, staging: Path, tenant_folder: Path
) -> ModelVersion | None:
    """Number the saved version, move its folder into place and record it, under the tenant lock."""
    with transaction.atomic():
        # Lock the tenant row: version numbers are handed out one at a time, and the tenant's
        # promotion setting is read as it is now, not as it was when the run started.
        tenant = Tenant.objects.select_for_update().get(pk=job.tenant_id)
        number = (ModelVersion.objects.filter(tenant=tenant).aggregate(top=Max("number"))["top"] or 0) + 1
        folder = tenant_folder / f"v{number}"
        shutil.rmtree(folder, ignore_errors=True)  # left by a crash between rename and commit
        os.replace(staging, folder)
        try:
            version = ModelVersion.objects.create(
                tenant=tenant, number=number, job=job,
                base_model=outcome.config.base_model, method=outcome.config.method,
                metrics=outcome.metrics, artifact_path=str(folder), artifact_bytes=_folder_bytes(folder),
            )
            promoted = model_version_promote_if_better(tenant=tenant, version=version)
            held_for = None if promoted or not tenant.auto_promote_models else experiment_on_the_live_model(
                tenant=tenant
            )
            code, params = _saved_line(tenant, version, promoted=promoted, held_for=held_for)
            log = reporter.log_fields(code, **params)
            finished = this_run(job.pk, job.run_number).filter(cancel_requested=False).update(
                status=JobStatus.SUCCEEDED, finished_at=timezone.now(), progress=1.0, eta_seconds=0,
                epoch_metrics=outcome.metrics["epochs"], heartbeat_at=timezone.now(),
                compute_seconds=time.monotonic() - reporter.started, **log, **reporter.measuring_done(),
            )
            if not finished:
                # Taken back meanwhile (keep nothing of this run), or cancelled during the last
                # stage (the member said stop: no version, and nothing goes live).
                cancelled = this_run(job.pk, job.run_number).filter(cancel_requested=True).exists()
                transaction.set_rollback(True)  # no query may follow in this block
                shutil.rmtree(folder, ignore_errors=True)
                if cancelled:
                    raise TrainingCancelled(outcome.training.steps_done, outcome.training.history)
                return None
        except BaseException:
            # Still under the lock: no other run can have been given this number meanwhile.
            shutil.rmtree(folder, ignore_errors=True)
            raise
    reporter.log_entries = log["log_entries"]
    shutil.rmtree(checkpoint_dir(job), ignore_errors=True)
    logger.info("job %s: version v%s saved%s", job.pk, number, ", now live" if promoted else "")
    return version
