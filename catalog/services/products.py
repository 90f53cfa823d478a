"""Writes on the product catalog: batches from the API, and catalog files.

Both ways in hold a product to the same rules: every product goes through
`ProductRowSerializer` (in `product_rows_validate`), so an API batch and a
spreadsheet row are refused for the same reasons, in the same words.
Both are all or nothing: one bad product and nothing of its batch or file is
stored.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils.translation import get_language, override
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from catalog.models import ImportStatus, Product, ProductImport
from catalog.signals import products_changed
from tenants.api_fields import DecimalInputField, UnknownFieldsRefusedMixin
from tenants.models import Tenant
from tenants.scope import TenantScopeMissing, current_tenant

PRODUCT_FIELDS = (
    "external_id", "title", "description", "category", "brand",
    "price", "currency", "in_stock", "attributes",
)
REQUIRED_FIELDS = ("external_id", "title")
# An upsert sets the fields given and keeps the others of a product already in the catalog (a
# new one gets their defaults): a file or batch with only some columns must not wipe the rest.
# created_at is never updated, so a product keeps the date it first came.
CATEGORY_SEPARATOR = " > "
CATEGORY_MAX_LENGTH = 500  # Product.category's
ATTRIBUTE_COLUMN_PREFIX = "attr_"
# A failed import keeps this many errors on its record (and counts them all):
# enough to fix a file, small enough to show on one page.
IMPORT_ERRORS_KEPT = 200
# The error's "field" when the problem is the file, or a whole product.
FILE_FIELD = "file"
PRODUCT_FIELD = "product"

_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")


def category_path_normalize(path: str) -> str:
    """'Grocery>Produce >  Apples' -> 'Grocery > Produce > Apples': one spelling per path,
    so a category filter finds every product of that category."""
    return CATEGORY_SEPARATOR.join(part.strip() for part in path.split(">") if part.strip())


class ProductRowSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
    """The rules of one product, wherever it comes from (API batch, CSV row, JSON item)."""

    external_id = serializers.CharField(
        max_length=128, help_text="The merchant's SKU, unique in the catalog."
    )
    title = serializers.CharField(max_length=500)
    description = serializers.CharField(allow_blank=True, default="")
    category = serializers.CharField(
        max_length=CATEGORY_MAX_LENGTH, allow_blank=True, default="",
        help_text='A path, most general first: "Grocery > Produce > Apples".',
    )
    brand = serializers.CharField(max_length=200, allow_blank=True, default="")
    price = DecimalInputField(
        max_digits=12, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    currency = serializers.CharField(
        allow_blank=True, default="", help_text="ISO 4217 code, such as USD or CNY."
    )
    in_stock = serializers.BooleanField(default=True)
    attributes = serializers.DictField(default=dict, help_text="Free-form attributes: a JSON object.")

    class Meta:
        ref_name = "ProductInput"

    def unknown_field_reason(self) -> str:
        # A typo ("pirce") would otherwise silently lose the merchant's data (UnknownFieldsRefusedMixin).
        return _("Unknown field. Product fields are: %(fields)s.") % {"fields": ", ".join(PRODUCT_FIELDS)}

    def validate_category(self, value: str) -> str:
        # Checked again once spelled out: "a>b" becomes "a > b", which may pass the limit.
        normalized = category_path_normalize(value)
        if len(normalized) > CATEGORY_MAX_LENGTH:
            raise serializers.ValidationError(
                _("At most %(limit)d characters once written as “A > B”; this one has %(length)d.")
                % {"limit": CATEGORY_MAX_LENGTH, "length": len(normalized)}
            )
        return normalized

    def validate_currency(self, value: str) -> str:
        if value and not _CURRENCY_CODE.match(value):
            raise serializers.ValidationError(_("Use a three-letter ISO 4217 code, such as USD."))
        return value.upper()


@dataclass(frozen=True)
class ProductRowError:
    """What is wrong with one product: `position` is its 0-based place among the
    rows validated; callers turn it into what their user sees (index, row)."""

    position: int
    field: str
    reason: str


class ProductRowsInvalid(Exception):
    """At least one product of a batch is invalid; nothing was stored."""

    def __init__(self, errors: list[ProductRowError]) -> None:
        super().__init__(f"{len(errors)} invalid product field(s)")
        self.errors = errors


@dataclass(frozen=True)
class ValidProduct:
    values: dict  # the validated fields, defaults included, as a new product is created
    given: frozenset[str]  # the fields sent, which an existing product's update sets


@dataclass(frozen=True)
class ProductUpsertResult:
    created: int
    updated: int


def _error_messages(detail: Any, field_name: str = "") -> Iterator[tuple[str, str]]:
    """(field, reason) for each message of a DRF error detail, however deeply nested."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            key = "" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
            nested = f"{field_name}.{key}" if field_name and key else (key or field_name)
            yield from _error_messages(value, nested)
    elif isinstance(detail, list):
        for item in detail:
            yield from _error_messages(item, field_name)
    else:
        yield field_name or PRODUCT_FIELD, str(detail)


def product_rows_validate(
    rows: Sequence[Any], *, given: frozenset[str] | None = None
) -> tuple[list[ValidProduct], list[ProductRowError]]:
    """The clean products and the errors of a batch: every error, not only the first,
    so a merchant can fix a whole file at once. `given`: the fields every row gives (a CSV
    file's columns, an empty cell included); by default, each row's own keys."""
    cleaned: list[ValidProduct] = []
    errors: list[ProductRowError] = []
    first_position_of_sku: dict[str, int] = {}
    # One serializer for every row: building its fields for each of 10,000
    # rows would cost more than validating them.
    serializer = ProductRowSerializer()
    for position, row in enumerate(rows):
        try:
            product = dict(serializer.run_validation(row))
        except serializers.ValidationError as error:
            errors.extend(
                ProductRowError(position, field_name, reason)
                for field_name, reason in _error_messages(error.detail)
            )
            continue
        sku = product["external_id"]
        if first_position_of_sku.setdefault(sku, position) != position:
            # Which of the two should win is a guess we refuse to make.
            errors.append(ProductRowError(
                position, "external_id",
                _("The SKU %(sku)s appears more than once; send each product once.") % {"sku": sku},
            ))
            continue
        fields_given = given if given is not None else frozenset(row) & frozenset(PRODUCT_FIELDS)
        cleaned.append(ValidProduct(product, fields_given))
    return cleaned, errors


def _require_scope_of(tenant: Tenant) -> None:
    # bulk_create bypasses TenantOwned.save(), the check that a row belongs to
    # the scope it is written in: without this, a caller mixing up tenants
    # would write into another merchant's catalog.
    if current_tenant().pk != tenant.pk:
        raise TenantScopeMissing(f"Writing products of tenant {tenant.pk} in the scope of another tenant.")


def _products_store(*, tenant: Tenant, products: list[ValidProduct]) -> ProductUpsertResult:
    """Insert or update validated products, SKUs unique among them: an existing product's update
    sets the fields given and keeps the others."""
    _require_scope_of(tenant)
    skus = [product.values["external_id"] for product in products]
    # One query, only to count: the upsert below does not say which rows it inserted.
    # A product created by a concurrent request in between is counted as created.
    existing = set(
        Product.objects.filter(tenant=tenant, external_id__in=skus).values_list("external_id", flat=True)
    )
    # One upsert per set of fields given: a file's rows share one, an API batch mostly does.
    by_fields: dict[frozenset[str], list[ValidProduct]] = {}
    for product in products:
        by_fields.setdefault(product.given, []).append(product)
    for given, group in by_fields.items():
        Product.objects.bulk_create(
            [Product(tenant=tenant, **product.values) for product in group],
            update_conflicts=True,
            unique_fields=["tenant", "external_id"],
            update_fields=[name for name in PRODUCT_FIELDS if name in given and name != "external_id"]
            + ["updated_at"],
            batch_size=1000,
        )
    transaction.on_commit(lambda: products_changed.send(sender=Product, tenant_id=tenant.pk))
    return ProductUpsertResult(created=len(products) - len(existing), updated=len(existing))


@transaction.atomic
def product_upsert_many(*, tenant: Tenant, rows: Sequence[Any]) -> ProductUpsertResult:
    """Create the products whose SKU is new and replace those that exist.

    Runs inside `tenant`'s scope. Raises ProductRowsInvalid, storing nothing,
    when any product is invalid.
    """
    products, errors = product_rows_validate(rows)
    if errors:
        raise ProductRowsInvalid(errors)
    return _products_store(tenant=tenant, products=products)


@transaction.atomic
def product_delete(*, tenant: Tenant, external_id: str) -> None:
    """Raises Product.DoesNotExist when the SKU is not in the tenant's catalog.
    Shopper events keep the SKU, so the history survives the product."""
    Product.objects.get(tenant=tenant, external_id=external_id).delete()
    transaction.on_commit(lambda: products_changed.send(sender=Product, tenant_id=tenant.pk))


# --- Catalog files -----------------------------------------------------------


def _import_error(row: int | None, field_name: str, reason: str) -> dict:
    """An error as a ProductImport stores it: row None means the whole file."""
    return {"row": row, "field": field_name, "reason": reason}


class _UnstorableNumber:
    """Stands, in JSON read from a catalog file, for NaN, Infinity, -Infinity or a number too
    large for a float (1e999). Python's json reads them all as floats, which no JSON column of
    the database holds: saving the products failed (a 500), and no failed import was recorded."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float_or_unstorable(text: str) -> float | _UnstorableNumber:
    value = float(text)
    return value if math.isfinite(value) else _UnstorableNumber(text)


def _file_json_loads(text: str) -> Any:
    """json.loads, each number the database cannot store read as an _UnstorableNumber, for
    `_unstorable_numbers` to name. Raises json.JSONDecodeError, and RecursionError when lists or
    objects nest deeper than Python's stack allows."""
    return json.loads(text, parse_constant=_UnstorableNumber, parse_float=_float_or_unstorable)


def _unstorable_numbers(value: Any, field_name: str) -> list[tuple[str, str]]:
    """(field, the number as written) for each _UnstorableNumber in `value`, read from JSON.
    A loop, not recursion: the value may nest as deeply as json.loads could read."""
    found = []
    pending = deque([(field_name, value)])
    while pending:
        name, item = pending.popleft()
        if isinstance(item, _UnstorableNumber):
            found.append((name or PRODUCT_FIELD, item.text))
        elif isinstance(item, dict):
            pending.extend((f"{name}.{key}" if name else str(key), nested) for key, nested in item.items())
        elif isinstance(item, list):
            pending.extend((name, nested) for nested in item)
    return found


def _unstorable_number_errors(value: Any, field_name: str, row: int) -> list[dict]:
    return [
        _import_error(row, name, _(
            "%(number)s is not a number that can be stored: use a finite number, at most about 1.8e308."
        ) % {"number": number})
        for name, number in _unstorable_numbers(value, field_name)
    ]


def _too_deep_message() -> str:
    return _("The JSON nests lists or objects too deeply to read.")


@dataclass
class ParsedCatalogFile:
    """The products read from a file, with the row number the merchant sees for each."""

    rows: list[dict] = field(default_factory=list)
    # A CSV file's product fields, named by its header: each row gives them all, an empty cell
    # a field set to its default. None for JSON, whose products each give their own keys.
    given: frozenset[str] | None = None
    row_numbers: list[int] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def catalog_file_format(uploaded_file: File) -> str:
    """'csv' or 'json', from the file name's extension, else its content type; '' if neither says."""
    extension = Path(uploaded_file.name or "").suffix.lower().lstrip(".")
    if extension in {"csv", "json"}:
        return extension
    content_type = (getattr(uploaded_file, "content_type", None) or "").split(";")[0].strip().lower()
    return {"text/csv": "csv", "application/csv": "csv", "application/json": "json"}.get(content_type, "")


def _csv_header_errors(columns: list[str]) -> list[dict]:
    errors = []
    for required in REQUIRED_FIELDS:
        if required not in columns:
            errors.append(_import_error(1, required, _("The required column %(column)s is missing.") % {
                "column": required}))
    seen: set[str] = set()
    for column in columns:
        if not column:
            continue
        if column in seen:
            errors.append(_import_error(1, column, _("The column appears more than once.")))
        seen.add(column)
        is_attribute = column.startswith(ATTRIBUTE_COLUMN_PREFIX) and column != ATTRIBUTE_COLUMN_PREFIX
        if column not in PRODUCT_FIELDS and not is_attribute:
            errors.append(_import_error(1, column, _(
                "Unknown column. Use the product fields (%(fields)s), or start the column's name "
                "with attr_ to keep it as an attribute."
            ) % {"fields": ", ".join(PRODUCT_FIELDS)}))
    return errors


def _csv_column_key(header_cell: str) -> str:
    # Spreadsheets capitalise headers; attribute names keep the case they were given.
    name = header_cell.strip()
    if name.lower() in PRODUCT_FIELDS:
        return name.lower()
    if name.lower().startswith(ATTRIBUTE_COLUMN_PREFIX):
        return ATTRIBUTE_COLUMN_PREFIX + name[len(ATTRIBUTE_COLUMN_PREFIX):]
    return name


def _csv_row_to_product(columns: list[str], cells: list[str], row_number: int, errors: list[dict]) -> dict:
    """The product of one CSV row; problems of the cells themselves go to `errors`."""
    if len(cells) > len(columns):
        errors.append(_import_error(row_number, PRODUCT_FIELD, _(
            "The row has %(cells)d cells but the header has %(columns)d columns."
        ) % {"cells": len(cells), "columns": len(columns)}))
    product: dict[str, Any] = {}
    attributes_from_columns: dict[str, str] = {}
    for column, cell in zip(columns, cells):
        value = cell.strip()
        if not value:
            continue  # an empty cell is a field left out: its default applies
        if not column:
            errors.append(_import_error(
                row_number, PRODUCT_FIELD, _("A value stands in a column with no name.")))
        elif column.startswith(ATTRIBUTE_COLUMN_PREFIX):
            attributes_from_columns[column[len(ATTRIBUTE_COLUMN_PREFIX):]] = value
        elif column == "attributes":
            attributes = _csv_attributes_cell(value, row_number, errors)
            if attributes is not None:
                product["attributes"] = attributes
        else:
            product[column] = value
    from_json = product.get("attributes", {})
    # A non-object attributes cell is left alone, for the validation to name it.
    if attributes_from_columns and isinstance(from_json, dict):
        # An attr_ column wins over the same key in the attributes JSON: it is the more specific.
        product["attributes"] = {**from_json, **attributes_from_columns}
    return product


def _csv_attributes_cell(value: str, row_number: int, errors: list[dict]) -> Any | None:
    """The JSON of an attributes cell, or None, its problems in `errors`."""
    try:
        attributes = _file_json_loads(value)
    except json.JSONDecodeError as error:
        errors.append(_import_error(row_number, "attributes", _(
            "Not valid JSON: %(message)s.") % {"message": error.msg}))
        return None
    except RecursionError:
        errors.append(_import_error(row_number, "attributes", _too_deep_message()))
        return None
    unstorable = _unstorable_number_errors(attributes, "attributes", row_number)
    errors.extend(unstorable)
    return None if unstorable else attributes


def _catalog_csv_parse(text: str) -> ParsedCatalogFile:
    parsed = ParsedCatalogFile()
    # csv.reader yields one record per spreadsheet row, a quoted cell spanning
    # several lines included, so counting records gives the row numbers the
    # merchant sees (header = row 1). Blank rows are skipped but still counted.
    records = csv.reader(io.StringIO(text, newline=""))
    row_number = 0  # the last row read
    try:
        header = next(records, [])
        row_number = 1
        columns = [_csv_column_key(cell) for cell in header]
        if not any(columns):
            parsed.errors.append(_import_error(1, FILE_FIELD, _("The first row must name the columns.")))
            return parsed
        parsed.errors.extend(_csv_header_errors(columns))
        if parsed.errors:
            return parsed
        parsed.given = frozenset(
            "attributes" if column.startswith(ATTRIBUTE_COLUMN_PREFIX) else column for column in columns
        ) & frozenset(PRODUCT_FIELDS)
        for row_number, cells in enumerate(records, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            parsed.rows.append(_csv_row_to_product(columns, cells, row_number, parsed.errors))
            parsed.row_numbers.append(row_number)
    except csv.Error as error:
        parsed.errors.append(_import_error(row_number + 1, FILE_FIELD, _(
            "The file is not readable CSV: %(message)s.") % {"message": error}))
    return parsed


def _catalog_json_parse(text: str) -> ParsedCatalogFile:
    parsed = ParsedCatalogFile()
    try:
        data = _file_json_loads(text)
    except json.JSONDecodeError as error:
        parsed.errors.append(_import_error(None, FILE_FIELD, _(
            "The file is not valid JSON (line %(line)d, column %(column)d): %(message)s."
        ) % {"line": error.lineno, "column": error.colno, "message": error.msg}))
        return parsed
    except RecursionError:
        parsed.errors.append(_import_error(None, FILE_FIELD, _too_deep_message()))
        return parsed
    if isinstance(data, dict) and "products" in data:
        data = data["products"]
    if not isinstance(data, list):
        parsed.errors.append(_import_error(None, FILE_FIELD, _(
            'The file must hold a list of products, or an object with a "products" list.')))
        return parsed
    parsed.rows = data
    parsed.row_numbers = list(range(1, len(data) + 1))
    for row_number, row in zip(parsed.row_numbers, data):
        # Validation then names the same fields again where it refuses them too (a price); but
        # it takes any value in the attributes, where these numbers mostly are.
        parsed.errors.extend(_unstorable_number_errors(row, "", row_number))
    return parsed


def catalog_file_parse(uploaded_file: File, file_format: str) -> ParsedCatalogFile:
    """The products of a CSV or JSON catalog file, not validated yet."""
    if file_format not in {"csv", "json"}:
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _(
            "Upload a .csv or .json file."))])
    content = b"".join(uploaded_file.chunks())
    try:
        # utf-8-sig drops the byte order mark that Excel puts before a UTF-8 CSV.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _(
            "The file is not UTF-8 text (byte %(position)d). Save it as UTF-8 and upload it again."
        ) % {"position": error.start})])
    if not text.strip():
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _("The file is empty."))])
    parsed = _catalog_csv_parse(text) if file_format == "csv" else _catalog_json_parse(text)
    if not parsed.errors and not parsed.rows:
        parsed.errors.append(_import_error(None, FILE_FIELD, _("The file holds no product.")))
    return parsed


@transaction.atomic
def _file_checked(
    uploaded_file: File, file_format: str
) -> tuple[ParsedCatalogFile, list[ValidProduct], list[dict]]:
    """The file parsed, its valid products, and its errors (row order), in the active language."""
    parsed = catalog_file_parse(uploaded_file, file_format)
    products, row_errors = product_rows_validate(parsed.rows, given=parsed.given)
    errors = parsed.errors + [
        _import_error(parsed.row_numbers[error.position], error.field, error.reason) for error in row_errors
    ]
    # Stable: the cell problems of a row stay before its field problems.
    errors.sort(key=lambda error: error["row"] or 0)
    return parsed, products, errors


def _reasons_in_every_language(errors: list[dict], uploaded_file: File, file_format: str) -> None:
    """Give each error its reason in every language of the UI, so that whoever reads the failed
    import reads it in theirs, not in the uploader's. The file is checked again in each other
    language: the same file gives the same errors in the same order, and only a failed import,
    which stored nothing, pays for it."""
    current = get_language()
    for error in errors:
        error["reasons"] = {current: error["reason"]}
    for language, _name in settings.LANGUAGES:
        if language == current:
            continue
        uploaded_file.seek(0)
        with override(language):
            _parsed, _products, again = _file_checked(uploaded_file, file_format)
        if len(again) != len(errors):  # not expected; the uploader's language stands alone then
            continue
        for error, translated in zip(errors, again, strict=True):
            error["reasons"][language] = translated["reason"]


def catalog_import_file(*, tenant: Tenant, uploaded_file: File, created_by=None) -> ProductImport:
    """Import a catalog file (CSV or JSON) and record the outcome as a ProductImport.

    Runs inside `tenant`'s scope. All or nothing: with any error the import is
    stored as failed, with its errors, and no product is written.
    """
    _require_scope_of(tenant)
    file_format = catalog_file_format(uploaded_file)
    parsed, products, errors = _file_checked(uploaded_file, file_format)
    if errors:
        _reasons_in_every_language(errors, uploaded_file, file_format)
    record = ProductImport(
        tenant=tenant,
        filename=Path(uploaded_file.name or "").name[:255],
        file_format=file_format,
        row_count=len(parsed.rows),
        created_by=created_by,
    )
    if errors:
        record.status = ImportStatus.FAILED
        record.errors = errors[:IMPORT_ERRORS_KEPT]
        record.error_count = len(errors)
    else:
        result = _products_store(tenant=tenant, products=products)
        record.status = ImportStatus.SUCCEEDED
        record.created_count, record.updated_count = result.created, result.updated
    record.save()
    return record
