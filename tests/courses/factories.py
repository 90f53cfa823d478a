import factory

from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, QuestionKind, Quiz


class CourseFactory(factory.django.DjangoModelFactory):
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
        return model_class.all_tenants.create(*args, **kwargs)


class ModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Module

    course = factory.SubFactory(CourseFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Module {n}")


class LessonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesson

    module = factory.SubFactory(ModuleFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Lesson {n}")
    body_markdown = "Read this."


class QuizFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quiz

    module = factory.SubFactory(ModuleFactory)
    title = factory.Sequence(lambda n: f"Quiz {n}")
    weight = 1.0
    attempts_allowed = 3


class LabFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lab

    module = factory.SubFactory(ModuleFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Lab {n}")


class LabStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabStep

    lab = factory.SubFactory(LabFactory)
    position = factory.Sequence(lambda n: n)
    title = factory.Sequence(lambda n: f"Step {n}")
    check_name = "catalog_import_of_50_products"


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    quiz = factory.SubFactory(QuizFactory)
    position = factory.Sequence(lambda n: n)
    kind = QuestionKind.TRUE_FALSE
    prompt = factory.Sequence(lambda n: f"Question {n}?")
    weight = 1.0
    correct_boolean = True


class ChoiceFactory(factory.django.DjangoModelFactory):
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
