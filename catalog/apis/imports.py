"""The catalog file import API: upload a CSV or JSON file, list imports, read one.

An upload is imported by a worker: the POST answers 202 with the queued import and its address,
which the client reads until the status is succeeded or failed. An empty file, or one of no known
format, fails at once (400); a task queue that does not answer fails the import too (503).

GET and POST share `catalog/imports`, so one view holds both operations
(Django routes by path, not by method).
"""
from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from catalog.models import ImportStatus, ProductImport
from catalog.selectors.products import product_import_get, product_import_list
from catalog.services.imports import catalog_import_queue, catalog_imports_lost_fail
from tenants.api import TenantApiView
from tenants.api_fields import UnknownFieldsRefusedMixin
from tenants.api_params import PageNumberPagination, PageQuerySerializer, validated_query
from tenants.schema import FieldErrorsSerializer


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


@extend_schema_field(OpenApiTypes.BINARY)
class UploadedFileField(serializers.FileField):
    """DRF's FileField, which drf-spectacular documents as a URI (a file's address, as a response
    gives it) unless every request component is split from its response's (COMPONENT_SPLIT_REQUEST);
    an upload sends the file's bytes."""


class ProductImportOutputSerializer(serializers.ModelSerializer):
    errors = ImportErrorSerializer(
        many=True, source="errors_in_readers_language",
        help_text="The first 200 errors, each reason in the language of the request; error_count counts them all.",
    )

    class Meta:
        model = ProductImport
        fields = [
            "id", "filename", "file_format", "status", "row_count", "rows_checked", "created_count",
            "updated_count", "error_count", "errors", "created_at", "started_at", "finished_at",
        ]
        ref_name = "ProductImport"
        extra_kwargs = {
            "status": {"help_text": "queued, running, succeeded or failed: an import is done when it "
                       "succeeded or failed."},
            "row_count": {"help_text": "The file's rows (products), once a worker has read it; 0 before."},
            "rows_checked": {"help_text": "How many of the rows are checked so far: the progress of a "
                             "running import."},
        }


QUEUED_IMPORT_EXAMPLE = OpenApiExample(
    "A file queued for import",
    response_only=True,
    status_codes=["202"],
    value={
        "id": 12, "filename": "catalog.csv", "file_format": "csv", "status": ImportStatus.QUEUED,
        "row_count": 0, "rows_checked": 0, "created_count": 0, "updated_count": 0, "error_count": 0,
        "errors": [], "created_at": "2025-01-31T09:30:00Z", "started_at": None, "finished_at": None,
    },
)
FAILED_IMPORT_EXAMPLE = OpenApiExample(
    "A file with a bad row",
    response_only=True,
    status_codes=["200"],
    value={
        "id": 12, "filename": "catalog.csv", "file_format": "csv", "status": ImportStatus.FAILED,
        "row_count": 250, "rows_checked": 250, "created_count": 0, "updated_count": 0, "error_count": 1,
        "errors": [{"row": 7, "field": "price", "reason": (
            "“¥12.50” is not a price. Write a plain number such as 1234.50: a dot before the decimals, no "
            "thousands separator, no currency sign (the currency goes in the currency field)."
        )}],
        "created_at": "2025-01-31T09:30:00Z", "started_at": "2025-01-31T09:30:01Z",
        "finished_at": "2025-01-31T09:30:02Z",
    },
)


class ProductImportCollectionApi(TenantApiView):
    pagination_class = PageNumberPagination
    parser_classes = [MultiPartParser, FormParser]

    # A form field beside the file (a misspelt option, a second file) is refused, not dropped.
    class InputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
        # Empty files reach the service, so that they are recorded as a failed import.
        file = UploadedFileField(
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
        catalog_imports_lost_fail(tenant=request.tenant)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(product_import_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response(ProductImportOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="catalog_imports_create",
        summary="Import a catalog file",
        description=(
            "The file is kept and a worker imports it: the answer is 202 with the queued import, "
            "and its address in the Location header. Read the import until its status is "
            "`succeeded` or `failed`; `rows_checked` of `row_count` is its progress. All or nothing: "
            "with any bad row the import fails, no product is stored, and `errors` lists each bad "
            "row's number, field and reason. An empty file, or one neither .csv nor .json, is not "
            "queued: the answer is 400 with the import, failed, and the reason."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={
            202: ProductImportOutputSerializer,
            400: OpenApiResponse(
                response=PolymorphicProxySerializer(
                    component_name="ProductImportRefused",
                    serializers=[ProductImportOutputSerializer, FieldErrorsSerializer],
                    resource_type_field_name=None,
                ),
                description="A file that is empty, or neither .csv nor .json: the import, failed at once, "
                "with the reason (and its address in the Location header). No file at all in the "
                "request, or a form field other than `file`: each such field's error instead.",
            ),
            503: OpenApiResponse(
                response=ProductImportOutputSerializer,
                description="The platform's task queue did not answer: the import, failed without "
                "starting, with the reason. Nothing was kept; send the file again in a few minutes.",
            ),
        },
        examples=[QUEUED_IMPORT_EXAMPLE],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product_import = catalog_import_queue(
            tenant=request.tenant,
            uploaded_file=serializer.validated_data["file"],
            # An API key is a storefront, not a person: nobody to record.
            created_by=request.user if request.membership else None,
        )
        if product_import.status == ImportStatus.FAILED:
            answer = status.HTTP_400_BAD_REQUEST  # the file failed at once, not queued
        else:
            product_import.refresh_from_db()  # a worker that runs at once (or a broker that failed) changed it
            # Failed without starting: the task queue did not take it (catalog_import_queue).
            not_queued = product_import.status == ImportStatus.FAILED and product_import.started_at is None
            answer = status.HTTP_503_SERVICE_UNAVAILABLE if not_queued else status.HTTP_202_ACCEPTED
        return Response(
            ProductImportOutputSerializer(product_import).data,
            status=answer,
            headers={"Location": reverse("api-product-import-detail", args=[product_import.pk])},
        )


class ProductImportDetailApi(TenantApiView):
    @extend_schema(
        operation_id="catalog_imports_retrieve",
        summary="Read a catalog import",
        responses={
            200: ProductImportOutputSerializer,
            404: OpenApiResponse(description="Not one of your imports."),
        },
        examples=[FAILED_IMPORT_EXAMPLE],
    )
    def get(self, request, import_id: int):
        catalog_imports_lost_fail(tenant=request.tenant)
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
