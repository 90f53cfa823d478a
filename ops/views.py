"""The ops console: every tenant's jobs (stuck ones with Retry and Cancel), queues, workers,
compute per tenant and the API's traffic.

Staff only, and hidden: anyone else, a merchant or an anonymous visitor, gets the same 404
as for a page that does not exist, not a login redirect or a 403 that would advertise it.
"""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ops.api_traffic import WINDOW_MINUTES, api_traffic
from ops.broker import WorkersOnline, queue_depths, workers_online
from ops.forms import JobFilterForm
from ops.selectors import (
    month_start,
    ops_compute_by_tenant,
    ops_job_get,
    ops_job_list,
    ops_jobs_by_id,
    ops_stuck_job_count,
    ops_tenants_by_id,
)
from ops.services import ops_job_cancel, ops_job_retry
from tenants.scope import outside_tenant_scope, tenant_scope
from training.models import JobStatus, TrainingJob
from training.presentation import humanise_seconds, job_failure_message, job_progress
from training.services.jobs import JobStateError

JOBS_PER_PAGE = 25


def staff_only(view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not (request.user.is_authenticated and request.user.is_staff):
            raise Http404
        # Staff who also work in a store have its scope set by the middleware; the console reads
        # every tenant, which row-level security would hide inside that scope. Likewise its time
        # zone: the console's times are in UTC (the server's TIME_ZONE) for every member of staff,
        # so two of them reading one job's times read the same clock.
        with outside_tenant_scope(), timezone.override(None):
            return view(request, *args, **kwargs)

    return guarded


@staff_only
def job_list_view(request):
    now = timezone.now()
    form = JobFilterForm(request.GET or None)
    jobs = ops_job_list(filters=form.filters(), now=now)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "job": job,
            "progress": job_progress(job),
            "compute": humanise_seconds(job.compute_seconds) if job.compute_seconds else "",
            "can_retry": job.is_stuck or job.status in (JobStatus.FAILED, JobStatus.CANCELLED),
            "can_cancel": job.is_active,
            "failure": job_failure_message(job) or (job.error if job.status == JobStatus.FAILED else ""),
        }
        for job in page.object_list
    ]
    context = {
        "form": form, "page": page, "rows": rows, "stuck_count": ops_stuck_job_count(now=now),
        "next": request.get_full_path(),
    }
    return render(request, "ops/jobs.html", context)


def _the_list_page(request, target: str) -> str:
    # The page and filters the button was pressed on, if that is a page of ours; else the list.
    if target.startswith(reverse("ops:jobs")) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("ops:jobs")


def _back_to_the_list(request):
    return redirect(_the_list_page(request, request.POST.get("next", "")))


def _job_or_404(job_id: int) -> TrainingJob:
    try:
        return ops_job_get(job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404


@staff_only
@require_POST
def job_retry_view(request, job_id: int):
    job = _job_or_404(job_id)
    try:
        with tenant_scope(job.tenant):
            ops_job_retry(tenant=job.tenant, job_id=job.pk, actor=request.user)
    except JobStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Job #%(id)d of %(tenant)s is queued again; it resumes from its last "
                                    "checkpoint.") % {"id": job.number, "tenant": job.tenant.staff_label})
    return _back_to_the_list(request)


@staff_only
@require_GET
def job_cancel_confirm_view(request, job_id: int):
    """What cancelling a merchant's job does, then the button: one click in a table of every
    tenant's jobs must not end hours of someone's training."""
    job = _job_or_404(job_id)
    back = _the_list_page(request, request.GET.get("next", ""))
    if not job.is_active:
        # Finished since the table was drawn: the cancel would refuse, so say why now.
        messages.error(
            request, _("The job has already finished (%(status)s).") % {"status": job.get_status_display()}
        )
        return redirect(back)
    context = {"job": job, "progress": job_progress(job), "next": back}
    return render(request, "ops/job_cancel_confirm.html", context)


@staff_only
@require_POST
def job_cancel_view(request, job_id: int):
    job = _job_or_404(job_id)
    try:
        with tenant_scope(job.tenant):
            cancelled = ops_job_cancel(tenant=job.tenant, job_id=job.pk, actor=request.user)
    except JobStateError as error:
        messages.error(request, str(error))
    else:
        values = {"id": job.number, "tenant": job.tenant.staff_label}
        if cancelled.status == JobStatus.CANCELLED:
            messages.success(request, _("Job #%(id)d of %(tenant)s is cancelled.") % values)
        else:
            messages.success(request, _("Job #%(id)d of %(tenant)s stops after its current training step.")
                             % values)
    return _back_to_the_list(request)


@staff_only
def system_view(request):
    since = month_start()
    compute = ops_compute_by_tenant(since=since)
    context = {
        "queues": queue_depths(),
        "workers": _what_workers_run(workers_online()),
        "traffic": api_traffic(),
        "window_minutes": WINDOW_MINUTES,
        "month_start": since,
        "compute": [{"row": row, "display": humanise_seconds(row.seconds)} for row in compute],
        "compute_total": humanise_seconds(sum(row.seconds for row in compute)),
    }
    return render(request, "ops/system.html", context)


def _what_workers_run(online: WorkersOnline) -> dict:
    """The workers and their tasks, each task with the tenant and the job its arguments name: the
    jobs table shows tenants by name and jobs by their number in their store, not by ids."""
    tasks = [task for worker in online.workers for task in worker.tasks]
    tenants = ops_tenants_by_id(tenant_ids=_int_arguments(tasks, "tenant_id"))
    jobs = ops_jobs_by_id(job_ids=_int_arguments(tasks, "job_id"))
    workers = [
        {
            "name": worker.name,
            "tasks": [
                {
                    "task": task,
                    "tenant": tenants.get(task.kwargs.get("tenant_id")),
                    "job": jobs.get(task.kwargs.get("job_id")),
                }
                for task in worker.tasks
            ],
        }
        for worker in online.workers
    ]
    return {"workers": workers, "reason": online.reason}


def _int_arguments(tasks, name: str) -> set[int]:
    return {task.kwargs[name] for task in tasks if isinstance(task.kwargs.get(name), int)}
