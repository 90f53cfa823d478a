"""Writes of the ops console: retry and cancel any tenant's job, stuck ones included.

The training services do the work (their checks, their messages, the task sent on commit);
the caller runs these inside `tenant_scope(job.tenant)`, as those services expect. What is
added here is only what a stuck job needs first: its worker is gone, so nobody would act on
a cancel request, and the training service retries only failed or cancelled jobs.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tenants.models import Tenant
from training.models import JobStatus, TrainingJob
from training.selectors import stuck_job_q
from training.services.jobs import training_job_cancel, training_job_retry


def _take_back_if_stuck(*, tenant: Tenant, job_id: int, **fields) -> bool:
    """Conditional, like the reaper's update: a worker that came back to life in between keeps its job."""
    return TrainingJob.objects.filter(stuck_job_q(), tenant=tenant, pk=job_id).update(
        heartbeat_at=None, **fields
    ) == 1


@transaction.atomic
def ops_job_retry(*, tenant: Tenant, job_id: int) -> TrainingJob:
    """Queue the job again (it resumes from its last checkpoint), with a fresh count of attempts.

    A stuck job is first marked failed, as the reaper would after its last attempt, so that the
    training service's retry accepts it; if the service refuses (another job of the tenant is
    queued), the transaction leaves the stuck job as it was. Raises JobStateError, DoesNotExist.
    """
    _take_back_if_stuck(tenant=tenant, job_id=job_id, status=JobStatus.FAILED, finished_at=timezone.now())
    return training_job_retry(tenant=tenant, job_id=job_id)


@transaction.atomic
def ops_job_cancel(*, tenant: Tenant, job_id: int) -> TrainingJob:
    """Cancel the job. A stuck job is cancelled at once: it is taken back to the queue, as the
    reaper does but without sending it to a worker, and the training service cancels a queued
    job on the spot (a running one would wait for a worker that is gone). Raises JobStateError,
    DoesNotExist."""
    _take_back_if_stuck(tenant=tenant, job_id=job_id, status=JobStatus.QUEUED)
    return training_job_cancel(tenant=tenant, job_id=job_id)
