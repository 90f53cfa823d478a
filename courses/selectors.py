"""Reads on courses, and who may read what.

Visibility of courses: a tenant sees the platform's courses (tenant NULL) and
its own, never another tenant's (`course_list_visible`). Another tenant's
course is "no such course": DoesNotExist, a 404 in a view.

Visibility of a learner's record: a learner's *answers* are readable by that
learner only (`quiz_attempt_list_for_learner` takes the learner's own
membership and reads only its enrollments). Owners and admins see progress
and scores, never answers (`quiz_score_list_for_course` returns no answers
field at all), so a manager view cannot leak them by rendering a field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Max, Prefetch, Q, QuerySet

from courses.models import (
    Certificate,
    Course,
    Enrollment,
    Lab,
    LabStep,
    LabStepCompletion,
    Lesson,
    LessonCompletion,
    Quiz,
    QuizAttempt,
)
from tenants.models import Membership, Tenant
from tenants.scope import outside_tenant_scope


class NotAllowed(Exception):
    """The viewer's role does not allow this read."""


def course_list_visible(
    *, tenant: Tenant, language: str | None = None, include_unpublished: bool = False
) -> QuerySet[Course]:
    """The courses `tenant` may see: every platform course and the tenant's own.

    `language` (a UI language code, "en" or "zh-hans") keeps only the courses
    written in it. Learners see published courses; authors pass include_unpublished.
    """
    courses = Course.objects.visible_to(tenant)
    if language is not None:
        courses = courses.filter(language=language)
    if not include_unpublished:
        courses = courses.filter(published=True)
    return courses


def course_get_visible(*, tenant: Tenant, course_id: int, include_unpublished: bool = False) -> Course:
    """Raises Course.DoesNotExist, also for another tenant's course."""
    return course_list_visible(tenant=tenant, include_unpublished=include_unpublished).get(pk=course_id)


def course_list_for_learner(*, tenant: Tenant, membership: Membership) -> QuerySet[Course]:
    """The visible courses a member may take: the published ones, and any the member is enrolled
    in even if unpublished since (unpublishing hides a course from new learners only)."""
    enrolled = Enrollment.objects.filter(tenant=tenant, membership=membership).values("course_id")
    return course_list_visible(tenant=tenant, include_unpublished=True).filter(
        Q(published=True) | Q(pk__in=enrolled)
    )


def course_detail(*, tenant: Tenant, course_id: int, membership: Membership | None = None) -> Course:
    """A visible course with its modules, their lessons and quizzes prefetched, in order:
    published, or (with `membership`) one the member is enrolled in.

    Raises Course.DoesNotExist, also for another tenant's course.
    """
    courses = (
        course_list_for_learner(tenant=tenant, membership=membership)
        if membership is not None
        else course_list_visible(tenant=tenant)
    )
    return (
        courses
        .prefetch_related(
            "modules__lessons",
            Prefetch("modules__quizzes", queryset=Quiz.objects.order_by("position", "id")),
            Prefetch("modules__labs", queryset=Lab.objects.prefetch_related("steps")),
        )
        .get(pk=course_id)
    )


def course_lessons(*, course: Course) -> QuerySet[Lesson]:
    """Every lesson of the course, in reading order. The caller has checked the course is visible."""
    return Lesson.objects.filter(module__course=course).order_by("module__position", "position")


def course_quizzes(*, course: Course) -> QuerySet[Quiz]:
    """Every quiz of the course. The caller has checked the course is visible."""
    return Quiz.objects.filter(module__course=course).order_by("module__position", "position", "id")


def enrollment_get(*, tenant: Tenant, enrollment_id: int) -> Enrollment:
    """Raises Enrollment.DoesNotExist, also for another tenant's enrollment."""
    return Enrollment.objects.filter(tenant=tenant).select_related("course", "membership").get(pk=enrollment_id)


@dataclass(frozen=True)
class CourseProgress:
    lessons_completed: int
    lessons_total: int
    lab_steps_passed: int = 0
    lab_steps_total: int = 0
    # quiz id → best score (0..1); a quiz not attempted yet is absent.
    best_scores: dict[int, float] = field(default_factory=dict)
    # Weighted mean of each quiz's best score (unattempted: 0); None when nothing is graded.
    grade: float | None = None
    pass_mark: float = 0.0

    @property
    def all_lessons_completed(self) -> bool:
        return self.lessons_completed == self.lessons_total

    @property
    def all_lab_steps_passed(self) -> bool:
        return self.lab_steps_passed == self.lab_steps_total

    @property
    def passed(self) -> bool:
        """Every lesson completed, every lab step's check passed, and the grade at the pass
        mark (a course with nothing to grade is passed by reading it)."""
        return (
            self.all_lessons_completed
            and self.all_lab_steps_passed
            and (self.grade is None or self.grade >= self.pass_mark)
        )


def course_progress(*, tenant: Tenant, enrollment: Enrollment) -> CourseProgress:
    """Progress and grade of one enrollment: scores only, no answers (managers may see it)."""
    return course_progress_list(tenant=tenant, enrollments=[enrollment])[0]


def _counts_by(rows: QuerySet, *fields: str) -> dict:
    """How many rows share each value of `fields`, in one grouped query: keyed by the value, or by
    the tuple of values when there are several fields."""
    grouped = rows.order_by().values(*fields).annotate(n=Count("id")).values_list(*fields, "n")
    if len(fields) == 1:
        return dict(grouped)
    return {tuple(row[:-1]): row[-1] for row in grouped}


def course_progress_list(*, tenant: Tenant, enrollments: Sequence[Enrollment]) -> list[CourseProgress]:
    """`course_progress` of each enrollment, in their order: six grouped queries however many
    enrollments and courses there are (none for no enrollment), and none for the courses
    themselves when the enrollments come with them (select_related("course")).

    Raises Enrollment.DoesNotExist if one of them is another tenant's.
    """
    if any(enrollment.tenant_id != tenant.pk for enrollment in enrollments):
        raise Enrollment.DoesNotExist
    if not enrollments:
        return []
    course_ids = {enrollment.course_id for enrollment in enrollments}
    enrollment_ids = [enrollment.pk for enrollment in enrollments]

    lessons_total = _counts_by(Lesson.objects.filter(module__course_id__in=course_ids), "module__course_id")
    lab_steps_total = _counts_by(
        LabStep.objects.filter(lab__module__course_id__in=course_ids), "lab__module__course_id"
    )
    # Keyed by (enrollment, course): only the completions of the enrollment's own course count.
    lessons_completed = _counts_by(
        LessonCompletion.objects.filter(tenant=tenant, enrollment_id__in=enrollment_ids),
        "enrollment_id", "lesson__module__course_id",
    )
    lab_steps_passed = _counts_by(
        LabStepCompletion.objects.filter(tenant=tenant, enrollment_id__in=enrollment_ids),
        "enrollment_id", "step__lab__module__course_id",
    )
    best_scores: dict[int, dict[int, float]] = defaultdict(dict)
    for enrollment_id, quiz_id, best in (
        QuizAttempt.objects.filter(tenant=tenant, enrollment_id__in=enrollment_ids)
        .order_by().values("enrollment_id", "quiz_id").annotate(best=Max("score"))
        .values_list("enrollment_id", "quiz_id", "best")
    ):
        best_scores[enrollment_id][quiz_id] = best
    # Each course's quizzes in course order (course_quizzes'), so the grade adds up as it always did.
    weights: dict[int, dict[int, float]] = defaultdict(dict)
    for course_id, quiz_id, weight in (
        Quiz.objects.filter(module__course_id__in=course_ids)
        .order_by("module__course_id", "module__position", "position", "id")
        .values_list("module__course_id", "id", "weight")
    ):
        weights[course_id][quiz_id] = weight

    progress = []
    for enrollment in enrollments:
        course_id, scores = enrollment.course_id, best_scores[enrollment.pk]
        course_weights = weights[course_id]
        total_weight = sum(course_weights.values())
        grade = None
        if total_weight > 0:
            grade = sum(
                weight * scores.get(quiz_id, 0.0) for quiz_id, weight in course_weights.items()
            ) / total_weight
        progress.append(CourseProgress(
            lessons_completed=lessons_completed.get((enrollment.pk, course_id), 0),
            lessons_total=lessons_total.get(course_id, 0),
            lab_steps_passed=lab_steps_passed.get((enrollment.pk, course_id), 0),
            lab_steps_total=lab_steps_total.get(course_id, 0),
            best_scores=dict(scores),
            grade=grade,
            pass_mark=enrollment.course.pass_mark,
        ))
    return progress


def quiz_attempt_list_for_learner(
    *, tenant: Tenant, learner: Membership, quiz: Quiz | None = None
) -> QuerySet[QuizAttempt]:
    """The learner's own attempts, answers included. `learner` is the membership of the
    person viewing (the request's, never one taken from input): nobody else's attempts
    can come out of here."""
    if learner.tenant_id != tenant.pk:
        return QuizAttempt.objects.none()
    attempts = QuizAttempt.objects.filter(tenant=tenant, enrollment__membership=learner)
    if quiz is not None:
        attempts = attempts.filter(quiz=quiz)
    return attempts


def quiz_score_list_for_course(*, tenant: Tenant, viewer: Membership, course: Course) -> QuerySet:
    """Every learner's attempt scores in the course, for the tenant's owners and admins.

    Rows are dicts without `answers`: a manager sees how learners did, not what they answered.
    """
    if viewer.tenant_id != tenant.pk or not viewer.can_manage:
        raise NotAllowed("Only the tenant's owners and admins see every learner's scores.")
    return (
        QuizAttempt.objects.filter(tenant=tenant, enrollment__course=course)
        .order_by("enrollment__membership_id", "quiz_id", "number")
        .values("enrollment__membership_id", "quiz_id", "number", "score", "passed", "submitted_at")
    )


def certificate_get_by_code_across_tenants(*, code: str) -> Certificate:
    """The certificate with this public code, in whichever tenant issued it.

    Cross-tenant by nature: the public verification page has no tenant, the
    unguessable code is the whole key. The store comes along (read here, outside the visitor's
    scope): the page names it when it issued the certificate. Nothing is read through the
    enrollment, which is gone once its member has left the store. Raises Certificate.DoesNotExist.
    """
    with outside_tenant_scope():  # a visitor logged in to another store has its scope set
        return Certificate.all_tenants.select_related("tenant").get(code=code)
