import pytest

from tenants.models import ApiKey, ApiKeyKind
from tenants.scope import tenant_scope
from tenants.selectors import api_key_from_presented
from tenants.services import api_key_issue, api_key_revoke


def test_an_issued_key_is_stored_hashed_and_found_again(tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server")
    stored = ApiKey.all_tenants.get(pk=issued.api_key.pk)
    assert issued.key.startswith(f"sk_{stored.prefix}.")
    assert issued.key.split("_", 1)[1] not in stored.hashed_key
    assert api_key_from_presented(issued.key) == stored


def test_publishable_keys_say_so_in_their_prefix(tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="browser")
    assert issued.key.startswith("pk_")
    assert issued.api_key.display_prefix == f"pk_{issued.api_key.prefix}"


def test_a_key_presented_with_the_wrong_kind_tag_is_refused(tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="browser")
    assert api_key_from_presented("sk_" + issued.key.split("_", 1)[1]) is None


def test_a_revoked_key_no_longer_authenticates(tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server")
    api_key_revoke(tenant=tenant, prefix=issued.api_key.prefix)
    assert api_key_from_presented(issued.key) is None


def test_revoking_another_tenants_key_is_not_found(tenant, other_tenant):
    foreign = api_key_issue(tenant=other_tenant, kind=ApiKeyKind.SECRET, name="theirs")
    with pytest.raises(ApiKey.DoesNotExist):
        api_key_revoke(tenant=tenant, prefix=foreign.api_key.prefix)
    assert api_key_from_presented(foreign.key) is not None


def test_garbage_keys_are_refused(db):
    for presented in ["", "sk_", "sk_nodot", "zz_abc.def", "sk_abcdefgh.wrong"]:
        assert api_key_from_presented(presented) is None


def test_using_a_key_records_when_it_was_last_used(tenant, secret_client, secret_key):
    secret_client.get("/api/v1/catalog/products")
    with tenant_scope(tenant):
        assert ApiKey.objects.get().last_used_at is not None
