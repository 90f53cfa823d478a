"""Owner analytics on courses: who took which course, how far they got, how they scored. Reads only.

For the tenant's owners and admins (the views check the role). Everything counts the tenant's own
members' enrollments, in the courses the tenant sees (the platform's and its own): another tenant's
learners in the same platform course are never counted.

Definitions, stated on the page too:
* enrolled: the enrollments of the tenant's members in the course;
* completed: those with a certificate (every lesson and lab step done, the grade at the pass mark);
* completion rate: completed / enrolled;
* quiz pass rate: of the quizzes the enrollees have attempted, the share they passed (at least one
  attempt at the course's pass mark). A quiz nobody has tried yet counts neither way: this rate
  says how learners do when they try, the completion rate how many finish.

Scores, never answers: nothing here reads QuizAttempt.answers or a question's answer key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from courses.models import Certificate, Course, Enrollment, Quiz, QuizAttempt
from courses.selectors import CourseProgress, course_progress_list
from tenants.models import Membership, Role, Tenant

ROLE_ORDER = [role.value for role in Role]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Counts:
    enrolled: int = 0
    completed: int = 0
    quizzes_attempted: int = 0  # (enrollment, quiz) pairs with at least one attempt
    quizzes_passed: int = 0  # of those, the pairs with a passing attempt

    @property
    def completion_rate(self) -> float | None:
        return _share(self.completed, self.enrolled)

    @property
    def quiz_pass_rate(self) -> float | None:
        return _share(self.quizzes_passed, self.quizzes_attempted)


@dataclass
class CourseStats:
    course: Course
    total: Counts = field(default_factory=Counts)
    # role → counts, for every role (a role nobody in it enrolled has zeros).
    by_role: dict[str, Counts] = field(default_factory=lambda: {role: Counts() for role in ROLE_ORDER})

    def role_rows(self) -> list[tuple[str, str, Counts]]:
        """(role, its label, counts), in the order of tenants.models.Role."""
        return [(role, Role(role).label, self.by_role[role]) for role in ROLE_ORDER]


def course_stats_list(*, tenant: Tenant) -> list[CourseStats]:
    """Each visible course at least one of the tenant's members enrolled in, by title: its counts,
    overall and by role. Two grouped queries and one for the courses, however many there are."""
    visible = Course.objects.visible_to(tenant)
    stats: dict[int, CourseStats] = {}
    enrolled_in = Enrollment.objects.filter(tenant=tenant, course__in=visible).values("course_id")
    courses = visible.filter(pk__in=enrolled_in).in_bulk()

    def of(course_id: int, role: str) -> list[Counts]:
        if course_id not in stats:
            stats[course_id] = CourseStats(course=courses[course_id])
        return [stats[course_id].total, stats[course_id].by_role[role]]

    enrollments = (
        Enrollment.objects.filter(tenant=tenant, course__in=visible)
        .values("course_id", "membership__role")
        .annotate(enrolled=Count("id"), completed=Count("id", filter=Q(certificate__isnull=False)))
    )
    for row in enrollments:
        for counts in of(row["course_id"], row["membership__role"]):
            counts.enrolled += row["enrolled"]
            counts.completed += row["completed"]
    # One row per (enrollment, quiz) attempted: how many of its attempts passed.
    attempted = (
        QuizAttempt.objects.filter(tenant=tenant, enrollment__course__in=visible)
        .values("enrollment__course_id", "enrollment__membership__role", "enrollment_id", "quiz_id")
        .annotate(passes=Count("id", filter=Q(passed=True)))
    )
    for row in attempted:
        for counts in of(row["enrollment__course_id"], row["enrollment__membership__role"]):
            counts.quizzes_attempted += 1
            counts.quizzes_passed += int(row["passes"] > 0)
    return sorted(stats.values(), key=lambda row: (row.course.title, row.course.pk))


def member_display_name(membership: Membership) -> str:
    return membership.user.get_full_name().strip() or membership.user.get_username()


def member_list(*, tenant: Tenant) -> list[Membership]:
    """Every member of the tenant, annotated with `enrolled` and `completed` (certificates), by
    role then name. One query."""
    members = list(
        Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .annotate(
            enrolled=Count("enrollments", distinct=True),
            completed=Count("enrollments__certificate", distinct=True),
        )
    )
    return sorted(members, key=lambda m: (ROLE_ORDER.index(m.role), member_display_name(m).casefold()))


def member_get(*, tenant: Tenant, membership_id: int) -> Membership:
    """Raises Membership.DoesNotExist, also for a member of another tenant."""
    return Membership.objects.filter(tenant=tenant).select_related("user").get(pk=membership_id)


@dataclass(frozen=True)
class EnrollmentReport:
    enrollment: Enrollment
    progress: CourseProgress
    # (quiz title, best score or None when not attempted), in course order. Scores only.
    quiz_scores: list[tuple[str, float | None]]
    certificate_issued_at: datetime | None


def member_progress(*, tenant: Tenant, membership: Membership) -> list[EnrollmentReport]:
    """Each enrollment of the member, newest first, with its progress (selectors.course_progress_list):
    the same few grouped queries however many courses the member took."""
    if membership.tenant_id != tenant.pk:
        raise Membership.DoesNotExist
    enrollments = list(
        Enrollment.objects.filter(tenant=tenant, membership=membership).select_related("course")
    )
    issued = dict(
        Certificate.objects.filter(tenant=tenant, enrollment__in=enrollments)
        .values_list("enrollment_id", "issued_at")
    )
    quiz_titles: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for course_id, quiz_id, title in (
        Quiz.objects.filter(module__course_id__in={enrollment.course_id for enrollment in enrollments})
        .order_by("module__course_id", "module__position", "position", "id")
        .values_list("module__course_id", "id", "title")
    ):
        quiz_titles[course_id].append((quiz_id, title))
    reports = []
    for enrollment, progress in zip(
        enrollments, course_progress_list(tenant=tenant, enrollments=enrollments), strict=True
    ):
        scores = [(title, progress.best_scores.get(quiz_id)) for quiz_id, title in quiz_titles[enrollment.course_id]]
        reports.append(EnrollmentReport(enrollment, progress, scores, issued.get(enrollment.pk)))
    return reports
