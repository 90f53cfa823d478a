"""Fine-tune a tenant's model from the command line: queue a job with the rules of the API, and
follow it (--wait) or run it in this process (--here) with a progress bar."""
from __future__ import annotations

import json
import threading
from time import monotonic, sleep

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils.translation import gettext as _

from tenants.models import Tenant
from tenants.scope import tenant_scope
from training.models import FINISHED_JOB_STATUSES, JobStatus, ModelVersion, TrainingJob
from training.presentation import (
    TABLE_METRICS,
    comparison_summary,
    humanise_seconds,
    job_failure_message,
    log_line,
    metrics_table,
)
from training.services.jobs import JobStateError, training_job_cancel, training_job_create

BAR_WIDTH = 30


def parse_setting(text: str) -> tuple[str, object]:
    """`key=value`; the value is read as JSON when it is JSON (5e-4, true, ["query"]), else kept as text."""
    key, equals, raw = text.partition("=")
    if not equals or not key.strip():
        raise CommandError(_("Write each --set as key=value, not %(text)s.") % {"text": text})
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def progress_line(job: TrainingJob) -> str:
    """One line: the bar, the percent, the status, the epoch, the loss and the time left."""
    fraction = min(max(job.progress, 0.0), 1.0)
    filled = int(fraction * BAR_WIDTH)
    bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}]"
    parts = [f"{bar} {int(fraction * 100):3d}%", job.get_status_display()]
    if job.total_steps:
        epochs = job.config.get("epochs", "?")
        parts.append(_("epoch %(epoch)d/%(epochs)s") % {"epoch": job.epoch, "epochs": epochs})
    if job.loss is not None:
        parts.append(_("loss %(loss)s") % {"loss": f"{job.loss:.4f}"})
    if job.status == JobStatus.RUNNING and job.eta_seconds is not None:
        parts.append(_("ETA %(duration)s") % {"duration": humanise_seconds(job.eta_seconds)})
    return "  ".join(str(part) for part in parts)


def metrics_lines(by_scorer: dict) -> list[str]:
    """The validation metrics as a text table: one row per scorer, the best of a column starred."""
    rows = metrics_table(by_scorer)
    if not rows:
        return [_("No validation metrics were recorded.")]
    label_width = max(len(row.label) for row in rows) + 2
    headers = [str(label) for label in TABLE_METRICS.values()]
    widths = [max(len(header), 7) + 2 for header in headers]
    lines = ["".ljust(label_width) + "".join(h.rjust(w) for h, w in zip(headers, widths))]
    for row in rows:
        cells = [
            ("-" if cell.value is None else f"{cell.value:.4f}{'*' if cell.best else ''}").rjust(width)
            for cell, width in zip(row.cells, widths)
        ]
        lines.append(row.label.ljust(label_width) + "".join(cells))
    return lines


# The lines of a job's log that `--wait` repeats at the end (training.presentation.LOG_LINES).
REPORTED_LOG_LINES = frozenset({
    "kept_epoch", "kept_pretrained", "live_not_measured", "saved", "saved_live", "saved_not_better",
    "saved_auto_promotion_off", "saved_held_for_experiment", "saved_search_worse",
})


class Command(BaseCommand):
    help = (
        "Fine-tune a tenant's recommendation model: queue a training job on the gpu queue, "
        "follow it with --wait, or run it in this process with --here."
    )
    poll_seconds = 1.0
    # A queued job that no worker takes within this time most likely has no worker at all.
    queued_hint_after_seconds = 30.0

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument(
            "--method", metavar="lora|full", help="LoRA adapters (default) or full fine-tuning."
        )
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--base-model", metavar="PATH", help="A folder holding a Hugging Face encoder.")
        parser.add_argument(
            "--set", dest="settings_given", action="append", default=[], metavar="KEY=VALUE",
            help="Any other setting of TrainConfig, e.g. --set learning_rate=5e-4 (repeatable).",
        )
        parser.add_argument("--wait", action="store_true", help="Follow the job until it finishes.")
        parser.add_argument(
            "--here", action="store_true", help="Run the job in this process, not on a worker."
        )

    def handle(self, *args, tenant: str, method, epochs, base_model, settings_given, wait, here, **options):
        # Tenant is not tenant-owned: finding one by slug needs no scope.
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(_("No tenant with the slug %(slug)s.") % {"slug": tenant})
        given = dict(parse_setting(text) for text in settings_given)
        for name, value in (("method", method), ("epochs", epochs), ("base_model", base_model)):
            if value is not None:
                given[name] = value
        with tenant_scope(found):
            try:
                # The operator at the server's shell may build on any folder of it.
                job = training_job_create(tenant=found, settings_given=given, any_base_model=True)
            except ValidationError as error:
                reasons = [
                    f"{field}: {reason}" for field, items in error.message_dict.items() for reason in items
                ]
                raise CommandError("\n".join([*reasons, _("No job was created.")])) from error
            self.stdout.write(_("Job #%(id)d is queued.") % {"id": job.number})
            if not (wait or here):
                return
            job = self._follow(job, runner=self._start_here(found, job) if here else None)
            self._report(job)

    def _start_here(self, tenant: Tenant, job: TrainingJob) -> threading.Thread:
        """Run the job's task in a thread, so this one can draw the progress while it trains.

        The message sent to the gpu queue stays there: if a worker takes the job first, the claim
        lets only one of them train it, and this command follows the worker instead.
        """
        from training.tasks import training_job_run_task

        def run() -> None:
            try:
                training_job_run_task.apply(kwargs={"tenant_id": tenant.pk, "job_id": job.pk})
            finally:
                connections.close_all()  # this thread's own connections

        runner = threading.Thread(target=run, name=f"train-job-{job.pk}", daemon=True)
        runner.start()
        return runner

    def _follow(self, job: TrainingJob, runner: threading.Thread | None) -> TrainingJob:
        started, hinted, shown = monotonic(), False, ""
        self._cancelling = False
        while True:
            try:
                job = TrainingJob.objects.get(pk=job.pk)
                shown = self._show(progress_line(job), shown)
                if job.status in FINISHED_JOB_STATUSES:
                    self._end_line()
                    return job
                if runner is not None and not runner.is_alive() and job.status == JobStatus.QUEUED:
                    raise CommandError(_("The job could not be started in this process."))
                waited = monotonic() - started
                if runner is None and not hinted and job.status == JobStatus.QUEUED \
                        and waited > self.queued_hint_after_seconds:
                    hinted, shown = True, ""
                    self._end_line()
                    self.stderr.write(_(
                        "Job #%(id)d is still queued after %(seconds)d s: no worker seems to consume "
                        "the gpu queue. Start one with `make run`, or run the job here with --here."
                    ) % {"id": job.number, "seconds": waited})
                sleep(self.poll_seconds)
            except KeyboardInterrupt:
                self._interrupt(job, runner)

    def _interrupt(self, job: TrainingJob, runner: threading.Thread | None) -> None:
        self._end_line()
        if runner is None:
            raise CommandError(_("Stopped following job #%(id)d; it goes on on its worker.") % {"id": job.number})
        if self._cancelling:
            raise CommandError(_("Stopped without waiting for job #%(id)d to stop.") % {"id": job.number})
        # Training in this process: the first Ctrl-C stops it cleanly (within one step), and the
        # job is reported as usual.
        self._cancelling = True
        try:
            training_job_cancel(tenant=job.tenant, job_id=job.pk)
        except JobStateError:
            return
        self.stderr.write(_("Cancelling job #%(id)d (Ctrl-C again to stop at once)...") % {"id": job.number})

    def _show(self, line: str, shown: str) -> str:
        """Redraw the progress on one line on a terminal; elsewhere (a log), one line per change."""
        if line == shown:
            return shown
        if self.stdout.isatty():
            self.stdout.write("\r" + line.ljust(len(shown)), ending="")
            self.stdout.flush()
        else:
            self.stdout.write(line)
        return line

    def _end_line(self) -> None:
        if self.stdout.isatty():  # the progress line was drawn without its newline
            self.stdout.write("")

    def _report(self, job: TrainingJob) -> None:
        if job.status == JobStatus.FAILED:
            # The reason in the reader's language, and a crash's traceback after it, for the operator.
            details = job.error if job.error_code in ("", "crashed") else ""
            reason = "\n".join(part for part in (job_failure_message(job), details) if part)
            raise CommandError(_("Job #%(id)d failed: %(error)s") % {"id": job.number, "error": reason})
        if job.status == JobStatus.CANCELLED:
            raise CommandError(_("Job #%(id)d was cancelled.") % {"id": job.number})
        try:
            version = job.version
        except ModelVersion.DoesNotExist:
            raise CommandError(_("Job #%(id)d finished without a model version.") % {"id": job.number}) from None
        self.stdout.write(self.style.SUCCESS(_(
            "Job #%(id)d succeeded: model version v%(number)d (%(status)s)."
        ) % {"id": job.number, "number": version.number, "status": version.get_status_display()}))
        # Which epoch the version keeps (or that it kept the pretrained weights), and why it is or is
        # not live: the job's own log says both, as its page does.
        for entry in job.log_entries:
            if entry.get("code") in REPORTED_LOG_LINES:
                self.stdout.write(log_line(entry))
        self.stdout.write(_("Validation metrics, the fine-tuned model beside the baselines (* the best):"))
        for line in metrics_lines(version.metrics.get("validation") or {}):
            self.stdout.write(line)
        comparison = comparison_summary(version.metrics.get("comparison"))
        if comparison:
            self.stdout.write(comparison.in_full)
