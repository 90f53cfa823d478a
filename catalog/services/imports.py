"""Catalog files (CSV or JSON), imported all or nothing and recorded as a ProductImport.

Each product of a file goes through the same rules as an API batch (catalog.services.products):
a spreadsheet row and an API product are refused for the same reasons, in the same words.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language, override
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerUnreachable

from catalog.models import ImportStatus, ProductImport, ProductImportUpload
from catalog.services.products import (
    ATTRIBUTE_COLUMN_PREFIX,
    FILE_FIELD,
    PRODUCT_FIELD,
    PRODUCT_FIELDS,
    REQUIRED_FIELDS,
    ValidProduct,
    product_rows_validate,
    products_store,
    require_scope_of,
)
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# A failed import keeps this many errors on its record (and counts them all):
# enough to fix a file, small enough to show on one page.
IMPORT_ERRORS_KEPT = 200


def _import_error(row: int | None, field_name: str, reason: str) -> dict:
    """An error as a ProductImport stores it: row None means the whole file."""
    return {"row": row, "field": field_name, "reason": reason}


class _UnstorableNumber:
    """Stands, in JSON read from a catalog file, for NaN, Infinity, -Infinity or a number too
    large for a float (1e999). Python's json reads them all as floats, which no JSON column of
    the database holds: saving the products failed (a 500), and no failed import was recorded."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        # As written: a refusal that quotes the value (a price) shows NaN, not an object's address.
        return self.text


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


# A comma in most of the world; Excel writes a semicolon where the comma is the decimal mark,
# and "Text (Tab delimited)" tabs.
_CSV_DELIMITERS = (",", ";", "\t")


def _is_column_name(column: str) -> bool:
    return column in PRODUCT_FIELDS or (
        column.startswith(ATTRIBUTE_COLUMN_PREFIX) and column != ATTRIBUTE_COLUMN_PREFIX
    )


def _csv_delimiter(text: str) -> str:
    """The delimiter under which the header names the most product columns, then the most
    columns; the comma when none does better.

    Not csv.Sniffer: given a header alone it takes the comma whenever the line holds one, so it
    reads `external_id;title;attr_size,cm` as comma-separated. The column names say it better."""

    def header_fit(delimiter: str) -> tuple[int, int]:
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            return 0, 0
        return sum(_is_column_name(_csv_column_key(cell)) for cell in header), len(header)

    return max(_CSV_DELIMITERS, key=header_fit)  # the first of equals: the comma


def _csv_row_of_next_character(text_before: str) -> int:
    """The spreadsheet row (header = row 1) of the character that follows `text_before`, the
    start of a CSV file: counted in records, as a quoted cell may span lines."""
    # "x" stands for that character, so that the last record read is its row, even a new one.
    records = csv.reader(io.StringIO(text_before + "x", newline=""), delimiter=_csv_delimiter(text_before))
    try:
        return sum(1 for _record in records)
    except csv.Error:  # a cell past the csv module's limit: lines are the next best count
        return text_before.count("\n") + 1


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
        if not _is_column_name(column):
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
        # Not error.msg: Python's words are English whatever the reader's language.
        errors.append(_import_error(row_number, "attributes", _(
            "Not valid JSON (at character %(position)d of the cell).") % {"position": error.pos + 1}))
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
    records = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(text))
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
    except csv.Error:
        # csv's own message is English whatever the reader's language; the row says where.
        parsed.errors.append(_import_error(row_number + 1, FILE_FIELD, _(
            "This row is not readable CSV: one of its cells runs on past what a cell may hold. A quote that "
            "opens and never closes makes the rest of the file one cell, for one. Check the row in a text editor.")))
    return parsed


def _catalog_json_parse(text: str) -> ParsedCatalogFile:
    parsed = ParsedCatalogFile()
    try:
        data = _file_json_loads(text)
    except json.JSONDecodeError as error:
        # Not error.msg: Python's words are English whatever the reader's language.
        parsed.errors.append(_import_error(None, FILE_FIELD, _(
            "The file is not valid JSON (line %(line)d, column %(column)d)."
        ) % {"line": error.lineno, "column": error.colno}))
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


# How a workbook renamed .csv or .json begins: .xlsx is a ZIP archive, .xls an OLE2 compound file.
_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def _not_utf8_error(error: UnicodeDecodeError, file_format: str) -> dict:
    """Where a file stops being UTF-8, and how to fix it. Mostly a CSV file that a Chinese Excel or
    WPS saved in GBK, or a European Excel in Latin-1. Not read in a guessed encoding: a wrong guess
    would store garbled titles."""
    text_before = error.object[:error.start].decode("utf-8")  # the byte order mark already off
    if file_format == "json":
        return _import_error(None, FILE_FIELD, _(
            "Line %(line)d holds the file's first character that is not UTF-8: the file was saved in "
            "another encoding, such as GBK or Latin-1. Save it as UTF-8 and upload it again."
        ) % {"line": text_before.count("\n") + 1})
    return _import_error(_csv_row_of_next_character(text_before), FILE_FIELD, _(
        "This row holds the file's first character that is not UTF-8: the file was saved in another "
        "encoding, such as GBK or Latin-1. In Excel, save it with Save As → “CSV UTF-8 (Comma delimited)” "
        "(in WPS or Numbers, export it as CSV in UTF-8), then upload it again."))


def catalog_file_parse(uploaded_file: File, file_format: str) -> ParsedCatalogFile:
    """The products of a CSV or JSON catalog file, not validated yet."""
    if file_format not in {"csv", "json"}:
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _(
            "Upload a .csv or .json file."))])
    content = b"".join(uploaded_file.chunks())
    if content.startswith(_WORKBOOK_SIGNATURES):
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _(
            "This file is an Excel workbook (.xlsx or .xls), not a CSV file. In Excel, save it with "
            "Save As → “CSV UTF-8 (Comma delimited)” (in WPS or Numbers, export it as CSV in UTF-8), "
            "then upload the .csv file."))])
    try:
        # utf-8-sig drops the byte order mark that Excel puts before a UTF-8 CSV.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return ParsedCatalogFile(errors=[_not_utf8_error(error, file_format)])
    if not text.strip():
        return ParsedCatalogFile(errors=[_import_error(None, FILE_FIELD, _("The file is empty."))])
    parsed = _catalog_csv_parse(text) if file_format == "csv" else _catalog_json_parse(text)
    if not parsed.errors and not parsed.rows:
        parsed.errors.append(_import_error(None, FILE_FIELD, _("The file holds no product.")))
    return parsed


def _file_checked(
    uploaded_file: File, file_format: str, on_progress: Callable[[int, int], None] | None = None
) -> tuple[ParsedCatalogFile, list[ValidProduct], list[dict]]:
    """The file parsed, its valid products, and its errors (row order), in the active language.
    `on_progress(rows_checked, row_count)` hears how far the checks are, once the file is read,
    and (row_count, row_count) once they are done."""
    parsed = catalog_file_parse(uploaded_file, file_format)
    rows_checked = None
    if on_progress is not None:
        row_count = len(parsed.rows)
        on_progress(0, row_count)

        def rows_checked(count: int) -> None:
            on_progress(count, row_count)

    products, row_errors = product_rows_validate(parsed.rows, given=parsed.given, on_progress=rows_checked)
    if on_progress is not None:
        # Always, not only at a multiple of ROWS_PER_PROGRESS_REPORT: the page then says the
        # checks are done and the products are being saved.
        on_progress(row_count, row_count)
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


def _error_in_every_language(reason: Callable[[], str]) -> dict:
    """An error of the whole file whose reason is known in every language of the UI."""
    error = _import_error(None, FILE_FIELD, reason())
    error["reasons"] = {}
    for language, _name in settings.LANGUAGES:
        with override(language):
            error["reasons"][language] = reason()
    return error


# What the end of an import writes on its record.
_OUTCOME_FIELDS = (
    "status", "row_count", "rows_checked", "finished_at", "errors", "error_count", "created_count", "updated_count",
)


def _outcome_recorded(record: ProductImport) -> bool:
    """Write the import's outcome; False, writing nothing, when the import is no longer running:
    it was failed meanwhile (lost: catalog_imports_lost_fail), and must not come back as done."""
    if record.pk is None:  # imported at once (catalog_import_file): no one else knows of it
        record.save()
        return True
    written = ProductImport.objects.filter(pk=record.pk, status=ImportStatus.RUNNING).update(
        **{name: getattr(record, name) for name in _OUTCOME_FIELDS}
    )
    return written == 1


def _import_into(
    record: ProductImport, uploaded_file: File, *, on_progress: Callable[[int, int], None] | None = None
) -> ProductImport:
    """Check the file and, if every row is good, store its products; record the outcome.

    All or nothing: with any error the import is stored as failed, with its errors, and no
    product is written; nor is any when the import was failed meanwhile (then the record is read
    again, and says so). `on_progress(rows_checked, row_count)` hears how far the checks are.
    """
    require_scope_of(record.tenant)
    file_format = record.file_format
    parsed, products, errors = _file_checked(uploaded_file, file_format, on_progress)
    if errors:
        _reasons_in_every_language(errors, uploaded_file, file_format)
    record.row_count = record.rows_checked = len(parsed.rows)
    if errors:
        record.status = ImportStatus.FAILED
        record.errors = errors[:IMPORT_ERRORS_KEPT]
        record.error_count = len(errors)
        record.finished_at = timezone.now()
        if not _outcome_recorded(record):
            record.refresh_from_db()
        return record
    with transaction.atomic():
        result = products_store(tenant=record.tenant, products=products)
        record.status = ImportStatus.SUCCEEDED
        record.created_count, record.updated_count = result.created, result.updated
        record.finished_at = timezone.now()
        recorded = _outcome_recorded(record)
        if not recorded:
            transaction.set_rollback(True)  # nothing of a failed import stays stored
    if not recorded:
        record.refresh_from_db()
    return record


def catalog_import_file(*, tenant: Tenant, uploaded_file: File, created_by=None) -> ProductImport:
    """Import a catalog file (CSV or JSON) at once, in this process (the command line), and
    record the outcome as a ProductImport. Runs inside `tenant`'s scope; all or nothing."""
    require_scope_of(tenant)
    record = ProductImport(
        tenant=tenant,
        filename=Path(uploaded_file.name or "").name[:255],
        file_format=catalog_file_format(uploaded_file),
        status=ImportStatus.RUNNING,
        started_at=timezone.now(),
        created_by=created_by,
    )
    return _import_into(record, uploaded_file)


@transaction.atomic
def catalog_import_queue(*, tenant: Tenant, uploaded_file: File, created_by=None) -> ProductImport:
    """Keep an uploaded catalog file and queue its import for a worker; returns the queued
    ProductImport, whose page shows the progress and then the outcome.

    The task is sent once the transaction commits, so the worker finds the file. A broker that
    cannot be reached fails the import at once, with the reason, and keeps nothing of the file: the
    import is then failed without having started. A file of no known format, or an empty one, is
    not queued: it is imported (and fails) at once, and nothing of it is kept.
    """
    require_scope_of(tenant)
    file_format = catalog_file_format(uploaded_file)
    uploaded_file.seek(0)
    content = uploaded_file.read()
    if not file_format or not content.strip():
        # No worker could do better than fail it, and saying so at once spares the wait; the same
        # code gives the same reasons.
        uploaded_file.seek(0)
        return catalog_import_file(tenant=tenant, uploaded_file=uploaded_file, created_by=created_by)
    record = ProductImport.objects.create(
        tenant=tenant,
        filename=Path(uploaded_file.name or "").name[:255],
        file_format=file_format,
        status=ImportStatus.QUEUED,
        created_by=created_by,
    )
    ProductImportUpload.objects.create(tenant=tenant, product_import=record, content=content)
    language = get_language()
    transaction.on_commit(lambda: _send(tenant_id=tenant.pk, import_id=record.pk, language=language))
    return record


def _send(*, tenant_id: int, import_id: int, language: str) -> None:
    from catalog.tasks import catalog_import_task  # the tasks module imports this one

    try:
        catalog_import_task.delay(tenant_id=tenant_id, import_id=import_id, language=language)
    except BrokerUnreachable:
        logger.exception("catalog import %s: the broker could not be reached", import_id)
        _fail(
            ProductImport.all_tenants.filter(pk=import_id, status=ImportStatus.QUEUED),
            lambda: _("The import could not be started: the platform's task queue did not answer. Nothing "
                      "was stored; upload the file again in a few minutes."),
        )


def _fail(imports, reason: Callable[[], str]) -> None:
    """Fail the imports (a queryset) with one reason of the whole file, and let their files go."""
    error = _error_in_every_language(reason)
    ids = list(imports.values_list("pk", flat=True))
    imports.filter(pk__in=ids).update(
        status=ImportStatus.FAILED, errors=[error], error_count=1, finished_at=timezone.now()
    )
    ProductImportUpload.all_tenants.filter(product_import_id__in=ids).delete()


def catalog_import_stored(
    *, import_id: int, on_progress: Callable[[int, int], None] | None = None
) -> ProductImport:
    """Run a queued import on the file kept for it, in the tenant's scope; the file goes once
    the import is done. A failure of ours, not of the file, fails the import with the reason."""
    record = ProductImport.objects.select_related("tenant").get(pk=import_id)
    # Failed meanwhile (lost), it keeps the reason it was given.
    this_import_running = ProductImport.objects.filter(pk=import_id, status=ImportStatus.RUNNING)
    upload = ProductImportUpload.objects.filter(product_import=record).first()
    if upload is None:  # not expected: a running import keeps its file
        _fail(this_import_running, _lost_file_reason)
        record.refresh_from_db()
        return record
    try:
        record = _import_into(record, ContentFile(bytes(upload.content), name=record.filename), on_progress=on_progress)
    except Exception:
        logger.exception("catalog import %s failed", import_id)
        _fail(this_import_running, _failed_on_our_side_reason)
        raise
    upload.delete()
    return record


def _lost_file_reason() -> str:
    return _("The uploaded file was no longer there to import. Nothing was stored; upload the file again.")


def _failed_on_our_side_reason() -> str:
    return _("The import stopped on an error on our side, not in your file. Nothing was stored; upload the "
             "file again, and tell us if it happens again.")


def catalog_imports_lost_fail(*, tenant: Tenant) -> None:
    """Fail the tenant's imports that are lost (ProductImport.RUNNING_LOST_AFTER and
    QUEUED_LOST_AFTER), with the reason: a page or a client polling one then learns that it
    ended. Called before imports are read."""
    now = timezone.now()
    lost = ProductImport.objects.filter(tenant=tenant).filter(
        Q(status=ImportStatus.RUNNING, progress_at__lt=now - ProductImport.RUNNING_LOST_AFTER)
        | Q(status=ImportStatus.QUEUED, created_at__lt=now - ProductImport.QUEUED_LOST_AFTER)
    )
    if lost.exists():
        _fail(lost, _lost_worker_reason)


def _lost_worker_reason() -> str:
    return _("The import stopped: no worker took it up, or the one running it stopped. Nothing was stored; "
             "upload the file again.")
