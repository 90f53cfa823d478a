"""The public side of courses: a certificate anyone can verify with its code."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from courses.models import Certificate
from courses.selectors import certificate_get_by_code_across_tenants


@require_GET
def certificate_verify(request: HttpRequest, code: str) -> HttpResponse:
    """No login: the code is the key. Shows the learner's name, the course and the date, nothing else."""
    try:
        certificate = certificate_get_by_code_across_tenants(code=code)
    except Certificate.DoesNotExist:
        raise Http404 from None
    response = render(request, "courses/certificate.html", {"certificate": certificate})
    # A verification page is not a page to index: the code travels by link, not by search.
    response["X-Robots-Tag"] = "noindex"
    return response
