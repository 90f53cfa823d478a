"""The public side of courses: a certificate anyone can verify with its code."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from courses.models import Certificate
from courses.selectors import certificate_get_by_code_across_tenants


@require_GET
def certificate_verify(request: HttpRequest, code: str) -> HttpResponse:
    """No login: the code is the key. Shows the learner's name, the course, the date and who issued
    it, nothing else.

    The issuer is the course's author: the platform for a platform course, the store for a store's
    own course, as recorded at issue (Certificate.issued_by_store): the page reads nothing through the
    enrollment, which goes when its member leaves the store. A store may title its course as the
    platform titles one; the issuer tells them apart.
    For a platform course the learner's store stays unnamed, as it is nobody's business where they work.
    """
    try:
        certificate = certificate_get_by_code_across_tenants(code=code)
    except Certificate.DoesNotExist:
        raise Http404 from None
    response = render(request, "courses/certificate.html", {
        "certificate": certificate,
        "issuing_store": certificate.tenant if certificate.issued_by_store else None,  # None: the platform
    })
    # A verification page is not a page to index: the code travels by link, not by search.
    response["X-Robots-Tag"] = "noindex"
    return response
