"""The product catalog API: upsert a batch, list and filter, read and delete one product.

GET and POST share `catalog/products`, so one view holds both operations
(Django routes by path, not by method); each operation keeps its own
serializers.
"""
from django.conf import settings
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from catalog.models import Product
from catalog.selectors.products import product_get, product_list
from catalog.services.products import (
    ProductRowSerializer,
    ProductRowsInvalid,
    product_delete,
    product_upsert_many,
)
from tenants import converters  # noqa: F401 - registers <external_id:>
from tenants.api import TenantApiView
from tenants.api_fields import UnknownFieldsRefusedMixin, no_body_check
from tenants.api_params import PageNumberPagination, validated_query
from tenants.api_parsers import JSONParser
from tenants.schema import FieldErrorsSerializer


class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = [
            "external_id", "title", "description", "category", "brand", "price", "currency",
            "in_stock", "attributes", "created_at", "updated_at",
        ]
        ref_name = "Product"


class ProductRowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the product in `products`, from 0.")
    field = serializers.CharField()
    reason = serializers.CharField()

    class Meta:
        ref_name = "ProductRowError"


class ProductBatchErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ProductRowErrorSerializer(
        many=True, required=False, help_text="Each bad product; absent when the body is not JSON at all."
    )

    class Meta:
        ref_name = "ProductBatchError"


# Each product is checked by the service, which names every bad one by its
# index; the field itself only checks the envelope. The schema still shows the
# product's own fields.
@extend_schema_field(ProductRowSerializer(many=True))
class ProductRowsField(serializers.ListField):
    def __init__(self, **kwargs):
        # A null product too: the service names it by its index, as any other that is not an object.
        super().__init__(child=serializers.JSONField(allow_null=True), **kwargs)


UPSERT_EXAMPLE = OpenApiExample(
    "Two products",
    request_only=True,
    value={
        "products": [
            {
                "external_id": "APL-GALA-1KG",
                "title": "Gala apples, 1 kg",
                "category": "Grocery > Produce > Apples",
                "brand": "Orchard Co",
                "price": "3.49",
                "currency": "USD",
                "in_stock": True,
                "attributes": {"origin": "NZ", "organic": False},
            },
            {"external_id": "BAN-1KG", "title": "Bananas, 1 kg", "category": "Grocery > Produce"},
        ]
    },
)


NOT_IN_CATALOG = OpenApiResponse(description="No product with this SKU in the tenant's catalog.")


class ProductCollectionApi(TenantApiView):
    pagination_class = PageNumberPagination
    # A batch is a JSON document; files go to the import endpoint.
    parser_classes = [JSONParser]

    class FilterSerializer(serializers.Serializer):
        category = serializers.CharField(required=False, allow_blank=True)
        q = serializers.CharField(required=False, allow_blank=True)
        # Empty (`in_stock=`) or `null` is refused, not read as "no filter": as for the other typed
        # filters (a job's status, a page, a limit), only leaving the parameter out means "any".
        # Empty text (`q=`, `category=`) is another matter: it matches every product.
        in_stock = serializers.BooleanField(
            required=False, error_messages={"invalid": gettext_lazy("Must be true or false.")}
        )
        page = serializers.IntegerField(required=False, min_value=1)

    class UpsertInputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
        products = ProductRowsField()

        class Meta:
            ref_name = "ProductUpsertRequest"

        def to_internal_value(self, data):
            if isinstance(data, list):
                # The list alone is the likeliest mistake: say where it goes, as the events API does,
                # not DRF's "Expected a dictionary, but got list."
                raise serializers.ValidationError(
                    {"products": [_('Send an object with a "products" list, not the list alone.')]}
                )
            return super().to_internal_value(data)

        def validate_products(self, products):
            limit = settings.PRODUCTS_MAX_BATCH
            if len(products) > limit:
                raise serializers.ValidationError(
                    _("Send at most %(limit)d products per request; this one has %(count)d.")
                    % {"limit": limit, "count": len(products)}
                )
            return products

    class UpsertOutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        updated = serializers.IntegerField()

        class Meta:
            ref_name = "ProductUpsertResult"

    @extend_schema(
        operation_id="catalog_products_list",
        summary="List products",
        parameters=[
            OpenApiParameter("category", str, description='A category and everything below it ("Grocery").'),
            OpenApiParameter("q", str, description="Text in the title, description, brand or SKU."),
            OpenApiParameter("in_stock", bool),
        ],
        responses={
            200: ProductOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown query parameter, or a value of the wrong type."),
        },
    )
    def get(self, request):
        filters = validated_query(request, self.FilterSerializer)
        products = product_list(tenant=request.tenant, filters=filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(ProductOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="catalog_products_upsert",
        summary="Create or update products",
        description=(
            "Creates the products whose SKU (`external_id`) is new and updates the others: the fields "
            "sent are set (`null` or an empty string clears one), the fields left out keep their values. "
            "All or nothing: if any product is invalid, nothing is stored and the 400 names "
            "each bad product by index, field and reason. At most `PRODUCTS_MAX_BATCH` "
            "(10,000) products per request."
        ),
        request=UpsertInputSerializer,
        responses={
            200: UpsertOutputSerializer,
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ProductUpsertRefused",
                    serializers=[ProductBatchErrorSerializer, FieldErrorsSerializer],
                    resource_type_field_name=None,
                ),
                description="Bad products: `detail`, and `errors` naming each by index, field and reason. "
                "A body that is not JSON: `detail` alone. No `products` list, or one too long, or a key "
                "beside it that is not `products`: each such field's error instead.",
            ),
        },
        examples=[
            UPSERT_EXAMPLE,
            OpenApiExample(
                "Counts", response_only=True, status_codes=["200"], value={"created": 1, "updated": 1}
            ),
        ],
    )
    def post(self, request):
        serializer = self.UpsertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = product_upsert_many(tenant=request.tenant, rows=serializer.validated_data["products"])
        except ProductRowsInvalid as invalid:
            body = {
                "detail": ngettext(
                    "%(count)d error in the products; nothing was stored.",
                    "%(count)d errors in the products; nothing was stored.",
                    len(invalid.errors),
                ) % {"count": len(invalid.errors)},
                "errors": [
                    {"index": error.position, "field": error.field, "reason": error.reason}
                    for error in invalid.errors
                ],
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        counts = {"created": result.created, "updated": result.updated}
        return Response(self.UpsertOutputSerializer(counts).data)


class ProductDetailApi(TenantApiView):
    @extend_schema(
        operation_id="catalog_products_retrieve",
        summary="Read a product",
        parameters=[OpenApiParameter("external_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: ProductOutputSerializer, 404: NOT_IN_CATALOG},
    )
    def get(self, request, external_id: str):
        try:
            product = product_get(tenant=request.tenant, external_id=external_id)
        except Product.DoesNotExist:
            raise NotFound(_("No product with this SKU in your catalog."))
        return Response(ProductOutputSerializer(product).data)

    @extend_schema(
        operation_id="catalog_products_destroy",
        summary="Delete a product",
        parameters=[OpenApiParameter("external_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={204: None, 404: NOT_IN_CATALOG},
    )
    def delete(self, request, external_id: str):
        no_body_check(request)
        try:
            product_delete(tenant=request.tenant, external_id=external_id)
        except Product.DoesNotExist:
            raise NotFound(_("No product with this SKU in your catalog."))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("catalog/products", ProductCollectionApi.as_view(), name="api-product-collection"),
    # external_id (tenants.converters): a SKU may hold a slash, never a NUL.
    path("catalog/products/<external_id:external_id>", ProductDetailApi.as_view(), name="api-product-detail"),
]
