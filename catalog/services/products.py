"""Writes on the product catalog: batches from the API, and the rules of one product.

Both ways in, an API batch and a catalog file (catalog.services.imports), hold a product to the
same rules: every product goes through `ProductRowSerializer` (in `product_rows_validate`), so an
API batch and a spreadsheet row are refused for the same reasons, in the same words. Both are all
or nothing: one bad product and nothing of its batch or file is stored.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from catalog.models import Product
from catalog.signals import products_changed
from tenants.api_fields import DecimalInputField, UnknownFieldsRefusedMixin
from tenants.models import Tenant
from tenants.scope import TenantScopeMissing, current_tenant

PRODUCT_FIELDS = (
    "external_id", "title", "description", "category", "brand",
    "price", "currency", "in_stock", "attributes",
)
# Every product names its SKU; a product not yet in the catalog its title too (product_rows_validate):
# an update may leave the title out, as any field, so a storefront can send a stock change alone.
REQUIRED_FIELDS = ("external_id",)
# An upsert sets the fields given and keeps the others of a product already in the catalog (a
# new one gets their defaults): a file or batch with only some columns must not wipe the rest.
# created_at is never updated, so a product keeps the date it first came.
CATEGORY_SEPARATOR = " > "
CATEGORY_MAX_LENGTH = 500  # Product.category's
ATTRIBUTE_COLUMN_PREFIX = "attr_"
# The error's "field" when the problem is the file, or a whole product.
FILE_FIELD = "file"
PRODUCT_FIELD = "product"

_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")
# 1,299.00 as spreadsheets export prices: with a dot for the decimals, the commas can only be
# thousands separators. "1,299" alone stays refused: in much of Europe that is 1.299.
_GROUPED_PRICE = re.compile(r"\d{1,3}(?:,\d{3})+\.\d+")


def category_path_normalize(path: str) -> str:
    """'Grocery>Produce >  Apples' -> 'Grocery > Produce > Apples': one spelling per path,
    so a category filter finds every product of that category."""
    return CATEGORY_SEPARATOR.join(part.strip() for part in path.split(">") if part.strip())


class ProductRowSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
    """The rules of one product, wherever it comes from (API batch, CSV row, JSON item)."""

    external_id = serializers.CharField(
        max_length=128, help_text="The merchant's SKU, unique in the catalog."
    )
    # Not required here: whether a product needs its title depends on the catalog, which
    # product_rows_validate looks up. A title given blank is refused all the same.
    title = serializers.CharField(
        max_length=500, required=False,
        help_text="Required for a product not yet in the catalog; an update may leave it out.",
    )
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

    def to_internal_value(self, data):
        price = data.get("price") if isinstance(data, Mapping) else None
        if isinstance(price, str) and _GROUPED_PRICE.fullmatch(price.strip()):
            data = {**data, "price": price.strip().replace(",", "")}
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, dict):
                self._reword_for_merchants(error.detail, data)
            raise

    @staticmethod
    def _reword_for_merchants(detail: dict, data: Mapping) -> None:
        """DRF's words for a bad price, stock or attributes, put as a merchant fixing a spreadsheet
        reads them. Here, not in field subclasses: the API schema is those fields'."""

        def refused(field_name: str, code: str) -> bool:
            errors = detail.get(field_name)
            return bool(errors) and errors[0].code == code

        if refused("price", "invalid"):
            # DRF's "A valid number is required." left a merchant guessing what was wrong with 1,99 or ¥12.
            reason = _(
                "“%(value)s” is not a price. Write a plain number such as 1234.50: a dot before the "
                "decimals, no thousands separator, no currency sign (the currency goes in the currency "
                "field)."
            ) % {"value": str(data["price"]).strip()}
            detail["price"] = [serializers.ErrorDetail(reason, code="invalid")]
        if refused("in_stock", "invalid"):
            # DRF's "Must be a valid boolean." named no value that works, and 布尔值 is no merchant's word.
            reason = _(
                "“%(value)s” is not a stock value. Write true or false (yes and no, or 1 and 0, work too)."
            ) % {"value": str(data["in_stock"]).strip()}
            detail["in_stock"] = [serializers.ErrorDetail(reason, code="invalid")]
        if refused("attributes", "not_a_dict"):
            # DRF's Chinese for "Expected a dictionary of items" calls the items 类目, the word for categories.
            reason = _('Write a JSON object, such as {"origin": "NZ"}.')
            detail["attributes"] = [serializers.ErrorDetail(reason, code="not_a_dict")]

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


# A long file reports its progress every this many rows.
ROWS_PER_PROGRESS_REPORT = 1000


def product_rows_validate(
    rows: Sequence[Any],
    *,
    tenant: Tenant,
    given: frozenset[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
    skus_seen: set[str] | None = None,
    rows_before: int = 0,
) -> tuple[list[ValidProduct], list[ProductRowError]]:
    """The clean products and the errors of a batch: every error, not only the first,
    so a merchant can fix a whole file at once. `given`: the fields every row gives (a CSV
    file's columns, an empty cell included); by default, each row's own keys. `on_progress`
    hears how many rows are checked, every ROWS_PER_PROGRESS_REPORT rows.

    A row that gives no title (no title key, no title column) updates a product of `tenant`'s
    catalog, keeping its title; for a SKU not in the catalog, the title is required.

    A file checked a chunk of rows at a time passes, for each chunk, the same `skus_seen` (the
    SKUs of the chunks before, to which this call adds its own), so that a SKU repeated in
    another chunk is refused as one repeated in the same; and `rows_before`, the rows of the
    chunks before, so that `on_progress` counts the file's rows. Positions stay the chunk's."""
    cleaned: list[ValidProduct] = []
    errors: list[ProductRowError] = []
    skus_seen = set() if skus_seen is None else skus_seen
    # One serializer for every row: building its fields for each of 10,000
    # rows would cost more than validating them.
    serializer = ProductRowSerializer()
    sku_field = serializer.fields["external_id"]
    skus_in_catalog = _skus_in_catalog(
        tenant, {_row_sku(row, sku_field) for row in rows if _title_left_out(row, given)} - {None}
    )

    def repeated(sku: str, position: int) -> bool:
        if sku not in skus_seen:
            skus_seen.add(sku)
            return False
        # Which of the two should win is a guess we refuse to make.
        errors.append(ProductRowError(
            position, "external_id",
            _("The SKU %(sku)s appears more than once; send each product once.") % {"sku": sku},
        ))
        return True

    for position, row in enumerate(rows):
        rows_checked = rows_before + position
        if on_progress is not None and rows_checked and rows_checked % ROWS_PER_PROGRESS_REPORT == 0:
            on_progress(rows_checked)
        title_reason = _title_missing_reason(row, given, skus_in_catalog, serializer)
        product, row_errors = _row_validated(row, serializer, title_reason)
        if row_errors:
            errors.extend(ProductRowError(position, field_name, reason) for field_name, reason in row_errors)
            # A row refused for another field still takes its SKU: a repeat is said in the same
            # report, not only once the other errors are fixed and the file sent again.
            sku = _row_sku(row, sku_field)
            if sku is not None:
                repeated(sku, position)
            continue
        if repeated(product["external_id"], position):
            continue
        fields_given = given if given is not None else frozenset(row) & frozenset(PRODUCT_FIELDS)
        cleaned.append(ValidProduct(product, fields_given))
    return cleaned, errors


def _row_validated(
    row: Any, serializer: ProductRowSerializer, title_reason: str | None
) -> tuple[dict, list[tuple[str, str]]]:
    """The clean product of a row, and its errors as (field, reason), in the order of the fields."""
    try:
        product, row_errors = dict(serializer.run_validation(row)), []
    except serializers.ValidationError as error:
        product, row_errors = {}, list(_error_messages(error.detail))
    if title_reason is not None:
        # Where the serializer named it when it required every title: after the SKU's errors.
        after_sku = sum(1 for field_name, _reason in row_errors if field_name == "external_id")
        row_errors.insert(after_sku, ("title", title_reason))
    return product, row_errors


def _row_sku(row: Any, sku_field: serializers.Field) -> str | None:
    """The SKU of a row, read as its validation reads it; None where it gives no valid one."""
    if not isinstance(row, Mapping) or "external_id" not in row:
        return None
    try:
        return sku_field.run_validation(row["external_id"])
    except serializers.ValidationError:
        return None


def _title_left_out(row: Any, given: frozenset[str] | None) -> bool:
    """Whether a row gives no title at all: no title key (API, JSON), no title column (CSV). A
    CSV title column's empty cell is a title given, blank."""
    if given is not None:
        return "title" not in given
    return isinstance(row, Mapping) and "title" not in row


def _skus_in_catalog(tenant: Tenant, skus: set[str]) -> set[str]:
    """Those of `skus` that name a product of the tenant's catalog: one query for a batch or chunk."""
    if not skus:
        return set()
    in_catalog = Product.objects.filter(tenant=tenant, external_id__in=skus)
    return set(in_catalog.values_list("external_id", flat=True))


def _title_missing_reason(
    row: Any, given: frozenset[str] | None, skus_in_catalog: set[str], serializer: ProductRowSerializer
) -> str | None:
    """Why a row that holds no title needs one; None when it needs none, or holds one (which the
    serializer checks, blank and null refused)."""
    if not isinstance(row, Mapping) or "title" in row:
        return None
    if not _title_left_out(row, given):
        # A CSV title column's empty cell: a blank title, refused as the API refuses one.
        return str(serializer.fields["title"].error_messages["required"])
    if _row_sku(row, serializer.fields["external_id"]) in skus_in_catalog:
        return None  # the update keeps the stored title
    return _("Required for a product not yet in the catalog.")


def require_scope_of(tenant: Tenant) -> None:
    # bulk_create bypasses TenantOwned.save(), the check that a row belongs to
    # the scope it is written in: without this, a caller mixing up tenants
    # would write into another merchant's catalog.
    if current_tenant().pk != tenant.pk:
        raise TenantScopeMissing(f"Writing products of tenant {tenant.pk} in the scope of another tenant.")


@transaction.atomic
def products_store(
    *, tenant: Tenant, products: list[ValidProduct], announce: bool = True
) -> ProductUpsertResult:
    """Insert or update validated products, SKUs unique among them: an existing product's update
    sets the fields given and keeps the others. `announce=False`: the caller stores more products
    in the same transaction, a chunk at a time, and calls products_changed_on_commit once."""
    require_scope_of(tenant)
    skus = [product.values["external_id"] for product in products]
    titleless = {product.values["external_id"] for product in products if "title" not in product.values}
    in_catalog = Product.objects.filter(tenant=tenant, external_id__in=skus).order_by("external_id")
    if titleless:
        # A product sent without its title was in the catalog when checked. Locked until the
        # transaction ends, so that it is not deleted before its update: the upsert would make it
        # again, titleless. In SKU order, as every writer locks (see below).
        in_catalog = in_catalog.select_for_update()
    # One query, also to count: the upsert below does not say which rows it inserted.
    # A product created by a concurrent request in between is counted as created.
    existing = set(in_catalog.values_list("external_id", flat=True))
    # Deleted since it was checked (an import checks its whole file before it saves): as though
    # deleted just after this update, it is not made again. Counted as updated, as it was.
    deleted_meanwhile = titleless - existing
    if deleted_meanwhile:
        products = [product for product in products if product.values["external_id"] not in deleted_meanwhile]
    # One upsert per set of fields given: a file's rows share one, an API batch mostly does.
    by_fields: dict[frozenset[str], list[ValidProduct]] = {}
    for product in products:
        by_fields.setdefault(product.given, []).append(product)
    for given, group in by_fields.items():
        # In SKU order: an upsert locks its rows in the order it writes them, so two writers
        # (two imports, an import and an API batch) of the same SKUs, each in the order of its
        # own file, would wait on each other's rows: a deadlock.
        group.sort(key=lambda product: product.values["external_id"])
        Product.objects.bulk_create(
            [Product(tenant=tenant, **product.values) for product in group],
            update_conflicts=True,
            unique_fields=["tenant", "external_id"],
            update_fields=[name for name in PRODUCT_FIELDS if name in given and name != "external_id"]
            + ["updated_at"],
            batch_size=1000,
        )
    if announce:
        products_changed_on_commit(tenant=tenant)
    return ProductUpsertResult(
        created=len(products) - len(existing), updated=len(existing) + len(deleted_meanwhile)
    )


def products_changed_on_commit(*, tenant: Tenant) -> None:
    """Say that the tenant's products changed, once the transaction commits: their embeddings are
    refreshed, and serving forgets the catalog it held. Once per transaction, not per chunk saved:
    each saying queues a refresh."""
    transaction.on_commit(lambda: products_changed.send(sender=Product, tenant_id=tenant.pk))


@transaction.atomic
def product_upsert_many(*, tenant: Tenant, rows: Sequence[Any]) -> ProductUpsertResult:
    """Create the products whose SKU is new and update those that exist (the fields given; a
    product's title may be left out only where it exists).

    Runs inside `tenant`'s scope. Raises ProductRowsInvalid, storing nothing,
    when any product is invalid.
    """
    products, errors = product_rows_validate(rows, tenant=tenant)
    if errors:
        raise ProductRowsInvalid(errors)
    return products_store(tenant=tenant, products=products)


@transaction.atomic
def product_update(*, tenant: Tenant, external_id: str, fields: dict[str, Any]) -> Product:
    """Change one product's fields (the merchant UI's form), held to the rules of every product.
    Raises Product.DoesNotExist, or ProductRowsInvalid naming each bad field; stores nothing then."""
    require_scope_of(tenant)
    product = Product.objects.select_for_update().get(tenant=tenant, external_id=external_id)
    products, errors = product_rows_validate([{**fields, "external_id": product.external_id}], tenant=tenant)
    if errors:
        raise ProductRowsInvalid(errors)
    products_store(tenant=tenant, products=products)
    product.refresh_from_db()
    return product


@transaction.atomic
def product_delete(*, tenant: Tenant, external_id: str) -> None:
    """Raises Product.DoesNotExist when the SKU is not in the tenant's catalog.
    Shopper events keep the SKU, so the history survives the product."""
    Product.objects.get(tenant=tenant, external_id=external_id).delete()
    transaction.on_commit(lambda: products_changed.send(sender=Product, tenant_id=tenant.pk))

