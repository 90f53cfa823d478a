"""Reads for the merchant dashboard: one small summary per tile, each selector taking the tenant.

Every read goes through the tenant-scoped managers and also filters by the tenant it is given,
so the manager is the second wall. The figures come from the helpers the pages behind the tiles
use (training.presentation, experiments.presentation): a tile never disagrees with its page.
The dashboard is the page every member opens first, so each tile costs one or two queries;
only the experiments' verdicts cost more, and they are read for the running experiments only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from catalog.models import Event, Product, ProductImport
from catalog.selectors.products import product_import_list
from catalog.services.imports import catalog_imports_lost_fail
from courses.labs.sandbox import sandbox_get
from courses.models import Certificate, Enrollment
from courses.selectors import CourseProgress, course_progress_list
from experiments.analysis import experiment_results
from experiments.models import Experiment, ExperimentStatus
from experiments.presentation import MetricTable, ResultRow, metric_table
from experiments.selectors import experiment_list
from tenants.models import ApiKey, Membership, Tenant
from training.models import ACTIVE_JOB_STATUSES, ModelVersion
from training.presentation import TABLE_METRICS, MetricRow, job_progress, metrics_table
from training.selectors import live_version, training_data_size, training_job_list

EVENT_DAYS = 30
# A tenant runs one experiment at a time (a database constraint); the cap keeps the page cheap
# should that ever change, as each verdict is a full analysis.
VERDICT_CACHE_SECONDS = 60
MAX_EXPERIMENTS = 3
# More active jobs than this is an unusual queue: the tile shows these and links to the rest.
MAX_JOBS = 5
# The chart compares ranking quality; coverage is on another scale, so it stays in the table.
CHART_METRICS = ("ndcg@10", "recall@10", "hr@10", "mrr@10")


# --- Catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogSummary:
    products: int
    in_stock: int
    last_import: ProductImport | None


def catalog_summary(*, tenant: Tenant) -> CatalogSummary:
    # As the import pages do: an import whose worker is lost shows as failed, not as importing.
    catalog_imports_lost_fail(tenant=tenant)
    counts = Product.objects.filter(tenant=tenant).aggregate(
        products=Count("id"), in_stock=Count("id", filter=Q(in_stock=True))
    )
    return CatalogSummary(
        products=counts["products"],
        in_stock=counts["in_stock"],
        last_import=product_import_list(tenant=tenant).first(),
    )


def active_api_key_count(*, tenant: Tenant) -> int:
    return ApiKey.objects.filter(tenant=tenant, revoked=False).count()


# --- Shopper events per day ------------------------------------------------------------------


@dataclass(frozen=True)
class EventDay:
    day: dt.date
    count: int


@dataclass(frozen=True)
class EventSeries:
    days: list[EventDay]  # oldest first, every day there

    @property
    def total(self) -> int:
        return sum(day.count for day in self.days)

    @property
    def busiest(self) -> EventDay | None:
        """The day with the most events (the latest of equals); None when there were none."""
        return max(reversed(self.days), key=lambda day: day.count) if self.total else None

    def chart_data(self) -> dict:
        """Chart.js data: the days in the user's language ("January 3", "1月3日") and their counts."""
        return {
            "label": _("Shopper events"),
            "labels": [date_format(day.day, "MONTH_DAY_FORMAT") for day in self.days],
            "counts": [day.count for day in self.days],
        }


def event_counts_by_day(*, tenant: Tenant, days: int = EVENT_DAYS) -> EventSeries:
    """Events on each of the last `days` days, oldest first, today included; a day without
    events is there with 0, so the chart's gaps are real gaps.

    One query grouped by day in the database (TruncDate works on SQLite and PostgreSQL); days
    are the site's time zone's, by when the shopper acted. An event dated after today (a
    storefront's clock running fast) waits for its day rather than landing on today.
    """
    today = timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    since = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    until = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))
    counts = dict(
        Event.objects.filter(tenant=tenant, occurred_at__gte=since, occurred_at__lt=until)
        .annotate(day=TruncDate("occurred_at"))
        .order_by()
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    return EventSeries([
        EventDay(day=day, count=counts.get(day, 0))
        for day in (first + dt.timedelta(days=offset) for offset in range(days))
    ])


# --- The live model beside the baselines -----------------------------------------------------


@dataclass(frozen=True)
class LiveModelSummary:
    version: ModelVersion
    rows: list[MetricRow]  # the validation table of the versions page, ours first

    @property
    def headline(self) -> float | None:
        """Our model's NDCG@10 on validation, the figure promotion compares."""
        return self.version.validation_metric("ndcg@10")

    def chart_data(self) -> dict:
        """Chart.js data for a grouped bar chart: one group per metric, one bar per scorer."""
        positions = [list(TABLE_METRICS).index(metric) for metric in CHART_METRICS]
        return {
            "labels": [str(TABLE_METRICS[metric]) for metric in CHART_METRICS],
            "datasets": [
                {"label": row.label, "ours": row.ours, "data": [row.cells[i].value for i in positions]}
                for row in self.rows
            ],
        }


def live_model_summary(*, tenant: Tenant) -> LiveModelSummary | None:
    """The live version with its validation metrics beside the baselines'; None when none is live."""
    version = live_version(tenant=tenant)
    if version is None:
        return None
    return LiveModelSummary(version=version, rows=metrics_table((version.metrics or {}).get("validation")))


def model_versions_exist(*, tenant: Tenant) -> bool:
    """Whether the tenant has a version at all: with none live, the next step differs."""
    return ModelVersion.objects.filter(tenant=tenant).exists()


# --- Fine-tuning jobs ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveJobs:
    rows: list[dict]  # {"job", "progress"}: progress is training.presentation.job_progress's
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def active_jobs(*, tenant: Tenant, limit: int = MAX_JOBS) -> ActiveJobs:
    """The queued and running jobs, in queue order (the running one first, then those waiting),
    with the progress figures the job pages show."""
    jobs = training_job_list(tenant=tenant).filter(status__in=ACTIVE_JOB_STATUSES)
    shown = list(jobs.order_by("created_at", "id")[:limit])
    total = len(shown) if len(shown) < limit else jobs.count()
    return ActiveJobs(rows=[{"job": job, "progress": job_progress(job)} for job in shown], total=total)


# --- Running experiments ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunningExperiment:
    experiment: Experiment
    primary: MetricTable  # the experiment page's primary table: each treatment's verdict
    # The split served differs from the design beyond chance: as on its page, no verdict holds.
    sample_ratio_flagged: bool = False

    @property
    def control(self) -> str:
        return next((row.name for row in self.primary.rows if row.is_control), "")

    @property
    def treatments(self) -> list[ResultRow]:
        return [row for row in self.primary.rows if not row.is_control]


def running_experiments(*, tenant: Tenant, limit: int = MAX_EXPERIMENTS) -> list[RunningExperiment]:
    """The running experiments, each with the verdicts its page shows on the primary metric.

    The analysis reads every served list and event of the experiment, and the dashboard is the
    page every member lands on: its primary metric is kept for VERDICT_CACHE_SECONDS. What is
    cached is numbers (the metric and the variants), so the labels follow each viewer's language.
    """
    running = experiment_list(tenant=tenant).filter(status=ExperimentStatus.RUNNING)[:limit]
    summaries = []
    for experiment in running:
        # started_at in the key: an experiment started again is analysed afresh.
        started = experiment.started_at.timestamp() if experiment.started_at else 0
        key = f"dashboard:verdict:{tenant.pk}:{experiment.pk}:{started}"
        analysed = cache.get(key)
        if analysed is None:
            results = experiment_results(tenant=tenant, experiment=experiment)
            analysed = (results.primary, results.variants, results.sample_ratio.flagged)
            cache.set(key, analysed, VERDICT_CACHE_SECONDS)
        primary, variants, flagged = analysed
        summaries.append(RunningExperiment(experiment, metric_table(primary, variants), flagged))
    return summaries


# --- The team's learning ---------------------------------------------------------------------


@dataclass(frozen=True)
class LearningSummary:
    enrollments: int
    learners: int
    completed: int
    certificates: int


def learning_summary(*, tenant: Tenant) -> LearningSummary:
    """The tenant's members' enrolments (platform courses included) and certificates issued."""
    enrollments = Enrollment.objects.filter(tenant=tenant).aggregate(
        enrollments=Count("id"),
        learners=Count("membership", distinct=True),
        completed=Count("id", filter=Q(completed_at__isnull=False)),
    )
    return LearningSummary(**enrollments, certificates=Certificate.objects.filter(tenant=tenant).count())


# --- A learner's own dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class LearnerCourse:
    enrollment: Enrollment
    progress: CourseProgress
    certificate: Certificate | None


@dataclass(frozen=True)
class LearnerSummary:
    """What a learner of a real store sees on the dashboard: their own courses and their sandbox,
    none of the store's figures (tenants.web.member_required says why)."""

    courses: list[LearnerCourse]
    sandbox: Tenant | None


def learner_summary(*, tenant: Tenant, membership: Membership) -> LearnerSummary:
    """The same few queries however many courses the learner took: the enrollments with their
    courses and certificates in one, their progress in grouped ones (course_progress_list)."""
    enrollments = list(
        Enrollment.objects.filter(tenant=tenant, membership=membership).select_related("course", "certificate")
    )
    progress = course_progress_list(tenant=tenant, enrollments=enrollments)
    courses = [
        LearnerCourse(
            enrollment=enrollment,
            progress=enrollment_progress,
            certificate=getattr(enrollment, "certificate", None),
        )
        for enrollment, enrollment_progress in zip(enrollments, progress, strict=True)
    ]
    return LearnerSummary(courses=courses, sandbox=sandbox_get(tenant=tenant, user=membership.user))


# --- Getting started -------------------------------------------------------------------------


@dataclass(frozen=True)
class GettingStarted:
    """A new store's way to its first live model, step by step: shown until the model is live."""

    products: int
    events: int  # that training may learn from
    shoppers: int
    needed_events: int
    needed_shoppers: int
    model_trained: bool
    model_live: bool

    @property
    def catalog_done(self) -> bool:
        return self.products > 0

    @property
    def events_done(self) -> bool:
        return self.events >= self.needed_events and self.shoppers >= self.needed_shoppers

    @property
    def all_done(self) -> bool:
        return self.catalog_done and self.events_done and self.model_trained and self.model_live


def getting_started(*, tenant: Tenant, products: int, versions_exist: bool, model_live: bool) -> GettingStarted | None:
    """None once the store has a live model: nothing left to start."""
    if model_live:
        return None
    events, shoppers = training_data_size(tenant=tenant)
    return GettingStarted(
        products=products, events=events, shoppers=shoppers,
        needed_events=settings.TRAINING_MIN_EVENTS, needed_shoppers=settings.TRAINING_MIN_SHOPPERS,
        model_trained=versions_exist, model_live=model_live,
    )
