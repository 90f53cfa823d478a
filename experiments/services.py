"""Writes on experiments: create a design, start, stop, change the traffic share, delete a draft.

A design is checked whole before anything is stored, and each problem is
named by its field (`variants[1].model_version`), so the form and the API can
show it where it belongs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from courses.gating import certificate_requirement_check
from experiments.models import Experiment, ExperimentStatus, Metric, Variant, VariantKind
from tenants.models import Tenant
from training.models import ModelVersion, VersionStatus

MAX_VARIANTS = 5
# Weights are relative, so a million to one is more than any test needs; without a bound, two
# weights of 1e308 are each finite and their sum is not, and no shopper could be assigned.
MAX_WEIGHT = 1_000_000


class ExperimentStateError(Exception):
    """The experiment is not in a state that allows this (starting a stopped one, say)."""


def _traffic_share_valid(traffic_share: float) -> bool:
    return 0 < traffic_share <= 1


def _traffic_share_message() -> str:
    return _("The share of traffic must be more than 0 and at most 1 (100%).")


def experiment_design_check(*, tenant: Tenant, name: str, hypothesis: str = "", **design) -> None:
    """The rules `experiment_create` applies, without creating anything: for a form whose own
    checks refused a field, to name every other bad one at the same time. Raises ValidationError."""
    _design_check(tenant=tenant, name=name, **design)


def _design_check(*, name: str, **design) -> None:
    """Raises ValidationError naming every bad field of a design, the name included."""
    errors = _design_errors(**design)
    if not name.strip():
        errors["name"] = _("Give the experiment a name.")
    if errors:
        raise ValidationError(errors)


def _design_errors(
    *,
    tenant: Tenant,
    key: str,
    experiment_id: int | None = None,
    traffic_share: float,
    primary_metric: str,
    guardrail_metrics: Sequence[str],
    variants: Sequence[dict[str, Any]],
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not key or key != slugify(key):
        errors["key"] = _("Use lowercase letters, digits and hyphens only.")
    elif Experiment.objects.filter(tenant=tenant, key=key).exclude(pk=experiment_id).exists():
        errors["key"] = _("An experiment with this key exists already.")
    if not _traffic_share_valid(traffic_share):
        errors["traffic_share"] = _traffic_share_message()
    if primary_metric not in Metric.values:
        errors["primary_metric"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(Metric.values)}
    unknown = [m for m in guardrail_metrics if m not in Metric.values]
    if unknown:
        errors["guardrail_metrics"] = _("Not a metric: %(names)s. Choose from: %(choices)s.") % {
            "names": ", ".join(map(str, unknown)), "choices": ", ".join(Metric.values)
        }
    elif primary_metric in guardrail_metrics:
        # Named as the form shows it; an API caller sent the key, which the label's metric has.
        errors["guardrail_metrics"] = _("%(metric)s is the primary metric, so it cannot be a guardrail too.") % {
            "metric": Metric(primary_metric).label
        }
    if not 2 <= len(variants) <= MAX_VARIANTS:
        errors["variants"] = _("Give between 2 and %(most)d variants.") % {"most": MAX_VARIANTS}
        return errors
    if sum(1 for v in variants if v.get("is_control")) != 1:
        errors["variants"] = _("Mark exactly one variant as the control.")
    weights = [v.get("weight") for v in variants]
    if sum(w for w in weights if isinstance(w, (int, float)) and not isinstance(w, bool)) <= 0:
        errors["variants"] = _("At least one variant needs a weight above 0.")
    seen = set()
    for index, variant in enumerate(variants):
        errors.update(_variant_errors(tenant, index, variant, seen))
    return errors


def _weight_valid(weight: Any) -> bool:
    if not isinstance(weight, (int, float)) or isinstance(weight, bool):
        return False
    try:
        weight = float(weight)
    except OverflowError:  # an int past the largest float
        return False
    # Finite too: an infinite or NaN weight would be stored, then break every JSON answer that
    # shows it, and the assignment of shoppers to variants once the experiment starts.
    return math.isfinite(weight) and 0 <= weight <= MAX_WEIGHT


def _variant_errors(tenant: Tenant, index: int, variant: dict[str, Any], seen: set[str]) -> dict[str, str]:
    errors = {}
    field = f"variants[{index}]"
    name = variant.get("name") or ""
    if not name or name != slugify(name):
        errors[f"{field}.name"] = _("Use lowercase letters, digits and hyphens only.")
    elif name in seen:
        errors[f"{field}.name"] = _("Two variants are named %(name)s.") % {"name": name}
    seen.add(name)
    if variant.get("kind") not in VariantKind.values:
        errors[f"{field}.kind"] = _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(VariantKind.values)
        }
    if not _weight_valid(variant.get("weight")):
        errors[f"{field}.weight"] = (
            _("A weight is a number from 0 to %(most)s.") % {"most": f"{MAX_WEIGHT:,}"}
        )
    version_id = variant.get("model_version")
    if variant.get("kind") == VariantKind.MODEL_VERSION:
        # Looked up in this tenant only: another tenant's version is "no such version".
        if version_id is None:
            errors[f"{field}.model_version"] = _("Choose the model version this variant serves.")
        elif not ModelVersion.objects.filter(tenant=tenant, pk=version_id).exists():
            errors[f"{field}.model_version"] = _("No model version %(id)s in your models.") % {
                "id": version_id
            }
    elif version_id is not None:
        errors[f"{field}.model_version"] = _("Only a variant that serves a model version names one.")
    return errors


@transaction.atomic
def experiment_create(
    *,
    tenant: Tenant,
    key: str,
    name: str,
    primary_metric: str,
    variants: Sequence[dict[str, Any]],
    hypothesis: str = "",
    traffic_share: float = 1.0,
    guardrail_metrics: Sequence[str] = (),
    created_by=None,
) -> Experiment:
    """A draft experiment. `variants`: dicts of name, kind, weight, is_control and, for the
    model_version kind, model_version (an id). Raises ValidationError naming every bad field."""
    _design_check(
        tenant=tenant,
        key=key,
        name=name,
        traffic_share=traffic_share,
        primary_metric=primary_metric,
        guardrail_metrics=guardrail_metrics,
        variants=variants,
    )
    experiment = Experiment.objects.create(
        tenant=tenant,
        key=key,
        name=name.strip(),
        hypothesis=hypothesis,
        traffic_share=traffic_share,
        primary_metric=primary_metric,
        guardrail_metrics=list(guardrail_metrics),
        created_by=created_by,
    )
    _variants_create(tenant, experiment, variants)
    return experiment


@transaction.atomic
def experiment_update_draft(
    *,
    tenant: Tenant,
    experiment_id: int,
    name: str,
    primary_metric: str,
    variants: Sequence[dict[str, Any]],
    hypothesis: str = "",
    traffic_share: float = 1.0,
    guardrail_metrics: Sequence[str] = (),
) -> Experiment:
    """Replace a draft's design, everything but its key, by the same rules as experiment_create.

    Only a draft: once shoppers were assigned, a new design would change what
    some of them see in the middle of the experiment (a new experiment is the
    clean way). Raises ExperimentStateError, or ValidationError naming every bad field.
    """
    experiment = _locked(tenant, experiment_id)
    if experiment.status != ExperimentStatus.DRAFT:
        raise ExperimentStateError(
            _("Only a draft's design can change; this experiment is %(status)s.")
            % {"status": experiment.get_status_display()}
        )
    _design_check(
        tenant=tenant,
        key=experiment.key,
        experiment_id=experiment.pk,
        name=name,
        traffic_share=traffic_share,
        primary_metric=primary_metric,
        guardrail_metrics=guardrail_metrics,
        variants=variants,
    )
    experiment.name, experiment.hypothesis = name.strip(), hypothesis
    experiment.traffic_share, experiment.primary_metric = traffic_share, primary_metric
    experiment.guardrail_metrics = list(guardrail_metrics)
    experiment.save(
        update_fields=["name", "hypothesis", "traffic_share", "primary_metric", "guardrail_metrics"]
    )
    experiment.variants.all().delete()
    _variants_create(tenant, experiment, variants)
    return experiment


def _variants_create(tenant: Tenant, experiment: Experiment, variants: Sequence[dict[str, Any]]) -> None:
    Variant.objects.bulk_create(
        [
            Variant(
                tenant=tenant,
                experiment=experiment,
                name=v["name"],
                kind=v["kind"],
                model_version_id=v.get("model_version"),
                weight=float(v["weight"]),
                is_control=bool(v.get("is_control")),
                position=position,
            )
            for position, v in enumerate(variants)
        ]
    )


def _locked(tenant: Tenant, experiment_id: int) -> Experiment:
    return Experiment.objects.select_for_update().get(tenant=tenant, pk=experiment_id)


def _serve_changes_now(tenant: Tenant) -> None:
    from recommendations.serving import serving_state_forget

    transaction.on_commit(lambda: serving_state_forget(tenant_id=tenant.pk))


@transaction.atomic
def experiment_start(*, tenant: Tenant, experiment_id: int, by) -> Experiment:
    """Draft -> running: from the next request, shoppers are assigned and served their variant.

    `by` is the member starting it, who must hold the certificate the tenant requires, if any
    (raises courses.gating.CertificateRequired); None when no person acts (the tenant's secret
    key, a script), as there is then no member to ask. Required, so that every caller says which.
    """
    experiment = _locked(tenant, experiment_id)
    if by is not None:
        certificate_requirement_check(tenant=tenant, user=by)
    if experiment.status != ExperimentStatus.DRAFT:
        raise ExperimentStateError(
            _("Only a draft can start; this experiment is %(status)s.")
            % {"status": experiment.get_status_display()}
        )
    running = Experiment.objects.filter(tenant=tenant, status=ExperimentStatus.RUNNING).first()
    if running is not None:
        raise ExperimentStateError(
            _("%(key)s is running: stop it first (one experiment runs at a time).") % {"key": running.key}
        )
    live_arm = experiment.variants.filter(kind=VariantKind.LIVE).first()
    if live_arm is not None and not ModelVersion.objects.filter(tenant=tenant, status=VersionStatus.LIVE).exists():
        # That arm would serve best sellers, the fallback: not the comparison anyone designed.
        raise ExperimentStateError(
            _("No model is live, so the variant “%(name)s” would serve best sellers, not a model. "
              "Make a version live first, or compare with a popularity variant.") % {"name": live_arm.name}
        )
    experiment.status, experiment.started_at = ExperimentStatus.RUNNING, timezone.now()
    try:
        with transaction.atomic():
            experiment.save(update_fields=["status", "started_at"])
    except IntegrityError:  # another start won the race
        raise ExperimentStateError(_("Another experiment has just started: one runs at a time."))
    from recommendations.tasks import item_embeddings_refresh_queue

    # The variants' versions embed the products added since they were trained.
    for version_id in experiment.variants.exclude(model_version=None).values_list(
        "model_version_id", flat=True
    ):
        item_embeddings_refresh_queue(tenant_id=tenant.pk, version_id=version_id)
    _serve_changes_now(tenant)
    return experiment


@transaction.atomic
def experiment_stop(*, tenant: Tenant, experiment_id: int) -> Experiment:
    """Running -> stopped: everyone is served the live model again; the results stay.

    Not gated by the certificate requirement: stopping is the way out of a bad experiment and
    must stay open to whichever admin is on hand."""
    experiment = _locked(tenant, experiment_id)
    if experiment.status != ExperimentStatus.RUNNING:
        raise ExperimentStateError(
            _("Only a running experiment can stop; this one is %(status)s.")
            % {"status": experiment.get_status_display()}
        )
    experiment.status, experiment.stopped_at = ExperimentStatus.STOPPED, timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    _serve_changes_now(tenant)
    return experiment


@transaction.atomic
def experiment_traffic_share_set(*, tenant: Tenant, experiment_id: int, traffic_share: float) -> Experiment:
    """Ramp the share of shoppers up or down. Safe while running: a shopper who stays in keeps
    their variant (experiments.assignment). The weights, by contrast, never change once saved:
    new weights would move shoppers between variants; that is a new experiment."""
    if not _traffic_share_valid(traffic_share):
        raise ValidationError({"traffic_share": _traffic_share_message()})
    experiment = _locked(tenant, experiment_id)
    if experiment.status == ExperimentStatus.STOPPED:
        raise ExperimentStateError(_("A stopped experiment does not change."))
    experiment.traffic_share = traffic_share
    experiment.save(update_fields=["traffic_share"])
    _serve_changes_now(tenant)
    return experiment


@transaction.atomic
def experiment_delete(*, tenant: Tenant, experiment_id: int) -> None:
    """Only a draft: once shoppers were served, the record of what they saw stays."""
    experiment = _locked(tenant, experiment_id)
    if experiment.status != ExperimentStatus.DRAFT:
        raise ExperimentStateError(_("Only a draft can be deleted; stop a running experiment instead."))
    experiment.delete()
