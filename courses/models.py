"""Courses: Course → Module → Lesson, quizzes with their questions, and each learner's record.

Two kinds of table live here:

* The curriculum (Course, Module, Lesson, Quiz, Question, Choice). A course
  belongs to a tenant (`tenant` set: written by that tenant's admins) or to the
  platform (`tenant` NULL: written by platform staff and visible to every
  tenant). So Course is not TenantOwned; its `objects` manager shows the
  courses *visible* to the current tenant scope instead (see CourseQuerySet).
  Modules and below are reached through their course, never listed on their own.
* The learner's record (Enrollment, LessonCompletion, QuizAttempt,
  Certificate). These belong to the learner's tenant even when the course is a
  platform course, so they are TenantOwned like every other tenant row.

Language: each course is written in one language (`language`), the whole of
it: lessons, questions and choices too. Paired fields (`title_en`,
`title_zh_hans`) would have to be repeated on every text field down to each
choice, and a quiz graded against a half-translated pair drifts silently. The
same course in the other language is a second Course with the same slug; the
course list picks the one in the UI language (selectors.course_list_visible).
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from courses.markdown import markdown_to_safe_html
from tenants.scope import TenantOwned, current_tenant


def _new_certificate_code() -> str:
    # 16 random bytes: the code is the only thing that guards a public certificate page.
    return secrets.token_urlsafe(16)


class CourseQuerySet(models.QuerySet):
    def visible_to(self, tenant) -> "CourseQuerySet":
        """Platform courses (tenant NULL) and the tenant's own: never another tenant's."""
        return self.filter(Q(tenant__isnull=True) | Q(tenant=tenant))


class VisibleCourseManager(models.Manager.from_queryset(CourseQuerySet)):
    """Default manager: the courses visible to the current tenant scope; raises outside one.

    The counterpart of TenantScopedManager for a table whose rows may be shared
    by every tenant. Platform staff authoring platform courses, the admin and
    migrations use `Course.all_tenants`.
    """

    def get_queryset(self) -> CourseQuerySet:
        return super().get_queryset().visible_to(current_tenant())


class Course(models.Model):
    # Row-level security (tenants/rls.py): whose row this is; a NULL tenant is the platform's,
    # read by every tenant.
    tenant_path = "tenant"
    # NULL: a platform course, visible to every tenant.
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    slug = models.SlugField(_("slug"), max_length=80)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    # The course grade (weighted mean of each quiz's best score) needed for a certificate.
    pass_mark = models.FloatField(_("pass mark"), default=0.7)
    published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleCourseManager()
    all_tenants = models.Manager.from_queryset(CourseQuerySet)()

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            # Unique per owner; NULLs are distinct in a plain unique constraint, hence two.
            models.UniqueConstraint(
                fields=["tenant", "slug", "language"],
                condition=Q(tenant__isnull=False),
                name="course_unique_slug_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["slug", "language"],
                condition=Q(tenant__isnull=True),
                name="course_unique_slug_per_platform",
            ),
            models.CheckConstraint(
                condition=Q(pass_mark__gte=0) & Q(pass_mark__lte=1), name="course_pass_mark_range"
            ),
        ]
        verbose_name = _("course")
        verbose_name_plural = _("courses")

    def __str__(self) -> str:
        return self.title

    @property
    def is_platform_course(self) -> bool:
        return self.tenant_id is None


class Module(models.Model):
    tenant_path = "course__tenant"
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    position = models.PositiveSmallIntegerField(_("position"))
    title = models.CharField(_("title"), max_length=200)

    class Meta:
        ordering = ["course_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "position"], name="module_unique_position"),
        ]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    tenant_path = "module__course__tenant"
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="lessons")
    position = models.PositiveSmallIntegerField(_("position"))
    title = models.CharField(_("title"), max_length=200)
    body_markdown = models.TextField(_("body (Markdown)"), blank=True)
    estimated_minutes = models.PositiveSmallIntegerField(_("estimated minutes"), default=5)

    class Meta:
        ordering = ["module_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["module", "position"], name="lesson_unique_position"),
        ]

    def __str__(self) -> str:
        return self.title

    @cached_property
    def body_html(self) -> str:
        """The body rendered and sanitised (courses.markdown): safe to put in a page as is."""
        return mark_safe(markdown_to_safe_html(self.body_markdown))  # nh3 output: safe by construction


class Quiz(models.Model):
    """A quiz at the end of a module, or after one of its lessons (`lesson` set)."""
    tenant_path = "module__course__tenant"

    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="quizzes")
    lesson = models.ForeignKey(
        Lesson, null=True, blank=True, on_delete=models.CASCADE, related_name="quizzes"
    )
    # Order within the module; also how load_curriculum finds the quiz again on a reload.
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    title = models.CharField(_("title"), max_length=200)
    # Share of the course grade, relative to the other quizzes' weights.
    weight = models.FloatField(_("weight in the course grade"), default=1.0)
    attempts_allowed = models.PositiveSmallIntegerField(_("attempts allowed"), default=3)

    class Meta:
        ordering = ["module_id", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=0), name="quiz_weight_not_negative"),
            models.CheckConstraint(condition=Q(attempts_allowed__gte=1), name="quiz_attempts_allowed_positive"),
        ]
        verbose_name_plural = _("quizzes")

    def __str__(self) -> str:
        return self.title


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    TRUE_FALSE = "true_false", _("True or false")
    NUMERIC = "numeric", _("Numeric")


class Question(models.Model):
    tenant_path = "quiz__module__course__tenant"
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=16, choices=QuestionKind.choices)
    prompt = models.TextField(_("prompt"))
    weight = models.FloatField(_("weight"), default=1.0)
    # True/false questions: the right answer. Choice questions use Choice.is_correct.
    correct_boolean = models.BooleanField(_("correct answer"), null=True, blank=True)
    numeric_answer = models.FloatField(_("numeric answer"), null=True, blank=True)
    # An answer within ± tolerance of numeric_answer is right (rounding, units of measure).
    numeric_tolerance = models.FloatField(_("tolerance"), default=0)
    # Shown after an attempt: why the right answer is right. Learning happens here.
    explanation = models.TextField(_("explanation"), blank=True)

    class Meta:
        ordering = ["quiz_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "position"], name="question_unique_position"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="question_weight_positive"),
            models.CheckConstraint(
                condition=Q(numeric_tolerance__gte=0), name="question_tolerance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(kind="numeric", numeric_answer__isnull=False)
                | (~Q(kind="numeric") & Q(numeric_answer__isnull=True)),
                name="question_numeric_answer_iff_numeric",
            ),
            models.CheckConstraint(
                condition=Q(kind="true_false", correct_boolean__isnull=False)
                | (~Q(kind="true_false") & Q(correct_boolean__isnull=True)),
                name="question_correct_boolean_iff_true_false",
            ),
        ]

    def __str__(self) -> str:
        return self.prompt[:60]


class Choice(models.Model):
    tenant_path = "question__quiz__module__course__tenant"
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("text"), max_length=500)
    is_correct = models.BooleanField(_("correct"), default=False)

    class Meta:
        ordering = ["question_id", "position", "id"]

    def __str__(self) -> str:
        return self.text


class Lab(models.Model):
    """A hands-on lab at the end of a module: steps the learner does in their sandbox store."""
    tenant_path = "module__course__tenant"

    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="labs")
    position = models.PositiveSmallIntegerField(_("position"))
    title = models.CharField(_("title"), max_length=200)
    intro_markdown = models.TextField(_("introduction (Markdown)"), blank=True)

    class Meta:
        ordering = ["module_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["module", "position"], name="lab_unique_position"),
        ]

    def __str__(self) -> str:
        return self.title

    @cached_property
    def intro_html(self) -> str:
        return mark_safe(markdown_to_safe_html(self.intro_markdown))  # nh3 output: safe by construction


class LabStep(models.Model):
    """One thing to do in the sandbox, graded by the registered check it names
    (courses.labs.checks.LAB_CHECKS); `full_clean` refuses a name that is not registered."""
    tenant_path = "lab__module__course__tenant"

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    title = models.CharField(_("title"), max_length=200)
    instructions_markdown = models.TextField(_("instructions (Markdown)"), blank=True)
    check_name = models.CharField(_("check"), max_length=80)

    class Meta:
        ordering = ["lab_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "position"], name="lab_step_unique_position"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        from courses.labs.checks import LAB_CHECKS  # the registry imports the apps' models

        if self.check_name not in LAB_CHECKS:
            raise ValidationError(
                {"check_name": _("No lab check is named “%(name)s”; choose one of: %(names)s.")
                 % {"name": self.check_name, "names": ", ".join(sorted(LAB_CHECKS))}}
            )

    @cached_property
    def instructions_html(self) -> str:
        return mark_safe(markdown_to_safe_html(self.instructions_markdown))  # nh3 output: safe by construction


class Enrollment(TenantOwned):
    """A member of the tenant taking a course (a platform course or the tenant's own).

    The tenant is the membership's; the service checks the course is visible to it.
    """

    membership = models.ForeignKey(
        "tenants.Membership", on_delete=models.CASCADE, related_name="enrollments"
    )
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="enrollments")
    enrolled_at = models.DateTimeField(auto_now_add=True)
    # Set when the certificate is issued: every lesson done and the grade at the pass mark.
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "membership", "course"], name="enrollment_unique_per_membership"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} in {self.course_id}"


class LessonCompletion(TenantOwned):
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="lesson_completions")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+")
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "enrollment", "lesson"], name="lesson_completion_once"),
        ]


class QuizAttempt(TenantOwned):
    """One submission of a quiz. `answers` are the learner's own: only they may read them
    (selectors.quiz_attempt_list_for_learner); managers see scores only."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="quiz_attempts")
    quiz = models.ForeignKey(Quiz, on_delete=models.PROTECT, related_name="+")
    # 1 for the first attempt at this quiz in this enrollment, 2 for the second...
    number = models.PositiveSmallIntegerField()
    # {"<question id>": {"answer": the answer as validated by services.quiz_attempt_submit,
    #   "right": whether it earned the question's credit, and the question as graded: "position",
    #   "prompt", "given" and "expected" (the answer and the right one as the feedback shows them,
    #   services.answer_as_shown)}}. Copied at submit, as a certificate's title is at issue: an author
    # who edits the question later (a new right answer, a choice removed) does not regrade the attempt
    # on screen, as they do not regrade its score. Attempts stored before these records were kept
    # hold the bare answers, {"<question id>": answer}: see `graded_per_question`.
    answers = models.JSONField()
    score = models.FloatField()
    passed = models.BooleanField()
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["enrollment_id", "quiz_id", "number"]
        constraints = [
            # The backstop of the attempt limit: two concurrent submissions cannot both be number n.
            models.UniqueConstraint(
                fields=["tenant", "enrollment", "quiz", "number"], name="quiz_attempt_unique_number"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="quiz_attempt_number_positive"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="quiz_attempt_score_range"),
        ]

    @property
    def graded_per_question(self) -> bool:
        """Whether `answers` holds each question as graded at submit, not only the bare answers
        (an older attempt's): a bare answer is a choice id, a list, true/false or a number, never an object."""
        return all(isinstance(entry, dict) for entry in self.answers.values())


class LabStepCompletion(TenantOwned):
    """A lab step whose check passed on the learner's sandbox. Kept when the sandbox is
    reset: the learner did the work, and the check's message says what it saw."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="lab_step_completions")
    step = models.ForeignKey(LabStep, on_delete=models.CASCADE, related_name="+")
    message = models.TextField()  # in the language the step was checked in
    # The message untranslated and its parameters, to show it in the reader's language. Empty in
    # a completion stored before they were kept: its message is shown as stored.
    message_id = models.TextField(blank=True)
    message_params = models.JSONField(default=dict, blank=True)
    passed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "enrollment", "step"], name="lab_step_completion_once"),
        ]

    @property
    def message_shown(self) -> str:
        """What the check saw, in the active language."""
        if not self.message_id:
            return self.message
        return gettext(self.message_id) % self.message_params


class Certificate(TenantOwned):
    """Proof that a learner passed a course, shown to anyone who has its code.

    Everything the public page shows is copied at issue (name, title, who issued it): the
    certificate states what was true that day, even if the course is renamed later, and it
    outlives the enrollment. A member removed from the store takes their enrollments with them,
    but what they learned stays proven: the certificate keeps its code and its tenant (the store
    it was earned in), and `enrollment` becomes NULL. Such a certificate belongs to nobody in the
    store any more: the learner's pages, the team's analytics and the certificate requirement
    (courses.gating) all reach certificates through a member's enrollments, so they leave it out;
    the dashboard's count of certificates issued (tenants.dashboard) keeps it: the store did issue it.
    """

    # NULL once the enrollment is deleted (its member removed from the store).
    enrollment = models.OneToOneField(
        Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="certificate"
    )
    code = models.CharField(max_length=32, unique=True, default=_new_certificate_code, editable=False)
    learner_name = models.CharField(_("learner"), max_length=200)
    course_title = models.CharField(_("course"), max_length=200)
    # The course was the store's own (`tenant` issued the certificate); False: a platform course,
    # issued by the platform. A store's course is visible to that store only, so its learners'
    # certificates always belong to the store that wrote it.
    issued_by_store = models.BooleanField(default=False)
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.code
