from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.scope import TenantOwned


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrainingJob(TenantOwned):
    """One fine-tuning run of a tenant's model, from queue to model version.

    A worker claims a queued job with a conditional update (queued -> running),
    so a redelivered task never trains twice; while it runs it writes a
    heartbeat, and a periodic task puts back in the queue, or fails, a job
    whose heartbeat stopped.
    """

    # 1, 2, 3... per tenant, as versions are: what the merchant's pages, the command line and the
    # API call the job. The primary key counts every tenant's jobs, so a store's first job read #4.
    number = models.PositiveIntegerField()
    config = models.JSONField(help_text="training.ml.config.TrainConfig.to_dict()")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    epoch = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    # One entry per finished epoch: {"epoch", "train_loss", "validation": {...}, "seconds"}.
    epoch_metrics = models.JSONField(default=list, blank=True)
    log_tail = models.TextField(blank=True)  # in English, for the API, the ops console and support
    # The same lines as {"code", "params"}, so each reader sees them in their language
    # (training.presentation.LOG_LINES); empty for jobs logged before they existed.
    log_entries = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=32, blank=True)
    compute_seconds = models.FloatField(default=0.0)
    # How long each stage after the training steps took ({"products": N, "stages": {stage: seconds}},
    # training.ml.pipeline.MEASURING_STAGES): the store's next job on this device estimates its own
    # from them, since those stages have no steps to count.
    measuring_times = models.JSONField(default=dict, blank=True)
    # How many times a worker started it: the reaper gives up after a few.
    attempts = models.PositiveIntegerField(default=0)
    # Which claim the running worker holds: every claim adds one and nothing resets it (a retry
    # resets attempts). A worker writes only while the row still carries its number, so one that
    # comes back after its job was taken back and claimed again changes nothing, and stops.
    run_number = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)  # in English, with the traceback of a crash
    # Why it failed, said in the reader's language (training.presentation.FAILURES), with
    # `error_params`; empty for jobs that failed before codes existed.
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # The job learns from the data as it stood at its first claim (events received and products
    # created up to then): a run that resumes, or a retry, sees the same data as the checkpoint.
    data_as_of = models.DateTimeField(null=True, blank=True)
    # When its task was last handed to the broker; null while it never was (the broker was
    # down). The reaper sends a queued job's task again when this is missing or old.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whether the member who started it asked to be emailed how it ended, and the language of the
    # page they asked on, which the email is written in (training.notifications).
    email_when_done = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True)
    # When that email was sent (or tried): once per ending, whichever worker or reaper ends it.
    emailed_at = models.DateTimeField(null=True, blank=True)
    # The try failed (the mail server refused it, or was down): the job page must not say it went.
    email_failed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="job_unique_number_per_tenant"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="job_tenant_status"),
            # The ops console reads every tenant's jobs: newest first, and the stuck ones.
            models.Index(fields=["created_at", "id"], name="job_created"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"job #{self.number} ({self.status})"

    @property
    def method(self) -> str:
        return self.config.get("method", "")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", _("Candidate")
    LIVE = "live", _("Live")
    ARCHIVED = "archived", _("Archived")


class ModelVersion(TenantOwned):
    """A trained model a tenant can serve: its metrics beside the baselines' and its artifacts."""

    number = models.PositiveIntegerField()  # 1, 2, 3... per tenant
    job = models.OneToOneField(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="version"
    )
    base_model = models.CharField(max_length=500)
    method = models.CharField(max_length=16)
    # {"validation": {scorer: {metric: value}}, "test": {...}, "epochs": [...], "split": {...}, ...}
    metrics = models.JSONField(default=dict)
    artifact_path = models.CharField(max_length=500)
    artifact_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="version_unique_number_per_tenant"),
            # The database itself keeps a tenant to one live model.
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="live"), name="version_one_live_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.number}"

    def validation_metric(self, name: str = "ndcg@10", scorer: str = "hybrid") -> float | None:
        return self.metrics.get("validation", {}).get(scorer, {}).get(name)
