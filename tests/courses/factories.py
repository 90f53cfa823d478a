import factory

from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, QuestionKind, Quiz
from tenants.scope import outside_tenant_scope


class CurriculumFactory(factory.django.DjangoModelFactory):
    """Curriculum is set up as its authors write it, outside any tenant scope: inside one, the
    database refuses a platform course's rows or another tenant's (row-level security)."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with outside_tenant_scope():
            return super()._create(model_class, *args, **kwargs)


class CourseFactory(CurriculumFactory):
    """A published platform course unless given a tenant."""

    class Meta:
        model = Course

    tenant = None
    slug = factory.Sequence(lambda n: f"course-{n}")
    language = "en"
    title = factory.Sequence(lambda n: f"Course {n}")
    pass_mark = 0.7
    published = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Platform courses have no tenant: created through the unscoped manager.
        with outside_tenant_scope():
            return model_class.all_tenants.create(*args, **kwargs)


class ModuleFactory(CurriculumFactory):
    class Meta:
        model = Module

    course = factory.SubFactory(CourseFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Module {n}")


class LessonFactory(CurriculumFactory):
    class Meta:
        model = Lesson

    module = factory.SubFactory(ModuleFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Lesson {n}")
    body_markdown = "Read this."


class QuizFactory(CurriculumFactory):
    class Meta:
        model = Quiz

    module = factory.SubFactory(ModuleFactory)
    title = factory.Sequence(lambda n: f"Quiz {n}")
    weight = 1.0
    attempts_allowed = 3


class LabFactory(CurriculumFactory):
    class Meta:
        model = Lab

    module = factory.SubFactory(ModuleFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Lab {n}")


class LabStepFactory(CurriculumFactory):
    class Meta:
        model = LabStep

    lab = factory.SubFactory(LabFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Step {n}")
    check_name = "catalog_import_of_50_products"


class QuestionFactory(CurriculumFactory):
    class Meta:
        model = Question

    quiz = factory.SubFactory(QuizFactory)
    position = factory.Sequence(lambda n: n)
    kind = QuestionKind.TRUE_FALSE
    prompt = factory.Sequence(lambda n: f"Question {n}?")
    weight = 1.0
    correct_boolean = True


class ChoiceFactory(CurriculumFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory)
    text = factory.Sequence(lambda n: f"Choice {n}")
    is_correct = False


def single_choice_question(quiz, *, right: str, wrong: list[str], weight: float = 1.0):
    """A single-choice question; returns (question, {text: choice})."""
    question = QuestionFactory(quiz=quiz, kind=QuestionKind.SINGLE, correct_boolean=None, weight=weight)
    choices = {right: ChoiceFactory(question=question, text=right, is_correct=True)}
    for text in wrong:
        choices[text] = ChoiceFactory(question=question, text=text)
    return question, choices
