"""The boundary every API endpoint keeps, checked over the whole URL map:
no key or a bad key is a 401, a publishable key on a secret-only endpoint is
a 403. (Another tenant's objects are a 404: each API module tests its own.)"""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import translation
from rest_framework.parsers import JSONParser as DRFJSONParser

from tenants.api import TenantApiView
from tenants.api_parsers import JSONParser

HANDLED_METHODS = ["get", "post", "put", "patch", "delete"]


def _api_endpoints():
    """(path with placeholder arguments, view class) for each tenant API route."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class and issubclass(view_class, TenantApiView):
                    route = prefix + str(pattern.pattern)
                    for converter in ["<str:", "<int:", "<slug:", "<path:", "<uuid:", "<"]:
                        while converter in route:
                            start = route.index(converter)
                            end = route.index(">", start)
                            route = route[:start] + "12345" + route[end + 1 :]
                    yield "/" + route, view_class

    return list(walk(get_resolver().url_patterns))


ENDPOINTS = [
    (path, method, view_class)
    for path, view_class in _api_endpoints()
    for method in HANDLED_METHODS
    if hasattr(view_class, method)
]


def test_the_api_has_endpoints_to_check():
    assert len(ENDPOINTS) >= 5


@pytest.mark.parametrize("path,method,view_class", ENDPOINTS, ids=[f"{m.upper()} {p}" for p, m, _ in ENDPOINTS])
def test_no_key_gets_401(api_client, db, path, method, view_class):
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path,method,view_class", ENDPOINTS, ids=[f"{m.upper()} {p}" for p, m, _ in ENDPOINTS])
def test_a_bad_key_gets_401(api_client, tenant, path, method, view_class):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer sk_notakey.reallynotakey")
    assert getattr(api_client, method)(path).status_code == 401


SECRET_ONLY = [(p, m, v) for p, m, v in ENDPOINTS if not v.publishable_key_allowed]


@pytest.mark.parametrize("path,method,view_class", SECRET_ONLY, ids=[f"{m.upper()} {p}" for p, m, _ in SECRET_ONLY])
def test_a_publishable_key_on_a_secret_only_endpoint_gets_403(publishable_client, path, method, view_class):
    assert getattr(publishable_client, method)(path).status_code == 403


def test_a_logged_in_user_who_belongs_to_no_tenant_gets_403(api_client, db):
    from tests.factories import UserFactory

    api_client.force_login(UserFactory())
    assert api_client.get("/api/v1/catalog/products").status_code == 403


def test_every_api_view_reads_json_with_the_parser_that_refuses_nesting_too_deep():
    # DRF's own lets a RecursionError through (a 500); a view naming its parsers must name ours.
    plain = sorted(
        {
            view_class.__name__
            for _, view_class in _api_endpoints()
            for parser in view_class().get_parsers()
            if isinstance(parser, DRFJSONParser) and not isinstance(parser, JSONParser)
        }
    )
    assert plain == []


# These look the experiment up before reading the body (a 404 for the placeholder key);
# tests/experiments/test_experiments_api.py checks that they refuse a misspelt key once it is found.
BODY_READ_AFTER_LOOKUP = {("put", "ExperimentDetailApi"), ("post", "ExperimentTrafficApi")}
WRITES = [
    (p, m, v) for p, m, v in ENDPOINTS if m != "get" and (m, v.__name__) not in BODY_READ_AFTER_LOOKUP
]


@pytest.mark.parametrize("path,method,view_class", WRITES, ids=[f"{m.upper()} {p}" for p, m, _ in WRITES])
def test_a_body_key_that_an_operation_does_not_take_is_a_400_naming_it(secret_client, path, method, view_class):
    """Even where the operation takes no body at all (a start, a promotion, a delete): a client's
    `{"force": true}` would otherwise be dropped while the client believes it was heard."""
    reads_json = any(isinstance(parser, JSONParser) for parser in view_class().get_parsers())
    body_format = "json" if reads_json else "multipart"
    response = getattr(secret_client, method)(path, {"no_such_field": "1"}, format=body_format)
    assert response.status_code == 400, response.content
    assert "no_such_field" in response.json()


@pytest.mark.parametrize("path", ["/api/v1/catalog/products", "/api/v1/experiments", "/api/v1/training/jobs"])
def test_a_json_body_nested_too_deeply_to_read_is_a_400_not_a_500(secret_client, path):
    body = b"[" * 100_000 + b"]" * 100_000
    response = secret_client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert "too deeply" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/catalog/products/a%00b",
        "/api/v1/products/a%00b/similar",
        "/api/v1/shoppers/a%00b/profile",
        "/api/v1/shoppers/a%00b",
    ],
)
def test_an_id_in_a_url_with_a_nul_character_is_a_404_not_a_500(secret_client, url):
    """No stored SKU or shopper id holds a NUL, and PostgreSQL refuses one even in a query."""
    assert secret_client.get(url).status_code == 404
    assert secret_client.delete(url).status_code == 404


NO_ENDPOINT = "There is no API endpoint at this path. The endpoints are listed at %(docs)s."
NO_TRAILING_SLASH = "There is no API endpoint at this path. Leave out the trailing slash: %(path)s"


@pytest.mark.parametrize(
    ("method", "url", "message", "values"),
    [
        ("get", "/api/v1/recommendations/", NO_TRAILING_SLASH, {"path": "/api/v1/recommendations"}),
        ("get", "/api/v1/products/pasta/4/similar/", NO_TRAILING_SLASH, {"path": "/api/v1/products/pasta/4/similar"}),
        ("get", "/api/v1/catalog/products/", NO_TRAILING_SLASH, {"path": "/api/v1/catalog/products"}),
        ("post", "/api/v1/events/", NO_TRAILING_SLASH, {"path": "/api/v1/events"}),
        ("get", "/api/v1/recomendations", NO_ENDPOINT, {"docs": "/api/v1/docs"}),
        ("delete", "/api/v2/catalog/products", NO_ENDPOINT, {"docs": "/api/v1/docs"}),
        ("get", "/api/v1/", NO_ENDPOINT, {"docs": "/api/v1/docs"}),
    ],
)
def test_a_mistyped_api_path_is_a_json_404_in_the_readers_language(secret_client, method, url, message, values):
    response = getattr(secret_client, method)(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response["Content-Language"] == "zh-hans"
    with translation.override("zh-hans"):
        assert response.json() == {"detail": translation.gettext(message) % values}


NOT_JSON_AT = "The request body is not valid JSON (line %(line)d, column %(column)d)."
NOT_JSON = "The request body is not valid JSON."


@pytest.mark.parametrize(
    ("body", "message", "values"),
    [
        (b"{bad", NOT_JSON_AT, {"line": 1, "column": 2}),
        (b'{"products": [\n  {"title": "Soap",}]}', NOT_JSON_AT, {"line": 2, "column": 20}),
        (b'{"products": NaN}', NOT_JSON, {}),  # no position: json reads NaN, DRF's strict mode refuses it
    ],
)
def test_a_body_that_is_not_json_is_refused_in_the_readers_language(secret_client, body, message, values):
    response = secret_client.generic(
        "POST", "/api/v1/catalog/products", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 400
    with translation.override("zh-hans"):
        assert response.json() == {"detail": translation.gettext(message) % values}
