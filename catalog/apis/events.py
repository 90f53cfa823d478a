"""The shopper events API: ingest a batch, erase a shopper, and the data cleaning runs and report."""
from decimal import ROUND_HALF_UP

from django.conf import settings
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from catalog.models import CleaningReport, CleaningStatus, EventType
from catalog.selectors.events import cleaning_report_latest
from catalog.services.events import QUANTITY_MAX, QUANTITY_MIN, event_ingest_batch, shopper_erase
from catalog.tasks import catalog_clean_queue
from tenants import converters  # noqa: F401 - registers <external_id:>
from tenants.api import TenantApiView
from tenants.api_fields import DecimalInputField, no_body_check, unknown_field_reason
from tenants.api_parsers import JSONParser
from tenants.throttling import EventsRateThrottle


class EventInputSerializer(serializers.Serializer):
    """One event as a storefront sends it. For the schema only: see EventBatchApi."""

    event_id = serializers.CharField(
        max_length=128,
        help_text="Your id for the event, unique in your store: a resent event is not stored twice.",
    )
    shopper_id = serializers.CharField(
        max_length=256, help_text="Your id for the shopper. Stored only as a keyed hash, never as sent."
    )
    type = serializers.ChoiceField(choices=EventType.choices)
    product = serializers.CharField(
        max_length=128, help_text="The product's SKU (external_id) in your catalog."
    )
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601. Without an offset, UTC. At most a few minutes in the future, not before 2000."
    )
    quantity = serializers.IntegerField(min_value=QUANTITY_MIN, max_value=QUANTITY_MAX, default=1)
    # A number or a string of digits, as the ingest reads it; `rounding` tells the schema that
    # sub-cent digits are rounded off, not refused.
    value = DecimalInputField(
        max_digits=12, decimal_places=2, min_value=0, default=0, rounding=ROUND_HALF_UP,
        help_text="Money, in the product's currency, rounded to cents (half up): float arithmetic in "
        "browsers sends 29.990000000000002 for 29.99.",
    )
    recommendation_id = serializers.CharField(
        max_length=64, required=False, allow_null=True,
        help_text="The recommendation_id of the response that showed the product, to attribute the event.",
    )
    shopper_signature = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$", required=False,
        help_text="Hex HMAC-SHA256 of shopper_id under your shopper signing key. Required from publishable "
        "keys when your store requires signed shopper ids; checked whenever it is sent.",
    )

    class Meta:
        ref_name = "EventInput"


class EventBatchInputSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True, help_text="At most EVENTS_MAX_BATCH (1,000) events.")

    class Meta:
        ref_name = "EventBatchRequest"


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in `events`, from 0.")
    field = serializers.CharField()
    reason = serializers.CharField()

    class Meta:
        ref_name = "EventError"


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored.")
    duplicates = serializers.IntegerField(
        help_text="Events whose event_id was stored before, or came earlier in the batch."
    )
    rejected = serializers.IntegerField(help_text="Events refused; `errors` says why.")
    errors = EventErrorSerializer(many=True)

    class Meta:
        ref_name = "EventBatchResult"


INGEST_EXAMPLE = OpenApiExample(
    "A view and a purchase",
    request_only=True,
    value={
        "events": [
            {
                "event_id": "evt-000123", "shopper_id": "customer-42", "type": "view",
                "product": "APL-GALA-1KG", "timestamp": "2025-01-31T09:30:00Z",
            },
            {
                "event_id": "evt-000124", "shopper_id": "customer-42", "type": "purchase",
                "product": "APL-GALA-1KG", "timestamp": "2025-01-31T09:34:10Z", "quantity": 2,
                "value": "6.98", "recommendation_id": "rec_8f2c1a",
            },
        ]
    },
)

INGEST_RESULT_EXAMPLE = OpenApiExample(
    "One event refused",
    response_only=True,
    status_codes=["200"],
    value={
        "accepted": 1, "duplicates": 0, "rejected": 1,
        "errors": [{"index": 1, "field": "product", "reason": "No product with this SKU in your catalog."}],
    },
)


class EventBatchApi(TenantApiView):
    # Storefront pages send their shoppers' events straight from the browser.
    publishable_key_allowed = True
    parser_classes = [JSONParser]
    throttle_classes = [EventsRateThrottle]

    @extend_schema(
        operation_id="events_ingest",
        summary="Send shopper events",
        description=(
            "Stores each valid event; each event has its own outcome, so the good events of a "
            "batch are stored even when others are refused. A refused event is named by its index, "
            "the field and the reason. An event whose event_id was already stored is counted as a "
            "duplicate and not stored again: resending a batch is safe. At most EVENTS_MAX_BATCH "
            "(1,000) events per request. Publishable and secret keys may call it."
        ),
        request=EventBatchInputSerializer,
        responses={
            200: EventBatchResultSerializer,
            400: OpenApiResponse(
                description="Not an object with an `events` list, a key beside `events`, or too many events."
            ),
        },
        examples=[INGEST_EXAMPLE, INGEST_RESULT_EXAMPLE],
    )
    def post(self, request):
        events = self._events_of(request.data)
        result = event_ingest_batch(
            tenant=request.tenant, events=events, shopper_signatures_required=self.shopper_signatures_required(request)
        )
        # Built by hand: the batch is the hot path, and the shape is EventBatchResultSerializer's.
        return Response({
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "errors": [{"index": e.index, "field": e.field, "reason": e.reason} for e in result.errors],
        })

    @staticmethod
    def _events_of(data) -> list:
        """The list of events, its size checked. Each event is checked by the service, by hand:
        a DRF serializer per event would cost more than the rest of the request."""
        events = data.get("events") if isinstance(data, dict) else None
        # A key beside `events` (a misspelt option) is refused, not dropped; by hand, as the events are.
        errors = {
            str(key): [unknown_field_reason(["events"])]
            for key in (data if isinstance(data, dict) else ())
            if key != "events"
        }
        if not isinstance(events, list):
            errors["events"] = [_('Send an object with an "events" list.')]
        if errors:
            raise ValidationError(errors)
        limit = settings.EVENTS_MAX_BATCH
        if len(events) > limit:
            raise ValidationError({"events": [
                _("Send at most %(limit)d events per request; this one has %(count)d.")
                % {"limit": limit, "count": len(events)}
            ]})
        return events


class ShopperEraseOutputSerializer(serializers.Serializer):
    deleted_events = serializers.IntegerField(help_text="The shopper's events deleted in this store.")
    deleted_sandbox_events = serializers.IntegerField(
        help_text="The copies of them deleted in the store's course sandboxes (a learner's copy of the store)."
    )

    class Meta:
        ref_name = "ShopperEraseResult"


class ShopperEraseApi(TenantApiView):
    # Erasure is the merchant's decision, made on their server: secret keys, owners and admins only.

    @extend_schema(
        operation_id="shoppers_erase",
        summary="Erase a shopper's events",
        description=(
            "Deletes every stored event of the shopper (the id your storefront sends as shopper_id), "
            "with the recommendation lists served to them, for a privacy request; the copies of them in "
            "the store's course sandboxes go too. A shopper with no events deletes nothing and still "
            "answers 200. Owners and admins can do the same on the events page."
        ),
        parameters=[OpenApiParameter("shopper_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: ShopperEraseOutputSerializer},
        examples=[
            OpenApiExample("Erased", response_only=True, value={"deleted_events": 37, "deleted_sandbox_events": 12}),
        ],
    )
    def delete(self, request, shopper_id: str):
        return shopper_erase_answer(request, shopper_id)


def shopper_erase_answer(request, shopper_id: str) -> Response:
    """Erase the shopper; the answer says how many events went, in the store and in its sandboxes.
    Also the answer of a DELETE on shoppers/<id>/profile, which is this URL for a shopper whose id
    ends in /profile (recommendations.apis.profiles)."""
    no_body_check(request)
    erased = shopper_erase(tenant=request.tenant, shopper_id=shopper_id)
    return Response(ShopperEraseOutputSerializer({
        "deleted_events": erased.events, "deleted_sandbox_events": erased.sandbox_events,
    }).data)


class CleaningReportOutputSerializer(serializers.ModelSerializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=(
            "Per rule: exact_duplicates (removed), bot_shoppers (flagged), bot_shopper_events "
            "(kept, left out of training), and the events refused at ingest since the previous run "
            "per reason (invalid_id, unknown_type, unknown_product, future_timestamp, "
            "timestamp_before_2000, quantity_out_of_range, negative_value, malformed)."
        ),
    )

    class Meta:
        model = CleaningReport
        fields = ["created_at", "finished_at", "events_total", "counts"]
        ref_name = "CleaningReport"
        extra_kwargs = {  # noqa: RUF012 - DRF's Meta
            "created_at": {"help_text": "When the run was asked for."},
            "finished_at": {"help_text": "When it finished; null for a report from before runs were queued."},
        }


class CleaningReportApi(TenantApiView):
    @extend_schema(
        operation_id="events_cleaning_report_retrieve",
        summary="Read the latest cleaning report",
        responses={
            200: CleaningReportOutputSerializer,
            404: OpenApiResponse(description="No cleaning run yet."),
        },
        examples=[OpenApiExample(
            "A report",
            response_only=True,
            value={
                "created_at": "2025-01-31T10:00:00Z", "events_total": 120450,
                "counts": {"exact_duplicates": 12, "bot_shoppers": 1, "bot_shopper_events": 2000,
                           "unknown_product": 3, "future_timestamp": 0},
            },
        )],
    )
    def get(self, request):
        report = cleaning_report_latest(tenant=request.tenant)
        if report is None:
            raise NotFound(_("No cleaning run yet."))
        return Response(CleaningReportOutputSerializer(report).data)


class CleaningRunOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()
    id = serializers.IntegerField(help_text="The run; its report, when done, is the latest cleaning report.")
    status = serializers.ChoiceField(choices=CleaningStatus.choices, help_text="queued or running.")

    class Meta:
        ref_name = "CleaningRunQueued"


class CleaningRunApi(TenantApiView):
    @extend_schema(
        operation_id="events_cleaning_runs_create",
        summary="Start a cleaning run",
        description=(
            "Queues a cleaning run, or answers with the one already queued; a run already running "
            "read the events as they were, so a new one is queued behind it. Read the outcome at "
            "/api/v1/events/cleaning-report."
        ),
        request=None,
        responses={
            202: CleaningRunOutputSerializer,
            503: OpenApiResponse(description="The task queue cannot be reached; nothing was queued."),
        },
        examples=[OpenApiExample(
            "Queued", response_only=True, status_codes=["202"],
            value={"detail": "Cleaning queued; the report follows when it is done.", "id": 12, "status": "queued"},
        )],
    )
    def post(self, request):
        no_body_check(request)
        run = catalog_clean_queue(tenant_id=request.tenant.pk)
        run.refresh_from_db()
        if run.status == CleaningStatus.FAILED:
            return Response(
                {"detail": _("Cleaning could not be queued: the task queue cannot be reached. Try again in a minute.")},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        body = {"detail": _("Cleaning queued; the report follows when it is done."), "id": run.pk, "status": run.status}
        return Response(CleaningRunOutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("events", EventBatchApi.as_view(), name="api-event-batch"),
    path("events/cleaning-report", CleaningReportApi.as_view(), name="api-event-cleaning-report"),
    path("events/cleaning-runs", CleaningRunApi.as_view(), name="api-event-cleaning-runs"),
    # external_id (tenants.converters): a shopper id may hold a slash, never a NUL.
    path("shoppers/<external_id:shopper_id>", ShopperEraseApi.as_view(), name="api-shopper-erase"),
]
