"""Clean a tenant's shopper events from the command line, with the rules of the cleaning task."""
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from catalog.services.cleaning import REPORT_COUNT_LABELS, events_clean
from tenants.models import Tenant
from tenants.scope import tenant_scope


class Command(BaseCommand):
    help = "Remove exact duplicate events, flag bot-like shoppers and write a cleaning report for a tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")

    def handle(self, *args, tenant: str, **options):
        # Tenant is not tenant-owned: finding one by slug needs no scope.
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(_("No tenant with the slug %(slug)s.") % {"slug": tenant})
        # Run here rather than queued: whoever types the command wants the answer now.
        with tenant_scope(found):
            report = events_clean(tenant=found)
        for key, label in REPORT_COUNT_LABELS.items():
            self.stdout.write(f"{label}: {report.counts.get(key, 0)}")
        self.stdout.write(self.style.SUCCESS(
            _("Cleaning done: %(total)d events remain (report %(id)d).")
            % {"total": report.events_total, "id": report.pk}
        ))
