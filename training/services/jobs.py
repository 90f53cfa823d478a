"""Writes on fine-tuning jobs: create, cancel, retry, and the run itself."""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from kombu.exceptions import OperationalError as BrokerUnreachable

from tenants.heartbeat import RowHeartbeat
from tenants.models import Tenant
from training.ml.config import ConfigError, TrainConfig, default_base_model, default_learning_rate
from training.models import ACTIVE_JOB_STATUSES, JobStatus, TrainingJob
from training.presentation import FAILURES, config_error_message, log_line
from training.selectors import training_data_at_one_moment, training_data_size

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 40
# The bar's share for the training steps; the rest is what follows them (encoding the catalog,
# fitting the baselines, measuring both windows), which can take minutes on a large catalog.
TRAINING_SHARE_OF_THE_BAR = 0.9


class JobStateError(Exception):
    """The job is not in a state that allows this (e.g. cancelling a finished job)."""


# The k of the headline NDCG@k that promotion, the curves and the tables read
# (training.services.versions.HEADLINE_METRIC): a job measured at another k would compare as 0.
MEASURED_AT = 10


def tenant_base_model(tenant: Tenant) -> str:
    return tenant.base_model_path or settings.TRAINING_BASE_MODEL or default_base_model()


def base_model_search_folders(tenant: Tenant) -> list[str]:
    """Where this machine keeps base models, for finding a LoRA version's base when the folder
    it was trained from is not here (a web host's paths are not the worker's): the tenant's and
    the platform's base model, and TRAINING_BASE_MODEL_DIRS. The version's fingerprint decides."""
    folders = [tenant.base_model_path, settings.TRAINING_BASE_MODEL, *settings.TRAINING_BASE_MODEL_DIRS]
    return [str(folder) for folder in folders if folder]


def base_model_allowed(folder: str, *, tenant: Tenant) -> bool:
    """Whether a job of this tenant may build on `folder`: the tenant's default, or a folder in
    TRAINING_BASE_MODEL_DIRS, outside every tenant's trained models and checkpoints. Links and
    ".." are resolved first, so neither leads out."""
    path, default = Path(folder).resolve(), tenant_base_model(tenant)
    if default and path == Path(default).resolve():
        return True
    if any(path.is_relative_to(Path(kept).resolve()) for kept in (settings.MODELS_DIR, settings.TRAINING_WORK_DIR)):
        return False
    return any(path.is_relative_to(Path(root).resolve()) for root in settings.TRAINING_BASE_MODEL_DIRS)


def base_model_named(name: str) -> str | None:
    """The folder called `name` in one of TRAINING_BASE_MODEL_DIRS, the first that has one: a
    merchant knows the model by its folder's name, not by where the platform keeps it."""
    for root in settings.TRAINING_BASE_MODEL_DIRS:
        candidate = Path(root) / name
        if candidate.is_dir():
            return str(candidate)
    return None


def training_config_build(*, tenant: Tenant, settings_given: dict, any_base_model: bool = False) -> TrainConfig:
    """The job's config: the defaults, the tenant's base model, then what the merchant chose.

    `any_base_model`: the caller is the platform's operator (the command line), who may name any
    folder; a merchant may name only those `base_model_allowed` lets through, and is told where
    they are, never whether a folder elsewhere exists.

    Raises ValidationError naming the field and the reason.
    """
    if not isinstance(settings_given, dict):
        raise ValidationError({"config": _("Send the settings as a JSON object.")})
    if settings_given.get("eval_k", MEASURED_AT) != MEASURED_AT:
        raise ValidationError({"eval_k": _(
            "Every version is measured at %(k)d, so that versions compare and the better one goes live: "
            "this setting cannot be changed."
        ) % {"k": MEASURED_AT}})
    if settings_given.get("base_model") == "":  # an emptied field: the default, as the form does
        settings_given = {name: value for name, value in settings_given.items() if name != "base_model"}
    values = {"base_model": tenant_base_model(tenant), **settings_given}
    if "learning_rate" not in values and isinstance(values.get("method"), str):
        # The dataclass's default is LoRA's: full fine-tuning at it would wreck the encoder.
        values["learning_rate"] = default_learning_rate(values["method"])
    chosen = settings_given.get("base_model")
    if isinstance(chosen, str) and "\x00" in chosen:
        raise ValidationError({"base_model": _("A folder's name cannot hold a NUL character.")})
    # A name: a folder of the base-model folders. (An operator's relative path that exists from
    # where the command runs is that path.) ".." and links are judged once resolved, below.
    operators_path = any_base_model and isinstance(chosen, str) and Path(chosen).exists()
    if isinstance(chosen, str) and chosen and not Path(chosen).is_absolute() and not operators_path:
        chosen = base_model_named(chosen) or chosen
        values["base_model"] = chosen
    if isinstance(chosen, str) and chosen and not any_base_model:
        if not base_model_allowed(chosen, tenant=tenant):
            # Without the server's paths: a store has no business knowing how the platform's disks are laid out.
            raise ValidationError({"base_model": _(
                "Base models are read from the platform's base-model folders: name one of the models there "
                "(the platform's operators add models), or leave this empty for your default model."
            )})
        # The folder that was checked, not one a worker in another directory would find.
        values["base_model"] = str(Path(chosen).resolve())
    # Each setting first on its own (the others at their defaults), so that every bad one is named
    # at once, not one per attempt; then all together, for the rules between settings.
    defaults = {"base_model": values["base_model"]}
    errors = {}
    for name in sorted(set(values) - set(defaults)):
        try:
            TrainConfig.from_dict({**defaults, name: values[name]}).validate()
        except ConfigError as error:
            errors.setdefault(error.field, config_error_message(error))
        except TypeError as error:  # a value of the wrong type reached the dataclass
            errors.setdefault("config", str(error))
    if errors:
        raise ValidationError(errors)
    try:
        return TrainConfig.from_dict(values).validate()
    except ConfigError as error:
        raise ValidationError({error.field: config_error_message(error)}) from error
    except TypeError as error:
        raise ValidationError({"config": str(error)}) from error


def training_data_shortfall(*, tenant: Tenant) -> str | None:
    """Why the tenant's events cannot train a job yet, in the active language; None when they can."""
    events, shoppers = training_data_size(tenant=tenant)
    needed_events, needed_shoppers = settings.TRAINING_MIN_EVENTS, settings.TRAINING_MIN_SHOPPERS
    if events < needed_events or shoppers < needed_shoppers:
        return _(
            "Too little data to fine-tune: you have %(events)d events from %(shoppers)d shoppers; "
            "at least %(needed_events)d events from %(needed_shoppers)d shoppers are needed."
        ) % {"events": events, "shoppers": shoppers,
             "needed_events": needed_events, "needed_shoppers": needed_shoppers}
    if training_data_at_one_moment(tenant=tenant):
        # Said now, not by a worker minutes later: a retry would fail the same way until events come.
        return str(FAILURES["one_moment"])
    return None


def _require_enough_data(tenant: Tenant) -> None:
    shortfall = training_data_shortfall(tenant=tenant)
    if shortfall is not None:
        raise ValidationError({"data": shortfall})


@transaction.atomic
def training_job_create(
    *, tenant: Tenant, settings_given: dict, created_by=None, any_base_model: bool = False,
    email_when_done: bool = False,
) -> TrainingJob:
    """Validate the settings and the data, and queue a job (sent to a worker on commit).
    `any_base_model`: see training_config_build. `email_when_done`: email `created_by` how the job
    ended, in the active language (training.notifications); refused where it could not be sent."""
    config = training_config_build(tenant=tenant, settings_given=settings_given, any_base_model=any_base_model)
    if email_when_done:
        _require_an_address(created_by)
    _require_enough_data(tenant)
    # Lock the tenant row: two requests at once must not both pass the limit.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    active = TrainingJob.objects.filter(tenant=tenant, status__in=ACTIVE_JOB_STATUSES).count()
    if active >= settings.TRAINING_MAX_ACTIVE_JOBS_PER_TENANT:
        raise ValidationError({"jobs": ngettext(
            "%(active)d job is already queued or running; wait for it to finish or cancel it.",
            "%(active)d jobs are already queued or running; wait for them to finish or cancel one.",
            active,
        ) % {"active": active}})
    job = TrainingJob.objects.create(
        tenant=tenant, number=_next_job_number(tenant), config=config.to_dict(), created_by=created_by,
        email_when_done=email_when_done,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    training_job_enqueue(job)
    return job


def _require_an_address(user) -> None:
    """Asked to email how the job ended: refused, saying why, where it could not be sent."""
    if not settings.TRAINING_EMAILS:
        reason = _("The platform is not set up to send email.")
    elif user is None:
        reason = _("A job started with an API key has no one to email: start it from a member's session.")
    elif not user.email:
        reason = _("Your account has no email address.")
    else:
        return
    raise ValidationError({"email_when_done": reason})


def can_email_when_done(user) -> bool:
    """Whether a job this user starts can email them how it ended: the platform sends email, and
    the user has an address."""
    return settings.TRAINING_EMAILS and bool(user is not None and user.email)


def _next_job_number(tenant: Tenant) -> int:
    """The tenant's next job number; the caller holds the tenant row's lock, so two jobs never share one."""
    return (TrainingJob.objects.filter(tenant=tenant).aggregate(top=Max("number"))["top"] or 0) + 1


def training_job_enqueue(job: TrainingJob) -> None:
    """Send the job's task to a worker once the transaction that queued it commits."""
    tenant_id, job_id = job.tenant_id, job.pk
    transaction.on_commit(lambda: training_job_send(tenant_id=tenant_id, job_id=job_id))


def training_job_send(*, tenant_id: int, job_id: int) -> bool:
    """Hand the task to the broker and note when. A broker that cannot be reached does not undo
    the job the merchant queued: it stays queued, unsent, and the reaper sends it again."""
    from training.tasks import training_job_run_task

    try:
        training_job_run_task.delay(tenant_id=tenant_id, job_id=job_id)
    except BrokerUnreachable:
        logger.exception("job %s: the broker could not be reached; the reaper will send it again", job_id)
        return False
    TrainingJob.all_tenants.filter(tenant_id=tenant_id, pk=job_id, status=JobStatus.QUEUED).update(
        enqueued_at=timezone.now()
    )
    return True


@transaction.atomic
def training_job_cancel(*, tenant: Tenant, job_id: int) -> TrainingJob:
    """A queued job is cancelled at once; a running one stops within one training step."""
    job = TrainingJob.objects.select_for_update().get(tenant=tenant, pk=job_id)
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
        job.save(update_fields=["status", "finished_at"])
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
    else:
        raise JobStateError(_("The job has already finished (%(status)s).") % {"status": job.get_status_display()})
    return job


@transaction.atomic
def training_job_retry(*, tenant: Tenant, job_id: int) -> TrainingJob:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""
    # Lock the tenant row, as creating a job does: two retries at once must not both pass the limit.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    job = TrainingJob.objects.select_for_update().get(tenant=tenant, pk=job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise JobStateError(_("Only a failed or cancelled job can be retried."))
    active = TrainingJob.objects.filter(tenant=tenant, status__in=ACTIVE_JOB_STATUSES).count()
    if active >= settings.TRAINING_MAX_ACTIVE_JOBS_PER_TENANT:
        raise JobStateError(_("Another job is queued or running; wait for it or cancel it."))
    if job.error_code not in ("", "crashed", "worker_lost"):
        # It failed for its data (too short a history, say): the retry learns from the data as it
        # is now, which the merchant may have added to since, not from the data that failed.
        job.data_as_of = None
    job.status, job.cancel_requested, job.finished_at = JobStatus.QUEUED, False, None
    job.error, job.error_code, job.error_params = "", "", {}
    job.attempts, job.enqueued_at = 0, None
    job.eta_seconds = None  # the last run's: the next one says its own once it steps
    job.emailed_at, job.email_failed = None, False  # the retry's ending is news of its own
    job.save(update_fields=[
        "status", "cancel_requested", "finished_at", "error", "error_code", "error_params", "attempts",
        "enqueued_at", "data_as_of", "eta_seconds", "emailed_at", "email_failed",
    ])
    training_job_enqueue(job)
    return job


def training_job_claim(*, job_id: int) -> bool:
    """Take a queued job for this worker. False when another worker has it, or it was cancelled:
    a redelivered task then does nothing. The first claim fixes the data the job learns from
    (`data_as_of`); later ones, resuming, keep it."""
    now = timezone.now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, heartbeat_at=now, started_at=now,
        worker_host=socket.gethostname()[:200], data_as_of=Coalesce(F("data_as_of"), Value(now)),
        attempts=F("attempts") + 1, run_number=F("run_number") + 1,
    )
    return claimed == 1


def this_run(job_id: int, run_number: int) -> QuerySet[TrainingJob]:
    """The job's row while this run holds it: running, under the run's claim. Every write a
    worker makes goes through it, so a run whose job was taken back writes nothing."""
    return TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, run_number=run_number)


def checkpoint_dir(job: TrainingJob) -> Path:
    return Path(settings.TRAINING_WORK_DIR) / str(job.tenant_id) / f"job-{job.pk}"


class _Heartbeat(RowHeartbeat):
    """Writes the job's heartbeat every `every` seconds from a thread of its own, for the whole run,
    while `alive()` says the run still moves.

    The training steps beat through `_JobReporter`, but what follows the last step (encoding
    the catalog, fitting the baselines, measuring both windows, saving) can outlast the stale
    limit on a large catalog; without this the reaper would take back a worker that is alive.
    `alive` keeps a hung run (a stuck GPU call) from beating forever: once it has been silent
    too long the beats stop, and the reaper takes the job back, or cancels it if asked to.
    `fields`: more to write with each beat (the ETA counting down between stages).
    """

    def __init__(
        self,
        job_id: int,
        run_number: int,
        every: float,
        alive: Callable[[], bool] = lambda: True,
        fields: Callable[[], dict] = dict,
    ):
        super().__init__(
            TrainingJob.all_tenants.filter(pk=job_id, status=JobStatus.RUNNING, run_number=run_number),
            every,
            name=f"job {job_id}",
            fields=lambda: {"heartbeat_at": timezone.now(), **fields()},
            alive=alive,
        )


def heartbeat_interval() -> float:
    return max(1.0, settings.TRAINING_HEARTBEAT_STALE_SECONDS / 5)


@dataclass
class _JobReporter:
    """Writes progress and heartbeats to the job row, a few times a second at most.

    Every write is a conditional update on this run (`this_run`): a job the reaper
    or the ops console has taken back, and perhaps another worker claimed, is not
    overwritten by a worker that turns out to be alive.
    """

    job_id: int
    run_number: int
    started: float
    min_interval: float = 1.0
    # The first step is always written: not 0.0, which time.monotonic() (seconds since boot, on
    # Linux) may not be min_interval past yet on a machine that has just started.
    last_write: float = float("-inf")
    log_entries: list[dict] | None = None
    # When the run last showed it moves (a write, a cancel check): see _Heartbeat's `alive`.
    last_activity: float = field(default_factory=time.monotonic)
    # The measuring after the training steps: its stages have no steps to count, so their ETA is
    # the store's last job's times for them (expect_measuring), and this run's times are kept
    # for the next job. `stage` is the one running (None before and after them).
    stage_estimates: dict[str, float] | None = None
    products: int = 0
    stage: str | None = None
    stage_started: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    last_step: dict = field(default_factory=dict)  # the latest step's step, epoch and loss (progress)

    def silent_for(self) -> float:
        return time.monotonic() - self.last_activity

    def _update(self, **fields) -> None:
        self.last_activity = time.monotonic()
        this_run(self.job_id, self.run_number).update(
            heartbeat_at=timezone.now(), compute_seconds=time.monotonic() - self.started, **fields
        )

    def log(self, code: str, **params) -> None:
        """Log a line of presentation.LOG_LINES (in English in the log tail, in each reader's language
        on the page)."""
        fields = self.log_fields(code, **params)
        self.log_entries = fields["log_entries"]
        logger.info("job %s: %s", self.job_id, fields["log_tail"].rsplit("\n", 1)[-1])
        self._update(**fields)

    def log_fields(self, code: str, **params) -> dict:
        """The job's log fields with the entry added, for a write of the caller's; the reporter's own
        log takes the entry only once the caller keeps it (`log` does at once)."""
        entries = (self.log_entries or [])[-(LOG_TAIL_LINES - 1):] + [{"code": code, "params": params}]
        with translation.override("en"):
            tail = "\n".join(log_line(entry) for entry in entries)
        return {"log_tail": tail, "log_entries": entries}

    def progress(self, step: int, total_steps: int, epoch: int, loss: float, eta_seconds: float) -> None:
        # Kept even when not written: training_done writes the last one, so a run that stops early
        # (or between two writes) does not show an earlier step as where it ended.
        self.last_step = {"step": step, "epoch": epoch, "loss": loss}
        now = time.monotonic()
        if now - self.last_write < self.min_interval and step != total_steps:
            return
        self.last_write = now
        # The whole job's: the steps and validations left (the loop's clock), then the measuring.
        measuring = self.measuring_estimate()
        if measuring is not None:
            eta_seconds += measuring
        elif step == total_steps:
            eta_seconds = None  # only the measuring is left, and nothing says how long it takes
        self._update(
            step=step, total_steps=total_steps, epoch=epoch, loss=loss, eta_seconds=eta_seconds,
            progress=TRAINING_SHARE_OF_THE_BAR * min(step / max(total_steps, 1), 1.0),
        )

    def training_done(self, result) -> None:
        """Training has stopped (its last step, or early): the log says which epoch the version keeps,
        and the bar waits at the end of training's share while the catalog is encoded and the model
        measured against the baselines."""
        if result.history:
            code = "kept_pretrained" if result.best_epoch == 0 else "kept_epoch"
            self.log(code, epoch=result.best_epoch, value=f"{result.best_metric:.4f}")
        self.log("measuring")
        self._update(progress=TRAINING_SHARE_OF_THE_BAR, eta_seconds=self.measuring_estimate(), **self.last_step)

    def expect_measuring(self, *, device: str, products: int) -> None:
        """Read how long the measuring stages took the store's last job on this device, scaled to
        this catalog: encoding it and ranking it for every shopper grow with its products."""
        self.products = products
        self.stage_estimates = measuring_estimates(job_id=self.job_id, device=device, products=products)

    def measuring_estimate(self) -> float | None:
        """Seconds left of the measuring: all of it before it starts; None without a last job's times,
        or once the running stage has outlasted its estimate (there is then nothing honest to say)."""
        estimates = self.stage_estimates
        if not estimates:
            return None
        if self.stage is None:
            return sum(estimates.values())
        if self.stage not in estimates:
            return None
        left_in_this_stage = estimates[self.stage] - (time.monotonic() - self.stage_started)
        if left_in_this_stage <= 0:
            return None
        stages = list(estimates)
        return left_in_this_stage + sum(estimates[name] for name in stages[stages.index(self.stage) + 1 :])

    def measuring_stage(self, stage: str, index: int, count: int, **params) -> None:
        """A stage of the measuring after training: the bar moves through the share left to it, the
        log says what is being done, and the ETA is the last job's times for what is left."""
        self._end_stage()
        self.stage, self.stage_started = stage, time.monotonic()
        self.log(f"measuring_{stage}", **params)
        self._update(
            progress=TRAINING_SHARE_OF_THE_BAR + (1 - TRAINING_SHARE_OF_THE_BAR) * index / count,
            eta_seconds=self.measuring_estimate(),
            measuring_times=self.measuring_times(),
        )

    def heartbeat_fields(self) -> dict:
        """Between two stages the ETA counts down with the heartbeats (see _Heartbeat)."""
        return {} if self.stage is None else {"eta_seconds": self.measuring_estimate()}

    def measuring_done(self) -> dict:
        """The fields that record the measuring's times, its last stage ended now (the version saved)."""
        self._end_stage()
        self.stage = None
        return {"measuring_times": self.measuring_times()}

    def measuring_times(self) -> dict:
        # A list, not an object: PostgreSQL's jsonb does not keep the stages' order.
        stages = [{"stage": name, "seconds": round(seconds, 1)} for name, seconds in self.stage_seconds.items()]
        return {"products": self.products, "stages": stages}

    def _end_stage(self) -> None:
        if self.stage is not None:
            self.stage_seconds[self.stage] = time.monotonic() - self.stage_started

    def cancel_requested(self) -> bool:
        """Stop before the next step: a member asked to cancel, or the job is no longer this run's
        (taken back as stuck, cancelled from the ops console, claimed by another worker)."""
        # One indexed read per step; between the last stages too (training.ml.pipeline).
        self.last_activity = time.monotonic()
        return not this_run(self.job_id, self.run_number).filter(cancel_requested=False).exists()


def measuring_estimates(*, job_id: int, device: str, products: int) -> dict[str, float] | None:
    """{stage: seconds}, in the stages' order, from the store's last succeeded job on `device` that
    timed them, scaled by how many products this catalog has against that job's; None without one."""
    last = (
        TrainingJob.objects.filter(status=JobStatus.SUCCEEDED, device=device)
        .exclude(pk=job_id)
        .exclude(measuring_times={})
        .order_by("-finished_at")
        .values_list("measuring_times", flat=True)
        .first()
    )
    if not last or not last.get("stages") or not last.get("products") or not products:
        return None
    scale = products / last["products"]
    return {entry["stage"]: entry["seconds"] * scale for entry in last["stages"]}
