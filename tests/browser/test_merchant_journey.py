"""A merchant's first day, in a browser: log in, import the catalog, fine-tune a model and watch
it train, make it live, and test it against a second version in an experiment.

The training is real: the job the page started runs in a worker thread (see InProcessWorker),
on the tiny encoder of tests/training/ml, so the progress bar moves because the job does.
"""

import queue
import threading
from pathlib import Path

import pandas as pd
import pytest
import requests
from celery import Task, uuid
from celery.result import AsyncResult, EagerResult
from django.db import connections
from playwright.sync_api import Page, expect

from catalog.services.events import event_ingest_batch
from recommendations.attribution import served_log
from tenants.models import ApiKeyKind, Role
from tenants.scope import tenant_scope
from tenants.services import api_key_issue
from tests.browser.conftest import NEEDS_CHROMIUM, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.recommendations.conftest import fresh_serving_caches, version_copy  # noqa: F401
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from tests.training.ml.conftest import make_interactions, shop_items, tiny_model_dir  # noqa: F401
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]
# fresh_serving_caches (imported above) is autouse: the live server runs in this process, so
# nothing that an earlier test loaded or buffered is served here.

CATALOG_FILE = Path(__file__).parent / "data" / "tiny_shop_catalog.csv"
# Twice the page's 2 s between two questions about the job's progress, and some.
POLL_TIMEOUT_MS = 6_000
# The worker takes the file, then the page's next poll (every 2 s) brings in the outcome.
IMPORT_TIMEOUT_MS = 30_000
# The tiny encoder trains in seconds, but the worker shares 2 cores with the server and the browser.
TRAINING_TIMEOUT_MS = 180_000
SHOPPERS_SERVED = 20


@pytest.fixture
def store(tiny_model_dir, settings, tmp_path):  # noqa: F811
    """A store whose base model is the tiny encoder; its new versions wait to be promoted by hand."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.TRAINING_WORK_DIR = tmp_path / "training"
    return TenantFactory(
        name="Tiny Shop", slug="tiny-shop", base_model_path=tiny_model_dir, auto_promote_models=False
    )


@pytest.fixture
def owner(store):
    user = UserFactory(username="owner@tiny.test")
    MembershipFactory(tenant=store, user=user, role=Role.OWNER)
    return user


class InProcessWorker:
    """Runs the tasks that the pages send, one at a time in a thread of its own, as a solo worker
    would take them from the broker, with Celery's own `Task.apply`.

    Not a real worker on the broker (`start_worker`, as in tests/training/test_training_end_to_end.py):
    the default broker keeps its queue in var/celery/broker, which every test run on the machine
    shares, and with two runs at once each one's worker took the other's jobs.
    """

    def __init__(self):
        self._sent: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="in-process-worker", daemon=True)
        self.results: list[tuple[str, EagerResult]] = []

    def send(self, task, args=None, kwargs=None, **_options) -> AsyncResult:
        """In Task.apply_async's place (the signature is the same): what `delay()` reaches."""
        task_id = uuid()
        self._sent.put((task, args, kwargs, task_id))
        return task.AsyncResult(task_id)

    def _work(self) -> None:
        while (sent := self._sent.get()) is not None:
            task, args, kwargs, task_id = sent
            try:
                self.results.append((task.name, task.apply(args=args, kwargs=kwargs, task_id=task_id)))
            finally:
                connections.close_all()  # a worker closes its connections after each task

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._sent.put(None)
        self._thread.join(timeout=120)


@pytest.fixture
def worker(monkeypatch):
    """The training machine's worker, for the whole journey: it runs the fine-tuning job, and the
    embedding refreshes that imports, promotions and experiments queue. Every task must succeed."""
    with InProcessWorker() as in_process_worker:
        monkeypatch.setattr(
            Task, "apply_async", lambda task, *args, **kwargs: in_process_worker.send(task, *args, **kwargs)
        )
        yield in_process_worker
    results = in_process_worker.results
    failures = [f"{name}:\n{result.traceback}" for name, result in results if result.failed()]
    assert not failures, "\n".join(failures)


def shoppers_buy_from_the_catalog(tenant) -> None:
    """The storefront's purchase events, through the catalog's ingest service: shoppers who each
    favour two categories of the imported catalog, so there is something to learn."""
    items = pd.read_csv(CATALOG_FILE).rename(columns={"external_id": "item_id"})
    interactions = make_interactions(items)
    events = [
        {
            "event_id": f"purchase-{index}", "shopper_id": row.user_id, "type": "purchase",
            "product": row.item_id, "timestamp": row.timestamp.isoformat() + "Z",
        }
        for index, row in enumerate(interactions.itertuples())
    ]
    with tenant_scope(tenant):
        result = event_ingest_batch(tenant=tenant, events=events)
    assert result.accepted == len(events), result.errors[:3]


def a_second_version_of(version: ModelVersion, tmp_path) -> ModelVersion:
    """Another trained version to test against: the first one's artifacts, copied."""
    return ModelVersionFactory(
        tenant=version.tenant, number=version.number + 1, base_model=version.base_model,
        method=version.method, metrics=version.metrics,
        artifact_path=version_copy(version.artifact_path, tmp_path, "second-version"),
    )


def storefront_serves_shoppers(base_url: str, tenant, count: int) -> None:
    """Shoppers open the storefront: it asks the API for their recommendations."""
    secret = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="storefront").key
    for number in range(count):
        response = requests.get(
            f"{base_url}/api/v1/recommendations", params={"shopper_id": f"shopper-{number}", "limit": 5},
            headers={"Authorization": f"Bearer {secret}"}, timeout=60,
        )
        assert response.status_code == 200, response.text
    served_log.flush()  # what the log's writer thread would do a few seconds later


@pytest.mark.django_db(transaction=True)
def test_a_merchant_imports_a_catalog_trains_a_model_promotes_it_and_starts_an_experiment(
    page: Page, live_server, store, owner, worker, tmp_path
):
    log_in(page, owner.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    page.get_by_label("Catalog file").set_input_files(CATALOG_FILE)
    page.get_by_role("button", name="Import", exact=True).click()
    # The import's own page: the worker imports the file, and htmx brings in the outcome.
    expect(page.get_by_role("heading", name="Import of")).to_be_visible()
    expect(page.locator("#import-progress")).to_contain_text(
        "60 rows imported: 60 products created, 0 updated.", timeout=IMPORT_TIMEOUT_MS
    )

    shoppers_buy_from_the_catalog(store)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fine-tuning").click()
    page.get_by_role("link", name="Start your first fine-tuning job").click()
    page.get_by_label("Quick LoRA").check()
    htmx_requests = []
    page.on("request", lambda request: htmx_requests.append(request.url) if request.headers.get("hx-request") else None)
    page.get_by_role("button", name="Start fine-tuning").click()
    expect(page.get_by_role("heading", name="Fine-tuning job #")).to_be_visible()
    # Nobody reloads the page: htmx asks for the job's progress, and the server has the page
    # reloaded as the job moves on (an epoch added, the job ended).
    expect(page.locator("#job-percent")).to_have_text("100%", timeout=TRAINING_TIMEOUT_MS)
    expect(page.get_by_role("progressbar", name="Progress")).to_have_js_property("value", 100)
    expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=TRAINING_TIMEOUT_MS)
    polls = [url for url in htmx_requests if "/progress/?status=" in url and "&epochs=" in url]
    assert polls, "htmx never asked for the job's progress"
    expect(page.locator("#job-version")).to_contain_text("This job produced model version v1.")

    page.get_by_role("link", name="See its metrics beside the baselines").click()
    expect(page.locator("#live-line")).to_have_text("No version is live yet.")
    page.get_by_role("link", name="Make v1 live").click()
    expect(page.get_by_role("heading", name="Make v1 live?")).to_be_visible()
    page.get_by_role("button", name="Make v1 live").click()
    expect(page.locator("#live-line")).to_contain_text("v1 is live")
    first = ModelVersion.all_tenants.get(tenant=store, number=1)
    assert first.status == VersionStatus.LIVE and first.promoted_by == owner

    second = a_second_version_of(first, tmp_path)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name="New experiment").click()
    page.locator("#id_name").fill("Second model against the live one")
    page.get_by_label("Key").fill("second-model")
    page.get_by_label("Serves (2)").select_option("model_version")
    page.get_by_label("Model version (2)").select_option(label=f"v{second.number} (Candidate)")
    page.get_by_role("button", name="Save as a draft").click()
    expect(page.locator("#experiment-status")).to_have_text("Draft")

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#experiment-status")).to_have_text("Running")

    storefront_serves_shoppers(live_server.url, store, SHOPPERS_SERVED)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name="second-model").click()
    results = page.locator("#experiment-results")
    expect(results).to_contain_text(f"{SHOPPERS_SERVED} shoppers served in the experiment so far.")
    for variant in ("control", "treatment"):
        expect(results.locator(f'#results-primary tr[data-variant="{variant}"]')).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_the_job_page_follows_a_running_job_in_place_and_reloads_when_it_ends(page: Page, store, owner):
    # The tiny encoder often finishes before the journey's page first asks: here the job stands
    # still until the test moves it, so the figures must change without the page reloading.
    job = TrainingJobFactory(
        tenant=store, status=JobStatus.RUNNING, progress=0.25, epoch=1, step=5, total_steps=20,
        log_tail="epoch 1: step 5",
    )
    log_in(page, owner.username)
    page.goto(f"/training/jobs/{job.pk}/")
    expect(page.locator("#job-percent")).to_have_text("25%")
    page.evaluate("window.notReloaded = true")

    TrainingJob.all_tenants.filter(pk=job.pk).update(progress=0.5, step=10, log_tail="epoch 1: step 10")
    expect(page.locator("#job-percent")).to_have_text("50%", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("#job-log")).to_have_text("epoch 1: step 10")
    assert page.evaluate("window.notReloaded === true"), "the page reloaded for a figure htmx could swap"

    TrainingJob.all_tenants.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress=1.0, step=20)
    expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("#job-percent")).to_have_text("100%")
    expect(page.get_by_role("link", name="Cancel job")).to_have_count(0)
    assert page.evaluate("window.notReloaded === undefined"), "the ended job's page was not reloaded"


@pytest.mark.django_db(transaction=True)
def test_a_keyboard_user_keeps_their_place_in_the_job_list_while_it_follows_a_running_job(
    page: Page, store, owner
):
    # The list asks for itself every 3 s. Swapped in whole, its links were new elements, and the
    # focus of someone tabbing through them fell back to the top of the page at every poll.
    job = TrainingJobFactory(tenant=store, status=JobStatus.RUNNING, progress=0.25, step=5, total_steps=20)
    log_in(page, owner.username)
    page.goto("/training/jobs/")
    link = page.locator("#jobs-live").get_by_role("link", name=f"#{job.number}")
    link.focus()
    # A property of the element itself, not an attribute: morphing sets the attributes the server sent.
    page.evaluate("document.activeElement.focusedBeforeThePoll = 'yes'")

    TrainingJob.all_tenants.filter(pk=job.pk).update(progress=0.5, step=10)
    expect(page.locator("#jobs-live .percent")).to_have_text("50%", timeout=POLL_TIMEOUT_MS)
    assert page.evaluate("document.activeElement.focusedBeforeThePoll") == "yes"
