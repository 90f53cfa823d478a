"""What the experiments API's modules share: the serializers of an experiment and its variants, the
names of the metrics, the key in the path and its 404, and the lookup by key in the request's tenant."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from experiments.models import Experiment, Metric, Variant, VariantKind
from experiments.selectors import experiment_get_by_key
from tenants.api_fields import FiniteFloatField, UnknownFieldsRefusedMixin

# --- Serializers shared by the views ---------------------------------------------------------


class VariantOutputSerializer(serializers.ModelSerializer):
    model_version_number = serializers.IntegerField(
        source="model_version.number",
        allow_null=True,
        read_only=True,
        help_text="The number of the model version served; null unless kind is model_version.",
    )

    class Meta:
        model = Variant
        fields = ["name", "kind", "model_version", "model_version_number", "weight", "is_control"]
        read_only_fields = fields
        extra_kwargs = {"model_version": {"help_text": "The id of the model version served, or null."}}
        ref_name = "ExperimentVariant"


# The metrics are an enum under one name only, primary_metric: drf-spectacular warns when one set of
# choices has several names, and the schema must build without a warning.
METRIC_NAMES = ", ".join(Metric.values)


class ExperimentOutputSerializer(serializers.ModelSerializer):
    guardrail_metrics = serializers.ListField(
        child=serializers.CharField(), help_text=f"Watched for harm, not decided on: {METRIC_NAMES}."
    )
    variants = VariantOutputSerializer(many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "key",
            "name",
            "hypothesis",
            "status",
            "traffic_share",
            "primary_metric",
            "guardrail_metrics",
            "variants",
            "created_by",
            "created_at",
            "started_at",
            "stopped_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "traffic_share": {"help_text": "The share of shoppers in the experiment, above 0 and up to 1."}
        }
        ref_name = "Experiment"


class VariantInputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
    name = serializers.CharField(max_length=40, help_text="Lowercase letters, digits and hyphens.")
    kind = serializers.ChoiceField(choices=VariantKind.choices)
    model_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The id of one of your model versions; only for the model_version kind.",
    )
    weight = FiniteFloatField(min_value=0, help_text="Relative: weights need not add up to 1.")
    is_control = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "ExperimentVariantInput"


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()

    class Meta:
        ref_name = "ExperimentConflict"


# --- Shared by the views ---------------------------------------------------------------------

KEY = OpenApiParameter(
    "key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The experiment's key.",
    examples=[OpenApiExample("A key", value="v4-vs-live")],
)
NO_SUCH_EXPERIMENT = OpenApiResponse(description="No experiment with this key in the tenant.")


def _experiment_or_404(request, key: str) -> Experiment:
    try:
        return experiment_get_by_key(tenant=request.tenant, key=key)
    except Experiment.DoesNotExist:
        raise NotFound(_("No experiment with this key."))
