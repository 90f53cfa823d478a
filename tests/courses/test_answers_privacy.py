import pytest

from courses.selectors import NotAllowed, quiz_attempt_list_for_learner, quiz_score_list_for_course
from courses.services import enrollment_create, quiz_attempt_submit
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.courses.factories import QuestionFactory
from tests.factories import MembershipFactory


@pytest.fixture
def quiz(course):
    return course.modules.get().quizzes.get()


@pytest.fixture
def meis_attempt(in_tenant, enrollment, quiz):
    question = QuestionFactory(quiz=quiz, correct_boolean=True)
    return quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=quiz, answers={str(question.pk): True})


def test_a_learner_reads_their_own_attempts_with_answers(in_tenant, learner, meis_attempt):
    attempts = list(quiz_attempt_list_for_learner(tenant=in_tenant, learner=learner))

    assert attempts == [meis_attempt]
    assert attempts[0].answers == meis_attempt.answers


def test_another_learner_cannot_read_a_learners_attempts(in_tenant, course, other_learner, meis_attempt):
    enrollment_create(tenant=in_tenant, membership=other_learner, course=course)

    assert not quiz_attempt_list_for_learner(tenant=in_tenant, learner=other_learner).exists()


def test_an_owner_sees_scores_but_no_answers(in_tenant, course, owner, learner, meis_attempt):
    rows = list(quiz_score_list_for_course(tenant=in_tenant, viewer=owner, course=course))

    assert rows == [
        {
            "enrollment__membership_id": learner.pk,
            "quiz_id": meis_attempt.quiz_id,
            "number": 1,
            "score": 1.0,
            "passed": True,
            "submitted_at": meis_attempt.submitted_at,
        }
    ]
    # The owner's own attempt list is theirs alone: Mei's answers do not appear in it either.
    assert not quiz_attempt_list_for_learner(tenant=in_tenant, learner=owner).exists()


def test_an_analyst_or_learner_may_not_list_every_learners_scores(in_tenant, course, other_learner, meis_attempt):
    analyst = MembershipFactory(tenant=in_tenant, role=Role.ANALYST)

    for viewer in (analyst, other_learner):
        with pytest.raises(NotAllowed):
            quiz_score_list_for_course(tenant=in_tenant, viewer=viewer, course=course)


def test_a_member_of_another_tenant_reads_no_attempts(in_tenant, other_tenant, meis_attempt):
    with tenant_scope(other_tenant):
        outsider = MembershipFactory(tenant=other_tenant, role=Role.OWNER)

    assert not quiz_attempt_list_for_learner(tenant=in_tenant, learner=outsider).exists()
    with pytest.raises(NotAllowed):
        quiz_score_list_for_course(tenant=in_tenant, viewer=outsider, course=meis_attempt.enrollment.course)
