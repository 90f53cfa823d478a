import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tenants.models import ApiKey, ApiKeyKind, Membership, Role, Tenant
from tenants.selectors import api_key_from_presented
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run_create_tenant(*args: str) -> str:
    return run_create_tenant_with_stderr(*args)[0]


def run_create_tenant_with_stderr(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("create_tenant", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def set_password_with_changepassword(username: str, password: str, monkeypatch) -> None:
    """`manage.py changepassword USERNAME`, with the two answers typed at its prompts."""
    monkeypatch.setattr("getpass.getpass", lambda prompt="": password)
    call_command("changepassword", username, stdout=StringIO())


def test_json_output_is_exactly_the_tenant_and_its_two_keys():
    output = run_create_tenant("corner-shop", "--owner", "owner@corner.test", "--json")

    payload = json.loads(output)
    assert set(payload) == {"tenant", "secret_key", "publishable_key"}
    assert payload["tenant"] == "corner-shop"
    assert payload["secret_key"].startswith("sk_")
    assert payload["publishable_key"].startswith("pk_")


def test_printed_keys_authenticate_as_the_new_tenant():
    payload = json.loads(run_create_tenant("corner-shop", "--owner", "owner@corner.test", "--json"))
    tenant = Tenant.objects.get(slug="corner-shop")

    secret = api_key_from_presented(payload["secret_key"])
    publishable = api_key_from_presented(payload["publishable_key"])

    assert secret is not None and secret.tenant_id == tenant.pk and secret.kind == ApiKeyKind.SECRET
    assert publishable is not None and publishable.tenant_id == tenant.pk
    assert publishable.kind == ApiKeyKind.PUBLISHABLE


def test_readable_output_shows_both_keys_once():
    output = run_create_tenant("corner-shop", "--owner", "owner@corner.test", "--name", "Corner Shop")

    secret_lines = [line for line in output.splitlines() if "sk_" in line]
    publishable_lines = [line for line in output.splitlines() if "pk_" in line]
    assert len(secret_lines) == 1 and len(publishable_lines) == 1
    assert api_key_from_presented(secret_lines[0].split()[-1]).tenant.name == "Corner Shop"


def test_owner_can_log_in_with_the_given_password(client):
    run_create_tenant("corner-shop", "--owner", "owner@corner.test", "--password", "s3cret-enough-pw")

    membership = Membership.all_tenants.get(tenant__slug="corner-shop")
    assert membership.user.email == "owner@corner.test"
    assert membership.role == Role.OWNER
    assert client.login(username="owner@corner.test", password="s3cret-enough-pw")


def test_taken_slug_fails_and_creates_nothing(tenant):
    users_before = get_user_model().objects.count()

    with pytest.raises(CommandError, match="already exists"):
        run_create_tenant(tenant.slug, "--owner", "newcomer@example.test", "--json")

    assert Tenant.objects.count() == 1
    assert get_user_model().objects.count() == users_before
    assert ApiKey.all_tenants.count() == 0


def test_invalid_slug_fails_and_creates_nothing():
    with pytest.raises(CommandError, match="slug"):
        run_create_tenant("Not A Slug", "--owner", "owner@corner.test")

    assert not Tenant.objects.exists()
    assert not get_user_model().objects.filter(email="owner@corner.test").exists()


def test_invalid_owner_email_fails_and_creates_nothing():
    with pytest.raises(CommandError, match="not an email"):
        run_create_tenant("corner-shop", "--owner", "not-an-email")

    assert not Tenant.objects.exists()


def test_a_store_is_created_in_its_time_zone_and_an_unknown_zone_creates_nothing(db):
    run_create_tenant("shanghai-shop", "--owner", "owner@sh.test", "--time-zone", "Asia/Shanghai")
    assert Tenant.objects.get(slug="shanghai-shop").time_zone == "Asia/Shanghai"
    with pytest.raises(CommandError, match="time_zone: Not a time zone"):
        run_create_tenant("lost-shop", "--owner", "owner@lost.test", "--time-zone", "Mars/Olympus")
    assert not Tenant.objects.filter(slug="lost-shop").exists()


def test_a_new_owner_without_a_password_is_told_they_cannot_log_in_and_the_command_that_fixes_it():
    output = run_create_tenant("acme-tea", "--owner", "Owner@AcmeTea.example", "--name", "Acme Tea & Coffee")

    assert "cannot log in yet" in output
    assert "python manage.py changepassword owner@acmetea.example" in output.splitlines()[-1]


def test_an_owner_given_a_password_is_not_told_to_set_one():
    output = run_create_tenant("acme-tea", "--owner", "owner@acmetea.example", "--password", "s3cret-enough-pw")

    assert "cannot log in" not in output
    assert "changepassword" not in output


def test_with_json_the_missing_password_is_said_on_stderr_and_stdout_stays_json():
    stdout, stderr = run_create_tenant_with_stderr("acme-tea", "--owner", "owner@acmetea.example", "--json")

    assert set(json.loads(stdout)) == {"tenant", "secret_key", "publishable_key"}
    assert "python manage.py changepassword owner@acmetea.example" in stderr


def test_the_owners_address_is_stored_in_lower_case_so_changepassword_finds_it_as_people_type_it(
    client, monkeypatch
):
    run_create_tenant("acme-tea", "--owner", "Owner@AcmeTea.example", "--time-zone", "Asia/Shanghai")

    set_password_with_changepassword("owner@acmetea.example", "s3cret-enough-pw", monkeypatch)

    owner = Membership.all_tenants.get(tenant__slug="acme-tea").user
    assert (owner.username, owner.email) == ("owner@acmetea.example", "owner@acmetea.example")
    assert client.login(username="Owner@AcmeTea.example", password="s3cret-enough-pw")


def test_an_existing_account_spelt_in_mixed_case_becomes_the_owner_and_still_logs_in(client):
    existing = UserFactory(username="Ana@Acme.test", email="Ana@Acme.test")

    output = run_create_tenant("ana-shop", "--owner", "ana@acme.test")

    assert Membership.all_tenants.get(tenant__slug="ana-shop").user == existing
    assert get_user_model().objects.count() == 1
    assert "owner Ana@Acme.test." in output  # the name changepassword and the admin know it by
    assert "cannot log in" not in output
    assert client.login(username="ana@acme.test", password="correct-horse-battery")


def test_an_owner_address_outside_plain_ascii_fails_and_creates_nothing():
    with pytest.raises(CommandError, match="plain ASCII"):
        run_create_tenant("kelvin-shop", "--owner", "owner@\u212aelvin.test")

    assert not Tenant.objects.exists()


def test_a_password_for_an_existing_account_is_refused_and_nothing_is_made_nor_changed():
    existing = UserFactory(username="ana@acme.test", email="ana@acme.test")
    with pytest.raises(CommandError, match="exists already and keeps its password"):
        run_create_tenant("ana-shop", "--owner", "Ana@Acme.test", "--password", "another-long-password")

    existing.refresh_from_db()
    assert existing.check_password("correct-horse-battery")
    assert not Tenant.objects.filter(slug="ana-shop").exists()


@pytest.mark.parametrize("password", ["x", "12345678901", "password123"])
def test_a_new_owners_password_meets_the_same_rules_as_one_chosen_on_the_invitation_page(password):
    with pytest.raises(CommandError, match="^--password: "):
        run_create_tenant("corner-shop", "--owner", "owner@corner.test", "--password", password)
    assert not Tenant.objects.filter(slug="corner-shop").exists()
    assert not get_user_model().objects.filter(email="owner@corner.test").exists()
