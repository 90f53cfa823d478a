"""The quiz form: one field per question, turned into the answers courses.services grades."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from courses.models import Question, QuestionKind

_TRUE_FALSE_CHOICES = [("true", _("True")), ("false", _("False"))]


def question_field_name(question: Question) -> str:
    return f"question_{question.pk}"


class QuizForm(forms.Form):
    """Built from the quiz's questions (choices prefetched). Every question must be answered:
    the service refuses an attempt with a gap, and the form says which one first."""

    def __init__(self, *args, questions: list[Question], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        for question in questions:
            self.fields[question_field_name(question)] = self._field_for(question)

    @staticmethod
    def _field_for(question: Question) -> forms.Field:
        label = question.prompt
        if question.kind == QuestionKind.SINGLE:
            return forms.TypedChoiceField(
                label=label, coerce=int, widget=forms.RadioSelect,
                choices=[(choice.pk, choice.text) for choice in question.choices.all()],
            )
        if question.kind == QuestionKind.MULTIPLE:
            return forms.TypedMultipleChoiceField(
                label=label, coerce=int, widget=forms.CheckboxSelectMultiple,
                choices=[(choice.pk, choice.text) for choice in question.choices.all()],
            )
        if question.kind == QuestionKind.TRUE_FALSE:
            return forms.TypedChoiceField(
                label=label, widget=forms.RadioSelect, choices=_TRUE_FALSE_CHOICES,
                coerce=lambda value: value == "true",
            )
        return forms.FloatField(label=label, widget=forms.NumberInput(attrs={"step": "any"}))

    def fields_with_questions(self):
        """(bound field, question) in order, for the template."""
        return [(self[question_field_name(question)], question) for question in self.questions]

    def answers(self) -> dict[str, Any]:
        """The answers in the service's shape: {"<question id>": answer}."""
        return {str(question.pk): self.cleaned_data[question_field_name(question)] for question in self.questions}

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the service's errors ("answers[<id>]": message) on the questions' fields."""
        for key, messages in error.message_dict.items():
            field = None
            if key.startswith("answers[") and key.endswith("]"):
                candidate = f"question_{key[len('answers['):-1]}"
                field = candidate if candidate in self.fields else None
            for message in messages:
                self.add_error(field, message)
