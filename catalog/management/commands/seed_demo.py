"""`manage.py seed_demo`: the demo tenant, from "The Complete Journey" (see catalog/demo.py).

`make run` calls it with `--if-missing` before every start, and with
`--print-login` to show how to log in.
"""
import time

from django.core.management.base import BaseCommand, CommandError

from catalog.demo import (
    DEFAULT_HOUSEHOLDS,
    DEMO_OWNER_EMAIL,
    DEMO_OWNER_PASSWORD,
    DEMO_SLUG,
    demo_tenant_seed,
)
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Create the demo tenant from 84.51°'s The Complete Journey: a fixed sample of households, "
        "the products they bought and their purchases."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--households",
            type=int,
            default=DEFAULT_HOUSEHOLDS,
            help=f"How many households to sample (default {DEFAULT_HOUSEHOLDS}; 2,469 in all).",
        )
        parser.add_argument(
            "--slug", default=DEMO_SLUG, help=f"The demo tenant's slug (default {DEMO_SLUG})."
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="Do nothing when the demo tenant already exists."
        )
        parser.add_argument(
            "--print-login", action="store_true", help="Only print the demo login; create nothing."
        )

    def handle(self, *args, households: int, slug: str, if_missing: bool, print_login: bool, **options):
        if print_login:
            self.stdout.write(f"  Merchant login:    {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD}")
            return
        if households < 1:
            raise CommandError("--households must be at least 1.")
        if Tenant.objects.filter(slug=slug).exists():
            if if_missing:
                self.stdout.write(f"Demo tenant {slug!r} already exists; nothing to do.")
                return
            raise CommandError(
                f"A tenant with slug {slug!r} already exists. Use --if-missing to keep it, "
                "or --slug to seed another one."
            )

        started = time.monotonic()
        self.stdout.write(f"Seeding demo tenant {slug!r} from The Complete Journey (84.51°)...")
        result = demo_tenant_seed(households=households, slug=slug, log=self.stdout.write)
        elapsed = time.monotonic() - started

        skipped = ", ".join(f"{reason}: {count}" for reason, count in result.skipped.items() if count)
        skipped_total = sum(result.skipped.values())
        self.stdout.write(f"Purchase lines skipped: {skipped_total}" + (f" ({skipped})" if skipped else ""))
        self.stdout.write(self.style.SUCCESS(
            f"Demo tenant {result.tenant.name!r} ready: {result.households} households, "
            f"{result.products} products, {result.events} purchase events in {elapsed:.1f} s."
        ))
        self.stdout.write("API keys (shown once):")
        for issued in result.keys:
            self.stdout.write(f"  {issued.api_key.get_kind_display()}: {issued.key}")
        self.stdout.write(f"  Merchant login:    {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD}")
