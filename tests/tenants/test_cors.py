"""CORS for storefront pages: the preflight of a request with a key passes from any origin, the
real request asks whether the publishable key's own tenant allows the origin, and only origins that
some tenant allows may read an answer, the refusal apart."""
import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from tenants.cors import allowed_origins_cache_clear
from tenants.services import tenant_allowed_origins_set

URL = "/api/v1/events"
ACME_SHOP = "https://shop.acme.test"
GLOBEX_SHOP = "https://shop.globex.test"
NO_EVENTS = {"events": []}


@pytest.fixture(autouse=True)
def _fresh_origins_cache():
    # The local-memory cache outlives a test; its rows do not.
    allowed_origins_cache_clear()
    yield
    allowed_origins_cache_clear()


@pytest.fixture
def shops(tenant, other_tenant):
    tenant_allowed_origins_set(tenant=tenant, origins=[ACME_SHOP])
    tenant_allowed_origins_set(tenant=other_tenant, origins=[GLOBEX_SHOP])


def _preflight(origin: str, url: str = URL, asked_headers: str = "authorization, content-type"):
    return APIClient().options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=asked_headers,
    )


def test_a_preflight_from_an_allowed_origin_is_answered_with_that_origin(shops):
    response = _preflight(ACME_SHOP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ACME_SHOP
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert response["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_without_a_key_from_an_unknown_origin_gets_no_cors_headers(shops):
    response = _preflight("https://evil.test", asked_headers="content-type")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_a_preflight_with_a_key_from_an_unknown_origin_passes_so_the_refusal_can_be_read(shops):
    response = _preflight("https://evil.test")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://evil.test"
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


def test_the_merchant_pages_send_no_cors_headers_even_to_an_allowed_origin(shops):
    response = APIClient().get("/login/", HTTP_ORIGIN=ACME_SHOP)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_a_publishable_key_from_another_tenants_origin_is_refused_though_its_preflight_passed(
    shops, publishable_client
):
    assert _preflight(GLOBEX_SHOP)["Access-Control-Allow-Origin"] == GLOBEX_SHOP
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=GLOBEX_SHOP)
    assert response.status_code == 403
    message = response.json()["detail"]
    assert GLOBEX_SHOP in message
    assert "allowed web origins" in message


def test_a_publishable_key_from_its_own_tenants_origin_passes_with_the_cors_header(shops, publishable_client):
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=ACME_SHOP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ACME_SHOP


def test_a_publishable_key_from_an_origin_no_tenant_allows_is_refused_readably_by_that_page(
    shops, publishable_client
):
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN="https://evil.test")
    assert response.status_code == 403
    assert "https://evil.test" in response.json()["detail"]
    assert response["Access-Control-Allow-Origin"] == "https://evil.test"
    assert "origin" in [name.strip().lower() for name in response["Vary"].split(",")]
    assert "Access-Control-Allow-Credentials" not in response


def test_what_a_page_no_tenant_allows_may_read_is_only_the_refusal(shops, publishable_key):
    # The key is refused before the view runs: the readable refusal carries no recommendations.
    response = APIClient().get(
        "/api/v1/recommendations",
        {"shopper_id": "s1"},
        HTTP_AUTHORIZATION=f"Bearer {publishable_key}",
        HTTP_ORIGIN="https://evil.test",
    )
    assert response.status_code == 403
    assert response["Access-Control-Allow-Origin"] == "https://evil.test"
    assert set(response.json()) == {"detail"}


def test_a_publishable_key_from_the_platforms_own_pages_passes(shops, publishable_client):
    # The API docs' "Try it out", on the platform's own origin: the browser sends that Origin.
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200


def test_a_publishable_key_from_the_platforms_own_pages_over_https_passes(shops, publishable_client):
    response = publishable_client.post(
        URL, NO_EVENTS, format="json", secure=True, HTTP_ORIGIN="https://testserver"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "origin",
    [
        "https://testserver",  # another scheme than the request's
        "http://testserver:8080",  # another port
        "http://api.testserver",
        "http://testserver/docs",  # no browser sends a path: no origin
        "null",
    ],
)
def test_an_origin_that_only_resembles_the_platforms_is_refused(shops, publishable_client, origin):
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=origin)
    assert response.status_code == 403


def test_forwarded_headers_do_not_make_a_foreign_origin_the_platforms(shops, publishable_client):
    response = publishable_client.post(
        URL,
        NO_EVENTS,
        format="json",
        HTTP_ORIGIN="https://evil.test",
        HTTP_X_FORWARDED_HOST="evil.test",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 403


def test_a_host_the_platform_does_not_serve_is_not_taken_for_the_platforms_origin(shops, publishable_client):
    # As when evil.test's name is pointed at the platform's address (DNS rebinding).
    response = publishable_client.post(
        URL, NO_EVENTS, format="json", HTTP_HOST="evil.test", HTTP_ORIGIN="http://evil.test"
    )
    assert response.status_code == 400


def test_a_publishable_key_without_an_origin_is_not_checked(shops, publishable_client):
    assert publishable_client.post(URL, NO_EVENTS, format="json").status_code == 200


def test_a_secret_key_is_not_checked_against_the_origins(shops, secret_client):
    response = secret_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN="https://evil.test")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_a_new_origin_is_allowed_at_once_not_when_the_cache_expires(
    tenant, publishable_client, django_capture_on_commit_callbacks
):
    # The empty list is now cached.
    assert publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=ACME_SHOP).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        tenant_allowed_origins_set(tenant=tenant, origins=[ACME_SHOP])
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=ACME_SHOP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ACME_SHOP


def test_origins_are_stored_as_browsers_send_them(tenant):
    tenant_allowed_origins_set(
        tenant=tenant,
        origins=[" HTTPS://Shop.Example.com/ ", "https://shop.example.com:443", "", "http://localhost:3000",
                 "https://bücher.example"],
    )
    tenant.refresh_from_db()
    assert tenant.allowed_origins == [
        "https://shop.example.com", "http://localhost:3000", "https://xn--bcher-kva.example",
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("shop.example.com", "no scheme"),
        ("https://x.com/path", "path"),
        ("https://x.com?a=1", "path, query or fragment"),
        ("ftp://x.com", "https://"),
        ("https://user@x.com", "not a valid origin"),
        ("https://*.x.com", "not a valid origin"),
        ("https://x.com:99999", "not a valid origin"),
    ],
)
def test_an_origin_that_is_not_one_is_refused_by_name_and_nothing_is_stored(tenant, bad, reason):
    tenant_allowed_origins_set(tenant=tenant, origins=[ACME_SHOP])
    with pytest.raises(ValidationError) as refused:
        tenant_allowed_origins_set(tenant=tenant, origins=["https://fine.example", bad])
    (message,) = refused.value.message_dict["allowed_origins"]
    assert f"“{bad}”" in message
    assert reason in message
    tenant.refresh_from_db()
    assert tenant.allowed_origins == [ACME_SHOP]


def test_every_bad_origin_is_named_at_once(tenant):
    with pytest.raises(ValidationError) as refused:
        tenant_allowed_origins_set(tenant=tenant, origins=["shop.example.com", "https://x.com/path"])
    messages = refused.value.message_dict["allowed_origins"]
    assert len(messages) == 2
    assert "shop.example.com" in messages[0] and "https://x.com/path" in messages[1]


def test_the_cached_origins_are_read_once_not_per_request(shops, django_assert_num_queries):
    # A preflight without a key is the one answered from the list alone.
    _preflight(ACME_SHOP, asked_headers="content-type")
    assert cache.get("tenants:cors:allowed-origins") == {ACME_SHOP, GLOBEX_SHOP}
    with django_assert_num_queries(0):
        assert _preflight(GLOBEX_SHOP, asked_headers="content-type")["Access-Control-Allow-Origin"] == GLOBEX_SHOP


def test_a_storefront_page_throttled_with_a_429_may_read_its_retry_after(shops, publishable_client, monkeypatch):
    from tenants.throttling import EventsRateThrottle

    monkeypatch.setattr(EventsRateThrottle, "rate", "1/minute", raising=False)
    publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=ACME_SHOP)
    response = publishable_client.post(URL, NO_EVENTS, format="json", HTTP_ORIGIN=ACME_SHOP)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Access-Control-Allow-Origin"] == ACME_SHOP
    exposed = [name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")]
    assert "retry-after" in exposed
