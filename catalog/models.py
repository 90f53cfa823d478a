from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tenants.scope import TenantOwned


class Product(TenantOwned):
    """A product of a merchant's catalog, known by the merchant's own SKU."""

    external_id = models.CharField(_("SKU"), max_length=128)
    title = models.CharField(_("title"), max_length=500)
    description = models.TextField(_("description"), blank=True)
    # A path, most general first: "Grocery > Produce > Apples".
    category = models.CharField(_("category"), max_length=500, blank=True)
    brand = models.CharField(_("brand"), max_length=200, blank=True)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    in_stock = models.BooleanField(_("in stock"), default=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="product_unique_sku_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "category"], name="product_tenant_category")]
        ordering = ["external_id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.external_id} {self.title}"


class EventType(models.TextChoices):
    VIEW = "view", _("View")
    CLICK = "click", _("Click")
    ADD_TO_CART = "add_to_cart", _("Add to cart")
    PURCHASE = "purchase", _("Purchase")


class Event(TenantOwned):
    """One thing a shopper did with a product.

    The shopper is stored only as a keyed HMAC of the id the storefront sent
    (`Tenant.pseudonymise_shopper`). The product's SKU is kept beside the link,
    so deleting a product from the catalog does not erase shoppers' history.
    """

    event_id = models.CharField(_("event id"), max_length=128)
    shopper_key = models.CharField(max_length=64, db_index=False)
    type = models.CharField(_("type"), max_length=16, choices=EventType.choices)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product_external_id = models.CharField(_("SKU"), max_length=128)
    occurred_at = models.DateTimeField(_("time"))
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2, default=0)
    recommendation_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_id"], name="event_unique_id_per_tenant"),
        ]
        indexes = [
            models.Index(fields=["tenant", "shopper_key", "occurred_at"], name="event_tenant_shopper_time"),
            models.Index(fields=["tenant", "occurred_at"], name="event_tenant_time"),
        ]
        ordering = ["occurred_at"]
        verbose_name = _("event")
        verbose_name_plural = _("events")


class FlaggedShopper(TenantOwned):
    """A shopper whose behaviour looks automated: kept, but left out of training data."""

    shopper_key = models.CharField(max_length=64)
    rule = models.CharField(max_length=32)
    events_per_day = models.FloatField()
    event_count = models.PositiveIntegerField()
    flagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "shopper_key"], name="flagged_shopper_unique_per_tenant"),
        ]


class IngestTally(TenantOwned):
    """Running count of events refused at ingest, per cleaning rule (for the cleaning report)."""

    rule = models.CharField(max_length=32)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rule"], name="ingest_tally_unique_rule_per_tenant"),
        ]


class CleaningStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Done")
    FAILED = "failed", _("Failed")


class CleaningReport(TenantOwned):
    """One cleaning run: queued from the page or the API, run by a worker; what it found, counts per
    rule. A run of the command line is recorded when done."""

    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=CleaningStatus.choices, default=CleaningStatus.SUCCEEDED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    events_total = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class ProductImport(TenantOwned):
    """One catalog file import and its outcome; a failed one stored no product.

    An uploaded file is imported by a worker (catalog.tasks.catalog_import_task): the import is
    queued, then running, with `rows_checked` of `row_count` as its progress, then done.
    """

    # An import is lost, and failed when next read (catalog.services.imports.catalog_imports_lost_fail),
    # when its worker has shown no sign of life (a progress report, or the heartbeat every 30 s)
    # for RUNNING_LOST_AFTER, or when no worker has taken it for QUEUED_LOST_AFTER: the queue may
    # be busy with other long work, so a queued import is given longer. A lost import is never run
    # again, not even by the task redelivered once its worker died (catalog.tasks): its file may be
    # older than imports that succeeded since.
    RUNNING_LOST_AFTER = timedelta(minutes=10)
    QUEUED_LOST_AFTER = timedelta(hours=1)
    # A queued import waiting longer than this: its page says how long, and why it may be.
    QUEUED_SLOW_AFTER = timedelta(minutes=2)

    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)
    status = models.CharField(max_length=16, choices=ImportStatus.choices)
    row_count = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of the worker that runs it: each progress report, and its heartbeat.
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [{"row": 3, "field": "price", "reason": "...", "reasons": {"en": "...", "zh-hans": "..."}}], at
    # most a few hundred; "reason" in the uploader's language, "reasons" in each (catalog_import_file).
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def percent_checked(self) -> int:
        return int(100 * self.rows_checked / self.row_count) if self.row_count else 0

    @property
    def errors_in_readers_language(self) -> list[dict]:
        """The errors, each reason in the active language where the import recorded it in that
        language (imports from before, in the uploader's)."""
        language = get_language()
        return [{**error, "reason": (error.get("reasons") or {}).get(language, error["reason"])} for error in self.errors]


class ProductImportUpload(TenantOwned):
    """The bytes of an uploaded file, from the upload until its import is done. In the database,
    not on a disk: the worker that imports it may run on another machine than the web server."""

    product_import = models.ForeignKey(ProductImport, on_delete=models.CASCADE, related_name="+")
    content = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "product_import"], name="import_upload_unique_per_import"),
        ]
