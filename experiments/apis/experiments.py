"""The experiments API of the merchant UI: design an experiment, start it, stop it, read its results.

Every member may read; owners and admins (or the tenant's secret key) may
write, as in every TenantApiView. An experiment is known by its key, looked
up in the request's tenant only, so another tenant's key is a 404 like a
missing one. A design's problems come back as a 400 naming each field the
way the service does (`variants[1].model_version`), a key it does not
know (`variants[1].wieght`) among them; a change the
experiment's state does not allow (starting a stopped one, a second running
one) is a 409 with the reason. A member starting one without the course certificate the tenant
requires gets a 403 naming the course (courses.gating).

The results endpoint is in apis/results.py; what both modules share, in
apis/serializers.py.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from courses.gating import CertificateRequired
from courses.gating_views import (
    CERTIFICATE_REQUIRED_DESCRIPTION,
    CERTIFICATE_REQUIRED_EXAMPLE,
    CertificateRequiredSerializer,
    certificate_required_response,
)
from experiments.apis.serializers import (
    KEY,
    METRIC_NAMES,
    NO_SUCH_EXPERIMENT,
    ConflictSerializer,
    ExperimentOutputSerializer,
    VariantInputSerializer,
    _experiment_or_404,
)
from experiments.models import ExperimentStatus, Metric, VariantKind
from experiments.selectors import experiment_get, experiment_list
from experiments.services import (
    ExperimentStateError,
    experiment_create,
    experiment_delete,
    experiment_start,
    experiment_stop,
    experiment_traffic_share_set,
    experiment_update_draft,
)
from tenants.api import TenantApiView
from tenants.api_fields import FiniteFloatField, UnknownFieldsRefusedMixin, no_body_check
from tenants.api_params import PageNumberPagination, PageQuerySerializer, validated_query
from tenants.api_parsers import JSONParser

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
FIELD_ERRORS = OpenApiResponse(
    OpenApiTypes.OBJECT, description="{field: [reason]}, one entry per bad field (`variants[1].weight`)."
)


def _conflict_example(name: str, detail: str) -> OpenApiExample:
    return OpenApiExample(name, response_only=True, status_codes=["409"], value={"detail": detail})


# --- Helpers ---------------------------------------------------------------------------------


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

    class InputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
        key = serializers.CharField(max_length=60, help_text="Lowercase letters, digits and hyphens; unique.")
        name = serializers.CharField(max_length=200)
        hypothesis = serializers.CharField(required=False, allow_blank=True, default="")
        traffic_share = FiniteFloatField(
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
        responses={
            200: ExperimentOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown query parameter, or a page number that is not one."),
        },
        examples=[EXPERIMENT_EXAMPLE],
    )
    def get(self, request):
        validated_query(request, PageQuerySerializer)
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

    class ReplaceInputSerializer(ExperimentCollectionApi.InputSerializer):
        key = None  # the key names the experiment in the URL and never changes

        class Meta:
            ref_name = "ExperimentReplaceInput"

    @extend_schema(
        operation_id="experiments_replace",
        summary="Change a draft's design",
        description=(
            "Replaces everything but the key, by the same rules as creating one. Only a draft (a 409 "
            "otherwise): once shoppers were assigned, a new design is a new experiment."
        ),
        parameters=[KEY],
        request=ReplaceInputSerializer,
        responses={
            200: ExperimentOutputSerializer,
            400: FIELD_ERRORS,
            404: NO_SUCH_EXPERIMENT,
            409: ConflictSerializer,
        },
        examples=[
            EXPERIMENT_EXAMPLE,
            _conflict_example("Not a draft", "Only a draft's design can change; this experiment is Running."),
        ],
    )
    def put(self, request, key: str):
        experiment = _experiment_or_404(request, key)
        given = _validated(self.ReplaceInputSerializer, request.data)
        try:
            experiment = experiment_update_draft(tenant=request.tenant, experiment_id=experiment.pk, **given)
        except ExperimentStateError as error:
            return _conflict(error)
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            ExperimentOutputSerializer(
                experiment_get(tenant=request.tenant, experiment_id=experiment.pk)
            ).data
        )

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
        no_body_check(request)
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
            "variant. Only a draft starts, and one experiment runs at a time: otherwise a 409. When the "
            "tenant requires a course certificate, a member without it gets a 403 naming the course; the "
            "tenant's secret key is no member and is not asked."
        ),
        request=None,
        parameters=[KEY],
        responses={
            200: ExperimentOutputSerializer,
            403: OpenApiResponse(CertificateRequiredSerializer, description=CERTIFICATE_REQUIRED_DESCRIPTION),
            404: NO_SUCH_EXPERIMENT,
            409: ConflictSerializer,
        },
        examples=[
            EXPERIMENT_EXAMPLE,
            _conflict_example(
                "Another one is running",
                "holiday-banner is running: stop it first (one experiment runs at a time).",
            ),
            CERTIFICATE_REQUIRED_EXAMPLE,
        ],
    )
    def post(self, request, key: str):
        no_body_check(request)
        experiment = _experiment_or_404(request, key)
        try:
            experiment = experiment_start(
                tenant=request.tenant, experiment_id=experiment.pk, by=_acting_user(request)
            )
        except CertificateRequired as error:
            return certificate_required_response(request, error)
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
        no_body_check(request)
        experiment = _experiment_or_404(request, key)
        try:
            experiment = experiment_stop(tenant=request.tenant, experiment_id=experiment.pk)
        except ExperimentStateError as error:
            return _conflict(error)
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentTrafficApi(TenantApiView):
    parser_classes = [JSONParser]

    class InputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
        traffic_share = FiniteFloatField(help_text="Above 0 and up to 1.")

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


urlpatterns = [
    path("experiments", ExperimentCollectionApi.as_view(), name="api-experiment-collection"),
    # <slug:key> matches no slash: experiments/<key>/assignment (experiments.apis.assignment) stays free.
    path("experiments/<slug:key>", ExperimentDetailApi.as_view(), name="api-experiment-detail"),
    path("experiments/<slug:key>/start", ExperimentStartApi.as_view(), name="api-experiment-start"),
    path("experiments/<slug:key>/stop", ExperimentStopApi.as_view(), name="api-experiment-stop"),
    path("experiments/<slug:key>/traffic", ExperimentTrafficApi.as_view(), name="api-experiment-traffic"),
]
