"""Writes on tenants, members and API keys."""
import hashlib
import re
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from tenants.cors import allowed_origins_cache_clear
from tenants.models import (
    KEY_KIND_TAGS,
    MANAGING_ROLES,
    ApiKey,
    ApiKeyKind,
    Invitation,
    Membership,
    Role,
    Tenant,
)
from tenants.scope import outside_tenant_scope, tenant_scope

User = get_user_model()

# last_used_at is written at most this often per key, to keep writes off hot paths.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """An API key as it is shown once: the stored row and the full secret."""

    api_key: ApiKey
    key: str


@transaction.atomic
def tenant_create(
    *, slug: str, name: str = "", owner_email: str, owner_password: str | None = None, time_zone: str = "UTC"
) -> Tenant:
    """Create a tenant and its owner (an existing user with that email, or a new one).

    A new owner without `owner_password` has an unusable password: they cannot log in, and
    Django's password reset ignores such accounts, until someone sets one (`changepassword`).
    """
    owner_email = account_email_normalise(owner_email, field="owner_email")
    if slug != slugify(slug):
        raise ValidationError({"slug": _("Use lowercase letters, digits and hyphens only.")})
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": _("A tenant with this slug already exists.")})
    tenant = Tenant.objects.create(slug=slug, name=name or slug)
    if time_zone != tenant.time_zone:
        tenant_time_zone_set(tenant=tenant, time_zone=time_zone)
    owner = account_with_email(owner_email)
    if owner is None:
        owner = User.objects.create_user(username=owner_email, email=owner_email, password=owner_password)
    elif owner_password:
        owner.set_password(owner_password)
        owner.save(update_fields=["password"])
    membership_add(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


def account_email_normalise(email: str, *, field: str = "email") -> str:
    """`email` as the accounts the platform makes store it, as both username and email: in lower
    case, so that tools which match the username exactly (`manage.py changepassword`) find the
    address as people type it, and two accounts never differ by case alone. Logging in matches
    regardless of case (tenants.backends), so accounts made before this still log in.
    Raises ValidationError naming `field`."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({field: _("Enter a valid email address.")}) from error
    if not email.isascii():
        # Unicode look-alikes (the long s of "ſam", the Kelvin sign) lower-case or normalise into
        # another address's spelling: an account name that collides with, or shadows, another.
        raise ValidationError({field: _("Write the address in plain ASCII letters.")})
    return email.lower()


def account_with_email(email: str):
    """The account of `email` in any case (by email, else by username), the oldest if several."""
    return (
        User.objects.filter(email__iexact=email).order_by("pk").first()
        or User.objects.filter(username__iexact=email).order_by("pk").first()
    )


@transaction.atomic
def tenant_allowed_origins_set(*, tenant: Tenant, origins: list[str]) -> Tenant:
    """Replace the web origins whose pages may use the tenant's publishable keys.

    Each origin is stored as browsers send it in `Origin`, so that a plain string
    comparison decides. One bad origin stores nothing, and every bad one is named.
    """
    normalised, errors = [], []
    for value in (origin.strip() for origin in origins):
        if not value:
            continue
        try:
            normalised.append(_origin_normalise(value))
        except ValidationError as error:
            errors.extend(error.messages)
    if errors:
        raise ValidationError({"allowed_origins": errors})
    tenant.allowed_origins = list(dict.fromkeys(normalised))
    tenant.save(update_fields=["allowed_origins"])
    # After the commit: a request in between would put the old origins back in the cache.
    transaction.on_commit(allowed_origins_cache_clear)
    return tenant


def tenant_shopper_signatures_set(*, tenant: Tenant, required: bool) -> Tenant:
    """Whether a publishable key's personalised requests must carry `shopper_signature`."""
    tenant.shopper_signatures_required = bool(required)
    tenant.save(update_fields=["shopper_signatures_required"])
    return tenant


def time_zone_names() -> list[str]:
    """The IANA zones this machine knows ("Asia/Shanghai"), sorted; the store's is one of them."""
    return sorted(zoneinfo.available_timezones() - {"localtime"})


def tenant_time_zone_set(*, tenant: Tenant, time_zone: str) -> Tenant:
    """The zone the store's days and times are in. Raises ValidationError naming the field."""
    if time_zone not in zoneinfo.available_timezones() or time_zone == "localtime":
        raise ValidationError({"time_zone": _("Not a time zone; choose one such as Asia/Shanghai or Europe/Berlin.")})
    tenant.time_zone = time_zone
    tenant.save(update_fields=["time_zone"])
    return tenant


def tenant_shopper_signing_key_rotate(*, tenant: Tenant) -> Tenant:
    """A new shopper signing key, for a key that leaked: every signature made with the old one
    stops working at once, so the merchant's servers need the new key first."""
    tenant.shopper_signing_key = Tenant._meta.get_field("shopper_signing_key").get_default()
    tenant.save(update_fields=["shopper_signing_key"])
    return tenant


_ORIGIN_DEFAULT_PORTS = {"http": 80, "https": 443}
_origin_url_validator = URLValidator(schemes=list(_ORIGIN_DEFAULT_PORTS))


def _origin_normalise(value: str) -> str:
    """`value` as a browser's `Origin`: scheme and host in lower case, the host in
    punycode, no default port, no trailing slash. Raises ValidationError naming it."""
    scheme, separator, rest = value.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise ValidationError(
            _("“%(origin)s” has no scheme: write it as https://%(origin)s.") % {"origin": value}
        )
    if scheme not in _ORIGIN_DEFAULT_PORTS:
        raise ValidationError(_("“%(origin)s” must start with https:// or http://.") % {"origin": value})
    netloc, tail = re.match(r"([^/?#]*)(.*)", rest, re.DOTALL).groups()
    if tail not in ("", "/"):
        raise ValidationError(
            _("“%(origin)s” has a path, query or fragment: an origin is only the scheme, host and port, "
              "like https://shop.example.com.") % {"origin": value}
        )
    invalid = ValidationError(
        _("“%(origin)s” is not a valid origin: give the scheme, the host and, if not the default, "
          "the port, like https://shop.example.com:8443.") % {"origin": value}
    )
    if not netloc or "@" in netloc:
        raise invalid
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
        host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
    except (ValueError, UnicodeError):
        raise invalid
    if not host:
        raise invalid
    origin = f"{scheme}://[{host}]" if ":" in host else f"{scheme}://{host}"
    if port is not None and port != _ORIGIN_DEFAULT_PORTS[scheme]:
        origin = f"{origin}:{port}"
    try:
        _origin_url_validator(origin)
    except ValidationError:
        raise invalid
    return origin


def membership_add(*, tenant: Tenant, user, role: str) -> Membership:
    with tenant_scope(tenant):
        membership, _created = Membership.objects.update_or_create(user=user, defaults={"role": role})
    return membership


def api_key_issue(*, tenant: Tenant, kind: str, name: str, created_by=None) -> IssuedKey:
    """Create a key; the returned `key` is the only time the full secret exists in clear."""
    if kind not in ApiKeyKind.values:
        raise ValidationError({"kind": _("Unknown key kind %(kind)s.") % {"kind": kind}})
    if not name.strip():
        raise ValidationError({"name": _("Give the key a name.")})
    with tenant_scope(tenant):
        api_key, raw_key = ApiKey.objects.create_key(
            tenant=tenant, kind=kind, name=name.strip()[:50], created_by=created_by
        )
    return IssuedKey(api_key=api_key, key=f"{KEY_KIND_TAGS[kind]}_{raw_key}")


def api_key_revoke(*, tenant: Tenant, prefix: str) -> ApiKey:
    with tenant_scope(tenant):
        api_key = ApiKey.objects.get(prefix=prefix)
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


def api_key_mark_used(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        with tenant_scope(api_key.tenant):  # whatever scope the request is in, the key is its tenant's
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


# --- Members: who works in the store, and in which role ---------------------------------------


@dataclass(frozen=True)
class InvitationIssued:
    """An invitation as it is made: the row, and its link's secret, which exists only now."""

    invitation: Invitation
    token: str


def _tenant_locked(tenant: Tenant) -> Tenant:
    # Changes to the members are made one at a time per store, so two at once cannot both
    # see another owner left and leave none.
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.sandbox_of_id is not None:
        # A sandbox holds a copy of its store's catalog and shoppers for one learner's labs: whoever
        # it let in would see the store's data without the store's owners letting them in.
        raise ValidationError(_(
            "A sandbox has one member, the learner whose labs it holds: invite colleagues to the store itself."
        ))
    return locked


def _acting(by: Membership) -> Membership:
    # Read again under the tenant lock: a manager demoted a moment ago acts with their new role.
    acting = Membership.objects.filter(pk=by.pk).first()
    if acting is None:
        raise ValidationError(_("You are no longer a member of this store."))
    return acting


def _member(membership_id: int) -> Membership:
    membership = Membership.objects.select_related("user").filter(pk=membership_id).first()
    if membership is None:  # removed by another manager a moment ago (the view's 404 came first)
        raise ValidationError(_("This member was removed meanwhile."))
    return membership


def _may_grant(by: Membership, role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    if role == Role.OWNER and by.role != Role.OWNER:
        raise ValidationError({"role": _("Only an owner can make someone an owner.")})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def member_invite(*, tenant: Tenant, email: str, role: str, by: Membership) -> InvitationIssued:
    """Invite a colleague by email, with a role; inviting the same address again replaces the
    earlier invitation (and its link)."""
    email = account_email_normalise(email)
    _tenant_locked(tenant)
    with tenant_scope(tenant):
        by = _acting(by)
        _may_grant(by, role)
        already = Membership.objects.filter(user__email__iexact=email).exists() or Membership.objects.filter(
            user__username__iexact=email
        ).exists()
        if already:
            raise ValidationError({"email": _("%(email)s is already a member.") % {"email": email}})
        earlier = Invitation.objects.filter(email=email).first()
        if earlier is not None and earlier.role == Role.OWNER and by.role != Role.OWNER:
            raise ValidationError({"role": _("Only an owner can change or remove an owner.")})
        Invitation.objects.filter(email=email).delete()
        token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            email=email, role=role, token_hash=_token_hash(token), invited_by=by.user
        )
    return InvitationIssued(invitation=invitation, token=token)


@transaction.atomic
def invitation_revoke(*, tenant: Tenant, invitation_id: int, by: Membership) -> Invitation:
    _tenant_locked(tenant)
    with tenant_scope(tenant):
        invitation = Invitation.objects.filter(pk=invitation_id).first()
        if invitation is None:
            raise ValidationError(_("This invitation was accepted or revoked meanwhile."))
        if invitation.role == Role.OWNER and _acting(by).role != Role.OWNER:
            raise ValidationError({"role": _("Only an owner can change or remove an owner.")})
        invitation.delete()
    return invitation


def invitation_from_token(token: str) -> Invitation | None:
    """The invitation a link names, if it is still open (not accepted, revoked or too old).
    Across tenants by design: the link is all the visitor has, and names one store's row."""
    with outside_tenant_scope():  # the visitor may be in their own store's scope
        invitation = (
            Invitation.all_tenants.select_related("tenant").filter(token_hash=_token_hash(token)).first()
        )
    if invitation is None or invitation.expired:
        return None
    return invitation


def invitation_account(invitation: Invitation):
    """The account of the invited address, if there is one."""
    return account_with_email(invitation.email)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user=None, password: str | None = None) -> Membership:
    """Join the store: as `user`, who must be the invited address's account, logged in; or, when
    that address has no account yet, as a new account with `password`."""
    tenant = _tenant_locked(invitation.tenant)
    with tenant_scope(tenant):
        invitation = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if invitation is None:
            raise ValidationError(_("This invitation was accepted or revoked meanwhile."))
        inviter = Membership.objects.filter(user_id=invitation.invited_by_id).first()
        if inviter is None or not _may_still_grant(inviter, invitation.role):
            # Removed or demoted since: their links must not bring them, or anyone, back in.
            invitation.delete()
            raise ValidationError(_(
                "This invitation no longer holds: whoever sent it can no longer invite. Ask the store for a new one."
            ))
        account = invitation_account(invitation)
        if user is None:
            if account is not None:
                raise ValidationError(_("An account with this address exists: log in to accept."))
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        username=invitation.email, email=invitation.email, password=password
                    )
            except IntegrityError as error:  # made a moment ago, through another store's invitation
                raise ValidationError(_("An account with this address exists: log in to accept.")) from error
        elif account is None or account.pk != user.pk:
            raise ValidationError(
                _("This invitation is for %(email)s: log in as that account to accept it.")
                % {"email": invitation.email}
            )
        membership, _created = Membership.objects.get_or_create(user=user, defaults={"role": invitation.role})
        invitation.delete()
    return membership


def _may_still_grant(inviter: Membership, role: str) -> bool:
    return inviter.role in MANAGING_ROLES and (role != Role.OWNER or inviter.role == Role.OWNER)


def _other_owner_left(membership: Membership) -> bool:
    return Membership.objects.filter(role=Role.OWNER).exclude(pk=membership.pk).exists()


def _may_change(by: Membership, membership: Membership) -> None:
    if membership.role == Role.OWNER and by.role != Role.OWNER:
        raise ValidationError({"role": _("Only an owner can change or remove an owner.")})


@transaction.atomic
def member_role_set(*, tenant: Tenant, membership_id: int, role: str, by: Membership) -> Membership:
    """Give a member another role. The store keeps at least one owner."""
    _tenant_locked(tenant)
    with tenant_scope(tenant):
        membership = _member(membership_id)
        by = _acting(by)
        _may_grant(by, role)
        _may_change(by, membership)
        if membership.role == Role.OWNER and role != Role.OWNER and not _other_owner_left(membership):
            raise ValidationError({"role": _("The store needs an owner: make someone else owner first.")})
        membership.role = role
        membership.save(update_fields=["role"])
        _invitations_they_can_no_longer_send(membership).delete()
    return membership


def _invitations_they_can_no_longer_send(membership: Membership):
    sent = Invitation.objects.filter(invited_by_id=membership.user_id)
    if membership.pk is None or membership.role not in MANAGING_ROLES:
        return sent
    return sent.filter(role=Role.OWNER) if membership.role != Role.OWNER else sent.none()


@transaction.atomic
def member_remove(*, tenant: Tenant, membership_id: int, by: Membership) -> Membership:
    """Take a member out of the store (their account stays, and any other store's membership).

    Their course enrollments go with the membership; their certificates stay, valid at their
    public links (courses.models.Certificate).
    """
    _tenant_locked(tenant)
    with tenant_scope(tenant):
        membership = _member(membership_id)
        _may_change(_acting(by), membership)
        if membership.role == Role.OWNER and not _other_owner_left(membership):
            raise ValidationError({"role": _("The store needs an owner: make someone else owner first.")})
        membership.delete()  # its pk is None from here on: every invitation it sent goes
        _invitations_they_can_no_longer_send(membership).delete()
    return membership
