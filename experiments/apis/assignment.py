"""The storefront's view of an experiment: which variant a shopper is in.

For storefronts that render variants themselves (a different layout, a
different widget). The recommendations endpoint needs none of this: it
applies the running experiment by itself.
"""

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from experiments.assignment import assign
from experiments.models import Experiment, ExperimentStatus
from experiments.selectors import experiment_get_by_key
from tenants.api import TenantApiView
from tenants.api_params import validated_query
from tenants.throttling import ServingRateThrottle


class AssignmentOutputSerializer(serializers.Serializer):
    experiment = serializers.CharField(help_text="The experiment's key.")
    running = serializers.BooleanField()
    variant = serializers.CharField(
        allow_null=True,
        help_text=(
            "The shopper's variant; null when the experiment is not running "
            "or the shopper is outside its traffic."
        ),
    )
    kind = serializers.CharField(
        allow_null=True, help_text="What the variant serves: live, model_version or popularity."
    )

    class Meta:
        ref_name = "ExperimentAssignment"


class ExperimentAssignmentApi(TenantApiView):
    publishable_key_allowed = True
    throttle_classes = [ServingRateThrottle]

    class QuerySerializer(serializers.Serializer):
        shopper_id = serializers.CharField(max_length=256)

    @extend_schema(
        operation_id="experiments_assignment",
        summary="The variant of a shopper",
        description=(
            "Deterministic and sticky: the same shopper gets the same variant on every call and every "
            "server, for as long as the experiment runs."
        ),
        parameters=[
            OpenApiParameter(
                "key",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The experiment's key.",
                examples=[OpenApiExample("A ranking test", value="new-ranker")],
            ),
            OpenApiParameter(
                "shopper_id",
                # Blank once trimmed is refused: the id must hold a character that is not a space.
                {"type": "string", "maxLength": 256, "pattern": r"\S"},
                required=True,
                description="Your id for the shopper.",
                examples=[OpenApiExample("A returning shopper", value="c-1042")],
            ),
        ],
        responses={
            200: AssignmentOutputSerializer,
            400: OpenApiResponse(description="shopper_id missing, or an unknown query parameter."),
            404: OpenApiResponse(description="No experiment with this key."),
        },
        examples=[
            OpenApiExample(
                "In the treatment",
                response_only=True,
                status_codes=["200"],
                value={
                    "experiment": "new-ranker",
                    "running": True,
                    "variant": "treatment",
                    "kind": "model_version",
                },
            ),
        ],
    )
    def get(self, request, key: str):
        query = validated_query(request, self.QuerySerializer)
        try:
            experiment = experiment_get_by_key(tenant=request.tenant, key=key)
        except Experiment.DoesNotExist:
            raise NotFound(_("No experiment with this key."))
        running = experiment.status == ExperimentStatus.RUNNING
        variants = list(experiment.variants.all())
        name = (
            assign(
                experiment.salt,
                query["shopper_id"],
                traffic_share=experiment.traffic_share,
                variants=[(variant.name, variant.weight) for variant in variants],
            )
            if running
            else None
        )
        kind = next((variant.kind for variant in variants if variant.name == name), None)
        return Response(
            AssignmentOutputSerializer(
                {"experiment": experiment.key, "running": running, "variant": name, "kind": kind}
            ).data
        )


urlpatterns = [
    path(
        "experiments/<slug:key>/assignment",
        ExperimentAssignmentApi.as_view(),
        name="api-experiment-assignment",
    ),
]
