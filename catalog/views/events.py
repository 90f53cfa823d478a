"""The events pages of the merchant UI: the overview, and starting a cleaning run."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from catalog.models import CleaningStatus, EventType
from catalog.selectors.events import cleaning_report_latest, event_count, event_counts_per_day
from catalog.services.cleaning import REPORT_COUNT_LABELS
from catalog.tasks import catalog_clean_queue, cleaning_run_pending, cleaning_run_unfinished_since_report
from tenants.web import member_required

OVERVIEW_DAYS = 30


def _report_rows(report) -> list[tuple[str, int]]:
    """(label, count) for each count of a report, in the order of REPORT_COUNT_LABELS (PostgreSQL's
    jsonb keeps no key order); a key this version does not know comes last, under its own name."""
    if report is None:
        return []
    known = [
        (label, report.counts[key]) for key, label in REPORT_COUNT_LABELS.items() if key in report.counts
    ]
    unknown = [(key, count) for key, count in sorted(report.counts.items()) if key not in REPORT_COUNT_LABELS]
    return known + unknown


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
        "report_rows": _report_rows(report),
        "cleaning_run": _cleaning_run(cleaning_run_pending()),
        "cleaning_run_unfinished": cleaning_run_unfinished_since_report(),
    }
    return render(request, "catalog/event_overview.html", context)


@require_POST
@member_required(manage=True)
def event_cleaning_run_view(request):
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
    pending = cleaning_run_pending()
    if pending is None:
        return HttpResponseClientRefresh()
    return render(request, "catalog/_cleaning_run.html", {"cleaning_run": _cleaning_run(pending)})


def _cleaning_run(run) -> dict | None:
    if run is None:
        return None
    since = run.started_at or run.created_at
    return {"run": run, "since": since, "for_seconds": (timezone.now() - since).total_seconds()}


urlpatterns = [
    path("events/", event_overview_view, name="event-overview"),
    path("events/cleaning-runs/", event_cleaning_run_view, name="event-cleaning-run"),
    path("events/cleaning-runs/current/", event_cleaning_run_fragment_view, name="event-cleaning-run-fragment"),
]
