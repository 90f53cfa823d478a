"""A learner takes a course in a browser: enrolls, reads the lessons, passes the quiz and gets
the certificate."""

import pytest
from playwright.sync_api import Page, expect

from courses.models import QuestionKind
from tenants.models import Role
from tests.browser.conftest import NEEDS_CHROMIUM, log_in
from tests.courses.factories import (
    ChoiceFactory,
    CourseFactory,
    LessonFactory,
    ModuleFactory,
    QuestionFactory,
    QuizFactory,
)
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture
def learner():
    user = UserFactory(username="mei@acme.test", first_name="Mei", last_name="Lin")
    MembershipFactory(tenant=TenantFactory(name="Acme Grocer"), user=user, role=Role.LEARNER)
    return user


@pytest.fixture
def course():
    """Two lessons and a quiz with a question of each kind: a radio, checkboxes, true or false, a number."""
    course = CourseFactory(title="Recommender basics", pass_mark=0.7)
    module = ModuleFactory(course=course, position=1, title="Basics")
    LessonFactory(module=module, position=1, title="What a recommendation is",
                  body_markdown="A recommendation ranks **the whole catalog** for one shopper.")
    LessonFactory(module=module, position=2, title="Measuring it", body_markdown="NDCG@10 and Recall@10.")
    quiz = QuizFactory(module=module, title="Check yourself", attempts_allowed=2)
    single = QuestionFactory(quiz=quiz, position=1, kind=QuestionKind.SINGLE, correct_boolean=None,
                             prompt="Which items are ranked?")
    ChoiceFactory(question=single, position=1, text="The whole catalog", is_correct=True)
    ChoiceFactory(question=single, position=2, text="100 sampled items")
    multiple = QuestionFactory(quiz=quiz, position=2, kind=QuestionKind.MULTIPLE, correct_boolean=None,
                               prompt="Which are ranking metrics?")
    ChoiceFactory(question=multiple, position=1, text="NDCG@10", is_correct=True)
    ChoiceFactory(question=multiple, position=2, text="Recall@10", is_correct=True)
    ChoiceFactory(question=multiple, position=3, text="Loss of the shop")
    QuestionFactory(quiz=quiz, position=3, kind=QuestionKind.TRUE_FALSE, correct_boolean=False,
                    prompt="LoRA trains every weight of the encoder.")
    QuestionFactory(quiz=quiz, position=4, kind=QuestionKind.NUMERIC, correct_boolean=None,
                    numeric_answer=6144, prompt="How many parameters has a rank-8 LoRA on a 384×384 matrix?")
    return course


@pytest.mark.django_db(transaction=True)
def test_a_learner_reads_the_lessons_passes_the_quiz_and_is_certified(page: Page, learner, course):
    log_in(page, learner.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Courses").click()
    page.get_by_role("link", name="Recommender basics").click()
    page.get_by_role("button", name="Enroll and start").click()

    expect(page.get_by_role("heading", name="What a recommendation is")).to_be_visible()
    page.get_by_role("button", name="Mark as read and go on").click()
    expect(page.get_by_role("heading", name="Measuring it")).to_be_visible()
    page.get_by_role("button", name="Mark as read", exact=True).click()
    expect(page.locator(".lesson-nav").get_by_text("Read", exact=True)).to_be_visible()

    page.locator("#module-end").get_by_role("link", name="Check yourself").click()
    quiz = page.locator("#quiz-form")
    quiz.get_by_role("group", name="Which items are ranked?").get_by_label("The whole catalog").check()
    metrics = quiz.get_by_role("group", name="Which are ranking metrics?")
    metrics.get_by_label("NDCG@10").check()
    metrics.get_by_label("Recall@10").check()
    quiz.get_by_role("group", name="LoRA trains every weight").get_by_label("False", exact=True).check()
    quiz.get_by_role("group", name="How many parameters").get_by_label("Your answer").fill("6144")
    quiz.get_by_role("button", name="Submit my answers").click()

    expect(page.locator("#score")).to_contain_text("100%")
    expect(page.locator("#score")).to_contain_text("Passed")
    expect(page.locator(".messages")).to_contain_text("Congratulations: you passed “Recommender basics”.")
    page.get_by_role("link", name="Recommender basics").click()
    expect(page.locator("#certificate")).to_contain_text("Passed")
    expect(page.locator("#progress")).to_contain_text("2 of 2 lessons read")
