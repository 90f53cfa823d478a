"""Writes on tenants, members and API keys."""
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from tenants.models import KEY_KIND_TAGS, ApiKey, ApiKeyKind, Membership, Role, Tenant
from tenants.scope import tenant_scope

User = get_user_model()

# last_used_at is written at most this often per key, to keep writes off hot paths.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """An API key as it is shown once: the stored row and the full secret."""

    api_key: ApiKey
    key: str


@transaction.atomic
def tenant_create(*, slug: str, name: str = "", owner_email: str, owner_password: str | None = None) -> Tenant:
    """Create a tenant and its owner (an existing user with that email, or a new one)."""
    if slug != slugify(slug):
        raise ValidationError({"slug": _("Use lowercase letters, digits and hyphens only.")})
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": _("A tenant with this slug already exists.")})
    tenant = Tenant.objects.create(slug=slug, name=name or slug)
    owner = User.objects.filter(email__iexact=owner_email).first()
    if owner is None:
        owner = User.objects.create_user(username=owner_email, email=owner_email, password=owner_password)
    elif owner_password:
        owner.set_password(owner_password)
        owner.save(update_fields=["password"])
    membership_add(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


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
        ApiKey.all_tenants.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
