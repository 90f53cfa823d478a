"""The catalog file import API: upload a CSV or JSON file, list imports, read one.

GET and POST share `catalog/imports`, so one view holds both operations
(Django routes by path, not by method).
"""
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from catalog.models import ImportStatus, ProductImport
from catalog.selectors.products import product_import_get, product_import_list
from catalog.services.imports import catalog_import_file
from tenants.api import TenantApiView
from tenants.api_params import PageNumberPagination, PageQuerySerializer, validated_query


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True,
        help_text="CSV: the spreadsheet row (the header is row 1). JSON: the product's position, from 1. "
        "Null when the problem is the whole file.",
    )
    field = serializers.CharField()
    reason = serializers.CharField()

    class Meta:
        ref_name = "ProductImportError"


class ProductImportOutputSerializer(serializers.ModelSerializer):
    errors = ImportErrorSerializer(
        many=True, source="errors_in_readers_language",
        help_text="The first 200 errors, each reason in the language of the request; error_count counts them all.",
    )

    class Meta:
        model = ProductImport
        fields = [
            "id", "filename", "file_format", "status", "row_count", "created_count", "updated_count",
            "error_count", "errors", "created_at",
        ]
        ref_name = "ProductImport"


FAILED_IMPORT_EXAMPLE = OpenApiExample(
    "A file with a bad row",
    response_only=True,
    status_codes=["400"],
    value={
        "id": 12, "filename": "catalog.csv", "file_format": "csv", "status": ImportStatus.FAILED,
        "row_count": 250, "created_count": 0, "updated_count": 0, "error_count": 1,
        "errors": [{"row": 7, "field": "price", "reason": "A valid number is required."}],
        "created_at": "2025-01-31T09:30:00Z",
    },
)


class ProductImportCollectionApi(TenantApiView):
    pagination_class = PageNumberPagination
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        # Empty files reach the service, so that they are recorded as a failed import.
        file = serializers.FileField(
            allow_empty_file=True,
            help_text="A .csv or .json catalog file, UTF-8. CSV columns are the product fields; "
            "`attributes` holds JSON text and columns named `attr_<name>` become attributes."
        )

        class Meta:
            ref_name = "ProductImportRequest"

    @extend_schema(
        operation_id="catalog_imports_list",
        summary="List catalog imports",
        responses={
            200: ProductImportOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown query parameter, or a page number that is not one."),
        },
    )
    def get(self, request):
        validated_query(request, PageQuerySerializer)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(product_import_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response(ProductImportOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="catalog_imports_create",
        summary="Import a catalog file",
        description=(
            "All or nothing: with any bad row the import is recorded as failed, no product is "
            "stored, and the 400 lists each bad row's number, field and reason."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={201: ProductImportOutputSerializer, 400: ProductImportOutputSerializer},
        examples=[FAILED_IMPORT_EXAMPLE],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product_import = catalog_import_file(
            tenant=request.tenant,
            uploaded_file=serializer.validated_data["file"],
            # An API key is a storefront, not a person: nobody to record.
            created_by=request.user if request.membership else None,
        )
        succeeded = product_import.status == ImportStatus.SUCCEEDED
        return Response(
            ProductImportOutputSerializer(product_import).data,
            status=status.HTTP_201_CREATED if succeeded else status.HTTP_400_BAD_REQUEST,
        )


class ProductImportDetailApi(TenantApiView):
    @extend_schema(
        operation_id="catalog_imports_retrieve",
        summary="Read a catalog import",
        responses={
            200: ProductImportOutputSerializer,
            404: OpenApiResponse(description="Not one of your imports."),
        },
    )
    def get(self, request, import_id: int):
        try:
            product_import = product_import_get(tenant=request.tenant, import_id=import_id)
        except ProductImport.DoesNotExist:
            raise NotFound(_("No such import in your catalog."))
        return Response(ProductImportOutputSerializer(product_import).data)


urlpatterns = [
    path("catalog/imports", ProductImportCollectionApi.as_view(), name="api-product-import-collection"),
    path(
        "catalog/imports/<int:import_id>", ProductImportDetailApi.as_view(), name="api-product-import-detail"
    ),
]
