"""How the API base view decides who may do what, seen through a real endpoint."""
from unittest import mock

import pytest

from tenants.models import ApiKeyKind, Role
from tenants.services import api_key_issue, api_key_revoke
from tenants.throttling import ApiKeyRateThrottle
from tests.factories import ProductFactory

PRODUCTS = "/api/v1/catalog/products"


def _client_with(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api_client


def test_a_secret_key_reads_its_own_tenants_catalog_only(secret_client, tenant, other_tenant):
    ProductFactory(tenant=tenant, external_id="OURS")
    ProductFactory(tenant=other_tenant, external_id="THEIRS")
    response = secret_client.get(PRODUCTS)
    assert response.status_code == 200
    assert [p["external_id"] for p in response.json()["results"]] == ["OURS"]


def test_a_revoked_key_gets_401(api_client, tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="soon revoked")
    client = _client_with(api_client, issued.key)
    assert client.get(PRODUCTS).status_code == 200
    api_key_revoke(tenant=tenant, prefix=issued.api_key.prefix)
    assert client.get(PRODUCTS).status_code == 401


def test_a_malformed_authorization_header_gets_401_with_how_to_send_it(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    response = api_client.get(PRODUCTS)
    assert response.status_code == 401
    assert "Bearer <key>" in response.json()["detail"]


@pytest.mark.parametrize("header", ["{key}", "Api-Key {key}", "Token {key}"])
def test_a_key_sent_without_the_bearer_word_is_told_how_to_send_it_not_that_nothing_was_sent(
    api_client, secret_key, header
):
    api_client.credentials(HTTP_AUTHORIZATION=header.format(key=secret_key))
    response = api_client.get(PRODUCTS)
    assert response.status_code == 401
    assert "Bearer <key>" in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_another_authorization_scheme_leaves_a_logged_in_member_in(api_client, merchant_user):
    # A staging site behind a proxy's basic authentication: the browser sends its header on every request.
    api_client.force_login(merchant_user)
    api_client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert api_client.get(PRODUCTS).status_code == 200


def test_session_members_of_every_role_but_learner_may_read(api_client, member_with_role):
    for role, status in [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.ANALYST, 200), (Role.LEARNER, 403)]:
        api_client.force_login(member_with_role(role))
        assert api_client.get(PRODUCTS).status_code == status, role


def test_only_owners_and_admins_may_write_through_a_session(api_client, member_with_role):
    body = {"products": [{"external_id": "S-1", "title": "Soap"}]}
    for role, allowed in [(Role.OWNER, True), (Role.ADMIN, True), (Role.ANALYST, False), (Role.LEARNER, False)]:
        api_client.force_login(member_with_role(role))
        status = api_client.post(PRODUCTS, body, format="json").status_code
        assert (status < 300) is allowed, (role, status)


def test_a_key_is_throttled_on_its_own_without_slowing_other_keys(api_client, secret_key, other_tenant_secret_key):
    with mock.patch.dict(ApiKeyRateThrottle.THROTTLE_RATES, {"api_key": "3/minute"}):
        client = _client_with(api_client, secret_key)
        statuses = [client.get(PRODUCTS).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert _client_with(api_client, other_tenant_secret_key).get(PRODUCTS).status_code == 200


def test_a_request_leaves_no_tenant_scope_behind_in_its_thread(secret_client, tenant):
    from tenants.scope import current_tenant_or_none

    assert secret_client.get("/api/v1/catalog/products").status_code == 200
    assert current_tenant_or_none() is None


@pytest.mark.django_db(transaction=True)
def test_requests_in_one_thread_share_its_cache_connection_instead_of_opening_one_each(
    secret_client, tenant, monkeypatch
):
    """The scope is undone around each request, not by running the request in a copied context:
    Django keeps cache connections in context-local storage, so in a copied context every request
    of a server thread would open a new cache (Redis) connection."""
    import threading

    from django.core.cache import caches
    from django.db import connection

    seen_inside = []
    original = ApiKeyRateThrottle.get_cache_key

    def remember_the_cache(self, request, view):
        seen_inside.append(caches["default"])
        return original(self, request, view)

    monkeypatch.setattr(ApiKeyRateThrottle, "get_cache_key", remember_the_cache)

    def two_requests_in_a_fresh_thread():
        try:
            for _ in range(2):
                secret_client.get("/api/v1/catalog/products")
        finally:
            connection.close()

    thread = threading.Thread(target=two_requests_in_a_fresh_thread)
    thread.start()
    thread.join()
    assert len(seen_inside) == 2 and seen_inside[0] is seen_inside[1]
