"""The HTTP side of gating (courses.gating): the page where owners and admins set the course
whose certificate members need, and how a CertificateRequired is shown, as a UI message with a
link to the course and as the API's 403.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers, status
from rest_framework.response import Response

from courses.gating import (
    CertificateRequired,
    certificate_held,
    course_url,
    required_course_to_take,
    requirement_course_choices,
    tenant_certificate_requirement_set,
)
from tenants.web import member_required

# --- How a CertificateRequired is shown ------------------------------------------------------


def certificate_required_html(error: CertificateRequired) -> SafeString:
    """The message for the UI's messages framework: the text, escaped, and a link to the course
    (or to the requirement page, when the course is missing and only the setting can change)."""
    if error.course is None:
        return format_html(
            '{} <a href="{}">{}</a>', error.message, reverse("courses:requirement"),
            _("See the certificate requirement"),
        )
    return format_html(
        '{} <a href="{}">{}</a>', error.message, course_url(error.course), _("Go to the course")
    )


def certificate_required_message(request, error: CertificateRequired) -> None:
    messages.error(request, certificate_required_html(error))


class CertificateRequiredSerializer(serializers.Serializer):
    """The API's 403: the member's role may not do this, or the tenant requires a certificate
    that the member does not hold."""

    class CourseSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        slug = serializers.SlugField()
        title = serializers.CharField()
        url = serializers.URLField(
            help_text="The course's page in the merchant UI, where the member takes it."
        )

        class Meta:
            ref_name = "CertificateRequiredCourse"

    detail = serializers.CharField()
    # Absent from a 403 about the role, which has `detail` only.
    code = serializers.CharField(
        required=False, help_text="`certificate_required`: tells this 403 from one about the role."
    )
    course = CourseSerializer(
        required=False,
        allow_null=True,
        help_text="The course to pass, in the member's language when it exists. Null when the required "
        "course no longer exists: an owner or admin must change the requirement.",
    )

    class Meta:
        ref_name = "CertificateRequired"


CERTIFICATE_REQUIRED_DESCRIPTION = (
    "Your role may not do this (`detail` only), or the tenant requires a course certificate that you do "
    "not hold (`code` is `certificate_required`, and `course` names the course to pass)."
)
CERTIFICATE_REQUIRED_EXAMPLE = OpenApiExample(
    "A certificate is required",
    response_only=True,
    status_codes=["403"],
    value={
        "detail": "Your store requires the certificate of the course “Running A/B tests” before you promote "
        "a model or start an experiment. Pass the course, then try again.",
        "code": CertificateRequired.code,
        "course": {"id": 12, "slug": "ab-testing", "title": "Running A/B tests",
                   "url": "https://console.example.com/courses/12/"},
    },
)


def certificate_required_response(request, error: CertificateRequired) -> Response:
    course = None
    if error.course is not None:
        course = {
            "id": error.course.pk,
            "slug": error.course.slug,
            "title": error.course.title,
            # Absolute: an API client shows the link outside our pages.
            "url": request.build_absolute_uri(course_url(error.course)),
        }
    body = {"detail": error.message, "code": error.code, "course": course}
    return Response(body, status=status.HTTP_403_FORBIDDEN)


# --- The requirement page --------------------------------------------------------------------


class CertificateRequirementForm(forms.Form):
    """Types only: the service decides which slugs are allowed, and its error goes beside the field."""

    course_slug = forms.CharField(
        label=gettext_lazy("Required course"),
        required=False,
        max_length=80,
        widget=forms.Select,
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        # Per request: the courses the tenant sees, titled in the member's language.
        self.fields["course_slug"].widget.choices = [("", _("No requirement"))] + requirement_course_choices(
            tenant=tenant
        )


def _requirement_page(request, form: CertificateRequirementForm | None = None):
    tenant = request.tenant
    slug = tenant.required_certificate_course_slug
    course = required_course_to_take(tenant=tenant, slug=slug) if slug else None
    context = {
        "required_slug": slug,
        "course": course,
        "course_url": course_url(course) if course is not None else "",
        "certificate_held": bool(slug) and certificate_held(tenant=tenant, user=request.user, slug=slug),
        "form": form or CertificateRequirementForm(
            tenant=tenant, initial={"course_slug": slug if course is not None else ""}
        ),
    }
    return render(request, "courses/requirement.html", context)


@require_http_methods(["GET", "POST"])
@member_required(learners=True)
def certificate_requirement_view(request):
    """Every member sees the requirement (it may block them; learners included, as it names a course
    and whether they hold its certificate); owners and admins change it."""
    if request.method != "POST":
        return _requirement_page(request)
    if not request.membership.can_manage:
        raise PermissionDenied(_("Only owners and admins can do this."))
    form = CertificateRequirementForm(request.POST, tenant=request.tenant)
    if form.is_valid():
        try:
            tenant = tenant_certificate_requirement_set(
                tenant=request.tenant, course_slug=form.cleaned_data["course_slug"]
            )
        except ValidationError as error:
            for reason in error.message_dict.get("course_slug", error.messages):
                form.add_error("course_slug", reason)
        else:
            if tenant.required_certificate_course_slug:
                messages.success(
                    request,
                    _("From now on, members need this course's certificate to promote a model or start "
                      "an experiment."),
                )
            else:
                messages.success(request, _("No certificate is required any more."))
            return redirect("courses:requirement")
    return _requirement_page(request, form)
