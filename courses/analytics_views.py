"""The course analytics pages, for the tenant's owners and admins: each course's numbers, and one
member's progress. Scores, never answers (see courses.analytics)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from courses.analytics import course_stats_list, member_display_name, member_get, member_list, member_progress
from tenants.models import Membership
from tenants.web import member_required


@member_required(manage=True)
def analytics_view(request: HttpRequest) -> HttpResponse:
    members = [(member, member_display_name(member)) for member in member_list(tenant=request.tenant)]
    context = {"courses": course_stats_list(tenant=request.tenant), "members": members}
    return render(request, "courses/analytics.html", context)


@member_required(manage=True)
def analytics_member_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    try:
        membership = member_get(tenant=request.tenant, membership_id=membership_id)
    except Membership.DoesNotExist:
        raise Http404 from None
    context = {
        "member": membership,
        "member_name": member_display_name(membership),
        "reports": member_progress(tenant=request.tenant, membership=membership),
    }
    return render(request, "courses/analytics_member.html", context)
