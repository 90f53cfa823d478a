"""The learner's pages: the course list, a course, its lessons, quizzes with feedback, labs with
"check my work", and the learner's certificates.

Every course is read through the visibility selectors: another tenant's course, or a part of
one, is a 404. A quiz attempt is read through the learner's own attempts only, so another
learner's attempt is a 404 too.

Labs run in the learner's sandbox, a tenant of its own. "Open my sandbox" makes it the active
tenant (the whole product then works on the sandbox), and the banner in base.html brings the
learner back to the lab page in the store, where the checks are run and recorded.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses.labs.sandbox import SandboxError, sandbox_for, sandbox_get, sandbox_reset
from courses.learner_forms import QuizForm
from courses.models import (
    Certificate,
    Course,
    Enrollment,
    Lab,
    LabStep,
    LabStepCompletion,
    Lesson,
    LessonCompletion,
    Question,
    Quiz,
    QuizAttempt,
)
from courses.selectors import (
    course_detail,
    course_get_visible,
    course_lessons,
    course_list_for_learner,
    course_progress,
    quiz_attempt_list_for_learner,
)
from courses.services import (
    QuizAttemptLimitReached,
    answer_as_shown,
    answer_is_right,
    certificate_issue_if_earned,
    enrollment_create,
    lab_step_check,
    lesson_complete,
    quiz_attempt_submit,
)
from tenants.models import Membership
from tenants.scope import outside_tenant_scope
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY
from tenants.web import member_required

# Where "Back to the course" returns from a sandbox: the lab page the learner came from, per store
# ({"<store id>": url}). A learner of two stores may open one's sandbox from a lab, then switch to the
# other's: that store's own course is a 404 in the first, so a page is returned to only in its store.
SANDBOX_RETURN_SESSION_KEY = "courses_sandbox_return_to"


def learner_page(view):
    """A member of a store, learners included (not of a sandbox: courses are taken in the store, where
    the enrollment and its certificate belong; inside a sandbox the page says how to go back)."""

    @member_required(learners=True)
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if request.tenant.sandbox_of_id is not None:
            return render(request, "courses/in_sandbox.html", {"store": request.tenant.sandbox_of}, status=409)
        return view(request, *args, **kwargs)

    return guarded


def _course_or_404(request, course_id: int) -> Course:
    try:
        return course_list_for_learner(tenant=request.tenant, membership=request.membership).get(pk=course_id)
    except Course.DoesNotExist:
        raise Http404 from None


def _enrollment(request, course: Course) -> Enrollment | None:
    return Enrollment.objects.filter(membership=request.membership, course=course).first()


def _enrollment_or_redirect(request, course: Course):
    """The learner's enrollment, or a redirect to the course page that says to enroll first."""
    enrollment = _enrollment(request, course)
    if enrollment is None:
        messages.info(request, _("Enroll in the course first: your progress and answers are kept with it."))
        return None, redirect("courses:detail", course_id=course.pk)
    return enrollment, None


@learner_page
def course_list_view(request):
    language = get_language()
    takeable = course_list_for_learner(tenant=request.tenant, membership=request.membership)
    courses = list(takeable.filter(language=language))
    other_language = list(takeable.exclude(language=language))
    enrollments = {
        enrollment.course_id: enrollment
        for enrollment in Enrollment.objects.filter(membership=request.membership).select_related("certificate")
    }
    rows = []
    for course in courses + other_language:
        enrollment = enrollments.get(course.pk)
        progress = course_progress(tenant=request.tenant, enrollment=enrollment) if enrollment else None
        rows.append({"course": course, "enrollment": enrollment, "progress": progress,
                     "certificate": getattr(enrollment, "certificate", None) if enrollment else None})
    certificates = Certificate.objects.filter(enrollment__membership=request.membership)
    return render(request, "courses/list.html", {
        "rows": rows,
        "in_language_count": len(courses),
        "certificates": certificates,
    })


@learner_page
def course_detail_view(request, course_id: int):
    try:
        course = course_detail(tenant=request.tenant, course_id=course_id, membership=request.membership)
    except Course.DoesNotExist:
        raise Http404 from None
    enrollment = _enrollment(request, course)
    progress = course_progress(tenant=request.tenant, enrollment=enrollment) if enrollment else None
    completed_lessons = set()
    passed_steps = set()
    attempts_used: dict[int, int] = {}
    if enrollment is not None:
        completed_lessons = set(
            LessonCompletion.objects.filter(enrollment=enrollment).values_list("lesson_id", flat=True)
        )
        passed_steps = set(
            LabStepCompletion.objects.filter(enrollment=enrollment).values_list("step_id", flat=True)
        )
        for attempt in quiz_attempt_list_for_learner(tenant=request.tenant, learner=request.membership):
            attempts_used[attempt.quiz_id] = attempts_used.get(attempt.quiz_id, 0) + 1
    modules = []
    for module in course.modules.all():
        # A quiz placed after a lesson (Quiz.lesson) is listed right after it; the others end the module.
        quizzes_after: dict[int | None, list[dict]] = {}
        for quiz in module.quizzes.all():
            quizzes_after.setdefault(quiz.lesson_id, []).append({
                "quiz": quiz,
                "best": progress.best_scores.get(quiz.pk) if progress else None,
                "attempts_used": attempts_used.get(quiz.pk, 0),
            })
        modules.append({
            "module": module,
            "lessons": [
                {"lesson": lesson, "done": lesson.pk in completed_lessons, "quizzes": quizzes_after.get(lesson.pk, [])}
                for lesson in module.lessons.all()
            ],
            "quizzes": quizzes_after.get(None, []),
            "labs": [
                {"lab": lab, "steps": len(lab.steps.all()),
                 "passed": sum(step.pk in passed_steps for step in lab.steps.all())}
                for lab in module.labs.all()
            ],
        })
    return render(request, "courses/detail.html", {
        "course": course,
        "enrollment": enrollment,
        "progress": progress,
        "modules": modules,
        "certificate": Certificate.objects.filter(enrollment=enrollment).first() if enrollment else None,
    })


@require_POST
@learner_page
def course_enroll_view(request, course_id: int):
    try:
        course = course_get_visible(tenant=request.tenant, course_id=course_id)  # published only: new learners
    except Course.DoesNotExist:
        raise Http404 from None
    enrollment_create(tenant=request.tenant, membership=request.membership, course=course)
    first_lesson = course_lessons(course=course).first()
    if first_lesson is None:
        return redirect("courses:detail", course_id=course.pk)
    return redirect("courses:lesson", course_id=course.pk, lesson_id=first_lesson.pk)


@require_POST
@learner_page
def certificate_claim_view(request, course_id: int):
    """Issue the certificate of a course passed by a change made since (a lesson or lab removed
    by its author, a lower pass mark): nothing the learner does next would trigger it."""
    course = _course_or_404(request, course_id)
    enrollment, redirect_to_course = _enrollment_or_redirect(request, course)
    if enrollment is None:
        return redirect_to_course
    if certificate_issue_if_earned(tenant=request.tenant, enrollment=enrollment) is None:
        messages.error(request, _("The course is not passed yet: see what is left on this page."))
    else:
        _certificate_message_if_new(request, enrollment)
    return redirect("courses:detail", course_id=course.pk)


@learner_page
def lesson_view(request, course_id: int, lesson_id: int):
    course = _course_or_404(request, course_id)
    lessons = list(course_lessons(course=course).select_related("module"))
    index = next((i for i, lesson in enumerate(lessons) if lesson.pk == lesson_id), None)
    if index is None:
        raise Http404
    lesson = lessons[index]
    enrollment = _enrollment(request, course)
    completed = enrollment is not None and LessonCompletion.objects.filter(
        enrollment=enrollment, lesson=lesson
    ).exists()
    # A quiz placed after a lesson (Quiz.lesson) comes right after it; the others end the module.
    lesson_quizzes = list(Quiz.objects.filter(lesson=lesson).order_by("position", "id"))
    module_quizzes = list(Quiz.objects.filter(module=lesson.module, lesson__isnull=True).order_by("position", "id"))
    module_labs = list(Lab.objects.filter(module=lesson.module).order_by("position"))
    is_last_of_module = index + 1 == len(lessons) or lessons[index + 1].module_id != lesson.module_id
    return render(request, "courses/lesson.html", {
        "course": course,
        "lesson": lesson,
        "enrollment": enrollment,
        "completed": completed,
        "previous": lessons[index - 1] if index > 0 else None,
        "next": lessons[index + 1] if index + 1 < len(lessons) else None,
        "position": index + 1,
        "total": len(lessons),
        "lesson_quizzes": lesson_quizzes,
        # At the end of a module, its quizzes and labs come before the next module's lessons.
        "module_quizzes": module_quizzes if is_last_of_module else [],
        "module_labs": module_labs if is_last_of_module else [],
    })


@require_POST
@learner_page
def lesson_complete_view(request, course_id: int, lesson_id: int):
    course = _course_or_404(request, course_id)
    enrollment, redirect_to_course = _enrollment_or_redirect(request, course)
    if enrollment is None:
        return redirect_to_course
    try:
        lesson = course_lessons(course=course).get(pk=lesson_id)
    except Lesson.DoesNotExist:
        raise Http404 from None
    lesson_complete(tenant=request.tenant, enrollment=enrollment, lesson=lesson)
    _certificate_message_if_new(request, enrollment)
    following = course_lessons(course=course).filter(
        module__position__gte=lesson.module.position
    ).exclude(module=lesson.module, position__lte=lesson.position).first()
    if request.POST.get("then") == "next" and following is not None:
        return redirect("courses:lesson", course_id=course.pk, lesson_id=following.pk)
    return redirect("courses:lesson", course_id=course.pk, lesson_id=lesson.pk)


def _certificate_message_if_new(request, enrollment: Enrollment) -> None:
    certificate = Certificate.objects.filter(enrollment=enrollment).first()
    if certificate is not None and not request.session.get(f"certificate_announced_{certificate.pk}"):
        request.session[f"certificate_announced_{certificate.pk}"] = True
        messages.success(
            request,
            _("Congratulations: you passed “%(course)s”. Your certificate is on the course page.")
            % {"course": certificate.course_title},
        )


def _quiz_or_404(course: Course, quiz_id: int) -> Quiz:
    try:
        return Quiz.objects.select_related("module").get(pk=quiz_id, module__course=course)
    except Quiz.DoesNotExist:
        raise Http404 from None


@learner_page
def quiz_view(request, course_id: int, quiz_id: int):
    course = _course_or_404(request, course_id)
    quiz = _quiz_or_404(course, quiz_id)
    enrollment, redirect_to_course = _enrollment_or_redirect(request, course)
    if enrollment is None:
        return redirect_to_course
    questions = list(quiz.questions.prefetch_related("choices"))
    attempts = list(quiz_attempt_list_for_learner(tenant=request.tenant, learner=request.membership, quiz=quiz))
    form = QuizForm(request.POST or None, questions=questions)
    if request.method == "POST" and form.is_valid():
        try:
            attempt = quiz_attempt_submit(
                tenant=request.tenant, enrollment=enrollment, quiz=quiz, answers=form.answers()
            )
        except QuizAttemptLimitReached as error:
            messages.error(request, str(error))
            return redirect("courses:quiz", course_id=course.pk, quiz_id=quiz.pk)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            _certificate_message_if_new(request, enrollment)
            return redirect("courses:attempt", course_id=course.pk, attempt_id=attempt.pk)
    return render(request, "courses/quiz.html", {
        "course": course,
        "quiz": quiz,
        "form": form,
        "attempts": attempts,
        "attempts_left": max(0, quiz.attempts_allowed - len(attempts)),
        "pass_mark": course.pass_mark,
    })


@learner_page
def attempt_view(request, course_id: int, attempt_id: int):
    """The learner's own attempt with feedback: right or wrong per question, and why.

    The right answers themselves are shown once the learner has passed the quiz or used every
    attempt; before that, the explanation teaches without handing the next attempt its answers.
    """
    course = _course_or_404(request, course_id)
    try:
        attempt = quiz_attempt_list_for_learner(tenant=request.tenant, learner=request.membership).select_related(
            "quiz"
        ).get(pk=attempt_id, enrollment__course=course)
    except QuizAttempt.DoesNotExist:
        raise Http404 from None
    quiz = attempt.quiz
    own_attempts = list(quiz_attempt_list_for_learner(tenant=request.tenant, learner=request.membership, quiz=quiz))
    reveal = any(a.passed for a in own_attempts) or len(own_attempts) >= quiz.attempts_allowed
    feedback = _attempt_feedback(attempt, list(quiz.questions.prefetch_related("choices")), reveal)
    return render(request, "courses/attempt.html", {
        "course": course,
        "quiz": quiz,
        "attempt": attempt,
        "feedback": feedback,
        "reveal": reveal,
        "attempts_left": max(0, quiz.attempts_allowed - len(own_attempts)),
    })


def _attempt_feedback(attempt: QuizAttempt, questions: list[Question], reveal: bool) -> list[dict]:
    """Each question of the attempt, right or wrong as it was graded, with the learner's answer and,
    when `reveal`, the right one, for the page.

    The attempt keeps each question as graded (QuizAttempt.answers), so an author's edit since (a new
    right answer, a choice removed, a question added or deleted) changes nothing here; only the
    explanation is today's, the author's latest word on it. An older attempt kept only its answers: it
    is read against the questions as they are now, except that a 100% or a 0% attempt was right, or
    wrong, on every question it answered, whatever was edited since. A question added since was not
    part of it.
    """
    if attempt.graded_per_question:
        explanations = {str(question.pk): question.explanation for question in questions}
        records = sorted(attempt.answers.items(), key=lambda item: (item[1]["position"], int(item[0])))
        return [
            _feedback_row(int(key), record["prompt"], explanations.get(key, ""), record["right"],
                          record["given"], record["expected"], reveal)
            for key, record in records
        ]
    rows = []
    for question in questions:
        key = str(question.pk)
        if key not in attempt.answers:
            continue
        answer = attempt.answers[key]
        right = attempt.score == 1.0 if attempt.score in (0.0, 1.0) else answer_is_right(question, answer)
        given, expected = answer_as_shown(question, answer)
        rows.append(_feedback_row(question.pk, question.prompt, question.explanation, right, given, expected, reveal))
    return rows


def _feedback_row(question_id: int, prompt: str, explanation: str, right: bool, given: list, expected: list,
                  reveal: bool) -> dict:
    return {
        "question_id": question_id,
        "prompt": prompt,
        "explanation": explanation,
        "right": right,
        "your_answer": [_answer_text(value) for value in given],
        "correct_answer": [_answer_text(value) for value in expected] if reveal else None,
    }


def _answer_text(value) -> str:
    """One part of an answer as services.answer_as_shown gives it, in the reader's language."""
    if value is None:
        return _("a choice removed since")
    if isinstance(value, bool):
        return _("True") if value else _("False")
    return value


def _lab_or_404(course: Course, lab_id: int) -> Lab:
    try:
        return Lab.objects.select_related("module").get(pk=lab_id, module__course=course)
    except Lab.DoesNotExist:
        raise Http404 from None


@learner_page
def lab_view(request, course_id: int, lab_id: int):
    course = _course_or_404(request, course_id)
    lab = _lab_or_404(course, lab_id)
    enrollment = _enrollment(request, course)
    completions = {}
    if enrollment is not None:
        completions = {
            completion.step_id: completion
            for completion in LabStepCompletion.objects.filter(enrollment=enrollment, step__lab=lab)
        }
    steps = [(step, completions.get(step.pk)) for step in lab.steps.all()]
    return render(request, "courses/lab.html", {
        "course": course,
        "lab": lab,
        "enrollment": enrollment,
        "steps": steps,
        "sandbox": sandbox_get(tenant=request.tenant, user=request.user),
        "last_check": request.session.pop(f"lab_check_{lab.pk}", None),
    })


@require_POST
@learner_page
def lab_step_check_view(request, course_id: int, lab_id: int, step_id: int):
    course = _course_or_404(request, course_id)
    lab = _lab_or_404(course, lab_id)
    enrollment, redirect_to_course = _enrollment_or_redirect(request, course)
    if enrollment is None:
        return redirect_to_course
    try:
        step = LabStep.objects.get(pk=step_id, lab=lab)
    except LabStep.DoesNotExist:
        raise Http404 from None
    result = lab_step_check(tenant=request.tenant, enrollment=enrollment, step=step)
    # Shown beside the step it is about, once: the page after the redirect pops it.
    request.session[f"lab_check_{lab.pk}"] = {"step_id": step.pk, "passed": result.passed, "message": result.message}
    _certificate_message_if_new(request, enrollment)
    return redirect(f"{reverse('courses:lab', kwargs={'course_id': course.pk, 'lab_id': lab.pk})}#step-{step.pk}")


@require_POST
@learner_page
def sandbox_open_view(request, course_id: int, lab_id: int):
    """Create the learner's sandbox on first use and make it the active tenant."""
    course = _course_or_404(request, course_id)
    lab = _lab_or_404(course, lab_id)
    try:
        sandbox = sandbox_for(tenant=request.tenant, user=request.user)
    except (SandboxError, PermissionDenied) as error:
        messages.error(request, str(error))
        return redirect("courses:lab", course_id=course.pk, lab_id=lab.pk)
    request.session[ACTIVE_TENANT_SESSION_KEY] = sandbox.pk
    return_to = request.session.get(SANDBOX_RETURN_SESSION_KEY)
    return_to = return_to if isinstance(return_to, dict) else {}  # a session from before: a bare url
    return_to[str(request.tenant.pk)] = reverse("courses:lab", kwargs={"course_id": course.pk, "lab_id": lab.pk})
    request.session[SANDBOX_RETURN_SESSION_KEY] = return_to
    messages.success(
        request,
        _("You are in your sandbox of %(store)s: anything you do here leaves your store untouched. "
          "Use “Back to the course” at the top when you are done.") % {"store": request.tenant.name},
    )
    return redirect("dashboard")


@require_POST
@learner_page
def sandbox_reset_view(request, course_id: int, lab_id: int):
    course = _course_or_404(request, course_id)
    lab = _lab_or_404(course, lab_id)
    sandbox = sandbox_get(tenant=request.tenant, user=request.user)
    if sandbox is None:
        raise Http404
    sandbox_reset(sandbox=sandbox)
    messages.success(request, _("Your sandbox is as new again: a fresh sample of your store, with no lab work in it."))
    return redirect("courses:lab", course_id=course.pk, lab_id=lab.pk)


@require_POST
@member_required(learners=True)
def sandbox_leave_view(request):
    """Back from the sandbox to its store, on the lab page of that store the learner came from; to
    the course list when they came from none (they switched to this sandbox from another store's)."""
    store_id = request.tenant.sandbox_of_id
    with outside_tenant_scope():  # the request is in the sandbox's scope; this asks about the store
        is_member = store_id is not None and Membership.all_tenants.filter(tenant_id=store_id, user=request.user).exists()
    if not is_member:
        raise Http404
    request.session[ACTIVE_TENANT_SESSION_KEY] = store_id
    return_to_by_store = request.session.get(SANDBOX_RETURN_SESSION_KEY)
    return_to = None
    if isinstance(return_to_by_store, dict):
        return_to = return_to_by_store.pop(str(store_id), None)
        request.session[SANDBOX_RETURN_SESSION_KEY] = return_to_by_store
    if not return_to or not url_has_allowed_host_and_scheme(return_to, allowed_hosts={request.get_host()}):
        return_to = reverse("courses:list")
    return redirect(return_to)


urlpatterns = [
    path("", course_list_view, name="list"),
    path("sandbox/leave/", sandbox_leave_view, name="sandbox-leave"),
    path("<int:course_id>/", course_detail_view, name="detail"),
    path("<int:course_id>/enroll/", course_enroll_view, name="enroll"),
    path("<int:course_id>/certificate/", certificate_claim_view, name="certificate-claim"),
    path("<int:course_id>/lessons/<int:lesson_id>/", lesson_view, name="lesson"),
    path("<int:course_id>/lessons/<int:lesson_id>/complete/", lesson_complete_view, name="lesson-complete"),
    path("<int:course_id>/quizzes/<int:quiz_id>/", quiz_view, name="quiz"),
    path("<int:course_id>/attempts/<int:attempt_id>/", attempt_view, name="attempt"),
    path("<int:course_id>/labs/<int:lab_id>/", lab_view, name="lab"),
    path("<int:course_id>/labs/<int:lab_id>/sandbox/", sandbox_open_view, name="sandbox-open"),
    path("<int:course_id>/labs/<int:lab_id>/sandbox/reset/", sandbox_reset_view, name="sandbox-reset"),
    path("<int:course_id>/labs/<int:lab_id>/steps/<int:step_id>/check/", lab_step_check_view,
         name="lab-step-check"),
]
