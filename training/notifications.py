"""The email a member may ask for as they start a fine-tuning job: how it ended.

A job takes from minutes to hours, and ends on a worker, or in the reaper when its worker was
lost, long after the page that started it was closed. The email says what the job page would:
the version made and whether it is live, how it compares with the best baseline, or why the job
failed; in the language of the page the member started it on.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import BadHeaderError, send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus
from training.presentation import comparison_summary, job_failure_message, log_line

logger = logging.getLogger(__name__)

ENDINGS_EMAILED = (JobStatus.SUCCEEDED, JobStatus.FAILED)

# The page's own reason points at the details below it, which an email does not hold.
CRASHED_BY_EMAIL = gettext_lazy(
    "Training stopped on an unexpected error. Retry the job from its page; if it fails again, send "
    "support the details shown there."
)
# The log's own line points at "the epochs above", which lie on the job page, not in an email.
NOT_BETTER_BY_EMAIL = gettext_lazy(
    "Version v%(number)d saved as a candidate: its recommendations score %(value)s NDCG@10 on the "
    "validation shoppers, not above the live v%(live)d's %(live_value)s. Promote it from the models "
    "page to serve it anyway."
)


def training_job_email_outcome(*, job_id: int) -> bool:
    """Email the member who started the job how it ended, if they asked to be; True when sent.

    Once per ending: the send is claimed with a conditional update first, so the worker and the
    reaper, or a redelivered task, never both send it (a retry clears the claim). A cancel is not
    emailed: whoever cancelled knows. Sending is tried once: an email that cannot be sent is logged
    and marked (`email_failed`, which the job's page says), and never fails the job.
    """
    claimed = TrainingJob.all_tenants.filter(
        pk=job_id, email_when_done=True, emailed_at__isnull=True, status__in=ENDINGS_EMAILED
    ).update(emailed_at=timezone.now())
    if not claimed:
        return False
    job = TrainingJob.all_tenants.select_related("tenant", "created_by").get(pk=job_id)
    if job.created_by is None or not job.created_by.email:  # their account went meanwhile
        return False
    with translation.override(job.language or settings.LANGUAGE_CODE):
        subject, body = _outcome_email(job)
    try:
        send_mail(subject, body, None, [job.created_by.email])
    except (OSError, BadHeaderError):  # smtplib's errors are OSErrors
        logger.exception("job %s: the email of how it ended could not be sent", job.pk)
        TrainingJob.all_tenants.filter(pk=job.pk).update(email_failed=True)
        return False
    return True


def _failure(job: TrainingJob) -> str:
    if job.status != JobStatus.FAILED:
        return ""
    return str(CRASHED_BY_EMAIL) if job.error_code == "crashed" else job_failure_message(job)


def _verdict_line(entry: dict) -> str:
    if entry.get("code") == "saved_not_better":
        return log_line(entry, template=NOT_BETTER_BY_EMAIL)
    return log_line(entry)


def _outcome_email(job: TrainingJob) -> tuple[str, str]:
    """The subject and body, in the active language."""
    values = {"store": job.tenant.display_name, "number": job.number}
    version = ModelVersion.all_tenants.filter(job=job).first()
    if job.status == JobStatus.SUCCEEDED and version is not None:
        if version.status == VersionStatus.LIVE:
            subject = _("%(store)s: fine-tuning job #%(number)d made v%(version)d, now live")
        else:
            subject = _("%(store)s: fine-tuning job #%(number)d made v%(version)d, a candidate")
        values["version"] = version.number
        comparison = comparison_summary((version.metrics or {}).get("comparison"))
        page = reverse("model-version-list")
    else:
        subject = _("%(store)s: fine-tuning job #%(number)d failed")
        comparison = None
        page = reverse("training-job-detail", args=[job.pk])
    # The job's own last line says why a version is live or waits ("saved_not_better", ...).
    last_line = _verdict_line(job.log_entries[-1]) if job.log_entries and version is not None else ""
    body = render_to_string("training/email/job_outcome.txt", {
        "job": job,
        "store": job.tenant.display_name,
        "succeeded": version is not None,
        "last_line": last_line,
        "comparison": comparison,
        "failure": _failure(job),
        "url": f"{settings.SITE_URL}{page}" if settings.SITE_URL else "",
    })
    return subject % values, body
