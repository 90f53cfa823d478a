"""`manage.py train`: queue a job with the API's rules, and follow it to its model version."""
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from tests.training.factories import ModelVersionFactory, encoder_folder
from training.management.commands.train import Command
from training.models import JobStatus, TrainingJob


@pytest.fixture
def task_delay():
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        yield delay


def train(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("train", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def sleeps_that(*steps):
    """A stand-in for the poll's sleep: each call moves the job on by the next of `steps`; one
    call too many fails the test instead of polling forever."""
    remaining = iter(steps)
    return mock.patch(
        "training.management.commands.train.sleep", side_effect=lambda _seconds: next(remaining)()
    )


def test_the_command_queues_a_job_with_the_settings_given_and_prints_its_id(
    ready_tenant, task_delay, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = train(
            "--tenant", "acme", "--method", "full", "--epochs", "3",
            "--set", "learning_rate=5e-5", "--set", "exclude_seen=true",
        )
    job = TrainingJob.all_tenants.get()
    assert f"Job #{job.number} is queued" in out
    assert job.tenant == ready_tenant and job.status == JobStatus.QUEUED
    assert (job.config["method"], job.config["epochs"], job.config["learning_rate"]) == ("full", 3, 5e-5)
    assert job.config["exclude_seen"] is True
    task_delay.assert_called_once_with(tenant_id=ready_tenant.id, job_id=job.id)


@pytest.mark.parametrize(
    "args,field",
    [
        (["--set", "learning_rate=0"], "learning_rate"),
        (["--method", "sgd"], "method"),
        (["--base-model", "/no/such/folder"], "base_model"),
        (["--set", "learnig_rate=0.01"], "learnig_rate"),
    ],
    ids=["learning rate 0", "unknown method", "missing base model folder", "unknown setting"],
)
def test_a_bad_setting_stops_the_command_naming_the_field_and_no_job_is_created(
    ready_tenant, task_delay, args, field
):
    with pytest.raises(CommandError) as stopped:
        train("--tenant", "acme", *args)
    assert str(stopped.value).startswith(f"{field}: ")
    assert "No job was created" in str(stopped.value)
    assert TrainingJob.all_tenants.count() == 0


def test_the_operator_at_the_command_line_may_build_on_any_folder(ready_tenant, task_delay, settings, tmp_path):
    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base_models"]  # the merchants' choice is narrower
    (tmp_path / "mine").mkdir()
    folder = encoder_folder(tmp_path / "mine")
    train("--tenant", "acme", "--base-model", folder)
    assert TrainingJob.all_tenants.get().config["base_model"] == folder


def test_too_little_data_stops_the_command(tenant, settings, tmp_path, task_delay):
    settings.TRAINING_BASE_MODEL = encoder_folder(tmp_path)
    with pytest.raises(CommandError, match="^data: Too little data"):
        train("--tenant", "acme")
    assert TrainingJob.all_tenants.count() == 0


def test_an_unknown_tenant_or_a_set_without_a_value_is_an_error(ready_tenant, task_delay):
    with pytest.raises(CommandError, match="nosuchshop"):
        train("--tenant", "nosuchshop")
    with pytest.raises(CommandError, match="key=value"):
        train("--tenant", "acme", "--set", "epochs")
    assert TrainingJob.all_tenants.count() == 0


def _move_job(**fields):
    return lambda: TrainingJob.all_tenants.update(**fields)


def test_wait_shows_the_progress_then_the_version_beside_the_baselines(ready_tenant, task_delay):
    def finish():
        job = TrainingJob.all_tenants.get()
        TrainingJob.all_tenants.update(status=JobStatus.SUCCEEDED, progress=1.0, epoch=3, step=30)
        ModelVersionFactory(tenant=ready_tenant, number=1, job=job, metrics={"validation": {
            "hybrid": {"ndcg@10": 0.2345, "recall@10": 0.31},
            "popularity": {"ndcg@10": 0.0512, "recall@10": 0.12},
        }})

    log = [
        {"code": "kept_pretrained", "params": {"value": "0.1200"}},
        {"code": "saved_auto_promotion_off", "params": {"number": 1}},
    ]
    running = _move_job(status=JobStatus.RUNNING, progress=0.5, epoch=2, step=15, total_steps=30,
                        loss=1.23, eta_seconds=65, log_entries=log)
    with sleeps_that(running, finish):
        out, _ = train("--tenant", "acme", "--epochs", "3", "--wait")

    assert " 50%" in out and "epoch 2/3" in out and "loss 1.2300" in out and "ETA 1 min 05 s" in out
    assert "100%" in out
    assert "model version v1" in out
    hybrid = next(line for line in out.splitlines() if line.startswith("Hybrid (ours)"))
    popularity = next(line for line in out.splitlines() if line.startswith("Popularity"))
    assert "0.2345*" in hybrid and "0.0512" in popularity
    assert "Fine-tuning did not beat the pretrained encoder on validation (0.1200)" in out
    assert "Version v1 saved as a candidate: automatic promotion is off." in out


def test_wait_ends_with_the_hybrid_against_the_best_baseline_and_its_interval(ready_tenant, task_delay):
    def finish():
        job = TrainingJob.all_tenants.get()
        TrainingJob.all_tenants.update(status=JobStatus.SUCCEEDED, progress=1.0, epoch=1, step=10)
        ModelVersionFactory(tenant=ready_tenant, number=1, job=job, metrics={
            "validation": {"hybrid": {"ndcg@10": 0.2}, "ease": {"ndcg@10": 0.1}},
            "comparison": {"mode": "all_items", "baseline": "ease", "ratio": 1.234, "low": 1.1,
                           "high": 1.35, "shoppers": 83},
        })

    with sleeps_that(finish):
        out, _ = train("--tenant", "acme", "--wait")

    last = out.strip().splitlines()[-1]
    assert "1.23× that of EASE" in last and "1.10–1.35 over 83 shoppers" in last
    assert "A gain beyond the luck" in last


def test_wait_exits_non_zero_with_the_error_when_the_job_fails(ready_tenant, task_delay):
    with sleeps_that(_move_job(status=JobStatus.FAILED, error="CUDA out of memory")):
        with pytest.raises(CommandError, match="failed: CUDA out of memory"):
            train("--tenant", "acme", "--wait")


def test_wait_exits_non_zero_when_the_job_is_cancelled(ready_tenant, task_delay):
    with sleeps_that(_move_job(status=JobStatus.CANCELLED)):
        with pytest.raises(CommandError, match="was cancelled"):
            train("--tenant", "acme", "--wait")


def test_wait_says_no_worker_takes_the_gpu_queue_when_the_job_stays_queued(ready_tenant, task_delay):
    err = StringIO()
    with (
        mock.patch.object(Command, "queued_hint_after_seconds", 0.0),
        sleeps_that(lambda: None, _move_job(status=JobStatus.CANCELLED)),
        pytest.raises(CommandError),
    ):
        call_command("train", "--tenant", "acme", "--wait", stdout=StringIO(), stderr=err)
    hint = err.getvalue()
    assert "still queued" in hint and "gpu queue" in hint and "make run" in hint and "--here" in hint
    assert hint.count("still queued") == 1
