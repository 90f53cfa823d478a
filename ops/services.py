"""Writes of the ops console: retry and cancel any tenant's job, stuck ones included.

The training services do the work (their checks, their messages, the task sent on commit);
the caller runs these inside `tenant_scope(job.tenant)`, as those services expect. What is
added here is only what a stuck job needs first: its worker is gone, so nobody would act on
a cancel request, and the training service retries only failed or cancelled jobs.

Each action is recorded with the staff member who took it, in Django's admin log (/admin/,
"Recent actions") and the server log: staff write to any tenant's data from here, and who
cancelled a merchant's job, and when, must be answerable.
"""
from __future__ import annotations

import logging

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from tenants.models import Tenant
from training.models import JobStatus, TrainingJob
from training.presentation import STAFF_ACTIONS
from training.selectors import stuck_job_q
from training.services.jobs import training_job_cancel, training_job_retry

logger = logging.getLogger(__name__)


def _record(*, actor, job: TrainingJob, action: str) -> None:
    """In the caller's transaction: an action that is rolled back leaves no record. `action`, a key
    of STAFF_ACTIONS, starts the message: the merchant's job page reads it from there."""
    assert action in STAFF_ACTIONS, action
    LogEntry.objects.log_actions(
        user_id=actor.pk, queryset=[job], action_flag=CHANGE,
        change_message=f"{action} from the ops console (job of tenant {job.tenant_id}, now {job.status})",
        single_object=True,
    )
    logger.info("ops: %s %s job %s of tenant %s", actor.get_username(), action.lower(), job.pk, job.tenant_id)


def _take_back_if_stuck(*, tenant: Tenant, job_id: int, **fields) -> bool:
    """Conditional, like the reaper's update: a worker that came back to life in between keeps its job."""
    return TrainingJob.objects.filter(stuck_job_q(), tenant=tenant, pk=job_id).update(
        heartbeat_at=None, **fields
    ) == 1


@transaction.atomic
def ops_job_retry(*, tenant: Tenant, job_id: int, actor) -> TrainingJob:
    """Queue the job again (it resumes from its last checkpoint), with a fresh count of attempts.

    A stuck job is first marked failed, as the reaper would after its last attempt, so that the
    training service's retry accepts it; if the service refuses (another job of the tenant is
    queued), the transaction leaves the stuck job as it was. Raises JobStateError, DoesNotExist.
    """
    _take_back_if_stuck(tenant=tenant, job_id=job_id, status=JobStatus.FAILED, finished_at=timezone.now())
    job = training_job_retry(tenant=tenant, job_id=job_id)
    _record(actor=actor, job=job, action="Retried")
    return job


@transaction.atomic
def ops_job_cancel(*, tenant: Tenant, job_id: int, actor) -> TrainingJob:
    """Cancel the job. A stuck job is cancelled at once: it is taken back to the queue, as the
    reaper does but without sending it to a worker, and the training service cancels a queued
    job on the spot (a running one would wait for a worker that is gone). Raises JobStateError,
    DoesNotExist."""
    _take_back_if_stuck(tenant=tenant, job_id=job_id, status=JobStatus.QUEUED)
    job = training_job_cancel(tenant=tenant, job_id=job_id)
    _record(actor=actor, job=job, action="Cancelled" if job.status == JobStatus.CANCELLED else "Asked to cancel")
    return job
