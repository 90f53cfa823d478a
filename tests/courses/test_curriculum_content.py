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


# --- The A/B testing module quotes the results page ----------------------------------------


def verdict_labels(language: str) -> set[str]:
    from experiments.analysis.results import Verdict

    with translation.override(language):
        return {str(label) for _value, label in Verdict.choices}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_verdict_table_names_the_four_verdicts_the_results_page_shows(language):
    text = lesson(IN_YOUR_STORE, language, "01-ab-testing.toml", 5)
    table_rows = [line for line in text.splitlines() if line.startswith("|") and line.rstrip().endswith("** |")]

    named = {re.search(r"\*\*(.+?)\*\*", row).group(1) for row in table_rows}

    assert named == verdict_labels(language)


@pytest.mark.parametrize(("language", "retired"), [("en", "No difference yet"), ("zh-hans", "暂无差异")])
def test_no_lesson_names_a_verdict_the_results_page_does_not_have(language, retired):
    # The label is "Not conclusive yet" on purpose: an interval holding 0 does not say there is no difference.
    texts = [path.read_text(encoding="utf-8") for path in (CURRICULUM_DIR / IN_YOUR_STORE / language).glob("*.toml")]

    assert not any(retired in text for text in texts)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_cuped_lesson_quotes_the_caption_and_the_adjusted_mean_of_the_results_table(language):
    with translation.override(language):
        # templates/experiments/_metric_table.html
        caption = gettext("compared on CUPED-adjusted values: the lifts are differences of the adjusted means")
        adjusted = gettext("adjusted: %(value)s") % {"value": "…"}

    text = lesson(IN_YOUR_STORE, language, "01-ab-testing.toml", 6)

    assert caption in text
    assert adjusted in text


# --- Popularity on a product page ------------------------------------------------------------


@pytest.mark.parametrize(("language", "deviations"), [("en", "standard deviation"), ("zh-hans", "标准差")])
def test_no_lesson_says_popularity_lifts_the_context_products_category_by_standard_deviations(language, deviations):
    # recommendations.engine.ranking.lead_with: the category comes first, ahead of every other product;
    # a shift in standard deviations is what a boost rule does, and a few best sellers would outscore it.
    sentences = [
        sentence
        for path in (CURRICULUM_DIR / IN_YOUR_STORE / language).glob("*.toml")
        for sentence in re.split(r"(?<=[.。])\s*", path.read_text(encoding="utf-8"))
        if "context_product" in sentence and deviations in sentence
    ]

    assert sentences == []
