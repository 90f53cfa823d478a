"""The forms of the authoring pages: types and widgets only.

The rules (positions, a question's answer against its kind, slugs, the checks a lab step may
name) are the services' in courses.authoring, and the views put their errors beside the field
they name. So these are plain forms made of the model's fields (`fields_for_model`: the model's
labels, limits and choices), not ModelForms: a ModelForm would also validate the model's
constraints, and answer a bad question with "Constraint “question_numeric_answer_iff_numeric” is
violated." before the service could say which field to fix.

The mappings are read-only (MappingProxyType): Django only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from django import forms
from django.db import models
from django.forms import inlineformset_factory
from django.forms.models import fields_for_model, model_to_dict
from django.utils.translation import gettext_lazy as _

from courses.authoring import ChoiceInput
from courses.labs.checks import LAB_CHECKS
from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, Quiz

MARKDOWN_HELP = _(
    "Markdown: headings, lists, tables, links, images and code blocks. Raw HTML is cleaned out."
)


def _markdown_area(rows: int = 14) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 80, "spellcheck": "true"})


class AuthoringForm(forms.Form):
    """The fields `field_names` of `model`, in that order; a field declared on the form replaces
    the model's. `instance` gives the initial values."""

    model: type[models.Model]
    field_names: tuple[str, ...] = ()
    widgets: Mapping = MappingProxyType({})
    help_texts: Mapping = MappingProxyType({})

    def __init__(self, data=None, *, instance: models.Model | None = None, **kwargs):
        if instance is not None:
            kwargs.setdefault("initial", model_to_dict(instance, fields=self.field_names))
        super().__init__(data, **kwargs)
        from_model = fields_for_model(
            self.model, fields=self.field_names, widgets=self.widgets, help_texts=self.help_texts
        )
        self.fields = {name: self.fields.get(name) or from_model[name] for name in self.field_names}


class CourseForm(AuthoringForm):
    model = Course
    field_names = ("title", "slug", "language", "summary", "pass_mark")
    widgets = MappingProxyType({
        "summary": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        "pass_mark": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
    })
    help_texts = MappingProxyType({
        "slug": _("Lowercase letters, digits and hyphens, for example returns-policy. "
                  "The same course in the other language has the same slug."),
        "language": _("The language the whole course is written in."),
        "summary": _("One or two sentences for the course list."),
        "pass_mark": _("The course grade needed for the certificate, from 0 to 1: 0.7 is 70%."),
    })


class ModuleForm(AuthoringForm):
    model = Module
    field_names = ("title",)


class LessonForm(AuthoringForm):
    model = Lesson
    field_names = ("title", "body_markdown", "estimated_minutes")
    widgets = MappingProxyType({"body_markdown": _markdown_area(18)})
    help_texts = MappingProxyType({"body_markdown": MARKDOWN_HELP})


class QuizForm(AuthoringForm):
    model = Quiz
    field_names = ("title", "lesson", "weight", "attempts_allowed")
    widgets = MappingProxyType({"weight": forms.NumberInput(attrs={"step": "any", "min": "0"})})
    help_texts = MappingProxyType({
        "lesson": _("Where learners meet the quiz: after one of the module's lessons, or at its end."),
        "weight": _("The quiz's share of the course grade, relative to the other quizzes (0: not graded)."),
    })

    def __init__(self, data=None, *, module: Module, **kwargs):
        super().__init__(data, **kwargs)
        lesson = self.fields["lesson"]
        # The module's lessons only: never a list of every lesson in the database.
        lesson.queryset = module.lessons.all()
        lesson.label, lesson.empty_label = _("After the lesson"), _("At the end of the module")


class TrueFalseSelect(forms.NullBooleanSelect):
    """True, false, or nothing (the question is not a true-or-false one)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "—"), ("true", _("True")), ("false", _("False"))]


class QuestionForm(AuthoringForm):
    correct_boolean = forms.NullBooleanField(
        label=_("Correct answer"), required=False, widget=TrueFalseSelect,
        help_text=_("True-or-false questions only."),
    )

    model = Question
    field_names = (
        "kind", "prompt", "weight", "correct_boolean", "numeric_answer", "numeric_tolerance", "explanation",
    )
    widgets = MappingProxyType({
        "prompt": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        "explanation": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        "weight": forms.NumberInput(attrs={"step": "any", "min": "0"}),
        "numeric_answer": forms.NumberInput(attrs={"step": "any"}),
        "numeric_tolerance": forms.NumberInput(attrs={"step": "any", "min": "0"}),
    })
    help_texts = MappingProxyType({
        "weight": _("The question's share of the quiz score, relative to the other questions."),
        "numeric_answer": _("Numeric questions only."),
        "numeric_tolerance": _("Numeric questions only: an answer this far from the right one still counts."),
        "explanation": _("Shown to learners after they answer: why the right answer is right."),
    })


class ChoiceForm(forms.ModelForm):
    """One row of a question's choices. A ModelForm, as an inline formset needs: Choice has no
    constraint of its own to validate."""

    class Meta:
        model = Choice
        fields = ("text", "is_correct")


def choice_formset(data=None, *, question: Question, extra: int):
    """The question's choices, with `extra` empty rows (a row left empty is no choice)."""
    formset_class = inlineformset_factory(
        Question, Choice, form=ChoiceForm, fields=("text", "is_correct"), extra=extra, can_delete=True
    )
    return formset_class(data, instance=question, prefix="choices")


def choices_given(formset) -> list[ChoiceInput]:
    """The choices of a valid formset, in order: neither the empty rows nor those marked for deletion."""
    given = []
    for form in formset.forms:
        data = form.cleaned_data
        if (form.instance.pk is None and not form.has_changed()) or data.get("DELETE"):
            continue
        given.append(
            ChoiceInput(text=data["text"], is_correct=data.get("is_correct", False), id=form.instance.pk)
        )
    return given


class LabForm(AuthoringForm):
    model = Lab
    field_names = ("title", "intro_markdown")
    widgets = MappingProxyType({"intro_markdown": _markdown_area(10)})
    help_texts = MappingProxyType({"intro_markdown": MARKDOWN_HELP})


class LabStepForm(AuthoringForm):
    check_name = forms.ChoiceField(
        label=_("Check"), help_text=_("What the learner's sandbox store must show for the step to pass."),
    )

    model = LabStep
    field_names = ("title", "check_name", "instructions_markdown")
    widgets = MappingProxyType({"instructions_markdown": _markdown_area(10)})
    help_texts = MappingProxyType({"instructions_markdown": MARKDOWN_HELP})

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # The registry as it is when the form is made, labelled by each check's title.
        self.fields["check_name"].choices = [("", "—")] + [
            (name, check.title) for name, check in LAB_CHECKS.items()
        ]
