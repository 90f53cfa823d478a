"""The learner's pages: course list, lessons, quizzes with feedback, labs with "check my work" in a
sandbox, and another tenant's or another learner's things as 404s."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import translation

from catalog.models import ImportStatus, ProductImport
from courses.labs.sandbox import sandbox_for, sandbox_get
from courses.models import Certificate, LabStepCompletion, LessonCompletion, QuestionKind, QuizAttempt
from courses.services import enrollment_create, quiz_attempt_submit
from tenants.models import Membership, Role
from tenants.scope import tenant_scope
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY
from tests.courses.factories import (
    ChoiceFactory,
    CourseFactory,
    LabFactory,
    LabStepFactory,
    LessonFactory,
    ModuleFactory,
    QuestionFactory,
    QuizFactory,
)
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def course(db):
    """A platform course: two lessons, a quiz of one question of each kind, a lab of one step."""
    course = CourseFactory(title="Recommender basics", pass_mark=0.7)
    module = ModuleFactory(course=course, position=1, title="Basics")
    LessonFactory(module=module, position=1, title="What a recommendation is",
                  body_markdown="# Hello\n\n<script>alert(1)</script>\n\nText.")
    LessonFactory(module=module, position=2, title="Measuring it")
    quiz = QuizFactory(module=module, title="Check yourself", attempts_allowed=2)
    single = QuestionFactory(quiz=quiz, position=1, kind=QuestionKind.SINGLE, correct_boolean=None,
                             prompt="Which is ranked?", explanation="The whole catalog is ranked.")
    ChoiceFactory(question=single, position=1, text="The whole catalog", is_correct=True)
    ChoiceFactory(question=single, position=2, text="100 sampled items")
    multiple = QuestionFactory(quiz=quiz, position=2, kind=QuestionKind.MULTIPLE, correct_boolean=None,
                               prompt="Which are metrics?")
    ChoiceFactory(question=multiple, position=1, text="NDCG@10", is_correct=True)
    ChoiceFactory(question=multiple, position=2, text="Recall@10", is_correct=True)
    ChoiceFactory(question=multiple, position=3, text="Loss of the shop")
    QuestionFactory(quiz=quiz, position=3, kind=QuestionKind.TRUE_FALSE, correct_boolean=False,
                    prompt="LoRA trains every weight.")
    QuestionFactory(quiz=quiz, position=4, kind=QuestionKind.NUMERIC, correct_boolean=None,
                    numeric_answer=6144, prompt="Parameters of a rank-8 LoRA on 384×384?")
    lab = LabFactory(module=module, position=1, title="Import a catalog")
    LabStepFactory(lab=lab, position=1, title="Import 50 products", check_name="catalog_import_of_50_products")
    return course


def questions(course):
    quiz = course.modules.get().quizzes.get()
    return quiz, {question.kind: question for question in quiz.questions.all()}


def right_answers_post(course) -> dict:
    _quiz, by_kind = questions(course)
    single, multiple = by_kind["single"], by_kind["multiple"]
    return {
        f"question_{single.pk}": single.choices.get(is_correct=True).pk,
        f"question_{multiple.pk}": [choice.pk for choice in multiple.choices.filter(is_correct=True)],
        f"question_{by_kind['true_false'].pk}": "false",
        f"question_{by_kind['numeric'].pk}": "6144",
    }


def wrong_answers_post(course) -> dict:
    answers = right_answers_post(course)
    _quiz, by_kind = questions(course)
    answers[f"question_{by_kind['true_false'].pk}"] = "true"
    answers[f"question_{by_kind['numeric'].pk}"] = "12"
    answers[f"question_{by_kind['single'].pk}"] = by_kind["single"].choices.get(is_correct=False).pk
    return answers


def enroll(client, course):
    return client.post(reverse("courses:enroll", args=[course.pk]))


def membership_of(user, tenant) -> Membership:
    return Membership.all_tenants.get(user=user, tenant=tenant)


# The course list and a course


def test_the_course_list_shows_platform_courses_and_the_tenants_own_but_not_another_tenants(
    learner_client, course, tenant, other_tenant
):
    CourseFactory(tenant=tenant, title="Our returns policy")
    CourseFactory(tenant=other_tenant, title="Globex secret training")

    page = learner_client.get(reverse("courses:list")).content.decode()

    assert "Recommender basics" in page and "Our returns policy" in page
    assert "Globex secret training" not in page


def test_the_course_list_puts_courses_in_the_ui_language_first(learner_client, course):
    CourseFactory(title="推荐入门", language="zh-hans", slug=course.slug)

    page = learner_client.get(reverse("courses:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert page.index("推荐入门") < page.index("Recommender basics")


def test_another_tenants_course_and_every_part_of_it_are_404(learner_client, other_tenant):
    theirs = CourseFactory(tenant=other_tenant)
    module = ModuleFactory(course=theirs)
    lesson = LessonFactory(module=module)
    quiz = QuizFactory(module=module)
    lab = LabFactory(module=module)

    urls = [
        reverse("courses:detail", args=[theirs.pk]),
        reverse("courses:lesson", args=[theirs.pk, lesson.pk]),
        reverse("courses:quiz", args=[theirs.pk, quiz.pk]),
        reverse("courses:lab", args=[theirs.pk, lab.pk]),
    ]

    assert [learner_client.get(url).status_code for url in urls] == [404] * 4
    assert enroll(learner_client, theirs).status_code == 404


def test_a_lesson_of_another_course_is_404_under_this_course(learner_client, course):
    elsewhere = LessonFactory()

    assert learner_client.get(reverse("courses:lesson", args=[course.pk, elsewhere.pk])).status_code == 404


def test_an_unpublished_course_is_404_to_learners(learner_client, tenant):
    draft = CourseFactory(tenant=tenant, published=False)

    assert learner_client.get(reverse("courses:detail", args=[draft.pk])).status_code == 404


# Lessons and progress


def test_enrolling_opens_the_first_lesson_and_marking_it_read_goes_to_the_next(learner_client, course, tenant,
                                                                              learner_user):
    first, second = course.modules.get().lessons.order_by("position")

    response = enroll(learner_client, course)
    assert response.url == reverse("courses:lesson", args=[course.pk, first.pk])

    response = learner_client.post(reverse("courses:lesson-complete", args=[course.pk, first.pk]), {"then": "next"})

    assert response.url == reverse("courses:lesson", args=[course.pk, second.pk])
    assert LessonCompletion.all_tenants.filter(lesson=first, enrollment__membership__user=learner_user).exists()
    detail = learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()
    assert "1 of 2 lessons read" in detail


@pytest.mark.parametrize("language, shown", [("en", "(pass mark: 70%)"), ("zh-hans", "（及格线：70%）")])
def test_the_course_page_shows_the_pass_mark_as_a_percentage_like_the_grade(learner_client, course, language,
                                                                            shown):
    enroll(learner_client, course)

    detail = learner_client.get(reverse("courses:detail", args=[course.pk]), HTTP_ACCEPT_LANGUAGE=language)

    assert shown in detail.content.decode()


def test_a_course_of_one_lesson_counts_it_in_the_singular(learner_client, course):
    course.modules.get().lessons.order_by("position").last().delete()
    enroll(learner_client, course)
    assert "0 of 1 lesson read" in learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()
    listed = learner_client.get(reverse("courses:list")).content.decode()
    assert "0 of 1 lesson" in listed and "0 of 1 lessons" not in listed


def test_a_lesson_page_renders_markdown_without_its_script(learner_client, course):
    lesson = course.modules.get().lessons.get(position=1)

    page = learner_client.get(reverse("courses:lesson", args=[course.pk, lesson.pk])).content.decode()

    assert "<h1>Hello</h1>" in page
    assert "alert(1)" not in page


def test_marking_a_lesson_read_without_enrolling_asks_to_enroll_and_records_nothing(learner_client, course):
    lesson = course.modules.get().lessons.get(position=1)

    response = learner_client.post(reverse("courses:lesson-complete", args=[course.pk, lesson.pk]))

    assert response.url == reverse("courses:detail", args=[course.pk])
    assert not LessonCompletion.all_tenants.exists()


def test_a_quiz_placed_after_a_lesson_is_offered_on_that_lessons_page_not_at_the_modules_end(
    learner_client, course
):
    module = course.modules.get()
    first, last = module.lessons.order_by("position")
    QuizFactory(module=module, lesson=first, title="Warm-up quiz")

    after_first = learner_client.get(reverse("courses:lesson", args=[course.pk, first.pk])).content.decode()
    at_the_end = learner_client.get(reverse("courses:lesson", args=[course.pk, last.pk])).content.decode()

    assert "Warm-up quiz" in after_first and "Check yourself" not in after_first
    assert "Check yourself" in at_the_end and "Warm-up quiz" not in at_the_end


def test_the_course_page_lists_a_quiz_placed_after_a_lesson_right_after_that_lesson(learner_client, course):
    module = course.modules.get()
    first = module.lessons.get(position=1)
    QuizFactory(module=module, lesson=first, title="Warm-up quiz")

    page = learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()

    order = ["What a recommendation is", "Warm-up quiz", "Measuring it", "Check yourself"]
    assert [page.index(title) for title in order] == sorted(page.index(title) for title in order)


# Quizzes and feedback


def test_a_quiz_answered_right_is_graded_and_its_feedback_shows_every_question_right(learner_client, course):
    quiz, _by_kind = questions(course)
    enroll(learner_client, course)

    response = learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), right_answers_post(course))

    attempt = QuizAttempt.all_tenants.get()
    assert attempt.score == 1.0 and attempt.passed
    assert response.url == reverse("courses:attempt", args=[course.pk, attempt.pk])
    feedback = learner_client.get(response.url).content.decode()
    assert feedback.count('class="question right"') == 4
    assert "The whole catalog is ranked." in feedback


def test_a_failed_attempt_explains_without_giving_the_right_answers_until_the_attempts_run_out(
    learner_client, course
):
    quiz, _by_kind = questions(course)
    enroll(learner_client, course)
    url = reverse("courses:quiz", args=[course.pk, quiz.pk])

    first = learner_client.get(learner_client.post(url, wrong_answers_post(course)).url).content.decode()
    assert 'class="question wrong"' in first
    assert "The whole catalog is ranked." in first
    assert "Right answer" not in first

    last = learner_client.get(learner_client.post(url, wrong_answers_post(course)).url).content.decode()
    assert "Right answer" in last and "6144" in last


def test_an_unanswered_question_is_named_and_no_attempt_is_stored(learner_client, course):
    quiz, by_kind = questions(course)
    enroll(learner_client, course)
    answers = right_answers_post(course)
    del answers[f"question_{by_kind['numeric'].pk}"]

    response = learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), answers)

    assert response.status_code == 200
    assert f"question_{by_kind['numeric'].pk}_error" in response.content.decode()
    assert not QuizAttempt.all_tenants.exists()


def test_past_the_attempt_limit_the_quiz_refuses_and_stores_nothing(learner_client, course):
    quiz, _by_kind = questions(course)
    enroll(learner_client, course)
    url = reverse("courses:quiz", args=[course.pk, quiz.pk])
    for _attempt in range(2):
        learner_client.post(url, wrong_answers_post(course))

    learner_client.post(url, right_answers_post(course))

    assert QuizAttempt.all_tenants.count() == 2
    assert "You have used every attempt" in learner_client.get(url).content.decode()


def test_a_quiz_of_one_attempt_counts_it_in_the_singular(learner_client, course):
    quiz, _by_kind = questions(course)
    quiz.attempts_allowed = 1
    quiz.save()
    enroll(learner_client, course)
    url = reverse("courses:quiz", args=[course.pk, quiz.pk])
    assert "1 of 1 attempt left." in learner_client.get(url).content.decode()

    learner_client.post(url, wrong_answers_post(course))

    page = learner_client.get(url).content.decode()
    assert "0 of 1 attempt left." in page and "Your best attempt counts" not in page
    assert "1 of 1 attempt used" in learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()


def test_another_learners_attempt_is_404(learner_client, course, tenant):
    quiz, by_kind = questions(course)
    other = MembershipFactory(tenant=tenant, user=UserFactory(username="raj@acme.test"), role=Role.LEARNER)
    with tenant_scope(tenant):
        enrollment = enrollment_create(tenant=tenant, membership=other, course=course)
        theirs = quiz_attempt_submit(tenant=tenant, enrollment=enrollment, quiz=quiz, answers={
            str(by_kind["single"].pk): by_kind["single"].choices.get(is_correct=True).pk,
            str(by_kind["multiple"].pk): [],
            str(by_kind["true_false"].pk): True,
            str(by_kind["numeric"].pk): 1,
        })

    assert learner_client.get(reverse("courses:attempt", args=[course.pk, theirs.pk])).status_code == 404


# Labs in the sandbox


def imported_into(sandbox, products: int) -> None:
    ProductImport.all_tenants.create(
        tenant=sandbox, filename="mine.csv", file_format="csv", status=ImportStatus.SUCCEEDED,
        row_count=products, created_count=products,
    )


def check_step(client, course):
    lab = course.modules.get().labs.get()
    step = lab.steps.get()
    client.post(reverse("courses:lab-step-check", args=[course.pk, lab.pk, step.pk]))
    return client.get(reverse("courses:lab", args=[course.pk, lab.pk])).content.decode()


def test_checking_before_opening_a_sandbox_says_to_open_one(learner_client, course):
    enroll(learner_client, course)

    page = check_step(learner_client, course)

    assert "You have no sandbox yet" in page
    assert not LabStepCompletion.all_tenants.exists()


def test_opening_the_sandbox_switches_to_it_and_the_banner_leads_back_to_the_lab(
    learner_client, course, tenant, learner_user
):
    lab = course.modules.get().labs.get()
    enroll(learner_client, course)

    response = learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))

    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    assert sandbox is not None and learner_client.session[ACTIVE_TENANT_SESSION_KEY] == sandbox.pk
    dashboard = learner_client.get(response.url).content.decode()
    assert 'id="sandbox-banner"' in dashboard
    assert learner_client.get(reverse("courses:list")).status_code == 409  # courses are taken in the store

    back = learner_client.post(reverse("courses:sandbox-leave"))

    assert back.url == reverse("courses:lab", args=[course.pk, lab.pk])
    assert learner_client.session[ACTIVE_TENANT_SESSION_KEY] == tenant.pk


def test_back_to_the_course_from_another_stores_sandbox_goes_to_the_course_list_not_the_first_stores_lab(
    learner_client, tenant, other_tenant, learner_user
):
    own_course = CourseFactory(tenant=tenant, title="Our returns policy")
    lab = LabFactory(module=ModuleFactory(course=own_course, position=1), position=1)
    MembershipFactory(tenant=other_tenant, user=learner_user, role=Role.LEARNER)
    other_sandbox = sandbox_for(tenant=other_tenant, user=learner_user)
    learner_client.post(reverse("courses:sandbox-open", args=[own_course.pk, lab.pk]))

    learner_client.post(reverse("tenant-switch"), {"tenant_id": other_sandbox.pk})
    back = learner_client.post(reverse("courses:sandbox-leave"))

    assert learner_client.session[ACTIVE_TENANT_SESSION_KEY] == other_tenant.pk
    assert back.url == reverse("courses:list")
    assert learner_client.get(back.url).status_code == 200
    # The first store's sandbox still leads back to its lab.
    learner_client.post(reverse("tenant-switch"), {"tenant_id": sandbox_get(tenant=tenant, user=learner_user).pk})
    assert learner_client.post(reverse("courses:sandbox-leave")).url == reverse(
        "courses:lab", args=[own_course.pk, lab.pk]
    )


def test_the_lab_page_in_chinese_names_the_sandbox_in_chinese_though_it_was_opened_in_english(
    learner_client, course, tenant, learner_user
):
    lab = course.modules.get().labs.get()
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))  # in English
    learner_client.post(reverse("courses:sandbox-leave"))

    page = learner_client.get(reverse("courses:lab", args=[course.pk, lab.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    with translation.override("zh-hans"):
        in_chinese = sandbox.display_name
    assert in_chinese != sandbox.name == "Acme Grocer (sandbox)"
    assert f"<strong>{in_chinese}</strong>" in page.content.decode()


def test_a_step_fails_with_the_checks_advice_then_passes_once_the_work_is_done(
    learner_client, course, tenant, learner_user
):
    lab = course.modules.get().labs.get()
    enroll(learner_client, course)
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    learner_client.post(reverse("courses:sandbox-leave"))
    sandbox = sandbox_get(tenant=tenant, user=learner_user)

    failed = check_step(learner_client, course)
    assert "Not yet:" in failed and "You have not imported a catalog file" in failed
    assert not LabStepCompletion.all_tenants.exists()

    imported_into(sandbox, products=60)
    passed = check_step(learner_client, course)

    assert "Done:" in passed and "60 products" in passed
    assert LabStepCompletion.all_tenants.filter(enrollment__membership__user=learner_user).count() == 1


def passed_in_sandbox(client, course, tenant, user) -> str:
    """Enroll, import 60 products into the sandbox and check the step: the page right after."""
    lab = course.modules.get().labs.get()
    enroll(client, course)
    client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    client.post(reverse("courses:sandbox-leave"))
    imported_into(sandbox_get(tenant=tenant, user=user), products=60)
    return check_step(client, course)


def test_a_step_that_just_passed_says_what_the_check_saw_once(learner_client, course, tenant, learner_user):
    passed = passed_in_sandbox(learner_client, course, tenant, learner_user)

    assert passed.count("Your import of mine.csv brought 60 products.") == 1
    assert "Done:" in passed
    lab = course.modules.get().labs.get()
    again = learner_client.get(reverse("courses:lab", args=[course.pk, lab.pk])).content.decode()
    assert again.count("Your import of mine.csv brought 60 products.") == 1 and "Done:" not in again


def test_a_step_checked_in_english_says_what_the_check_saw_in_chinese_to_a_chinese_reader(
    learner_client, course, tenant, learner_user
):
    passed_in_sandbox(learner_client, course, tenant, learner_user)  # in English
    lab = course.modules.get().labs.get()

    page = learner_client.get(reverse("courses:lab", args=[course.pk, lab.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    with translation.override("zh-hans"):
        in_chinese = translation.gettext("Your import of %(file)s brought %(count)d products.") % {
            "file": "mine.csv", "count": 60,
        }
    assert in_chinese in page.content.decode()
    assert "Your import of mine.csv" not in page.content.decode()


def test_a_step_passed_before_messages_were_kept_untranslated_shows_the_message_it_stored(
    learner_client, course, tenant, learner_user
):
    passed_in_sandbox(learner_client, course, tenant, learner_user)
    LabStepCompletion.all_tenants.update(message="Stored long ago.", message_id="", message_params={})
    lab = course.modules.get().labs.get()

    page = learner_client.get(reverse("courses:lab", args=[course.pk, lab.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "Stored long ago." in page.content.decode()


def test_the_certificate_waits_for_the_lab_as_well_as_the_lessons_and_the_quiz(
    learner_client, course, tenant, learner_user
):
    quiz, _by_kind = questions(course)
    lab = course.modules.get().labs.get()
    enroll(learner_client, course)
    for lesson in course.modules.get().lessons.all():
        learner_client.post(reverse("courses:lesson-complete", args=[course.pk, lesson.pk]))
    learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), right_answers_post(course))
    assert not Certificate.all_tenants.exists()

    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    learner_client.post(reverse("courses:sandbox-leave"))
    imported_into(sandbox_get(tenant=tenant, user=learner_user), products=50)
    check_step(learner_client, course)

    certificate = Certificate.all_tenants.get()
    assert certificate.learner_name == "Mei Lin"
    assert certificate.code in learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()


def test_another_learners_sandbox_work_does_not_pass_my_step(learner_client, course, tenant, member_with_role):
    lab = course.modules.get().labs.get()
    enroll(learner_client, course)
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    learner_client.post(reverse("courses:sandbox-leave"))
    colleague_sandbox = sandbox_for(tenant=tenant, user=member_with_role(Role.ANALYST))
    imported_into(colleague_sandbox, products=80)

    assert "Not yet:" in check_step(learner_client, course)


def test_resetting_the_sandbox_keeps_the_steps_already_checked(learner_client, course, tenant, learner_user):
    lab = course.modules.get().labs.get()
    enroll(learner_client, course)
    learner_client.post(reverse("courses:sandbox-open", args=[course.pk, lab.pk]))
    learner_client.post(reverse("courses:sandbox-leave"))
    sandbox = sandbox_get(tenant=tenant, user=learner_user)
    imported_into(sandbox, products=50)
    check_step(learner_client, course)

    learner_client.post(reverse("courses:sandbox-reset", args=[course.pk, lab.pk]))

    assert not ProductImport.all_tenants.filter(tenant=sandbox).exists()
    assert LabStepCompletion.all_tenants.count() == 1


def test_resetting_without_a_sandbox_is_404(learner_client, course):
    lab = course.modules.get().labs.get()

    assert learner_client.post(reverse("courses:sandbox-reset", args=[course.pk, lab.pk])).status_code == 404


def test_leaving_a_sandbox_from_a_live_store_is_404(learner_client):
    assert learner_client.post(reverse("courses:sandbox-leave")).status_code == 404


def test_switching_into_another_learners_sandbox_is_404(learner_client, tenant, member_with_role):
    colleague_sandbox = sandbox_for(tenant=tenant, user=member_with_role(Role.ANALYST))

    response = learner_client.post(reverse("tenant-switch"), {"tenant_id": colleague_sandbox.pk})

    assert response.status_code == 404


# After the author changes the course


def test_a_course_passed_by_an_authors_change_offers_its_certificate(learner_client, tenant, learner_user):
    course = CourseFactory(tenant=tenant, title="Our returns policy")
    module = ModuleFactory(course=course, position=1)
    first = LessonFactory(module=module, position=1)
    second = LessonFactory(module=module, position=2)
    enroll(learner_client, course)
    learner_client.post(reverse("courses:lesson-complete", args=[course.pk, first.pk]))
    second.delete()  # the author removed the lesson the learner had not read
    assert "Get my certificate" in learner_client.get(reverse("courses:detail", args=[course.pk])).content.decode()

    learner_client.post(reverse("courses:certificate-claim", args=[course.pk]))

    assert Certificate.all_tenants.filter(enrollment__membership__user=learner_user).exists()


def test_claiming_a_certificate_not_earned_issues_nothing(learner_client, course):
    enroll(learner_client, course)

    learner_client.post(reverse("courses:certificate-claim", args=[course.pk]))

    assert not Certificate.all_tenants.exists()


def test_unpublishing_a_course_hides_it_from_new_learners_but_not_from_enrolled_ones(
    learner_client, client, tenant, member_with_role
):
    course = CourseFactory(tenant=tenant, title="Our returns policy")
    lesson = LessonFactory(module=ModuleFactory(course=course, position=1), position=1)
    enroll(learner_client, course)
    course.published = False
    course.save()

    assert learner_client.get(reverse("courses:lesson", args=[course.pk, lesson.pk])).status_code == 200
    assert "Our returns policy" in learner_client.get(reverse("courses:list")).content.decode()
    newcomer = client.__class__()
    newcomer.force_login(member_with_role(Role.ANALYST))
    assert newcomer.get(reverse("courses:detail", args=[course.pk])).status_code == 404
    assert newcomer.post(reverse("courses:enroll", args=[course.pk])).status_code == 404


def test_an_attempt_answered_before_a_question_changed_kind_still_shows(learner_client, course):
    quiz, by_kind = questions(course)
    enroll(learner_client, course)
    attempt_url = learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), right_answers_post(course)).url
    multiple = by_kind["multiple"]
    multiple.choices.all().delete()
    multiple.kind, multiple.numeric_answer = QuestionKind.NUMERIC, 3.0  # as a curriculum reload may do
    multiple.save()

    response = learner_client.get(attempt_url)

    assert response.status_code == 200


def feedback_rows(page: str) -> dict[str, tuple[str, str]]:
    """prompt → (right or wrong, "Your answer" as shown), for each question of a feedback page."""
    rows = re.findall(
        r'<li class="question (right|wrong)"[^>]*>\s*<p><strong>(.*?)</strong>.*?Your answer: (.*?)</p>', page, re.DOTALL
    )
    return {html.unescape(prompt): (verdict, html.unescape(answer)) for verdict, prompt, answer in rows}


def an_author_edits_the_quiz(course):
    """A new numeric answer, a picked right choice deleted, and a question added."""
    quiz, by_kind = questions(course)
    by_kind["numeric"].numeric_answer = 6000
    by_kind["numeric"].save()
    by_kind["multiple"].choices.get(text="Recall@10").delete()
    QuestionFactory(quiz=quiz, position=5, prompt="Added after the attempt?")


def test_a_past_attempt_shows_what_was_graded_after_the_author_changes_an_answer_and_deletes_a_choice(
    learner_client, course
):
    quiz, _by_kind = questions(course)
    enroll(learner_client, course)
    attempt_url = learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), right_answers_post(course)).url
    an_author_edits_the_quiz(course)

    page = learner_client.get(attempt_url).content.decode()

    assert feedback_rows(page) == {
        "Which is ranked?": ("right", "The whole catalog"),
        "Which are metrics?": ("right", "NDCG@10; Recall@10"),
        "LoRA trains every weight.": ("right", "False"),
        "Parameters of a rank-8 LoRA on 384×384?": ("right", "6144"),
    }
    assert "Right answer: 6144" in page  # the key it was graded by, not today's 6000


def test_an_attempt_stored_before_grading_was_kept_reads_a_full_score_as_every_answer_right(learner_client, course):
    quiz, _by_kind = questions(course)
    enroll(learner_client, course)
    attempt_url = learner_client.post(reverse("courses:quiz", args=[course.pk, quiz.pk]), right_answers_post(course)).url
    attempt = QuizAttempt.all_tenants.get()
    bare = {key: record["answer"] for key, record in attempt.answers.items()}  # as attempts were stored before
    QuizAttempt.all_tenants.filter(pk=attempt.pk).update(answers=bare)
    an_author_edits_the_quiz(course)

    rows = feedback_rows(learner_client.get(attempt_url).content.decode())

    assert {verdict for verdict, _answer in rows.values()} == {"right"}
    assert rows["Which are metrics?"] == ("right", "NDCG@10; a choice removed since")
    assert "Added after the attempt?" not in rows


def test_with_no_course_a_manager_learns_the_platforms_courses_are_not_loaded_and_a_learner_does_not(
    client, merchant_user, learner
):
    client.force_login(merchant_user)
    page = client.get(reverse("courses:list")).content.decode()
    assert "No course is published yet." in page and "python manage.py load_curriculum" in page
    client.force_login(learner.user)
    page = client.get(reverse("courses:list")).content.decode()
    assert "No course is published yet." in page and "load_curriculum" not in page
