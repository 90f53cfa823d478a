"""The shopper profile API: what one shopper looks at, at what prices, and how often."""

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from catalog.apis.events import shopper_erase_answer
from recommendations.selectors.profiles import shopper_profile
from tenants import converters  # noqa: F401 - registers <external_id:>
from tenants.api import TenantApiView

PROFILE_EXAMPLE = OpenApiExample(
    "A returning shopper",
    response_only=True,
    status_codes=["200"],
    value={
        "top_categories": [
            {"name": "Grocery > Drinks > Coffee", "count": 14},
            {"name": "Grocery > Produce > Apples", "count": 3},
        ],
        "top_brands": [{"name": "Roastery", "count": 11}, {"name": "Orchard Co", "count": 3}],
        "price_band": {"min": "2.99", "median": "8.50", "max": "24.00", "label": "mid"},
        "activity": {
            "events": 19,
            "per_type": {"view": 12, "click": 4, "add_to_cart": 2, "purchase": 1},
            "active_days": 5,
            "events_last_30_days": 9,
        },
        "first_seen": "2026-08-02T09:15:00Z",
        "last_seen": "2026-11-20T18:42:07Z",
    },
)


class ShopperProfileApi(TenantApiView):
    """A shopper's profile, read from their events.

    Secret keys and logged-in members only: a profile is personal data, and a
    publishable key lives in shoppers' browsers, where anyone could read any
    shopper's profile with it. `publishable_key_allowed` stays False.
    """

    class OutputSerializer(serializers.Serializer):
        class NamedCountSerializer(serializers.Serializer):
            name = serializers.CharField()
            count = serializers.IntegerField()

            class Meta:
                ref_name = "ShopperProfileNamedCount"

        class PriceBandSerializer(serializers.Serializer):
            min = serializers.DecimalField(max_digits=12, decimal_places=2)
            median = serializers.DecimalField(max_digits=12, decimal_places=2)
            max = serializers.DecimalField(max_digits=12, decimal_places=2)
            label = serializers.ChoiceField(
                choices=["low", "mid", "high"],
                allow_null=True,
                help_text="The third of your catalog's prices the median falls in.",
            )

            class Meta:
                ref_name = "ShopperProfilePriceBand"

        class ActivitySerializer(serializers.Serializer):
            events = serializers.IntegerField()
            per_type = serializers.DictField(
                child=serializers.IntegerField(),
                help_text="Events per type: view, click, add_to_cart, purchase.",
            )
            active_days = serializers.IntegerField(help_text="Days with at least one event.")
            events_last_30_days = serializers.IntegerField(
                help_text="Events in the 30 days up to the shopper's last event."
            )

            class Meta:
                ref_name = "ShopperProfileActivity"

        top_categories = NamedCountSerializer(
            many=True, help_text="Up to 5 category paths, by number of events."
        )
        top_brands = NamedCountSerializer(many=True, help_text="Up to 5 brands, by number of events.")
        price_band = PriceBandSerializer(
            allow_null=True,
            help_text="Prices of the products the shopper interacted with; null when none has one.",
        )
        activity = ActivitySerializer()
        first_seen = serializers.DateTimeField()
        last_seen = serializers.DateTimeField()

        class Meta:
            ref_name = "ShopperProfile"

    @extend_schema(
        operation_id="shoppers_profile_retrieve",
        summary="Read a shopper's profile",
        description=(
            "The categories and brands a shopper interacts with most, the prices of those products, "
            "and how active they are, from their events (the shopper_id your storefront sends). "
            "Categories, brands and prices come from products still in your catalog and the "
            "shopper's latest 5,000 events. Secret keys only: publishable keys are refused with 403."
        ),
        parameters=[
            OpenApiParameter(
                "shopper_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="Your id for the shopper, as in the events you send.",
                examples=[OpenApiExample("A returning shopper", value="c-1042")],
            )
        ],
        responses={
            200: OutputSerializer,
            404: OpenApiResponse(description="No events from this shopper."),
        },
        examples=[PROFILE_EXAMPLE],
    )
    def get(self, request, shopper_id: str):
        profile = shopper_profile(tenant=request.tenant, shopper_id=shopper_id)
        if profile is None:
            raise NotFound(_("No events from this shopper."))
        return Response(self.OutputSerializer(profile).data)

    # shoppers/x/profile is also the erasure URL (shoppers/<external_id:shopper_id>, catalog.apis.events) of
    # the shopper whose id is "x/profile", and this route, first, would answer its DELETE with a 405:
    # that shopper could never be erased. A profile is only read, so a DELETE here is that erasure,
    # by the same rules (secret key, owners and admins). Documented once, as shoppers_erase.
    @extend_schema(exclude=True)
    def delete(self, request, shopper_id: str):
        return shopper_erase_answer(request, f"{shopper_id}/profile")


urlpatterns = [
    # As the erasure route: a shopper id may hold a slash, never a NUL.
    path("shoppers/<external_id:shopper_id>/profile", ShopperProfileApi.as_view(), name="shopper-profile"),
]
