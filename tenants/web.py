"""Guards for the merchant UI's views."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _


def member_required(view=None, *, manage: bool = False):
    """The user is logged in and works in a tenant (the scope is set by the
    middleware). With `manage=True`, only owners and admins may enter."""

    def decorate(view_func):
        @login_required
        @wraps(view_func)
        def guarded(request, *args, **kwargs):
            if request.membership is None:
                return render(request, "tenants/no_tenant.html", status=403)
            if manage and not request.membership.can_manage:
                raise PermissionDenied(_("Only owners and admins can do this."))
            return view_func(request, *args, **kwargs)

        return guarded

    return decorate(view) if view is not None else decorate
