"""The life of a fine-tuning job around the training itself: claim, reaping, promotion, rollback."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from tenants.scope import tenant_scope
from tests.training.factories import a_live_model, next_job_number
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus
from training.selectors import training_frames
from training.services.jobs import _Heartbeat, _JobReporter, training_job_claim
from training.services.versions import (
    PromotionError,
    model_version_promote,
    model_version_promote_if_better,
    model_version_rollback,
)
from training.tasks import training_job_run_task, training_jobs_reap_task


def make_job(tenant, **fields) -> TrainingJob:
    fields.setdefault("number", next_job_number(tenant))
    return TrainingJob.all_tenants.create(tenant=tenant, config={"method": "lora"}, **fields)


def make_version(tenant, number, ndcg, **fields) -> ModelVersion:
    return ModelVersion.all_tenants.create(
        tenant=tenant,
        number=number,
        base_model="/models/base",
        method="lora",
        metrics={"validation": {"hybrid": {"ndcg@10": ndcg}}},
        artifact_path=f"/tmp/v{number}",
        **fields,
    )


def test_a_redelivered_task_does_not_train_twice(tenant):
    job = make_job(tenant)
    with mock.patch("training.tasks.training_job_run") as run:
        training_job_run_task.apply(kwargs={"tenant_id": tenant.id, "job_id": job.id})
        training_job_run_task.apply(kwargs={"tenant_id": tenant.id, "job_id": job.id})
    assert run.call_count == 1
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 1 and job.worker_host


def test_a_cancelled_job_is_not_started_by_its_queued_task(tenant):
    job = make_job(tenant, status=JobStatus.CANCELLED)
    with mock.patch("training.tasks.training_job_run") as run:
        training_job_run_task.apply(kwargs={"tenant_id": tenant.id, "job_id": job.id})
    run.assert_not_called()


def test_a_job_whose_worker_stopped_answering_goes_back_to_the_queue(
    tenant, settings, django_capture_on_commit_callbacks
):
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 60
    lost = make_job(
        tenant, status=JobStatus.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    alive = make_job(tenant, status=JobStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    with (
        mock.patch("training.tasks.training_job_run_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert training_jobs_reap_task.apply().get() == {
            "requeued": 1,
            "failed": 0,
            "cancelled": 0,
            "resent": 0,
        }
    delay.assert_called_once_with(tenant_id=tenant.id, job_id=lost.id)
    lost.refresh_from_db(), alive.refresh_from_db()
    assert lost.status == JobStatus.QUEUED
    assert alive.status == JobStatus.RUNNING


def test_a_job_that_lost_its_worker_too_often_fails_with_the_reason(tenant, settings):
    settings.TRAINING_MAX_ATTEMPTS = 3
    job = make_job(
        tenant, status=JobStatus.RUNNING, attempts=3, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        assert training_jobs_reap_task.apply().get() == {
            "requeued": 0,
            "failed": 1,
            "cancelled": 0,
            "resent": 0,
        }
    delay.assert_not_called()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped answering 3 times" in job.error
    assert (job.error_code, job.error_params) == ("worker_lost", {"attempts": 3})


def test_a_stuck_job_a_member_asked_to_cancel_is_cancelled_not_put_back_in_the_queue(tenant, settings):
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 60
    job = make_job(
        tenant,
        status=JobStatus.RUNNING,
        attempts=1,
        cancel_requested=True,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        assert training_jobs_reap_task.apply().get()["cancelled"] == 1
    delay.assert_not_called()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None


def test_a_queued_job_whose_task_never_reached_the_broker_is_sent_by_the_reaper(tenant):
    unsent = make_job(tenant)
    TrainingJob.all_tenants.filter(pk=unsent.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    just_queued = make_job(tenant)  # its send follows its commit: not the reaper's to send yet
    sent = make_job(tenant, enqueued_at=timezone.now() - timedelta(minutes=5))
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        assert training_jobs_reap_task.apply().get()["resent"] == 1
    delay.assert_called_once_with(tenant_id=tenant.id, job_id=unsent.id)
    unsent.refresh_from_db(), just_queued.refresh_from_db(), sent.refresh_from_db()
    assert unsent.enqueued_at is not None and just_queued.enqueued_at is None


def test_a_queued_job_sent_long_ago_is_sent_again_and_the_copy_is_harmless(tenant, settings):
    settings.TRAINING_QUEUED_RESEND_SECONDS = 3600
    job = make_job(tenant, enqueued_at=timezone.now() - timedelta(hours=2))
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        assert training_jobs_reap_task.apply().get()["resent"] == 1
    delay.assert_called_once_with(tenant_id=tenant.id, job_id=job.id)
    with mock.patch("training.tasks.training_job_run") as run:
        for _copy in range(2):
            training_job_run_task.apply(kwargs={"tenant_id": tenant.id, "job_id": job.id})
    assert run.call_count == 1


def test_a_claim_fixes_the_jobs_data_and_a_later_claim_keeps_it(tenant, in_tenant):
    job = make_job(tenant)
    assert training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    first = job.data_as_of
    assert first is not None
    TrainingJob.all_tenants.filter(pk=job.pk).update(status=JobStatus.QUEUED)  # taken back
    assert training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    assert job.data_as_of == first


def test_a_jobs_data_leaves_out_events_and_products_that_arrived_after_its_first_claim(tenant, in_tenant):
    from catalog.models import Event, Product
    from tests.factories import ProductFactory
    from tests.training.factories import purchases_create

    purchases_create(tenant, shoppers=3, per_shopper=2)
    job = make_job(tenant)
    training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    # While the job trains, a product is added and bought, and an old purchase is sent late.
    new_product = ProductFactory(tenant=tenant)
    for event_id, product in [("late-1", new_product), ("late-2", Product.all_tenants.first())]:
        Event.all_tenants.create(
            tenant=tenant,
            event_id=event_id,
            shopper_key="shopper-0",
            type="purchase",
            product=product,
            product_external_id=product.external_id,
            occurred_at=job.data_as_of - timedelta(days=30),
        )
    interactions, items = training_frames(tenant=tenant, as_of=job.data_as_of)
    everything, all_items = training_frames(tenant=tenant)
    assert (len(interactions), len(items)) == (6, 2)
    assert (len(everything), len(all_items)) == (8, 3)


@pytest.mark.django_db(transaction=True)
def test_a_run_beats_from_a_thread_of_its_own_while_no_step_runs(tenant):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    job = make_job(tenant, status=JobStatus.RUNNING, run_number=1, heartbeat_at=an_hour_ago)
    with _Heartbeat(job.pk, run_number=1, every=0.05):
        time.sleep(0.5)  # encoding a large catalog, say: no training step reports
    job.refresh_from_db()
    assert job.heartbeat_at > an_hour_ago + timedelta(minutes=59)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_has_hung_stops_beating_so_the_reaper_takes_it_back(tenant):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    job = make_job(tenant, status=JobStatus.RUNNING, run_number=1, heartbeat_at=an_hour_ago)
    with _Heartbeat(job.pk, run_number=1, every=0.05, alive=lambda: False):  # silent too long
        time.sleep(0.3)
    job.refresh_from_db()
    assert job.heartbeat_at == an_hour_ago


def test_a_better_version_goes_live_by_itself(tenant):
    old = make_version(tenant, 1, 0.20, status=VersionStatus.LIVE, promoted_at=timezone.now())
    new = make_version(tenant, 2, 0.25)
    with tenant_scope(tenant):
        assert model_version_promote_if_better(tenant=tenant, version=new)
    old.refresh_from_db(), new.refresh_from_db()
    assert (old.status, new.status) == (VersionStatus.ARCHIVED, VersionStatus.LIVE)


def test_a_worse_version_waits_as_a_candidate(tenant):
    make_version(tenant, 1, 0.30, status=VersionStatus.LIVE, promoted_at=timezone.now())
    new = make_version(tenant, 2, 0.25)
    with tenant_scope(tenant):
        assert not model_version_promote_if_better(tenant=tenant, version=new)
    new.refresh_from_db()
    assert new.status == VersionStatus.CANDIDATE


def test_a_tenant_without_automatic_promotion_keeps_new_versions_as_candidates(tenant):
    tenant.auto_promote_models = False
    tenant.save()
    new = make_version(tenant, 1, 0.9)
    with tenant_scope(tenant):
        assert not model_version_promote_if_better(tenant=tenant, version=new)


@pytest.mark.parametrize(("kept", "goes_live"), [(0.40, False), (0.46, True), (None, True)])
def test_a_version_whose_fine_tuning_cost_search_waits_for_a_member_to_choose_it(tenant, kept, goes_live):
    # The pretrained encoder found the category names with 0.50; 10 % less is tolerated.
    new = make_version(tenant, 1, 0.9)
    new.metrics["search"] = None if kept is None else {"ndcg@10": kept, "pretrained": 0.50, "queries": 40}
    new.save()
    with tenant_scope(tenant):
        assert model_version_promote_if_better(tenant=tenant, version=new) is goes_live


def _experiment_on(tenant, *, arm_kind: str, start: bool = True):
    from experiments.services import experiment_create, experiment_start

    if start and arm_kind == "live":
        a_live_model(tenant)  # such an arm starts only with a model live
    with tenant_scope(tenant):
        experiment = experiment_create(
            tenant=tenant, key="ranker", name="Ranker", primary_metric="click_through_rate",
            variants=[
                {"name": "control", "kind": arm_kind, "weight": 1, "is_control": True},
                {"name": "popular", "kind": "popularity", "weight": 1, "is_control": False},
            ],
        )
        if start:
            experiment_start(tenant=tenant, experiment_id=experiment.pk, by=None)
    return experiment


def test_a_better_version_waits_while_a_running_experiment_compares_the_live_model(tenant):
    old = make_version(tenant, 1, 0.20, status=VersionStatus.LIVE, promoted_at=timezone.now())
    _experiment_on(tenant, arm_kind="live")
    new = make_version(tenant, 2, 0.25)
    with tenant_scope(tenant):
        assert not model_version_promote_if_better(tenant=tenant, version=new)
    old.refresh_from_db(), new.refresh_from_db()
    assert (old.status, new.status) == (VersionStatus.LIVE, VersionStatus.CANDIDATE)


@pytest.mark.parametrize("arm_kind, start", [("popularity", True), ("live", False)])
def test_an_experiment_that_does_not_serve_the_live_model_does_not_hold_promotion(tenant, arm_kind, start):
    make_version(tenant, 1, 0.20, status=VersionStatus.LIVE, promoted_at=timezone.now())
    _experiment_on(tenant, arm_kind=arm_kind, start=start)
    new = make_version(tenant, 2, 0.25)
    with tenant_scope(tenant):
        assert model_version_promote_if_better(tenant=tenant, version=new)


def test_rollback_brings_back_the_previous_live_version_one_step_at_a_time(tenant):
    with tenant_scope(tenant):
        v1, v2, v3 = (make_version(tenant, n, 0.1 * n) for n in (1, 2, 3))
        for version in (v1, v2, v3):
            model_version_promote(tenant=tenant, version_id=version.id)
        assert model_version_rollback(tenant=tenant).version.number == 2
        assert model_version_rollback(tenant=tenant).version.number == 1
        assert ModelVersion.objects.get(status=VersionStatus.LIVE).number == 1
        with pytest.raises(PromotionError):
            model_version_rollback(tenant=tenant)


def test_a_version_is_not_promoted_by_hand_while_a_running_experiment_compares_the_live_model(tenant):
    # Its "live model" arm would serve two models in one test, and the comparison would mean nothing.
    with tenant_scope(tenant):
        v1, v2 = make_version(tenant, 1, 0.1), make_version(tenant, 2, 0.2)
        model_version_promote(tenant=tenant, version_id=v1.id)
    _experiment_on(tenant, arm_kind="live")
    with tenant_scope(tenant), pytest.raises(PromotionError, match="ranker compares the live model: stop it"):
        model_version_promote(tenant=tenant, version_id=v2.id)
    assert ModelVersion.all_tenants.get(tenant=tenant, status=VersionStatus.LIVE) == v1


def test_a_rollback_mid_experiment_stops_the_experiment_that_compares_the_live_model(tenant):
    # Rollback is the emergency exit: it does not wait, and the experiment's results keep one model.
    from experiments.models import ExperimentStatus

    with tenant_scope(tenant):
        for version in (make_version(tenant, 1, 0.1), make_version(tenant, 2, 0.2)):
            model_version_promote(tenant=tenant, version_id=version.id)
    experiment = _experiment_on(tenant, arm_kind="live")
    with tenant_scope(tenant):
        rollback = model_version_rollback(tenant=tenant)
    experiment.refresh_from_db()
    assert rollback.version.number == 1 and rollback.stopped == experiment
    assert experiment.status == ExperimentStatus.STOPPED and experiment.stopped_at is not None


def test_the_database_keeps_a_tenant_to_one_live_version(tenant):
    from django.db import IntegrityError, transaction

    make_version(tenant, 1, 0.1, status=VersionStatus.LIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_version(tenant, 2, 0.2, status=VersionStatus.LIVE)


def test_versions_of_another_tenant_cannot_be_promoted(tenant, other_tenant):
    theirs = make_version(other_tenant, 1, 0.5)
    with tenant_scope(tenant), pytest.raises(ModelVersion.DoesNotExist):
        model_version_promote(tenant=tenant, version_id=theirs.id)


def test_a_worker_whose_job_was_taken_back_and_claimed_again_writes_nothing_and_stops(tenant, in_tenant):
    job = make_job(tenant)
    assert training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    first_run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
    # The first worker went silent; the job was taken back (reaper or ops) and another worker claimed it.
    TrainingJob.all_tenants.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    second_run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
    second_run.progress(step=1, total_steps=100, epoch=1, loss=2.0, eta_seconds=99.0)

    first_run.progress(step=90, total_steps=100, epoch=3, loss=0.5, eta_seconds=1.0)
    first_run.log("resumed", epoch=7)  # the first worker is back

    assert first_run.cancel_requested()  # it stops before its next step
    assert not second_run.cancel_requested()
    job.refresh_from_db()
    assert (job.step, job.run_number, job.status) == (1, 2, JobStatus.RUNNING)
    assert "epoch 7" not in job.log_tail


def test_a_stuck_job_cancelled_from_the_ops_console_stops_its_worker_if_it_comes_back(tenant, in_tenant):
    job = make_job(tenant)
    training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
    TrainingJob.all_tenants.filter(pk=job.pk).update(status=JobStatus.CANCELLED, cancel_requested=False)

    assert run.cancel_requested()


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_retries_at_once_do_not_both_pass_the_active_job_limit(tenant, settings):
    import threading

    from django.db import connection

    from training.services.jobs import JobStateError, training_job_retry

    settings.TRAINING_MAX_ACTIVE_JOBS_PER_TENANT = 1
    jobs = [make_job(tenant, status=JobStatus.FAILED) for _ in range(2)]
    barrier, outcomes = threading.Barrier(2), []
    real_save = TrainingJob.save

    def save_slowly(self, *args, **kwargs):
        time.sleep(0.5)  # both have counted the active jobs before either is saved, unless one waited
        real_save(self, *args, **kwargs)

    def retry(job):
        barrier.wait()
        try:
            with tenant_scope(tenant):
                training_job_retry(tenant=tenant, job_id=job.pk)
            outcomes.append("queued")
        except JobStateError:
            outcomes.append("refused")
        finally:
            connection.close()

    with (
        mock.patch.object(TrainingJob, "save", save_slowly),
        mock.patch("training.tasks.training_job_run_task.delay"),
    ):
        threads = [threading.Thread(target=retry, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["queued", "refused"]
    assert TrainingJob.all_tenants.filter(status=JobStatus.QUEUED).count() == 1


FOUR_STAGES = [("encoding", 10.0), ("signals", 5.0), ("blending", 3.0), ("baselines", 2.0)]


def a_finished_job_that_measured(tenant, *, products=100, device="cpu", stages=FOUR_STAGES) -> TrainingJob:
    return make_job(
        tenant, status=JobStatus.SUCCEEDED, device=device, finished_at=timezone.now(),
        measuring_times={"products": products, "stages": [{"stage": n, "seconds": s} for n, s in stages]},
    )


def a_claimed_job(tenant) -> TrainingJob:
    job = make_job(tenant)
    assert training_job_claim(job_id=job.pk)
    job.refresh_from_db()
    return job


def eta_of(job) -> float | None:
    return TrainingJob.all_tenants.get(pk=job.pk).eta_seconds


def test_the_measuring_after_training_is_timed_by_the_stores_last_job_scaled_to_the_catalog(tenant, in_tenant):
    a_finished_job_that_measured(tenant, products=100)
    job = a_claimed_job(tenant)
    now = [1000.0]
    with mock.patch("training.services.jobs.time.monotonic", lambda: now[0]):
        run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
        run.expect_measuring(device="cpu", products=200)  # twice the products: twice the 20 s

        run.progress(step=10, total_steps=20, epoch=1, loss=1.0, eta_seconds=30.0)
        assert eta_of(job) == 30.0 + 40.0  # the steps left, then the measuring
        run.measuring_stage("encoding", 0, 4)
        assert eta_of(job) == 40.0
        now[0] += 15.0
        assert run.heartbeat_fields() == {"eta_seconds": 5.0 + 20.0}  # counts down between stages
        run.measuring_stage("signals", 1, 4)
        assert eta_of(job) == 10.0 + 6.0 + 4.0
        now[0] += 30.0  # three times its estimate: what is left is anyone's guess
        assert run.heartbeat_fields() == {"eta_seconds": None}
        run.measuring_stage("blending", 2, 4)
        now[0] += 1.0
        assert run.measuring_done() == {
            "measuring_times": {
                "products": 200,
                "stages": [
                    {"stage": "encoding", "seconds": 15.0},
                    {"stage": "signals", "seconds": 30.0},
                    {"stage": "blending", "seconds": 1.0},
                ],
            }
        }
    assert run.heartbeat_fields() == {}  # the version is saved: the ETA is the finished job's


def test_with_no_earlier_job_the_measuring_shows_no_eta_rather_than_a_guess(tenant, in_tenant):
    job = a_claimed_job(tenant)
    run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
    run.expect_measuring(device="cpu", products=200)
    run.progress(step=20, total_steps=20, epoch=1, loss=1.0, eta_seconds=3.0)
    assert eta_of(job) is None
    run.measuring_stage("encoding", 0, 4)
    assert eta_of(job) is None


def test_the_measuring_estimate_reads_only_this_stores_jobs_on_the_same_device(tenant, other_tenant):
    a_finished_job_that_measured(other_tenant, device="cpu")
    a_finished_job_that_measured(tenant, device="cuda")
    with tenant_scope(tenant):  # as the worker runs it
        job = a_claimed_job(tenant)
        run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0)
        run.expect_measuring(device="cpu", products=100)
        assert run.stage_estimates is None
        run.expect_measuring(device="cuda", products=100)
        assert run.stage_estimates == dict(FOUR_STAGES)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_writes_the_measurings_eta_as_it_counts_down(tenant):
    job = make_job(tenant, status=JobStatus.RUNNING, run_number=1)
    with _Heartbeat(job.pk, run_number=1, every=0.05, fields=lambda: {"eta_seconds": 42.0}):
        deadline = time.monotonic() + 10
        while eta_of(job) != 42.0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert eta_of(job) == 42.0


def test_full_fine_tuning_without_a_learning_rate_gets_its_own_not_loras(tenant):
    from training.services.jobs import training_config_build

    def rate(**given) -> float:
        return training_config_build(tenant=tenant, settings_given=given, any_base_model=True).learning_rate

    assert rate(method="full") == 5e-5
    assert rate(method="lora") == 1e-3
    assert rate() == 1e-3  # LoRA, the default method
    assert rate(method="full", learning_rate=2e-4) == 2e-4  # a rate given is kept


def test_the_log_names_the_validation_metric_as_people_write_it():
    from training.presentation import log_line

    entry = {"code": "epoch", "params": {"epoch": 2, "loss": "3.1200", "metric": "ndcg@10", "value": "0.0970"}}
    assert log_line(entry) == "Epoch 2: training loss 3.1200, validation NDCG@10 0.0970."


def test_a_merchant_names_a_base_model_by_its_folders_name_in_the_base_model_folders(
    tenant, tiny_model_dir, settings
):
    from pathlib import Path

    from django.core.exceptions import ValidationError

    from training.services.jobs import training_config_build

    folder = Path(tiny_model_dir)
    settings.TRAINING_BASE_MODEL_DIRS = [folder.parent]
    config = training_config_build(tenant=tenant, settings_given={"base_model": folder.name})
    assert config.base_model == str(folder.resolve())
    with pytest.raises(ValidationError) as refused:
        training_config_build(tenant=tenant, settings_given={"base_model": "no-such-model"})
    assert "base_model" in refused.value.message_dict
    with pytest.raises(ValidationError):  # a name does not lead out of the base-model folders
        training_config_build(tenant=tenant, settings_given={"base_model": f"../{folder.parent.name}/{folder.name}/.."})


def test_a_run_that_stops_early_shows_the_step_it_ended_at_not_the_last_one_written(tenant, in_tenant):
    from types import SimpleNamespace

    job = a_claimed_job(tenant)
    run = _JobReporter(job_id=job.pk, run_number=job.run_number, started=0.0, min_interval=3600.0)
    for step in range(1, 25):  # progress is written once, at the first step: the others come too soon
        run.progress(step=step, total_steps=36, epoch=1 + (step > 12), loss=5.0 - step / 10, eta_seconds=60.0)
    assert TrainingJob.all_tenants.get(pk=job.pk).step == 1
    run.training_done(SimpleNamespace(history=[]))  # early stopping after epoch 2, step 24 of 36
    job.refresh_from_db()
    assert (job.step, job.epoch, job.loss) == (24, 2, pytest.approx(2.6))
