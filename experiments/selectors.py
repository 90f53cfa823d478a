"""Reads on experiments (the analysis of their results is in experiments/analysis/)."""

from __future__ import annotations

from django.db.models import QuerySet

from experiments.models import Experiment
from tenants.models import Tenant


def experiment_list(*, tenant: Tenant) -> QuerySet[Experiment]:
    """The tenant's experiments, newest first, with their variants."""
    return Experiment.objects.filter(tenant=tenant).prefetch_related("variants__model_version")


def experiment_get(*, tenant: Tenant, experiment_id: int) -> Experiment:
    """Raises Experiment.DoesNotExist, also for another tenant's experiment."""
    return experiment_list(tenant=tenant).get(pk=experiment_id)


def experiment_get_by_key(*, tenant: Tenant, key: str) -> Experiment:
    """Raises Experiment.DoesNotExist, also for another tenant's experiment."""
    return experiment_list(tenant=tenant).get(key=key)
