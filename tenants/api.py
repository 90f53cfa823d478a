"""The base of every tenant API view: resolves the tenant and sets the scope.

Subclasses do not override `get_queryset` to find the tenant: the scope is set
here, once, for the whole request, and the tenant-scoped managers read it.
"""
from django.http import JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from tenants.models import MANAGING_ROLES, ApiKey, ApiKeyKind, Membership, Role
from tenants.scope import reset_current_tenant, set_current_tenant
from tenants.selectors import membership_for_session


class TenantApiView(APIView):
    # Browsers hold publishable keys: only views that say so accept them.
    publishable_key_allowed = False
    # Session members whose role may read, and write (POST, PUT, PATCH, DELETE).
    read_roles = frozenset(Role.values)
    write_roles = MANAGING_ROLES

    def dispatch(self, request, *args, **kwargs):
        # Whatever scope this request sets is undone when it ends. Not by running
        # it in a copied context: Django keeps its cache connections in
        # context-local storage, and a copy would open a new Redis connection
        # for every request.
        token = set_current_tenant(None)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            reset_current_tenant(token)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.tenant, request.membership = self._resolve_tenant(request)
        set_current_tenant(request.tenant)

    def _resolve_tenant(self, request):
        if isinstance(request.auth, ApiKey):
            if request.auth.kind == ApiKeyKind.PUBLISHABLE and not self.publishable_key_allowed:
                raise exceptions.PermissionDenied(
                    _("A publishable key cannot call this endpoint; use a secret key from your server.")
                )
            if request.auth.kind == ApiKeyKind.PUBLISHABLE:
                self._check_origin(request, request.auth.tenant)
            return request.auth.tenant, None
        membership: Membership | None = membership_for_session(request._request)
        if membership is None:
            raise exceptions.PermissionDenied(_("You are not a member of any tenant."))
        roles = self.read_roles if request.method in permissions.SAFE_METHODS else self.write_roles
        if membership.role not in roles:
            raise exceptions.PermissionDenied(
                _("Your role (%(role)s) cannot do this.") % {"role": membership.get_role_display()}
            )
        return membership.tenant, membership

    @staticmethod
    def shopper_signatures_required(request) -> bool:
        """Whether a shopper id this request sends needs its signature: a publishable key (anyone
        can read it from a page) of a store that requires signed shopper ids. A secret key or a
        member's session is the merchant itself."""
        publishable = isinstance(request.auth, ApiKey) and request.auth.kind == ApiKeyKind.PUBLISHABLE
        return publishable and request.tenant.shopper_signatures_required

    @staticmethod
    def _check_origin(request, tenant) -> None:
        """A publishable key works only from its own tenant's pages. The preflight
        let the origin through because some tenant allows it, not necessarily this
        one. Without an Origin the caller is no browser (a server, curl): no check,
        since the header would be just as easy to leave out as to forge."""
        origin = request.headers.get("origin")
        if origin and origin not in tenant.allowed_origins:
            raise exceptions.PermissionDenied(
                _(
                    "This publishable key may not be used from %(origin)s. If that is your storefront, "
                    "add it to the allowed web origins on the API keys page of your merchant account."
                )
                % {"origin": origin}
            )


@csrf_exempt  # as DRF's views are: a POST to a mistyped path is a 404, not a CSRF failure page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any path under /api/ that no endpoint has: a 404 with a `detail` in the request's language,
    like the API's other errors, not the merchant UI's HTML page, which a storefront's code cannot
    read. Every method, and no key needed: the path is wrong whoever asks."""
    message = gettext("There is no API endpoint at this path. The endpoints are listed at %(docs)s.")
    if request.path_info.endswith("/"):
        # Django and DRF habits add a trailing slash; ours take none.
        try:
            match = resolve(request.path_info.rstrip("/"))
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            message = gettext("There is no API endpoint at this path. Leave out the trailing slash: %(path)s")
    path = request.path.rstrip("/")
    return JsonResponse({"detail": message % {"docs": reverse("api-docs"), "path": path}}, status=404)
