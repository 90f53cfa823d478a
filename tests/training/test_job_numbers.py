"""A store's fine-tuning jobs are numbered 1, 2, 3... in that store, whatever other stores ran."""

from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from tenants.scope import tenant_scope
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from training.models import JobStatus, TrainingJob
from training.services.jobs import training_job_create

JOBS = "/api/v1/training/jobs"


@pytest.fixture(autouse=True)
def no_worker():
    with mock.patch("training.tasks.training_job_run_task.delay"):
        yield


def test_a_stores_first_job_is_number_one_however_many_jobs_other_stores_ran(ready_tenant, other_tenant):
    for _ in range(3):
        TrainingJobFactory(tenant=other_tenant, status=JobStatus.SUCCEEDED)

    with tenant_scope(ready_tenant):
        first = training_job_create(tenant=ready_tenant, settings_given={"method": "lora"})
        first.status = JobStatus.SUCCEEDED
        first.save(update_fields=["status"])
        second = training_job_create(tenant=ready_tenant, settings_given={"method": "full"})

    assert (first.number, second.number) == (1, 2)
    assert first.pk > 3, "the primary key still counts every store's jobs"


def test_two_jobs_of_one_store_cannot_share_a_number(tenant):
    TrainingJobFactory(tenant=tenant, number=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingJob.all_tenants.create(tenant=tenant, number=1, config={"method": "lora"})


def test_another_store_may_have_a_job_of_the_same_number(tenant, other_tenant):
    TrainingJobFactory(tenant=tenant, number=1)

    assert TrainingJobFactory(tenant=other_tenant, number=1).number == 1


def test_the_api_gives_the_jobs_number_beside_the_id_its_endpoints_take(session_client, tenant, other_tenant):
    TrainingJobFactory(tenant=other_tenant)
    job = TrainingJobFactory(tenant=tenant)

    answer = session_client.get(f"{JOBS}/{job.pk}").data

    assert (answer["id"], answer["number"]) == (job.pk, 1)
    assert session_client.get(JOBS).data["results"][0]["number"] == 1


def test_the_pages_call_a_job_by_its_number_in_the_store(owner_client, tenant, other_tenant):
    for _ in range(4):
        TrainingJobFactory(tenant=other_tenant)
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)
    ModelVersionFactory(tenant=tenant, job=job, number=1)

    detail = owner_client.get(f"/training/jobs/{job.pk}/").content.decode()
    listing = owner_client.get("/training/jobs/").content.decode()
    versions = owner_client.get("/training/models/").content.decode()

    assert "Fine-tuning job #1" in detail and f"#{job.pk}" not in detail
    assert ">#1</a>" in listing and f">#{job.pk}</a>" not in listing
    assert "job #1" in versions and f"job #{job.pk}" not in versions


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_jobs_per_store_in_the_order_they_were_created(tenant, other_tenant):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("training", "0005_job_measuring_times")]
    after = [("training", "0006_training_job_number_per_tenant")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldJob = executor.loader.project_state(before).apps.get_model("training", "TrainingJob")
    order = [tenant, other_tenant, tenant, other_tenant, tenant]
    created = [OldJob.objects.create(tenant_id=store.pk, config={"method": "lora"}).pk for store in order]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        numbers = dict(TrainingJob.all_tenants.values_list("pk", "number"))
        assert [numbers[pk] for pk in created] == [1, 1, 2, 2, 3]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
