"""Writes on a learner's record: enroll, complete a lesson, submit a quiz attempt, the certificate.

Grading:
* A quiz attempt scores the weighted share of questions answered right
  (each question's `weight`).
* Multiple choice is all-or-nothing: exactly the correct set of choices, or
  no credit. Partial credit would reward ticking every box.
* Numeric: right within ± the question's tolerance.
* The course grade is the weighted mean (each quiz's `weight`) of the best
  score of each quiz; a quiz not attempted counts 0.
* A certificate is issued, once, when every lesson is complete, every lab
  step's check has passed on the learner's sandbox, and the grade reaches the
  course's pass mark; it is checked after each lesson, attempt and lab check.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courses.labs.checks import CheckResult, lab_check_run
from courses.labs.sandbox import sandbox_get
from courses.models import (
    Certificate,
    Course,
    Enrollment,
    LabStep,
    LabStepCompletion,
    Lesson,
    LessonCompletion,
    Question,
    QuestionKind,
    Quiz,
    QuizAttempt,
)
from courses.selectors import course_get_visible, course_progress
from tenants.models import Membership, Tenant


class QuizAttemptLimitReached(Exception):
    """Every attempt this quiz allows has been used."""


@transaction.atomic
def enrollment_create(*, tenant: Tenant, membership: Membership, course: Course) -> Enrollment:
    """Enroll a member of `tenant` in a published course visible to it; enrolling twice
    returns the existing enrollment. Raises Course.DoesNotExist for a course the tenant
    may not see (another tenant's, or unpublished)."""
    if membership.tenant_id != tenant.pk:
        raise Membership.DoesNotExist
    course = course_get_visible(tenant=tenant, course_id=course.pk)
    enrollment, _created = Enrollment.objects.get_or_create(tenant=tenant, membership=membership, course=course)
    return enrollment


def _locked_enrollment(tenant: Tenant, enrollment: Enrollment) -> Enrollment:
    # The row lock serialises a learner's writes on one enrollment: attempt numbers and
    # the one certificate are decided under it. The enrollment's row alone: a platform course is
    # read-only to a tenant (row-level security), and locking it would queue every learner.
    return (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("course", "membership__user")
        .get(tenant=tenant, pk=enrollment.pk)
    )


@transaction.atomic
def lesson_complete(*, tenant: Tenant, enrollment: Enrollment, lesson: Lesson) -> LessonCompletion:
    """Mark a lesson of the enrollment's course as read (again: no change), then issue
    the certificate if it is now earned. Raises Lesson.DoesNotExist for a lesson of another course."""
    enrollment = _locked_enrollment(tenant, enrollment)
    if not Lesson.objects.filter(pk=lesson.pk, module__course_id=enrollment.course_id).exists():
        raise Lesson.DoesNotExist
    completion, _created = LessonCompletion.objects.get_or_create(
        tenant=tenant, enrollment=enrollment, lesson=lesson
    )
    certificate_issue_if_earned(tenant=tenant, enrollment=enrollment)
    return completion


@transaction.atomic
def quiz_attempt_submit(
    *, tenant: Tenant, enrollment: Enrollment, quiz: Quiz, answers: dict[str, Any]
) -> QuizAttempt:
    """Grade and store one attempt. `answers` maps each question id (as a string, JSON's
    keys) to: a choice id (single), a list of choice ids (multiple), true/false
    (true_false) or a number (numeric). Every question must be answered.

    Raises Quiz.DoesNotExist for a quiz of another course, QuizAttemptLimitReached past
    `attempts_allowed`, ValidationError naming each bad answer's question and why.
    """
    enrollment = _locked_enrollment(tenant, enrollment)
    if quiz.module.course_id != enrollment.course_id:
        raise Quiz.DoesNotExist
    used = QuizAttempt.objects.filter(tenant=tenant, enrollment=enrollment, quiz=quiz).count()
    if used >= quiz.attempts_allowed:
        raise QuizAttemptLimitReached(
            ngettext(
                "“%(quiz)s” allows %(allowed)d attempt, and it has been used.",
                "“%(quiz)s” allows %(allowed)d attempts, and all of them are used.",
                quiz.attempts_allowed,
            )
            % {"quiz": quiz.title, "allowed": quiz.attempts_allowed}
        )
    questions = list(quiz.questions.prefetch_related("choices"))
    if not questions:
        raise ValidationError({"quiz": _("This quiz has no questions yet.")})
    normalised = _answers_validated(questions, answers)
    graded = {str(question.pk): _graded(question, normalised[str(question.pk)]) for question in questions}
    score = _score(questions, graded)
    attempt = QuizAttempt.objects.create(
        tenant=tenant,
        enrollment=enrollment,
        quiz=quiz,
        number=used + 1,
        answers=graded,
        score=score,
        passed=score >= enrollment.course.pass_mark,
    )
    certificate_issue_if_earned(tenant=tenant, enrollment=enrollment)
    return attempt


@transaction.atomic
def lab_step_check(*, tenant: Tenant, enrollment: Enrollment, step: LabStep) -> CheckResult:
    """Run the step's check on the learner's sandbox of `tenant` ("check my work").

    A pass is recorded (again: its message is refreshed) and may complete the
    course; a fail records nothing and its message says what to do next. A
    pass stays recorded when the sandbox is later reset. Raises
    LabStep.DoesNotExist for a step of another course.
    """
    enrollment = _locked_enrollment(tenant, enrollment)
    if not LabStep.objects.filter(pk=step.pk, lab__module__course_id=enrollment.course_id).exists():
        raise LabStep.DoesNotExist
    sandbox = sandbox_get(tenant=tenant, user=enrollment.membership.user)
    if sandbox is None:
        return CheckResult(
            False,
            _("You have no sandbox yet: open it with “Open my sandbox” on this lab's page, do the step there, "
              "then check again."),
        )
    result = lab_check_run(name=step.check_name, sandbox=sandbox)
    if result.passed:
        LabStepCompletion.objects.update_or_create(
            tenant=tenant,
            enrollment=enrollment,
            step=step,
            defaults={"message": result.message, "message_id": result.message_id, "message_params": result.params},
        )
        certificate_issue_if_earned(tenant=tenant, enrollment=enrollment)
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _answer_error(question: Question, answer: Any) -> str | None:
    """Why `answer` is not an answer to `question`; None when it is one."""
    choice_ids = {choice.pk for choice in question.choices.all()}
    if question.kind == QuestionKind.SINGLE:
        if not isinstance(answer, int) or isinstance(answer, bool) or answer not in choice_ids:
            return _("choose one of its choices.")
    elif question.kind == QuestionKind.MULTIPLE:
        if not isinstance(answer, list) or not all(
            isinstance(a, int) and not isinstance(a, bool) and a in choice_ids for a in answer
        ):
            return _("give a list of its choices.")
        if len(set(answer)) != len(answer):
            return _("a choice is given twice.")
    elif question.kind == QuestionKind.TRUE_FALSE:
        if not isinstance(answer, bool):
            return _("answer true or false.")
    elif question.kind == QuestionKind.NUMERIC and not _is_number(answer):
        return _("answer with a number.")
    return None


def _answers_validated(questions: list[Question], answers: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(answers, dict):
        raise ValidationError({"answers": _("Answers are a mapping of question ids to answers.")})
    errors: dict[str, str] = {}
    known = {str(question.pk) for question in questions}
    for key in sorted(set(map(str, answers)) - known):
        errors[f"answers[{key}]"] = _("No question %(id)s in this quiz.") % {"id": key}
    normalised = {}
    for question in questions:
        key = str(question.pk)
        label = _("Question %(position)s (“%(prompt)s”)") % {
            "position": question.position,
            "prompt": question.prompt[:60],
        }
        if key not in answers and question.pk not in answers:
            errors[f"answers[{key}]"] = _("%(question)s: not answered.") % {"question": label}
            continue
        answer = answers.get(key, answers.get(question.pk))
        reason = _answer_error(question, answer)
        if reason:
            errors[f"answers[{key}]"] = f"{label}: {reason}"
        else:
            normalised[key] = sorted(answer) if question.kind == QuestionKind.MULTIPLE else answer
    if errors:
        raise ValidationError(errors)
    return normalised


def answer_is_right(question: Question, answer: Any) -> bool:
    """Whether a stored answer earns the question's credit; an answer not of the question's shape
    (answered before its kind changed) earns none."""
    if _answer_error(question, answer) is not None:
        return False
    return _is_right(question, answer)


def _is_right(question: Question, answer: Any) -> bool:
    correct_ids = {choice.pk for choice in question.choices.all() if choice.is_correct}
    if question.kind == QuestionKind.SINGLE:
        return answer in correct_ids
    if question.kind == QuestionKind.MULTIPLE:
        return set(answer) == correct_ids  # all-or-nothing
    if question.kind == QuestionKind.TRUE_FALSE:
        return answer == question.correct_boolean
    # A hair of float slack, so 0.1 + 0.2 is within a tolerance of 0 of 0.3.
    return abs(answer - question.numeric_answer) <= question.numeric_tolerance + 1e-9


def answer_as_shown(question: Question, answer: Any) -> tuple[list, list]:
    """(given, expected): the learner's answer and the right one as an attempt's feedback shows them.

    Choices by their text, in the question's order (None for a choice no longer there: an attempt
    stored before the question's state was kept with it); true or false as a boolean, which the page
    words in the reader's language; a number as written. An answer not of the question's shape
    (answered before a curriculum reload changed its kind) is shown as given.
    """
    given: list = [] if answer is None else [str(answer)]
    if question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        choices = list(question.choices.all())
        picked = answer if isinstance(answer, list) else [answer]
        if answer is not None and all(isinstance(pk, int) and not isinstance(pk, bool) for pk in picked):
            texts = {choice.pk: choice.text for choice in choices}
            order = {choice.pk: number for number, choice in enumerate(choices)}
            given = [texts.get(pk) for pk in sorted(picked, key=lambda pk: (order.get(pk, len(order)), pk))]
        expected = [choice.text for choice in choices if choice.is_correct]
    elif question.kind == QuestionKind.TRUE_FALSE:
        if isinstance(answer, bool):
            given = [answer]
        expected = [question.correct_boolean]
    else:
        if _is_number(answer):
            given = [f"{answer:g}"]
        expected = [f"{question.numeric_answer:g}" + (
            f" ± {question.numeric_tolerance:g}" if question.numeric_tolerance else ""
        )]
    return given, expected


def _graded(question: Question, answer: Any) -> dict[str, Any]:
    """What an attempt keeps of one question (QuizAttempt.answers): the answer, whether it was right,
    and the question as graded."""
    given, expected = answer_as_shown(question, answer)
    return {
        "answer": answer,
        "right": _is_right(question, answer),
        "position": question.position,
        "prompt": question.prompt,
        "given": given,
        "expected": expected,
    }


def _score(questions: list[Question], graded: dict[str, dict[str, Any]]) -> float:
    total = sum(question.weight for question in questions)
    earned = sum(question.weight for question in questions if graded[str(question.pk)]["right"])
    return min(1.0, earned / total)


def _learner_display_name(membership: Membership) -> str:
    user = membership.user
    # A public page: never the username, which is an email address here; its local part at worst.
    return user.get_full_name().strip() or user.get_username().split("@")[0]


@transaction.atomic
def certificate_issue_if_earned(*, tenant: Tenant, enrollment: Enrollment) -> Certificate | None:
    """Issue the enrollment's certificate if it is earned and not issued yet; return it
    (the existing one on a second call), or None while not earned.

    Idempotent: the enrollment row lock and the one-to-one constraint both stop a second one.
    """
    enrollment = _locked_enrollment(tenant, enrollment)
    existing = Certificate.objects.filter(tenant=tenant, enrollment=enrollment).first()
    if existing is not None:
        return existing
    if not course_progress(tenant=tenant, enrollment=enrollment).passed:
        return None
    certificate = Certificate.objects.create(
        tenant=tenant,
        enrollment=enrollment,
        learner_name=_learner_display_name(enrollment.membership),
        course_title=enrollment.course.title,
        issued_by_store=not enrollment.course.is_platform_course,
    )
    enrollment.completed_at = timezone.now()
    enrollment.save(update_fields=["completed_at"])
    return certificate
