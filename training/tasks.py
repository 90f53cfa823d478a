"""Celery tasks of fine-tuning: the run on the `gpu` queue, and the reaper of lost jobs."""
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tenants.tasks import TenantTask
from training.models import JobStatus, TrainingJob
from training.selectors import stuck_job_q
from training.services.jobs import training_job_claim, training_job_enqueue
from training.services.runs import training_job_run

logger = logging.getLogger(__name__)


@shared_task(base=TenantTask, acks_late=True, queue="gpu", name="training.run_job")
def training_job_run_task(*, tenant_id: int, job_id: int) -> None:
    # acks_late: a worker that dies mid-run leaves the message to be redelivered;
    # the claim makes the redelivered copy a no-op while the job is not queued.
    if not training_job_claim(job_id=job_id):
        logger.info("job %s is not queued (redelivered or cancelled): nothing to do", job_id)
        return
    training_job_run(job_id=job_id)


@shared_task(name="training.reap_stale_jobs")
def training_jobs_reap_task() -> dict:
    """Jobs whose worker stopped sending heartbeats go back to the queue (they resume from
    their last checkpoint), or fail with the reason after too many tries. Cross-tenant by
    design: it is the ops loop that keeps no job "running" forever."""
    stale = stuck_job_q()
    requeued = failed = 0
    for job in TrainingJob.all_tenants.filter(stale).only("id", "tenant_id", "attempts"):
        # Conditional: a worker that comes back to life in between keeps its job.
        still_stale = TrainingJob.all_tenants.filter(stale, pk=job.pk)
        if job.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            failed += still_stale.update(
                status=JobStatus.FAILED, finished_at=timezone.now(),
                error=f"The worker stopped answering {job.attempts} times; giving up.",
            )
        elif still_stale.update(status=JobStatus.QUEUED, heartbeat_at=None):
            requeued += 1
            training_job_enqueue(job)
    if requeued or failed:
        logger.warning("reaper: %d job(s) requeued, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}
