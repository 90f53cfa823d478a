import zoneinfo

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from tenants.scope import tenant_scope
from tenants.selectors import membership_for_session


class ActiveTenantMiddleware:
    """For the web UI: the logged-in user's active tenant, as `request.tenant`,
    with the tenant scope and the store's time zone set for the rest of the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _in_the_admin(request):
            # Staff-only and across tenants by design (tenants/admin.py): no store's scope, which
            # row-level security would hold the admin's reads to.
            request.membership = request.tenant = None
            return self.get_response(request)
        membership = membership_for_session(request) if request.user.is_authenticated else None
        request.membership = membership
        request.tenant = membership.tenant if membership else None
        if request.tenant is None:
            return self.get_response(request)
        try:
            timezone.activate(zoneinfo.ZoneInfo(request.tenant.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # the service refuses these; a row set by hand
            timezone.deactivate()
        try:
            with tenant_scope(request.tenant):
                return self.get_response(request)
        finally:
            timezone.deactivate()  # the next request on this thread may be another store's


def _in_the_admin(request) -> bool:
    try:
        return request.path_info.startswith(reverse("admin:index"))
    except NoReverseMatch:  # a URLconf without the admin
        return False
