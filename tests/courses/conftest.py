import pytest

from courses.services import enrollment_create
from tenants.models import Membership, Role
from tests.courses.factories import CourseFactory, LessonFactory, ModuleFactory, QuizFactory
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def learner(tenant) -> Membership:
    user = UserFactory(username="mei@acme.test", first_name="Mei", last_name="Lin")
    return MembershipFactory(tenant=tenant, user=user, role=Role.LEARNER)


@pytest.fixture
def other_learner(tenant) -> Membership:
    user = UserFactory(username="raj@acme.test", first_name="Raj", last_name="Patel")
    return MembershipFactory(tenant=tenant, user=user, role=Role.LEARNER)


@pytest.fixture
def owner(tenant, merchant_user) -> Membership:
    return Membership.all_tenants.get(tenant=tenant, user=merchant_user)


@pytest.fixture
def course(db):
    """A platform course: one module of two lessons and one quiz, pass mark 0.7."""
    course = CourseFactory(title="Recommender basics", pass_mark=0.7)
    module = ModuleFactory(course=course, position=1)
    LessonFactory(module=module, position=1, title="What a recommendation is")
    LessonFactory(module=module, position=2, title="Measuring it")
    QuizFactory(module=module, title="Check yourself", weight=1.0, attempts_allowed=2)
    return course


@pytest.fixture
def enrollment(in_tenant, learner, course):
    return enrollment_create(tenant=in_tenant, membership=learner, course=course)
