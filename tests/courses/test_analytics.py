"""Owner analytics on courses: each course's numbers by role, and one member's progress, at
/courses/analytics/."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from courses.analytics import course_stats_list
from courses.models import Certificate, Enrollment, Lab, LabStep, LabStepCompletion, QuestionKind
from courses.services import enrollment_create, lesson_complete, quiz_attempt_submit
from tenants.models import Membership, Role
from tenants.scope import tenant_scope
from tests.courses.factories import CourseFactory, LessonFactory, ModuleFactory, QuestionFactory
from tests.factories import MembershipFactory, UserFactory

RIGHT, WRONG = 4242, 1717  # the numeric answer, and a wrong one: neither may appear on a manager's page
PROMPT = "How many orders did the sandbox store import?"
EXPLANATION = "The import log says so."


@pytest.fixture
def question(course):
    return QuestionFactory(
        quiz=course.modules.get().quizzes.get(), kind=QuestionKind.NUMERIC, correct_boolean=None,
        numeric_answer=RIGHT, prompt=PROMPT, explanation=EXPLANATION,
    )


@pytest.fixture
def lab_steps(course):
    lab = Lab.objects.create(module=course.modules.get(), position=1, title="Import a catalog")
    return [LabStep.objects.create(lab=lab, position=n, title=f"Step {n}", check_name="lora_job_succeeded")
            for n in (1, 2)]


def enroll(tenant, membership, course) -> Enrollment:
    with tenant_scope(tenant):
        return enrollment_create(tenant=tenant, membership=membership, course=course)


def read_lessons(tenant, enrollment, course, count: int) -> None:
    with tenant_scope(tenant):
        for lesson in course.modules.get().lessons.all()[:count]:
            lesson_complete(tenant=tenant, enrollment=enrollment, lesson=lesson)


def pass_lab_steps(tenant, enrollment, steps) -> None:
    for step in steps:
        LabStepCompletion.all_tenants.create(tenant=tenant, enrollment=enrollment, step=step, message="Seen.")


def answer(tenant, enrollment, question, value) -> None:
    with tenant_scope(tenant):
        quiz_attempt_submit(tenant=tenant, enrollment=enrollment, quiz=question.quiz,
                            answers={str(question.pk): value})


@pytest.fixture
def analyst(tenant) -> Membership:
    return MembershipFactory(tenant=tenant, user=UserFactory(username="ana@acme.test", first_name="Ana"),
                             role=Role.ANALYST)


@pytest.fixture
def progress_made(tenant, other_tenant, course, question, lab_steps, learner, analyst, owner):
    """Mei (learner) does everything and is certified at her second attempt; Ana (analyst) reads one
    lesson, passes one lab step and fails the quiz once; the owner only enrolls. A learner of another
    tenant, certified in the same platform course, must count nowhere."""
    meis = enroll(tenant, learner, course)
    pass_lab_steps(tenant, meis, lab_steps)
    read_lessons(tenant, meis, course, 2)
    answer(tenant, meis, question, WRONG)
    answer(tenant, meis, question, RIGHT)
    anas = enroll(tenant, analyst, course)
    read_lessons(tenant, anas, course, 1)
    pass_lab_steps(tenant, anas, lab_steps[:1])
    answer(tenant, anas, question, WRONG)
    enroll(tenant, owner, course)

    elsewhere = MembershipFactory(tenant=other_tenant, role=Role.LEARNER)
    theirs = enroll(other_tenant, elsewhere, course)
    pass_lab_steps(other_tenant, theirs, lab_steps)
    read_lessons(other_tenant, theirs, course, 2)
    answer(other_tenant, theirs, question, RIGHT)
    assert Certificate.all_tenants.count() == 2  # Mei's, and the other tenant's learner's
    return {"mei": meis, "ana": anas}


def row_cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.DOTALL)
    assert row, f"no row {row_id}"
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


# --- The numbers -----------------------------------------------------------------------------------


def test_each_course_counts_enrolled_completed_and_rates_overall_and_by_role(
    progress_made, in_tenant, course
):
    [stats] = course_stats_list(tenant=in_tenant)

    assert stats.course == course
    total = stats.total
    assert (total.enrolled, total.completed, total.quizzes_attempted, total.quizzes_passed) == (3, 1, 2, 1)
    assert total.completion_rate == pytest.approx(1 / 3)
    assert total.quiz_pass_rate == pytest.approx(0.5)  # the owner tried no quiz: left out
    by_role = {role: (c.enrolled, c.completed, c.completion_rate, c.quiz_pass_rate)
               for role, _label, c in stats.role_rows()}
    assert by_role == {
        Role.OWNER: (1, 0, 0.0, None),
        Role.ADMIN: (0, 0, None, None),
        Role.ANALYST: (1, 0, 0.0, 0.0),
        Role.LEARNER: (1, 1, 1.0, 1.0),  # failed once, then passed: the quiz counts as passed
    }


def test_a_course_nobody_in_the_tenant_enrolled_in_is_not_listed(progress_made, in_tenant, other_tenant):
    CourseFactory(title="Nobody took this")
    CourseFactory(tenant=other_tenant, title="Theirs")

    assert [stats.course.title for stats in course_stats_list(tenant=in_tenant)] == ["Recommender basics"]


def test_the_analytics_page_shows_the_rates_and_says_how_they_are_counted(
    owner_client, course, progress_made
):
    page = owner_client.get(reverse("courses:analytics")).content.decode()

    assert row_cells(page, f"course-{course.pk}-all") == ["All members", "3", "1", "33%", "50% (1 of 2)"]
    assert row_cells(page, f"course-{course.pk}-learner") == ["Learner", "1", "1", "100%", "100% (1 of 1)"]
    assert row_cells(page, f"course-{course.pk}-analyst") == ["Analyst", "1", "0", "0%", "0% (0 of 1)"]
    assert row_cells(page, f"course-{course.pk}-owner") == ["Owner", "1", "0", "0%", "—"]
    assert row_cells(page, f"course-{course.pk}-admin") == ["Admin", "0", "0", "—", "—"]
    assert "Quizzes not attempted yet are left out." in page


def test_the_members_table_lists_every_member_with_their_courses_and_certificates(
    owner_client, learner, analyst, owner, progress_made
):
    page = owner_client.get(reverse("courses:analytics")).content.decode()

    assert row_cells(page, f"member-{learner.pk}") == ["Mei Lin", "Learner", "1", "1"]
    assert row_cells(page, f"member-{analyst.pk}") == ["Ana", "Analyst", "1", "0"]
    assert row_cells(page, f"member-{owner.pk}") == ["owner@acme.test", "Owner", "1", "0"]


def test_the_analytics_page_reads_as_many_queries_for_many_courses_as_for_one(
    owner_client, tenant, learner, analyst, progress_made
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("courses:analytics")).status_code == 200
        return len(captured)

    before = queries()
    for number in range(3):
        more = CourseFactory(title=f"More {number}")
        LessonFactory(module=ModuleFactory(course=more))
        for member in (learner, analyst):
            enroll(tenant, member, more)

    assert queries() == before


# --- One member's page -----------------------------------------------------------------------------


def test_a_members_page_shows_their_progress_grade_and_certificate(
    owner_client, learner, analyst, progress_made
):
    page = owner_client.get(reverse("courses:analytics-member", args=[learner.pk])).content.decode()
    issued = Certificate.all_tenants.get(enrollment=progress_made["mei"]).issued_at

    cells = row_cells(page, f"enrollment-{progress_made['mei'].pk}")
    assert cells[0] == "Recommender basics"
    assert cells[2:6] == ["2 / 2", "2 / 2", "100%", "70%"]
    assert cells[6] == date_format(timezone.localtime(issued), "DATE_FORMAT")

    page = owner_client.get(reverse("courses:analytics-member", args=[analyst.pk])).content.decode()
    cells = row_cells(page, f"enrollment-{progress_made['ana'].pk}")
    assert cells[2:7] == ["1 / 2", "1 / 2", "0%", "70%", "Not yet"]


def test_a_members_page_reads_as_many_queries_for_many_courses_as_for_one(
    owner_client, tenant, learner, progress_made
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(reverse("courses:analytics-member", args=[learner.pk])).status_code == 200
        return len(captured)

    before = queries()
    for number in range(3):
        more = CourseFactory(title=f"More {number}")
        LessonFactory(module=ModuleFactory(course=more))
        read_lessons(tenant, enroll(tenant, learner, more), more, 1)

    assert queries() == before
    page = owner_client.get(reverse("courses:analytics-member", args=[learner.pk])).content.decode()
    assert page.count('id="enrollment-') == 4


def test_a_members_page_shows_scores_but_never_answers(owner_client, learner, analyst, progress_made):
    for member in (learner, analyst):
        page = owner_client.get(reverse("courses:analytics-member", args=[member.pk])).content.decode()

        assert "Check yourself" in page  # the quiz and its best score are there...
        for secret in (str(RIGHT), str(WRONG), PROMPT, EXPLANATION):  # ...what was answered is not
            assert secret not in page
    overview = owner_client.get(reverse("courses:analytics")).content.decode()
    assert not any(secret in overview for secret in (str(RIGHT), str(WRONG), PROMPT))


def test_a_member_of_another_tenant_is_404(owner_client, other_tenant, progress_made):
    theirs = Membership.all_tenants.filter(tenant=other_tenant).first()

    response = owner_client.get(reverse("courses:analytics-member", args=[theirs.pk]))

    assert response.status_code == 404
    assert "Globex" not in response.content.decode()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_analysts_and_learners_get_403(client, member_with_role, learner, role):
    client.force_login(member_with_role(role))

    assert client.get(reverse("courses:analytics")).status_code == 403
    assert client.get(reverse("courses:analytics-member", args=[learner.pk])).status_code == 403


def test_an_admin_sees_the_analytics(client, member_with_role, course, progress_made):
    client.force_login(member_with_role(Role.ADMIN))

    assert client.get(reverse("courses:analytics")).status_code == 200
