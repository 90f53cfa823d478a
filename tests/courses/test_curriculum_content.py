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


# --- Reading a training job: the job page, the form and the models page ------------------------

TRAINING_JOB = "03-reading-a-training-job.toml"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_progress_line_example_is_the_job_pages_line_for_a_default_job(language):
    from training.ml.config import TrainConfig

    config = TrainConfig(base_model="")
    _examples, steps_per_epoch = config.epoch_size(100_000)
    total = config.epochs * steps_per_epoch
    step = 100
    epoch = -(-step // steps_per_epoch)
    with translation.override(language):
        # training/presentation.py, job_progress
        line = gettext("Epoch %(epoch)d of %(epochs)s · step %(step)d of %(total_steps)d") % {
            "epoch": epoch, "epochs": config.epochs, "step": step, "total_steps": total,
        }

    assert (epoch, total) == (2, 320)
    assert f"“{line}”" in lesson(FINE_TUNING, language, TRAINING_JOB, 1)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lab_quotes_the_message_of_a_queued_job(language):
    with translation.override(language):
        # training/views.py, training_job_new_view
        message = gettext("Job #%(id)d is queued: it starts when a training worker is free.").replace("%(id)d", "N")
    (lab,) = module(FINE_TUNING, language, TRAINING_JOB)["labs"]

    assert f"“{message}”" in lab["steps"][0]["instructions"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_settings_table_names_the_forms_fields_with_their_defaults(language):
    from training.views import CONFIG_DEFAULTS, TrainingJobForm

    shown = {"method": "LoRA", "epochs": "5", "learning_rate": "1e-3", "batch_size": "64", "lora_rank": "8",
             "freeze_layers": "0"}
    with translation.override(language):
        form = TrainingJobForm()
        expected = {f"| {form.fields[name].label} | {value} |" for name, value in shown.items()}
    text = lesson(FINE_TUNING, language, TRAINING_JOB, 4)

    assert CONFIG_DEFAULTS["method"] == "lora" and CONFIG_DEFAULTS["learning_rate"] == 1e-3
    assert all(str(CONFIG_DEFAULTS[name]) == value for name, value in shown.items() if name not in
               ("method", "learning_rate"))
    assert {row for row in expected if row in text} == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lesson_quotes_the_three_verdicts_of_the_comparison_with_the_best_baseline(language):
    with translation.override(language):
        # training/presentation.py, the comparison with the best baseline
        verdicts = [
            gettext("A gain beyond the luck of which shoppers the test window holds."),
            gettext("Too close to call with this many shoppers: the interval holds 1, no difference."),
            gettext("Worse than that baseline, beyond the luck of the draw."),
        ]
    text = lesson(FINE_TUNING, language, TRAINING_JOB, 3)

    assert all(f"“{verdict}”" in text for verdict in verdicts)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_promotion_lesson_names_the_switch_and_the_holds_of_automatic_promotion(language):
    from training.views import AutoPromoteForm

    with translation.override(language):
        switch = str(AutoPromoteForm().fields["auto_promote_models"].label)
        search_hold = gettext("Fine-tuning made search worse: this version does not go live by itself.")
    text = lesson(FINE_TUNING, language, TRAINING_JOB, 5)

    assert f"**{switch}**" in text
    assert search_hold in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_steps_per_epoch_question_is_keyed_to_what_a_job_does(language):
    from training.ml.config import TrainConfig

    keyed = question(FINE_TUNING, language, TRAINING_JOB, 5)

    assert keyed["answer"] == TrainConfig(base_model="", batch_size=100).epoch_size(30_000)[1] == 41


def test_the_chinese_courses_address_the_learner_as_the_product_does():
    # The merchant UI says 您 throughout (locale/zh_Hans); a course that switches to 你 reads as another voice.
    # 猜你喜欢 is the name of a storefront block, not an address.
    texts = {
        str(path.relative_to(CURRICULUM_DIR)): path.read_text(encoding="utf-8").replace("猜你喜欢", "")
        for path in CURRICULUM_DIR.glob("*/zh-hans/*.toml")
    }

    assert {path: text.count("你") for path, text in texts.items() if "你" in text} == {}


# --- Quiz mechanics: a quiz is not passed by its form ---------------------------------------
# Choices are shown in the order of the files (the loader keeps it), so the files must vary it.

COURSES = [FINE_TUNING, IN_YOUR_STORE]


def choice_questions(course: str, language: str, kind: str) -> list[list[dict]]:
    return [item["choices"] for item in questions(course, language) if item["kind"] == kind]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("course", COURSES)
def test_the_right_choice_of_single_choice_questions_is_not_always_at_the_same_place(course, language):
    places = [next(i for i, choice in enumerate(choices) if choice.get("correct"))
              for choices in choice_questions(course, language, "single")]

    most_common = max(places.count(place) for place in set(places))
    assert len(set(places)) >= 3 and most_common <= len(places) / 2, places


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("course", COURSES)
def test_multiple_choice_questions_do_not_all_open_with_a_right_choice(course, language):
    openings = [bool(choices[0].get("correct")) for choices in choice_questions(course, language, "multiple")]

    assert openings.count(False) >= len(openings) / 3, openings


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("course", COURSES)
def test_the_right_choice_is_the_longest_in_at_most_half_of_the_single_choice_questions(course, language):
    longest_is_right = [
        max(choices, key=lambda choice: len(choice["text"])).get("correct", False)
        for choices in choice_questions(course, language, "single")
    ]

    assert sum(longest_is_right) <= len(longest_is_right) / 2, longest_is_right


@pytest.mark.parametrize("course", COURSES)
def test_true_or_false_questions_are_not_mostly_one_answer(course):
    answers = [item["answer"] for item in questions(course, "en") if item["kind"] == "true_false"]

    assert max(answers.count(True), answers.count(False)) <= len(answers) * 2 / 3, answers
