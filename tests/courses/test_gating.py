"""Gating: a tenant may require a course certificate before a member promotes a model or starts an
experiment; the API says so with a 403 naming the course, the UI with a message linking to it."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from courses.gating import (
    CertificateRequired,
    certificate_requirement_check,
    tenant_certificate_requirement_set,
)
from courses.models import Certificate, Lesson
from courses.services import enrollment_create, lesson_complete
from experiments.models import Experiment, ExperimentStatus
from experiments.services import experiment_create
from tenants.models import Membership, Role, Tenant
from tenants.scope import tenant_scope
from tests.courses.factories import CourseFactory, LessonFactory, ModuleFactory
from tests.factories import MembershipFactory, UserFactory
from tests.training.factories import ModelVersionFactory, a_live_model
from training.models import ModelVersion, VersionStatus

MODELS = "/api/v1/models"
EXPERIMENTS = "/api/v1/experiments"
REQUIREMENT = "/courses/requirement/"
SLUG = "ab-testing"


# --- Fixtures and helpers --------------------------------------------------------------------


def _readable_course(**fields):
    """A course passed by reading its one lesson: no quiz to grade."""
    course = CourseFactory(slug=SLUG, **fields)
    LessonFactory(module=ModuleFactory(course=course, position=1), position=1)
    return course


@pytest.fixture
def required_course(db):
    """The platform course the tenant will require, in English."""
    return _readable_course(language="en", title="Running A/B tests")


@pytest.fixture
def required_course_in_chinese(db):
    return _readable_course(language="zh-hans", title="A/B 测试入门")


@pytest.fixture
def requiring_tenant(tenant, required_course) -> Tenant:
    tenant.required_certificate_course_slug = SLUG
    tenant.save(update_fields=["required_certificate_course_slug"])
    return tenant


def certificate_earned(tenant, user, course) -> Certificate:
    """`user` reads every lesson of `course` as a member of `tenant`; the services issue the certificate."""
    membership = Membership.all_tenants.get(tenant=tenant, user=user)
    with tenant_scope(tenant):
        enrollment = enrollment_create(tenant=tenant, membership=membership, course=course)
        for lesson in Lesson.objects.filter(module__course=course):
            lesson_complete(tenant=tenant, enrollment=enrollment, lesson=lesson)
        return Certificate.objects.get(enrollment=enrollment)


def course_link(course) -> str:
    return f"/courses/{course.pk}/"


def status_of(version: ModelVersion) -> str:
    version.refresh_from_db()
    return version.status


def draft_experiment(tenant, key: str = "home-list") -> Experiment:
    a_live_model(tenant)  # its control serves the live model
    with tenant_scope(tenant):
        return experiment_create(
            tenant=tenant, key=key, name="Home page list", primary_metric="click_through_rate",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "trending", "kind": "popularity", "weight": 1},
            ],
        )


def experiment_status(experiment: Experiment) -> str:
    return Experiment.all_tenants.get(pk=experiment.pk).status


def page_messages(response) -> str:
    match = re.search(r'<ul class="messages">(.*?)</ul>', response.content.decode(), re.DOTALL)
    assert match, "the page shows no message"
    return match.group(1)


def assert_blocked_by(response, course) -> None:
    assert response.status_code == 403
    assert response.data["code"] == "certificate_required"
    assert course.title in response.data["detail"]
    assert response.data["course"]["id"] == course.pk
    assert response.data["course"]["slug"] == SLUG and response.data["course"]["title"] == course.title
    assert course_link(course) in response.data["course"]["url"]


# --- Promoting a model -----------------------------------------------------------------------


def test_a_member_without_the_certificate_cannot_promote_through_the_api(
    session_client, requiring_tenant, required_course
):
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = session_client.post(f"{MODELS}/{version.pk}/promote")

    assert_blocked_by(response, required_course)
    assert status_of(version) == VersionStatus.CANDIDATE


def test_a_member_with_the_certificate_promotes_through_the_api(
    session_client, requiring_tenant, merchant_user, required_course
):
    certificate_earned(requiring_tenant, merchant_user, required_course)
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = session_client.post(f"{MODELS}/{version.pk}/promote")

    assert response.status_code == 200
    assert status_of(version) == VersionStatus.LIVE


def test_the_promote_page_shows_a_message_linking_the_course_and_promotes_nothing(
    owner_client, requiring_tenant, required_course
):
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = owner_client.post(reverse("model-version-promote", args=[version.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("model-version-list")
    message = page_messages(response)
    assert "Running A/B tests" in message
    assert f'<a href="{course_link(required_course)}">' in message
    assert status_of(version) == VersionStatus.CANDIDATE


def test_the_promote_page_promotes_for_a_member_with_the_certificate(
    owner_client, requiring_tenant, merchant_user, required_course
):
    certificate_earned(requiring_tenant, merchant_user, required_course)
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = owner_client.post(reverse("model-version-promote", args=[version.pk]), follow=True)

    assert "v1 is live." in page_messages(response)
    assert status_of(version) == VersionStatus.LIVE


def test_the_course_title_in_the_message_is_escaped(owner_client, requiring_tenant, required_course):
    required_course.title = "<script>alert(1)</script> tests"
    required_course.save(update_fields=["title"])
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = owner_client.post(reverse("model-version-promote", args=[version.pk]), follow=True)

    message = page_messages(response)
    assert "<script>" not in message and "&lt;script&gt;" in message
    assert f'<a href="{course_link(required_course)}">' in message


def test_rolling_back_needs_no_certificate(session_client, requiring_tenant):
    # The emergency exit stays open to whoever is on hand.
    older = ModelVersionFactory(tenant=requiring_tenant, number=1, status=VersionStatus.ARCHIVED)
    older.promoted_at = older.created_at
    older.save(update_fields=["promoted_at"])
    ModelVersionFactory(tenant=requiring_tenant, number=2, status=VersionStatus.LIVE)

    response = session_client.post(f"{MODELS}/rollback")

    assert response.status_code == 200
    assert status_of(older) == VersionStatus.LIVE


def test_the_tenants_secret_key_is_no_member_and_is_not_asked_for_a_certificate(
    secret_client, requiring_tenant
):
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    assert secret_client.post(f"{MODELS}/{version.pk}/promote").status_code == 200
    assert status_of(version) == VersionStatus.LIVE


# --- Starting an experiment ------------------------------------------------------------------


def test_a_member_without_the_certificate_cannot_start_an_experiment_through_the_api(
    session_client, requiring_tenant, required_course
):
    experiment = draft_experiment(requiring_tenant)

    response = session_client.post(f"{EXPERIMENTS}/{experiment.key}/start")

    assert_blocked_by(response, required_course)
    assert experiment_status(experiment) == ExperimentStatus.DRAFT


def test_a_member_with_the_certificate_starts_an_experiment_through_the_api(
    session_client, requiring_tenant, merchant_user, required_course
):
    certificate_earned(requiring_tenant, merchant_user, required_course)
    experiment = draft_experiment(requiring_tenant)

    response = session_client.post(f"{EXPERIMENTS}/{experiment.key}/start")

    assert response.status_code == 200
    assert experiment_status(experiment) == ExperimentStatus.RUNNING


def test_the_start_button_shows_a_message_linking_the_course_and_starts_nothing(
    owner_client, requiring_tenant, required_course
):
    experiment = draft_experiment(requiring_tenant)

    response = owner_client.post(reverse("experiments:start", args=[experiment.pk]), follow=True)

    message = page_messages(response)
    assert "Running A/B tests" in message
    assert f'<a href="{course_link(required_course)}">' in message
    assert experiment_status(experiment) == ExperimentStatus.DRAFT


def test_the_start_button_starts_for_a_member_with_the_certificate(
    owner_client, requiring_tenant, merchant_user, required_course
):
    certificate_earned(requiring_tenant, merchant_user, required_course)
    experiment = draft_experiment(requiring_tenant)

    response = owner_client.post(reverse("experiments:start", args=[experiment.pk]), follow=True)

    assert "shoppers are served their variant from now on" in page_messages(response)
    assert experiment_status(experiment) == ExperimentStatus.RUNNING


def test_stopping_an_experiment_needs_no_certificate(session_client, requiring_tenant, merchant_user,
                                                     required_course):
    certificate_earned(requiring_tenant, merchant_user, required_course)
    experiment = draft_experiment(requiring_tenant)
    session_client.post(f"{EXPERIMENTS}/{experiment.key}/start")
    Certificate.all_tenants.filter(tenant=requiring_tenant).delete()

    assert session_client.post(f"{EXPERIMENTS}/{experiment.key}/stop").status_code == 200
    assert experiment_status(experiment) == ExperimentStatus.STOPPED


# --- Whose certificate counts ----------------------------------------------------------------


def test_without_a_requirement_nobody_needs_a_certificate(session_client, tenant, required_course):
    version = ModelVersionFactory(tenant=tenant, number=1)
    experiment = draft_experiment(tenant)

    assert session_client.post(f"{MODELS}/{version.pk}/promote").status_code == 200
    assert session_client.post(f"{EXPERIMENTS}/{experiment.key}/start").status_code == 200


def test_a_certificate_earned_in_another_tenant_does_not_count(
    session_client, requiring_tenant, other_tenant, merchant_user, required_course
):
    MembershipFactory(tenant=other_tenant, user=merchant_user, role=Role.LEARNER)
    certificate_earned(other_tenant, merchant_user, required_course)
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    response = session_client.post(f"{MODELS}/{version.pk}/promote")

    assert_blocked_by(response, required_course)
    assert status_of(version) == VersionStatus.CANDIDATE


def test_another_members_certificate_does_not_count(
    session_client, requiring_tenant, member_with_role, required_course
):
    certificate_earned(requiring_tenant, member_with_role(Role.LEARNER), required_course)
    experiment = draft_experiment(requiring_tenant)

    response = session_client.post(f"{EXPERIMENTS}/{experiment.key}/start")

    assert_blocked_by(response, required_course)
    assert experiment_status(experiment) == ExperimentStatus.DRAFT


def test_platform_staff_need_the_certificate_like_any_member(requiring_tenant, required_course):
    staff = UserFactory(username="staff@platform.test", is_staff=True, is_superuser=True)
    MembershipFactory(tenant=requiring_tenant, user=staff, role=Role.ADMIN)

    with tenant_scope(requiring_tenant), pytest.raises(CertificateRequired):
        certificate_requirement_check(tenant=requiring_tenant, user=staff)


def test_the_certificate_of_the_course_in_the_other_language_counts(
    session_client, requiring_tenant, merchant_user, required_course_in_chinese
):
    certificate_earned(requiring_tenant, merchant_user, required_course_in_chinese)
    version = ModelVersionFactory(tenant=requiring_tenant, number=1)

    assert session_client.post(f"{MODELS}/{version.pk}/promote").status_code == 200


def test_the_course_to_take_is_the_one_in_the_members_language(
    requiring_tenant, merchant_user, required_course, required_course_in_chinese
):
    with (
        tenant_scope(requiring_tenant),
        translation.override("zh-hans"),
        pytest.raises(CertificateRequired) as blocked,
    ):
        certificate_requirement_check(tenant=requiring_tenant, user=merchant_user)
    assert blocked.value.course == required_course_in_chinese

    with (
        tenant_scope(requiring_tenant),
        translation.override("en"),
        pytest.raises(CertificateRequired) as blocked,
    ):
        certificate_requirement_check(tenant=requiring_tenant, user=merchant_user)
    assert blocked.value.course == required_course


def test_the_course_in_another_language_is_offered_when_none_is_in_the_members(
    requiring_tenant, merchant_user, required_course
):
    with (
        tenant_scope(requiring_tenant),
        translation.override("zh-hans"),
        pytest.raises(CertificateRequired) as blocked,
    ):
        certificate_requirement_check(tenant=requiring_tenant, user=merchant_user)
    assert blocked.value.course == required_course


def test_a_requirement_naming_a_missing_course_blocks_and_says_to_ask_an_owner(
    session_client, owner_client, tenant
):
    Tenant.objects.filter(pk=tenant.pk).update(required_certificate_course_slug="retired-course")
    version = ModelVersionFactory(tenant=tenant, number=1)

    response = session_client.post(f"{MODELS}/{version.pk}/promote")
    assert response.status_code == 403
    assert response.data["code"] == "certificate_required" and response.data["course"] is None
    assert "retired-course" in response.data["detail"] and "Ask an owner" in response.data["detail"]

    page = owner_client.post(reverse("model-version-promote", args=[version.pk]), follow=True)
    message = page_messages(page)
    assert "Ask an owner" in message and f'<a href="{REQUIREMENT}">' in message
    assert status_of(version) == VersionStatus.CANDIDATE


# --- The requirement page --------------------------------------------------------------------


def test_an_owner_sets_the_requirement_from_the_list_of_courses(
    owner_client, tenant, required_course, required_course_in_chinese
):
    form = owner_client.get(REQUIREMENT).content.decode()
    assert f'<option value="{SLUG}">Running A/B tests</option>' in form
    assert form.count(f'value="{SLUG}"') == 1  # one choice per course, whatever its languages

    response = owner_client.post(REQUIREMENT, {"course_slug": SLUG}, follow=True)

    assert response.redirect_chain[-1][0] == REQUIREMENT
    tenant.refresh_from_db()
    assert tenant.required_certificate_course_slug == SLUG
    assert "requires the certificate of the course “Running A/B tests”" in response.content.decode()


def test_an_owner_clears_the_requirement(owner_client, requiring_tenant):
    owner_client.post(REQUIREMENT, {"course_slug": ""})

    requiring_tenant.refresh_from_db()
    assert requiring_tenant.required_certificate_course_slug == ""
    assert "No certificate is required" in owner_client.get(REQUIREMENT).content.decode()


def test_a_learner_sees_the_requirement_but_cannot_change_it(client, member_with_role, requiring_tenant):
    client.force_login(member_with_role(Role.LEARNER))

    page = client.get(REQUIREMENT)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Running A/B tests" in html and 'id="requirement-form"' not in html
    assert "You do not hold this certificate yet." in html

    assert client.post(REQUIREMENT, {"course_slug": ""}).status_code == 403
    requiring_tenant.refresh_from_db()
    assert requiring_tenant.required_certificate_course_slug == SLUG


def test_an_analyst_cannot_change_the_requirement(analyst_client, tenant, required_course):
    assert analyst_client.post(REQUIREMENT, {"course_slug": SLUG}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.required_certificate_course_slug == ""


def test_an_unknown_slug_is_refused_beside_the_field(owner_client, tenant):
    response = owner_client.post(REQUIREMENT, {"course_slug": "no-such-course"})

    assert response.status_code == 200
    error = re.search(r'id="id_course_slug_error">(.*?)</span>', response.content.decode()).group(1)
    assert "no-such-course" in error
    tenant.refresh_from_db()
    assert tenant.required_certificate_course_slug == ""


def test_the_service_names_the_field_of_a_slug_that_names_no_visible_published_course(
    in_tenant, other_tenant
):
    CourseFactory(slug="draft-course", published=False)
    CourseFactory(slug="their-course", tenant=other_tenant)
    for slug in ("no-such-course", "draft-course", "their-course"):
        with pytest.raises(ValidationError) as refused:
            tenant_certificate_requirement_set(tenant=in_tenant, course_slug=slug)
        assert set(refused.value.message_dict) == {"course_slug"}
    in_tenant.refresh_from_db()
    assert in_tenant.required_certificate_course_slug == ""


def test_the_tenants_own_course_may_be_required(in_tenant):
    CourseFactory(slug="our-way", tenant=in_tenant)

    tenant_certificate_requirement_set(tenant=in_tenant, course_slug="our-way")

    in_tenant.refresh_from_db()
    assert in_tenant.required_certificate_course_slug == "our-way"


def test_the_page_warns_when_the_required_course_is_missing(owner_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(required_certificate_course_slug="retired-course")

    html = owner_client.get(REQUIREMENT).content.decode()

    assert "The required course “retired-course” is not available any more" in html
