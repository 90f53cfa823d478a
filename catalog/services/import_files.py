"""Reading a catalog file (CSV or JSON), one row at a time: what each row holds, not validated
yet, with the row number the merchant sees, and the problems of the file itself.

Both formats are read as a stream over the file's bytes, so that a worker holds a row, not the
file's rows, at a time (catalog.services.imports checks and saves them a chunk at a time): a CSV
file by the csv module, a record at a time; a JSON file by ijson (catalog.services.json_stream),
a piece of the file at a time, each product built as its row is asked for. Python's json read the
document at once: a 45 MB file cost a worker 228 MB (bench/import_memory.py); read as a stream, 92
MB, as the same products as a 31 MB CSV cost 75 MB: the file's bytes, held once, and a chunk.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.files import File
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import override

from catalog.services import json_stream
from catalog.services.products import (
    ATTRIBUTE_COLUMN_PREFIX,
    FILE_FIELD,
    PRODUCT_FIELD,
    PRODUCT_FIELDS,
    REQUIRED_FIELDS,
)


def import_error(row: int | None, field_name: str, reason: str) -> dict:
    """An error as a ProductImport stores it: row None means the whole file."""
    return {"row": row, "field": field_name, "reason": reason}


def error_in_every_language(reason: Callable[[], str]) -> dict:
    """An error of the whole file whose reason is known in every language of the UI (`reasons`),
    and in the active one (`reason`)."""
    error = import_error(None, FILE_FIELD, reason())
    error["reasons"] = {}
    for language, _name in settings.LANGUAGES:
        with override(language):
            error["reasons"][language] = reason()
    return error


class _UnstorableNumber:
    """Stands, in JSON read from a catalog file, for NaN, Infinity, -Infinity or a number too
    large for a float (1e999). Read as floats, they are values that no JSON column of the database
    holds: saving the products failed (a 500), and no failed import was recorded."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        # As written: a refusal that quotes the value (a price) shows NaN, not an object's address.
        return self.text


def _float_or_unstorable(text: str) -> float | _UnstorableNumber:
    value = float(text)
    return value if math.isfinite(value) else _UnstorableNumber(text)


def _file_json_loads(text: str) -> Any:
    """json.loads (of a CSV file's attributes cell), each number the database cannot store read as
    an _UnstorableNumber, for `_unstorable_numbers` to name. Raises json.JSONDecodeError, and
    RecursionError when lists or objects nest deeper than Python's stack allows."""
    return json.loads(text, parse_constant=_UnstorableNumber, parse_float=_float_or_unstorable)


def _unstorable_numbers(value: Any, field_name: str) -> list[tuple[str, str]]:
    """(field, the number as written) for each _UnstorableNumber in `value`, read from JSON: a field,
    then the fields in it, a level at a time. A loop, not recursion: the value may nest as deeply as
    json.loads could read. Only objects and lists wait their turn, a number named when met (which
    is its turn): a list of a million numbers is not queued a million times over."""
    if isinstance(value, _UnstorableNumber):
        return [(field_name or PRODUCT_FIELD, value.text)]
    found = []
    pending = deque([(field_name, value)]) if isinstance(value, dict | list) else ()
    while pending:
        name, container = pending.popleft()
        is_object = isinstance(container, dict)
        for key, item in container.items() if is_object else enumerate(container):
            item_name = (f"{name}.{key}" if name else str(key)) if is_object else name
            if item.__class__ is _UnstorableNumber:
                found.append((item_name or PRODUCT_FIELD, item.text))
            elif isinstance(item, dict | list):
                pending.append((item_name, item))
    return found


def _unstorable_number_reason() -> Callable[[str], str]:
    """The reason given for an unstorable number, in the active language, for one number after
    another: looked up once, not once a number (gettext cost more than a row of NaNs to read)."""
    template = _("%(number)s is not a number that can be stored: use a finite number, at most about 1.8e308.")
    return lambda number: template % {"number": number}


def _unstorable_number_message(number: str) -> str:
    return _unstorable_number_reason()(number)


def _unstorable_number_errors(
    value: Any, field_name: str, row: int, reason: Callable[[str], str] | None = None
) -> list[dict]:
    found = _unstorable_numbers(value, field_name)
    reason = reason or _unstorable_number_reason() if found else None
    return [import_error(row, name, reason(number)) for name, number in found]


def _too_deep_message() -> str:
    return _("The JSON nests lists or objects too deeply to read.")


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


def _csv_delimiter(open_text: Callable[[], TextIO]) -> str:
    """The delimiter under which the header (the first record of `open_text()`, a new stream at
    each call) names the most product columns, then the most columns; the comma when none does
    better.

    Not csv.Sniffer: given a header alone it takes the comma whenever the line holds one, so it
    reads `external_id;title;attr_size,cm` as comma-separated. The column names say it better."""

    def header_fit(delimiter: str) -> tuple[int, int]:
        try:
            header = next(csv.reader(open_text(), delimiter=delimiter), [])
        except csv.Error:
            return 0, 0
        return sum(_is_column_name(_csv_column_key(cell)) for cell in header), len(header)

    return max(_CSV_DELIMITERS, key=header_fit)  # the first of equals: the comma


def _csv_row_of_next_character(text_before: str) -> int:
    """The spreadsheet row (header = row 1) of the character that follows `text_before`, the
    start of a CSV file: counted in records, as a quoted cell may span lines."""
    # "x" stands for that character, so that the last record read is its row, even a new one.
    delimiter = _csv_delimiter(lambda: io.StringIO(text_before, newline=""))
    records = csv.reader(io.StringIO(text_before + "x", newline=""), delimiter=delimiter)
    try:
        return sum(1 for _record in records)
    except csv.Error:  # a cell past the csv module's limit: lines are the next best count
        return text_before.count("\n") + 1


def _csv_header_errors(columns: list[str]) -> list[dict]:
    errors = []
    for required in REQUIRED_FIELDS:
        if required not in columns:
            errors.append(import_error(1, required, _("The required column %(column)s is missing.") % {
                "column": required}))
    seen: set[str] = set()
    for column in columns:
        if not column:
            continue
        if column in seen:
            errors.append(import_error(1, column, _("The column appears more than once.")))
        seen.add(column)
        if not _is_column_name(column):
            errors.append(import_error(1, column, _(
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
        errors.append(import_error(row_number, PRODUCT_FIELD, _(
            "The row has %(cells)d cells but the header has %(columns)d columns."
        ) % {"cells": len(cells), "columns": len(columns)}))
    product: dict[str, Any] = {}
    attributes_from_columns: dict[str, str] = {}
    for column, cell in zip(columns, cells):
        value = cell.strip()
        if not value:
            continue  # an empty cell is a field left out: its default applies
        if not column:
            errors.append(import_error(
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
        errors.append(import_error(row_number, "attributes", _(
            "Not valid JSON (at character %(position)d of the cell).") % {"position": error.pos + 1}))
        return None
    except RecursionError:
        errors.append(import_error(row_number, "attributes", _too_deep_message()))
        return None
    unstorable = _unstorable_number_errors(attributes, "attributes", row_number)
    errors.extend(unstorable)
    return None if unstorable else attributes



def _unreadable_row_error(row_number: int) -> dict:
    # csv's own message is English whatever the reader's language; the row says where.
    return import_error(row_number, FILE_FIELD, _(
        "This row is not readable CSV: one of its cells runs on past what a cell may hold. A quote that "
        "opens and never closes makes the rest of the file one cell, for one. Check the row in a text editor."))


@dataclass
class FileRow:
    """One row of a file as read: a product, not validated yet (anything, from JSON), with the
    row number the merchant sees and the problems of its cells. Or, `is_product` False, no
    product but the problem that stopped the reading at that row: then it is the last."""

    number: int
    product: Any
    errors: list[dict] = field(default_factory=list)
    is_product: bool = True


class CatalogFile:
    """A catalog file opened for reading. `errors`: the problems of the file as a whole, found
    on opening; a file with any has no row to read. `given`: the product fields every row gives
    (a CSV file's columns, an empty cell a field set to its default); None where each row gives
    its own keys (JSON)."""

    given: frozenset[str] | None = None

    def __init__(self, errors: list[dict] | None = None) -> None:
        self.errors = errors or []

    def rows(self) -> Iterator[FileRow]:
        """The rows, in the file's order, read as they are asked for."""
        return iter(())

    def product_count(self) -> int:
        """How many products `rows()` gives: how far the checks have to go."""
        return 0


class _CsvCatalogFile(CatalogFile):
    """A CSV file, read again from its bytes for each pass (the delimiter, the count, the rows):
    only the record at hand is held as text and cells."""

    def __init__(self, content: bytes) -> None:
        super().__init__()
        self._content = content
        self.delimiter = _csv_delimiter(self._text)
        try:
            header = next(csv.reader(self._text(), delimiter=self.delimiter), [])
        except csv.Error:
            self.errors.append(_unreadable_row_error(1))
            return
        self.columns = [_csv_column_key(cell) for cell in header]
        if not any(self.columns):
            self.errors.append(import_error(1, FILE_FIELD, _("The first row must name the columns.")))
            return
        self.errors.extend(_csv_header_errors(self.columns))
        if not self.errors:
            self.given = frozenset(
                "attributes" if column.startswith(ATTRIBUTE_COLUMN_PREFIX) else column
                for column in self.columns
            ) & frozenset(PRODUCT_FIELDS)

    def _text(self) -> TextIO:
        # utf-8-sig drops the byte order mark that Excel puts before a UTF-8 CSV. The bytes are
        # UTF-8 throughout (catalog_file_open checked them); BytesIO shares them, copying nothing.
        return io.TextIOWrapper(io.BytesIO(self._content), encoding="utf-8-sig", newline="")

    def _records(self) -> Iterator[tuple[int, list[str] | None]]:
        """(row number, cells) of each row after the header that is not blank; then, cells None,
        the row that is not readable CSV, if one stops the reading.

        csv.reader yields one record per spreadsheet row, a quoted cell spanning several lines
        included, so counting records gives the row numbers the merchant sees (header = row 1).
        Blank rows are skipped but still counted."""
        records = csv.reader(self._text(), delimiter=self.delimiter)
        row_number = 1  # the last row read
        try:
            next(records)  # the header, read on opening
            for row_number, cells in enumerate(records, start=2):
                if any(cell.strip() for cell in cells):
                    yield row_number, cells
        except csv.Error:
            yield row_number + 1, None

    def rows(self) -> Iterator[FileRow]:
        if self.errors:
            return
        for row_number, cells in self._records():
            if cells is None:
                yield FileRow(row_number, None, [_unreadable_row_error(row_number)], is_product=False)
                return
            errors: list[dict] = []
            product = _csv_row_to_product(self.columns, cells, row_number, errors)
            yield FileRow(row_number, product, errors)

    def product_count(self) -> int:
        # A pass of its own, cheap beside the checks: no product is made of the cells.
        return 0 if self.errors else sum(1 for _row_number, cells in self._records() if cells is not None)


def _json_number(value: Decimal) -> float | _UnstorableNumber:
    """A number with a fraction or an exponent, as ijson gives it, as Python's json reads it: a
    float; else (no float holds it) an _UnstorableNumber that quotes it."""
    number = float(value)
    if math.isfinite(number):
        return number
    # As written, but for an exponent's spelling (ijson keeps the digits, not the text): 1e999, not 1E+999.
    return _UnstorableNumber(json_stream.non_finite_word(value) or str(value).replace("E+", "e").replace("E", "e"))


class _JsonCatalogFile(CatalogFile):
    """A JSON file, read as a stream from its bytes (catalog.services.json_stream), twice: on
    opening, its shape (that it is JSON, a list of products or an object with a "products" list,
    nested no deeper than it may be) and its products counted; then its products, each built only
    when its row is asked for. What is held is the file's bytes and the rows at hand, not the
    document as Python's objects."""

    def __init__(self, content: bytes) -> None:
        super().__init__()
        self._content = content
        self._shape = json_stream.Shape(0, 0)
        # Each error of the file in every language at once: worked out again in another (the
        # failed import's reasons, catalog.services.imports), it would read the file again.
        try:
            self._shape = json_stream.shape(content)
        except json_stream.Unreadable as unreadable:
            self.errors.append(error_in_every_language(_json_unreadable_reason(content, unreadable)))
        except json_stream.TooDeep:
            self.errors.append(error_in_every_language(_too_deep_message))
        except json_stream.NotProducts:
            self.errors.append(error_in_every_language(lambda: _(
                'The file must hold a list of products, or an object with a "products" list.')))

    def rows(self) -> Iterator[FileRow]:
        if self.errors:
            return
        products = json_stream.products(self._content, self._shape, number=_json_number)
        reason = _unstorable_number_reason()
        for row_number, product in enumerate(products, start=1):
            # Validation then names the same fields again where it refuses them too (a price); but
            # it takes any value in the attributes, where these numbers mostly are.
            yield FileRow(row_number, product, _unstorable_number_errors(product, "", row_number, reason))

    def product_count(self) -> int:
        return self._shape.product_count


def _json_unreadable_reason(content: bytes, unreadable: json_stream.Unreadable) -> Callable[[], str]:
    """The reason, in the active language when called, of the file's error: where it is worked out
    once, here."""
    # Valid JSON, but a number ijson cannot hold: an integer of over 4,300 digits (on which Python's
    # json raised too: the import failed as an error of ours), an exponent past 10**18 (which it read
    # as an infinity, named with its row). The parse stops there: the whole file's error, then.
    if unreadable.number:
        number = unreadable.number
        return lambda: _unstorable_number_message(number if len(number) <= 24 else number[:20] + "…")
    line, column = json_stream.line_and_column(content, unreadable.offset)
    # Not ijson's message: its words are English whatever the reader's language.
    return lambda: _("The file is not valid JSON (line %(line)d, column %(column)d).") % {
        "line": line, "column": column}


# How a workbook renamed .csv or .json begins: .xlsx is a ZIP archive, .xls an OLE2 compound file.
_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


UTF8_CHECK_PIECE_BYTES = 1 << 20


def _first_byte_not_utf8(content: bytes) -> tuple[int | None, bool]:
    """The offset in `content` of its first byte that is not UTF-8 (a byte order mark first is
    UTF-8's), None when there is none; and whether it holds more than white space."""
    start_of_text = len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0
    text_bytes = memoryview(content)[start_of_text:]
    decoder = codecs.getincrementaldecoder("utf-8")()
    holds_text = False
    for start in range(0, len(text_bytes), UTF8_CHECK_PIECE_BYTES):
        piece = text_bytes[start:start + UTF8_CHECK_PIECE_BYTES]
        # The first bytes of a character that the last piece cut: the decoder kept them.
        held_back = len(decoder.getstate()[0])
        try:
            text = decoder.decode(piece, final=start + len(piece) == len(text_bytes))
        except UnicodeDecodeError as error:  # error.start counts from the bytes held back
            return start_of_text + start - held_back + error.start, holds_text
        holds_text = holds_text or bool(text.strip())
    return None, holds_text


def _not_utf8_error(content: bytes, not_utf8_at: int, file_format: str) -> dict:
    """Where a file stops being UTF-8, and how to fix it. Mostly a CSV file that a Chinese Excel or
    WPS saved in GBK, or a European Excel in Latin-1. Not read in a guessed encoding: a wrong guess
    would store garbled titles."""
    text_before = content[:not_utf8_at].decode("utf-8-sig")  # the byte order mark off
    if file_format == "json":
        return import_error(None, FILE_FIELD, _(
            "Line %(line)d holds the file's first character that is not UTF-8: the file was saved in "
            "another encoding, such as GBK or Latin-1. Save it as UTF-8 and upload it again."
        ) % {"line": text_before.count("\n") + 1})
    return import_error(_csv_row_of_next_character(text_before), FILE_FIELD, _(
        "This row holds the file's first character that is not UTF-8: the file was saved in another "
        "encoding, such as GBK or Latin-1. In Excel, save it with Save As → “CSV UTF-8 (Comma delimited)” "
        "(in WPS or Numbers, export it as CSV in UTF-8), then upload it again."))


def _file_bytes(uploaded_file: File) -> bytes:
    # One read, not b"".join(chunks()): a file in memory (a ContentFile of bytes) hands back its
    # own bytes instead of a copy.
    uploaded_file.seek(0)
    return uploaded_file.read()


def catalog_file_too_large(uploaded_file: File) -> bool:
    return uploaded_file.size > settings.CATALOG_IMPORT_MAX_BYTES


def _too_large_error(uploaded_file: File) -> dict:
    return import_error(None, FILE_FIELD, _(
        "The file is %(size)s; a catalog file can be at most %(most)s. Split it into several files "
        "and import them one after the other: an import adds and updates products, and leaves the "
        "others as they are."
    ) % {"size": filesizeformat(uploaded_file.size), "most": filesizeformat(settings.CATALOG_IMPORT_MAX_BYTES)})


def catalog_file_open(uploaded_file: File, file_format: str) -> CatalogFile:
    """A CSV or JSON catalog file, opened for reading its rows; none are read yet."""
    if file_format not in {"csv", "json"}:
        return CatalogFile([import_error(None, FILE_FIELD, _("Upload a .csv or .json file."))])
    if catalog_file_too_large(uploaded_file):  # before reading it: reading it is what costs
        return CatalogFile([_too_large_error(uploaded_file)])
    content = _file_bytes(uploaded_file)
    if content.startswith(_WORKBOOK_SIGNATURES):
        return CatalogFile([import_error(None, FILE_FIELD, _(
            "This file is an Excel workbook (.xlsx or .xls), not a CSV file. In Excel, save it with "
            "Save As → “CSV UTF-8 (Comma delimited)” (in WPS or Numbers, export it as CSV in UTF-8), "
            "then upload the .csv file."))])
    # Checked before any row is read, as the whole file was decoded before: a file that is not
    # UTF-8 gets that one error, not the errors of the rows before its first other character too.
    not_utf8_at, holds_text = _first_byte_not_utf8(content)
    if not_utf8_at is not None:
        return CatalogFile([_not_utf8_error(content, not_utf8_at, file_format)])
    if not holds_text:
        return CatalogFile([import_error(None, FILE_FIELD, _("The file is empty."))])
    if file_format == "csv":
        return _CsvCatalogFile(content)
    return _JsonCatalogFile(content)
