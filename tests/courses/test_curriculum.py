"""The platform curriculum: the shipped files load in both languages with the counts the issue asks,
loading is an update in place, and a mistake in a file is named and writes nothing."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from django.utils.translation import gettext, ngettext

from courses.curriculum_loader import CURRICULUM_DIR, CurriculumError, curriculum_load
from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, Quiz
from courses.services import enrollment_create, quiz_attempt_submit
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.factories import MembershipFactory, UserFactory

CURRICULUM_MODELS = (Course, Module, Lesson, Quiz, Question, Choice, Lab, LabStep)


def snapshot() -> dict:
    """Every curriculum row, every field: what "changes nothing" compares."""
    rows = {}
    for model in CURRICULUM_MODELS:
        manager = model.all_tenants if model is Course else model.objects
        rows[model.__name__] = sorted(manager.values_list(), key=lambda row: row[0])
    return rows


def counts(language: str) -> dict:
    courses = Course.all_tenants.filter(tenant__isnull=True, language=language)
    return {
        "courses": courses.count(),
        "modules": Module.objects.filter(course__in=courses).count(),
        "lessons": Lesson.objects.filter(module__course__in=courses).count(),
        "questions": Question.objects.filter(quiz__module__course__in=courses).count(),
        "labs": Lab.objects.filter(module__course__in=courses).count(),
    }


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_shipped_curriculum_has_6_modules_20_lessons_40_questions_and_4_labs_in_each_language(db, language):
    curriculum_load()

    found = counts(language)

    assert found["modules"] >= 6
    assert found["lessons"] >= 20
    assert found["questions"] >= 40
    assert found["labs"] >= 4


def test_the_shipped_curriculum_is_published_as_platform_courses_with_the_same_slugs_in_both_languages(db):
    curriculum_load()

    courses = Course.all_tenants.all()
    assert courses.exists() and all(course.is_platform_course and course.published for course in courses)
    slugs_by_language = {
        language: set(courses.filter(language=language).values_list("slug", flat=True))
        for language in ("en", "zh-hans")
    }
    assert slugs_by_language["en"] == slugs_by_language["zh-hans"]


def test_the_shipped_chinese_lessons_are_written_in_chinese(db):
    curriculum_load()

    for lesson in Lesson.objects.filter(module__course__language="zh-hans"):
        han = sum("\u4e00" <= character <= "\u9fff" for character in lesson.body_markdown)
        assert han > 100, lesson.title


def test_the_shipped_lab_steps_name_registered_checks_and_cover_the_four_kinds_of_lab(db):
    curriculum_load()

    checks = set(LabStep.objects.values_list("check_name", flat=True))

    assert {
        "catalog_import_of_50_products",
        "lora_job_succeeded",
        "experiment_comparing_two_versions_started",
        "recommendations_called_with_publishable_key",
    } <= checks


def test_loading_twice_changes_nothing(db):
    curriculum_load()
    before = snapshot()

    report = curriculum_load()

    assert report.changed == 0 and report.unchanged > 0
    assert snapshot() == before


def test_the_command_loads_and_reports_and_its_check_mode_writes_nothing(db, capsys):
    call_command("load_curriculum", "--check")
    assert not Course.all_tenants.exists()

    call_command("load_curriculum")

    assert Course.all_tenants.exists()
    assert "created" in capsys.readouterr().out


# A small curriculum written by the tests, to change it between loads.

COURSE = 'title = "{title}"\nsummary = "A short course."\npass_mark = 0.5\n'
MODULE = '''position = 1
title = "{module_title}"

[[lessons]]
position = 1
title = "{lesson_title}"
body = "Read me."

[[quizzes]]
position = 1
title = "Quiz"

[[quizzes.questions]]
position = 1
kind = "single"
prompt = "Pick the right one."
explanation = "Because."
choices = [{{ text = "Right", correct = true }}, {{ text = "Wrong" }}]
{extra}
[[labs]]
position = 1
title = "Lab"

[[labs.steps]]
position = 1
title = "Import"
check = "{check}"
'''
SECOND_QUESTION = '''
[[quizzes.questions]]
position = 2
kind = "numeric"
prompt = "How many?"
answer = 4
'''


def write_curriculum(root: Path, *, lesson_title="Lesson", extra=SECOND_QUESTION, check="catalog_import_of_50_products",
                     zh_extra=None, with_quiz=True) -> Path:
    for language, title in (("en", "Course"), ("zh-hans", "课程")):
        folder = root / "small-course" / language
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "course.toml").write_text(COURSE.format(title=title), encoding="utf-8")
        module = MODULE.format(
            module_title=f"{title} module", lesson_title=lesson_title, check=check,
            extra=zh_extra if (language == "zh-hans" and zh_extra is not None) else extra,
        )
        if not with_quiz:
            start = module.index("[[quizzes]]")
            module = module[:start] + module[module.index("[[labs]]"):]
        (folder / "01-module.toml").write_text(module, encoding="utf-8")
    return root


def test_a_correction_in_the_files_updates_the_row_in_place(db, tmp_path):
    curriculum_load(write_curriculum(tmp_path))
    lesson_id = Lesson.objects.get(module__course__language="en").pk

    report = curriculum_load(write_curriculum(tmp_path, lesson_title="Lesson, corrected"))

    lesson = Lesson.objects.get(module__course__language="en")
    assert (lesson.pk, lesson.title) == (lesson_id, "Lesson, corrected")
    assert report.updated == 2 and report.created == 0  # the English and the Chinese lesson


def test_a_question_removed_from_the_files_is_deleted(db, tmp_path):
    curriculum_load(write_curriculum(tmp_path))

    curriculum_load(write_curriculum(tmp_path, extra=""))

    assert Question.objects.count() == 2  # one per language


def test_a_quiz_that_learners_attempted_is_not_deleted_and_the_load_writes_nothing(db, tmp_path, tenant):
    curriculum_load(write_curriculum(tmp_path))
    course = Course.all_tenants.get(language="en")
    quiz = Quiz.objects.get(module__course=course)
    membership = MembershipFactory(tenant=tenant, user=UserFactory(), role=Role.LEARNER)
    with tenant_scope(tenant):
        enrollment = enrollment_create(tenant=tenant, membership=membership, course=course)
        right = Choice.objects.get(question__quiz=quiz, is_correct=True)
        numeric = Question.objects.get(quiz=quiz, kind="numeric")
        quiz_attempt_submit(tenant=tenant, enrollment=enrollment, quiz=quiz,
                            answers={str(right.question_id): right.pk, str(numeric.pk): 4})
    before = snapshot()

    with pytest.raises(CurriculumError, match="attempted"):
        curriculum_load(write_curriculum(tmp_path, lesson_title="Renamed", with_quiz=False))

    assert snapshot() == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"extra": SECOND_QUESTION.replace('kind = "numeric"', 'kind = "essay"')}, "questions[1]: kind"),
        ({"extra": SECOND_QUESTION.replace("answer = 4\n", "")}, "questions[1].answer: missing"),
        ({"check": "no_such_check"}, "steps[0]: check: no lab check is named 'no_such_check'"),
        ({"zh_extra": ""}, "differs"),
    ],
)
def test_a_mistake_in_a_file_is_named_and_nothing_is_written(db, tmp_path, change, named):
    with pytest.raises(CurriculumError) as raised:
        curriculum_load(write_curriculum(tmp_path, **change))

    assert named in str(raised.value)
    assert not Course.all_tenants.exists()


def test_a_single_choice_question_with_two_right_choices_is_refused_with_its_place(db, tmp_path):
    root = write_curriculum(tmp_path)
    module = root / "small-course" / "en" / "01-module.toml"
    module.write_text(module.read_text().replace('{ text = "Wrong" }', '{ text = "Wrong", correct = true }'))

    with pytest.raises(CurriculumError, match=r"en/01-module.toml: quizzes\[0\].questions\[0\]: choices: .*exactly one"):
        curriculum_load(root)


def test_the_command_reports_a_mistake_as_a_command_error(db, tmp_path):
    root = write_curriculum(tmp_path, check="no_such_check")

    with pytest.raises(CommandError, match="no_such_check"):
        call_command("load_curriculum", "--path", str(root))


def test_the_shipped_folder_is_the_default(db):
    assert (CURRICULUM_DIR / "README.md").is_file()


# The labs quote the product: a learner looks for the words the lab names.


def shipped_texts(language: str) -> dict[str, str]:
    return {
        str(path.relative_to(CURRICULUM_DIR)): path.read_text(encoding="utf-8")
        for path in sorted(CURRICULUM_DIR.glob(f"*/{language}/*.toml"))
    }


@pytest.mark.parametrize("language, mention", [("en", "Roll back to"), ("zh-hans", "回滚到")])
def test_every_mention_of_the_rollback_button_is_its_label_on_the_models_page(language, mention):
    with translation.override(language):
        # templates/training/version_list.html, with vN for the number as the labs write it
        label = gettext("Roll back to v%(number)s, the previous live version") % {"number": "N"}

    texts = shipped_texts(language)

    assert sum(text.count(label) for text in texts.values()) >= 4
    assert {path: text.count(mention) for path, text in texts.items()} == {
        path: text.count(label) for path, text in texts.items()
    }


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_import_lab_quotes_the_outcome_the_import_page_shows(language):
    with translation.override(language):
        # templates/catalog/_import_outcome.html, for 60 new products
        outcome = gettext("%(rows_imported)s: %(products_created)s, %(updated)s updated.") % {
            "rows_imported": ngettext("%(rows)s row imported", "%(rows)s rows imported", 60) % {"rows": "60"},
            "products_created": ngettext("%(created)s product created", "%(created)s products created", 60)
            % {"created": "60"},
            "updated": "0",
        }

    lab = shipped_texts(language)[f"fine-tuning-recommendation-models/{language}/02-data-for-recommendation.toml"]

    assert outcome in lab
