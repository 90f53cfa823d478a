from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import ApiKeyKind
from tenants.scope import TenantOwned


class RuleField(models.TextChoices):
    CATEGORY = "category", _("Category")
    BRAND = "brand", _("Brand")


class RuleAction(models.TextChoices):
    BOOST = "boost", _("Boost")
    BURY = "bury", _("Bury")


class RankingRule(TenantOwned):
    """A merchant's thumb on the scale: lift or sink the products of a category or a brand.

    A category rule matches the category and everything under it
    ("Grocery > Produce" matches "Grocery > Produce > Apples"); a brand rule
    matches the brand, ignoring case. The shift is `strength` standard
    deviations of the candidates' scores, so a rule means the same for every
    scorer (the model's blend or popularity counts).
    """

    field = models.CharField(_("field"), max_length=16, choices=RuleField.choices)
    value = models.CharField(_("value"), max_length=500)
    action = models.CharField(_("action"), max_length=8, choices=RuleAction.choices)
    strength = models.FloatField(_("strength"), default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "field", "value"], name="ranking_rule_unique_per_tenant"
            ),
            models.CheckConstraint(condition=models.Q(strength__gt=0), name="ranking_rule_strength_positive"),
        ]
        ordering = ["field", "value"]
        verbose_name = _("ranking rule")
        verbose_name_plural = _("ranking rules")

    def __str__(self) -> str:
        return f"{self.action} {self.field}={self.value}"


class ItemEmbedding(TenantOwned):
    """The embedding of a product added after a model version was trained, from that version's encoder.

    Lets a new product be recommended by its text before anyone has seen it;
    the vector is float32, L2-normalised, as the version's own item embeddings.
    """

    model_version = models.ForeignKey("training.ModelVersion", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "model_version", "product"], name="item_embedding_unique_per_version"
            ),
        ]


class ServedRecommendation(TenantOwned):
    """One list a storefront was given, kept so clicks and purchases that carry its id can be attributed.

    Written in batches off the request path (`recommendations.attribution`).
    """

    recommendation_id = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=16)  # recommendations, similar, search
    # The kind of API key the call was made with; empty for a member's session (Try it).
    api_key_kind = models.CharField(max_length=16, choices=ApiKeyKind.choices, blank=True)
    shopper_key = models.CharField(max_length=64, blank=True)
    model_version = models.PositiveIntegerField(
        null=True, blank=True
    )  # the number; null: popularity answered
    # Set when the list was served in an experiment: an exposure of `variant`.
    experiment = models.ForeignKey(
        "experiments.Experiment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    variant = models.CharField(max_length=64, blank=True)
    fallback = models.BooleanField(default=False)
    product_ids = models.JSONField(default=list)  # the SKUs, in the order served
    served_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "recommendation_id"], name="served_recommendation_unique_id_per_tenant"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "served_at"], name="served_tenant_time"),
            models.Index(fields=["tenant", "experiment", "shopper_key"], name="served_experiment_shopper"),
        ]
        ordering = ["-served_at"]
