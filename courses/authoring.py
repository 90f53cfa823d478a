"""Writes on a tenant's own courses (the authoring pages, courses.authoring_views), and the
reads that find what an author may edit.

Who writes what:
* A tenant's own course (Course.tenant set) is written by its owners and admins, here. A
  platform course (tenant NULL: loaded from courses/curriculum/ by load_curriculum, or edited by
  platform staff in the admin) and another tenant's course are not theirs to write: to a tenant
  author they and their parts do not exist (DoesNotExist, a 404 in a view). Every read and every
  write below checks this itself, so a view cannot forget it.
* Every write runs full_clean and raises ValidationError keyed by the field at fault ("slug",
  "choices", "numeric_answer"). Rules the database also holds (check and unique constraints) are
  checked first, with messages that name the field: a violated constraint's own message names
  only the constraint.
* New modules, lessons, quizzes, questions, labs and steps go at the end (position max + 1),
  decided under a row lock on their parent, so two authors adding at once cannot pick the same one.
* Enrollments and quiz attempts are PROTECTed in the models: they hold learners' scores and
  certificates. Deleting what they point at is refused (DeleteRefused) with what to do instead.
  Lesson and lab step completions go with their lesson or step (CASCADE): progress counts what exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, Max, Prefetch, QuerySet
from django.utils.translation import gettext as _

from courses.models import (
    Choice,
    Course,
    Enrollment,
    Lab,
    LabStep,
    Lesson,
    Module,
    Question,
    QuestionKind,
    Quiz,
    QuizAttempt,
)
from tenants.models import Tenant

Errors = dict[str, list[str]]


class DeleteRefused(Exception):
    """Deleting this would delete learners' records; the message says what to do instead."""


@dataclass(frozen=True)
class ChoiceInput:
    """One choice of a question as the author gives it; `id` names an existing choice to keep."""

    text: str
    is_correct: bool
    id: int | None = None


# --- Reads: what the author may edit -------------------------------------------------------------


def authored_course_list(*, tenant: Tenant) -> QuerySet[Course]:
    """The tenant's own courses, published or not, in every language, with a few counts."""
    return (
        Course.objects.filter(tenant=tenant)
        .annotate(
            module_count=Count("modules", distinct=True), enrollment_count=Count("enrollments", distinct=True)
        )
        .order_by("title", "language", "id")
    )


def authored_course_get(*, tenant: Tenant, course_id: int) -> Course:
    """Raises Course.DoesNotExist for a platform course or another tenant's."""
    return Course.objects.filter(tenant=tenant).get(pk=course_id)


def authored_course_outline(*, tenant: Tenant, course_id: int) -> Course:
    """The course with its modules, and their lessons, quizzes (with their question count) and
    labs (with their step count), in order. Raises Course.DoesNotExist as authored_course_get."""
    return (
        Course.objects.filter(tenant=tenant)
        .prefetch_related(
            "modules__lessons",
            Prefetch(
                "modules__quizzes",
                queryset=Quiz.objects.select_related("lesson").annotate(question_count=Count("questions")),
            ),
            Prefetch("modules__labs", queryset=Lab.objects.annotate(step_count=Count("steps"))),
        )
        .get(pk=course_id)
    )


def _own_part(model: type[models.Model], course_path: str, tenant: Tenant, pk: int, related: str):
    # Through the course: its tenant is the tenant's (NULL, a platform course, never matches).
    return model.objects.select_related(related).get(pk=pk, **{f"{course_path}__tenant": tenant})


def authored_module_get(*, tenant: Tenant, module_id: int) -> Module:
    return _own_part(Module, "course", tenant, module_id, "course")


def authored_lesson_get(*, tenant: Tenant, lesson_id: int) -> Lesson:
    return _own_part(Lesson, "module__course", tenant, lesson_id, "module__course")


def authored_quiz_get(*, tenant: Tenant, quiz_id: int) -> Quiz:
    return _own_part(Quiz, "module__course", tenant, quiz_id, "module__course")


def authored_question_get(*, tenant: Tenant, question_id: int) -> Question:
    return _own_part(Question, "quiz__module__course", tenant, question_id, "quiz__module__course")


def authored_lab_get(*, tenant: Tenant, lab_id: int) -> Lab:
    return _own_part(Lab, "module__course", tenant, lab_id, "module__course")


def authored_lab_step_get(*, tenant: Tenant, step_id: int) -> LabStep:
    return _own_part(LabStep, "lab__module__course", tenant, step_id, "lab__module__course")


# --- Shared helpers ------------------------------------------------------------------------------


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _full_clean(instance: models.Model, errors: Errors, *, exclude: list[str] | None = None) -> None:
    """full_clean `instance`, and raise its errors together with `errors`, the rule checks made
    before it. When those found something, the constraints are not validated again: they restate
    the same rules with a message naming only the constraint."""
    try:
        instance.full_clean(exclude=exclude, validate_constraints=not errors)
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _next_position(siblings: QuerySet) -> int:
    return (siblings.aggregate(last=Max("position"))["last"] or 0) + 1


def _course_locked(tenant: Tenant, course_id: int) -> Course:
    return Course.objects.select_for_update().filter(tenant=tenant).get(pk=course_id)


def _locked(part: models.Model) -> models.Model:
    """`part`, read again under a row lock (the caller found it through authored_*_get)."""
    return type(part).objects.select_for_update().get(pk=part.pk)


# --- Courses -------------------------------------------------------------------------------------


def _course_rule_errors(tenant: Tenant, course: Course) -> Errors:
    errors: Errors = {}
    if course.pass_mark is not None and not 0 <= course.pass_mark <= 1:
        _add(errors, "pass_mark", _("The pass mark is a share from 0 to 1: 0.7 is 70%."))
    # Case-insensitively: a course saved before slugs were lower-cased may still have capitals.
    same_slug = Course.objects.visible_to(tenant).filter(slug__iexact=course.slug).exclude(pk=course.pk)
    if same_slug.filter(tenant=tenant, language=course.language).exists():
        _add(errors, "slug", _("Another of your courses in this language has this slug."))
    elif same_slug.filter(tenant__isnull=True).exists():
        # The certificate requirement (courses.gating) names a course by slug and counts any
        # visible course with it: an own course under a platform course's slug would meet it.
        _add(errors, "slug", _("A platform course has this slug: choose another."))
    return errors


@transaction.atomic
def course_create(
    *, tenant: Tenant, slug: str, language: str, title: str, summary: str = "", pass_mark: float = 0.7
) -> Course:
    """A new course of the tenant's, unpublished: learners see it once it is published. The slug is
    lower-cased, as the platform's are."""
    course = Course(
        tenant=tenant, slug=slug.lower(), language=language, title=title, summary=summary, pass_mark=pass_mark,
        published=False,
    )
    _full_clean(course, _course_rule_errors(tenant, course))
    course.save()
    return course


@transaction.atomic
def course_update(
    *, tenant: Tenant, course_id: int, slug: str, language: str, title: str, summary: str, pass_mark: float
) -> Course:
    """Change a course, with course_create's rules. A slug the author changes is lower-cased; one left as
    it was is kept, capitals and all, from before slugs were lower-cased: a certificate requirement
    (courses.gating) may name it as it is."""
    course = _course_locked(tenant, course_id)
    course.slug = slug if slug == course.slug else slug.lower()
    course.language, course.title = language, title
    course.summary, course.pass_mark = summary, pass_mark
    _full_clean(course, _course_rule_errors(tenant, course))
    course.save()
    return course


def _publish_errors(course: Course) -> list[str]:
    reasons = []
    if not Lesson.objects.filter(module__course=course).exists():
        reasons.append(_("Add at least one lesson before publishing."))
    # A quiz without questions cannot be taken, and counts 0 in the grade: nobody could pass.
    for quiz in Quiz.objects.filter(module__course=course, questions__isnull=True):
        reasons.append(
            _("The quiz “%(quiz)s” has no questions yet: add some, or delete it.") % {"quiz": quiz.title}
        )
    for lab in Lab.objects.filter(module__course=course, steps__isnull=True):
        reasons.append(_("The lab “%(lab)s” has no steps yet: add some, or delete it.") % {"lab": lab.title})
    return reasons


@transaction.atomic
def course_publish_set(*, tenant: Tenant, course_id: int, published: bool) -> Course:
    """Publish the course (learners of the tenant find it) or unpublish it (new learners do not).

    Raises ValidationError on "published" when the course cannot be taken yet."""
    course = _course_locked(tenant, course_id)
    if published:
        reasons = _publish_errors(course)
        if reasons:
            raise ValidationError({"published": reasons})
    course.published = published
    course.save(update_fields=["published"])
    return course


@transaction.atomic
def course_delete(*, tenant: Tenant, course_id: int) -> None:
    """Delete a course nobody has enrolled in; raises DeleteRefused otherwise.

    Refused rather than archived here: deleting would take the learners' enrollments, scores
    and certificates with it (Enrollment.course is PROTECT for that reason), and a certificate
    is a public proof someone may have shared. Unpublishing is the archive: new learners no
    longer find the course, and every record stays.
    """
    course = _course_locked(tenant, course_id)
    refused = DeleteRefused(
        _("Members have enrolled in “%(course)s”, so deleting it would delete their progress. "
          "Unpublish it instead: new learners will no longer find it.")
        % {"course": course.title}
    )
    if Enrollment.objects.filter(tenant=tenant, course=course).exists():
        raise refused
    try:
        course.delete()
    except models.ProtectedError:  # an enrollment made since the check
        raise refused from None


# --- Modules -------------------------------------------------------------------------------------


@transaction.atomic
def module_create(*, tenant: Tenant, course_id: int, title: str) -> Module:
    course = _course_locked(tenant, course_id)
    module = Module(course=course, position=_next_position(course.modules.all()), title=title)
    _full_clean(module, {})
    module.save()
    return module


@transaction.atomic
def module_update(*, tenant: Tenant, module_id: int, title: str) -> Module:
    module = _locked(authored_module_get(tenant=tenant, module_id=module_id))
    module.title = title
    _full_clean(module, {})
    module.save()
    return module


def _delete_unless_attempted(tenant: Tenant, part: Module | Quiz, quizzes: QuerySet[Quiz], what: str) -> None:
    """Delete `part` unless a learner has taken one of `quizzes` (its own, or itself)."""
    attempted = quizzes.filter(pk__in=QuizAttempt.objects.filter(tenant=tenant).values("quiz_id")).first()
    if attempted is None:
        try:
            part.delete()
            return
        except models.ProtectedError as error:  # an attempt submitted since the check
            attempted = next(iter(error.protected_objects)).quiz
    raise DeleteRefused(
        _("Learners have taken the quiz “%(quiz)s”, so deleting %(what)s would delete their scores.")
        % {"quiz": attempted.title, "what": what}
    )


@transaction.atomic
def module_delete(*, tenant: Tenant, module_id: int) -> None:
    """Delete a module with its lessons, quizzes and labs; refused once a quiz of it was taken."""
    module = _locked(authored_module_get(tenant=tenant, module_id=module_id))
    _delete_unless_attempted(tenant, module, module.quizzes.all(), _("this module"))


# --- Lessons -------------------------------------------------------------------------------------


@transaction.atomic
def lesson_create(
    *, tenant: Tenant, module_id: int, title: str, body_markdown: str = "", estimated_minutes: int = 5
) -> Lesson:
    module = _locked(authored_module_get(tenant=tenant, module_id=module_id))
    lesson = Lesson(
        module=module, position=_next_position(module.lessons.all()), title=title,
        body_markdown=body_markdown, estimated_minutes=estimated_minutes,
    )
    _full_clean(lesson, {})
    lesson.save()
    return lesson


@transaction.atomic
def lesson_update(
    *, tenant: Tenant, lesson_id: int, title: str, body_markdown: str, estimated_minutes: int
) -> Lesson:
    lesson = _locked(authored_lesson_get(tenant=tenant, lesson_id=lesson_id))
    lesson.title, lesson.body_markdown, lesson.estimated_minutes = title, body_markdown, estimated_minutes
    _full_clean(lesson, {})
    lesson.save()
    return lesson


@transaction.atomic
def lesson_delete(*, tenant: Tenant, lesson_id: int) -> None:
    """Delete a lesson; learners' completions of it go with it. A quiz placed after it stays, at
    the end of its module: Quiz.lesson is CASCADE, and would take the quiz and its scores along."""
    lesson = _locked(authored_lesson_get(tenant=tenant, lesson_id=lesson_id))
    Quiz.objects.filter(lesson=lesson).update(lesson=None)
    lesson.delete()


# --- Quizzes -------------------------------------------------------------------------------------


def _quiz_rule_errors(quiz: Quiz) -> Errors:
    errors: Errors = {}
    if quiz.weight is not None and quiz.weight < 0:
        _add(errors, "weight", _("The weight is 0 or more (0: the quiz does not count in the grade)."))
    if quiz.attempts_allowed is not None and quiz.attempts_allowed < 1:
        _add(errors, "attempts_allowed", _("Allow at least one attempt."))
    lesson_elsewhere = not Lesson.objects.filter(pk=quiz.lesson_id, module=quiz.module).exists()
    if quiz.lesson_id is not None and lesson_elsewhere:
        _add(errors, "lesson", _("Choose a lesson of this quiz's module."))
    return errors


@transaction.atomic
def quiz_create(
    *, tenant: Tenant, module_id: int, title: str, weight: float = 1.0, attempts_allowed: int = 3,
    lesson_id: int | None = None,
) -> Quiz:
    """A quiz at the end of the module, or after one of its lessons (`lesson_id`)."""
    module = _locked(authored_module_get(tenant=tenant, module_id=module_id))
    quiz = Quiz(
        module=module, position=_next_position(module.quizzes.all()), title=title, weight=weight,
        attempts_allowed=attempts_allowed, lesson_id=lesson_id,
    )
    _full_clean(quiz, _quiz_rule_errors(quiz))
    quiz.save()
    return quiz


@transaction.atomic
def quiz_update(
    *, tenant: Tenant, quiz_id: int, title: str, weight: float, attempts_allowed: int, lesson_id: int | None
) -> Quiz:
    quiz = _locked(authored_quiz_get(tenant=tenant, quiz_id=quiz_id))
    quiz.title, quiz.weight, quiz.lesson_id = title, weight, lesson_id
    quiz.attempts_allowed = attempts_allowed
    _full_clean(quiz, _quiz_rule_errors(quiz))
    quiz.save()
    return quiz


@transaction.atomic
def quiz_delete(*, tenant: Tenant, quiz_id: int) -> None:
    """Delete a quiz and its questions; refused once a learner has taken it."""
    quiz = _locked(authored_quiz_get(tenant=tenant, quiz_id=quiz_id))
    _delete_unless_attempted(tenant, quiz, Quiz.objects.filter(pk=quiz.pk), _("this quiz"))


# --- Questions -----------------------------------------------------------------------------------


def question_choice_errors(kind: str, choices: list[ChoiceInput]) -> list[str]:
    """Why these choices do not fit a question of `kind`; empty when they do. The rule the
    authoring pages and load_curriculum both apply."""
    correct = sum(1 for choice in choices if choice.is_correct)
    reasons = []
    if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE) and len(choices) < 2:
        reasons.append(_("Give at least two choices."))
    if kind == QuestionKind.SINGLE and correct != 1:
        reasons.append(
            _("Mark exactly one choice as correct: a single-choice question has one right answer.")
        )
    if kind == QuestionKind.MULTIPLE and correct < 1:
        reasons.append(_("Mark at least one choice as correct."))
    if kind == QuestionKind.TRUE_FALSE and choices:
        reasons.append(_("A true-or-false question has no choices: remove them."))
    if kind == QuestionKind.NUMERIC and choices:
        reasons.append(_("A numeric question has no choices: remove them."))
    return reasons


def _question_rule_errors(question: Question, choices: list[ChoiceInput]) -> Errors:
    errors: Errors = {}
    for reason in question_choice_errors(question.kind, choices):
        _add(errors, "choices", reason)
    is_true_false = question.kind == QuestionKind.TRUE_FALSE
    is_numeric = question.kind == QuestionKind.NUMERIC
    if is_true_false and question.correct_boolean is None:
        _add(errors, "correct_boolean", _("Say whether the statement is true or false."))
    if not is_true_false and question.correct_boolean is not None:
        _add(errors, "correct_boolean", _("Only a true-or-false question has this answer: leave it empty."))
    if is_numeric and question.numeric_answer is None:
        _add(errors, "numeric_answer", _("Give the numeric answer."))
    if not is_numeric and question.numeric_answer is not None:
        _add(errors, "numeric_answer", _("Only a numeric question has a numeric answer: leave it empty."))
    if question.weight is not None and question.weight <= 0:
        _add(errors, "weight", _("The weight is more than 0."))
    if question.numeric_tolerance is not None and question.numeric_tolerance < 0:
        _add(errors, "numeric_tolerance", _("The tolerance is 0 or more."))
    return errors


def _choices_saved(question: Question, choices: list[ChoiceInput]) -> None:
    """Store the question's choices in the order given. A choice given with its id is updated
    in place, not replaced: past attempts name the choices they picked by id."""
    existing = {choice.pk: choice for choice in question.choices.all()}
    unknown = [given.id for given in choices if given.id is not None and given.id not in existing]
    if unknown:
        raise ValidationError({"choices": _("A choice given is not one of this question's.")})
    kept = {given.id for given in choices if given.id is not None}
    Choice.objects.filter(question=question).exclude(pk__in=kept).delete()
    errors: Errors = {}
    for number, given in enumerate(choices, start=1):
        choice = existing.get(given.id) or Choice(question=question)
        choice.position, choice.text, choice.is_correct = number, given.text, given.is_correct
        try:
            choice.full_clean()
        except ValidationError as error:
            for message in error.messages:
                reason = _("Choice %(number)d: %(reason)s") % {"number": number, "reason": message}
                _add(errors, "choices", reason)
            continue
        choice.save()
    if errors:
        raise ValidationError(errors)


def _question_saved(question: Question, choices: list[ChoiceInput]) -> Question:
    _full_clean(question, _question_rule_errors(question, choices))
    question.save()
    _choices_saved(question, choices)
    return question


@transaction.atomic
def question_create(
    *, tenant: Tenant, quiz_id: int, kind: str, prompt: str, choices: list[ChoiceInput], weight: float = 1.0,
    correct_boolean: bool | None = None, numeric_answer: float | None = None, numeric_tolerance: float = 0.0,
    explanation: str = "",
) -> Question:
    """A question at the end of the quiz, with its choices, in one transaction: a question that
    is refused leaves nothing behind.

    The answer must fit the kind: single choice, at least two choices and exactly one correct;
    multiple choice, at least two and at least one correct; true or false, `correct_boolean`
    and no choices; numeric, `numeric_answer` (± `numeric_tolerance`) and no choices.
    """
    quiz = _locked(authored_quiz_get(tenant=tenant, quiz_id=quiz_id))
    question = Question(
        quiz=quiz, position=_next_position(quiz.questions.all()), kind=kind, prompt=prompt, weight=weight,
        correct_boolean=correct_boolean, numeric_answer=numeric_answer, numeric_tolerance=numeric_tolerance,
        explanation=explanation,
    )
    return _question_saved(question, choices)


@transaction.atomic
def question_update(
    *, tenant: Tenant, question_id: int, kind: str, prompt: str, choices: list[ChoiceInput], weight: float,
    correct_boolean: bool | None, numeric_answer: float | None, numeric_tolerance: float, explanation: str,
) -> Question:
    """Change a question and its choices, with question_create's rules. Past attempts keep their
    scores: a learner is not regraded by a change made after they answered."""
    question = _locked(authored_question_get(tenant=tenant, question_id=question_id))
    if kind != question.kind and QuizAttempt.objects.filter(tenant=tenant, quiz_id=question.quiz_id).exists():
        # Stored answers have the old kind's shape (a choice, a list, true/false, a number).
        raise ValidationError({"kind": _(
            "Learners have answered this question as it is: its kind cannot change. Add a new question instead."
        )})
    question.kind, question.prompt, question.weight, question.explanation = kind, prompt, weight, explanation
    question.correct_boolean, question.numeric_answer = correct_boolean, numeric_answer
    question.numeric_tolerance = numeric_tolerance
    return _question_saved(question, choices)


@transaction.atomic
def question_delete(*, tenant: Tenant, question_id: int) -> None:
    """Delete a question and its choices. Attempts keep their scores."""
    _locked(authored_question_get(tenant=tenant, question_id=question_id)).delete()


# --- Labs and their steps ------------------------------------------------------------------------


@transaction.atomic
def lab_create(*, tenant: Tenant, module_id: int, title: str, intro_markdown: str = "") -> Lab:
    module = _locked(authored_module_get(tenant=tenant, module_id=module_id))
    lab = Lab(
        module=module, position=_next_position(module.labs.all()), title=title, intro_markdown=intro_markdown
    )
    _full_clean(lab, {})
    lab.save()
    return lab


@transaction.atomic
def lab_update(*, tenant: Tenant, lab_id: int, title: str, intro_markdown: str) -> Lab:
    lab = _locked(authored_lab_get(tenant=tenant, lab_id=lab_id))
    lab.title, lab.intro_markdown = title, intro_markdown
    _full_clean(lab, {})
    lab.save()
    return lab


@transaction.atomic
def lab_delete(*, tenant: Tenant, lab_id: int) -> None:
    """Delete a lab and its steps; learners' completed steps go with them."""
    _locked(authored_lab_get(tenant=tenant, lab_id=lab_id)).delete()


@transaction.atomic
def lab_step_create(
    *, tenant: Tenant, lab_id: int, title: str, check_name: str, instructions_markdown: str = ""
) -> LabStep:
    """A step at the end of the lab; `check_name` is a registered check (LabStep.clean says so)."""
    lab = _locked(authored_lab_get(tenant=tenant, lab_id=lab_id))
    step = LabStep(
        lab=lab, position=_next_position(lab.steps.all()), title=title,
        instructions_markdown=instructions_markdown, check_name=check_name,
    )
    _full_clean(step, {})
    step.save()
    return step


@transaction.atomic
def lab_step_update(
    *, tenant: Tenant, step_id: int, title: str, check_name: str, instructions_markdown: str
) -> LabStep:
    step = _locked(authored_lab_step_get(tenant=tenant, step_id=step_id))
    step.title, step.check_name, step.instructions_markdown = title, check_name, instructions_markdown
    _full_clean(step, {})
    step.save()
    return step


@transaction.atomic
def lab_step_delete(*, tenant: Tenant, step_id: int) -> None:
    """Delete a step; learners' completions of it go with it."""
    _locked(authored_lab_step_get(tenant=tenant, step_id=step_id)).delete()
