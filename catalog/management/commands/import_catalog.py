"""Import a catalog file for a tenant from the command line, with the rules of the upload page."""
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from catalog.models import ImportStatus
from catalog.services.imports import catalog_import_file
from tenants.models import Tenant
from tenants.scope import tenant_scope


class Command(BaseCommand):
    help = "Import a CSV or JSON catalog file into a tenant's catalog (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("file", type=Path, help="A .csv or .json catalog file, UTF-8.")

    def handle(self, *args, tenant: str, file: Path, **options):
        # Tenant is not tenant-owned: finding one by slug needs no scope.
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(_("No tenant with the slug %(slug)s.") % {"slug": tenant})
        try:
            opened = file.open("rb")
        except OSError as error:
            raise CommandError(_("Cannot read %(path)s: %(error)s") % {"path": file, "error": error.strerror})
        with opened, tenant_scope(found):
            product_import = catalog_import_file(
                tenant=found, uploaded_file=File(opened, name=file.name), created_by=None
            )
        if product_import.status == ImportStatus.SUCCEEDED:
            rows = ngettext("Imported %(rows)d row", "Imported %(rows)d rows", product_import.row_count) % {
                "rows": product_import.row_count}
            created = ngettext(
                "%(created)d product created", "%(created)d products created", product_import.created_count
            ) % {"created": product_import.created_count}
            # Translators: the two counts above, then how many products were updated.
            self.stdout.write(self.style.SUCCESS(_("%(rows_imported)s: %(products_created)s, %(updated)d updated.") % {
                "rows_imported": rows, "products_created": created, "updated": product_import.updated_count}))
            return
        for error in product_import.errors:
            row = error["row"] if error["row"] is not None else _("file")
            self.stderr.write(_("row %(row)s, %(field)s: %(reason)s") % {
                "row": row, "field": error["field"], "reason": error["reason"]})
        raise CommandError(ngettext(
            "The import failed with %(count)d error; nothing was stored (import %(id)d).",
            "The import failed with %(count)d errors; nothing was stored (import %(id)d).",
            product_import.error_count,
        ) % {"count": product_import.error_count, "id": product_import.pk})
