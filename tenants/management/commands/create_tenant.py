"""`manage.py create_tenant SLUG --owner EMAIL`: a new merchant, ready to call the API.

For ops and scripts (the ingest benchmark reads `--json`). The keys are shown
once: only their hashes are stored.
"""
import json
import shlex

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.models import ApiKeyKind, Membership, Role
from tenants.scope import tenant_scope
from tenants.services import account_with_email, api_key_issue, tenant_create


class Command(BaseCommand):
    help = "Create a tenant, its owner, and one secret and one publishable API key."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Short name in URLs: lowercase letters, digits and hyphens.")
        parser.add_argument("--owner", required=True, metavar="EMAIL", help="The owner's email (login).")
        parser.add_argument("--name", default="", help="Display name (default: the slug).")
        parser.add_argument(
            "--password",
            default=None,
            help="The owner's password. Without it a new owner cannot log in until one is set.",
        )
        parser.add_argument(
            "--time-zone", default="UTC", metavar="ZONE",
            help="Where the store's days begin and end, such as Asia/Shanghai (default: UTC).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help='Print only {"tenant", "secret_key", "publishable_key"} as JSON on stdout.',
        )

    def handle(self, *args, slug, owner, name, password, time_zone, as_json: bool, **options):
        try:
            validate_email(owner)
        except ValidationError as error:
            raise CommandError(f"--owner: {owner!r} is not an email address.") from error
        if password is not None:
            self._check_the_password(owner, password)
        try:
            # One transaction: a failure after the tenant exists (a key) leaves nothing behind.
            with transaction.atomic():
                tenant = tenant_create(
                    slug=slug, name=name, owner_email=owner, owner_password=password, time_zone=time_zone
                )
                secret = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server (create_tenant)")
                publishable = api_key_issue(
                    tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="browser (create_tenant)"
                )
        except ValidationError as error:
            raise CommandError(_validation_message(error)) from error

        with tenant_scope(tenant):
            owner_user = Membership.objects.select_related("user").get(role=Role.OWNER).user
        if as_json:
            payload = {"tenant": tenant.slug, "secret_key": secret.key, "publishable_key": publishable.key}
            self.stdout.write(json.dumps(payload))
            # On stderr: scripts read stdout as JSON, and a person still sees it.
            self._say_if_the_owner_cannot_log_in(owner_user, self.stderr)
            return
        self.stdout.write(self.style.SUCCESS(
            _("Created tenant %(slug)s (%(name)s), owner %(username)s.")
            % {"slug": tenant.slug, "name": tenant.name, "username": owner_user.username}
        ))
        self.stdout.write(_("API keys (shown once, store them now):"))
        labelled = [(_("secret key (server side):"), secret.key), (_("publishable key (browsers):"), publishable.key)]
        width = max(len(label) for label, _key in labelled)
        for label, key in labelled:
            self.stdout.write(f"  {label.ljust(width)} {key}")
        self._say_if_the_owner_cannot_log_in(owner_user, self.stdout)

    @staticmethod
    def _check_the_password(owner: str, password: str) -> None:
        """Before anything is made. An existing account keeps its password: the person logs in with
        it already, and replacing it from a command line would lock them out without a word. A new
        account's password meets the same rules as one chosen on the invitation page."""
        if account_with_email(owner) is not None:
            raise CommandError(
                f"--password: the account {owner} exists already and keeps its password; leave "
                "--password out (the account becomes this store's owner as it is), or change it with "
                f"`manage.py changepassword {owner}`."
            )
        try:
            validate_password(password, user=get_user_model()(username=owner, email=owner))
        except ValidationError as error:
            raise CommandError("--password: " + " ".join(error.messages)) from error

    def _say_if_the_owner_cannot_log_in(self, owner_user, out) -> None:
        # A new owner without --password has an unusable password, and the login page's "Forgot
        # your password?" skips such accounts: changepassword is the way in. It finds the username
        # exactly as stored, so the command is printed with it.
        if owner_user.has_usable_password():
            return
        out.write(self.style.WARNING(
            _("The owner cannot log in yet: %(username)s has no password. Set one with:")
            % {"username": owner_user.username}
        ))
        out.write(f"  python manage.py changepassword {shlex.quote(owner_user.username)}")


def _validation_message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)
