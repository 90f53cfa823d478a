import re

import pytest
from django.urls import reverse

from courses.models import Certificate
from courses.services import (
    certificate_issue_if_earned,
    enrollment_create,
    lesson_complete,
    quiz_attempt_submit,
)
from tenants.scope import tenant_scope
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


@pytest.mark.urls("tests.courses.urls")
def test_a_stores_own_course_titled_as_a_platform_course_names_the_store_as_its_issuer(
    client, in_tenant, learner, course
):
    own = CourseFactory(tenant=in_tenant, title=course.title)
    LessonFactory(module=ModuleFactory(course=own, position=1), position=1)
    enrollment = enrollment_create(tenant=in_tenant, membership=learner, course=own)
    lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=own.modules.get().lessons.get())
    certificate = Certificate.objects.get(enrollment=enrollment)

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
