"""Writes on model versions: promotion and rollback."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courses.gating import certificate_requirement_check
from experiments.models import Experiment, ExperimentStatus, VariantKind
from experiments.services import experiment_stop
from tenants.models import Tenant
from training.models import ModelVersion, VersionStatus
from training.selectors import model_version_rollback_target
from training.signals import live_version_changed

HEADLINE_METRIC = "ndcg@10"
# Search embeds a shopper's words with the live version's encoder. A version whose encoder finds
# the catalog's category names this much worse than the pretrained one did (its "search" figure,
# training.ml.pipeline) does not go live by itself, however well it recommends.
SEARCH_LOSS_TOLERATED = 0.10


class PromotionError(Exception):
    """Nothing to roll back to, or the version cannot go live."""


def _make_live(*, tenant: Tenant, version: ModelVersion, by=None) -> ModelVersion:
    ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).exclude(pk=version.pk).update(
        status=VersionStatus.ARCHIVED
    )
    version.status, version.promoted_at, version.promoted_by = VersionStatus.LIVE, timezone.now(), by
    version.save(update_fields=["status", "promoted_at", "promoted_by"])
    transaction.on_commit(lambda: live_version_changed.send(sender=ModelVersion, tenant_id=tenant.pk))
    return version


@transaction.atomic
def model_version_promote(*, tenant: Tenant, version_id: int, by=None) -> ModelVersion:
    """Make a version live by hand; the live one is archived, one click from coming back.

    `by` is the member promoting: they must hold the certificate the tenant requires, if any
    (raises courses.gating.CertificateRequired). None when no person acts (the tenant's secret
    key, a script): the requirement is about members, and there is no member to ask.
    """
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    version = ModelVersion.objects.get(tenant=tenant, pk=version_id)
    model_version_promotion_check(tenant=tenant, version=version, by=by)
    return _make_live(tenant=tenant, version=version, by=by)


def model_version_promotion_check(*, tenant: Tenant, version: ModelVersion, by=None) -> None:
    """Raise what `model_version_promote` would refuse this version for, with its reason: the
    certificate `by` lacks (courses.gating.CertificateRequired), or a PromotionError. The
    confirmation page asks it first, so that it never promises a switch the click cannot make."""
    if by is not None:
        certificate_requirement_check(tenant=tenant, user=by)
    if version.status == VersionStatus.LIVE:
        raise PromotionError(_("v%(number)d is already live.") % {"number": version.number})
    experiment = experiment_on_the_live_model(tenant=tenant)
    if experiment is not None:
        raise PromotionError(
            _("The experiment %(key)s compares the live model: stop it before another version goes live, "
              "or one of its variants would serve two models in one test.") % {"key": experiment.key}
        )


def experiment_on_the_live_model(*, tenant: Tenant) -> Experiment | None:
    """The running experiment that serves "the live model" as one of its arms, if any. Automatic
    promotion waits while it runs: swapping that arm's model midway would mix two models in one
    arm's results, and nobody chose to."""
    return Experiment.objects.filter(
        tenant=tenant, status=ExperimentStatus.RUNNING, variants__kind=VariantKind.LIVE
    ).first()


def model_version_promote_if_better(*, tenant: Tenant, version: ModelVersion) -> bool:
    """After training: the new version goes live when the tenant allows it and it beats the
    live version's validation NDCG@10 (or nothing is live), unless a running experiment compares
    the live model. The caller holds the tenant lock.

    Not gated by the certificate requirement: no member chooses the version here; the tenant's
    own setting (auto_promote_models) and the validation metric do, and an owner may turn it off.
    A version whose fine-tuning cost search (`search_cost`) waits for a member to choose it."""
    if not tenant.auto_promote_models or experiment_on_the_live_model(tenant=tenant) is not None:
        return False
    if search_cost(version) is not None:
        return False
    live = ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).first()
    new_score = version.validation_metric(HEADLINE_METRIC) or 0.0
    if live is not None and new_score <= (live_validation_figure(version, live) or 0.0):
        return False
    _make_live(tenant=tenant, version=version)
    return True


def search_cost(version: ModelVersion) -> tuple[float, float] | None:
    """(its search figure, the pretrained encoder's) when fine-tuning made search worse than
    SEARCH_LOSS_TOLERATED allows; None when it did not, or was not measured (too few categories)."""
    search = version.metrics.get("search") or {}
    kept, pretrained = search.get(HEADLINE_METRIC), search.get("pretrained")
    if kept is None or pretrained is None or kept >= pretrained * (1 - SEARCH_LOSS_TOLERATED):
        return None
    return kept, pretrained


def live_validation_figure(version: ModelVersion, live: ModelVersion) -> float | None:
    """The live version's validation figure to hold a new version against: measured again on the
    new version's validation shoppers where the worker could (training.services.runs), else the
    live version's own, of the shoppers of its own split."""
    again = version.metrics.get("live_on_this_validation") or {}
    if again.get("version_id") == live.pk and again.get(HEADLINE_METRIC) is not None:
        return again[HEADLINE_METRIC]
    return live.validation_metric(HEADLINE_METRIC)


@dataclass(frozen=True)
class Rollback:
    version: ModelVersion  # live again
    stopped: Experiment | None  # the experiment on the live model that the rollback stopped


@transaction.atomic
def model_version_rollback(*, tenant: Tenant, by=None) -> Rollback:
    """Bring back the version that was live before the current one.

    Not gated by the certificate requirement, on purpose: rollback is the emergency exit when
    a live model misbehaves, and must stay one confirmation away for whichever admin is on hand. So,
    unlike a promotion, it does not wait for an experiment that compares the live model: it
    stops it, whose results then hold the one model it served."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    live = ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).first()
    previous = model_version_rollback_target(tenant=tenant)
    if previous is None:
        raise PromotionError(_("No earlier live version to roll back to."))
    if live is not None:
        # The rolled-back version must not be "previous" for the next rollback.
        live.status, live.promoted_at, live.promoted_by = VersionStatus.ARCHIVED, None, None
        live.save(update_fields=["status", "promoted_at", "promoted_by"])
    stopped = experiment_on_the_live_model(tenant=tenant)
    if stopped is not None:
        stopped = experiment_stop(tenant=tenant, experiment_id=stopped.pk)
    return Rollback(version=_make_live(tenant=tenant, version=previous, by=by), stopped=stopped)


@transaction.atomic
def tenant_auto_promote_set(*, tenant: Tenant, value: bool) -> Tenant:
    """Whether a version that beats the live one on validation goes live by itself after training."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    tenant.auto_promote_models = bool(value)
    tenant.save(update_fields=["auto_promote_models"])
    return tenant
