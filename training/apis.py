"""The fine-tuning API: queue, follow, cancel and retry training jobs; list, promote and roll back
model versions.

Owners and admins only (a session), or the tenant's secret key: a job spends GPU time and a
promotion changes what every shopper sees. Jobs and versions are looked up through their
tenant-scoped managers and services, so another tenant's id is a 404 like a missing one. A member
promoting without the course certificate the tenant requires gets a 403 naming the course
(courses.gating).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from django.core.exceptions import ValidationError
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from courses.gating import CertificateRequired
from courses.gating_views import (
    CERTIFICATE_REQUIRED_DESCRIPTION,
    CERTIFICATE_REQUIRED_EXAMPLE,
    CertificateRequiredSerializer,
    certificate_required_response,
)
from tenants.api import TenantApiView
from tenants.api_fields import no_body_check
from tenants.api_params import PageNumberPagination, PageQuerySerializer, validated_query
from tenants.api_parsers import JSONParser
from tenants.models import MANAGING_ROLES
from training.ml.config import METHODS, TrainConfig
from training.models import JobStatus, ModelVersion, TrainingJob
from training.presentation import base_model_display, without_server_paths
from training.selectors import model_version_list, training_job_get, training_job_list
from training.services.jobs import JobStateError, training_job_cancel, training_job_create, training_job_retry
from training.services.versions import PromotionError, model_version_promote, model_version_rollback

# --- Serializers -----------------------------------------------------------------------------

# A merchant reads a base model by its name in the platform's base-model folders, as the pages do
# (training.presentation.base_model_display): the server's path to it says nothing to them and
# too much about the platform's disks. The stored path stays, for the workers.
BASE_MODEL_HELP = (
    "The base model's name: its folder in the platform's base-model folders (all-MiniLM-L6-v2, "
    "or sentence-transformers/all-MiniLM-L6-v2), as a job's `base_model` setting takes it; the platform's "
    "default model reads \"<name> (the platform's default)\". Never the server's path to it."
)


def _base_model_name(folder: str) -> str:
    return base_model_display(folder) if folder else folder


class BaseModelNameField(serializers.CharField):
    """A stored base-model folder, said by its name (BASE_MODEL_HELP)."""

    def to_representation(self, value: str) -> str:
        return _base_model_name(value)


class TrainingJobConfigField(serializers.JSONField):
    """A job's settings with the base model said by its name, and any other setting that holds a
    folder (none does today, but a stored config outlives the code) by its folder's name."""

    def to_representation(self, value: dict) -> dict:
        return {
            name: _base_model_name(setting)
            if isinstance(setting, str) and (name == "base_model" or Path(setting).is_absolute())
            else setting
            for name, setting in (value or {}).items()
        }


class FailureTextField(serializers.CharField):
    """Why a job failed, in English, its folders and a traceback's files said by their names."""

    def to_representation(self, value: str) -> str:
        return without_server_paths(value)


class TrainingJobOutputSerializer(serializers.ModelSerializer):
    method = serializers.CharField(read_only=True, help_text="lora or full, from the config.")
    # A version's id and number coincide only on an install with one store: a client promoting by
    # the number passes its tests and promotes another version (or gets a 404) in production. So
    # `version` is the id the endpoints take, as a version's `job` is the job's, and the number
    # has a name that says so. A job without a version raises RelatedObjectDoesNotExist, an
    # AttributeError, which DRF turns into null (allow_null).
    version = serializers.IntegerField(
        source="version.id", read_only=True, allow_null=True,
        help_text="`id` of the model version this job made: the id the /api/v1/models/{version_id}/... "
        "endpoints take (`id` in GET /api/v1/models). Null until the job succeeds.",
    )
    version_number = serializers.IntegerField(
        source="version.number", read_only=True, allow_null=True,
        help_text="The number of that version in the tenant (3 for v3), as the pages and the log say it; "
        "not an id the endpoints take. Null until the job succeeds.",
    )
    config = TrainingJobConfigField(
        read_only=True,
        help_text="Every setting of the run, defaults included. `base_model`: " + BASE_MODEL_HELP,
    )
    error = FailureTextField(
        read_only=True,
        help_text="Why it failed, in English; a crash's traceback. Folders and files are named without "
        "the server's paths to them.",
    )

    class Meta:
        model = TrainingJob
        fields = [
            "id", "number", "status", "method", "progress", "epoch", "step", "total_steps", "eta_seconds",
            "loss", "epoch_metrics", "log_tail", "cancel_requested", "heartbeat_at", "worker_host", "device",
            "compute_seconds", "attempts", "error", "error_code", "config", "version", "version_number",
            "email_when_done",
            "created_at", "started_at", "finished_at",
        ]
        extra_kwargs = {
            "number": {
                "help_text": "The job's number in the tenant (1, 2, 3...), as the pages, the log and the command "
                "line say it; not an id the endpoints take (`id` is)."
            },
            "email_when_done": {
                "help_text": "Whether the member who started it is emailed how it ended (once it has)."
            },
            "progress": {"help_text": "From 0 to 1."},
            "eta_seconds": {"help_text": "Seconds left, estimated; null before the first steps."},
            "epoch_metrics": {
                "help_text": 'One entry per finished epoch: {"epoch", "train_loss", "validation", "seconds"}.'
            },
            "log_tail": {"help_text": "The last lines of the job's log, in English."},
            "error_code": {
                "help_text": "Why it failed, as a code: a reason in the data (empty_catalog, no_known_items, "
                "one_moment, empty_training_window, empty_validation_window, empty_test_window, "
                "nothing_to_learn, duplicate_item), bad_setting (a setting only the worker could judge, named "
                "in error), worker_lost or crashed; empty otherwise."
            },
        }
        ref_name = "TrainingJob"


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    promoted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who made it live by hand; null when automatic."
    )
    base_model = BaseModelNameField(read_only=True, help_text=BASE_MODEL_HELP)
    kept_pretrained = serializers.SerializerMethodField(
        help_text="True when fine-tuning did not beat the pretrained encoder on validation, so the version "
        "serves the base model's weights (early stopping kept epoch 0)."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id", "number", "status", "method", "kept_pretrained", "base_model", "metrics", "artifact_bytes",
            "promoted_by", "promoted_at", "job", "created_at",
        ]
        extra_kwargs = {
            "metrics": {
                "help_text": 'Validation and test metrics of this model and of the baselines: '
                '{"validation": {scorer: {"ndcg@10": ..., "recall@10": ...}}, '
                '"test": {scorer: {"all_items": {...}, "new_items": {...}}}, '
                '"comparison": {"baseline", "ratio", "low", "high", "shoppers", ...}: the hybrid\'s '
                'test NDCG@10 over that of the baseline best on validation, with its 95% interval}, '
                '"search": {"ndcg@10", "pretrained", "queries"}: how its encoder, and the pretrained one, '
                'find the catalog\'s category names as search queries (null with too few categories; a '
                'version more than 10% below the pretrained encoder does not go live by itself), ...}.'
            },
            "id": {"help_text": "What the /api/v1/models/{version_id}/... endpoints take."},
            "number": {"help_text": "Its number in the tenant (3 for v3), as the pages say it; not an id."},
            "job": {"help_text": "`id` of the training job that made it; null when none did."},
        }
        ref_name = "ModelVersion"

    def get_kept_pretrained(self, version: ModelVersion) -> bool:
        return (version.metrics or {}).get("best_epoch") == 0


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()

    class Meta:
        ref_name = "TrainingConflict"


def _settings_field(item: dataclasses.Field) -> serializers.Field:
    kind = str(item.type)  # the annotations are strings (PEP 563)
    default = {} if item.default is dataclasses.MISSING else {"default": item.default}
    if item.name == "method":
        return serializers.ChoiceField(choices=METHODS, required=False, **default)
    if kind.startswith("tuple"):
        return serializers.ListField(
            child=serializers.CharField(), required=False, default=list(item.default)
        )
    if item.name == "base_model":
        return serializers.CharField(
            required=False,
            help_text="A folder holding a Hugging Face encoder (its config.json), in one of the platform's "
            "base-model folders (the setting TRAINING_BASE_MODEL_DIRS): its name there (all-MiniLM-L6-v2, "
            "as a job's `config.base_model` shows it), or its full path. Default: the tenant's base model.",
        )
    field_class = {"int": serializers.IntegerField, "float": serializers.FloatField,
                   "bool": serializers.BooleanField}.get(kind, serializers.CharField)
    return field_class(required=False, **default)


# The request's shape, for the schema only, built from TrainConfig so the two never drift apart.
# The service validates the settings (see TrainingJobCollectionApi.post).
TrainingJobSettingsSerializer = type(
    "TrainingJobSettingsSerializer",
    (serializers.Serializer,),
    {
        **{item.name: _settings_field(item) for item in dataclasses.fields(TrainConfig)},
        "email_when_done": serializers.BooleanField(
            required=False, default=False,
            help_text="Email the member whose session starts the job how it ended, in the request's "
            "language. A JSON `true` or `false`, as every setting here: a string such as \"true\", or 1, "
            "is refused. A 400 where it could not be sent: the platform sends no email, an API key "
            "starts the job, or the member has no address.",
        ),
        "Meta": type("Meta", (), {"ref_name": "TrainingJobSettings"}),
    },
)


# --- Examples --------------------------------------------------------------------------------

EXAMPLE_EPOCHS = [
    {"epoch": 1, "train_loss": 3.91, "validation": {"ndcg@10": 0.081, "recall@10": 0.142}, "seconds": 95.2},
    {"epoch": 2, "train_loss": 3.12, "validation": {"ndcg@10": 0.097, "recall@10": 0.168}, "seconds": 94.8},
    {"epoch": 3, "train_loss": 2.79, "validation": {"ndcg@10": 0.103, "recall@10": 0.177}, "seconds": 95.0},
    {"epoch": 4, "train_loss": 2.61, "validation": {"ndcg@10": 0.106, "recall@10": 0.181}, "seconds": 94.9},
    {"epoch": 5, "train_loss": 2.52, "validation": {"ndcg@10": 0.105, "recall@10": 0.180}, "seconds": 95.1},
]
# The lines as training.presentation.LOG_LINES writes them, from the epochs above.
EXAMPLE_LOG_LINES = [
    "Data: 48,210 events, 17,821 products; device cuda.",
    "Epoch 1: training loss 3.9100, validation NDCG@10 0.0810.",
    "Epoch 2: training loss 3.1200, validation NDCG@10 0.0970.",
    "Epoch 3: training loss 2.7900, validation NDCG@10 0.1030.",
    "Epoch 4: training loss 2.6100, validation NDCG@10 0.1060.",
    "Epoch 5: training loss 2.5200, validation NDCG@10 0.1050.",
    "The version keeps epoch 4, the best on validation (0.1060).",
    "Training done: encoding the catalog and measuring the model against the baselines.",
    "Encoding the catalog with the trained model.",
    "Fitting the behaviour signals (what shoppers bought together).",
    "Choosing the blend of content, behaviour and popularity on the validation shoppers.",
    "Measuring the model and the baselines on the test shoppers.",
    "Version v3 saved.",
]

JOB_EXAMPLE_VALUE = {
    "id": 42, "number": 5, "status": JobStatus.RUNNING, "method": "lora", "progress": 0.46, "epoch": 3,
    "step": 690, "total_steps": 1500, "eta_seconds": 212.0, "loss": 2.8731,
    "epoch_metrics": EXAMPLE_EPOCHS[:2],
    "log_tail": "\n".join(EXAMPLE_LOG_LINES[:3]),
    "cancel_requested": False, "heartbeat_at": "2025-02-03T10:14:05Z", "worker_host": "gpu-worker-1",
    "device": "cuda", "compute_seconds": 201.4, "attempts": 1, "error": "", "error_code": "",
    "config": {"method": "lora", "epochs": 5, "learning_rate": 0.001, "batch_size": 64,
               "base_model": "all-MiniLM-L6-v2", "...": "..."},
    "version": None, "version_number": None, "created_at": "2025-02-03T10:10:12Z",
    "started_at": "2025-02-03T10:10:40Z", "finished_at": None,
}
JOB_EXAMPLE = OpenApiExample("A running job", response_only=True, value=JOB_EXAMPLE_VALUE)

VERSION_EXAMPLE_VALUE = {
    "id": 7, "number": 3, "status": "live", "method": "lora", "base_model": "all-MiniLM-L6-v2",
    "metrics": {
        "validation": {
            "hybrid": {"ndcg@10": 0.112, "recall@10": 0.191, "hr@10": 0.214, "mrr@10": 0.087},
            "popularity": {"ndcg@10": 0.054, "recall@10": 0.098, "hr@10": 0.113, "mrr@10": 0.041},
            "item_knn": {"ndcg@10": 0.091, "recall@10": 0.160, "hr@10": 0.180, "mrr@10": 0.070},
        },
        "test": {"hybrid": {"all_items": {"ndcg@10": 0.108}, "new_items": {"ndcg@10": 0.051}}},
        "search": {"ndcg@10": 0.412, "pretrained": 0.398, "queries": 200},
    },
    "artifact_bytes": 92_341_224, "promoted_by": "owner@acme.test", "promoted_at": "2025-02-03T11:02:00Z",
    "job": 42, "created_at": "2025-02-03T10:58:31Z",
}
VERSION_EXAMPLE = OpenApiExample("A live version", response_only=True, value=VERSION_EXAMPLE_VALUE)

# The same job once it made the version above: its id (7) and its number (v3) differ, as they do
# in any store but a new one.
SUCCEEDED_JOB_EXAMPLE = OpenApiExample(
    "A job that made a version",
    response_only=True,
    value={
        **JOB_EXAMPLE_VALUE, "status": JobStatus.SUCCEEDED, "progress": 1.0, "epoch": 5, "step": 1500,
        "eta_seconds": 0.0, "loss": 2.5174, "epoch_metrics": EXAMPLE_EPOCHS,
        "log_tail": "\n".join(EXAMPLE_LOG_LINES), "heartbeat_at": "2025-02-03T10:58:31Z",
        "compute_seconds": 2841.0, "finished_at": "2025-02-03T10:58:31Z",
        "version": VERSION_EXAMPLE_VALUE["id"], "version_number": VERSION_EXAMPLE_VALUE["number"],
    },
)

NO_SUCH_JOB = OpenApiResponse(description="No training job with this id in the tenant.")
NO_SUCH_VERSION = OpenApiResponse(
    description="No model version with this id in the tenant. The URL takes the version's id, not its number."
)
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH)
VERSION_ID = OpenApiParameter(
    "version_id", OpenApiTypes.INT, OpenApiParameter.PATH,
    description="The version's id: `id` in GET /api/v1/models, or `version` of a training job. Not its "
    "number (v1, v2…): the two differ in all but a new store.",
)


def _job_not_found() -> NotFound:
    return NotFound(_("No training job with this id."))


def _version_not_found() -> NotFound:
    return NotFound(_(
        "No model version with this id. The URL takes the version's id (`id` in GET /api/v1/models, "
        "`version` of a training job), not its number (v1, v2…)."
    ))


def _conflict(error: Exception) -> Response:
    return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)


def _acting_user(request):
    # A secret key has no person behind it: the job or promotion is then nobody's.
    return request.user if request.membership is not None else None


class TrainingApiView(TenantApiView):
    """Fine-tuning spends GPU time and changes what shoppers see: owners and admins only."""

    read_roles = MANAGING_ROLES
    write_roles = MANAGING_ROLES


# --- Jobs ------------------------------------------------------------------------------------


class TrainingJobCollectionApi(TrainingApiView):
    pagination_class = PageNumberPagination
    parser_classes = [JSONParser]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
        page = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        operation_id="training_jobs_list",
        summary="List training jobs",
        description="Newest first.",
        parameters=[OpenApiParameter("status", str, enum=JobStatus.values)],
        responses={
            200: TrainingJobOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown query parameter, or an unknown status."),
        },
        examples=[JOB_EXAMPLE, SUCCEEDED_JOB_EXAMPLE],
    )
    def get(self, request):
        filters = validated_query(request, self.FilterSerializer)
        jobs = training_job_list(tenant=request.tenant, status=filters.get("status") or "")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(TrainingJobOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="training_jobs_create",
        summary="Queue a training job",
        description=(
            "Every setting is optional: the defaults, and the tenant's base model, fill the rest. "
            "The settings and the tenant's data are checked before anything is queued; a 400 names "
            "the setting and the reason (`data` when there is too little data, `jobs` when a job is "
            "already queued or running), and no job is created."
        ),
        request=TrainingJobSettingsSerializer,
        responses={
            201: TrainingJobOutputSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="{setting: [reason]}: the settings or the data are not enough.",
            ),
        },
        examples=[
            OpenApiExample("Quick LoRA", request_only=True, value={"method": "lora", "epochs": 2}),
            OpenApiExample(
                "A bad setting", response_only=True, status_codes=["400"],
                value={"learning_rate": ["must be greater than 0"]},
            ),
        ],
    )
    def post(self, request):
        # The service is the one place that knows every setting's rule (TrainConfig.validate): the
        # body goes to it as sent, so an unknown or misspelt setting is refused, not dropped.
        # Not a setting of the run: taken out before the settings go to the service.
        settings_given, email_when_done = request.data, False
        if isinstance(settings_given, dict):
            settings_given = dict(settings_given)
            email_when_done = settings_given.pop("email_when_done", False)
        if not isinstance(email_when_done, bool):
            return Response(
                {"email_when_done": [_("Must be true or false.")]}, status=status.HTTP_400_BAD_REQUEST
            )
        try:
            job = training_job_create(
                tenant=request.tenant, settings_given=settings_given, created_by=_acting_user(request),
                email_when_done=email_when_done,
            )
        except ValidationError as error:
            # A reason may name a base model's folder (one missing, or no model): by its name.
            reasons = {
                field: [without_server_paths(message) for message in messages]
                for field, messages in error.message_dict.items()
            }
            return Response(reasons, status=status.HTTP_400_BAD_REQUEST)
        return Response(TrainingJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class TrainingJobDetailApi(TrainingApiView):
    @extend_schema(
        operation_id="training_jobs_retrieve",
        summary="Read a training job",
        description="Its progress while it runs, its metrics per epoch, its error if it failed.",
        parameters=[JOB_ID],
        responses={200: TrainingJobOutputSerializer, 404: NO_SUCH_JOB},
        examples=[JOB_EXAMPLE, SUCCEEDED_JOB_EXAMPLE],
    )
    def get(self, request, job_id: int):
        try:
            job = training_job_get(tenant=request.tenant, job_id=job_id)
        except TrainingJob.DoesNotExist:
            raise _job_not_found()
        return Response(TrainingJobOutputSerializer(job).data)


class TrainingJobCancelApi(TrainingApiView):
    @extend_schema(
        operation_id="training_jobs_cancel",
        summary="Cancel a training job",
        description=(
            "A queued job is cancelled at once. A running job gets `cancel_requested` and stops "
            "within one training step. A finished job is a 409."
        ),
        request=None,
        parameters=[JOB_ID],
        responses={200: TrainingJobOutputSerializer, 404: NO_SUCH_JOB, 409: ConflictSerializer},
        examples=[
            OpenApiExample(
                "Already finished", response_only=True, status_codes=["409"],
                value={"detail": "The job has already finished (Succeeded)."},
            ),
        ],
    )
    def post(self, request, job_id: int):
        no_body_check(request)
        try:
            job = training_job_cancel(tenant=request.tenant, job_id=job_id)
        except TrainingJob.DoesNotExist:
            raise _job_not_found()
        except JobStateError as error:
            return _conflict(error)
        return Response(TrainingJobOutputSerializer(job).data)


class TrainingJobRetryApi(TrainingApiView):
    @extend_schema(
        operation_id="training_jobs_retry",
        summary="Retry a failed or cancelled job",
        description=(
            "The job is queued again and resumes from its last checkpoint. A job that has not "
            "failed or been cancelled, or another active job, is a 409."
        ),
        request=None,
        parameters=[JOB_ID],
        responses={200: TrainingJobOutputSerializer, 404: NO_SUCH_JOB, 409: ConflictSerializer},
        examples=[
            OpenApiExample(
                "Not failed", response_only=True, status_codes=["409"],
                value={"detail": "Only a failed or cancelled job can be retried."},
            ),
        ],
    )
    def post(self, request, job_id: int):
        no_body_check(request)
        try:
            job = training_job_retry(tenant=request.tenant, job_id=job_id)
        except TrainingJob.DoesNotExist:
            raise _job_not_found()
        except JobStateError as error:
            return _conflict(error)
        return Response(TrainingJobOutputSerializer(job).data)


# --- Model versions --------------------------------------------------------------------------


class ModelVersionListApi(TrainingApiView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="models_list",
        summary="List model versions",
        description="Newest first, each with its metrics beside the baselines'.",
        responses={
            200: ModelVersionOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown query parameter, or a page number that is not one."),
        },
        examples=[VERSION_EXAMPLE],
    )
    def get(self, request):
        validated_query(request, PageQuerySerializer)
        versions = model_version_list(tenant=request.tenant)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response(ModelVersionOutputSerializer(page, many=True).data)


class ModelVersionPromoteApi(TrainingApiView):
    @extend_schema(
        operation_id="models_promote",
        summary="Make a version live",
        description=(
            "The live version is archived, one rollback from coming back. Already live, or a running "
            "experiment compares the live model (stop it first): a 409. When the "
            "tenant requires a course certificate, a member without it gets a 403 naming the course; "
            "the tenant's secret key is no member and is not asked."
        ),
        request=None,
        parameters=[VERSION_ID],
        responses={
            200: ModelVersionOutputSerializer,
            403: OpenApiResponse(CertificateRequiredSerializer, description=CERTIFICATE_REQUIRED_DESCRIPTION),
            404: NO_SUCH_VERSION,
            409: ConflictSerializer,
        },
        examples=[VERSION_EXAMPLE, CERTIFICATE_REQUIRED_EXAMPLE],
    )
    def post(self, request, version_id: int):
        no_body_check(request)
        try:
            version = model_version_promote(
                tenant=request.tenant, version_id=version_id, by=_acting_user(request)
            )
        except ModelVersion.DoesNotExist:
            raise _version_not_found()
        except CertificateRequired as error:
            return certificate_required_response(request, error)
        except PromotionError as error:
            return _conflict(error)
        return Response(ModelVersionOutputSerializer(version).data)


class ModelVersionRollbackApi(TrainingApiView):
    @extend_schema(
        operation_id="models_rollback",
        summary="Bring back the previous live version",
        description=(
            "Returns the version now live. Nothing was live before the current one: a 409. A running "
            "experiment that compares the live model is stopped, so that its results hold one model."
        ),
        request=None,
        responses={200: ModelVersionOutputSerializer, 409: ConflictSerializer},
        examples=[
            OpenApiExample(
                "Nothing to roll back to", response_only=True, status_codes=["409"],
                value={"detail": "No earlier live version to roll back to."},
            ),
        ],
    )
    def post(self, request):
        no_body_check(request)
        try:
            rollback = model_version_rollback(tenant=request.tenant, by=_acting_user(request))
        except PromotionError as error:
            return _conflict(error)
        return Response(ModelVersionOutputSerializer(rollback.version).data)


urlpatterns = [
    path("training/jobs", TrainingJobCollectionApi.as_view(), name="api-training-job-collection"),
    path("training/jobs/<int:job_id>", TrainingJobDetailApi.as_view(), name="api-training-job-detail"),
    path("training/jobs/<int:job_id>/cancel", TrainingJobCancelApi.as_view(), name="api-training-job-cancel"),
    path("training/jobs/<int:job_id>/retry", TrainingJobRetryApi.as_view(), name="api-training-job-retry"),
    path("models", ModelVersionListApi.as_view(), name="api-model-version-list"),
    path("models/rollback", ModelVersionRollbackApi.as_view(), name="api-model-version-rollback"),
    path(
        "models/<int:version_id>/promote", ModelVersionPromoteApi.as_view(), name="api-model-version-promote"
    ),
]
