"""Catalog files (CSV or JSON), imported all or nothing and recorded as a ProductImport.

Each product of a file goes through the same rules as an API batch (catalog.services.products):
a spreadsheet row and an API product are refused for the same reasons, in the same words.

A file is checked, then saved, a chunk of rows at a time (settings.CATALOG_IMPORT_CHUNK_ROWS), so
that a worker's memory follows the chunk, not the file: a 100,000-row file is not held as rows, as
products and as errors all at once. It stays all or nothing: its products are saved only once every
row is checked, in one transaction.
"""
from __future__ import annotations

import logging
import pickle
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Self

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import BinaryField, Q
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import get_language, override
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerUnreachable

from catalog.models import ImportStatus, ProductImport, ProductImportUpload
from catalog.services.import_files import (
    FileRow,
    catalog_file_format,
    catalog_file_open,
    catalog_file_too_large,
    error_in_every_language,
    import_error,
)
from catalog.services.products import (
    FILE_FIELD,
    ValidProduct,
    product_rows_validate,
    products_changed_on_commit,
    products_store,
    require_scope_of,
)
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# A failed import keeps this many errors on its record (and counts them all):
# enough to fix a file, small enough to show on one page.
IMPORT_ERRORS_KEPT = 200


@dataclass
class _ErrorsKept:
    """The first IMPORT_ERRORS_KEPT errors of a file, in row order, and how many it has in all:
    only those are kept in memory, not the 100,000 errors of a file whose every row is wrong."""

    kept: list[dict] = field(default_factory=list)
    count: int = 0

    def add(self, errors: list[dict]) -> None:
        """Errors of rows after those added before (or of the same row, after its others)."""
        self.count += len(errors)
        self.kept.extend(errors[:max(IMPORT_ERRORS_KEPT - len(self.kept), 0)])

    @property
    def full(self) -> bool:
        return len(self.kept) >= IMPORT_ERRORS_KEPT


class _ProductsInSkuOrder:
    """The valid products of a file, put aside as its rows are checked, to be saved a chunk at a
    time in SKU order once every row is checked.

    SKU order over the whole file, not only within each chunk: an upsert locks its rows in the
    order it writes them, and every writer of products (another import, an API batch: see
    products_store) writes in SKU order, so no two wait on each other's rows (a deadlock). Chunks
    each sorted but saved in the file's order would lock SKU-9 (first chunk) before SKU-1
    (second), while another import of the same SKUs locks SKU-1 and waits for SKU-9.

    A file of one chunk stays in memory, sorted there: a small import pays nothing more. Past a
    chunk, the products go to a SQLite database of their own in a temporary folder, keyed by SKU,
    which hands them back in that order a chunk at a time: an external sort by a library, not by
    us, that holds a few pages in memory. Its order (SQLite's BINARY collation: the UTF-8 bytes)
    is Python's order of the same strings, the order products_store sorts an API batch in.
    """

    def __init__(self, chunk_rows: int) -> None:
        self.chunk_rows = chunk_rows
        self._in_memory: list[ValidProduct] = []
        self._folder: tempfile.TemporaryDirectory | None = None
        self._database: sqlite3.Connection | None = None
        # Each set of fields given is written once, its products naming it by number: a CSV file's
        # rows all give the same, and it is not pickled with every row.
        self._given_numbers: dict[frozenset[str], int] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._database is not None:
            self._database.close()
            self._folder.cleanup()

    def add(self, products: list[ValidProduct]) -> None:
        if self._database is None and len(self._in_memory) + len(products) <= self.chunk_rows:
            self._in_memory.extend(products)
            return
        if self._database is None:
            self._folder = tempfile.TemporaryDirectory(prefix="catalog-import-")
            self._database = sqlite3.connect(Path(self._folder.name) / "products.sqlite3")
            # A scratch file, read back by this connection only: a crash loses nothing worth keeping.
            self._database.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                "CREATE TABLE product (sku TEXT PRIMARY KEY, given INTEGER, product_values BLOB)"
                " WITHOUT ROWID;"
            )
            self._write(self._in_memory)
            self._in_memory = []
        self._write(products)

    def _write(self, products: list[ValidProduct]) -> None:
        self._database.executemany(
            "INSERT INTO product (sku, given, product_values) VALUES (?, ?, ?)",
            [
                (
                    product.values["external_id"],
                    self._given_numbers.setdefault(product.given, len(self._given_numbers)),
                    pickle.dumps(product.values, protocol=pickle.HIGHEST_PROTOCOL),
                )
                for product in products
            ],
        )

    def chunks(self) -> Iterator[list[ValidProduct]]:
        """The products in SKU order, a chunk at a time."""
        if self._database is None:
            in_order = sorted(self._in_memory, key=lambda product: product.values["external_id"])
            for start in range(0, len(in_order), self.chunk_rows):
                yield in_order[start:start + self.chunk_rows]
            return
        given_of_number = {number: given for given, number in self._given_numbers.items()}
        rows = self._database.execute("SELECT given, product_values FROM product ORDER BY sku")
        while chunk := rows.fetchmany(self.chunk_rows):
            yield [ValidProduct(pickle.loads(values), given_of_number[given]) for given, values in chunk]


def _chunks(rows: Iterable[FileRow], size: int) -> Iterator[list[FileRow]]:
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield chunk


@dataclass
class _FileChecked:
    product_count: int
    errors: _ErrorsKept


def _file_checked(
    uploaded_file: File,
    file_format: str,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    tenant: Tenant,
    valid_products: _ProductsInSkuOrder | None = None,
    until_errors_kept: bool = False,
) -> _FileChecked:
    """Check the file a chunk of rows at a time: how many products it holds, and its errors (row
    order), in the active language. A row may leave out the title of a product in `tenant`'s
    catalog: each chunk looks up its SKUs there, as an API batch does. The valid products go to
    `valid_products` until a row has an error (then none will be saved). `until_errors_kept`: stop
    once IMPORT_ERRORS_KEPT errors are kept; the rest of the file could only add to their count.
    `on_progress(rows_checked, row_count)` hears how far the checks are, once the file is opened,
    and (row_count, row_count) once they are done."""
    opened = catalog_file_open(uploaded_file, file_format)
    errors = _ErrorsKept()
    errors.add(opened.errors)
    rows_checked = None
    if on_progress is not None:
        row_count = opened.product_count()
        on_progress(0, row_count)

        def rows_checked(count: int) -> None:
            on_progress(count, row_count)

    skus_seen: set[str] = set()  # the SKUs only, of every chunk: a repeat is refused in any chunk
    product_count = 0
    for chunk in _chunks(opened.rows(), settings.CATALOG_IMPORT_CHUNK_ROWS):
        product_rows = [row for row in chunk if row.is_product]
        products, row_errors = product_rows_validate(
            [row.product for row in product_rows], tenant=tenant, given=opened.given,
            on_progress=rows_checked, skus_seen=skus_seen, rows_before=product_count,
        )
        product_count += len(product_rows)
        chunk_errors = [error for row in chunk for error in row.errors] + [
            import_error(product_rows[error.position].number, error.field, error.reason)
            for error in row_errors
        ]
        # Stable: the cell problems of a row stay before its field problems. The rows of a chunk all
        # come after those of the chunks before, so the errors of the file stay in row order.
        chunk_errors.sort(key=lambda error: error["row"] or 0)
        errors.add(chunk_errors)
        if valid_products is not None and not errors.count:
            valid_products.add(products)
        if until_errors_kept and errors.full:
            break
    if not errors.count and not product_count:
        errors.add([import_error(None, FILE_FIELD, _("The file holds no product."))])
    if on_progress is not None:
        # Always, not only at a multiple of ROWS_PER_PROGRESS_REPORT: the page then says the
        # checks are done and the products are being saved.
        on_progress(product_count, product_count)
    return _FileChecked(product_count, errors)


def _reasons_in_every_language(
    errors: list[dict], uploaded_file: File, file_format: str, tenant: Tenant
) -> None:
    """Give each error its reason in every language of the UI, so that whoever reads the failed
    import reads it in theirs, not in the uploader's. The file is checked again in each other
    language, as far as the errors kept: the same file gives the same errors in the same order,
    and only a failed import, which stored nothing, pays for it. Not where each error already has
    its reasons (error_in_every_language): a JSON file's own error, found by reading it whole."""
    current = get_language()
    if errors and all("reasons" in error for error in errors):
        return
    for error in errors:
        error["reasons"] = {current: error["reason"]}
    for language, _name in settings.LANGUAGES:
        if language == current:
            continue
        with override(language):
            again = _file_checked(
                uploaded_file, file_format, tenant=tenant, until_errors_kept=True
            ).errors.kept
        if len(again) != len(errors):  # not expected; the uploader's language stands alone then
            continue
        for error, translated in zip(errors, again, strict=True):
            error["reasons"][language] = translated["reason"]


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
    with _ProductsInSkuOrder(settings.CATALOG_IMPORT_CHUNK_ROWS) as valid_products:
        checked = _file_checked(
            uploaded_file, file_format, on_progress, tenant=record.tenant, valid_products=valid_products
        )
        record.row_count = record.rows_checked = checked.product_count
        if not checked.errors.count:
            return _products_saved(record, valid_products)
    errors = checked.errors.kept
    _reasons_in_every_language(errors, uploaded_file, file_format, record.tenant)
    record.status = ImportStatus.FAILED
    record.errors = errors
    record.error_count = checked.errors.count
    record.finished_at = timezone.now()
    if not _outcome_recorded(record):
        record.refresh_from_db()
    return record


def _products_saved(record: ProductImport, valid_products: _ProductsInSkuOrder) -> ProductImport:
    """Save the products a chunk at a time, in SKU order, in one transaction with the outcome."""
    created = updated = 0
    with transaction.atomic():
        for chunk in valid_products.chunks():
            result = products_store(tenant=record.tenant, products=chunk, announce=False)
            created, updated = created + result.created, updated + result.updated
        products_changed_on_commit(tenant=record.tenant)
        record.status = ImportStatus.SUCCEEDED
        record.created_count, record.updated_count = created, updated
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
    import is then failed without having started. A file of no known format, an empty one or one
    over settings.CATALOG_IMPORT_MAX_BYTES is not queued: it is imported (and fails) at once, and
    nothing of it is kept.
    """
    require_scope_of(tenant)
    file_format = catalog_file_format(uploaded_file)
    if not file_format or catalog_file_too_large(uploaded_file):  # not read: reading it is what costs
        return catalog_import_file(tenant=tenant, uploaded_file=uploaded_file, created_by=created_by)
    uploaded_file.seek(0)
    content = uploaded_file.read()
    if not content.strip():
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
    error = error_in_every_language(reason)
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
    upload = ProductImportUpload.objects.filter(product_import=record)
    if not upload.exists():  # not expected: a running import keeps its file
        _fail(this_import_running, _lost_file_reason)
        record.refresh_from_db()
        return record
    try:
        content = _upload_content(upload)
        record = _import_into(record, ContentFile(content, name=record.filename), on_progress=on_progress)
    except Exception:
        logger.exception("catalog import %s failed", import_id)
        _fail(this_import_running, _failed_on_our_side_reason)
        raise
    upload.delete()
    return record


# An uploaded file is read from the database this many bytes at a time. In one piece, a 30 MB
# file cost a worker about 180 MB at once: PostgreSQL sends a bytea as hex text (twice its size),
# which libpq holds whole while psycopg turns it into bytes.
UPLOAD_READ_SLICE_BYTES = 4 * 1024 * 1024


def _upload_content(upload) -> bytes:
    """The bytes of the file kept for an import (`upload`: a queryset of its one upload)."""
    size = upload.annotate(size=Length("content")).values_list("size", flat=True).get()
    slices = []
    for start in range(0, size, UPLOAD_READ_SLICE_BYTES):
        # SQL counts from 1; SUBSTRING of a bytea (SUBSTR of a SQLite blob) counts bytes.
        piece = Substr("content", start + 1, UPLOAD_READ_SLICE_BYTES, output_field=BinaryField())
        slices.append(upload.annotate(piece=piece).values_list("piece", flat=True).get())
    return b"".join(slices)


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
