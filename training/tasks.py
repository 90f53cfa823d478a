"""Celery tasks of fine-tuning: the run on the `gpu` queue, and the reaper of lost jobs."""
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from tenants.tasks import TenantTask
from training.models import JobStatus, TrainingJob
from training.notifications import training_job_email_outcome
from training.selectors import stuck_job_q
from training.services.jobs import training_job_claim, training_job_enqueue, training_job_send
from training.services.runs import training_job_run

logger = logging.getLogger(__name__)

# A job queued this long ago whose task never reached the broker is sent by the reaper; the
# grace keeps it from racing the send that follows the commit.
UNSENT_GRACE = timedelta(seconds=60)


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
    their last checkpoint), are cancelled when a member asked for it meanwhile, or fail with
    the reason after too many tries; queued jobs whose task never reached the broker, or was
    sent long ago, are sent again (the claim makes a duplicate harmless). Cross-tenant by
    design: it is the ops loop that keeps no job "running", or "queued", forever."""
    now = timezone.now()
    stale = stuck_job_q(now=now)
    requeued = failed = cancelled = 0
    for job in TrainingJob.all_tenants.filter(stale).only("id", "tenant_id", "attempts", "cancel_requested"):
        # Conditional: a worker that comes back to life in between keeps its job.
        still_stale = TrainingJob.all_tenants.filter(stale, pk=job.pk)
        if job.cancel_requested:
            cancelled += still_stale.update(status=JobStatus.CANCELLED, finished_at=now, cancel_requested=False)
        elif job.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            # A cancel asked since the read above is not a failure: the next round cancels it.
            gave_up = still_stale.filter(cancel_requested=False).update(
                status=JobStatus.FAILED, finished_at=now,
                error=f"The worker stopped answering {job.attempts} times; giving up.",
                error_code="worker_lost", error_params={"attempts": job.attempts},
            )
            failed += gave_up
            if gave_up:
                training_job_email_outcome(job_id=job.pk)
        elif still_stale.filter(cancel_requested=False).update(
            status=JobStatus.QUEUED, heartbeat_at=None, enqueued_at=None, eta_seconds=None
        ):
            requeued += 1
            training_job_enqueue(job)
    resent = 0
    unsent = Q(enqueued_at__isnull=True, created_at__lt=now - UNSENT_GRACE)
    sent_long_ago = Q(enqueued_at__lt=now - timedelta(seconds=settings.TRAINING_QUEUED_RESEND_SECONDS))
    for job in TrainingJob.all_tenants.filter(unsent | sent_long_ago, status=JobStatus.QUEUED).only(
        "id", "tenant_id"
    ):
        resent += training_job_send(tenant_id=job.tenant_id, job_id=job.pk)
    if requeued or failed or cancelled or resent:
        logger.warning(
            "reaper: %d job(s) requeued, %d failed, %d cancelled, %d queued job(s) sent again",
            requeued, failed, cancelled, resent,
        )
    return {"requeued": requeued, "failed": failed, "cancelled": cancelled, "resent": resent}
