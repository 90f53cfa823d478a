"""The base of every tenant API view: resolves the tenant and sets the scope.

Subclasses do not override `get_queryset` to find the tenant: the scope is set
here, once, for the whole request, and the tenant-scoped managers read it.
"""
from urllib.parse import urlsplit

from django.http import JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from tenants.models import MANAGING_ROLES, ApiKey, ApiKeyKind, Membership, Role
from tenants.scope import reset_current_tenant, set_current_tenant
from tenants.selectors import membership_for_session
from tenants.web import LEARNER_REFUSED


class OriginNotAllowed(exceptions.PermissionDenied):
    """A publishable key sent from a page whose origin its tenant does not allow."""

    def __init__(self, detail, *, origin: str) -> None:
        super().__init__(detail)
        self.origin = origin


class TenantApiView(APIView):
    # Browsers hold publishable keys: only views that say so accept them.
    publishable_key_allowed = False
    # Session members whose role may read, and write (POST, PUT, PATCH, DELETE); a learner of a real
    # store neither, whatever the view says (Membership.can_read_store_data).
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

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, OriginNotAllowed):
            # The refused page's script may read why, or its developer sees only a bare CORS
            # failure. The refusal holds nothing of the tenant's. corsheaders adds no header for
            # an origin that no tenant allows; the preflight was let through (tenants.cors).
            response["Access-Control-Allow-Origin"] = exc.origin
            patch_vary_headers(response, ["Origin"])
        return response

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
        if not membership.can_read_store_data:
            # As on the pages (tenants.web.member_required): a learner of a real store reads none of
            # its data; in their sandbox they are its owner. API keys are the store's, not a person's.
            raise exceptions.PermissionDenied(LEARNER_REFUSED)
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
        """A publishable key works only from its own tenant's pages. The preflight, which
        carries no key, let any origin through (tenants.cors). Without an Origin the caller is
        no browser (a server, curl): no check, since the header would be just as easy to leave
        out as to forge. The platform's own pages (the API docs' "Try it out") are the
        platform's, not a third party's: allowed."""
        origin = request.headers.get("origin")
        if not origin or origin in tenant.allowed_origins or _is_platform_origin(request, origin):
            return
        raise OriginNotAllowed(
            _(
                "This publishable key may not be used from %(origin)s. If that is your storefront, "
                "add it to the allowed web origins on the API keys page of your merchant account."
            )
            % {"origin": origin},
            origin=origin,
        )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_platform_origin(request, origin: str) -> bool:
    """Whether `origin` is the one this request was sent to: a page of the platform itself. The
    host is Django's, checked against ALLOWED_HOSTS, and the scheme request.scheme (behind the
    proxy, SECURE_PROXY_SSL_HEADER's): a browser sets Host from the URL it calls and Origin from
    the calling page, so another site's page cannot make them agree."""
    own = _origin_parts(f"{request.scheme}://{request.get_host()}")
    return own is not None and _origin_parts(origin) == own


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port), the default port filled in; None for what is no web origin."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port out of range, a malformed IPv6 host
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.hostname, port


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
