from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import ImportStatus, ProductImport
from courses.labs.checks import (
    LAB_CHECKS,
    NotASandbox,
    UnknownLabCheck,
    lab_check_run,
)
from courses.labs.sandbox import sandbox_for
from experiments.models import Experiment, ExperimentStatus, Variant, VariantKind
from recommendations.models import ServedRecommendation
from tenants.models import ApiKey, ApiKeyKind
from tenants.services import api_key_issue
from tests.factories import ProductFactory
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from training.models import JobStatus, VersionStatus


@pytest.fixture
def sandbox(tenant, merchant_user):
    """A learner's sandbox of an empty store: every lab starts from nothing."""
    return sandbox_for(tenant=tenant, user=merchant_user)


def run(name, sandbox):
    return lab_check_run(name=name, sandbox=sandbox)


def test_the_registry_holds_every_lab_check_with_a_title():
    assert {
        "catalog_import_of_50_products",
        "lora_job_succeeded",
        "full_fine_tune_job_succeeded",
        "experiment_comparing_two_versions_started",
        "recommendations_called_with_publishable_key",
        "model_version_promoted",
    } <= set(LAB_CHECKS)
    assert all(str(check.title) for check in LAB_CHECKS.values())


def test_an_unknown_check_name_is_an_error_that_names_it(sandbox):
    with pytest.raises(UnknownLabCheck, match="no_such_check"):
        run("no_such_check", sandbox)


def test_checks_refuse_to_run_on_a_live_store(tenant):
    imported(tenant, products=60)

    with pytest.raises(NotASandbox):
        run("catalog_import_of_50_products", tenant)


# Catalog


def imported(tenant, *, products: int, status=ImportStatus.SUCCEEDED, errors: int = 0) -> ProductImport:
    return ProductImport.all_tenants.create(
        tenant=tenant,
        filename="catalog.csv",
        file_format="csv",
        status=status,
        row_count=products,
        created_count=products if status == ImportStatus.SUCCEEDED else 0,
        error_count=errors,
    )


def test_an_import_of_50_products_passes(sandbox):
    imported(sandbox, products=50)

    result = run("catalog_import_of_50_products", sandbox)

    assert result.passed and "50 products" in result.message


def test_the_seeded_sample_alone_does_not_pass_the_lab(sandbox):
    ProductFactory.create_batch(60, tenant=sandbox)

    result = run("catalog_import_of_50_products", sandbox)

    assert not result.passed
    assert result.message.startswith("You have not imported a catalog file into your sandbox yet")
    assert result.message.endswith("(Import, in the top menu).")  # Import is its own menu item


def test_a_small_import_fails_saying_how_many_it_brought(sandbox):
    imported(sandbox, products=12)

    result = run("catalog_import_of_50_products", sandbox)

    assert not result.passed
    assert result.message == "Your largest import brought 12 products; import a file with at least 50."


def test_a_failed_import_fails_pointing_at_its_errors(sandbox):
    imported(sandbox, products=80, status=ImportStatus.FAILED, errors=3)

    result = run("catalog_import_of_50_products", sandbox)

    assert not result.passed and "failed with 3 errors" in result.message


def test_an_import_still_running_is_said_to_be_running_not_to_have_brought_nothing(sandbox):
    imported(sandbox, products=80, status=ImportStatus.RUNNING)

    result = run("catalog_import_of_50_products", sandbox)

    assert not result.passed
    assert result.message == "Your import of catalog.csv is still running: check again once its page says it is done."


def test_an_import_whose_worker_was_lost_is_said_to_have_failed_not_to_be_still_running(sandbox):
    lost = imported(sandbox, products=80, status=ImportStatus.RUNNING)
    silent_since = timezone.now() - ProductImport.RUNNING_LOST_AFTER - timedelta(minutes=1)
    ProductImport.all_tenants.filter(pk=lost.pk).update(started_at=silent_since, progress_at=silent_since)

    result = run("catalog_import_of_50_products", sandbox)

    assert not result.passed
    assert "failed with 1 error and stored nothing" in result.message and "still running" not in result.message


def test_an_import_of_one_product_or_with_one_error_is_said_in_the_singular(sandbox):
    imported(sandbox, products=1)
    assert run("catalog_import_of_50_products", sandbox).message == (
        "Your largest import brought 1 product; import a file with at least 50."
    )
    imported(sandbox, products=80, status=ImportStatus.FAILED, errors=1)
    assert "failed with 1 error and stored nothing: fix the row it names" in run(
        "catalog_import_of_50_products", sandbox
    ).message


def test_the_stores_imports_do_not_count_for_the_sandbox(tenant, sandbox):
    imported(tenant, products=60)

    assert not run("catalog_import_of_50_products", sandbox).passed


# Fine-tuning jobs


def test_a_succeeded_lora_job_passes(sandbox):
    TrainingJobFactory(tenant=sandbox, status=JobStatus.SUCCEEDED)

    assert run("lora_job_succeeded", sandbox).passed


def test_no_lora_job_fails_saying_where_to_start_one(sandbox):
    result = run("lora_job_succeeded", sandbox)

    assert not result.passed
    assert result.message == (
        "No LoRA job yet: start one with a LoRA preset (Fine-tuning → New fine-tuning job)."
    )


def test_a_running_lora_job_fails_saying_to_wait(sandbox):
    job = TrainingJobFactory(tenant=sandbox, status=JobStatus.RUNNING)

    result = run("lora_job_succeeded", sandbox)

    assert not result.passed
    assert f"job #{job.number} is running" in result.message and "wait" in result.message


def test_a_failed_lora_job_fails_saying_to_read_its_log(sandbox):
    job = TrainingJobFactory(tenant=sandbox, status=JobStatus.FAILED)

    result = run("lora_job_succeeded", sandbox)

    assert not result.passed
    assert f"job #{job.number} ended failed" in result.message and "log" in result.message


def test_a_succeeded_full_fine_tune_does_not_pass_the_lora_lab(sandbox):
    TrainingJobFactory(tenant=sandbox, status=JobStatus.SUCCEEDED, config={"method": "full"})

    assert not run("lora_job_succeeded", sandbox).passed
    assert run("full_fine_tune_job_succeeded", sandbox).passed


def test_a_lora_job_of_the_store_does_not_count_for_the_sandbox(tenant, sandbox):
    TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)

    assert not run("lora_job_succeeded", sandbox).passed


def test_no_full_fine_tune_fails_naming_the_method_once_and_the_preset_to_choose(sandbox):
    result = run("full_fine_tune_job_succeeded", sandbox)

    assert not result.passed
    assert result.message == (
        "No full fine-tuning job yet: start one with the preset Full fine-tuning "
        "(Fine-tuning → New fine-tuning job)."
    )


def test_a_failed_full_fine_tune_names_the_method_once_and_the_preset_to_choose(sandbox):
    job = TrainingJobFactory(tenant=sandbox, status=JobStatus.FAILED, config={"method": "full"})

    result = run("full_fine_tune_job_succeeded", sandbox)

    assert not result.passed
    assert result.message.startswith(f"Your full fine-tuning job #{job.number} ended failed")
    assert result.message.endswith("then start another with the preset Full fine-tuning.")


# Experiments


def experiment_create(sandbox, key="ab", *, status=ExperimentStatus.RUNNING, variants=()):
    experiment = Experiment.all_tenants.create(
        tenant=sandbox,
        key=key,
        name=key,
        primary_metric="conversion_rate",
        status=status,
        started_at=None if status == ExperimentStatus.DRAFT else timezone.now(),
    )
    for position, (kind, version) in enumerate(variants):
        Variant.all_tenants.create(
            tenant=sandbox,
            experiment=experiment,
            name=f"v{position}",
            kind=kind,
            model_version=version,
            weight=1,
            is_control=position == 0,
            position=position,
        )
    return experiment


@pytest.fixture
def versions(sandbox):
    return ModelVersionFactory(tenant=sandbox, number=1), ModelVersionFactory(tenant=sandbox, number=2)


@pytest.mark.parametrize("status", [ExperimentStatus.RUNNING, ExperimentStatus.STOPPED])
def test_a_started_experiment_of_two_model_versions_passes(sandbox, versions, status):
    experiment_create(sandbox, status=status, variants=[(VariantKind.MODEL_VERSION, v) for v in versions])

    result = run("experiment_comparing_two_versions_started", sandbox)

    assert result.passed and "“ab”" in result.message


def test_the_live_model_against_another_version_passes(sandbox, versions):
    live, candidate = versions
    live.status = VersionStatus.LIVE
    live.save(update_fields=["status"])
    experiment_create(sandbox, variants=[(VariantKind.LIVE, None), (VariantKind.MODEL_VERSION, candidate)])

    assert run("experiment_comparing_two_versions_started", sandbox).passed


def test_the_live_model_against_itself_fails(sandbox, versions):
    live, _candidate = versions
    live.status = VersionStatus.LIVE
    live.save(update_fields=["status"])
    experiment_create(sandbox, variants=[(VariantKind.LIVE, None), (VariantKind.MODEL_VERSION, live)])

    result = run("experiment_comparing_two_versions_started", sandbox)

    assert not result.passed
    assert "does not compare two model versions" in result.message
    assert result.message.endswith("(Experiments → New experiment).")


def test_a_model_version_against_popularity_fails(sandbox, versions):
    experiment_create(
        sandbox, variants=[(VariantKind.POPULARITY, None), (VariantKind.MODEL_VERSION, versions[0])]
    )

    result = run("experiment_comparing_two_versions_started", sandbox)

    assert not result.passed
    assert "does not compare two model versions" in result.message


def test_a_draft_experiment_fails_saying_to_start_it(sandbox, versions):
    experiment_create(
        sandbox, status=ExperimentStatus.DRAFT, variants=[(VariantKind.MODEL_VERSION, v) for v in versions]
    )

    result = run("experiment_comparing_two_versions_started", sandbox)

    assert not result.passed
    assert "still a draft" in result.message and "Start" in result.message


def test_no_experiment_fails_saying_where_to_create_one(sandbox):
    result = run("experiment_comparing_two_versions_started", sandbox)

    assert not result.passed
    assert result.message.endswith("(Experiments → New experiment).")


# Recommendations with a publishable key


def served_create(sandbox, endpoint="recommendations", key_kind=ApiKeyKind.PUBLISHABLE):
    ServedRecommendation.all_tenants.create(
        tenant=sandbox, recommendation_id=f"r-{endpoint}-{key_kind}", endpoint=endpoint,
        api_key_kind=key_kind, served_at=timezone.now(),
    )


def used_key(sandbox, kind=ApiKeyKind.PUBLISHABLE):
    issued = api_key_issue(tenant=sandbox, kind=kind, name="lab")
    ApiKey.all_tenants.filter(pk=issued.api_key.pk).update(last_used_at=timezone.now())


def test_a_used_publishable_key_and_a_served_list_pass(sandbox):
    used_key(sandbox)
    served_create(sandbox)

    assert run("recommendations_called_with_publishable_key", sandbox).passed


def test_no_publishable_key_fails_saying_to_issue_one(sandbox):
    used_key(sandbox, kind=ApiKeyKind.SECRET)
    served_create(sandbox)

    result = run("recommendations_called_with_publishable_key", sandbox)

    assert not result.passed
    assert "no publishable key" in result.message and "API keys" in result.message


def test_an_unused_publishable_key_fails_saying_what_to_call(sandbox):
    api_key_issue(tenant=sandbox, kind=ApiKeyKind.PUBLISHABLE, name="lab")
    used_key(sandbox, kind=ApiKeyKind.SECRET)
    served_create(sandbox, key_kind=ApiKeyKind.SECRET)

    result = run("recommendations_called_with_publishable_key", sandbox)

    assert not result.passed
    assert "not been used" in result.message and "/api/v1/recommendations" in result.message


def test_a_similar_products_call_does_not_count(sandbox):
    used_key(sandbox)
    served_create(sandbox, endpoint="similar")

    result = run("recommendations_called_with_publishable_key", sandbox)

    assert not result.passed
    assert "no call to /api/v1/recommendations made with it is recorded" in result.message


def test_a_search_with_the_publishable_key_and_recommendations_with_a_secret_key_do_not_pass(sandbox):
    used_key(sandbox)
    used_key(sandbox, kind=ApiKeyKind.SECRET)
    served_create(sandbox, endpoint="search", key_kind=ApiKeyKind.PUBLISHABLE)
    served_create(sandbox, endpoint="recommendations", key_kind=ApiKeyKind.SECRET)

    result = run("recommendations_called_with_publishable_key", sandbox)

    assert not result.passed
    assert "calls with a secret key do not count" in result.message


# Promotion


def test_a_version_promoted_by_hand_passes(sandbox, merchant_user):
    ModelVersionFactory(tenant=sandbox, number=1, status=VersionStatus.LIVE, promoted_by=merchant_user)

    result = run("model_version_promoted", sandbox)

    assert result.passed and "v1" in result.message


def test_a_version_that_went_live_by_itself_fails_naming_the_button_of_another_version(sandbox):
    ModelVersionFactory(tenant=sandbox, number=2, status=VersionStatus.ARCHIVED)
    ModelVersionFactory(tenant=sandbox, number=3, status=VersionStatus.LIVE, promoted_by=None)

    result = run("model_version_promoted", sandbox)

    assert not result.passed
    assert result.message == (
        "v3 went live by itself after training: make a version live by hand (Models → Make v2 live)."
    )


def test_an_only_version_that_went_live_by_itself_fails_saying_to_fine_tune_another(sandbox):
    ModelVersionFactory(tenant=sandbox, number=1, status=VersionStatus.LIVE, promoted_by=None)

    result = run("model_version_promoted", sandbox)

    assert not result.passed
    assert "v1 went live by itself after training and is your only version" in result.message
    assert "Fine-tuning → New fine-tuning job" in result.message


def test_no_live_version_fails_naming_the_button_of_the_newest_version(sandbox):
    ModelVersionFactory(tenant=sandbox, number=1)
    ModelVersionFactory(tenant=sandbox, number=2)

    result = run("model_version_promoted", sandbox)

    assert not result.passed
    assert result.message == "No model version is live: make one live by hand (Models → Make v2 live)."


def test_no_version_at_all_fails_saying_to_fine_tune_one(sandbox):
    result = run("model_version_promoted", sandbox)

    assert not result.passed
    assert result.message.startswith("You have no model version yet")
