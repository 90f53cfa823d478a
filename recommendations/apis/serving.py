"""The storefront's reads: recommendations for a shopper, products like one, and search.

Publishable keys are accepted (storefront pages call these from the browser).
Every answer carries a `recommendation_id`: the storefront sends it back with
the events of the shopper's clicks and purchases, so each result can be
attributed to the model version (and, later, the experiment variant) that
produced it. What was served is logged off the request path.
"""

import math

from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from recommendations.attribution import served_log
from recommendations.selectors.recommendations import (
    MAX_EXCLUDE,
    MAX_LIMIT,
    Answer,
    UnknownProduct,
    recommendation_list,
    search_result_list,
    similar_product_list,
)
from tenants import converters  # noqa: F401 - registers <external_id:>
from tenants.api import TenantApiView
from tenants.api_params import validated_query
from tenants.models import ApiKey
from tenants.throttling import ServingRateThrottle


class RecommendedProductSerializer(serializers.Serializer):
    external_id = serializers.CharField(help_text="The product's SKU.")
    title = serializers.CharField()
    category = serializers.CharField()
    brand = serializers.CharField()
    price = serializers.CharField(allow_null=True, help_text="A decimal, as a string; null when unknown.")
    currency = serializers.CharField()
    in_stock = serializers.BooleanField()
    attributes = serializers.JSONField(help_text="Your own fields (image URLs, sizes...), as you sent them.")
    score = serializers.FloatField(help_text="Higher is better; comparable only within one answer.")

    class Meta:
        ref_name = "RecommendedProduct"


class AnswerSerializer(serializers.Serializer):
    recommendation_id = serializers.CharField(
        help_text="Send it back as the `recommendation_id` of the events this answer leads to."
    )
    model_version = serializers.IntegerField(
        allow_null=True,
        help_text="The number of the model version that ranked the items; null when it did not.",
    )
    variant = serializers.CharField(
        help_text="The experiment variant the shopper is in; empty outside experiments."
    )
    fallback = serializers.BooleanField(
        help_text="True when the model did not rank the items (see fallback_reason)."
    )
    fallback_reason = serializers.CharField(
        help_text=(
            "no_live_model, model_unavailable, new_shopper (trending), unknown_to_model, "
            "popularity_variant; empty otherwise."
        )
    )
    items = RecommendedProductSerializer(many=True, source="products")

    class Meta:
        ref_name = "RecommendationAnswer"


class SearchAnswerSerializer(AnswerSerializer):
    word_matches = serializers.IntegerField(
        help_text=(
            "How many in-stock products hold the query's words (counted up to 100). 0 with a model: no "
            "product has these words, and the items are the model's closest by meaning alone; say so to "
            "the shopper (\"No product has these words; here are related ones\") or show none."
        )
    )

    class Meta:
        ref_name = "SearchAnswer"


EXAMPLE_ITEM = {
    "external_id": "APL-GALA-1KG",
    "title": "Gala apples, 1 kg",
    "category": "Grocery > Produce > Apples",
    "brand": "Orchard Co",
    "price": "3.49",
    "currency": "USD",
    "in_stock": True,
    "attributes": {"image": "https://cdn.example.com/apl-gala.jpg"},
    "score": 2.8134,
}


def _answer_example(name: str, **overrides) -> OpenApiExample:
    value = {
        "recommendation_id": "4b0d1c2e9f8a4e7b8c6d5e4f3a2b1c0d",
        "model_version": 3,
        "variant": "",
        "fallback": False,
        "fallback_reason": "",
        "items": [EXAMPLE_ITEM],
    }
    value.update(overrides)
    return OpenApiExample(name, value=value, response_only=True, status_codes=["200"])


BAD_PARAMETERS = OpenApiResponse(
    description="An unknown query parameter, or a value of the wrong type or range."
)


# The ranges that the QuerySerializers below check, so that the schema admits the values they take.
LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
SHOPPER_ID = {"type": "string", "maxLength": 256}

SHOPPER_SIGNATURE = OpenApiParameter(
    "shopper_signature",
    {"type": "string", "pattern": "^(?:[0-9a-fA-F]{64})?$"},
    description=(
        "Hex HMAC-SHA256 of `shopper_id` (UTF-8, exactly as sent) under your shopper signing key "
        "(API keys page), made on your server. Required with a publishable key when your store "
        "requires signed shopper ids; checked whenever it is sent with a `shopper_id`."
    ),
)


class ShopperSignatureRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="`shopper_signature_required` (none sent, and your store requires it from "
        "publishable keys) or `shopper_signature_invalid` (not the signature of this shopper_id)."
    )

    class Meta:
        ref_name = "ShopperSignatureRefused"


SIGNATURE_REFUSED = OpenApiResponse(
    ShopperSignatureRefusedSerializer,
    description="The shopper's signature is missing (your store requires it from publishable keys) or wrong.",
    examples=[
        OpenApiExample(
            "No signature",
            value={
                "detail": "Your store requires a signed shopper id from publishable keys: send "
                "shopper_signature, made on your server with your shopper signing key.",
                "code": "shopper_signature_required",
            },
            response_only=True,
            status_codes=["403"],
        )
    ],
)


def _signature_field():
    # 64 hex digits, so that anything else is a 400 naming the field, not a comparison to make.
    return serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("Send the signature as 64 hexadecimal digits.")},
    )


def _shopper_id_field():
    # Not trimmed: the events API stores the id as sent, and the merchant signs it as sent.
    return serializers.CharField(
        required=False, allow_blank=True, max_length=256, default="", trim_whitespace=False
    )


class ShopperSignatureRefused(PermissionDenied):
    def __init__(self, message: str, code: str):
        super().__init__(detail={"detail": message, "code": code})


def shopper_signature_check(request, *, shopper_id: str, signature: str) -> None:
    """Raises ShopperSignatureRefused (a 403 with `detail` and `code`) when the request may not
    personalise for `shopper_id`: a signature that is sent must match; a publishable key must
    send one when the tenant requires it (TenantApiView.shopper_signatures_required)."""
    if signature and not shopper_id:
        # A signature of nobody: the storefront meant to personalise and lost the id on the way.
        raise serializers.ValidationError({"shopper_signature": [_("Send it with the shopper_id it signs.")]})
    if not shopper_id:
        return
    if signature:
        if not request.tenant.shopper_signature_matches(shopper_id, signature):
            raise ShopperSignatureRefused(
                _("This is not the signature of this shopper_id under your signing key."),
                "shopper_signature_invalid",
            )
        return
    if TenantApiView.shopper_signatures_required(request):
        raise ShopperSignatureRefused(
            _(
                "Your store requires a signed shopper id from publishable keys: send "
                "shopper_signature, made on your server with your shopper signing key."
            ),
            "shopper_signature_required",
        )


class _ServingApi(TenantApiView):
    publishable_key_allowed = True
    throttle_classes = [ServingRateThrottle]
    endpoint = ""

    answer_serializer = AnswerSerializer

    def respond(self, request, answer: Answer, *, shopper_id: str = "") -> Response:
        served_log.record(
            tenant=request.tenant,
            recommendation_id=answer.recommendation_id,
            endpoint=self.endpoint,
            # request.auth is the key already loaded to authenticate: no query.
            api_key_kind=request.auth.kind if isinstance(request.auth, ApiKey) else "",
            shopper_id=shopper_id,
            model_version=answer.model_version,
            variant=answer.variant,
            experiment_id=answer.experiment_id,
            fallback=answer.fallback,
            product_ids=answer.product_ids,
        )
        return Response(self.answer_serializer(answer).data)


class RecommendationsApi(_ServingApi):
    endpoint = "recommendations"

    class QuerySerializer(serializers.Serializer):
        shopper_id = _shopper_id_field()
        shopper_signature = _signature_field()
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=10)
        context_product = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
        category = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        exclude = serializers.ListField(
            child=serializers.CharField(max_length=128), required=False, max_length=MAX_EXCLUDE, default=list
        )
        diversity = serializers.FloatField(required=False, min_value=0.0, max_value=1.0, default=0.0)

        def validate_diversity(self, value: float) -> float:
            # "nan" parses as a float and slips past both bounds (every comparison with it is false).
            if not math.isfinite(value):
                raise serializers.ValidationError(_("Must be a number from 0 to 1."))
            return value

    @extend_schema(
        operation_id="recommendations_list",
        summary="Products for a shopper",
        description=(
            "Ranked by your live model from the shopper's history; a shopper without history gets "
            "what the model makes of `context_product`, or trending products. Out-of-stock products, "
            "`exclude`d ones and (unless your store recommends re-buys) products the shopper bought "
            "are left out; your boost and bury rules apply."
        ),
        parameters=[
            OpenApiParameter(
                "shopper_id",
                SHOPPER_ID,
                description="Your id for the shopper, as in the events you send.",
                examples=[OpenApiExample("A returning shopper", value="c-1042")],
            ),
            SHOPPER_SIGNATURE,
            OpenApiParameter(
                "limit",
                LIMIT,
                description=f"How many products, 1 to {MAX_LIMIT} (default 10).",
                examples=[OpenApiExample("Four", value=4)],
            ),
            OpenApiParameter(
                "context_product",
                {"type": "string", "maxLength": 128},
                description="The SKU of the product on the page, if any.",
                examples=[OpenApiExample("On the Gala apples' page", value="APL-GALA-1KG")],
            ),
            OpenApiParameter(
                "category",
                {"type": "string", "maxLength": 500},
                description='Only this category and those below it ("Grocery > Produce").'
            ),
            OpenApiParameter("exclude", str, description="SKUs to leave out, comma-separated or repeated."),
            OpenApiParameter(
                "diversity",
                {"type": "number", "minimum": 0, "maximum": 1},
                description=(
                    "0 (default) ranks by score alone; up to 1 trades score for variety "
                    "(maximal marginal relevance)."
                ),
            ),
        ],
        responses={200: AnswerSerializer, 400: BAD_PARAMETERS, 403: SIGNATURE_REFUSED},
        examples=[
            _answer_example("Ranked by the model"),
            _answer_example(
                "A new shopper: trending products",
                model_version=None,
                fallback=True,
                fallback_reason="new_shopper",
            ),
        ],
    )
    def get(self, request):
        query = validated_query(request, self.QuerySerializer, lists=("exclude",))
        shopper_signature_check(request, shopper_id=query["shopper_id"], signature=query.pop("shopper_signature"))
        try:
            answer = recommendation_list(tenant=request.tenant, **query)
        except UnknownProduct as unknown:
            raise serializers.ValidationError(
                {
                    "context_product": [
                        _("No product with the SKU %(sku)s in your catalog.") % {"sku": unknown.external_id}
                    ]
                }
            )
        return self.respond(request, answer, shopper_id=query["shopper_id"])


class SimilarProductsApi(_ServingApi):
    endpoint = "similar"

    class QuerySerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=10)

    @extend_schema(
        operation_id="recommendations_similar",
        summary="Products like this one",
        description=(
            "For a product page: what your model ranks beside it; without a model, "
            "best sellers of its category first, then the store's other best sellers where the "
            "category has too few."
        ),
        parameters=[
            OpenApiParameter(
                "external_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The product's SKU.",
                examples=[OpenApiExample("The Gala apples", value="APL-GALA-1KG")],
            ),
            OpenApiParameter(
                "limit",
                LIMIT,
                description=f"How many products, 1 to {MAX_LIMIT} (default 10).",
                examples=[OpenApiExample("Four", value=4)],
            ),
        ],
        responses={
            200: AnswerSerializer,
            400: BAD_PARAMETERS,
            404: OpenApiResponse(description="No product with this SKU in your catalog."),
        },
        examples=[
            _answer_example("Ranked by the model"),
        ],
    )
    def get(self, request, external_id: str):
        query = validated_query(request, self.QuerySerializer)
        try:
            answer = similar_product_list(
                tenant=request.tenant, external_id=external_id, limit=query["limit"]
            )
        except UnknownProduct:
            raise NotFound(_("No product with this SKU in your catalog."))
        return self.respond(request, answer)


class SearchApi(_ServingApi):
    endpoint = "search"
    answer_serializer = SearchAnswerSerializer

    class QuerySerializer(serializers.Serializer):
        q = serializers.CharField(max_length=200, help_text="What the shopper typed.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=10)
        shopper_id = _shopper_id_field()
        shopper_signature = _signature_field()

    @extend_schema(
        operation_id="recommendations_search",
        summary="Search products",
        description=(
            "Words matched in titles, brands, categories and descriptions (full-text search on PostgreSQL), "
            "fused with your model's semantic matches by reciprocal rank fusion; with `shopper_id`, the "
            "shopper's own taste counts too. Out-of-stock products are left out."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                # Blank once trimmed is refused: the query must hold a character that is not a space.
                {"type": "string", "maxLength": 200, "pattern": r"\S"},
                required=True,
                description="The query, up to 200 characters.",
                examples=[OpenApiExample("Two words", value="gala apples")],
            ),
            OpenApiParameter("limit", LIMIT, description=f"How many products, 1 to {MAX_LIMIT} (default 10)."),
            OpenApiParameter("shopper_id", SHOPPER_ID, description="Personalise the ranking for this shopper."),
            SHOPPER_SIGNATURE,
        ],
        responses={200: SearchAnswerSerializer, 400: BAD_PARAMETERS, 403: SIGNATURE_REFUSED},
        examples=[
            _answer_example("Matches", items=[{**EXAMPLE_ITEM, "score": 0.032787}]),
        ],
    )
    def get(self, request):
        query = validated_query(request, self.QuerySerializer)
        shopper_signature_check(request, shopper_id=query["shopper_id"], signature=query["shopper_signature"])
        answer = search_result_list(
            tenant=request.tenant, query=query["q"], limit=query["limit"], shopper_id=query["shopper_id"]
        )
        return self.respond(request, answer, shopper_id=query["shopper_id"])


urlpatterns = [
    path("recommendations", RecommendationsApi.as_view(), name="api-recommendations"),
    # As the catalog's products/<external_id:...>: a SKU may hold a slash, never a NUL.
    path("products/<external_id:external_id>/similar", SimilarProductsApi.as_view(), name="api-similar-products"),
    path("search", SearchApi.as_view(), name="api-search"),
]
