import pytest
from django.db import IntegrityError

from courses.models import Course, Enrollment, LabStepCompletion, QuizAttempt
from courses.selectors import (
    course_detail,
    course_get_visible,
    course_list_visible,
    course_progress,
    course_progress_list,
    enrollment_get,
)
from courses.services import enrollment_create, lesson_complete, quiz_attempt_submit
from tenants.scope import tenant_scope
from tests.courses.factories import (
    CourseFactory,
    LabFactory,
    LabStepFactory,
    LessonFactory,
    ModuleFactory,
    QuestionFactory,
    QuizFactory,
)
from tests.factories import MembershipFactory


def test_a_member_enrolls_in_a_platform_course(in_tenant, learner, course):
    enrollment = enrollment_create(tenant=in_tenant, membership=learner, course=course)

    assert enrollment.tenant == in_tenant
    assert enrollment.course == course and course.is_platform_course


def test_a_member_enrolls_in_the_tenants_own_course(in_tenant, learner):
    own = CourseFactory(tenant=in_tenant, title="Our returns policy")

    enrollment = enrollment_create(tenant=in_tenant, membership=learner, course=own)

    assert enrollment.course == own


def test_enrolling_twice_returns_the_same_enrollment(in_tenant, learner, course):
    first = enrollment_create(tenant=in_tenant, membership=learner, course=course)
    second = enrollment_create(tenant=in_tenant, membership=learner, course=course)

    assert first.pk == second.pk
    assert Enrollment.objects.count() == 1


def test_the_database_refuses_a_second_enrollment_of_a_membership(in_tenant, learner, course):
    enrollment_create(tenant=in_tenant, membership=learner, course=course)

    with pytest.raises(IntegrityError):
        Enrollment.objects.create(tenant=in_tenant, membership=learner, course=course)


def test_the_tenant_sees_platform_courses_and_its_own_but_not_another_tenants(in_tenant, other_tenant, course):
    own = CourseFactory(tenant=in_tenant)
    theirs = CourseFactory(tenant=other_tenant)

    visible = set(course_list_visible(tenant=in_tenant))

    assert visible == {course, own}
    assert theirs not in visible


def test_another_tenants_course_cannot_be_read_or_enrolled_in(in_tenant, other_tenant, learner):
    theirs = CourseFactory(tenant=other_tenant)
    ModuleFactory(course=theirs)

    with pytest.raises(Course.DoesNotExist):
        course_get_visible(tenant=in_tenant, course_id=theirs.pk)
    with pytest.raises(Course.DoesNotExist):
        course_detail(tenant=in_tenant, course_id=theirs.pk)
    with pytest.raises(Course.DoesNotExist):
        enrollment_create(tenant=in_tenant, membership=learner, course=theirs)
    assert not Enrollment.all_tenants.exists()


def test_an_unpublished_course_cannot_be_enrolled_in(in_tenant, learner):
    draft = CourseFactory(tenant=in_tenant, published=False)

    with pytest.raises(Course.DoesNotExist):
        enrollment_create(tenant=in_tenant, membership=learner, course=draft)


def test_the_course_list_shows_the_courses_written_in_the_ui_language(in_tenant):
    english = CourseFactory(slug="basics", language="en", title="Basics")
    chinese = CourseFactory(slug="basics", language="zh-hans", title="基础")

    assert list(course_list_visible(tenant=in_tenant, language="zh-hans")) == [chinese]
    assert list(course_list_visible(tenant=in_tenant, language="en")) == [english]


def test_a_platform_slug_is_unique_per_language_but_tenants_may_reuse_it(tenant, other_tenant):
    CourseFactory(slug="basics", tenant=None)
    CourseFactory(slug="basics", tenant=tenant)
    CourseFactory(slug="basics", tenant=other_tenant)

    with pytest.raises(IntegrityError):
        CourseFactory(slug="basics", tenant=None)


def test_the_course_model_refuses_a_query_outside_a_tenant_scope(course):
    from tenants.scope import TenantScopeMissing

    with pytest.raises(TenantScopeMissing):
        list(Course.objects.all())


def test_course_detail_lists_modules_and_lessons_in_order(in_tenant, course):
    detail = course_detail(tenant=in_tenant, course_id=course.pk)

    lessons = [lesson.title for module in detail.modules.all() for lesson in module.lessons.all()]
    assert lessons == ["What a recommendation is", "Measuring it"]


def test_progress_counts_completed_lessons_and_the_best_attempt(in_tenant, enrollment, course):
    quiz = course.modules.get().quizzes.get()
    question = QuestionFactory(quiz=quiz, correct_boolean=True)
    first_lesson = course.modules.get().lessons.first()

    lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=first_lesson)
    lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=first_lesson)  # twice: once counted
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): True})
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): False})

    progress = course_progress(tenant=in_tenant, enrollment=enrollment)
    assert (progress.lessons_completed, progress.lessons_total) == (1, 2)
    assert progress.best_scores == {quiz.pk: 1.0}
    assert progress.grade == 1.0
    assert not progress.passed  # a lesson is still unread


def test_a_lesson_of_another_course_cannot_be_completed(in_tenant, enrollment):
    from courses.models import Lesson

    elsewhere = LessonFactory()

    with pytest.raises(Lesson.DoesNotExist):
        lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=elsewhere)


def test_another_tenants_enrollment_is_not_found(tenant, other_tenant, course):
    with tenant_scope(other_tenant):
        outsider = MembershipFactory(tenant=other_tenant)
        theirs = enrollment_create(tenant=other_tenant, membership=outsider, course=course)

    with tenant_scope(tenant):
        with pytest.raises(Enrollment.DoesNotExist):
            enrollment_get(tenant=tenant, enrollment_id=theirs.pk)
        with pytest.raises(Enrollment.DoesNotExist):
            course_progress(tenant=tenant, enrollment=theirs)
        with pytest.raises(Enrollment.DoesNotExist):
            lesson_complete(tenant=tenant, enrollment=theirs, lesson=course.modules.get().lessons.first())


def test_the_progress_of_several_enrollments_is_each_its_own_course_in_six_queries(
    in_tenant, learner, enrollment, course, django_assert_num_queries
):
    """course_progress_list reads every enrollment at once: each one's figures are its own course's."""
    other = CourseFactory(title="Lab practice", pass_mark=0.5)
    module = ModuleFactory(course=other, position=1)
    lesson = LessonFactory(module=module, position=1)
    step = LabStepFactory(lab=LabFactory(module=module, position=1), position=1)
    LabStepFactory(lab=step.lab, position=2)
    light, heavy = QuizFactory(module=module, weight=1.0), QuizFactory(module=module, weight=3.0)
    second = enrollment_create(tenant=in_tenant, membership=learner, course=other)
    lesson_complete(tenant=in_tenant, enrollment=enrollment, lesson=course.modules.get().lessons.first())
    quiz = course.modules.get().quizzes.get()
    QuizAttempt.objects.create(tenant=in_tenant, enrollment=enrollment, quiz=quiz, number=1, answers={},
                               score=1.0, passed=True)
    lesson_complete(tenant=in_tenant, enrollment=second, lesson=lesson)
    LabStepCompletion.objects.create(tenant=in_tenant, enrollment=second, step=step, message="Seen.")
    for number, score in ((1, 0.25), (2, 0.5)):
        QuizAttempt.objects.create(tenant=in_tenant, enrollment=second, quiz=heavy, number=number, answers={},
                                   score=score, passed=False)
    enrollments = list(Enrollment.objects.filter(pk__in=[enrollment.pk, second.pk]).select_related("course"))

    with django_assert_num_queries(6):
        progress = course_progress_list(tenant=in_tenant, enrollments=enrollments)

    by_course = {e.course_id: p for e, p in zip(enrollments, progress, strict=True)}
    first, then = by_course[course.pk], by_course[other.pk]
    assert (first.lessons_completed, first.lessons_total, first.lab_steps_passed, first.lab_steps_total) == (1, 2, 0, 0)
    assert first.best_scores == {quiz.pk: 1.0} and first.grade == 1.0 and first.pass_mark == 0.7
    assert (then.lessons_completed, then.lessons_total, then.lab_steps_passed, then.lab_steps_total) == (1, 1, 1, 2)
    assert then.best_scores == {heavy.pk: 0.5} and light.pk not in then.best_scores
    assert then.grade == pytest.approx(3 * 0.5 / 4) and then.pass_mark == 0.5
    assert [course_progress(tenant=in_tenant, enrollment=e) for e in enrollments] == progress


def test_the_progress_of_no_enrollment_reads_nothing_and_of_another_tenants_is_not_found(
    tenant, other_tenant, course, django_assert_num_queries
):
    with tenant_scope(other_tenant):
        theirs = enrollment_create(tenant=other_tenant, membership=MembershipFactory(tenant=other_tenant),
                                   course=course)
    with tenant_scope(tenant):
        with django_assert_num_queries(0):
            assert course_progress_list(tenant=tenant, enrollments=[]) == []
        with pytest.raises(Enrollment.DoesNotExist):
            course_progress_list(tenant=tenant, enrollments=[theirs])
