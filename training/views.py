"""The fine-tuning pages of the merchant UI: jobs (list, new, detail with live progress, cancel,
retry) and model versions (their metrics beside the baselines', promote, rollback).

Cancel, promote and rollback each have a confirmation page (GET) that says what the action
will do; its form posts to the action, which stays POST-only.

Jobs and versions are read through their tenant-scoped managers: another tenant's id is a 404.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import RedirectView
from django_htmx.http import HttpResponseClientRefresh

from courses.gating import CertificateRequired
from courses.gating_views import certificate_required_message
from tenants.web import member_required
from training.ml.config import TrainConfig, default_learning_rate
from training.models import JobStatus, ModelVersion, TrainingJob
from training.presentation import (
    TABLE_METRICS,
    base_model_display,
    epoch_curves,
    humanise_seconds,
    job_duration_seconds,
    job_email_note,
    job_failure_message,
    job_progress,
    log_line,
    staff_actions_on,
    version_tables,
    without_server_paths,
)
from training.selectors import (
    live_version,
    model_version_get,
    model_version_list,
    model_version_rollback_target,
    training_job_get,
    training_job_list,
)
from training.services.jobs import (
    JobStateError,
    can_email_when_done,
    training_data_shortfall,
    training_job_cancel,
    training_job_create,
    training_job_retry,
)
from training.services.versions import (
    PromotionError,
    experiment_on_the_live_model,
    model_version_promote,
    model_version_promotion_check,
    model_version_rollback,
    search_cost,
    tenant_auto_promote_set,
)

JOBS_PER_PAGE = 25
VERSIONS_PER_PAGE = 10
CONFIG_FIELDS = frozenset(item.name for item in dataclasses.fields(TrainConfig))
CONFIG_DEFAULTS = {
    item.name: item.default for item in dataclasses.fields(TrainConfig) if item.default is not dataclasses.MISSING
}


# --- The new-job form ------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    label: str
    description: str
    settings: dict


PRESETS = {
    "quick_lora": Preset(
        gettext_lazy("Quick LoRA"),
        gettext_lazy("LoRA adapters, 2 epochs: a first model quickly."),
        {"method": "lora", "epochs": 2},
    ),
    "thorough_lora": Preset(
        gettext_lazy("Thorough LoRA"),
        gettext_lazy("LoRA adapters, 5 epochs at learning rate 5e-4: slower, usually better."),
        {"method": "lora", "epochs": 5, "learning_rate": 5e-4},
    ),
    "full": Preset(
        gettext_lazy("Full fine-tuning"),
        gettext_lazy("Every weight but the 2 lowest layers, 3 epochs at learning rate 5e-5: the slowest."),
        {"method": "full", "epochs": 3, "learning_rate": 5e-5, "freeze_layers": 2},
    ),
}
CUSTOM_PRESET = "custom"
DEFAULT_METHOD = CONFIG_DEFAULTS["method"]


class TrainingJobForm(forms.Form):
    """A preset, and the advanced settings that override it; settings left empty keep the
    preset's value, or the default. The service validates the values: its errors are put
    beside their fields (see `_add_service_errors`)."""

    preset = forms.ChoiceField(
        label=gettext_lazy("Preset"),
        required=False,
        initial="quick_lora",
        widget=forms.RadioSelect,
        choices=[(key, preset.label) for key, preset in PRESETS.items()]
        + [(CUSTOM_PRESET, gettext_lazy("Custom: the defaults and the settings below"))],
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        required=False,
        choices=[("", gettext_lazy("As in the preset")), ("lora", gettext_lazy("LoRA adapters")),
                 ("full", gettext_lazy("Full fine-tuning"))],
    )
    epochs = forms.IntegerField(label=gettext_lazy("Epochs"), required=False)
    learning_rate = forms.FloatField(
        label=gettext_lazy("Learning rate"), required=False,
        help_text=gettext_lazy("For example 1e-3 or 5e-5."),
    )
    batch_size = forms.IntegerField(label=gettext_lazy("Batch size"), required=False)
    lora_rank = forms.IntegerField(label=gettext_lazy("LoRA rank"), required=False,
                                   help_text=gettext_lazy("LoRA only."))
    freeze_layers = forms.IntegerField(
        label=gettext_lazy("Frozen layers"), required=False,
        help_text=gettext_lazy("Full fine-tuning only: the lowest layers that stay as they are."),
    )
    base_model = forms.CharField(
        label=gettext_lazy("Base model folder"), required=False, max_length=500,
        help_text=gettext_lazy("The name of a folder with a Hugging Face encoder (its config.json) in "
                               "the platform's base-model folders, or its full path. Empty: your usual "
                               "base model."),
    )

    email_when_done = forms.BooleanField(
        # A checkbox's label follows it, and a colon would leave it hanging.
        label=gettext_lazy("Email me when it ends"), label_suffix="", required=False, initial=True,
        help_text=gettext_lazy("How it ended: the version made and how it compares, or why it failed."),
    )

    ADVANCED = ("method", "epochs", "learning_rate", "batch_size", "lora_rank", "freeze_layers", "base_model")

    def __init__(self, *args, can_email: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_email:  # no email to send it by, or no address to send it to
            del self.fields["email_when_done"]
        # The page says an empty setting keeps the default: each input shows which value that is,
        # read from TrainConfig so that the page cannot drift from what the job gets.
        for name in ("epochs", "batch_size", "lora_rank", "freeze_layers"):
            self.fields[name].widget.attrs["placeholder"] = str(CONFIG_DEFAULTS[name])
        # The learning rate's default depends on the method, which the preset or the field above picks.
        # Translators: the empty learning-rate input's hint: the default rate of each method.
        self.fields["learning_rate"].widget.attrs["placeholder"] = _("%(lora)s (LoRA), %(full)s (full)") % {
            "lora": f"{default_learning_rate('lora'):g}",
            "full": f"{default_learning_rate('full'):g}",
        }

    def advanced_fields(self):
        return [self[name] for name in self.ADVANCED]

    def _preset_and_given(self) -> tuple[dict, dict]:
        preset = PRESETS.get(self.cleaned_data.get("preset") or CUSTOM_PRESET)
        given = {
            name: self.cleaned_data[name]
            for name in self.ADVANCED
            if self.cleaned_data.get(name) not in (None, "")
        }
        settings = dict(preset.settings) if preset else {}
        if given.get("method") and given["method"] != settings.get("method", given["method"]):
            # Another method than the preset's: its learning rate and layers were chosen for its own
            # method (a LoRA rate is ten times a full fine-tuning one); only its epochs carry over.
            settings = {"epochs": settings["epochs"]} if "epochs" in settings else {}
        return settings, given

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        settings, given = self._preset_and_given()
        method = given.get("method") or settings.get("method") or DEFAULT_METHOD
        # A setting of the other method would be stored and never used: said, not kept silently.
        if method == "lora" and given.get("freeze_layers"):
            self.add_error("freeze_layers", gettext_lazy("Frozen layers apply to full fine-tuning only; this job uses LoRA."))
        if method == "full" and given.get("lora_rank"):
            self.add_error("lora_rank", gettext_lazy("The LoRA rank applies to LoRA only; this job fine-tunes every weight."))
        return cleaned

    def settings_given(self) -> dict:
        """The preset's settings, then the advanced ones that were filled in; nothing else."""
        settings, given = self._preset_and_given()
        return {**settings, **given}


def _add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Each error beside its field; a setting the form does not show, or a reason that is not
    about one setting (too little data, a job already running), above the form."""
    for key, reasons in error.message_dict.items():
        for reason in map(without_server_paths, reasons):  # a base model by its name, not its path
            if key in form.fields:
                form.add_error(key, reason)
            elif key in CONFIG_FIELDS:
                form.add_error(None, f"{key}: {reason}")
            else:
                form.add_error(None, reason)


# --- Views -----------------------------------------------------------------------------------


def _job_or_404(request, job_id: int) -> TrainingJob:
    try:
        return training_job_get(tenant=request.tenant, job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404


@member_required
def training_job_list_view(request):
    status = request.GET.get("status", "")
    if status not in JobStatus.values:
        status = ""  # an unknown filter shows every job rather than none
    jobs = training_job_list(tenant=request.tenant, status=status)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    positions = _version_positions(request.tenant)
    rows = []
    for job in page.object_list:
        version = _version_of(job)
        rows.append({
            "job": job, "progress": job_progress(job), "duration": humanise_seconds(job_duration_seconds(job)),
            # What came of it, at a glance: its version, or why it failed.
            "version": version, "version_url": _version_url(version, positions) if version else "",
            "failure": without_server_paths(job_failure_message(job)),
        })
    any_active = any(row["job"].is_active for row in rows)
    return render(request, "training/job_list.html", {
        "page": page, "rows": rows, "any_active": any_active,
        "status": status, "statuses": JobStatus.choices,
        "filtered_empty": bool(status) and not rows,
    })


def _version_of(job: TrainingJob) -> ModelVersion | None:
    try:
        return job.version
    except ModelVersion.DoesNotExist:
        return None


@member_required(manage=True)
def training_job_new_view(request):
    form = TrainingJobForm(request.POST or None, can_email=can_email_when_done(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            job = training_job_create(
                tenant=request.tenant, settings_given=form.settings_given(), created_by=request.user,
                email_when_done=form.cleaned_data.get("email_when_done", False),
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, _("Job #%(id)d is queued: it starts when a training worker is free.")
                             % {"id": job.number})
            return redirect("training-job-detail", job_id=job.pk)
    # Said before the form is filled in, not only once it is sent: the dashboard's first steps say it
    # too, but the fine-tuning pages invite a first job whatever the data.
    shortfall = None if form.is_bound else training_data_shortfall(tenant=request.tenant)
    context = {"form": form, "presets": PRESETS, "data_shortfall": shortfall}
    return render(request, "training/job_new.html", context)


def _version_positions(tenant) -> dict[int, int]:
    # The selector the list view pages through, so that both count the same versions in the same order.
    return {pk: position for position, pk in enumerate(model_version_list(tenant=tenant).values_list("pk", flat=True))}


def _version_url(version: ModelVersion, positions: dict[int, int] | None = None) -> str:
    """The version's card on the models page, on the page of the list that holds it: the list is
    paginated, so an older version's anchor is not on the first page."""
    positions = positions if positions is not None else _version_positions(version.tenant)
    page_number = positions[version.pk] // VERSIONS_PER_PAGE + 1
    query = f"?page={page_number}" if page_number > 1 else ""
    return f"{reverse('model-version-list')}{query}#version-{version.pk}"


def _job_progress_context(job: TrainingJob) -> dict:
    """What templates/training/_job_progress.html shows: the page and its fragment share it."""
    version = _version_of(job)
    return {
        "job": job,
        "progress": job_progress(job),
        "duration": humanise_seconds(job_duration_seconds(job)),
        "compute": humanise_seconds(job.compute_seconds) if job.compute_seconds else "",
        "version": version,
        "version_url": _version_url(version) if version else "",
        "failure": without_server_paths(job_failure_message(job)),
        # The English text where no reason in the reader's language says it all: a crash's
        # traceback, or a job that failed before reasons had codes.
        "error_details": without_server_paths(job.error)
        if job.status == JobStatus.FAILED and job.error_code in ("", "crashed") else "",
        "log_lines": [log_line(entry) for entry in job.log_entries],
        "email_note": job_email_note(job),
    }


def _job_settings(job: TrainingJob) -> list[tuple[str, object]]:
    """The settings the job trains with, as the new-job form names them: what was asked for,
    presets and defaults included."""
    config = job.config
    rows = [
        (_("Method"), _("LoRA adapters") if config.get("method") == "lora" else _("Full fine-tuning")),
        (_("Epochs"), config.get("epochs")),
        (_("Learning rate"), f"{config.get('learning_rate', 0):g}"),
        (_("Batch size"), config.get("batch_size")),
    ]
    if config.get("method") == "lora":
        rows.append((_("LoRA rank"), config.get("lora_rank")))
    else:
        rows.append((_("Frozen layers"), config.get("freeze_layers")))
    rows.append((_("Base model folder"), base_model_display(config.get("base_model"))))
    return rows


@member_required
def training_job_detail_view(request, job_id: int):
    job = _job_or_404(request, job_id)
    context = {
        "settings": _job_settings(job),
        **_job_progress_context(job),
        "curves": epoch_curves(job.epoch_metrics),
        "can_cancel": job.is_active,
        "can_retry": job.status in (JobStatus.FAILED, JobStatus.CANCELLED),
        "staff_actions": staff_actions_on(job),
    }
    return render(request, "training/job_detail.html", context)


@require_GET
def training_job_progress_fragment_view(request, job_id: int):
    """The job page's progress and log alone, which htmx swaps in every 2 s while the job is active."""
    if request.htmx and not request.user.is_authenticated:
        # The session ended while the page polled: reload it (which leads to the login page)
        # rather than swap the login form into the page.
        return HttpResponseClientRefresh()
    return _training_job_progress_fragment(request, job_id)


@member_required
def _training_job_progress_fragment(request, job_id: int):
    job = _job_or_404(request, job_id)
    if not request.htmx:
        # A fragment is no page to land on: someone who opened its address gets the job's page.
        return redirect("training-job-detail", job_id=job.pk)
    context = _job_progress_context(job)
    # The page's hx-get says the status and how many epochs it has drawn; one that does not say is
    # reloaded too.
    epoch_added = request.GET.get("epochs") != str(context["progress"]["epochs_recorded"])
    if request.GET.get("status") != job.status or epoch_added:
        # The outcome, the buttons and the curves lie outside the fragment: reload the whole page.
        return HttpResponseClientRefresh()
    # Still active, or ended with its email on the way: the fragment without polling ends the polls.
    return render(request, "training/_job_progress.html", context)


@require_POST
@member_required(manage=True)
def training_job_cancel_view(request, job_id: int):
    try:
        job = training_job_cancel(tenant=request.tenant, job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404
    except JobStateError as error:
        messages.error(request, str(error))
    else:
        if job.status == JobStatus.CANCELLED:
            messages.success(request, _("The job is cancelled."))
        else:
            messages.success(request, _("The job stops after its current training step."))
    return redirect("training-job-detail", job_id=job_id)


@require_GET
@member_required(manage=True)
def training_job_cancel_confirm_view(request, job_id: int):
    job = _job_or_404(request, job_id)
    if not job.is_active:
        # Finished since its page was drawn: the action would refuse, so say why now.
        messages.error(request, _("The job has already finished (%(status)s).") % {"status": job.get_status_display()})
        return redirect("training-job-detail", job_id=job.pk)
    return render(request, "training/job_cancel_confirm.html", {
        "job": job,
        "progress": job_progress(job),
        "running": job.status == JobStatus.RUNNING,
        "retry_goes_on_from": _what_a_retry_goes_on_from(job),
    })


def _what_a_retry_goes_on_from(job: TrainingJob) -> str:
    """What a retry after a cancel would train from, as training_job_retry and the run decide it:
    "fresh" (the data as it is then), "checkpoint" (the last measured epoch's, on the same data)
    or "start" (the first step again, on the same data)."""
    if job.data_as_of is None:  # never claimed since it was queued: no data fixed, nothing trained
        return "fresh"
    # The run writes a checkpoint after each measured epoch, epoch 0 included, and a cancel
    # leaves it in place (training.services.runs removes it only once a version is saved).
    return "checkpoint" if job.epoch_metrics else "start"


@require_POST
@member_required(manage=True)
def training_job_retry_view(request, job_id: int):
    try:
        job = training_job_retry(tenant=request.tenant, job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404
    except JobStateError as error:
        messages.error(request, str(error))
    else:
        if job.data_as_of is None:  # it failed for its data, or never started: no checkpoint to go on from
            messages.success(request, _("The job is queued again; it learns from your data as it is now."))
        else:
            messages.success(request, _("The job is queued again; it resumes from its last checkpoint."))
    return redirect("training-job-detail", job_id=job_id)


class AutoPromoteForm(forms.Form):
    auto_promote_models = forms.BooleanField(
        label=gettext_lazy("Promote better models automatically"),
        required=False,
        help_text=gettext_lazy(
            "After training, a version that beats the live one on the validation shoppers goes live by "
            "itself; not while an experiment compares the live model. Off: new versions wait as candidates."
        ),
    )


@member_required
def model_version_list_view(request):
    page = Paginator(model_version_list(tenant=request.tenant), VERSIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "versions": [version_tables(version) for version in page.object_list],
        "live": live_version(tenant=request.tenant),
        "roll_back_to": model_version_rollback_target(tenant=request.tenant),
        "metric_labels": list(TABLE_METRICS.values()),
        "auto_promote_form": AutoPromoteForm(initial={"auto_promote_models": request.tenant.auto_promote_models}),
        "held_for": experiment_on_the_live_model(tenant=request.tenant) if request.tenant.auto_promote_models else None,
    }
    return render(request, "training/version_list.html", context)


@require_POST
@member_required(manage=True)
def auto_promote_view(request):
    form = AutoPromoteForm(request.POST)
    form.is_valid()  # a checkbox: absent means no, nothing else can be wrong
    tenant = tenant_auto_promote_set(tenant=request.tenant, value=form.cleaned_data.get("auto_promote_models", False))
    if tenant.auto_promote_models:
        messages.success(request, _("A version that beats the live one goes live by itself after training."))
    else:
        messages.success(request, _("New versions wait as candidates until a manager promotes them."))
    return redirect("model-version-list")


@require_GET
@member_required(manage=True)
def model_version_promote_confirm_view(request, version_id: int):
    try:
        version = model_version_get(tenant=request.tenant, version_id=version_id)
    except ModelVersion.DoesNotExist:
        raise Http404
    if _promotion_refused(request, version):
        return redirect("model-version-list")
    live = live_version(tenant=request.tenant)
    again = version.metrics.get("live_on_this_validation") or {}
    return render(request, "training/version_promote_confirm.html", {
        "version": version,
        "live": live,
        "version_ndcg": version.validation_metric("ndcg@10"),
        "live_ndcg": live.validation_metric("ndcg@10") if live else None,
        # The live version measured on this version's own validation shoppers, when the worker did.
        "live_ndcg_on_these_shoppers": (
            again.get("ndcg@10") if live is not None and again.get("version_id") == live.pk else None
        ),
        # (its figure, the pretrained encoder's) when fine-tuning cost search: said before it goes live.
        "search_cost": search_cost(version),
    })


def _promotion_refused(request, version: ModelVersion) -> bool:
    """Whether model_version_promote would refuse the member this version, with its reason put in
    the messages: a confirmation that promises a switch the click cannot make would be false."""
    try:
        model_version_promotion_check(tenant=request.tenant, version=version, by=request.user)
    except CertificateRequired as error:
        certificate_required_message(request, error)
    except PromotionError as error:
        messages.error(request, str(error))
    else:
        return False
    return True


@require_POST
@member_required(manage=True)
def model_version_promote_view(request, version_id: int):
    try:
        version = model_version_promote(tenant=request.tenant, version_id=version_id, by=request.user)
    except ModelVersion.DoesNotExist:
        raise Http404
    except CertificateRequired as error:
        certificate_required_message(request, error)
    except PromotionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("v%(number)d is live.") % {"number": version.number})
    return redirect("model-version-list")


@require_GET
@member_required(manage=True)
def model_version_rollback_confirm_view(request):
    target = model_version_rollback_target(tenant=request.tenant)
    if target is None:
        messages.error(request, _("No earlier live version to roll back to."))
        return redirect("model-version-list")
    return render(request, "training/version_rollback_confirm.html", {
        "target": target,
        "live": live_version(tenant=request.tenant),
        "experiment": experiment_on_the_live_model(tenant=request.tenant),
    })


@require_POST
@member_required(manage=True)
def model_version_rollback_view(request):
    try:
        rollback = model_version_rollback(tenant=request.tenant, by=request.user)
    except PromotionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Rolled back: v%(number)d is live again.") % {"number": rollback.version.number})
        if rollback.stopped is not None:
            messages.warning(
                request,
                _("The experiment %(key)s compared the live model, so it has stopped: its results hold the "
                  "model it served until now.") % {"key": rollback.stopped.key},
            )
    return redirect("model-version-list")


urlpatterns = [
    # The README and people who type the address call the fine-tuning area /training/.
    path("", RedirectView.as_view(pattern_name="training-job-list"), name="training-home"),
    path("jobs/", training_job_list_view, name="training-job-list"),
    path("jobs/new/", training_job_new_view, name="training-job-new"),
    path("jobs/<int:job_id>/", training_job_detail_view, name="training-job-detail"),
    path("jobs/<int:job_id>/progress/", training_job_progress_fragment_view, name="training-job-progress-fragment"),
    path("jobs/<int:job_id>/cancel/", training_job_cancel_view, name="training-job-cancel"),
    path("jobs/<int:job_id>/cancel/confirm/", training_job_cancel_confirm_view, name="training-job-cancel-confirm"),
    path("jobs/<int:job_id>/retry/", training_job_retry_view, name="training-job-retry"),
    path("models/", model_version_list_view, name="model-version-list"),
    path("models/rollback/", model_version_rollback_view, name="model-version-rollback"),
    path("models/rollback/confirm/", model_version_rollback_confirm_view, name="model-version-rollback-confirm"),
    path("models/auto-promote/", auto_promote_view, name="model-auto-promote"),
    path("models/<int:version_id>/promote/", model_version_promote_view, name="model-version-promote"),
    path(
        "models/<int:version_id>/promote/confirm/", model_version_promote_confirm_view,
        name="model-version-promote-confirm",
    ),
]
