"""The events pages of the merchant UI: the overview, starting a cleaning run, and erasing a
shopper for a privacy request."""
import logging

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from catalog.models import CleaningStatus, EventType, IngestTally
from catalog.selectors.events import cleaning_report_latest, event_count, event_counts_per_day
from catalog.services.cleaning import REPORT_COUNT_LABELS
from catalog.services.events import shopper_erase, shopper_event_count, shopper_sandbox_event_count
from catalog.tasks import catalog_clean_queue, cleaning_run_pending, cleaning_run_unfinished_since_report
from tenants.web import member_required

logger = logging.getLogger(__name__)

OVERVIEW_DAYS = 30


def _count_rows(counts: dict[str, int]) -> list[tuple[str, int]]:
    """(label, count) in the order of REPORT_COUNT_LABELS (PostgreSQL's jsonb keeps no key order);
    a key this version does not know comes last, under its own name."""
    known = [(label, counts[key]) for key, label in REPORT_COUNT_LABELS.items() if key in counts]
    return known + [(key, count) for key, count in sorted(counts.items()) if key not in REPORT_COUNT_LABELS]


def _refused_since_report(tenant) -> list[tuple[str, int]]:
    """The events refused as they arrived since the last cleaning run, which the next run's report
    will hold: a merchant sees a broken storefront feed at once."""
    return _count_rows(dict(IngestTally.objects.filter(tenant=tenant, count__gt=0).values_list("rule", "count")))


@member_required
def event_overview_view(request):
    days = event_counts_per_day(tenant=request.tenant, days=OVERVIEW_DAYS)
    report = cleaning_report_latest(tenant=request.tenant)
    context = {
        "days": days,
        "days_shown": OVERVIEW_DAYS,
        "event_types": EventType.choices,
        "recent_totals": [sum(day.per_type[t] for day in days) for t in EventType.values],
        "recent_total": sum(day.total for day in days),
        "event_count": event_count(tenant=request.tenant),
        "report": report,
        "report_rows": _count_rows(report.counts) if report is not None else [],
        "refused_since_report": _refused_since_report(request.tenant),
        "cleaning_run": _cleaning_run(cleaning_run_pending()),
        "cleaning_run_unfinished": cleaning_run_unfinished_since_report(),
    }
    return render(request, "catalog/event_overview.html", context)


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def event_cleaning_run_view(request):
    """GET: what cleaning deletes and changes, and the button; POST: queue the run."""
    if request.method == "GET":
        return render(request, "_confirm.html", {
            "question": _("Clean the shopper events now?"),
            "consequences": [
                _("Exact duplicates are deleted: of the events with the same shopper, type, product, time to the "
                  "microsecond, quantity and value, the first one stored is kept. Two purchases of one product at "
                  "the same instant, in the same quantity and for the same value, count as one."),
                _("Shoppers who behave like bots are flagged: their events are kept, and left out of training."),
                _("The events refused as they arrived since the last run are counted in its report."),
            ],
            "action": _("Run cleaning now"),
            "back": reverse("event-overview") + "#data-cleaning",
        })
    if cleaning_run_pending() is not None:
        messages.info(request, _("A cleaning run is already under way: its progress shows below."))
    else:
        run = catalog_clean_queue(tenant_id=request.tenant.pk)
        run.refresh_from_db()
        if run.status == CleaningStatus.FAILED:  # the broker could not be reached
            messages.error(request, _("Cleaning could not be queued: the task queue cannot be reached. Try again in a minute."))
        else:
            messages.success(request, _("Cleaning is queued: its progress shows below, and its report when it is done."))
    return redirect(reverse("event-overview") + "#data-cleaning")


def event_cleaning_run_fragment_view(request):
    """The run under way, polled by the page; once none is, the page reloads to show the report.
    A session that ended meanwhile reloads the page too (to the login), rather than having htmx
    swap the login page into the card."""
    if not request.user.is_authenticated or getattr(request, "membership", None) is None:
        return HttpResponseClientRefresh()
    return _event_cleaning_run_fragment(request)


@member_required
def _event_cleaning_run_fragment(request):
    pending = cleaning_run_pending()
    if pending is None:
        return HttpResponseClientRefresh()
    return render(request, "catalog/_cleaning_run.html", {"cleaning_run": _cleaning_run(pending)})


def _cleaning_run(run) -> dict | None:
    if run is None:
        return None
    since = run.started_at or run.created_at
    return {"run": run, "since": since, "for_seconds": (timezone.now() - since).total_seconds()}


class ShopperEraseForm(forms.Form):
    shopper_id = forms.CharField(
        label=gettext_lazy("Shopper id"), max_length=256, strip=False,
        help_text=gettext_lazy("Exactly as your storefront sends it with their events (shopper_id)."),
    )


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def shopper_erase_view(request):
    """A privacy request, from the page: GET with the id shows what goes and asks; POST erases."""
    form = ShopperEraseForm(request.POST if request.method == "POST" else (request.GET or None))
    if not form.is_valid():
        return render(request, "catalog/shopper_erase.html", {"form": form}, status=400 if form.data else 200)
    shopper_id = form.cleaned_data["shopper_id"]
    if request.method == "GET":
        return _shopper_erase_confirm(request, shopper_id)
    erased = shopper_erase(tenant=request.tenant, shopper_id=shopper_id)
    logger.info(
        "shopper erased from the web by %s in tenant %s: %d events, %d copies in sandboxes",
        request.user.pk, request.tenant.pk, erased.events, erased.sandbox_events,
    )
    messages.success(request, ngettext(
        "The shopper is erased: %(count)d event deleted.", "The shopper is erased: %(count)d events deleted.",
        erased.events,
    ) % {"count": erased.events})
    if erased.sandbox_events:
        messages.success(request, ngettext(
            "%(count)d copy of their events in the store's course sandboxes was deleted too.",
            "%(count)d copies of their events in the store's course sandboxes were deleted too.",
            erased.sandbox_events,
        ) % {"count": erased.sandbox_events})
    return redirect("shopper-erase")


def _shopper_erase_confirm(request, shopper_id: str):
    """What an erasure would delete, and the button."""
    events = shopper_event_count(tenant=request.tenant, shopper_id=shopper_id)
    copies = shopper_sandbox_event_count(tenant=request.tenant, shopper_id=shopper_id)
    consequences = []
    if events:
        consequences.append(ngettext(
            "Their %(count)d event is deleted for good, with the recommendation lists served to them "
            "and any bot flag.",
            "Their %(count)d events are deleted for good, with the recommendation lists served to them "
            "and any bot flag.",
            events,
        ) % {"count": events})
    elif not copies:
        consequences.append(_(
            "No event is stored under this id: check that it is written exactly as your storefront "
            "sends it (letter case and spaces count). Erasing it anyway is safe: it deletes nothing."
        ))
    if copies:
        consequences.append(ngettext(
            "Their %(count)d copied event in the store's course sandboxes is deleted too.",
            "Their %(count)d copied events in the store's course sandboxes are deleted too.",
            copies,
        ) % {"count": copies})
    consequences.append(
        _("Models trained before keep what they learned from these events until the next training.")
    )
    return render(request, "_confirm.html", {
        "question": _("Erase the shopper %(shopper)s?") % {"shopper": shopper_id},
        "consequences": consequences,
        "action": _("Erase"),
        "back": reverse("shopper-erase"),
        "hidden": {"shopper_id": shopper_id},
    })


urlpatterns = [
    path("events/", event_overview_view, name="event-overview"),
    path("events/erase-shopper/", shopper_erase_view, name="shopper-erase"),
    path("events/cleaning-runs/", event_cleaning_run_view, name="event-cleaning-run"),
    path("events/cleaning-runs/current/", event_cleaning_run_fragment_view, name="event-cleaning-run-fragment"),
]
