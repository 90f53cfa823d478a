"""A learner of a real store takes its courses and nothing more: every other page, and the API through
their session, answers 403 saying why and who can change it. In their own sandbox they are its owner
and use everything, as before. Analysts read the store as they always did; API keys are unaffected."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation
from django.utils.html import escape

from catalog.models import ImportStatus, ProductImport
from courses.labs.sandbox import sandbox_get
from courses.models import LabStepCompletion, QuizAttempt
from courses.services import enrollment_create, lesson_complete
from experiments.services import experiment_create
from recommendations.attribution import served_log
from recommendations.serving import forget_everything
from tenants.models import ApiKeyKind, Membership, Role
from tenants.scope import tenant_scope
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY
from tenants.services import api_key_issue
from tenants.web import LEARNER_REFUSED
from tests.courses.factories import (
    CourseFactory,
    LabFactory,
    LabStepFactory,
    LessonFactory,
    ModuleFactory,
    QuizFactory,
)
from tests.factories import MembershipFactory, ProductFactory, UserFactory
from tests.training.factories import ModelVersionFactory, TrainingJobFactory
from training.models import JobStatus, VersionStatus

ANALYST_ROLE_HINT = "give you the analyst role"


@pytest.fixture
def store(tenant):
    """One of everything a learner must not read, each named so that a page showing it would say so."""
    product = ProductFactory(tenant=tenant, external_id="SECRET-SKU", title="Secret Oolong Tea")
    product_import = ProductImport.all_tenants.create(
        tenant=tenant, filename="secret-catalog.csv", file_format="csv", status=ImportStatus.SUCCEEDED,
    )
    job = TrainingJobFactory(tenant=tenant, status=JobStatus.FAILED)
    version = ModelVersionFactory(tenant=tenant, number=7, status=VersionStatus.LIVE)
    with tenant_scope(tenant):
        experiment = experiment_create(
            tenant=tenant, key="secret-test", name="Secret pricing test", primary_metric="conversion_rate",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "popular", "kind": "popularity", "weight": 1},
            ],
        )
    return {
        "product": product, "import": product_import, "job": job, "version": version,
        "experiment": experiment,
    }


@pytest.fixture
def course(db):
    """A platform course of one lesson and one lab."""
    course = CourseFactory(title="Recommender basics")
    module = ModuleFactory(course=course, position=1)
    LessonFactory(module=module, position=1, title="What a recommendation is")
    lab = LabFactory(module=module, position=1, title="Import a catalog")
    LabStepFactory(lab=lab, position=1)
    return course


def lab_of(course):
    return course.modules.get().labs.get()


# The store's pages, one or more per area, with what each would show of the store.
READ_PAGES = {
    "catalog": lambda store: (reverse("product-list"), "Secret Oolong Tea"),
    "product": lambda store: (reverse("product-detail", args=[store["product"].pk]), "Secret Oolong Tea"),
    "import": lambda store: (
        reverse("product-import-detail", args=[store["import"].pk]), "secret-catalog.csv"
    ),
    "events": lambda store: (reverse("event-overview"), "data-cleaning"),
    "jobs": lambda store: (reverse("training-job-list"), f"/training/jobs/{store['job'].pk}/"),
    "job": lambda store: (reverse("training-job-detail", args=[store["job"].pk]), "job-progress"),
    "models": lambda store: (reverse("model-version-list"), "v7"),
    "experiments": lambda store: (reverse("experiments:list"), "Secret pricing test"),
    "experiment": lambda store: (
        reverse("experiments:detail", args=[store["experiment"].pk]), "Secret pricing test"
    ),
    "try it": lambda store: (reverse("recommendations:try"), 'id="try-form"'),
    "serving rules": lambda store: (reverse("recommendations:rules"), 'id="rules"'),
    "store settings": lambda store: (reverse("store-settings"), 'id="store-time-zone"'),
}
MANAGER_PAGES = {"API keys": "api-keys", "members": "members", "catalog import": "product-import"}


@pytest.mark.parametrize("area", READ_PAGES)
def test_a_learner_of_the_store_is_refused_every_area_and_told_to_ask_for_the_analyst_role(
    learner_client, store, area
):
    url, shown = READ_PAGES[area](store)
    response = learner_client.get(url)
    html = response.content.decode()
    assert response.status_code == 403
    assert 'id="error-page"' in html and ANALYST_ROLE_HINT in html
    assert f'href="{reverse("courses:list")}"' in html  # where they may go instead
    assert shown not in html


@pytest.mark.parametrize("area", MANAGER_PAGES)
def test_a_learner_is_refused_the_managers_pages_as_only_for_owners_and_admins(learner_client, area):
    response = learner_client.get(reverse(MANAGER_PAGES[area]))
    html = response.content.decode()
    assert response.status_code == 403
    # The analyst role would not open these either: the page says who may.
    assert "Only owners and admins can do this." in html and ANALYST_ROLE_HINT not in html


def test_the_refusal_reads_in_the_learners_language(learner_client, store):
    learner_client.cookies["django_language"] = "zh-hans"
    html = learner_client.get(reverse("product-list")).content.decode()
    assert 'lang="zh-hans"' in html and 'id="error-page"' in html
    with translation.override("zh-hans"):
        assert escape(str(LEARNER_REFUSED)) in html


# Pages a learner of a real store may open: the courses, the certificate requirement (which may block
# them), their way back from a sandbox, the tenant switcher and the dashboard.
LEARNER_PAGES = {"dashboard", "tenant-switch", "courses:requirement"}
LEARNER_VIEWS_OF_COURSES = re.compile(r"^courses:(?!author|analytics)")
# Not the merchant's pages: the account's, the public certificate, the API (its own test below), ops, admin.
NOT_MERCHANT_PAGES = re.compile(
    r"^(api/|admin/|ops/|i18n/|login/|logout/|password-reset/|invitations/|certificates/"
    r"|healthz|readyz|metrics)"
)


def _merchant_pages(patterns=None, prefix: str = "", namespace: str = ""):
    """(name, path) of every page of the merchant UI, its parameters filled in with any value."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _merchant_pages(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern) and not NOT_MERCHANT_PAGES.match(route):
            path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: "1" if m.group(1) == "int" else "x", route)
            yield f"{namespace}{pattern.name}", "/" + path


def test_every_page_but_the_courses_and_the_dashboard_is_closed_to_a_learner_even_one_added_later(
    learner_client,
):
    """member_required closes a view to learners unless it says `learners=True`: this walks every
    route, so a new page that shows the store and forgets the guard fails here."""
    checked = []
    for name, path in _merchant_pages():
        if name in LEARNER_PAGES or LEARNER_VIEWS_OF_COURSES.match(name):
            continue
        response = learner_client.get(path, follow=True)
        if response.status_code == 405:
            response = learner_client.post(path)
        assert response.status_code == 403, (name, path, response.status_code)
        checked.append(name)
    assert {"product-list", "training-job-list", "experiments:list", "recommendations:try"} <= set(checked)


def test_a_learner_sees_the_courses_and_can_open_their_sandbox(learner_client, learner_user, tenant, course):
    lab = lab_of(course)
    assert learner_client.get(reverse("courses:list")).status_code == 200
    assert learner_client.post(reverse("courses:enroll", args=[course.pk])).status_code == 302
    assert learner_client.get(reverse("courses:detail", args=[course.pk])).status_code == 200
    assert learner_client.get(reverse("courses:lab", args=[course.pk, lab.pk])).status_code == 200
    assert learner_client.get(reverse("courses:requirement")).status_code == 200

    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))

    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    assert sandbox is not None and learner_client.session[ACTIVE_TENANT_SESSION_KEY] == sandbox.pk
    back = learner_client.post(reverse("courses:sandbox-leave"))
    assert back.url == reverse("courses:lab", args=[course.pk, lab.pk])


def test_in_their_sandbox_a_learner_opens_every_page_and_the_api_as_its_owner(
    learner_client, learner_user, tenant, course, api_client
):
    lab = lab_of(course)
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    assert Membership.all_tenants.get(tenant=sandbox, user=learner_user).role == Role.OWNER
    sandbox_product = ProductFactory(tenant=sandbox, title="Sandbox Sencha")
    sandbox_job = TrainingJobFactory(tenant=sandbox, status=JobStatus.FAILED)

    for url in [
        reverse("product-list"), reverse("product-detail", args=[sandbox_product.pk]),
        reverse("event-overview"), reverse("training-job-list"),
        reverse("training-job-detail", args=[sandbox_job.pk]), reverse("model-version-list"),
        reverse("recommendations:try"), reverse("recommendations:rules"), reverse("experiments:list"),
        reverse("api-keys"), reverse("store-settings"), reverse("product-import"),
    ]:
        assert learner_client.get(url).status_code == 200, url
    nav = learner_client.get(reverse("dashboard")).content.decode()
    assert 'href="/catalog/"' in nav and 'href="/training/models/"' in nav and 'id="dashboard-catalog"' in nav

    api_client.force_login(learner_user)
    session = api_client.session
    session[ACTIVE_TENANT_SESSION_KEY] = sandbox.pk
    session.save()
    answer = api_client.get("/api/v1/catalog/products")
    assert answer.status_code == 200
    assert [p["title"] for p in answer.json()["results"]] == ["Sandbox Sencha"]


def test_in_their_sandbox_the_stores_own_objects_are_another_tenants_404(
    learner_client, learner_user, tenant, course, store
):
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab_of(course).pk]))
    assert learner_client.get(reverse("product-detail", args=[store["product"].pk])).status_code == 404
    assert learner_client.get(reverse("experiments:detail", args=[store["experiment"].pk])).status_code == 404


def test_another_tenants_object_is_still_a_404_not_a_403(client, other_merchant_user, store):
    """The learner rule is about one's role in one's own store: a member of another store is told
    nothing about this one's objects, not even that they exist."""
    client.force_login(other_merchant_user)
    assert client.get(reverse("product-detail", args=[store["product"].pk])).status_code == 404
    assert client.get(reverse("training-job-detail", args=[store["job"].pk])).status_code == 404
    assert client.get(reverse("experiments:detail", args=[store["experiment"].pk])).status_code == 404


@pytest.mark.parametrize("area", READ_PAGES)
def test_an_analyst_still_reads_every_area(analyst_client, store, area):
    url, shown = READ_PAGES[area](store)
    response = analyst_client.get(url)
    assert response.status_code == 200
    assert shown in response.content.decode()


def test_an_analysts_navigation_and_dashboard_are_as_before(analyst_client, store):
    html = analyst_client.get(reverse("dashboard")).content.decode()
    for link in ("/catalog/", "/catalog/events/", "/training/jobs/", "/training/models/",
                 "/recommendations/try/", "/experiments/", "/courses/", "/settings/store/"):
        assert f'href="{link}"' in html, link
    assert 'id="dashboard-catalog"' in html and 'id="dashboard-experiments"' in html
    assert 'href="/settings/api-keys/"' not in html  # managers' pages stay closed to analysts


def test_the_navigation_shows_a_learner_only_the_dashboard_and_the_courses(learner_client, store):
    html = learner_client.get(reverse("dashboard")).content.decode()
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.DOTALL).group(0)
    assert re.findall(r'href="([^"]+)"', nav) == ["/", "/courses/"]


def test_a_learners_dashboard_shows_their_courses_and_sandbox_and_none_of_the_stores_figures(
    learner_client, learner_user, tenant, store, course
):
    api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server")
    with tenant_scope(tenant):
        enrollment_create(tenant=tenant, membership=Membership.objects.get(user=learner_user), course=course)

    html = learner_client.get(reverse("dashboard")).content.decode()

    assert "Recommender basics" in html and f'href="/courses/{course.pk}/"' in html
    assert 'id="dashboard-no-sandbox"' in html and ANALYST_ROLE_HINT in html
    for tile in ("dashboard-catalog", "dashboard-import", "dashboard-events", "dashboard-model",
                 "dashboard-jobs", "dashboard-experiments", "dashboard-api-keys", "dashboard-learning",
                 "getting-started"):
        assert f'id="{tile}"' not in html, tile
    for figure in ("Secret pricing test", "v7", "secret-catalog.csv", "products in the catalog"):
        assert figure not in html, figure

    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab_of(course).pk]))
    learner_client.post(reverse("courses:sandbox-leave"))
    html = learner_client.get(reverse("dashboard")).content.decode()
    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    assert f'name="tenant_id" value="{sandbox.pk}"' in html  # "Open my sandbox", through the tenant switch
    assert learner_client.post(reverse("tenant-switch"), {"tenant_id": sandbox.pk}).status_code == 302
    assert learner_client.session[ACTIVE_TENANT_SESSION_KEY] == sandbox.pk


def test_a_learner_made_an_analyst_reads_the_store(learner_client, learner_user, store):
    assert learner_client.get(reverse("product-list")).status_code == 403
    Membership.all_tenants.filter(user=learner_user).update(role=Role.ANALYST)
    assert "Secret Oolong Tea" in learner_client.get(reverse("product-list")).content.decode()


# --- The API through a session -------------------------------------------------------------------

SESSION_API_READS = [
    "/api/v1/catalog/products",
    "/api/v1/catalog/products/SECRET-SKU",
    "/api/v1/catalog/imports",
    "/api/v1/experiments",
    "/api/v1/experiments/secret-test",
    "/api/v1/experiments/secret-test/results",
    "/api/v1/recommendations?shopper_id=s1",
    "/api/v1/products/SECRET-SKU/similar",
    "/api/v1/search?q=tea",
]


def test_a_learners_session_gets_403_on_the_stores_api_with_why(api_client, learner_user, store):
    api_client.force_login(learner_user)
    for url in [*SESSION_API_READS, "/api/v1/events/cleaning-report", "/api/v1/shoppers/s1/profile"]:
        response = api_client.get(url)
        assert response.status_code == 403, url
        assert ANALYST_ROLE_HINT in response.json()["detail"], url
        assert "Secret Oolong Tea" not in response.content.decode()
    # Endpoints already closed to analysts keep saying that the role cannot.
    for url in ("/api/v1/training/jobs", "/api/v1/models"):
        response = api_client.get(url)
        assert response.status_code == 403 and "Learner" in response.json()["detail"], url
    assert api_client.post("/api/v1/catalog/products", {"products": []}, format="json").status_code == 403


@pytest.fixture
def serving_forgotten():
    """What an analyst's recommendations leave behind (the loaded state, the buffered lists served),
    dropped as a new web process would start: no other test reads it."""
    yield
    forget_everything()
    served_log.discard()


def test_an_analysts_session_still_reads_the_stores_api(
    api_client, member_with_role, store, serving_forgotten
):
    api_client.force_login(member_with_role(Role.ANALYST))
    for url in SESSION_API_READS:
        assert api_client.get(url).status_code == 200, url


def test_an_api_key_of_a_store_with_learners_is_unaffected(secret_client, learner_user, store):
    response = secret_client.get("/api/v1/catalog/products")
    assert response.status_code == 200
    assert [p["title"] for p in response.json()["results"]] == ["Secret Oolong Tea"]


def test_staff_who_are_learners_of_a_store_still_use_the_ops_console(client, tenant):
    staff = UserFactory(username="ops@platform.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=staff, role=Role.LEARNER)
    client.force_login(staff)
    assert client.get(reverse("ops:jobs")).status_code == 200
    assert client.get(reverse("ops:system")).status_code == 200


def test_a_course_without_lessons_yet_shows_no_empty_progress_bar_on_the_learners_dashboard(
    learner_client, learner_user, tenant
):
    empty = CourseFactory(title="Coming soon")
    with tenant_scope(tenant):
        enrollment_create(tenant=tenant, membership=Membership.objects.get(user=learner_user), course=empty)

    row = re.search(
        rf'<li id="my-course-{empty.pk}">.*?</li>', learner_client.get(reverse("dashboard")).content.decode(), re.DOTALL
    ).group(0)
    assert "Coming soon" in row and "<progress" not in row and "0 of 0" not in row


def a_course_half_taken(tenant, learner, title: str) -> None:
    """A platform course of two lessons, a lab step and a quiz: the learner read one lesson, passed
    the step and tried the quiz once."""
    module = ModuleFactory(course=CourseFactory(title=title), position=1)
    first = LessonFactory(module=module, position=1)
    LessonFactory(module=module, position=2)
    step = LabStepFactory(lab=LabFactory(module=module, position=1), position=1)
    quiz = QuizFactory(module=module)
    with tenant_scope(tenant):
        enrollment = enrollment_create(tenant=tenant, membership=learner, course=module.course)
        lesson_complete(tenant=tenant, enrollment=enrollment, lesson=first)
        LabStepCompletion.objects.create(tenant=tenant, enrollment=enrollment, step=step, message="Seen.")
        QuizAttempt.objects.create(
            tenant=tenant, enrollment=enrollment, quiz=quiz, number=1, answers={}, score=0.5, passed=False
        )


def test_a_learners_dashboard_reads_four_courses_in_as_many_queries_as_one(learner_client, learner_user, tenant):
    with tenant_scope(tenant):
        learner = Membership.objects.get(user=learner_user)
    a_course_half_taken(tenant, learner, "Course one")
    learner_client.get(reverse("dashboard"))  # the session's first page may read more than the next
    with CaptureQueriesContext(connection) as one_course:
        learner_client.get(reverse("dashboard"))

    for title in ("Course two", "Course three", "Course four"):
        a_course_half_taken(tenant, learner, title)
    with CaptureQueriesContext(connection) as four_courses:
        html = learner_client.get(reverse("dashboard")).content.decode()

    assert len(four_courses.captured_queries) == len(one_course.captured_queries)
    rows = re.findall(r'<li id="my-course-\d+">.*?</li>', html, re.DOTALL)
    assert len(rows) == 4
    assert all('<progress class="bar" max="2" value="1"></progress>' in row and "1 of 2 lessons" in row for row in rows)
