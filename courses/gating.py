"""Gating: a tenant may require a course certificate before a member promotes a model or starts
an experiment.

The tenant names a course *slug* (Tenant.required_certificate_course_slug), not a course: the
same course exists once per language (see courses.models), and a certificate of either language
satisfies the requirement. The check is per membership: a certificate counts only in the tenant
that issued it, whoever the user is elsewhere, and platform staff are not exempt.

The services that gate (training.services.versions.model_version_promote,
experiments.services.experiment_start) call `certificate_requirement_check` with the acting
user, and raise `CertificateRequired`; the API turns it into a 403 and the UI into a message
with a link to the course (courses.gating_views).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils.translation import get_language, get_supported_language_variant
from django.utils.translation import gettext as _

from courses.models import Certificate, Course
from courses.selectors import course_list_visible
from tenants.models import Tenant


class CertificateRequired(Exception):
    """The acting member holds no certificate of the course the tenant requires.

    `course` is the course to take, in the member's language when it exists; None when the
    slug names no published course the tenant can see, so nobody can meet the requirement
    until an owner or admin changes it.
    """

    code = "certificate_required"

    def __init__(self, message: str, *, course: Course | None):
        super().__init__(message)
        self.message = message
        self.course = course


def _ui_language() -> str:
    """The request's language as one of settings.LANGUAGES ("en", "zh-hans")."""
    try:
        return get_supported_language_variant(get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def _courses_with_slug(*, tenant: Tenant, slug: str) -> QuerySet[Course]:
    # The tenant's own course before the platform's: a tenant that wrote its own version of a
    # course meant its members to take that one.
    return (
        course_list_visible(tenant=tenant)
        .filter(slug=slug)
        .order_by(F("tenant").asc(nulls_last=True), "language", "id")
    )


def required_course_to_take(*, tenant: Tenant, slug: str) -> Course | None:
    """The published course with `slug` that the tenant sees, in the UI language if it
    exists in it, else in any language; None when there is none at all."""
    courses = _courses_with_slug(tenant=tenant, slug=slug)
    return courses.filter(language=_ui_language()).first() or courses.first()


def course_url(course: Course) -> str:
    """The learner's page of the course (a path), where the member takes it."""
    return reverse("courses:detail", kwargs={"course_id": course.pk})


def certificate_held(*, tenant: Tenant, user, slug: str) -> bool:
    """Whether `user`, as a member of `tenant`, holds a certificate of a course with `slug`.

    Only certificates issued in this tenant count: the user's certificates from another
    tenant belong to that membership. A course unpublished since the certificate was
    earned still counts: the learner did pass it.
    """
    if user is None or not user.is_authenticated:
        return False
    return Certificate.objects.filter(
        tenant=tenant,
        enrollment__membership__tenant=tenant,
        enrollment__membership__user=user,
        enrollment__course__in=course_list_visible(tenant=tenant, include_unpublished=True).filter(slug=slug),
    ).exists()


def certificate_requirement_check(*, tenant: Tenant, user) -> None:
    """Raise CertificateRequired unless the tenant requires no certificate, or `user` holds one.

    A requirement that names no published course cannot be met: it blocks with a message that
    says so, rather than letting everyone through, since a typo or a retired course must not
    quietly switch the gate off. The caller runs inside the tenant's scope.
    """
    slug = tenant.required_certificate_course_slug
    if not slug or certificate_held(tenant=tenant, user=user, slug=slug):
        return
    course = required_course_to_take(tenant=tenant, slug=slug)
    if course is None:
        raise CertificateRequired(
            _(
                "Your store requires the certificate of the course “%(slug)s”, but no such "
                "course is available. Ask an owner or an admin to change the certificate requirement."
            )
            % {"slug": slug},
            course=None,
        )
    raise CertificateRequired(
        _(
            "Your store requires the certificate of the course “%(title)s” before you promote a "
            "model or start an experiment. Pass the course, then try again."
        )
        % {"title": course.title},
        course=course,
    )


def requirement_course_choices(*, tenant: Tenant) -> list[tuple[str, str]]:
    """(slug, title) of each published course the tenant sees, one per slug, ordered by title.

    The title is the one of the course a member would be sent to take: in the UI language
    when the course exists in it, the tenant's own before the platform's.
    """
    language = _ui_language()
    courses = sorted(
        course_list_visible(tenant=tenant),
        key=lambda course: (course.language != language, course.tenant_id is None, course.pk),
    )
    titles: dict[str, str] = {}
    for course in courses:
        titles.setdefault(course.slug, course.title)
    return sorted(titles.items(), key=lambda choice: (choice[1].casefold(), choice[0]))


@transaction.atomic
def tenant_certificate_requirement_set(*, tenant: Tenant, course_slug: str) -> Tenant:
    """Require the certificate of the course with `course_slug`; an empty slug requires none.

    The slug must name a published course the tenant sees, in either language. Raises
    ValidationError on `course_slug` otherwise. Who may call this (owners and admins) is the
    view's to decide.
    """
    course_slug = (course_slug or "").strip()
    if course_slug and not course_list_visible(tenant=tenant).filter(slug=course_slug).exists():
        raise ValidationError(
            {"course_slug": _("No published course has the slug “%(slug)s”: choose one from the list.")
             % {"slug": course_slug}}
        )
    tenant.required_certificate_course_slug = course_slug
    tenant.save(update_fields=["required_certificate_course_slug"])
    return tenant
