"""The results endpoint of the experiments API: each treatment against the control, as
experiments.analysis computes them. Read by every member; another tenant's key is a 404 like a missing one.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from experiments.analysis import Verdict, experiment_results
from experiments.apis.serializers import KEY, METRIC_NAMES, NO_SUCH_EXPERIMENT, _experiment_or_404
from experiments.models import VariantKind
from tenants.api import TenantApiView

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
        allow_null=True,
        help_text=(
            "95%, for one look decided in advance. Unadjusted: with several treatments p_value is "
            "Holm-adjusted and this interval is not, so it may leave out 0 beside a p_value above alpha."
        ),
    )
    relative_lift = serializers.FloatField(allow_null=True, help_text="Treatment / control - 1.")
    relative_interval = BoundsOutputSerializer(
        allow_null=True, help_text="95%, for one look decided in advance; unadjusted, as absolute_interval."
    )
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
    flagged_shoppers_left_out = serializers.IntegerField(
        help_text=(
            "Shoppers this variant served (first, if several did) whom data cleaning flagged as bot-like: "
            "left out of every figure of the results."
        )
    )

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
        flagged_shoppers_left_out = serializers.IntegerField(
            help_text=(
                "Shoppers served whom data cleaning flagged as bot-like: not in `shoppers` nor in any other "
                "figure. Per variant in `variants`."
            )
        )
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
            "and the shoppers per variant needed to detect a 5% change. Shoppers that data cleaning "
            "flagged as bot-like are left out of every figure; `flagged_shoppers_left_out` says how many."
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
                    "flagged_shoppers_left_out": 3,
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
                            "flagged_shoppers_left_out": 1,
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
                            "flagged_shoppers_left_out": 2,
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
    path("experiments/<slug:key>/results", ExperimentResultsApi.as_view(), name="api-experiment-results"),
]
