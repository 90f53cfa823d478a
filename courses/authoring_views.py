"""The authoring pages: a tenant's owners and admins write the tenant's own courses.

Every page is `member_required(manage=True)`: analysts and learners get a 403. What a page edits
is found through courses.authoring's reads, which see only the tenant's own courses: another
tenant's course and a platform course, and any of their parts, are a 404. Every write is a
service of courses.authoring; a form only types what is posted, and the service's errors are put
beside the field they name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, get_supported_language_variant
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courses import authoring
from courses.authoring import DeleteRefused
from courses.authoring_forms import (
    CourseForm,
    LabForm,
    LabStepForm,
    LessonForm,
    ModuleForm,
    QuestionForm,
    QuizForm,
    choice_formset,
    choices_given,
)
from courses.labs.checks import LAB_CHECKS
from courses.markdown import markdown_to_safe_html
from courses.models import Question
from tenants.web import member_required


def _own(read: Callable[..., Any], request: HttpRequest, **ids: int) -> Any:
    try:
        return read(tenant=request.tenant, **ids)
    except ObjectDoesNotExist:
        raise Http404 from None


def _show_errors(form: BaseForm, error: ValidationError, *, elsewhere: tuple[str, ...] = ()) -> dict:
    """Each of a service's errors beside the form field it names, or above the form; those keyed
    by a name in `elsewhere` are returned instead, for the page to show where they belong."""
    returned: dict[str, list[str]] = {}
    by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
    for field, reasons in by_field.items():
        if field in elsewhere:
            returned[field] = reasons
            continue
        for reason in reasons:
            form.add_error(field if field in form.fields else None, reason)
    return returned


def _saved(request: HttpRequest, form: BaseForm, write: Callable[[dict], Any]) -> Any:
    """What `write(cleaned_data)` returns when a posted form is valid and the service accepts it;
    None otherwise, with the errors on the form."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return write(form.cleaned_data)
    except ValidationError as error:
        _show_errors(form, error)
    except ObjectDoesNotExist:  # deleted since the page was read
        raise Http404 from None
    return None


def _preview(request: HttpRequest, form: BaseForm, field: str) -> str | None:
    """The Markdown field rendered as learners will see it, when the author asked for a preview.

    Nothing is saved: the author looks first, then saves."""
    if request.method == "POST" and "preview" in request.POST and form.is_valid():
        return mark_safe(markdown_to_safe_html(form.cleaned_data[field]))  # nh3 output: safe by construction
    return None


def _done(request: HttpRequest, message: str, url: str) -> HttpResponse:
    messages.success(request, message)
    return redirect(url)


def _delete_page(
    request: HttpRequest, *, title: str, consequence: str, delete: Callable[[], None], back: str, done: str
) -> HttpResponse:
    """GET: say what deleting takes with it and ask. POST: delete, or say why not."""
    if request.method == "POST":
        try:
            delete()
        except DeleteRefused as refusal:
            messages.error(request, str(refusal))
            return redirect(back)
        except ObjectDoesNotExist:
            raise Http404 from None
        return _done(request, _("“%(title)s” is deleted.") % {"title": title}, done)
    return render(request, "_confirm.html", {
        "question": _("Delete “%(title)s”?") % {"title": title},
        "consequences": [consequence],
        "action": _("Delete"),
        "back": back,
    })


def _course_url(course_id: int) -> str:
    return reverse("courses:author-course", args=[course_id])


# --- Courses -------------------------------------------------------------------------------------


@member_required(manage=True)
def course_list_view(request: HttpRequest) -> HttpResponse:
    courses = authoring.authored_course_list(tenant=request.tenant)
    return render(request, "courses/author/course_list.html", {"courses": courses})


@member_required(manage=True)
def course_new_view(request: HttpRequest) -> HttpResponse:
    language = get_supported_language_variant(get_language())
    form = CourseForm(request.POST or None, initial={"language": language})
    course = _saved(request, form, lambda data: authoring.course_create(tenant=request.tenant, **data))
    if course is not None:
        return _done(request, _("The course is saved as a draft: add its modules, then publish it."),
                     _course_url(course.pk))
    return render(request, "courses/author/course_new.html", {"form": form})


@member_required(manage=True)
def course_edit_view(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _own(authoring.authored_course_outline, request, course_id=course_id)
    form = CourseForm(request.POST or None, instance=course)
    saved = _saved(request, form, lambda data: authoring.course_update(
        tenant=request.tenant, course_id=course.pk, **data))
    if saved is not None:
        return _done(request, _("The course is saved."), _course_url(course.pk))
    return render(request, "courses/author/course_edit.html", {"course": course, "form": form})


@member_required(manage=True)
@require_POST
def course_publish_view(request: HttpRequest, course_id: int) -> HttpResponse:
    published = request.POST.get("published") == "1"
    try:
        authoring.course_publish_set(tenant=request.tenant, course_id=course_id, published=published)
    except ObjectDoesNotExist:
        raise Http404 from None
    except ValidationError as error:
        for reason in error.messages:
            messages.error(request, reason)
    else:
        messages.success(request, _("The course is published: your members find it in their course list.")
                         if published else _("The course is unpublished: new learners no longer find it."))
    return redirect(_course_url(course_id))


@member_required(manage=True)
def course_delete_view(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _own(authoring.authored_course_get, request, course_id=course_id)
    return _delete_page(
        request, title=course.title,
        consequence=_("Its modules, lessons, quizzes and labs are deleted with it."),
        delete=lambda: authoring.course_delete(tenant=request.tenant, course_id=course.pk),
        back=_course_url(course.pk), done=reverse("courses:author-list"),
    )


# --- Modules -------------------------------------------------------------------------------------


@member_required(manage=True)
def module_new_view(request: HttpRequest, course_id: int) -> HttpResponse:
    course = _own(authoring.authored_course_get, request, course_id=course_id)
    form = ModuleForm(request.POST or None)
    module = _saved(request, form, lambda data: authoring.module_create(
        tenant=request.tenant, course_id=course.pk, **data))
    if module is not None:
        return _done(request, _("The module is added."), _course_url(course.pk))
    return render(request, "courses/author/module_form.html", {"course": course, "form": form})


@member_required(manage=True)
def module_edit_view(request: HttpRequest, module_id: int) -> HttpResponse:
    module = _own(authoring.authored_module_get, request, module_id=module_id)
    form = ModuleForm(request.POST or None, instance=module)
    if _saved(request, form, lambda data: authoring.module_update(
            tenant=request.tenant, module_id=module.pk, **data)) is not None:
        return _done(request, _("The module is saved."), _course_url(module.course_id))
    context = {"course": module.course, "module": module, "form": form}
    return render(request, "courses/author/module_form.html", context)


@member_required(manage=True)
def module_delete_view(request: HttpRequest, module_id: int) -> HttpResponse:
    module = _own(authoring.authored_module_get, request, module_id=module_id)
    return _delete_page(
        request, title=module.title,
        consequence=_("Its lessons, quizzes and labs are deleted with it, and learners' progress in them."),
        delete=lambda: authoring.module_delete(tenant=request.tenant, module_id=module.pk),
        back=reverse("courses:author-module", args=[module.pk]), done=_course_url(module.course_id),
    )


# --- Lessons -------------------------------------------------------------------------------------


def _lesson_page(request: HttpRequest, form: LessonForm, context: dict, write: Callable[[dict], Any]):
    preview = _preview(request, form, "body_markdown")
    if preview is None and _saved(request, form, write) is not None:
        return _done(request, _("The lesson is saved."), _course_url(context["course"].pk))
    return render(request, "courses/author/lesson_form.html", {**context, "form": form, "preview": preview})


@member_required(manage=True)
def lesson_new_view(request: HttpRequest, module_id: int) -> HttpResponse:
    module = _own(authoring.authored_module_get, request, module_id=module_id)
    return _lesson_page(
        request, LessonForm(request.POST or None), {"course": module.course, "module": module},
        lambda data: authoring.lesson_create(tenant=request.tenant, module_id=module.pk, **data),
    )


@member_required(manage=True)
def lesson_edit_view(request: HttpRequest, lesson_id: int) -> HttpResponse:
    lesson = _own(authoring.authored_lesson_get, request, lesson_id=lesson_id)
    return _lesson_page(
        request, LessonForm(request.POST or None, instance=lesson),
        {"course": lesson.module.course, "module": lesson.module, "lesson": lesson},
        lambda data: authoring.lesson_update(tenant=request.tenant, lesson_id=lesson.pk, **data),
    )


@member_required(manage=True)
def lesson_delete_view(request: HttpRequest, lesson_id: int) -> HttpResponse:
    lesson = _own(authoring.authored_lesson_get, request, lesson_id=lesson_id)
    return _delete_page(
        request, title=lesson.title,
        consequence=_("Learners who read it lose it from their progress. A quiz placed after it moves to "
                      "the end of its module."),
        delete=lambda: authoring.lesson_delete(tenant=request.tenant, lesson_id=lesson.pk),
        back=reverse("courses:author-lesson", args=[lesson.pk]), done=_course_url(lesson.module.course_id),
    )


# --- Quizzes -------------------------------------------------------------------------------------


def _quiz_data(data: dict) -> dict:
    lesson = data.pop("lesson", None)
    return {**data, "lesson_id": lesson.pk if lesson is not None else None}


@member_required(manage=True)
def quiz_new_view(request: HttpRequest, module_id: int) -> HttpResponse:
    module = _own(authoring.authored_module_get, request, module_id=module_id)
    form = QuizForm(request.POST or None, module=module)
    quiz = _saved(request, form, lambda data: authoring.quiz_create(
        tenant=request.tenant, module_id=module.pk, **_quiz_data(data)))
    if quiz is not None:
        return _done(request, _("The quiz is added: now add its questions."),
                     reverse("courses:author-quiz", args=[quiz.pk]))
    context = {"course": module.course, "module": module, "form": form}
    return render(request, "courses/author/quiz_form.html", context)


@member_required(manage=True)
def quiz_edit_view(request: HttpRequest, quiz_id: int) -> HttpResponse:
    quiz = _own(authoring.authored_quiz_get, request, quiz_id=quiz_id)
    form = QuizForm(request.POST or None, instance=quiz, module=quiz.module)
    if _saved(request, form, lambda data: authoring.quiz_update(
            tenant=request.tenant, quiz_id=quiz.pk, **_quiz_data(data))) is not None:
        return _done(request, _("The quiz is saved."), reverse("courses:author-quiz", args=[quiz.pk]))
    context = {
        "course": quiz.module.course, "module": quiz.module, "quiz": quiz, "form": form,
        "questions": quiz.questions.all(),
    }
    return render(request, "courses/author/quiz_form.html", context)


@member_required(manage=True)
def quiz_delete_view(request: HttpRequest, quiz_id: int) -> HttpResponse:
    quiz = _own(authoring.authored_quiz_get, request, quiz_id=quiz_id)
    return _delete_page(
        request, title=quiz.title, consequence=_("Its questions are deleted with it."),
        delete=lambda: authoring.quiz_delete(tenant=request.tenant, quiz_id=quiz.pk),
        back=reverse("courses:author-quiz", args=[quiz.pk]), done=_course_url(quiz.module.course_id),
    )


# --- Questions -----------------------------------------------------------------------------------


def _question_page(request: HttpRequest, *, quiz, question: Question | None, write: Callable[..., Any]):
    instance = question or Question(quiz=quiz)
    form = QuestionForm(request.POST or None, instance=instance)
    formset = choice_formset(request.POST or None, question=instance, extra=2 if question else 4)
    choices_errors: list[str] = []
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            write(choices=choices_given(formset), **form.cleaned_data)
        except ValidationError as error:
            choices_errors = _show_errors(form, error, elsewhere=("choices",)).get("choices", [])
        except ObjectDoesNotExist:
            raise Http404 from None
        else:
            return _done(request, _("The question is saved."), reverse("courses:author-quiz", args=[quiz.pk]))
    context = {
        "course": quiz.module.course, "module": quiz.module, "quiz": quiz, "question": question,
        "form": form, "formset": formset, "choices_errors": choices_errors,
    }
    return render(request, "courses/author/question_form.html", context)


@member_required(manage=True)
def question_new_view(request: HttpRequest, quiz_id: int) -> HttpResponse:
    quiz = _own(authoring.authored_quiz_get, request, quiz_id=quiz_id)
    return _question_page(request, quiz=quiz, question=None, write=lambda **data: authoring.question_create(
        tenant=request.tenant, quiz_id=quiz.pk, **data))


@member_required(manage=True)
def question_edit_view(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _own(authoring.authored_question_get, request, question_id=question_id)
    return _question_page(request, quiz=question.quiz, question=question, write=lambda **data: (
        authoring.question_update(tenant=request.tenant, question_id=question.pk, **data)))


@member_required(manage=True)
def question_delete_view(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _own(authoring.authored_question_get, request, question_id=question_id)
    return _delete_page(
        request, title=str(question),
        consequence=_("Its choices are deleted with it. Past attempts keep their scores."),
        delete=lambda: authoring.question_delete(tenant=request.tenant, question_id=question.pk),
        back=reverse("courses:author-question", args=[question.pk]),
        done=reverse("courses:author-quiz", args=[question.quiz_id]),
    )


# --- Labs and their steps ------------------------------------------------------------------------


@member_required(manage=True)
def lab_new_view(request: HttpRequest, module_id: int) -> HttpResponse:
    module = _own(authoring.authored_module_get, request, module_id=module_id)
    form = LabForm(request.POST or None)
    preview = _preview(request, form, "intro_markdown")
    lab = None if preview is not None else _saved(request, form, lambda data: authoring.lab_create(
        tenant=request.tenant, module_id=module.pk, **data))
    if lab is not None:
        return _done(request, _("The lab is added: now add its steps."),
                     reverse("courses:author-lab", args=[lab.pk]))
    context = {"course": module.course, "module": module, "form": form, "preview": preview}
    return render(request, "courses/author/lab_form.html", context)


@member_required(manage=True)
def lab_edit_view(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _own(authoring.authored_lab_get, request, lab_id=lab_id)
    form = LabForm(request.POST or None, instance=lab)
    preview = _preview(request, form, "intro_markdown")
    if preview is None and _saved(request, form, lambda data: authoring.lab_update(
            tenant=request.tenant, lab_id=lab.pk, **data)) is not None:
        return _done(request, _("The lab is saved."), reverse("courses:author-lab", args=[lab.pk]))
    steps = [(step, LAB_CHECKS.get(step.check_name)) for step in lab.steps.all()]
    context = {
        "course": lab.module.course, "module": lab.module, "lab": lab, "form": form, "preview": preview,
        "steps": steps,
    }
    return render(request, "courses/author/lab_form.html", context)


@member_required(manage=True)
def lab_delete_view(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _own(authoring.authored_lab_get, request, lab_id=lab_id)
    return _delete_page(
        request, title=lab.title,
        consequence=_("Its steps are deleted with it, and learners' completed steps."),
        delete=lambda: authoring.lab_delete(tenant=request.tenant, lab_id=lab.pk),
        back=reverse("courses:author-lab", args=[lab.pk]), done=_course_url(lab.module.course_id),
    )


def _step_page(request: HttpRequest, form: LabStepForm, context: dict, write: Callable[[dict], Any]):
    preview = _preview(request, form, "instructions_markdown")
    if preview is None and _saved(request, form, write) is not None:
        lab_url = reverse("courses:author-lab", args=[context["lab"].pk])
        return _done(request, _("The step is saved."), lab_url)
    return render(request, "courses/author/step_form.html", {**context, "form": form, "preview": preview})


@member_required(manage=True)
def step_new_view(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _own(authoring.authored_lab_get, request, lab_id=lab_id)
    return _step_page(
        request, LabStepForm(request.POST or None), {"course": lab.module.course, "lab": lab},
        lambda data: authoring.lab_step_create(tenant=request.tenant, lab_id=lab.pk, **data),
    )


@member_required(manage=True)
def step_edit_view(request: HttpRequest, step_id: int) -> HttpResponse:
    step = _own(authoring.authored_lab_step_get, request, step_id=step_id)
    return _step_page(
        request, LabStepForm(request.POST or None, instance=step),
        {"course": step.lab.module.course, "lab": step.lab, "step": step},
        lambda data: authoring.lab_step_update(tenant=request.tenant, step_id=step.pk, **data),
    )


@member_required(manage=True)
def step_delete_view(request: HttpRequest, step_id: int) -> HttpResponse:
    step = _own(authoring.authored_lab_step_get, request, step_id=step_id)
    return _delete_page(
        request, title=step.title, consequence=_("Learners who passed it lose it from their progress."),
        delete=lambda: authoring.lab_step_delete(tenant=request.tenant, step_id=step.pk),
        back=reverse("courses:author-step", args=[step.pk]),
        done=reverse("courses:author-lab", args=[step.lab_id]),
    )
