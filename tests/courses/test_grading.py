import pytest
from django.core.exceptions import ValidationError

from courses.models import QuestionKind, Quiz, QuizAttempt
from courses.selectors import course_progress
from courses.services import QuizAttemptLimitReached, quiz_attempt_submit
from tenants.scope import outside_tenant_scope
from tests.courses.factories import (
    ChoiceFactory,
    QuestionFactory,
    QuizFactory,
    single_choice_question,
)


@pytest.fixture
def quiz(course):
    return course.modules.get().quizzes.get()


def test_an_attempt_scores_the_weighted_share_of_right_answers(in_tenant, enrollment, quiz):
    heavy = QuestionFactory(quiz=quiz, weight=3, correct_boolean=True)
    light = QuestionFactory(quiz=quiz, weight=1, correct_boolean=True)

    attempt = quiz_attempt_submit(
        tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(heavy.pk): True, str(light.pk): False}
    )

    assert attempt.score == pytest.approx(0.75)
    assert attempt.passed  # pass mark 0.7
    assert attempt.number == 1


def test_below_the_pass_mark_an_attempt_is_not_passed(in_tenant, enrollment, quiz):
    heavy = QuestionFactory(quiz=quiz, weight=1, correct_boolean=True)
    light = QuestionFactory(quiz=quiz, weight=1, correct_boolean=True)

    attempt = quiz_attempt_submit(
        tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(heavy.pk): True, str(light.pk): False}
    )

    assert attempt.score == pytest.approx(0.5)
    assert not attempt.passed


def test_an_attempt_keeps_each_answer_with_whether_it_was_right(in_tenant, enrollment, quiz):
    right = QuestionFactory(quiz=quiz, correct_boolean=True)
    wrong = QuestionFactory(quiz=quiz, correct_boolean=True)

    attempt = quiz_attempt_submit(
        tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(right.pk): True, str(wrong.pk): False}
    )

    attempt.refresh_from_db()
    kept = {key: (record["answer"], record["right"]) for key, record in attempt.answers.items()}
    assert kept == {str(right.pk): (True, True), str(wrong.pk): (False, False)}


def test_a_numeric_answer_within_the_tolerance_is_right_and_outside_it_wrong(in_tenant, enrollment, quiz):
    question = QuestionFactory(
        quiz=quiz, kind=QuestionKind.NUMERIC, correct_boolean=None, numeric_answer=3.14, numeric_tolerance=0.01
    )

    def score(answer):
        return quiz_attempt_submit(
            tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): answer}
        ).score

    assert score(3.15) == 1.0  # at the edge of the tolerance
    assert score(3.16) == 0.0


def test_multiple_choice_is_all_or_nothing(in_tenant, enrollment, quiz):
    question = QuestionFactory(quiz=quiz, kind=QuestionKind.MULTIPLE, correct_boolean=None)
    right_a = ChoiceFactory(question=question, is_correct=True)
    right_b = ChoiceFactory(question=question, is_correct=True)
    wrong = ChoiceFactory(question=question, is_correct=False)
    quiz.attempts_allowed = 3
    with outside_tenant_scope():  # as the platform's author edits it
        quiz.save()

    def score(choice_ids):
        return quiz_attempt_submit(
            tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): choice_ids}
        ).score

    assert score([right_a.pk]) == 0.0  # one of two right: no partial credit
    assert score([right_a.pk, right_b.pk, wrong.pk]) == 0.0  # ticking everything earns nothing
    assert score([right_b.pk, right_a.pk]) == 1.0


def test_single_choice_and_true_false_are_graded(in_tenant, enrollment, quiz):
    single, choices = single_choice_question(quiz, right="Precision at k", wrong=["Loss", "Epochs"])
    true_false = QuestionFactory(quiz=quiz, correct_boolean=False)

    attempt = quiz_attempt_submit(
        tenant=in_tenant,
        enrollment=enrollment,
        quiz=quiz,
        answers={str(single.pk): choices["Precision at k"].pk, str(true_false.pk): False},
    )

    assert attempt.score == 1.0


def test_an_attempt_past_the_limit_is_refused_with_a_clear_message(in_tenant, enrollment, quiz):
    question = QuestionFactory(quiz=quiz, correct_boolean=True)
    answers = {str(question.pk): False}
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers=answers)
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers=answers)

    with pytest.raises(QuizAttemptLimitReached) as refused:
        quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers=answers)

    assert str(refused.value) == "“Check yourself” allows 2 attempts, and all of them are used."
    assert QuizAttempt.objects.filter(quiz=quiz).count() == 2


def test_a_quiz_of_one_attempt_refuses_a_second_in_the_singular(in_tenant, enrollment, quiz):
    with outside_tenant_scope():
        Quiz.objects.filter(pk=quiz.pk).update(attempts_allowed=1)
    quiz.refresh_from_db()
    answers = {str(QuestionFactory(quiz=quiz, correct_boolean=True).pk): False}
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers=answers)

    with pytest.raises(QuizAttemptLimitReached) as refused:
        quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers=answers)

    assert str(refused.value) == "“Check yourself” allows 1 attempt, and it has been used."


def test_bad_answers_are_refused_naming_the_question_and_the_reason(in_tenant, enrollment, quiz):
    single, _choices = single_choice_question(quiz, right="A", wrong=["B"])
    numeric = QuestionFactory(
        quiz=quiz, kind=QuestionKind.NUMERIC, correct_boolean=None, numeric_answer=1, prompt="How many?"
    )
    true_false = QuestionFactory(quiz=quiz, correct_boolean=True)
    other_choice = ChoiceFactory()  # a choice of some other question

    with pytest.raises(ValidationError) as refused:
        quiz_attempt_submit(
            tenant=in_tenant,
            enrollment=enrollment,
            quiz=quiz,
            answers={str(single.pk): other_choice.pk, str(numeric.pk): "seven", "999999": True},
        )

    errors = refused.value.message_dict
    assert errors[f"answers[{single.pk}]"] == [f"Question {single.position} (“{single.prompt}”): choose one of its choices."]
    assert errors[f"answers[{numeric.pk}]"] == [f"Question {numeric.position} (“How many?”): answer with a number."]
    assert errors[f"answers[{true_false.pk}]"] == [f"Question {true_false.position} (“{true_false.prompt}”): not answered."]
    assert errors["answers[999999]"] == ["No question 999999 in this quiz."]
    assert not QuizAttempt.objects.exists()  # a refused attempt does not use one up


def test_a_quiz_of_another_course_cannot_be_submitted(in_tenant, enrollment):
    elsewhere = QuizFactory()
    question = QuestionFactory(quiz=elsewhere)

    with pytest.raises(Quiz.DoesNotExist):
        quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=elsewhere, answers={str(question.pk): True})


def test_the_course_grade_is_the_weighted_mean_of_each_quizs_best_score(in_tenant, enrollment, course, quiz):
    module = course.modules.get()
    quiz.weight = 1
    with outside_tenant_scope():  # as the platform's author edits it
        quiz.save()
    final = QuizFactory(module=module, weight=3)
    q1 = QuestionFactory(quiz=quiz, correct_boolean=True)
    q2 = QuestionFactory(quiz=final, correct_boolean=True)

    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(q1.pk): True})
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=final, answers={str(q2.pk): False})
    assert course_progress(tenant=in_tenant, enrollment=enrollment).grade == pytest.approx(0.25)

    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=final, answers={str(q2.pk): True})
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(q1.pk): False})
    # The best of each quiz counts, not the latest.
    assert course_progress(tenant=in_tenant, enrollment=enrollment).grade == pytest.approx(1.0)


def test_an_unattempted_quiz_counts_zero_in_the_grade(in_tenant, enrollment, course, quiz):
    QuizFactory(module=course.modules.get(), weight=1)
    question = QuestionFactory(quiz=quiz, correct_boolean=True)

    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): True})

    assert course_progress(tenant=in_tenant, enrollment=enrollment).grade == pytest.approx(0.5)
