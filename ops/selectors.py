"""Reads of the ops console: every tenant's jobs, which of them are stuck, compute per tenant.

Cross-tenant by design: everything here reads through `TrainingJob.all_tenants`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import BooleanField, Count, ExpressionWrapper, QuerySet, Sum
from django.utils import timezone

from tenants.models import Tenant
from training.models import TrainingJob
from training.selectors import stuck_job_q

# What a job row or a tenant label reads: a sandbox's store and learner (Tenant.staff_label).
TENANT_LABEL_RELATIONS = ("tenant__sandbox_of", "tenant__sandbox_owner")

# The age filter of the jobs table: how far back `created_at` may lie; None: no limit.
JOB_AGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1), "all": None}
STUCK = "stuck"  # a status filter value beside the real statuses


@dataclass(frozen=True)
class JobFilters:
    status: str = ""  # a JobStatus, STUCK, or "" for every status
    tenant_id: int | None = None
    age: str = "all"  # a key of JOB_AGES


def ops_job_list(*, filters: JobFilters, now: datetime | None = None) -> QuerySet[TrainingJob]:
    """Every tenant's jobs, newest first, each with its tenant and `is_stuck`."""
    now = now or timezone.now()
    stuck = stuck_job_q(now=now)
    jobs = TrainingJob.all_tenants.select_related(*TENANT_LABEL_RELATIONS).annotate(
        is_stuck=ExpressionWrapper(stuck, output_field=BooleanField())
    )
    if filters.status == STUCK:
        jobs = jobs.filter(stuck)
    elif filters.status:
        jobs = jobs.filter(status=filters.status)
    if filters.tenant_id is not None:
        jobs = jobs.filter(tenant_id=filters.tenant_id)
    max_age = JOB_AGES.get(filters.age)
    if max_age is not None:
        jobs = jobs.filter(created_at__gte=now - max_age)
    return jobs.order_by("-created_at", "-id")


def ops_stuck_job_count(*, now: datetime | None = None) -> int:
    return TrainingJob.all_tenants.filter(stuck_job_q(now=now)).count()


def ops_job_get(*, job_id: int) -> TrainingJob:
    """Any tenant's job, with its tenant and `is_stuck`. Raises TrainingJob.DoesNotExist."""
    return ops_job_list(filters=JobFilters()).get(pk=job_id)


def ops_tenants_by_id(*, tenant_ids) -> dict[int, Tenant]:
    """The tenants of these ids, with what their staff label reads."""
    return Tenant.objects.select_related("sandbox_of", "sandbox_owner").in_bulk(list(tenant_ids))


def ops_jobs_by_id(*, job_ids) -> dict[int, TrainingJob]:
    """Any tenant's jobs of these ids, with their tenant."""
    return TrainingJob.all_tenants.select_related(*TENANT_LABEL_RELATIONS).in_bulk(list(job_ids))


def month_start(now: datetime | None = None) -> datetime:
    """Midnight of the first day of the current month, in the site's time zone."""
    return timezone.localtime(now or timezone.now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class TenantCompute:
    tenant_id: int
    tenant_label: str  # Tenant.staff_label
    jobs: int
    seconds: float


def ops_compute_by_tenant(*, since: datetime) -> list[TenantCompute]:
    """Compute seconds of the jobs started since `since`, per tenant, the largest first.

    A job counts in full in the month its latest run started: `compute_seconds` is one total
    per job (the reporter rewrites it as the run goes), not a series that could be cut at the
    first of the month.
    """
    rows = list(
        TrainingJob.all_tenants.filter(started_at__gte=since)
        .values("tenant_id")
        .annotate(jobs=Count("id"), seconds=Sum("compute_seconds"))
        .order_by("-seconds", "tenant__name", "tenant_id")
    )
    tenants = Tenant.objects.select_related("sandbox_of", "sandbox_owner").in_bulk(
        [row["tenant_id"] for row in rows]
    )
    return [
        TenantCompute(row["tenant_id"], tenants[row["tenant_id"]].staff_label, row["jobs"], row["seconds"] or 0.0)
        for row in rows
    ]
