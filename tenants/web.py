"""Guards for the merchant UI's views."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Why a learner of a real store is refused its data, on a page (member_required) or through the
# session API (TenantApiView): what they may do instead, and who can change it.
LEARNER_REFUSED = gettext_lazy(
    "Learners take courses, and do their labs in a sandbox of their own: this store's data is not open "
    "to them. An owner or admin can give you the analyst role to read it."
)


def member_required(view=None, *, manage: bool = False, learners: bool = False):
    """The user is logged in and works in a tenant (the scope is set by the
    middleware). With `manage=True`, only owners and admins may enter.

    A learner of a real store may enter only views that say `learners=True` (their courses, their
    way into their sandbox and back, the dashboard): every other page shows the store's data, so a
    new view is closed to them unless it opts in. In their sandbox they are its owner."""

    def decorate(view_func):
        @login_required
        @wraps(view_func)
        def guarded(request, *args, **kwargs):
            if request.membership is None:
                return render(request, "tenants/no_tenant.html", status=403)
            # First: a learner on a managers' page is told what the analyst role would not give them.
            if manage and not request.membership.can_manage:
                raise PermissionDenied(_("Only owners and admins can do this."))
            if not learners and not request.membership.can_read_store_data:
                raise PermissionDenied(LEARNER_REFUSED)
            return view_func(request, *args, **kwargs)

        return guarded

    return decorate(view) if view is not None else decorate
