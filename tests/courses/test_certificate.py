import re

import pytest
from django.urls import reverse

from courses.models import Certificate, Enrollment
from courses.services import (
    certificate_issue_if_earned,
    enrollment_create,
    lesson_complete,
    quiz_attempt_submit,
)
from tenants.scope import tenant_scope
from tenants.services import member_remove
from tests.courses.factories import CourseFactory, LessonFactory, ModuleFactory, QuestionFactory
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def question(course):
    return QuestionFactory(quiz=course.modules.get().quizzes.get(), correct_boolean=True)


def _complete_every_lesson(tenant, enrollment, course):
    for lesson in course.modules.get().lessons.all():
        lesson_complete(tenant=tenant, enrollment=enrollment, lesson=lesson)


def _pass_the_quiz(tenant, enrollment, course, question):
    quiz = course.modules.get().quizzes.get()
    return quiz_attempt_submit(tenant=tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): True})


def test_no_certificate_while_a_lesson_is_unread_even_with_the_quiz_passed(in_tenant, enrollment, course, question):
    _pass_the_quiz(in_tenant, enrollment, course, question)
    lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=course.modules.get().lessons.first())

    assert not Certificate.objects.exists()
    enrollment.refresh_from_db()
    assert enrollment.completed_at is None


def test_no_certificate_below_the_pass_mark(in_tenant, enrollment, course, question):
    quiz = course.modules.get().quizzes.get()
    _complete_every_lesson(in_tenant, enrollment, course)
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): False})

    assert not Certificate.objects.exists()


def test_a_certificate_is_issued_once_on_pass(in_tenant, enrollment, course, question):
    _complete_every_lesson(in_tenant, enrollment, course)
    _pass_the_quiz(in_tenant, enrollment, course, question)
    _pass_the_quiz(in_tenant, enrollment, course, question)  # a second pass: still one certificate
    again = certificate_issue_if_earned(tenant=in_tenant, enrollment=enrollment)

    certificate = Certificate.objects.get()
    assert again == certificate
    assert certificate.learner_name == "Mei Lin"
    assert certificate.course_title == "Recommender basics"
    assert len(certificate.code) >= 22  # 16 random bytes
    enrollment.refresh_from_db()
    assert enrollment.completed_at is not None


def test_the_learner_name_falls_back_to_the_local_part_never_the_email(in_tenant, enrollment, course, question):
    user = enrollment.membership.user
    user.first_name = user.last_name = ""
    user.save()
    _complete_every_lesson(in_tenant, enrollment, course)
    _pass_the_quiz(in_tenant, enrollment, course, question)

    assert Certificate.objects.get().learner_name == "mei"


@pytest.fixture
def certificate(in_tenant, enrollment, course, question):
    _complete_every_lesson(in_tenant, enrollment, course)
    _pass_the_quiz(in_tenant, enrollment, course, question)
    return Certificate.objects.get()


@pytest.mark.urls("tests.courses.urls")
def test_the_public_page_verifies_the_certificate_without_a_login(client, certificate):
    response = client.get(reverse("courses:certificate-verify", args=[certificate.code]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Verified" in page
    assert "Mei Lin" in page
    assert "Recommender basics" in page
    assert certificate.issued_at.strftime("%Y-%m-%d") in page


@pytest.mark.urls("tests.courses.urls")
def test_the_public_page_shows_nothing_else_about_the_learner_or_tenant(client, certificate, tenant):
    page = client.get(f"/certificates/{certificate.code}/").content.decode()

    for private in ("mei@acme.test", tenant.name, "Check yourself", "score"):
        assert private not in page


def issuer_on_page(page: str) -> str:
    match = re.search(r'<dd class="issuer">(.*?)</dd>', page, re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


@pytest.mark.urls("tests.courses.urls")
def test_a_platform_courses_certificate_names_the_platform_as_its_issuer(client, certificate):
    page = client.get(reverse("courses:certificate-verify", args=[certificate.code])).content.decode()

    assert "Issued by" in page
    assert issuer_on_page(page) == "Recommendation platform"


def _store_course_certificate(tenant, learner, title: str) -> Certificate:
    """`learner` passes a one-lesson course of the store's own, titled `title`."""
    own = CourseFactory(tenant=tenant, title=title)
    LessonFactory(module=ModuleFactory(course=own, position=1), position=1)
    enrollment = enrollment_create(tenant=tenant, membership=learner, course=own)
    lesson_complete(tenant=tenant, enrollment=enrollment, lesson=own.modules.get().lessons.get())
    return Certificate.objects.get(enrollment=enrollment)


@pytest.mark.urls("tests.courses.urls")
def test_a_stores_own_course_titled_as_a_platform_course_names_the_store_as_its_issuer(
    client, in_tenant, learner, course
):
    certificate = _store_course_certificate(in_tenant, learner, course.title)

    page = client.get(reverse("courses:certificate-verify", args=[certificate.code])).content.decode()

    assert "Recommender basics" in page
    assert issuer_on_page(page).startswith("Acme Grocer, a store on the Recommendation platform")
    assert "not one of the platform's courses" in issuer_on_page(page)


@pytest.mark.urls("tests.courses.urls")
def test_an_unknown_code_is_404(client, certificate):
    assert client.get(f"/certificates/{certificate.code}x/").status_code == 404
    assert client.get("/certificates/not-a-code/").status_code == 404


@pytest.mark.urls("tests.courses.urls")
def test_a_member_of_another_store_logged_in_verifies_the_certificate_too(client, certificate, other_tenant):
    # Their own store's scope is set for the request; on PostgreSQL its row-level security would
    # hide the certificate if the lookup did not leave the scope.
    reader = UserFactory(username="hr@globex.test")
    with tenant_scope(other_tenant):
        MembershipFactory(tenant=other_tenant, user=reader)
    client.force_login(reader)

    response = client.get(reverse("courses:certificate-verify", args=[certificate.code]))

    assert response.status_code == 200 and "Verified" in response.content.decode()


# --- A certificate outlives the learner's job at the store -----------------------------------


@pytest.mark.urls("tests.courses.urls")
def test_a_removed_members_certificates_still_verify_with_their_name_the_course_and_the_issuer(
    client, in_tenant, learner, owner, certificate
):
    of_the_store = _store_course_certificate(in_tenant, learner, "Our own way of recommending")

    member_remove(tenant=in_tenant, membership_id=learner.pk, by=owner)

    assert not Enrollment.objects.filter(membership_id=learner.pk).exists()
    platforms = client.get(reverse("courses:certificate-verify", args=[certificate.code]))
    stores = client.get(reverse("courses:certificate-verify", args=[of_the_store.code]))
    assert (platforms.status_code, stores.status_code) == (200, 200)
    platforms, stores = platforms.content.decode(), stores.content.decode()
    assert "Verified" in platforms and "Mei Lin" in platforms and "Recommender basics" in platforms
    assert issuer_on_page(platforms) == "Recommendation platform"
    assert "Verified" in stores and "Mei Lin" in stores and "Our own way of recommending" in stores
    assert issuer_on_page(stores).startswith("Acme Grocer, a store on the Recommendation platform")
    # Still the store's: it was earned there, and a store deleted takes its certificates with it.
    assert set(Certificate.objects.values_list("tenant_id", "enrollment_id")) == {(in_tenant.pk, None)}


def test_deleting_an_enrollment_leaves_its_certificate(in_tenant, certificate):
    certificate.enrollment.delete()

    certificate.refresh_from_db()
    assert certificate.enrollment is None
    assert (certificate.learner_name, certificate.course_title) == ("Mei Lin", "Recommender basics")


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_whether_the_store_or_the_platform_issued_each_existing_certificate(
    tenant, learner, course
):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("courses", "0003_unique_rules_include_the_tenant")]
    after = [("courses", "0004_certificates_outlive_their_enrollment")]
    of_the_store = CourseFactory(tenant=tenant, title="Our own way of recommending")
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldCertificate = executor.loader.project_state(before).apps.get_model("courses", "Certificate")
    for code, taken in (("platform-course", course), ("store-course", of_the_store)):
        # The enrollment table is the same before and after: today's model writes it.
        enrollment = Enrollment.all_tenants.create(tenant=tenant, membership=learner, course=taken)
        OldCertificate.objects.create(
            tenant_id=tenant.pk, enrollment_id=enrollment.pk, code=code,
            learner_name="Mei Lin", course_title=taken.title,
        )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert dict(Certificate.all_tenants.values_list("code", "issued_by_store")) == {
            "platform-course": False, "store-course": True,
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
