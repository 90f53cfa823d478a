import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from tenants.scope import TenantOwned, TenantScopedManager


def _new_shopper_secret() -> str:
    return secrets.token_hex(32)


class Tenant(models.Model):
    """A merchant: the unit of isolation. Not itself tenant-owned."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    # Key of the HMAC that pseudonymises shopper ids; never leaves the server.
    shopper_id_secret = models.CharField(max_length=64, default=_new_shopper_secret, editable=False)
    # Publishable keys sit in browsers, so anyone may send any shopper id with them; a list that
    # leaves out what a shopper bought hints at what they bought. With this on, a publishable key's
    # personalised request must carry the id's signature (`shopper_signature`), which only the
    # merchant's server can make with `shopper_signing_key`. Unlike shopper_id_secret, that key is
    # shown to the tenant's owners and admins, and can be replaced.
    shopper_signatures_required = models.BooleanField(
        _("require signed shopper ids from publishable keys"), default=False
    )
    shopper_signing_key = models.CharField(max_length=64, default=_new_shopper_secret, editable=False)
    # A fine-tuned version that beats the live one on validation goes live by itself.
    auto_promote_models = models.BooleanField(_("promote better models automatically"), default=True)
    # The tenant's base encoder folder; empty: the platform's default (settings.TRAINING_BASE_MODEL).
    base_model_path = models.CharField(_("base model folder"), max_length=500, blank=True)
    # A grocer wants re-buys recommended; a furniture shop does not.
    recommend_purchased = models.BooleanField(_("recommend products a shopper already bought"), default=False)
    # Web origins ("https://shop.example.com") whose pages may call the API with a publishable key.
    allowed_origins = models.JSONField(_("allowed web origins"), default=list, blank=True)
    # The slug of a course (either language) whose certificate a member must hold to promote a
    # model or start an experiment; blank: no certificate needed. See courses.gating.
    required_certificate_course_slug = models.SlugField(
        _("certificate required to promote models and start experiments"), max_length=80, blank=True
    )
    # A learner's copy of a store for course labs (courses.labs.sandbox): labs change its
    # state, never the store's. Null for a real store.
    sandbox_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="sandboxes"
    )
    sandbox_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Where the store's day starts and ends: the events per day, the dashboard, the experiments'
    # daily charts and every time shown to its members (tenants.middleware activates it).
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # One sandbox per learner per store: two calls racing to create it get the same one.
            models.UniqueConstraint(
                fields=["sandbox_of", "sandbox_owner"],
                condition=models.Q(sandbox_of__isnull=False),
                name="tenant_one_sandbox_per_learner_per_store",
            ),
        ]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """The name shown in the UI: a sandbox's says so in the reader's language (its stored name
        is in the language of whoever opened it)."""
        if self.sandbox_of_id is None:
            return self.name
        return _("%(store)s (sandbox)") % {"store": self.sandbox_of.name}

    @property
    def staff_label(self) -> str:
        """The name platform staff see: a sandbox's names its learner too, as every learner of a
        store has one and staff must tell whose is using the workers."""
        if self.sandbox_of_id is None:
            return self.name
        learner = self.sandbox_owner.email if self.sandbox_owner_id else "—"
        return _("%(store)s (sandbox of %(learner)s)") % {"store": self.sandbox_of.name, "learner": learner}

    def shopper_signature(self, shopper_id: str) -> str:
        """What the merchant's server sends as `shopper_signature`: hex HMAC-SHA256 of the shopper
        id (UTF-8) under `shopper_signing_key`."""
        return hmac.new(
            self.shopper_signing_key.encode(), shopper_id.encode(), hashlib.sha256
        ).hexdigest()

    def shopper_signature_matches(self, shopper_id: str, signature: str) -> bool:
        """Whether `signature` (hex, either case) is the shopper id's, compared in constant time.
        An empty key (a row the migration did not reach) would let anyone sign: it matches none."""
        if not self.shopper_signing_key:
            return False
        return hmac.compare_digest(signature.lower().encode(), self.shopper_signature(shopper_id).encode())

    def pseudonymise_shopper(self, shopper_id: str) -> str:
        """The stored stand-in for a shopper id: a keyed HMAC, so the raw id is never kept."""
        return hmac.new(
            self.shopper_id_secret.encode(), shopper_id.encode(), hashlib.sha256
        ).hexdigest()


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    ANALYST = "analyst", _("Analyst")
    LEARNER = "learner", _("Learner")


# Roles that may change the tenant's data and settings.
MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(TenantOwned):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant"),
        ]
        ordering = ["tenant_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES

    @property
    def can_read_store_data(self) -> bool:
        """Whether the member may read the store's data: its catalog, events, models, jobs,
        experiments and figures. A learner of a real store takes courses only (tenants.web); in
        their own sandbox, where they are the owner, they read and change everything."""
        return self.role != Role.LEARNER or self.tenant.sandbox_of_id is not None


# An invitation's link works this long; a new one can be made from the members page.
INVITATION_MAX_AGE = timedelta(days=7)


class Invitation(TenantOwned):
    """A colleague asked to join the store, until they accept with the link (tenants.services).

    Joining takes the link and the account: a new address chooses its password on the link's
    page; an existing account must be logged in to accept. So a manager who holds the link cannot
    attach anyone's account to the store, nor, having set up an address in advance, be attached
    to another store that invites it."""

    email = models.EmailField(_("email"), max_length=150)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    # The link's secret is shown once and kept only as its SHA-256, as API keys are. Indexed, not
    # unique on its own: every unique constraint includes the tenant (DESIGN.md, Citus); 256 random
    # bits do not collide.
    token_hash = models.CharField(max_length=64, db_index=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email"], name="invitation_unique_email_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "token_hash"], name="invitation_unique_token_per_tenant"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} @ {self.tenant_id} ({self.role})"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + INVITATION_MAX_AGE

    @property
    def expired(self) -> bool:
        """Its link no longer works (tenants.services.invitation_from_token); it stays listed."""
        return self.expires_at < timezone.now()


class ApiKeyKind(models.TextChoices):
    SECRET = "secret", _("Secret (server side)")
    PUBLISHABLE = "publishable", _("Publishable (browsers)")


# What a key shows before its random part, so a merchant can tell them apart.
KEY_KIND_TAGS = {ApiKeyKind.SECRET: "sk", ApiKeyKind.PUBLISHABLE: "pk"}


class TenantScopedApiKeyManager(APIKeyManager, TenantScopedManager):
    """The library's key handling (create_key, get_from_key), inside the tenant scope."""


class CrossTenantApiKeyManager(APIKeyManager):
    """Finds a presented key in any tenant: the key is what tells us the tenant."""

    def get_usable_keys(self):
        return super().get_usable_keys().select_related("tenant")


class ApiKey(AbstractAPIKey, TenantOwned):
    """A tenant's API key, stored hashed by djangorestframework-api-key.

    The full key is shown once, at creation. Keys look like `sk_<prefix>.<secret>`
    or `pk_<prefix>.<secret>`; the prefix stays visible to tell keys apart.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=ApiKeyKind.choices)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantScopedApiKeyManager()
    all_tenants = CrossTenantApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    @property
    def display_prefix(self) -> str:
        return f"{KEY_KIND_TAGS[self.kind]}_{self.prefix}"
