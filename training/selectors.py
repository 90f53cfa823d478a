"""Reads for fine-tuning: the training data of a tenant, jobs and versions."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from catalog.models import Product
from catalog.selectors.events import events_for_training
from tenants.models import Tenant
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus


def stuck_job_q(*, now: datetime | None = None) -> Q:
    """A running job whose heartbeat is older than TRAINING_HEARTBEAT_STALE_SECONDS, or missing:
    its worker has died. The reaper takes such jobs back; the ops console shows them."""
    stale_before = (now or timezone.now()) - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS)
    return Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))


def training_data_size(*, tenant: Tenant) -> tuple[int, int]:
    """(events, shoppers) that training may learn from: cleaned, bots left out."""
    totals = events_for_training(tenant=tenant).aggregate(
        events=Count("id"), shoppers=Count("shopper_key", distinct=True)
    )
    return totals["events"], totals["shoppers"]


def training_data_at_one_moment(*, tenant: Tenant) -> bool:
    """Whether every event training may read happened at the same moment: a split by time then has
    nothing to split. (No event at all is the minimum's business, training_data_size.)"""
    span = events_for_training(tenant=tenant).order_by().aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    return span["first"] is not None and span["first"] == span["last"]


def training_frames(*, tenant: Tenant, as_of: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tenant's interactions and items as the plain-Python trainer reads them.

    interactions: user_id, item_id, timestamp, event_type; items: item_id, title,
    category, brand, description. Items are the SKUs of the catalog. `as_of` (a job's
    `data_as_of`) leaves out events received and products created after it, so a job that
    resumes learns from the data its checkpoint was made from.
    """
    events = events_for_training(tenant=tenant).exclude(product__isnull=True)
    products = Product.objects.filter(tenant=tenant)
    if as_of is not None:
        events, products = events.filter(received_at__lte=as_of), products.filter(created_at__lte=as_of)
    interactions = pd.DataFrame.from_records(
        events.values_list("shopper_key", "product_external_id", "occurred_at", "type"),
        columns=["user_id", "item_id", "timestamp", "event_type"],
    )
    items = pd.DataFrame.from_records(
        products.values_list("external_id", "title", "category", "brand", "description"),
        columns=["item_id", "title", "category", "brand", "description"],
    )
    return interactions, items


def live_version(*, tenant: Tenant) -> ModelVersion | None:
    return ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).first()


def training_job_list(*, tenant: Tenant, status: str = "") -> QuerySet[TrainingJob]:
    """The tenant's jobs, newest first, each with its version (one query for both)."""
    jobs = TrainingJob.objects.filter(tenant=tenant).select_related("version")
    return jobs.filter(status=status) if status else jobs


def training_job_get(*, tenant: Tenant, job_id: int) -> TrainingJob:
    """Raises TrainingJob.DoesNotExist, also for another tenant's job."""
    return TrainingJob.objects.select_related("version").get(tenant=tenant, pk=job_id)


def model_version_list(*, tenant: Tenant) -> QuerySet[ModelVersion]:
    """The tenant's versions, newest first, with their job and who promoted them."""
    return ModelVersion.objects.filter(tenant=tenant).select_related("job", "promoted_by")


def model_version_get(*, tenant: Tenant, version_id: int) -> ModelVersion:
    """Raises ModelVersion.DoesNotExist, also for another tenant's version."""
    return ModelVersion.objects.get(tenant=tenant, pk=version_id)


def model_version_rollback_target(*, tenant: Tenant) -> ModelVersion | None:
    """The version a rollback brings back: the one live most recently before the current one."""
    return (
        ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.ARCHIVED, promoted_at__isnull=False)
        .order_by("-promoted_at")
        .first()
    )
