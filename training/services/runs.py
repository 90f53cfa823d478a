"""The run of a claimed job: data -> fine-tuning -> a model version, with progress on the job row.

The caller (the Celery task) has claimed the job (status running) and set the
tenant scope.
"""
from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.models import Tenant
from training.ml.config import TrainConfig, resolve_device
from training.ml.data import DataError
from training.ml.loop import TrainingCancelled
from training.models import JobStatus, ModelVersion, TrainingJob
from training.selectors import training_frames
from training.services.jobs import _JobReporter, checkpoint_dir, this_run
from training.services.versions import model_version_promote_if_better

logger = logging.getLogger(__name__)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _finish(job: TrainingJob, status: str, **fields) -> None:
    this_run(job.pk, job.run_number).update(status=status, finished_at=timezone.now(), **fields)


def training_job_run(*, job_id: int) -> ModelVersion | None:
    """Train the job's model and store its version; the job ends succeeded, failed or cancelled."""
    from training.ml.pipeline import fine_tune

    job = TrainingJob.objects.get(pk=job_id)
    config = TrainConfig.from_stored(job.config)
    reporter = _JobReporter(
        job_id=job.pk, run_number=job.run_number, started=time.monotonic() - job.compute_seconds
    )
    device = resolve_device(config.device)
    this_run(job.pk, job.run_number).update(device=device)
    try:
        interactions, items = training_frames(tenant=job.tenant)
        reporter.log(f"data: {len(interactions)} events, {len(items)} products; device {device}")

        def record_epoch(record) -> None:
            entry = asdict(record)
            job.epoch_metrics = [e for e in job.epoch_metrics if e["epoch"] != entry["epoch"]] + [entry]
            this_run(job.pk, job.run_number).update(epoch_metrics=job.epoch_metrics)
            ndcg = entry["validation"].get("ndcg@10")
            reporter.log(f"epoch {entry['epoch']}: train loss {entry['train_loss']}, validation NDCG@10 {ndcg:.4f}")

        outcome = fine_tune(
            config, interactions, items,
            checkpoint_dir=checkpoint_dir(job),
            progress=reporter.progress,
            should_cancel=reporter.cancel_requested,
            on_epoch=record_epoch,
        )
        if outcome.training.resumed_from_epoch is not None:
            reporter.log(f"resumed from the checkpoint of epoch {outcome.training.resumed_from_epoch}")
    except TrainingCancelled as cancelled:
        reporter.log(f"cancelled after step {cancelled.step}")
        _finish(job, JobStatus.CANCELLED, cancel_requested=False)
        return None
    except DataError as error:
        _finish(job, JobStatus.FAILED, error=str(error))
        return None
    except Exception:
        logger.exception("training job %s failed", job.pk)
        _finish(job, JobStatus.FAILED, error=traceback.format_exc(limit=5)[-4000:])
        return None
    return _store_version(job, outcome, reporter)


def _store_version(job: TrainingJob, outcome, reporter: _JobReporter) -> ModelVersion | None:
    from training.ml.artifacts import save_version

    tenant: Tenant = job.tenant
    with transaction.atomic():
        # Lock the tenant row: version numbers are handed out one at a time.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        number = (ModelVersion.objects.filter(tenant=tenant).aggregate(top=Max("number"))["top"] or 0) + 1
        folder = Path(settings.MODELS_DIR) / str(tenant.pk) / f"v{number}"
        shutil.rmtree(folder, ignore_errors=True)  # left by a crash between save and commit
        save_version(folder, **outcome.version_parts())
        version = ModelVersion.objects.create(
            tenant=tenant, number=number, job=job,
            base_model=outcome.config.base_model, method=outcome.config.method,
            metrics=outcome.metrics, artifact_path=str(folder), artifact_bytes=_folder_bytes(folder),
        )
        finished = this_run(job.pk, job.run_number).update(
            status=JobStatus.SUCCEEDED, finished_at=timezone.now(), progress=1.0, eta_seconds=0,
            epoch_metrics=outcome.metrics["epochs"],
        )
        if not finished:  # the job was taken back meanwhile: keep nothing of this run
            transaction.set_rollback(True)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        promoted = model_version_promote_if_better(tenant=tenant, version=version)
    shutil.rmtree(checkpoint_dir(job), ignore_errors=True)
    reporter.log(_("version v%(number)d saved%(live)s") % {
        "number": number, "live": _(", now live") if promoted else ""})
    return version
