"""The members page: an owner or admin adds colleagues by email, sets their roles, takes them out;
and the page where a new colleague sets their password."""
from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tenants.models import Membership, Role
from tenants.services import member_add, member_password_link, member_remove, member_role_set
from tenants.web import member_required


class MemberAddForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Email"), max_length=150)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.ANALYST)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)


ROLE_HELP = {
    Role.OWNER: gettext_lazy("Everything, including making and removing owners."),
    Role.ADMIN: gettext_lazy("Manages the catalog, models, experiments, keys and members; not owners."),
    Role.ANALYST: gettext_lazy("Reads the catalog, models, experiments and their results; takes courses."),
    Role.LEARNER: gettext_lazy("Takes courses and their labs, in a sandbox of the store."),
}


def _form_errors_from(error: ValidationError, form: forms.Form) -> None:
    for field, reasons in error.message_dict.items():
        form.add_error(field if field in form.fields else None, reasons)


@never_cache  # a new colleague's password link is on it, once
@member_required(manage=True)
def member_list_view(request):
    form = MemberAddForm(request.POST or None)
    added = None
    if request.method == "POST" and form.is_valid():
        try:
            added = member_add(
                tenant=request.tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                by=request.membership,
            )
        except ValidationError as error:
            _form_errors_from(error, form)
        else:
            form = MemberAddForm()
            if added.password_link is None:
                messages.success(request, _("%(email)s is now a member.") % {"email": added.membership.user.email})
    members = Membership.objects.select_related("user").order_by("created_at", "pk")
    return render(request, "tenants/members.html", {
        "form": form,
        "added": added,
        "password_url": request.build_absolute_uri(added.password_link) if added and added.password_link else "",
        "members": [
            {"membership": member, "password_pending": not member.user.has_usable_password()}
            for member in members
        ],
        "roles": [(value, label, ROLE_HELP[value]) for value, label in Role.choices],
        "role_choices": Role.choices,
    })


def _membership_or_404(membership_id: int) -> None:
    # Through the tenant scope: another store's member is a 404, as everywhere.
    if not Membership.objects.filter(pk=membership_id).exists():
        raise Http404


@require_POST
@member_required(manage=True)
def member_role_view(request, membership_id: int):
    _membership_or_404(membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("members")
    try:
        membership = member_role_set(
            tenant=request.tenant, membership_id=membership_id, role=form.cleaned_data["role"],
            by=request.membership,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(email)s is now %(role)s.") % {
            "email": membership.user.email or membership.user.username, "role": membership.get_role_display(),
        })
    return redirect("members")


@require_POST
@member_required(manage=True)
def member_remove_view(request, membership_id: int):
    _membership_or_404(membership_id)
    try:
        membership = member_remove(tenant=request.tenant, membership_id=membership_id, by=request.membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(email)s is no longer a member.") % {
            "email": membership.user.email or membership.user.username,
        })
        if membership_id == request.membership.pk:  # they left: this store's pages are closed to them now
            return redirect("dashboard")
    return redirect("members")


@never_cache
@require_POST
@member_required(manage=True)
def member_password_link_view(request, membership_id: int):
    """A new link for a colleague who has not set their password yet (the first one expired)."""
    _membership_or_404(membership_id)
    membership = Membership.objects.select_related("user").get(pk=membership_id)
    link = member_password_link(membership.user)
    if link is None:
        messages.error(request, _(
            "No link: this member has a password already, or also belongs to another store, whose owners "
            "or admins can make them one."
        ))
        return redirect("members")
    return render(request, "tenants/member_password_link.html", {
        "member": membership, "password_url": request.build_absolute_uri(link),
    })


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """Where a new colleague chooses their password, from the link a manager handed them."""

    template_name = "tenants/password_set.html"
    success_url = reverse_lazy("login")
    reset_url_token = "set-password"

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is set: log in with your email address and your new password."))
        return response
