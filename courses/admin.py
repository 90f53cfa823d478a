"""The curriculum in the admin, for platform staff, who write the platform courses (tenant NULL).

The admin is staff-only and cross-tenant by design. Courses are read through `Course.all_tenants`:
`Course.objects` shows the courses visible to a tenant scope, and platform staff work in none.
For the same reason nothing here lists or filters by course through Django's default manager
(a related-field filter or select would): modules are picked by id (raw_id_fields).

A platform course loaded from courses/curriculum/ is reloaded from its files by load_curriculum:
a change made here that the files do not repeat is undone by the next load.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance
from django.utils.translation import gettext_lazy as _

from courses.models import Choice, Course, Lab, LabStep, Lesson, Module, Question, Quiz


class CourseAdminForm(forms.ModelForm):
    class Meta:
        model = Course
        fields = ("tenant", "slug", "language", "title", "summary", "pass_mark", "published")

    def clean_pass_mark(self) -> float:
        pass_mark = self.cleaned_data["pass_mark"]
        if not 0 <= pass_mark <= 1:
            raise forms.ValidationError(_("The pass mark is a share from 0 to 1: 0.7 is 70%."))
        return pass_mark

    def _post_clean(self) -> None:
        # ModelForm._post_clean without the model's constraints: Django validates its unique
        # constraints through Course.objects, which raises outside a tenant scope, and platform
        # staff work in none. clean_pass_mark and validate_unique check the same rules instead.
        try:
            self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
            self.instance.full_clean(
                exclude=self._get_validation_exclusions(), validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            self._update_errors(error)
        if self._validate_unique:
            self.validate_unique()

    def validate_unique(self) -> None:
        """One course per owner, slug and language, checked through `all_tenants`."""
        data = self.cleaned_data
        if "slug" not in data or "language" not in data:
            return
        same = Course.all_tenants.filter(slug=data["slug"], language=data["language"])
        same = same.exclude(pk=self.instance.pk).filter(tenant=data.get("tenant"))  # tenant=None: IS NULL
        if not same.exists():
            return
        if data.get("tenant") is None:
            self.add_error("slug", _("A platform course in this language already has this slug."))
        else:
            self.add_error("slug", _("This tenant already has a course with this slug in this language."))


class ModuleInline(admin.TabularInline):
    model = Module
    fields = ("position", "title")
    extra = 0
    show_change_link = False


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    form = CourseAdminForm
    inlines = (ModuleInline,)
    list_display = ("title", "slug", "language", "owner", "published", "created_at")
    list_filter = (("tenant", admin.EmptyFieldListFilter), "language", "published")
    search_fields = ("title", "slug")

    def get_queryset(self, request):
        return Course.all_tenants.select_related("tenant")

    @admin.display(description=_("owner"))
    def owner(self, course: Course) -> str:
        return str(course.tenant) if course.tenant_id else _("Platform")


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "module", "position", "estimated_minutes")
    list_select_related = ("module",)
    raw_id_fields = ("module",)
    search_fields = ("title", "module__title", "module__course__title")


class QuestionInline(admin.StackedInline):
    model = Question
    fields = (
        "position", "kind", "prompt", "weight", "correct_boolean", "numeric_answer", "numeric_tolerance",
        "explanation",
    )
    extra = 0
    show_change_link = True  # the choices are on the question's own page


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    inlines = (QuestionInline,)
    list_display = ("title", "module", "position", "weight", "attempts_allowed")
    list_select_related = ("module",)
    raw_id_fields = ("module", "lesson")
    search_fields = ("title", "module__title", "module__course__title")


class ChoiceInline(admin.TabularInline):
    model = Choice
    fields = ("position", "text", "is_correct")
    extra = 0


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    inlines = (ChoiceInline,)
    list_display = ("__str__", "quiz", "kind", "position")
    list_select_related = ("quiz",)
    list_filter = ("kind",)
    raw_id_fields = ("quiz",)
    search_fields = ("prompt", "quiz__title")


class LabStepInline(admin.TabularInline):
    model = LabStep
    fields = ("position", "title", "check_name", "instructions_markdown")
    extra = 0


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    inlines = (LabStepInline,)
    list_display = ("title", "module", "position")
    list_select_related = ("module",)
    raw_id_fields = ("module",)
    search_fields = ("title", "module__title", "module__course__title")
