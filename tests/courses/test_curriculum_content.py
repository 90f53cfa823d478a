"""The platform curriculum says what the product does: the labels, messages and defaults a lesson
quotes are the product's own, in both languages, and its quizzes cannot be passed by their form."""

import re
import tomllib

import pytest
from django.utils import translation
from django.utils.translation import gettext

from courses.curriculum_loader import CURRICULUM_DIR

LANGUAGES = ["en", "zh-hans"]
FINE_TUNING = "fine-tuning-recommendation-models"
IN_YOUR_STORE = "recommendations-in-your-store"


def module(course: str, language: str, name: str) -> dict:
    with (CURRICULUM_DIR / course / language / name).open("rb") as file:
        return tomllib.load(file)


def lesson(course: str, language: str, name: str, position: int) -> str:
    lessons = module(course, language, name)["lessons"]
    return next(item["body"] for item in lessons if item["position"] == position)


def question(course: str, language: str, name: str, position: int) -> dict:
    (quiz,) = module(course, language, name)["quizzes"]
    return next(item for item in quiz["questions"] if item["position"] == position)


def questions(course: str, language: str) -> list[dict]:
    found = []
    for path in sorted((CURRICULUM_DIR / course / language).glob("*.toml")):
        if path.name == "course.toml":
            continue
        with path.open("rb") as file:
            for quiz in tomllib.load(file).get("quizzes", []):
                found.extend(quiz["questions"])
    return found


# --- The catalog import lesson -------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_import_lesson_names_the_imports_table_of_the_import_page(language):
    with translation.override(language):
        heading = gettext("Imports")  # templates/catalog/product_import.html

    text = lesson(FINE_TUNING, language, "02-data-for-recommendation.toml", 2)

    assert f"**{heading}**" in text
    assert "Recent imports" not in text and "最近的导入" not in text


@pytest.mark.parametrize(("language", "replaced"), [("en", "**replaced**"), ("zh-hans", "**替换**")])
def test_the_import_lesson_says_a_known_sku_is_updated_column_by_column_not_replaced(language, replaced):
    # catalog/services/products.py: the file's columns set the fields, the others keep their values.
    text = lesson(FINE_TUNING, language, "02-data-for-recommendation.toml", 2)

    assert replaced not in text
    assert "`external_id` and `in_stock`" in text or "`external_id` 和 `in_stock`" in text
