"""What a screen reader or keyboard user meets on the merchant pages (WCAG 2.2 AA), in English and
in Chinese: labels and errors tied to their fields, text alternatives for the charts, live regions
for the parts that update themselves, and no words a page was not meant to show."""
import re
from html.parser import HTMLParser
from pathlib import Path

from django.urls import reverse
from django.utils import timezone

from catalog.models import ImportStatus, ProductImport
from tenants.models import ApiKeyKind
from tenants.scope import tenant_scope
from tests.experiments.test_pages import detail_url as experiment_url
from tests.experiments.test_pages import shoppers_served, started
from tests.factories import ProductFactory
from tests.training.factories import TrainingJobFactory, a_live_model
from training.models import JobStatus

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_comment_runs_over_two_lines():
    """Django ends a {# #} comment at its line: one over two lines is printed on the page, in English
    on a Chinese page too. Longer comments take {% comment %}."""
    unclosed = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert not unclosed, f"use {{% comment %}} for these: {unclosed}"


class _Elements(HTMLParser):
    """The ids of a page, and the ids its elements point to with aria-describedby."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.described: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        if attributes.get("aria-describedby"):
            name = attributes.get("name") or attributes.get("id") or tag
            self.described[name] = attributes["aria-describedby"].split()


def descriptions_pointing_nowhere(page: str) -> dict[str, list[str]]:
    elements = _Elements()
    elements.feed(page)
    return {
        name: missing
        for name, ids in elements.described.items()
        if (missing := [id_ for id_ in ids if id_ not in elements.ids])
    }


def description_of(page: str, name: str) -> str:
    """The text a screen reader reads after the field `name`'s label: what its aria-describedby names."""
    elements = _Elements()
    elements.feed(page)
    return " ".join(
        re.sub(r"<[^>]+>", " ", re.search(rf'id="{id_}"[^>]*>(.*?)</(?:span|div|small|p)>', page, re.DOTALL).group(1))
        for id_ in elements.described[name]
    )


def test_a_refused_login_is_read_out_with_the_email_field(client, merchant_user):
    page = client.post("/login/", {"username": "owner@acme.test", "password": "nope"}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert 'id="id_username"' in page and 'aria-invalid="true"' in page
    assert "password is wrong" in description_of(page, "username")


def test_an_error_of_the_api_key_form_is_tied_to_its_field(owner_client):
    page = owner_client.post("/settings/api-keys/", {"name": "", "kind": ApiKeyKind.SECRET}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "required" in description_of(page, "name")


def test_an_import_without_a_file_ties_the_error_to_the_file_field(owner_client):
    page = owner_client.post(reverse("product-import"), {"file": ""}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "required" in description_of(page, "file")


def test_the_auto_promote_switch_names_its_help_text(owner_client):
    page = owner_client.get(reverse("model-version-list")).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "candidates" in description_of(page, "auto_promote_models")



# --- The parts that update themselves: a screen reader hears them change --------------------

HTMX = {"HX-Request": "true"}


def _opening_tag(page: str, element_id: str) -> str:
    return re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', page).group(0)


def test_a_running_jobs_percent_is_announced_on_its_page_and_in_the_polled_part(owner_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING, progress=0.4, epoch=1, step=4, total_steps=10)
    page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()
    polled = owner_client.get(
        reverse("training-job-progress-fragment", args=[job.pk]) + "?status=running&epochs=0", headers=HTMX
    ).content.decode()

    for html in (page, polled):
        assert 'role="status"' in _opening_tag(html, "job-percent")
        assert re.search(r'id="job-percent"[^>]*>40%<', html)


def test_the_job_list_and_the_dashboard_tile_read_out_a_job_that_changed(owner_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING, progress=0.4, epoch=1, step=4, total_steps=10)
    jobs = owner_client.get(reverse("training-job-list")).content.decode()
    tile = owner_client.get(reverse("dashboard-jobs"), headers=HTMX).content.decode()

    assert 'aria-live="polite"' in _opening_tag(jobs, "jobs-live")
    assert re.search(r'<tr aria-atomic="true">\s*<td><a href="[^"]+">#1</a>', jobs)
    assert 'aria-live="polite"' in _opening_tag(tile, "dashboard-jobs")
    assert 'aria-atomic="true"' in _opening_tag(tile, f"dashboard-job-{job.pk}")


def test_an_imports_status_is_announced_when_it_changes(owner_client, tenant):
    with tenant_scope(tenant):
        running = ProductImport.objects.create(
            filename="big.csv", file_format="csv", status=ImportStatus.RUNNING, row_count=10, rows_checked=5,
            started_at=timezone.now(), progress_at=timezone.now(),
        )
    page = owner_client.get(reverse("product-import-detail", args=[running.pk])).content.decode()

    assert 'aria-live="polite"' in _opening_tag(page, "import-facts")


# --- Charts: the numbers in text, for those who cannot see them ------------------------------


def test_the_experiments_chart_over_time_gives_every_point_in_a_table(owner_client, tenant):
    a_live_model(tenant)
    experiment = started(tenant)
    shoppers_served(tenant, experiment, "control", shoppers=120, buyers=12)
    shoppers_served(tenant, experiment, "popular", shoppers=120, buyers=24)
    page = owner_client.get(experiment_url(experiment)).content.decode()

    numbers = re.search(r'<details class="chart-numbers" id="time-chart-numbers">(.*?)</details>', page, re.DOTALL).group(1)
    rows = re.findall(r"<tr><th scope=\"row\"><code>(\w+)</code></th><td>[^<]+</td><td>([^<]+)</td></tr>", numbers)
    assert ("control", "10.00%") in rows and ("popular", "20.00%") in rows


def test_a_training_curve_gives_every_epochs_value_in_text(owner_client, tenant):
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.RUNNING, epoch_metrics=[
        {"epoch": 1, "train_loss": 2.0, "validation": {"ndcg@10": 0.2}},
        {"epoch": 2, "train_loss": 1.5, "validation": {"ndcg@10": 0.25}},
        {"epoch": 3, "train_loss": 1.0, "validation": {"ndcg@10": 0.3}},
    ])
    page = owner_client.get(reverse("training-job-detail", args=[job.pk])).content.decode()

    listed = re.findall(r'<details class="chart-numbers">.*?</details>', page, re.DOTALL)
    assert listed and "<li>Epoch 2: 1.5000</li>" in listed[0] and "<li>Epoch 2: 0.2500</li>" in listed[1]


def test_the_language_menu_names_each_language_in_its_own_language_for_a_screen_reader(owner_client):
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get("/").content.decode()

    assert '<html lang="zh-hans">' in page
    assert re.search(r'<option value="en" lang="en"[^>]*>English</option>', page)


def _relative_luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    light, dark = sorted([_relative_luminance(one), _relative_luminance(other)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_a_form_fields_edge_stands_out_from_the_page_by_3_to_1():
    css = (TEMPLATES.parent / "static" / "css" / "app.css").read_text()
    colours = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6})", css))

    assert re.search(r"input, select, textarea \{ border-color: var\(--field-edge\); \}", css)
    assert _contrast(colours["field-edge"], "#ffffff") >= 3 and _contrast(colours["field-edge"], colours["bg"]) >= 3


def test_a_field_that_may_be_left_empty_says_so_beside_its_label_and_a_required_one_or_a_checkbox_does_not(
    owner_client, tenant
):
    pear = ProductFactory(tenant=tenant, external_id="PEAR-1", title="Green pear")
    page = owner_client.get(reverse("product-detail", args=[pear.pk])).content.decode()

    def label_of(name: str) -> str:
        return re.search(rf'<label for="id_{name}">.*?</label>( <span class="empty optional">[^<]*</span>)?', page).group(0)

    assert label_of("description").endswith('<span class="empty optional">(optional)</span>')
    assert "optional" not in label_of("title")  # required: the browser says so
    assert "optional" not in label_of("in_stock")  # a checkbox: unticked is an answer
