"""Synthetic shoppers sent through the real recommendations endpoint and events API, with a known effect.

For demos and tests of the analysis. Each shopper is served one to
MAX_LISTS_PER_SHOPPER lists (GET /api/v1/recommendations, which assigns and
serves their variant) and clicks each item shown with probability
--base-click-rate, or base × (1 + --true-lift) in the treatment variant(s);
a click becomes a purchase with probability PURCHASE_AFTER_CLICK. Clicks and
purchases go to POST /api/v1/events carrying the list's recommendation_id, as
a storefront's would.

The requests run in this process through DRF's test client, so every line of
the endpoints runs (authentication, assignment, serving, the exposure log,
ingest) without a web server. The secret key they carry is issued for the
run and revoked at the end.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from experiments.models import Experiment, ExperimentStatus
from experiments.selectors import experiment_get_by_key
from recommendations.attribution import served_log
from tenants.models import ApiKeyKind, Tenant
from tenants.scope import tenant_scope
from tenants.services import api_key_issue, api_key_revoke

RECOMMENDATIONS = "/api/v1/recommendations"
EVENTS = "/api/v1/events"
MAX_LISTS_PER_SHOPPER = 3
PURCHASE_AFTER_CLICK = 0.2
# A purchase's value when the product has no price.
UNPRICED_VALUE_RANGE = (5.0, 60.0)
# A throttled request waits at most this long before it is sent again.
LONGEST_THROTTLE_WAIT_SECONDS = 60.0


def allowed_host() -> str:
    """A host name the site accepts: the test client's "testserver" is refused outside tests."""
    for host in settings.ALLOWED_HOSTS:
        host = host.lstrip(".")  # ".example.com" allows example.com itself
        if host and host != "*":
            return host
    return "localhost"  # what Django allows with an empty ALLOWED_HOSTS under DEBUG, and with "*"


class Storefront:
    """The two calls a storefront makes, through the site's own request handling."""

    def __init__(self, secret_key: str):
        host = allowed_host()
        self.client = APIClient(SERVER_NAME=host, HTTP_HOST=host)
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")

    def recommendations(self, shopper_id: str) -> dict:
        return self._send("get", RECOMMENDATIONS, {"shopper_id": shopper_id})

    def send_events(self, events: list[dict]) -> None:
        # The exposures first, as a storefront's would be. Flushing here also keeps the log's
        # writer thread, which writes from a connection of its own, out of this run's transaction.
        served_log.flush()
        for start in range(0, len(events), settings.EVENTS_MAX_BATCH):
            result = self._send("post", EVENTS, {"events": events[start : start + settings.EVENTS_MAX_BATCH]})
            if result["rejected"]:
                raise CommandError(
                    _("The events API refused simulated events: %(errors)s")
                    % {"errors": result["errors"][:3]}
                )

    def _send(self, method: str, path: str, data: dict) -> dict:
        while True:
            kwargs = {"format": "json"} if method == "post" else {}
            response = getattr(self.client, method)(path, data, secure=True, **kwargs)
            if response.status_code != 429:
                break
            # Throttled like any storefront: wait as told, then send again.
            time.sleep(min(float(response.headers.get("Retry-After") or 1), LONGEST_THROTTLE_WAIT_SECONDS))
        if response.status_code != 200:
            raise CommandError(f"{method.upper()} {path}: {response.status_code} {response.content[:500]!r}")
        return response.json()


class Command(BaseCommand):
    help = (
        "Send synthetic shoppers through the recommendations endpoint and the events API of a running "
        "experiment, clicking more in the treatment by a known lift."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--experiment", required=True, help="The key of the running experiment.")
        parser.add_argument("--shoppers", type=int, required=True, help="How many synthetic shoppers.")
        parser.add_argument(
            "--true-lift",
            type=float,
            required=True,
            help="The treatment's relative lift of the click probability (0.1: 10%% more clicks).",
        )
        parser.add_argument(
            "--base-click-rate", type=float, default=0.1, help="Chance a shown item is clicked."
        )
        parser.add_argument("--seed", type=int, default=0, help="Shopper ids are sim-<seed>-<n>.")
        parser.add_argument(
            "--treatment", help="The one variant that gets the lift (default: every non-control one)."
        )

    def handle(self, *args, **options):
        base, lifted = options["base_click_rate"], options["base_click_rate"] * (1 + options["true_lift"])
        if options["shoppers"] < 1:
            raise CommandError(_("Simulate at least one shopper."))
        if not (0 < base < 1 and 0 <= lifted <= 1):
            raise CommandError(_("The click rates, with and without the lift, must lie between 0 and 1."))
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()  # not tenant-owned: no scope needed
        if tenant is None:
            raise CommandError(_("No tenant with the slug %(slug)s.") % {"slug": options["tenant"]})
        with tenant_scope(tenant):
            treatments = self._treatments(tenant, options["experiment"], options["treatment"])
            issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="simulate_traffic")
            try:
                tally = self._simulate(
                    Storefront(issued.key),
                    random.Random(options["seed"]),
                    shoppers=options["shoppers"],
                    seed=options["seed"],
                    rates={True: lifted, False: base},
                    treatments=treatments,
                )
            finally:
                served_log.flush()
                api_key_revoke(tenant=tenant, prefix=issued.api_key.prefix)
        self._report(tally, treatments)

    @staticmethod
    def _treatments(tenant: Tenant, key: str, treatment: str | None) -> set[str]:
        try:
            experiment = experiment_get_by_key(tenant=tenant, key=key)
        except Experiment.DoesNotExist:
            raise CommandError(_("No experiment with the key %(key)s.") % {"key": key})
        if experiment.status != ExperimentStatus.RUNNING:
            raise CommandError(_("%(key)s is not running: start it first.") % {"key": key})
        others = {variant.name for variant in experiment.variants.all() if not variant.is_control}
        if treatment is not None and treatment not in others:
            raise CommandError(
                _("%(name)s is not a treatment of %(key)s; its treatments: %(names)s.")
                % {"name": treatment, "key": key, "names": ", ".join(sorted(others))}
            )
        return {treatment} if treatment else others

    @staticmethod
    def _simulate(
        storefront: Storefront,
        rng: random.Random,
        *,
        shoppers: int,
        seed: int,
        rates: dict,
        treatments: set[str],
    ) -> dict[str, Counter]:
        """Per variant ("" for shoppers outside the experiment's traffic): what was served and done."""
        tally: dict[str, Counter] = defaultdict(Counter)
        events: list[dict] = []
        for number in range(shoppers):
            shopper_id = f"sim-{seed}-{number}"
            for _list in range(rng.randint(1, MAX_LISTS_PER_SHOPPER)):
                answer = storefront.recommendations(shopper_id)
                counts = tally[answer["variant"]]
                counts["lists"] += 1
                for position, item in enumerate(answer["items"]):
                    counts["impressions"] += 1
                    if rng.random() >= rates[answer["variant"] in treatments]:
                        continue
                    counts["clicks"] += 1
                    events.append(_event(answer, item, position, shopper_id, "click"))
                    if rng.random() < PURCHASE_AFTER_CLICK:
                        counts["purchases"] += 1
                        events.append(_event(answer, item, position, shopper_id, "purchase", rng=rng))
            counts["shoppers"] += 1  # assignment is sticky: every list of theirs had this variant
            if len(events) >= settings.EVENTS_MAX_BATCH or (
                served_log.pending() >= settings.RECOMMENDATIONS_LOG_BATCH // 2
            ):
                storefront.send_events(events)
                events = []
        storefront.send_events(events)
        return tally

    def _report(self, tally: dict[str, Counter], treatments: set[str]) -> None:
        for variant, counts in sorted(tally.items()):
            name = variant or _("(outside the experiment)")
            rate = counts["clicks"] / counts["impressions"] if counts["impressions"] else 0.0
            lifted = "  " + _("lifted") if variant in treatments else ""
            self.stdout.write(
                f"{name:<24} {counts['shoppers']:>7} shoppers {counts['lists']:>8} lists "
                f"{counts['clicks']:>8} clicks ({rate:.3f}) {counts['purchases']:>6} purchases{lifted}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                _("Simulated %(count)d shoppers.") % {"count": sum(c["shoppers"] for c in tally.values())}
            )
        )


def _event(answer: dict, item: dict, position: int, shopper_id: str, kind: str, rng=None) -> dict:
    event = {
        # Unique per list and item: a second run with the same seed adds its events, not duplicates.
        "event_id": f"sim-{answer['recommendation_id']}-{position}-{kind}",
        "shopper_id": shopper_id,
        "type": kind,
        "product": item["external_id"],
        "timestamp": timezone.now().isoformat(),
        "recommendation_id": answer["recommendation_id"],
    }
    if kind == "purchase":
        event["value"] = item["price"] or f"{rng.uniform(*UNPRICED_VALUE_RANGE):.2f}"
    return event
