import yaml


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
