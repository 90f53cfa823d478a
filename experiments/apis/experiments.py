"""The experiments API of the merchant UI: design an experiment, start it, stop it, read its results.

Every member may read; owners and admins (or the tenant's secret key) may
write, as in every TenantApiView. An experiment is known by its key, looked
up in the request's tenant only, so another tenant's key is a 404 like a
missing one. A design's problems come back as a 400 naming each field the
way the service does (`variants[1].model_version`); a change the
experiment's state does not allow (starting a stopped one, a second running
one) is a 409 with the reason.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from experiments.analysis import Verdict, experiment_results
from experiments.models import Experiment, ExperimentStatus, Metric, Variant, VariantKind
from experiments.selectors import experiment_get_by_key, experiment_list
from experiments.services import (
    ExperimentStateError,
    experiment_create,
    experiment_delete,
    experiment_start,
    experiment_stop,
    experiment_traffic_share_set,
)
from tenants.api import TenantApiView

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


class VariantInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40, help_text="Lowercase letters, digits and hyphens.")
    kind = serializers.ChoiceField(choices=VariantKind.choices)
    model_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The id of one of your model versions; only for the model_version kind.",
    )
    weight = serializers.FloatField(min_value=0, help_text="Relative: weights need not add up to 1.")
    is_control = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "ExperimentVariantInput"


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()

    class Meta:
        ref_name = "ExperimentConflict"


# --- Examples --------------------------------------------------------------------------------

EXPERIMENT_EXAMPLE_VALUE = {
    "key": "v4-vs-live",
    "name": "Version 4 against the live model",
    "hypothesis": "Fine-tuning on this winter's sales lifts the click-through of the home page list.",
    "status": ExperimentStatus.RUNNING,
    "traffic_share": 0.5,
    "primary_metric": Metric.CLICK_THROUGH_RATE,
    "guardrail_metrics": [Metric.REVENUE_PER_SHOPPER],
    "variants": [
        {
            "name": "control",
            "kind": VariantKind.LIVE,
            "model_version": None,
            "model_version_number": None,
            "weight": 0.5,
            "is_control": True,
        },
        {
            "name": "v4",
            "kind": VariantKind.MODEL_VERSION,
            "model_version": 17,
            "model_version_number": 4,
            "weight": 0.5,
            "is_control": False,
        },
    ],
    "created_by": "owner@acme.test",
    "created_at": "2025-02-01T09:00:00Z",
    "started_at": "2025-02-01T09:05:00Z",
    "stopped_at": None,
}
EXPERIMENT_EXAMPLE = OpenApiExample(
    "A running experiment", response_only=True, value=EXPERIMENT_EXAMPLE_VALUE
)

KEY = OpenApiParameter(
    "key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The experiment's key.",
    examples=[OpenApiExample("A key", value="v4-vs-live")],
)
NO_SUCH_EXPERIMENT = OpenApiResponse(description="No experiment with this key in the tenant.")
FIELD_ERRORS = OpenApiResponse(
    OpenApiTypes.OBJECT, description="{field: [reason]}, one entry per bad field (`variants[1].weight`)."
)


def _conflict_example(name: str, detail: str) -> OpenApiExample:
    return OpenApiExample(name, response_only=True, status_codes=["409"], value={"detail": detail})


# --- Helpers ---------------------------------------------------------------------------------


def _experiment_or_404(request, key: str) -> Experiment:
    try:
        return experiment_get_by_key(tenant=request.tenant, key=key)
    except Experiment.DoesNotExist:
        raise NotFound(_("No experiment with this key."))


def _acting_user(request):
    # A secret key has no person behind it: the experiment is then nobody's.
    return request.user if request.membership is not None else None


def _conflict(error: ExperimentStateError) -> Response:
    return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)


def _field_errors(detail, field: str = "") -> dict[str, list[str]]:
    """DRF's nested errors named the way the service names its own: `variants[1].weight`, so a
    client reads one shape of 400 whichever of the two found the problem."""
    if isinstance(detail, dict):
        errors = {}
        for name, value in detail.items():
            if isinstance(name, int):  # a ListField's item
                key = f"{field}[{name}]"
            elif name == api_settings.NON_FIELD_ERRORS_KEY and field:
                key = field
            else:
                key = f"{field}.{name}" if field else name
            errors.update(_field_errors(value, key))
        return errors
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        errors = {}
        for index, item in enumerate(detail):  # a nested serializer's items
            errors.update(_field_errors(item, f"{field}[{index}]"))
        return errors
    messages = detail if isinstance(detail, list) else [detail]
    return {field: [str(message) for message in messages]}


def _validated(serializer_class: type[serializers.Serializer], data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationError(_field_errors(serializer.errors))
    return serializer.validated_data


# --- Experiments -----------------------------------------------------------------------------


class ExperimentCollectionApi(TenantApiView):
    pagination_class = PageNumberPagination
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=60, help_text="Lowercase letters, digits and hyphens; unique.")
        name = serializers.CharField(max_length=200)
        hypothesis = serializers.CharField(required=False, allow_blank=True, default="")
        traffic_share = serializers.FloatField(
            required=False,
            default=1.0,
            help_text="The share of shoppers in the experiment, above 0 and up to 1.",
        )
        primary_metric = serializers.ChoiceField(choices=Metric.choices)
        guardrail_metrics = serializers.ListField(
            child=serializers.CharField(),
            required=False,
            default=list,
            help_text=f"Watched for harm, not decided on: {METRIC_NAMES}.",
        )
        variants = VariantInputSerializer(many=True, help_text="Two to five; exactly one is the control.")

        class Meta:
            ref_name = "ExperimentCreateInput"

    @extend_schema(
        operation_id="experiments_list",
        summary="List experiments",
        description="Newest first, each with its variants.",
        responses={200: ExperimentOutputSerializer(many=True)},
        examples=[EXPERIMENT_EXAMPLE],
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(experiment_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response(ExperimentOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="experiments_create",
        summary="Design an experiment",
        description=(
            "Creates a draft: nothing is served differently until it starts. A variant serves the live "
            "model, one of your model versions (by id) or popularity; the weights split the shoppers in "
            "the experiment and never change once saved. Every problem is named by its field."
        ),
        request=InputSerializer,
        responses={201: ExperimentOutputSerializer, 400: FIELD_ERRORS},
        examples=[
            OpenApiExample(
                "A model version against the live model",
                request_only=True,
                value={
                    "key": "v4-vs-live",
                    "name": "Version 4 against the live model",
                    "traffic_share": 0.5,
                    "primary_metric": "click_through_rate",
                    "guardrail_metrics": ["revenue_per_shopper"],
                    "variants": [
                        {"name": "control", "kind": "live", "weight": 0.5, "is_control": True},
                        {"name": "v4", "kind": "model_version", "model_version": 17, "weight": 0.5},
                    ],
                },
            ),
            EXPERIMENT_EXAMPLE,
            OpenApiExample(
                "Another tenant's model version",
                response_only=True,
                status_codes=["400"],
                value={"variants[1].model_version": ["No model version 17 in your models."]},
            ),
        ],
    )
    def post(self, request):
        given = _validated(self.InputSerializer, request.data)
        try:
            experiment = experiment_create(tenant=request.tenant, created_by=_acting_user(request), **given)
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(ExperimentOutputSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(TenantApiView):
    @extend_schema(
        operation_id="experiments_retrieve",
        summary="Read an experiment",
        description="Its design, its variants and where it stands.",
        parameters=[KEY],
        responses={200: ExperimentOutputSerializer, 404: NO_SUCH_EXPERIMENT},
        examples=[EXPERIMENT_EXAMPLE],
    )
    def get(self, request, key: str):
        return Response(ExperimentOutputSerializer(_experiment_or_404(request, key)).data)

    @extend_schema(
        operation_id="experiments_destroy",
        summary="Delete a draft",
        description="Only a draft: once shoppers were served, the record of what they saw stays (a 409).",
        parameters=[KEY],
        responses={204: None, 404: NO_SUCH_EXPERIMENT, 409: ConflictSerializer},
        examples=[
            _conflict_example(
                "Not a draft", "Only a draft can be deleted; stop a running experiment instead."
            )
        ],
    )
    def delete(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        try:
            experiment_delete(tenant=request.tenant, experiment_id=experiment.pk)
        except ExperimentStateError as error:
            return _conflict(error)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExperimentStartApi(TenantApiView):
    @extend_schema(
        operation_id="experiments_start",
        summary="Start an experiment",
        description=(
            "From the next request, shoppers in the experiment's share of traffic are served their "
            "variant. Only a draft starts, and one experiment runs at a time: otherwise a 409."
        ),
        request=None,
        parameters=[KEY],
        responses={200: ExperimentOutputSerializer, 404: NO_SUCH_EXPERIMENT, 409: ConflictSerializer},
        examples=[
            EXPERIMENT_EXAMPLE,
            _conflict_example(
                "Another one is running",
                "holiday-banner is running: stop it first (one experiment runs at a time).",
            ),
        ],
    )
    def post(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        try:
            experiment = experiment_start(tenant=request.tenant, experiment_id=experiment.pk)
        except ExperimentStateError as error:
            return _conflict(error)
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentStopApi(TenantApiView):
    @extend_schema(
        operation_id="experiments_stop",
        summary="Stop an experiment",
        description="Everyone is served the live model again; the results stay. Not running: a 409.",
        request=None,
        parameters=[KEY],
        responses={200: ExperimentOutputSerializer, 404: NO_SUCH_EXPERIMENT, 409: ConflictSerializer},
        examples=[
            EXPERIMENT_EXAMPLE,
            _conflict_example("Not running", "Only a running experiment can stop; this one is Draft."),
        ],
    )
    def post(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        try:
            experiment = experiment_stop(tenant=request.tenant, experiment_id=experiment.pk)
        except ExperimentStateError as error:
            return _conflict(error)
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentTrafficApi(TenantApiView):
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        traffic_share = serializers.FloatField(help_text="Above 0 and up to 1.")

        class Meta:
            ref_name = "ExperimentTrafficInput"

    @extend_schema(
        operation_id="experiments_traffic",
        summary="Ramp the share of traffic",
        description=(
            "Safe while running: shoppers who stay in keep their variant, a higher share only adds "
            "shoppers. A stopped experiment does not change: a 409."
        ),
        request=InputSerializer,
        parameters=[KEY],
        responses={
            200: ExperimentOutputSerializer,
            400: FIELD_ERRORS,
            404: NO_SUCH_EXPERIMENT,
            409: ConflictSerializer,
        },
        examples=[
            OpenApiExample("Half of the shoppers", request_only=True, value={"traffic_share": 0.5}),
            EXPERIMENT_EXAMPLE,
            OpenApiExample(
                "Out of range",
                response_only=True,
                status_codes=["400"],
                value={"traffic_share": ["The share of traffic must be more than 0 and at most 1 (100%)."]},
            ),
        ],
    )
    def post(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        given = _validated(self.InputSerializer, request.data)
        try:
            experiment = experiment_traffic_share_set(
                tenant=request.tenant, experiment_id=experiment.pk, traffic_share=given["traffic_share"]
            )
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        except ExperimentStateError as error:
            return _conflict(error)
        return Response(ExperimentOutputSerializer(experiment).data)


# --- Results ---------------------------------------------------------------------------------


class BoundsOutputSerializer(serializers.Serializer):
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)

    class Meta:
        ref_name = "ExperimentInterval"


class ComparisonOutputSerializer(serializers.Serializer):
    variant = serializers.CharField(help_text="The treatment compared with the control.")
    control_shoppers = serializers.IntegerField()
    treatment_shoppers = serializers.IntegerField()
    control_value = serializers.FloatField(allow_null=True)
    treatment_value = serializers.FloatField(allow_null=True)
    absolute_lift = serializers.FloatField(allow_null=True, help_text="Treatment minus control.")
    absolute_interval = BoundsOutputSerializer(
        allow_null=True, help_text="95%, for one look decided in advance."
    )
    relative_lift = serializers.FloatField(allow_null=True, help_text="Treatment / control - 1.")
    relative_interval = BoundsOutputSerializer(allow_null=True)
    p_value = serializers.FloatField(
        allow_null=True, help_text="Holm-adjusted when there are several treatments."
    )
    unadjusted_p_value = serializers.FloatField(allow_null=True)
    always_valid_interval = BoundsOutputSerializer(
        allow_null=True,
        help_text="For the absolute lift; holds however often you look. The verdict reads it.",
    )
    verdict = serializers.ChoiceField(choices=Verdict.choices)

    class Meta:
        ref_name = "ExperimentComparison"


class MetricResultOutputSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text=METRIC_NAMES)
    cuped = serializers.BooleanField(
        help_text="The comparisons are on values adjusted by each shopper's purchases of the 30 days before."
    )
    values = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Each variant's raw value, by name."
    )
    comparisons = ComparisonOutputSerializer(many=True)

    class Meta:
        ref_name = "ExperimentMetricResult"


class VariantSummaryOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=VariantKind.choices)
    weight = serializers.FloatField()
    is_control = serializers.BooleanField()
    shoppers = serializers.IntegerField()
    exposures = serializers.IntegerField(help_text="Lists served.")
    impressions = serializers.IntegerField(help_text="Items shown.")
    clicks = serializers.IntegerField()
    converted_shoppers = serializers.IntegerField()
    revenue = serializers.FloatField()

    class Meta:
        ref_name = "ExperimentVariantSummary"


class SampleRatioOutputSerializer(serializers.Serializer):
    p_value = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField(help_text="The split is off the weights: do not trust the results.")
    shoppers = serializers.DictField(child=serializers.IntegerField())
    expected_shares = serializers.DictField(child=serializers.FloatField())

    class Meta:
        ref_name = "ExperimentSampleRatio"


class DailyValueOutputSerializer(serializers.Serializer):
    day = serializers.DateField()
    values = serializers.DictField(child=serializers.FloatField(allow_null=True))

    class Meta:
        ref_name = "ExperimentDailyValue"


class SampleSizePlanOutputSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text=METRIC_NAMES)
    control_value = serializers.FloatField(allow_null=True)
    relative_effect = serializers.FloatField()
    absolute_effect = serializers.FloatField(allow_null=True)
    shoppers_needed_per_variant = serializers.IntegerField(allow_null=True)
    control_shoppers = serializers.IntegerField()

    class Meta:
        ref_name = "ExperimentSampleSizePlan"


class ExperimentResultsApi(TenantApiView):
    class OutputSerializer(serializers.Serializer):
        experiment = serializers.CharField(help_text="The experiment's key.")
        # Not an enum: Experiment.status is, and two components with one enum make a schema warning.
        status = serializers.CharField(help_text="draft, running or stopped.")
        started_at = serializers.DateTimeField(allow_null=True)
        stopped_at = serializers.DateTimeField(allow_null=True)
        control = serializers.CharField()
        alpha = serializers.FloatField()
        min_shoppers_per_variant = serializers.IntegerField()
        shoppers = serializers.IntegerField()
        shoppers_in_several_variants = serializers.IntegerField()
        variants = VariantSummaryOutputSerializer(many=True)
        sample_ratio = SampleRatioOutputSerializer()
        primary = MetricResultOutputSerializer()
        guardrails = MetricResultOutputSerializer(many=True)
        primary_over_time = DailyValueOutputSerializer(many=True)
        planner = SampleSizePlanOutputSerializer()

        class Meta:
            ref_name = "ExperimentResults"

    @extend_schema(
        operation_id="experiments_results",
        summary="Read an experiment's results",
        description=(
            "Per treatment against the control, on the primary and each guardrail metric: the values, "
            "absolute and relative lift with 95% intervals (Welch's t-test; the delta method for "
            "click-through), the p-value, and an always-valid interval, safe to read every day, that "
            "decides the verdict: better, worse, no_difference_yet, or not_enough_data below "
            "`min_shoppers_per_variant`. Also: the sample-ratio check, the primary metric day by day, "
            "and the shoppers per variant needed to detect a 5% change."
        ),
        parameters=[KEY],
        responses={200: OutputSerializer, 404: NO_SUCH_EXPERIMENT},
        examples=[
            OpenApiExample(
                "Version 4 is ahead",
                response_only=True,
                value={
                    "experiment": "v4-vs-live",
                    "status": "running",
                    "started_at": "2025-02-01T09:05:00Z",
                    "stopped_at": None,
                    "control": "control",
                    "alpha": 0.05,
                    "min_shoppers_per_variant": 100,
                    "shoppers": 24130,
                    "shoppers_in_several_variants": 0,
                    "variants": [
                        {
                            "name": "control",
                            "kind": "live",
                            "weight": 0.5,
                            "is_control": True,
                            "shoppers": 12090,
                            "exposures": 30210,
                            "impressions": 302100,
                            "clicks": 9063,
                            "converted_shoppers": 604,
                            "revenue": 18120.5,
                        },
                        {
                            "name": "v4",
                            "kind": "model_version",
                            "weight": 0.5,
                            "is_control": False,
                            "shoppers": 12040,
                            "exposures": 30050,
                            "impressions": 300500,
                            "clicks": 9916,
                            "converted_shoppers": 615,
                            "revenue": 18630.0,
                        },
                    ],
                    "sample_ratio": {
                        "p_value": 0.747,
                        "flagged": False,
                        "shoppers": {"control": 12090, "v4": 12040},
                        "expected_shares": {"control": 0.5, "v4": 0.5},
                    },
                    "primary": {
                        "metric": "click_through_rate",
                        "cuped": False,
                        "values": {"control": 0.03, "v4": 0.033},
                        "comparisons": [
                            {
                                "variant": "v4",
                                "control_shoppers": 12090,
                                "treatment_shoppers": 12040,
                                "control_value": 0.03,
                                "treatment_value": 0.033,
                                "absolute_lift": 0.003,
                                "absolute_interval": {"low": 0.0021, "high": 0.0039},
                                "relative_lift": 0.1,
                                "relative_interval": {"low": 0.069, "high": 0.131},
                                "p_value": 1.2e-10,
                                "unadjusted_p_value": 1.2e-10,
                                "always_valid_interval": {"low": 0.0012, "high": 0.0048},
                                "verdict": "better",
                            }
                        ],
                    },
                    "guardrails": [],
                    "primary_over_time": [
                        {"day": "2025-02-01", "values": {"control": 0.029, "v4": 0.034}},
                        {"day": "2025-02-02", "values": {"control": 0.03, "v4": 0.033}},
                    ],
                    "planner": {
                        "metric": "click_through_rate",
                        "control_value": 0.03,
                        "relative_effect": 0.05,
                        "absolute_effect": 0.0015,
                        "shoppers_needed_per_variant": 20410,
                        "control_shoppers": 12090,
                    },
                },
            )
        ],
    )
    def get(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        results = experiment_results(tenant=request.tenant, experiment=experiment)
        return Response(self.OutputSerializer(results).data)


urlpatterns = [
    path("experiments", ExperimentCollectionApi.as_view(), name="api-experiment-collection"),
    # <slug:key> matches no slash: experiments/<key>/assignment (experiments.apis.assignment) stays free.
    path("experiments/<slug:key>", ExperimentDetailApi.as_view(), name="api-experiment-detail"),
    path("experiments/<slug:key>/start", ExperimentStartApi.as_view(), name="api-experiment-start"),
    path("experiments/<slug:key>/stop", ExperimentStopApi.as_view(), name="api-experiment-stop"),
    path("experiments/<slug:key>/traffic", ExperimentTrafficApi.as_view(), name="api-experiment-traffic"),
    path("experiments/<slug:key>/results", ExperimentResultsApi.as_view(), name="api-experiment-results"),
]
