"""The members page: an owner or admin invites colleagues by email, sets their roles, takes them
out; and the page where an invited colleague joins, with a new account or their own."""
import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, password_validation
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, send_mail
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from tenants.models import Invitation, Membership, Role, Tenant
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY
from tenants.services import (
    invitation_accept,
    invitation_account,
    invitation_from_token,
    invitation_revoke,
    member_invite,
    member_remove,
    member_role_set,
)
from tenants.web import member_required

logger = logging.getLogger(__name__)


class MemberInviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Email"), max_length=150)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.ANALYST)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)


class NewAccountForm(forms.Form):
    password1 = forms.CharField(
        label=gettext_lazy("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=gettext_lazy("The same password again"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                # The validators that compare with the account's attributes see the address.
                password_validation.validate_password(first, user=_Unsaved(self.email))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class _Unsaved:
    """What Django's password validators read of an account not made yet."""

    def __init__(self, email: str):
        self.username = self.email = email


ROLE_HELP = {
    Role.OWNER: gettext_lazy("Everything, including making and removing owners."),
    Role.ADMIN: gettext_lazy("Manages the catalog, models, experiments, keys and members; not owners."),
    Role.ANALYST: gettext_lazy("Reads the catalog, models, experiments and their results; takes courses."),
    Role.LEARNER: gettext_lazy(
        "Takes courses, and does their labs in a sandbox of their own (a sample of the store's products "
        "and events); sees none of the store's own data."
    ),
}


def _form_errors_from(error: ValidationError, form: forms.Form) -> None:
    for field, reasons in error.message_dict.items():
        form.add_error(field if field in form.fields else None, reasons)


@never_cache  # an invitation's link is on it, once
@member_required(manage=True)
def member_list_view(request):
    if request.tenant.sandbox_of_id is not None:
        # Its one member is its learner, and no one can be let in (tenants.services._tenant_locked).
        return render(request, "tenants/members_sandbox.html", {
            "members": Membership.objects.select_related("user").order_by("created_at", "pk"),
        })
    form = MemberInviteForm(request.POST or None)
    issued = invitation_url = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = member_invite(
                tenant=request.tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                by=request.membership,
            )
        except ValidationError as error:
            _form_errors_from(error, form)
        else:
            form = MemberInviteForm()
            invitation_url = request.build_absolute_uri(reverse("invitation", args=[issued.token]))
            if settings.INVITATIONS_BY_EMAIL:
                _invitation_email(request, issued, invitation_url)
                invitation_url = None  # it went to the address alone
    return render(request, "tenants/members.html", {
        "form": form,
        "issued": issued,
        "invitation_url": invitation_url,
        "members": Membership.objects.select_related("user").order_by("created_at", "pk"),
        "invitations": Invitation.objects.order_by("-created_at"),
        "roles": [(value, label, ROLE_HELP[value]) for value, label in Role.choices],
        # Only owners make or change owners: an admin is offered the roles they may give.
        "role_choices": [
            (value, label) for value, label in Role.choices
            if value != Role.OWNER or request.membership.role == Role.OWNER
        ],
        "manages_owners": request.membership.role == Role.OWNER,
    })


def _invitation_email(request, issued, url: str) -> None:
    """Send the invitation to its address; one that cannot be sent is revoked, never shown
    instead (the manager holding it could accept it for a new address themselves)."""
    invitation = issued.invitation
    context = {
        "store": request.tenant.display_name, "role": invitation.get_role_display(), "url": url,
        "inviter": request.user.email or request.user.username,
    }
    subject = _("Join %(store)s on the recommendation platform") % {"store": context["store"]}
    try:
        send_mail(subject, render_to_string("tenants/email/invitation.txt", context), None, [invitation.email])
    except (OSError, BadHeaderError):
        logger.exception("invitation %s: the email could not be sent", invitation.pk)
        invitation_revoke(tenant=request.tenant, invitation_id=invitation.pk, by=request.membership)
        messages.error(request, _("The invitation email could not be sent, so the invitation was withdrawn. Try again later."))
    else:
        messages.success(request, _("The invitation is on its way to %(email)s.") % {"email": invitation.email})


def _in_this_store(model, object_id: int) -> None:
    # Through the tenant scope: another store's row is a 404, as everywhere.
    if not model.objects.filter(pk=object_id).exists():
        raise Http404


def _carried_out(request, change, said):
    """Make `change()`; say what was done (`said(result)`), or why it was refused, as a message.
    Returns the result, or None when refused."""
    try:
        done = change()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return None
    messages.success(request, said(done))
    return done


def _name_of(membership: Membership) -> str:
    return membership.user.email or membership.user.username


@require_POST
@member_required(manage=True)
def member_role_view(request, membership_id: int):
    _in_this_store(Membership, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("members")
    _carried_out(
        request,
        lambda: member_role_set(
            tenant=request.tenant, membership_id=membership_id, role=form.cleaned_data["role"],
            by=request.membership,
        ),
        lambda membership: _("%(email)s is now %(role)s.") % {
            "email": _name_of(membership), "role": membership.get_role_display(),
        },
    )
    return redirect("members")


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def member_remove_view(request, membership_id: int):
    """GET: what removing the member deletes with them, and the button; POST: remove them."""
    _in_this_store(Membership, membership_id)
    if request.method == "GET":
        membership = Membership.objects.select_related("user").get(pk=membership_id)
        refused = _removal_refused(request.membership, membership)
        if refused:
            # Said now, rather than after a confirmation that promised the removal.
            messages.error(request, refused)
            return redirect("members")
        return _member_remove_confirm(request, membership)
    removed = _carried_out(
        request,
        lambda: member_remove(tenant=request.tenant, membership_id=membership_id, by=request.membership),
        lambda membership: _("%(email)s is no longer a member.") % {"email": _name_of(membership)},
    )
    if removed is not None and membership_id == request.membership.pk:
        return redirect("dashboard")  # they left: this store's pages are closed to them now
    return redirect("members")


def _removal_refused(by: Membership, membership: Membership) -> str:
    """Why member_remove would refuse, as it says it; "" when it would not. The service decides
    again, under the lock."""
    if membership.role != Role.OWNER:
        return ""
    if by.role != Role.OWNER:
        return _("Only an owner can change or remove an owner.")
    if not Membership.objects.filter(role=Role.OWNER).exclude(pk=membership.pk).exists():
        return _("The store needs an owner: make someone else owner first.")
    return ""


def _member_remove_confirm(request, membership: Membership):
    from courses.models import Certificate, Enrollment

    # What goes with the membership (the enrollments hang on it), said before, as course deletion
    # says it; and what stays: the certificates, public proofs that outlive the enrollment.
    certificates = Certificate.objects.filter(enrollment__membership=membership).count()
    consequences = [_("Their account stays, with their other stores. In this store they lose access.")]
    enrollments = Enrollment.objects.filter(membership=membership).count()
    if enrollments:
        consequences.append(ngettext(
            "Their progress and quiz scores in the %(count)d course they started here are deleted.",
            "Their progress and quiz scores in the %(count)d courses they started here are deleted.",
            enrollments,
        ) % {"count": enrollments})
    if certificates:
        consequences.append(ngettext(
            "Their %(count)d certificate stays valid at its public link.",
            "Their %(count)d certificates stay valid at their public links.",
            certificates,
        ) % {"count": certificates})
    if Tenant.objects.filter(sandbox_of=request.tenant, sandbox_owner=membership.user).exists():
        consequences.append(_("Their sandbox store of this store is deleted, with everything they did in it."))
    return render(request, "_confirm.html", {
        "question": _("Remove %(email)s from %(store)s?") % {"email": _name_of(membership), "store": request.tenant.name},
        "consequences": consequences,
        "action": _("Remove"),
        "back": reverse("members"),
    })


@require_POST
@member_required(manage=True)
def invitation_revoke_view(request, invitation_id: int):
    _in_this_store(Invitation, invitation_id)
    _carried_out(
        request,
        lambda: invitation_revoke(tenant=request.tenant, invitation_id=invitation_id, by=request.membership),
        lambda invitation: _("The invitation of %(email)s is revoked: its link no longer works.") % {
            "email": invitation.email,
        },
    )
    return redirect("members")


@never_cache
@sensitive_post_parameters("password1", "password2")
def invitation_view(request, token: str):
    """Where an invited colleague joins. An address with no account chooses its password here; an
    existing account must be logged in as itself: holding the link alone joins no account."""
    invitation = invitation_from_token(token)
    if invitation is None:
        return render(request, "tenants/invitation.html", {"expired": True}, status=404)
    account = invitation_account(invitation)
    context = {"invitation": invitation, "account_exists": account is not None}
    if account is None:
        form = NewAccountForm(request.POST or None, email=invitation.email)
        context["form"] = form
        if request.user.is_authenticated:
            # Creating the account switches the session to it: say so before, not after.
            context["switches_from"] = request.user.email or request.user.get_username()
        if request.method == "POST" and form.is_valid():
            return _joined(request, invitation, user=None, password=form.cleaned_data["password1"])
    elif request.user.is_authenticated and request.user.pk == account.pk:
        context["may_accept"] = True
        if request.method == "POST":
            return _joined(request, invitation, user=request.user)
    elif request.user.is_authenticated:
        context["wrong_account"] = True
    return render(request, "tenants/invitation.html", context)


def _joined(request, invitation: Invitation, *, user, password: str | None = None):
    try:
        membership = invitation_accept(invitation=invitation, user=user, password=password)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("dashboard" if request.user.is_authenticated else "login")
    if user is None:
        login(request, membership.user, backend="tenants.backends.CaseInsensitiveUsernameBackend")
    request.session[ACTIVE_TENANT_SESSION_KEY] = membership.tenant_id  # straight into the store joined
    messages.success(request, _("Welcome to %(store)s: you joined as %(role)s.") % {
        "store": membership.tenant.display_name, "role": membership.get_role_display(),
    })
    return redirect("dashboard")
