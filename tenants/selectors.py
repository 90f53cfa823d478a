"""Reads on tenants, members and API keys."""
from tenants.models import KEY_KIND_TAGS, ApiKey, Membership
from tenants.scope import outside_tenant_scope


def memberships_of_user(*, user) -> list[Membership]:
    """Every tenant a user belongs to: cross-tenant by nature (the tenant switcher)."""
    if not user.is_authenticated:
        return []
    with outside_tenant_scope():  # asked inside the active store's scope, about every store
        return list(Membership.all_tenants.filter(user=user).select_related("tenant").order_by("tenant__name"))


def api_key_from_presented(presented: str) -> ApiKey | None:
    """The usable key matching what a client sent, or None. Looks across tenants:
    the key is what tells us the tenant."""
    tag, _, raw_key = presented.partition("_")
    kind = next((kind for kind, known_tag in KEY_KIND_TAGS.items() if known_tag == tag), None)
    if kind is None or not raw_key:
        return None
    try:
        with outside_tenant_scope():  # a logged-in member's store scope may be set (a DRF view of ours)
            api_key = ApiKey.all_tenants.get_from_key(raw_key)
    except ApiKey.DoesNotExist:
        return None
    if api_key.kind != kind or api_key.has_expired:
        return None
    return api_key


ACTIVE_TENANT_SESSION_KEY = "active_tenant_id"


def membership_for_session(request) -> Membership | None:
    """The membership a logged-in user works in now: the one chosen in the
    tenant switcher, else their first. None for anonymous users and non-members."""
    if not hasattr(request, "_cached_memberships"):
        request._cached_memberships = memberships_of_user(user=request.user)
    memberships = request._cached_memberships
    if not memberships:
        return None
    active_id = request.session.get(ACTIVE_TENANT_SESSION_KEY)
    return next((m for m in memberships if m.tenant_id == active_id), memberships[0])
