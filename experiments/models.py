"""A/B experiments on what the storefront is served: a design (variants and their weights) and its life.

What was served in an experiment is `recommendations.ServedRecommendation`
(its `experiment` and `variant`): the exposures. Events that carry a served
list's `recommendation_id` are attributed to its variant.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.scope import TenantOwned


def _new_salt() -> str:
    return secrets.token_hex(8)


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    STOPPED = "stopped", _("Stopped")


class Metric(models.TextChoices):
    CLICK_THROUGH_RATE = "click_through_rate", _("Click-through rate")
    CONVERSION_RATE = "conversion_rate", _("Conversion rate")
    REVENUE_PER_SHOPPER = "revenue_per_shopper", _("Revenue per shopper")


class Experiment(TenantOwned):
    key = models.SlugField(_("key"), max_length=60)
    name = models.CharField(_("name"), max_length=200)
    hypothesis = models.TextField(_("hypothesis"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    # The share of shoppers in the experiment; the others get what everyone gets.
    traffic_share = models.FloatField(_("share of traffic"), default=1.0)
    primary_metric = models.CharField(_("primary metric"), max_length=32, choices=Metric.choices)
    guardrail_metrics = models.JSONField(_("guardrail metrics"), default=list, blank=True)
    # Hashed with the shopper id to assign variants (experiments.assignment); never changes.
    salt = models.CharField(max_length=32, default=_new_salt, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="experiment_unique_key_per_tenant"),
            # The recommendations endpoint applies the running experiment by itself: one at a time.
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="running"), name="experiment_one_running_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(traffic_share__gt=0) & Q(traffic_share__lte=1),
                name="experiment_traffic_share_range",
            ),
        ]
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")

    def __str__(self) -> str:
        return self.key


class VariantKind(models.TextChoices):
    LIVE = "live", _("The live model")
    MODEL_VERSION = "model_version", _("A model version")
    POPULARITY = "popularity", _("Popularity")


class Variant(TenantOwned):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.SlugField(_("name"), max_length=40)
    kind = models.CharField(_("serves"), max_length=16, choices=VariantKind.choices)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    weight = models.FloatField(_("weight"))
    is_control = models.BooleanField(_("control"), default=False)
    position = models.PositiveSmallIntegerField(default=0)  # the order of the weights' ranges

    class Meta:
        ordering = ["experiment_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "experiment", "name"], name="variant_unique_name"),
            models.UniqueConstraint(
                fields=["tenant", "experiment"], condition=Q(is_control=True), name="variant_one_control"
            ),
            models.CheckConstraint(condition=Q(weight__gte=0), name="variant_weight_not_negative"),
            models.CheckConstraint(
                condition=Q(kind="model_version", model_version__isnull=False)
                | (~Q(kind="model_version") & Q(model_version__isnull=True)),
                name="variant_model_version_iff_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name
