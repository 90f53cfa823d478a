"""Load the platform curriculum (courses/curriculum/, format in its README) into the database.

Loading is an upsert keyed by positions: a course by (slug, language), a
module by its course and position, a lesson, quiz or lab by its module and
position, a question by its quiz and position, a choice by its question and
position. A row whose fields already match is not written, so loading twice
changes nothing, and ids stay put across reloads: learners' completions,
attempts (whose answers are keyed by question id) and certificates keep
pointing at the same rows when the text of a lesson is corrected.

A part that the files no longer have is deleted, except a quiz that learners
have attempted (their attempts protect it): that stops the load with a
message, since deleting it would rewrite their grades.

Everything is checked before anything is written, and the load is one
transaction: a mistake in one file leaves the database as it was.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError

from courses.authoring import ChoiceInput, question_choice_errors
from courses.labs.checks import LAB_CHECKS
from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, QuestionKind, Quiz

CURRICULUM_DIR = Path(__file__).resolve().parent / "curriculum"
LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)


class CurriculumError(ValueError):
    """The curriculum files are not loadable; the message names the file and the field."""


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    # (slug, language) of each course loaded, in load order.
    courses: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted


def curriculum_load(directory: Path = CURRICULUM_DIR) -> LoadReport:
    """Read, check and load every course under `directory`; raises CurriculumError."""
    documents = curriculum_read(directory)
    report = LoadReport()
    with transaction.atomic():
        for (slug, language), document in sorted(documents.items()):
            _course_load(slug, language, document, report)
            report.courses.append((slug, language))
    return report


# --- reading and checking -------------------------------------------------------------


def curriculum_read(directory: Path = CURRICULUM_DIR) -> dict[tuple[str, str], dict]:
    """{(slug, language): {"course": {...}, "modules": [...]}}, checked; raises CurriculumError."""
    documents: dict[tuple[str, str], dict] = {}
    course_folders = sorted(path for path in directory.iterdir() if path.is_dir()) if directory.is_dir() else []
    if not course_folders:
        raise CurriculumError(f"{directory}: no course folders.")
    for course_folder in course_folders:
        for language_folder in sorted(path for path in course_folder.iterdir() if path.is_dir()):
            if language_folder.name not in LANGUAGES:
                raise CurriculumError(
                    f"{language_folder}: {language_folder.name!r} is not a language of the site "
                    f"({', '.join(LANGUAGES)})."
                )
            documents[(course_folder.name, language_folder.name)] = _course_read(language_folder)
    _languages_match(documents)
    return documents


def _toml(path: Path) -> dict:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise CurriculumError(f"{path}: not valid TOML: {error}") from None


def _course_read(folder: Path) -> dict:
    course_file = folder / "course.toml"
    if not course_file.is_file():
        raise CurriculumError(f"{folder}: course.toml is missing.")
    course = _toml(course_file)
    where = _Where(course_file)
    where.require(course, "title", str)
    where.optional(course, "summary", str)
    pass_mark = where.optional(course, "pass_mark", (int, float))
    if pass_mark is not None and not 0 <= pass_mark <= 1:
        raise CurriculumError(f"{course_file}: pass_mark: must be between 0 and 1, not {pass_mark}.")
    modules = [_module_read(path) for path in sorted(folder.glob("*.toml")) if path.name != "course.toml"]
    if not modules:
        raise CurriculumError(f"{folder}: no module files.")
    _positions_unique(folder, "module", [module["position"] for module in modules])
    return {"course": course, "modules": modules}


def _module_read(path: Path) -> dict:
    module = _toml(path)
    where = _Where(path)
    where.require(module, "position", int)
    where.require(module, "title", str)
    for index, lesson in enumerate(where.list_of_tables(module, "lessons")):
        at = where.at(f"lessons[{index}]")
        at.require(lesson, "position", int)
        at.require(lesson, "title", str)
        at.require(lesson, "body", str)
        at.optional(lesson, "estimated_minutes", int)
    for index, quiz in enumerate(where.list_of_tables(module, "quizzes")):
        at = where.at(f"quizzes[{index}]")
        at.require(quiz, "position", int)
        at.require(quiz, "title", str)
        at.optional(quiz, "weight", (int, float))
        at.optional(quiz, "attempts_allowed", int)
        questions = at.list_of_tables(quiz, "questions")
        if not questions:
            raise CurriculumError(f"{at}: questions: a quiz needs at least one question.")
        for question_index, question in enumerate(questions):
            _question_check(at.at(f"questions[{question_index}]"), question)
        _positions_unique(at, "question", [question["position"] for question in questions])
    for index, lab in enumerate(where.list_of_tables(module, "labs")):
        at = where.at(f"labs[{index}]")
        at.require(lab, "position", int)
        at.require(lab, "title", str)
        at.optional(lab, "intro", str)
        steps = at.list_of_tables(lab, "steps")
        if not steps:
            raise CurriculumError(f"{at}: steps: a lab needs at least one step.")
        for step_index, step in enumerate(steps):
            step_at = at.at(f"steps[{step_index}]")
            step_at.require(step, "position", int)
            step_at.require(step, "title", str)
            step_at.optional(step, "instructions", str)
            step_at.require(step, "check", str)
            if step["check"] not in LAB_CHECKS:
                raise CurriculumError(
                    f"{step_at}: check: no lab check is named {step['check']!r}; the registered ones are "
                    f"{', '.join(sorted(LAB_CHECKS))}."
                )
        _positions_unique(at, "step", [step["position"] for step in steps])
    for part in ("lessons", "quizzes", "labs"):
        _positions_unique(where, part, [item["position"] for item in module.get(part, [])])
    return module


def _question_check(at: _Where, question: dict) -> None:
    at.require(question, "position", int)
    at.require(question, "kind", str)
    at.require(question, "prompt", str)
    at.optional(question, "explanation", str)
    weight = at.optional(question, "weight", (int, float))
    if weight is not None and weight <= 0:
        raise CurriculumError(f"{at}: weight: must be above 0.")
    kind = question["kind"]
    if kind not in QuestionKind.values:
        raise CurriculumError(f"{at}: kind: {kind!r} is not one of {', '.join(QuestionKind.values)}.")
    if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        choices = at.list_of_tables(question, "choices")
        for index, choice in enumerate(choices):
            at.at(f"choices[{index}]").require(choice, "text", str)
            at.at(f"choices[{index}]").optional(choice, "correct", bool)
        reasons = question_choice_errors(
            kind, [ChoiceInput(choice["text"], bool(choice.get("correct"))) for choice in choices]
        )
        if reasons:
            raise CurriculumError(f"{at}: choices: {' '.join(reasons)}")
        if "answer" in question:
            raise CurriculumError(f"{at}: answer: a {kind} question marks its correct choices instead.")
    else:
        if "choices" in question:
            raise CurriculumError(f"{at}: choices: a {kind} question has an answer, not choices.")
        if kind == QuestionKind.TRUE_FALSE:
            at.require(question, "answer", bool)
        else:
            at.require(question, "answer", (int, float))
            tolerance = at.optional(question, "tolerance", (int, float))
            if tolerance is not None and tolerance < 0:
                raise CurriculumError(f"{at}: tolerance: cannot be negative.")


def _positions_unique(where: Any, part: str, positions: list[int]) -> None:
    repeated = sorted({position for position in positions if positions.count(position) > 1})
    if repeated:
        raise CurriculumError(f"{where}: two {part}s at position {repeated[0]}.")


def _structure(document: dict) -> list:
    """What must be the same in every language of a course: positions, kinds, right answers, checks."""
    shape = []
    for module in sorted(document["modules"], key=lambda module: module["position"]):
        shape.append((
            module["position"],
            sorted(lesson["position"] for lesson in module.get("lessons", [])),
            sorted(
                (quiz["position"], sorted(
                    (q["position"], q["kind"], q.get("answer"), q.get("tolerance", 0),
                     tuple(bool(c.get("correct")) for c in q.get("choices", [])))
                    for q in quiz["questions"]
                ))
                for quiz in module.get("quizzes", [])
            ),
            sorted(
                (lab["position"], sorted((step["position"], step["check"]) for step in lab["steps"]))
                for lab in module.get("labs", [])
            ),
        ))
    return shape


def _languages_match(documents: dict[tuple[str, str], dict]) -> None:
    by_slug: dict[str, list[tuple[str, dict]]] = {}
    for (slug, language), document in documents.items():
        by_slug.setdefault(slug, []).append((language, document))
    for slug, versions in by_slug.items():
        (first_language, first), *others = sorted(versions, key=lambda version: version[0])
        for language, document in others:
            if _structure(document) != _structure(first):
                raise CurriculumError(
                    f"{slug}: the {language} course differs from the {first_language} one in its modules, "
                    "lessons, questions (kinds, choices, answers) or lab checks; both languages must match."
                )


class _Where:
    """A place in a file, for error messages: 'en/02-data.toml: quizzes[0].questions[3]'."""

    def __init__(self, path: Path, trail: str = "") -> None:
        self.path = path
        self.trail = trail

    def __str__(self) -> str:
        shown = "/".join(self.path.parts[-3:])
        return f"{shown}: {self.trail}" if self.trail else shown

    def at(self, step: str) -> _Where:
        return _Where(self.path, f"{self.trail}.{step}" if self.trail else step)

    def require(self, table: dict, key: str, kind) -> Any:
        if key not in table:
            raise CurriculumError(f"{self.at(key)}: missing.")
        return self.optional(table, key, kind)

    def optional(self, table: dict, key: str, kind) -> Any:
        value = table.get(key)
        # bool is an int in Python: a position of `true` is a typo, not 1.
        wrong_bool = isinstance(value, bool) and kind is not bool
        if value is not None and (wrong_bool or not isinstance(value, kind)):
            expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise CurriculumError(f"{self.at(key)}: must be {expected}, not {value!r}.")
        return value

    def list_of_tables(self, table: dict, key: str) -> list[dict]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise CurriculumError(f"{self.at(key)}: must be a list of tables ([[{key}]]).")
        return value


# --- writing ----------------------------------------------------------------------------


def _validated(row: models.Model) -> None:
    # Course's default manager is the tenant-scoped "visible courses", and the loader runs
    # outside any tenant: its unique constraints are left to the database, which enforces them.
    try:
        row.full_clean(validate_constraints=not isinstance(row, Course))
    except ValidationError as error:
        raise CurriculumError(f"{row._meta.verbose_name} {row}: {error.messages}") from None


def _upsert(report: LoadReport, model: type[models.Model], manager, lookup: dict, values: dict) -> models.Model:
    """The row matching `lookup`, created or brought to `values`; written only when it differs."""
    row = manager.filter(**lookup).first()
    if row is None:
        row = model(**lookup, **values)
        _validated(row)
        row.save()
        report.created += 1
        return row
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if changed:
        for name in changed:
            setattr(row, name, values[name])
        _validated(row)
        row.save(update_fields=changed)
        report.updated += 1
    else:
        report.unchanged += 1
    return row


def _delete_others(report: LoadReport, rows: models.QuerySet, kept: Iterable[int], what: str) -> None:
    stale = rows.exclude(pk__in=list(kept))
    try:
        count = stale.count()
        stale.delete()
    except ProtectedError:
        raise CurriculumError(
            f"{what}: the files no longer have a quiz that learners have attempted; deleting it would "
            "change their grades. Keep the quiz (it may be edited) or archive the course."
        ) from None
    report.deleted += count


def _course_load(slug: str, language: str, document: dict, report: LoadReport) -> None:
    course_data = document["course"]
    course = _upsert(
        report,
        Course,
        Course.all_tenants,
        {"tenant": None, "slug": slug, "language": language},
        {
            "title": course_data["title"],
            "summary": course_data.get("summary", ""),
            "pass_mark": float(course_data.get("pass_mark", 0.7)),
            "published": True,
        },
    )
    kept_modules = []
    for module_data in document["modules"]:
        module = _upsert(
            report, Module, Module.objects, {"course": course, "position": module_data["position"]},
            {"title": module_data["title"]},
        )
        kept_modules.append(module.pk)
        _module_contents_load(module, module_data, report, where=f"{slug}/{language}")
    _delete_others(report, Module.objects.filter(course=course), kept_modules, f"{slug}/{language}")


def _module_contents_load(module: Module, data: dict, report: LoadReport, where: str) -> None:
    kept_lessons = [
        _upsert(
            report, Lesson, Lesson.objects, {"module": module, "position": lesson["position"]},
            {
                "title": lesson["title"],
                "body_markdown": lesson["body"],
                "estimated_minutes": lesson.get("estimated_minutes", 5),
            },
        ).pk
        for lesson in data.get("lessons", [])
    ]
    kept_quizzes = []
    for quiz_data in data.get("quizzes", []):
        quiz = _upsert(
            report, Quiz, Quiz.objects, {"module": module, "position": quiz_data["position"]},
            {
                "lesson": None,
                "title": quiz_data["title"],
                "weight": float(quiz_data.get("weight", 1.0)),
                "attempts_allowed": quiz_data.get("attempts_allowed", 3),
            },
        )
        kept_quizzes.append(quiz.pk)
        kept_questions = [_question_load(quiz, question, report).pk for question in quiz_data["questions"]]
        _delete_others(report, Question.objects.filter(quiz=quiz), kept_questions, where)
    kept_labs = []
    for lab_data in data.get("labs", []):
        lab = _upsert(
            report, Lab, Lab.objects, {"module": module, "position": lab_data["position"]},
            {"title": lab_data["title"], "intro_markdown": lab_data.get("intro", "")},
        )
        kept_labs.append(lab.pk)
        kept_steps = [
            _upsert(
                report, LabStep, LabStep.objects, {"lab": lab, "position": step["position"]},
                {
                    "title": step["title"],
                    "instructions_markdown": step.get("instructions", ""),
                    "check_name": step["check"],
                },
            ).pk
            for step in lab_data["steps"]
        ]
        _delete_others(report, LabStep.objects.filter(lab=lab), kept_steps, where)
    _delete_others(report, Lesson.objects.filter(module=module), kept_lessons, where)
    _delete_others(report, Quiz.objects.filter(module=module), kept_quizzes, where)
    _delete_others(report, Lab.objects.filter(module=module), kept_labs, where)


def _question_load(quiz: Quiz, data: dict, report: LoadReport) -> Question:
    kind = data["kind"]
    question = _upsert(
        report, Question, Question.objects, {"quiz": quiz, "position": data["position"]},
        {
            "kind": kind,
            "prompt": data["prompt"],
            "weight": float(data.get("weight", 1.0)),
            "explanation": data.get("explanation", ""),
            "correct_boolean": data["answer"] if kind == QuestionKind.TRUE_FALSE else None,
            "numeric_answer": float(data["answer"]) if kind == QuestionKind.NUMERIC else None,
            "numeric_tolerance": float(data.get("tolerance", 0)) if kind == QuestionKind.NUMERIC else 0.0,
        },
    )
    kept_choices = [
        _upsert(
            report, Choice, Choice.objects, {"question": question, "position": position},
            {"text": choice["text"], "is_correct": bool(choice.get("correct", False))},
        ).pk
        for position, choice in enumerate(data.get("choices", []), start=1)
    ]
    _delete_others(report, Choice.objects.filter(question=question), kept_choices, str(quiz))
    return question
