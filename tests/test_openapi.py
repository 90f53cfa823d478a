import pytest
import yaml
from django.utils import timezone
from jsonschema import Draft7Validator

from recommendations.attribution import served_log
from tests.factories import ProductFactory


def test_the_openapi_schema_lists_the_catalog_and_events_endpoints(client, db):
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in ["/api/v1/catalog/products", "/api/v1/catalog/imports", "/api/v1/events"]:
        assert path in paths, f"{path} missing from the schema"
    assert "BearerAuth" in str(schema["components"].get("securitySchemes", {})) or "bearer" in str(
        schema["components"].get("securitySchemes", {})
    ).lower()


def test_the_docs_page_loads_its_assets_from_our_own_static_files(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_the_schema_is_valid_openapi_without_a_single_generator_warning(tmp_path, db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_each_storefront_endpoint_documents_an_example_request_and_response(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    for path in [
        "/api/v1/recommendations",
        "/api/v1/products/{external_id}/similar",
        "/api/v1/search",
        "/api/v1/shoppers/{shopper_id}/profile",
    ]:
        operation = schema["paths"][path]["get"]
        examples = operation["responses"]["200"]["content"]["application/json"].get("examples", {})
        assert examples, f"{path} has no example response"
        assert operation.get("description"), f"{path} has no description"
        examples_of_parameters = [parameter.get("examples") for parameter in operation["parameters"]]
        assert any(examples_of_parameters), f"{path} has no example request"


def test_the_schema_says_an_event_value_is_rounded_to_cents(client, db):
    """The ingest keeps two decimals: a storefront reading the docs must not learn it from its data."""
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    assert "rounded to cents" in schema["components"]["schemas"]["EventInput"]["properties"]["value"]["description"]


def _schema(client) -> dict:
    return yaml.safe_load(client.get("/api/v1/schema").content)


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def _refers_to_the_error_body(response: dict) -> bool:
    return "#/components/schemas/Error" in str(response["content"]["application/json"]["schema"])


def _event(n: int, value) -> dict:
    return {
        "event_id": f"evt-{n}", "shopper_id": "shopper-1", "type": "purchase", "product": "SKU-1",
        "timestamp": timezone.now().isoformat(), "value": value,
    }


def test_the_schema_admits_exactly_the_event_values_that_the_api_takes(client, secret_client, tenant):
    """A JSON number with float noise is taken and rounded to cents; a negative amount is not."""
    ProductFactory(tenant=tenant, external_id="SKU-1")
    value = Draft7Validator(_schema(client)["components"]["schemas"]["EventInput"]["properties"]["value"])
    for n, sent in enumerate([29.990000000000002, "6.98", "29.999", 0, 12, -1, -0.01, "-1.00", "12abc"]):
        answer = secret_client.post("/api/v1/events", {"events": [_event(n, sent)]}, format="json").json()
        assert value.is_valid(sent) is (answer["accepted"] == 1), (sent, answer)


def test_the_schema_admits_exactly_the_product_prices_that_the_api_takes(client, secret_client, tenant):
    price = Draft7Validator(_schema(client)["components"]["schemas"]["ProductInput"]["properties"]["price"])
    for sent in [3.49, "3.49", 0, "12", -1, "-0.01", "3.499", "cheap"]:
        product = {"external_id": "SKU-1", "title": "Soap", "price": sent}
        response = secret_client.post("/api/v1/catalog/products", {"products": [product]}, format="json")
        assert price.is_valid(sent) is (response.status_code == 200), (sent, response.json())


def test_every_endpoint_declares_the_401_without_a_valid_key_and_the_429_with_its_retry_after(client, db):
    for operation_name, operation in _operations(_schema(client)):
        responses = operation["responses"]
        assert _refers_to_the_error_body(responses["401"]), operation_name
        assert _refers_to_the_error_body(responses["429"]), operation_name
        assert "Retry-After" in responses["429"]["headers"], operation_name


def test_the_endpoints_that_take_publishable_keys_declare_the_403_of_a_web_origin_the_store_does_not_allow(
    client, db
):
    schema = _schema(client)
    for path, method in [
        ("/api/v1/events", "post"),
        ("/api/v1/recommendations", "get"),
        ("/api/v1/products/{external_id}/similar", "get"),
        ("/api/v1/search", "get"),
    ]:
        refused = schema["paths"][path][method]["responses"]["403"]
        assert "origin" in refused["description"] and "API keys page" in refused["description"], path
        assert _refers_to_the_error_body(refused), path


def test_the_product_list_declares_the_404_it_answers_past_the_last_page(client, secret_client):
    response = secret_client.get("/api/v1/catalog/products", {"page": 2})
    assert response.status_code == 404
    declared = _schema(client)["paths"]["/api/v1/catalog/products"]["get"]["responses"]["404"]
    assert response.json()["detail"] in declared["description"]
    assert _refers_to_the_error_body(declared)


def _query_parameter(schema: dict, path: str, name: str) -> Draft7Validator:
    [parameter] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
    return Draft7Validator(parameter["schema"])


@pytest.fixture
def served_answers_discarded():
    """The storefront's answers wait in a log that is written later, when the test database is gone."""
    yield
    served_log.discard()


def test_the_schema_admits_exactly_the_query_values_that_the_api_takes(
    client, secret_client, tenant, served_answers_discarded
):
    """A client generated from the schema (or a fuzzer) must not send what the API then refuses."""
    ProductFactory(tenant=tenant, external_id="SKU-1")
    schema = _schema(client)
    cases = [
        ("/api/v1/recommendations", "/api/v1/recommendations", {}, "limit", [1, 100, 0, 101, -6089]),
        ("/api/v1/recommendations", "/api/v1/recommendations", {}, "diversity", [0, 0.5, 1, -0.1, 1.5]),
        ("/api/v1/recommendations", "/api/v1/recommendations", {}, "shopper_id", ["c-1", "c" * 257]),
        ("/api/v1/recommendations", "/api/v1/recommendations", {"shopper_id": "c-1"}, "shopper_signature",
         ["", "ab" * 32, "ab"]),
        ("/api/v1/recommendations", "/api/v1/recommendations", {}, "context_product", ["SKU-1", "S" * 129]),
        ("/api/v1/recommendations", "/api/v1/recommendations", {}, "category", ["Dairy", "D" * 501]),
        ("/api/v1/products/{external_id}/similar", "/api/v1/products/SKU-1/similar", {}, "limit", [4, 0]),
        ("/api/v1/search", "/api/v1/search", {"limit": 1}, "q", ["milk", "m" * 201, "", "  "]),
        ("/api/v1/search", "/api/v1/search", {"q": "milk"}, "limit", [1, 0]),
        ("/api/v1/experiments/{key}/assignment", "/api/v1/experiments/none/assignment", {}, "shopper_id",
         ["c-1", "", " ", "c" * 257]),
        ("/api/v1/catalog/products", "/api/v1/catalog/products", {}, "page", [1, 0, -1]),
        ("/api/v1/models", "/api/v1/models", {}, "page", [1, 0]),
    ]
    for documented_path, path, other_parameters, name, values in cases:
        parameter = _query_parameter(schema, documented_path, name)
        for value in values:
            response = secret_client.get(path, {**other_parameters, name: value})
            assert parameter.is_valid(value) is (response.status_code != 400), (path, name, value, response.json())


def _response_body(schema: dict, path: str, method: str, status_code: str) -> Draft7Validator:
    declared = schema["paths"][path][method]["responses"][status_code]["content"]["application/json"]["schema"]
    return Draft7Validator({**declared, "components": schema["components"]})


def test_each_refusal_of_a_product_upsert_has_the_body_that_the_schema_declares(client, secret_client, tenant):
    refused = _response_body(_schema(client), "/api/v1/catalog/products", "post", "400")
    for sent in [{}, {"products": "SKU-1"}, {"products": None}, [], {"products": [{"title": "No SKU"}]}]:
        response = secret_client.post("/api/v1/catalog/products", sent, format="json")
        assert response.status_code == 400, sent
        assert refused.is_valid(response.json()), (sent, response.json())
    not_json = secret_client.post("/api/v1/catalog/products", "\x00", content_type="application/json")
    assert not_json.status_code == 400
    assert refused.is_valid(not_json.json()), not_json.json()


def test_an_import_request_without_a_file_has_the_body_that_the_schema_declares(client, secret_client):
    refused = _response_body(_schema(client), "/api/v1/catalog/imports", "post", "400")
    for sent in [{}, {"file": "https://example.com/catalog.csv"}]:
        response = secret_client.post("/api/v1/catalog/imports", sent, format="multipart")
        assert response.status_code == 400, sent
        assert refused.is_valid(response.json()), (sent, response.json())


def test_the_import_request_schema_sends_the_file_itself_not_its_address(client, db):
    """A client generated from the schema (and the docs' "Try it out") uploads bytes, not a URL."""
    schema = _schema(client)
    request = schema["paths"]["/api/v1/catalog/imports"]["post"]["requestBody"]["content"]
    component = request["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    file = schema["components"]["schemas"][component]["properties"]["file"]
    assert (file["type"], file["format"]) == ("string", "binary")
