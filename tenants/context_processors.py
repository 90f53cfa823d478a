def active_tenant(request) -> dict:
    """The active tenant and the others the user may switch to, for the layout."""
    return {
        "active_membership": getattr(request, "membership", None),
        "user_memberships": getattr(request, "_cached_memberships", []),
    }
