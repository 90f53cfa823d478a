"""Authoring a tenant's own courses: the pages under /courses/author/, their services, and the admin
for platform staff."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from courses import authoring
from courses.authoring import ChoiceInput
from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, QuestionKind, Quiz
from courses.services import enrollment_create, quiz_attempt_submit
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.courses.factories import CourseFactory, LessonFactory, ModuleFactory, QuestionFactory, QuizFactory
from tests.factories import UserFactory

CHECK = "lora_job_succeeded"
CHECK_TITLE = "A LoRA fine-tuning job that succeeded"
PLATFORM_SLUG_ERROR = "A platform course has this slug: choose another."
SINGLE_CHOICE_ERROR = "Mark exactly one choice as correct: a single-choice question has one right answer."


@pytest.fixture
def admin_client(client, member_with_role):
    client.force_login(member_with_role(Role.ADMIN))
    return client


def every_part_of(course: Course) -> dict:
    """Give `course` one of each part; returns them by name."""
    module = ModuleFactory(course=course, position=9, title="Basics")
    quiz = QuizFactory(module=module, title="Check yourself")
    lab = Lab.objects.create(module=module, position=1, title="Try it", intro_markdown="Go.")
    return {
        "course": course,
        "module": module,
        "lesson": LessonFactory(module=module, position=1, title="What a model is"),
        "quiz": quiz,
        "question": QuestionFactory(quiz=quiz, position=1, prompt="Is it?", correct_boolean=True),
        "lab": lab,
        "step": LabStep.objects.create(lab=lab, position=1, title="Train one", check_name=CHECK),
    }


def edit_urls(parts: dict) -> list[str]:
    """The page and the delete page of every part, and the pages that add to them."""
    urls = [
        reverse("courses:author-course", args=[parts["course"].pk]),
        reverse("courses:author-module-new", args=[parts["course"].pk]),
        reverse("courses:author-lesson-new", args=[parts["module"].pk]),
        reverse("courses:author-quiz-new", args=[parts["module"].pk]),
        reverse("courses:author-lab-new", args=[parts["module"].pk]),
        reverse("courses:author-question-new", args=[parts["quiz"].pk]),
        reverse("courses:author-step-new", args=[parts["lab"].pk]),
    ]
    names = {"course": "course", "module": "module", "lesson": "lesson", "quiz": "quiz",
             "question": "question", "lab": "lab", "step": "step"}
    for part, name in names.items():
        if name != "course":
            urls.append(reverse(f"courses:author-{name}", args=[parts[part].pk]))
        urls.append(reverse(f"courses:author-{name}-delete", args=[parts[part].pk]))
    return urls


def publish_url(parts: dict) -> str:
    return reverse("courses:author-course-publish", args=[parts["course"].pk])


def question_posted(kind: str, choices: list[tuple[str, bool]] = (), **fields) -> dict:
    """What the question form posts: the fields, and four rows of choices (those not given left empty)."""
    posted = {
        "kind": kind, "prompt": "Which metric ranks the full catalog?", "weight": "1",
        "correct_boolean": "", "numeric_answer": "", "numeric_tolerance": "0", "explanation": "",
        "choices-TOTAL_FORMS": "4", "choices-INITIAL_FORMS": "0",
        "choices-MIN_NUM_FORMS": "0", "choices-MAX_NUM_FORMS": "1000",
    }
    for row, (text, correct) in enumerate(choices):
        posted[f"choices-{row}-text"] = text
        if correct:
            posted[f"choices-{row}-is_correct"] = "on"
    posted.update(fields)
    return posted


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="id_{re.escape(field_id)}_error">([^<]*)<', html)
    return match.group(1) if match else ""


# --- Writing a course through the pages ------------------------------------------------------------


def test_an_admin_writes_a_course_with_every_kind_of_part_through_the_pages(admin_client, tenant):
    response = admin_client.post(reverse("courses:author-course-new"), {
        "title": "Our returns policy", "slug": "returns-policy", "language": "en",
        "summary": "What to tell shoppers.", "pass_mark": "0.8",
    })
    course = Course.all_tenants.get(tenant=tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse("courses:author-course", args=[course.pk])
    assert (course.title, course.pass_mark, course.published) == ("Our returns policy", 0.8, False)

    admin_client.post(reverse("courses:author-module-new", args=[course.pk]), {"title": "Refunds"})
    module = Module.objects.get(course=course)
    admin_client.post(reverse("courses:author-lesson-new", args=[module.pk]), {
        "title": "When we refund", "body_markdown": "Within **30 days**.", "estimated_minutes": "4",
    })
    admin_client.post(reverse("courses:author-quiz-new", args=[module.pk]), {
        "title": "Refunds quiz", "lesson": "", "weight": "1", "attempts_allowed": "2",
    })
    quiz = Quiz.objects.get(module=module)
    response = admin_client.post(reverse("courses:author-question-new", args=[quiz.pk]), question_posted(
        QuestionKind.SINGLE, [("30 days", True), ("A year", False), ("Never", False)],
        prompt="How long may a shopper return an item?",
    ))
    assert response.status_code == 302
    admin_client.post(reverse("courses:author-lab-new", args=[module.pk]), {
        "title": "Refund in the sandbox", "intro_markdown": "Do it for real.",
    })
    lab = Lab.objects.get(module=module)
    admin_client.post(reverse("courses:author-step-new", args=[lab.pk]), {
        "title": "Fine-tune", "check_name": CHECK, "instructions_markdown": "Start a LoRA job.",
    })
    response = admin_client.post(publish_url({"course": course}), {"published": "1"})

    assert response.status_code == 302
    course.refresh_from_db()
    assert course.published
    question = Question.objects.get(quiz=quiz)
    assert question.prompt == "How long may a shopper return an item?"
    assert [(c.position, c.text, c.is_correct) for c in question.choices.all()] == [
        (1, "30 days", True), (2, "A year", False), (3, "Never", False),
    ]
    assert LabStep.objects.get(lab=lab).check_name == CHECK
    outline = admin_client.get(reverse("courses:author-course", args=[course.pk])).content.decode()
    for shown in ("Refunds", "When we refund", "Refunds quiz", "1 question", "Refund in the sandbox"):
        assert shown in outline
    assert "1 step" in outline
    listed = admin_client.get(reverse("courses:author-list")).content.decode()
    assert "Our returns policy" in listed and "Published" in listed


def test_the_course_list_shows_only_the_tenants_own_courses_and_says_where_platform_courses_come_from(
    owner_client, tenant, other_tenant, course
):
    CourseFactory(tenant=tenant, title="Our own onboarding")
    CourseFactory(tenant=other_tenant, title="Their secret course")

    page = owner_client.get(reverse("courses:author-list")).content.decode()

    assert "Our own onboarding" in page
    assert "Their secret course" not in page
    assert "Recommender basics" not in page  # the platform course of the `course` fixture
    assert "come from the platform and cannot be changed here" in page


def test_new_parts_go_at_the_end_of_their_parent(in_tenant):
    course = CourseFactory(tenant=in_tenant)
    ModuleFactory(course=course, position=5)

    module = authoring.module_create(tenant=in_tenant, course_id=course.pk, title="Next")
    first = authoring.lesson_create(tenant=in_tenant, module_id=module.pk, title="One")
    second = authoring.lesson_create(tenant=in_tenant, module_id=module.pk, title="Two")
    quiz = authoring.quiz_create(tenant=in_tenant, module_id=module.pk, title="Quiz")
    questions = [
        authoring.question_create(tenant=in_tenant, quiz_id=quiz.pk, kind=QuestionKind.TRUE_FALSE,
                                  prompt=f"Q{n}", correct_boolean=True, choices=[])
        for n in range(2)
    ]

    assert module.position == 6
    assert (first.position, second.position) == (1, 2)
    assert [question.position for question in questions] == [1, 2]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_analysts_and_learners_get_403_on_every_authoring_page(client, member_with_role, tenant, role):
    client.force_login(member_with_role(role))
    parts = every_part_of(CourseFactory(tenant=tenant))

    for url in [reverse("courses:author-list"), reverse("courses:author-course-new"), *edit_urls(parts)]:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"title": "Taken over"}).status_code == 403, url
    assert client.post(publish_url(parts), {"published": "1"}).status_code == 403
    assert Course.all_tenants.get(pk=parts["course"].pk).title != "Taken over"


# --- Questions: the answer must fit the kind -------------------------------------------------------


@pytest.fixture
def own_quiz(tenant):
    return QuizFactory(module=ModuleFactory(course=CourseFactory(tenant=tenant)))


def test_a_single_choice_question_with_two_correct_choices_is_refused_and_nothing_is_stored(
    admin_client, own_quiz
):
    two_right = [("NDCG@10", True), ("Recall@10", True), ("Accuracy", False)]
    posted = question_posted(QuestionKind.SINGLE, two_right)

    response = admin_client.post(reverse("courses:author-question-new", args=[own_quiz.pk]), posted)

    assert response.status_code == 200
    errors = re.search(r'id="choices-errors">(.*?)</ul>', response.content.decode(), re.DOTALL)
    assert errors and SINGLE_CHOICE_ERROR in errors.group(1)
    assert not Question.objects.exists() and not Choice.objects.exists()


def test_a_numeric_question_without_its_answer_is_refused_beside_that_field(admin_client, own_quiz):
    response = admin_client.post(reverse("courses:author-question-new", args=[own_quiz.pk]),
                                 question_posted(QuestionKind.NUMERIC, numeric_answer=""))

    assert field_error(response.content.decode(), "numeric_answer") == "Give the numeric answer."
    assert not Question.objects.exists()


@pytest.mark.parametrize(("kind", "fields", "choices", "field"), [
    (QuestionKind.SINGLE, {}, [ChoiceInput("Only one", True)], "choices"),
    (QuestionKind.MULTIPLE, {}, [ChoiceInput("A", False), ChoiceInput("B", False)], "choices"),
    (QuestionKind.TRUE_FALSE, {}, [], "correct_boolean"),
    (QuestionKind.TRUE_FALSE, {"correct_boolean": True}, [ChoiceInput("Yes", True)], "choices"),
    (QuestionKind.NUMERIC, {}, [], "numeric_answer"),
    (QuestionKind.SINGLE, {"numeric_answer": 3.0}, [ChoiceInput("A", True), ChoiceInput("B", False)],
     "numeric_answer"),
])
def test_a_question_whose_answer_does_not_fit_its_kind_is_refused_naming_the_field(
    in_tenant, own_quiz, kind, fields, choices, field
):
    with pytest.raises(ValidationError) as refused:
        authoring.question_create(tenant=in_tenant, quiz_id=own_quiz.pk, kind=kind, prompt="?",
                                  choices=choices, **fields)

    assert field in refused.value.message_dict
    assert not Question.objects.exists()


def test_a_question_refused_over_one_of_its_choices_leaves_nothing_behind(in_tenant, own_quiz):
    # The question itself is fine and is saved first; the choice too long for its column comes after.
    with pytest.raises(ValidationError) as refused:
        authoring.question_create(tenant=in_tenant, quiz_id=own_quiz.pk, kind=QuestionKind.SINGLE, prompt="?",
                                  choices=[ChoiceInput("Right", True), ChoiceInput("x" * 501, False)])

    assert refused.value.message_dict["choices"][0].startswith("Choice 2:")
    assert not Question.objects.exists() and not Choice.objects.exists()


def test_editing_a_question_keeps_its_choices_ids_so_past_answers_still_name_them(admin_client, own_quiz):
    with tenant_scope(own_quiz.module.course.tenant) as tenant:
        question = authoring.question_create(
            tenant=tenant, quiz_id=own_quiz.pk, kind=QuestionKind.SINGLE, prompt="Which?",
            choices=[ChoiceInput("Right", True), ChoiceInput("Wrong", False), ChoiceInput("Silly", False)],
        )
    right, wrong, silly = question.choices.all()
    posted = question_posted(QuestionKind.SINGLE, prompt="Which one?", **{
        "choices-TOTAL_FORMS": "5", "choices-INITIAL_FORMS": "3",
        "choices-0-id": str(right.pk), "choices-0-text": "Right", "choices-0-is_correct": "on",
        "choices-1-id": str(wrong.pk), "choices-1-text": "Wrong, reworded",
        "choices-2-id": str(silly.pk), "choices-2-text": "Silly", "choices-2-DELETE": "on",
        "choices-3-text": "New",
    })

    response = admin_client.post(reverse("courses:author-question", args=[question.pk]), posted)

    assert response.status_code == 302
    choices = list(Choice.objects.filter(question=question))
    assert [(c.text, c.is_correct) for c in choices] == [
        ("Right", True), ("Wrong, reworded", False), ("New", False),
    ]
    assert [c.pk for c in choices[:2]] == [right.pk, wrong.pk]
    assert Question.objects.get(pk=question.pk).prompt == "Which one?"


# --- Markdown and labs -----------------------------------------------------------------------------


def test_the_lesson_preview_renders_the_markdown_without_its_script_and_saves_nothing(admin_client, own_quiz):
    module = own_quiz.module
    response = admin_client.post(reverse("courses:author-lesson-new", args=[module.pk]), {
        "title": "Sneaky", "estimated_minutes": "5", "preview": "1",
        "body_markdown": "Some **bold** words.\n\n<script>alert('stolen')</script>",
    })

    page = response.content.decode()
    preview = re.search(r'id="markdown-preview">(.*?)</section>', page, re.DOTALL)
    assert preview and "<strong>bold</strong>" in preview.group(1)
    assert "<script" not in page and "alert(" not in preview.group(1)
    assert not Lesson.objects.filter(module=module).exists()


def test_a_lab_steps_check_is_chosen_from_the_registered_checks_by_title(admin_client, own_quiz):
    lab = Lab.objects.create(module=own_quiz.module, position=1, title="Lab")
    url = reverse("courses:author-step-new", args=[lab.pk])

    assert f'<option value="{CHECK}">{CHECK_TITLE}</option>' in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"title": "Hack", "check_name": "rm_rf", "instructions_markdown": ""})
    assert "Select a valid choice" in field_error(response.content.decode(), "check_name")
    assert not LabStep.objects.exists()


def test_a_step_naming_no_registered_check_is_refused_by_the_service_too(in_tenant, own_quiz):
    lab = Lab.objects.create(module=own_quiz.module, position=1, title="Lab")

    with pytest.raises(ValidationError) as refused:
        authoring.lab_step_create(tenant=in_tenant, lab_id=lab.pk, title="Hack", check_name="rm_rf")

    assert "check_name" in refused.value.message_dict


# --- Whose courses: another tenant's and the platform's are not there ------------------------------


def test_another_tenants_course_and_every_part_of_it_are_404(owner_client, other_tenant):
    parts = every_part_of(CourseFactory(tenant=other_tenant, title="Globex onboarding"))

    for url in edit_urls(parts):
        assert owner_client.get(url).status_code == 404, url
        assert owner_client.post(url, {"title": "Taken over"}).status_code == 404, url
    assert owner_client.post(publish_url(parts), {"published": "0"}).status_code == 404
    assert Course.all_tenants.get(pk=parts["course"].pk).title == "Globex onboarding"
    assert Course.all_tenants.get(pk=parts["course"].pk).published
    assert LabStep.objects.filter(pk=parts["step"].pk).exists()


def test_a_platform_course_and_its_parts_are_not_editable_by_a_tenant(owner_client, course):
    parts = every_part_of(course)

    for url in edit_urls(parts):
        assert owner_client.get(url).status_code == 404, url
        assert owner_client.post(url, {"title": "Taken over"}).status_code == 404, url
    assert owner_client.post(publish_url(parts), {"published": "0"}).status_code == 404
    assert Course.all_tenants.get(pk=course.pk).title == "Recommender basics"
    assert Course.all_tenants.get(pk=course.pk).published


def test_the_services_refuse_another_tenants_course_themselves(in_tenant, other_tenant):
    theirs = CourseFactory(tenant=other_tenant)

    with pytest.raises(Course.DoesNotExist):
        authoring.course_update(tenant=in_tenant, course_id=theirs.pk, slug="x", language="en", title="Mine",
                                summary="", pass_mark=0.5)
    with pytest.raises(Course.DoesNotExist):
        authoring.module_create(tenant=in_tenant, course_id=theirs.pk, title="Mine")


def test_a_course_may_not_take_the_slug_of_a_platform_course(admin_client, course):
    response = admin_client.post(reverse("courses:author-course-new"), {
        "title": "Easy certificate", "slug": course.slug, "language": "zh-hans", "pass_mark": "0",
    })

    assert field_error(response.content.decode(), "slug") == PLATFORM_SLUG_ERROR
    assert not Course.all_tenants.filter(tenant__isnull=False).exists()


def test_a_slug_typed_with_capitals_is_saved_in_lowercase(admin_client, tenant):
    admin_client.post(reverse("courses:author-course-new"), {
        "title": "Our returns policy", "slug": "Returns-Policy", "language": "en", "pass_mark": "0.7",
    })

    assert Course.all_tenants.get(tenant=tenant).slug == "returns-policy"


def test_a_course_may_not_take_the_slug_of_a_platform_course_in_capitals(admin_client, course):
    response = admin_client.post(reverse("courses:author-course-new"), {
        "title": "Easy certificate", "slug": course.slug.upper(), "language": "zh-hans", "pass_mark": "0",
    })

    assert field_error(response.content.decode(), "slug") == PLATFORM_SLUG_ERROR
    assert not Course.all_tenants.filter(tenant__isnull=False).exists()


def test_an_own_course_saved_with_capitals_before_still_holds_its_slug_against_lowercase(in_tenant):
    CourseFactory(tenant=in_tenant, slug="Returns", language="en")

    with pytest.raises(ValidationError) as refused:
        authoring.course_create(tenant=in_tenant, slug="returns", language="en", title="Returns again")

    assert refused.value.message_dict["slug"] == ["Another of your courses in this language has this slug."]


def test_editing_an_old_course_keeps_its_capitalised_slug_unless_the_author_changes_it(in_tenant):
    # A certificate requirement may name the slug as it is (courses.gating).
    own = CourseFactory(tenant=in_tenant, slug="Returns")
    unchanged = {"tenant": in_tenant, "course_id": own.pk, "language": "en", "title": "Returns", "summary": "",
                 "pass_mark": 0.7}

    assert authoring.course_update(slug="Returns", **unchanged).slug == "Returns"
    assert authoring.course_update(slug="Refunds", **unchanged).slug == "refunds"


# --- Publishing and deleting ---------------------------------------------------------------------------


def test_a_course_is_published_only_once_it_has_a_lesson_and_every_quiz_has_questions(admin_client, tenant):
    course = CourseFactory(tenant=tenant, published=False)
    module = ModuleFactory(course=course)
    publish = reverse("courses:author-course-publish", args=[course.pk])

    page = admin_client.post(publish, {"published": "1"}, follow=True).content.decode()
    assert "Add at least one lesson before publishing." in page
    LessonFactory(module=module)
    QuizFactory(module=module, title="Empty quiz")
    page = admin_client.post(publish, {"published": "1"}, follow=True).content.decode()
    assert "The quiz “Empty quiz” has no questions yet" in page
    assert not Course.all_tenants.get(pk=course.pk).published


def test_a_course_with_enrollments_is_kept_and_the_author_is_told_to_unpublish_it(
    admin_client, tenant, learner
):
    own = CourseFactory(tenant=tenant, title="Our onboarding")
    with tenant_scope(tenant):
        enrollment_create(tenant=tenant, membership=learner, course=own)

    response = admin_client.post(reverse("courses:author-course-delete", args=[own.pk]), follow=True)

    assert "so deleting it would delete their progress. Unpublish it instead" in response.content.decode()
    assert Course.all_tenants.filter(pk=own.pk).exists()


def test_a_course_nobody_enrolled_in_is_deleted_after_the_author_confirms(admin_client, tenant):
    parts = every_part_of(CourseFactory(tenant=tenant, title="Scrapped"))
    url = reverse("courses:author-course-delete", args=[parts["course"].pk])

    assert "Delete “Scrapped”?" in admin_client.get(url).content.decode()
    assert Course.all_tenants.filter(pk=parts["course"].pk).exists()  # asking deletes nothing
    response = admin_client.post(url)

    assert response.status_code == 302 and response["Location"] == reverse("courses:author-list")
    assert not Course.all_tenants.filter(pk=parts["course"].pk).exists()
    assert not LabStep.objects.filter(pk=parts["step"].pk).exists()


def test_a_quiz_a_learner_has_taken_is_not_deleted_with_its_scores(admin_client, tenant, learner):
    parts = every_part_of(CourseFactory(tenant=tenant))
    with tenant_scope(tenant):
        enrollment = enrollment_create(tenant=tenant, membership=learner, course=parts["course"])
        quiz_attempt_submit(tenant=tenant, enrollment=enrollment, quiz=parts["quiz"],
                            answers={str(parts["question"].pk): True})

    for name in ("quiz", "module"):
        page = admin_client.post(reverse(f"courses:author-{name}-delete", args=[parts[name].pk]),
                                 follow=True).content.decode()
        assert "Learners have taken the quiz “Check yourself”" in page
    assert Quiz.objects.filter(pk=parts["quiz"].pk).exists()


def test_deleting_a_lesson_keeps_the_quiz_placed_after_it(in_tenant):
    parts = every_part_of(CourseFactory(tenant=in_tenant))
    Quiz.objects.filter(pk=parts["quiz"].pk).update(lesson=parts["lesson"])

    authoring.lesson_delete(tenant=in_tenant, lesson_id=parts["lesson"].pk)

    assert Quiz.objects.get(pk=parts["quiz"].pk).lesson is None


# --- The admin, for platform staff ---------------------------------------------------------------------


@pytest.fixture
def staff_client(client, db):
    # Platform staff belong to no tenant: the admin must work without a tenant scope.
    client.force_login(UserFactory(username="staff@platform.test", is_staff=True, is_superuser=True))
    return client


def test_platform_staff_edit_a_platform_course_in_the_admin_without_a_tenant(staff_client, course):
    change = reverse("admin:courses_course_change", args=[course.pk])
    assert staff_client.get(reverse("admin:courses_course_changelist")).status_code == 200
    assert staff_client.get(change).status_code == 200
    module = course.modules.get()
    posted = {
        "tenant": "", "slug": course.slug, "language": "en", "title": "Recommender basics, revised",
        "summary": "", "pass_mark": "0.7", "published": "on",
        "modules-TOTAL_FORMS": "1", "modules-INITIAL_FORMS": "1", "modules-MIN_NUM_FORMS": "0",
        "modules-MAX_NUM_FORMS": "1000", "modules-0-id": str(module.pk), "modules-0-course": str(course.pk),
        "modules-0-position": str(module.position), "modules-0-title": module.title,
    }

    response = staff_client.post(change, posted)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Course.all_tenants.get(pk=course.pk).title == "Recommender basics, revised"


def test_the_admin_refuses_a_second_platform_course_with_the_same_slug_and_language(staff_client, course):
    posted = {
        "tenant": "", "slug": course.slug, "language": "en", "title": "Copy", "summary": "",
        "pass_mark": "0.7",
        "modules-TOTAL_FORMS": "0", "modules-INITIAL_FORMS": "0", "modules-MIN_NUM_FORMS": "0",
        "modules-MAX_NUM_FORMS": "1000",
    }

    response = staff_client.post(reverse("admin:courses_course_add"), posted)

    assert response.status_code == 200
    assert "A platform course in this language already has this slug." in response.content.decode()
    assert Course.all_tenants.count() == 1


def test_an_admin_of_a_tenant_who_is_not_platform_staff_cannot_open_the_admin(admin_client, course):
    response = admin_client.get(reverse("admin:courses_course_change", args=[course.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_question_learners_answered_cannot_change_kind(in_tenant, own_quiz, member_with_role):
    question = authoring.question_create(
        tenant=in_tenant, quiz_id=own_quiz.pk, kind=QuestionKind.TRUE_FALSE, prompt="LoRA trains every weight.",
        choices=[], correct_boolean=False,
    )
    learner = member_with_role(Role.LEARNER).memberships.get()
    enrollment = enrollment_create(tenant=in_tenant, membership=learner, course=own_quiz.module.course)
    quiz_attempt_submit(tenant=in_tenant, enrollment=enrollment, quiz=own_quiz, answers={str(question.pk): False})

    with pytest.raises(ValidationError) as raised:
        authoring.question_update(
            tenant=in_tenant, question_id=question.pk, kind=QuestionKind.NUMERIC, prompt="How many?", choices=[],
            weight=1.0, correct_boolean=None, numeric_answer=3.0, numeric_tolerance=0.0, explanation="",
        )

    assert "kind" in raised.value.message_dict
    question.refresh_from_db()
    assert question.kind == QuestionKind.TRUE_FALSE
