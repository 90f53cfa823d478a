"""Lab checks: what a lab step asks of the learner's sandbox, and whether it is there.

A check is a plain function `(sandbox) -> CheckResult`, registered under a
name that a lab step stores. It only reads (but for failing a lost catalog import, as every read
of the imports does), and it runs inside the sandbox's tenant scope (`lab_check_run` sets it).
A failing check's message says what is missing and where in the product to
fix it, because the learner reads it as the next thing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext

from catalog.models import ImportStatus, ProductImport
from catalog.services.imports import catalog_imports_lost_fail
from experiments.models import Experiment, ExperimentStatus, VariantKind
from recommendations.models import ServedRecommendation
from tenants.models import ApiKey, ApiKeyKind, Tenant
from tenants.scope import tenant_scope
from training.models import ACTIVE_JOB_STATUSES, JobStatus, ModelVersion, TrainingJob, VersionStatus

CATALOG_MIN_PRODUCTS = 50


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str  # in the language of the check
    # A pass is stored and shown again later, maybe in another language: its message untranslated
    # (marked with gettext_noop) and the parameters it is formatted with. Empty for a fail.
    message_id: str = ""
    params: dict = field(default_factory=dict)


def _passed(message_id: str, **params) -> CheckResult:
    """A pass that can be shown again in the reader's language (LabStepCompletion.message_shown)."""
    return CheckResult(True, _(message_id) % params, message_id, params)


@dataclass(frozen=True)
class LabCheck:
    name: str
    title: Promise  # lazy: shown in the learner's language
    function: Callable[[Tenant], CheckResult]


LAB_CHECKS: dict[str, LabCheck] = {}


class UnknownLabCheck(LookupError):
    """A lab step names a check that is not registered (renamed, or a typo)."""


class NotASandbox(ValueError):
    """Checks run on a learner's sandbox only: a live store would pass labs nobody did."""


def lab_check(name: str, *, title: Promise) -> Callable:
    """Register the decorated function as the check `name`."""

    def register(function: Callable[[Tenant], CheckResult]) -> Callable[[Tenant], CheckResult]:
        if name in LAB_CHECKS:
            raise ImproperlyConfigured(f"Two lab checks are named {name!r}.")
        LAB_CHECKS[name] = LabCheck(name=name, title=title, function=function)
        return function

    return register


def lab_check_run(*, name: str, sandbox: Tenant) -> CheckResult:
    check = LAB_CHECKS.get(name)
    if check is None:
        raise UnknownLabCheck(
            f"No lab check is named {name!r}; the registered ones are: {', '.join(sorted(LAB_CHECKS))}."
        )
    if sandbox.sandbox_of_id is None:
        raise NotASandbox(f"Tenant {sandbox.pk} is a live store, not a sandbox: lab checks run on sandboxes.")
    with tenant_scope(sandbox):
        return check.function(sandbox)


@lab_check(
    "catalog_import_of_50_products", title=gettext_lazy("A catalog file of at least 50 products, imported")
)
def catalog_import_of_50_products(sandbox: Tenant) -> CheckResult:
    """The learner's own import, not the sample the sandbox was seeded with: the seed alone would pass."""
    # The one write of a check, as on the import pages: a lost import is said to have failed,
    # not to be still running, or the learner would wait for it forever.
    catalog_imports_lost_fail(tenant=sandbox)
    imports = ProductImport.objects.filter(tenant=sandbox)
    best = (
        imports.filter(status=ImportStatus.SUCCEEDED)
        .annotate(products=F("created_count") + F("updated_count"))
        .order_by("-products")
        .first()
    )
    if best is not None and best.products >= CATALOG_MIN_PRODUCTS:
        return _passed(
            gettext_noop("Your import of %(file)s brought %(count)d products."),
            file=best.filename,
            count=best.products,
        )
    latest = imports.order_by("-created_at").first()
    if latest is None:
        return CheckResult(
            False,
            _(
                "You have not imported a catalog file into your sandbox yet: import one with at least %(least)d "
                "products (Import, in the top menu)."
            )
            % {"least": CATALOG_MIN_PRODUCTS},
        )
    if latest.is_active:
        return CheckResult(
            False,
            _("Your import of %(file)s is still running: check again once its page says it is done.")
            % {"file": latest.filename},
        )
    if latest.status == ImportStatus.FAILED:
        return CheckResult(
            False,
            ngettext(
                "Your last import (%(file)s) failed with %(errors)d error and stored nothing: fix the row it "
                "names and import it again.",
                "Your last import (%(file)s) failed with %(errors)d errors and stored nothing: fix the rows it "
                "names and import it again.",
                latest.error_count,
            )
            % {"file": latest.filename, "errors": latest.error_count},
        )
    return CheckResult(
        False,
        ngettext(
            "Your largest import brought %(count)d product; import a file with at least %(least)d.",
            "Your largest import brought %(count)d products; import a file with at least %(least)d.",
            best.products if best else 0,
        )
        % {"count": best.products if best else 0, "least": CATALOG_MIN_PRODUCTS},
    )


@dataclass(frozen=True)
class _JobMessages:
    """A method's messages, whole sentences each: a method's name put into a shared sentence
    reads badly in one language or another ("No full fine-tuning fine-tuning job", "没有 全量微调 任务").
    Marked with gettext_noop and translated when used."""

    succeeded: str
    active: str
    ended: str
    none: str


_JOB_MESSAGES = {
    "lora": _JobMessages(
        succeeded=gettext_noop("Your LoRA job #%(id)d succeeded."),
        active=gettext_noop(
            "Your LoRA job #%(id)d is %(status)s: wait until it succeeds (Fine-tuning), then check again."
        ),
        ended=gettext_noop(
            "Your LoRA job #%(id)d ended %(status)s: read its log (Fine-tuning → the job), then start "
            "another with a LoRA preset."
        ),
        none=gettext_noop(
            "No LoRA job yet: start one with a LoRA preset (Fine-tuning → New fine-tuning job)."
        ),
    ),
    "full": _JobMessages(
        succeeded=gettext_noop("Your full fine-tuning job #%(id)d succeeded."),
        active=gettext_noop(
            "Your full fine-tuning job #%(id)d is %(status)s: wait until it succeeds (Fine-tuning), "
            "then check again."
        ),
        ended=gettext_noop(
            "Your full fine-tuning job #%(id)d ended %(status)s: read its log (Fine-tuning → the job), "
            "then start another with the preset Full fine-tuning."
        ),
        none=gettext_noop(
            "No full fine-tuning job yet: start one with the preset Full fine-tuning "
            "(Fine-tuning → New fine-tuning job)."
        ),
    ),
}


def _job_succeeded(sandbox: Tenant, method: str) -> CheckResult:
    said = _JOB_MESSAGES[method]
    jobs = TrainingJob.objects.filter(tenant=sandbox, config__method=method)
    succeeded = jobs.filter(status=JobStatus.SUCCEEDED).first()
    if succeeded is not None:
        return _passed(said.succeeded, id=succeeded.number)
    active = jobs.filter(status__in=ACTIVE_JOB_STATUSES).first()
    if active is not None:
        return CheckResult(
            False, _(said.active) % {"id": active.number, "status": active.get_status_display().lower()}
        )
    ended = jobs.first()  # newest first
    if ended is not None:
        return CheckResult(
            False, _(said.ended) % {"id": ended.number, "status": ended.get_status_display().lower()}
        )
    return CheckResult(False, _(said.none))


@lab_check("lora_job_succeeded", title=gettext_lazy("A LoRA fine-tuning job that succeeded"))
def lora_job_succeeded(sandbox: Tenant) -> CheckResult:
    return _job_succeeded(sandbox, "lora")


@lab_check("full_fine_tune_job_succeeded", title=gettext_lazy("A full fine-tuning job that succeeded"))
def full_fine_tune_job_succeeded(sandbox: Tenant) -> CheckResult:
    return _job_succeeded(sandbox, "full")


def _versions_compared(experiment: Experiment, live_version_id: int | None) -> set[int]:
    """The model versions an experiment serves: each model_version variant's, and the live
    version where a variant serves the live model. Popularity serves no version."""
    versions = set()
    for variant in experiment.variants.all():
        if variant.kind == VariantKind.MODEL_VERSION:
            versions.add(variant.model_version_id)
        elif variant.kind == VariantKind.LIVE and live_version_id is not None:
            versions.add(live_version_id)
    return versions


@lab_check(
    "experiment_comparing_two_versions_started",
    title=gettext_lazy("An experiment comparing two model versions that has been started"),
)
def experiment_comparing_two_versions_started(sandbox: Tenant) -> CheckResult:
    """Passes when an experiment that was started (running, or stopped since) serves at least
    two different model versions. A live variant counts as the version live *now*: a stopped
    experiment whose live variant has since been promoted into its other variant's version
    no longer counts, which is rare and fixed by starting another."""
    live_version_id = (
        ModelVersion.objects.filter(tenant=sandbox, status=VersionStatus.LIVE)
        .values_list("pk", flat=True)
        .first()
    )
    started = list(
        Experiment.objects.filter(
            tenant=sandbox, status__in=[ExperimentStatus.RUNNING, ExperimentStatus.STOPPED]
        ).prefetch_related("variants")
    )
    for experiment in started:
        if len(_versions_compared(experiment, live_version_id)) >= 2:
            return _passed(
                gettext_noop("Your experiment “%(key)s” compares two model versions and has started."),
                key=experiment.key,
            )
    if started:
        return CheckResult(
            False,
            _(
                "Your experiment “%(key)s” has started but does not compare two model versions: create one "
                "whose variants serve two different model versions (or one version against the live model, "
                "when that is another version), then start it (Experiments → New experiment)."
            )
            % {"key": started[0].key},
        )
    draft = Experiment.objects.filter(tenant=sandbox, status=ExperimentStatus.DRAFT).first()
    if draft is not None:
        return CheckResult(
            False,
            _("Your experiment “%(key)s” is still a draft: start it (Experiments → “%(key)s” → Start).")
            % {"key": draft.key},
        )
    return CheckResult(
        False,
        _(
            "No experiment yet: create one whose variants serve two different model versions, then start it "
            "(Experiments → New experiment)."
        ),
    )


@lab_check(
    "recommendations_called_with_publishable_key",
    title=gettext_lazy("A recommendations call made with a publishable key"),
)
def recommendations_called_with_publishable_key(sandbox: Tenant) -> CheckResult:
    """Passes when the sandbox served a list from the recommendations endpoint to a call made
    with a publishable key: the served list records the kind of key that asked for it."""
    keys = ApiKey.objects.filter(tenant=sandbox, kind=ApiKeyKind.PUBLISHABLE)
    if not keys.exists():
        return CheckResult(
            False, _("Your sandbox has no publishable key: issue one of kind Publishable (API keys).")
        )
    if ServedRecommendation.objects.filter(
        tenant=sandbox, endpoint="recommendations", api_key_kind=ApiKeyKind.PUBLISHABLE
    ).exists():
        return _passed(gettext_noop("Your sandbox served recommendations to a call made with a publishable key."))
    if not keys.filter(last_used_at__isnull=False).exists():
        return CheckResult(
            False,
            _(
                "Your publishable key has not been used yet: call GET /api/v1/recommendations with the header "
                "“Authorization: Bearer pk_…”."
            ),
        )
    return CheckResult(
        False,
        _(
            "Your publishable key was used, but no call to /api/v1/recommendations made with it is recorded "
            "(/similar, /search and calls with a secret key do not count). Calls are recorded within a "
            "minute: make one, then check again shortly."
        ),
    )


@lab_check("model_version_promoted", title=gettext_lazy("A model version promoted by hand"))
def model_version_promoted(sandbox: Tenant) -> CheckResult:
    """Passes when the live version was made live by a person (promote or roll back),
    not by automatic promotion after training, which leaves promoted_by empty. A fail names
    the button of the newest version that is not live: every such version has one."""
    versions = ModelVersion.objects.filter(tenant=sandbox)  # newest first
    live = versions.filter(status=VersionStatus.LIVE).first()
    if live is not None and live.promoted_by_id is not None:
        return _passed(gettext_noop("v%(number)d is live, promoted by hand."), number=live.number)
    other = versions.exclude(status=VersionStatus.LIVE).first()
    if live is None and other is None:
        return CheckResult(
            False,
            _(
                "You have no model version yet: fine-tune one (Fine-tuning → New fine-tuning job), then make "
                "it live by hand on the Models page."
            ),
        )
    if live is None:
        return CheckResult(
            False,
            _("No model version is live: make one live by hand (Models → Make v%(number)d live).")
            % {"number": other.number},
        )
    if other is None:
        return CheckResult(
            False,
            _(
                "v%(number)d went live by itself after training and is your only version: fine-tune another "
                "(Fine-tuning → New fine-tuning job), then make a version live by hand on the Models page."
            )
            % {"number": live.number},
        )
    return CheckResult(
        False,
        _(
            "v%(live)d went live by itself after training: make a version live by hand "
            "(Models → Make v%(other)d live)."
        )
        % {"live": live.number, "other": other.number},
    )
