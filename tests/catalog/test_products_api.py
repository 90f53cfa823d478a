"""The product catalog API: batch upsert, list and filters, read and delete, who may call it."""
from decimal import Decimal

import pytest
import yaml
from django.conf import settings

from catalog.models import Product
from catalog.services.products import product_rows_validate, product_upsert_many
from tenants.models import Role
from tenants.scope import TenantScopeMissing, tenant_scope
from tests.factories import ProductFactory

PRODUCTS = "/api/v1/catalog/products"
IMPORTS = "/api/v1/catalog/imports"


def _products_of(tenant) -> dict[str, Product]:
    with tenant_scope(tenant):
        return {product.external_id: product for product in Product.objects.all()}


def _upserted(client, *products: dict):
    return client.post(PRODUCTS, {"products": list(products)}, format="json")


def test_an_upsert_creates_new_products_then_updates_them_by_sku(secret_client, tenant):
    first = secret_client.post(PRODUCTS, {"products": [
        {"external_id": "APL-1", "title": "Apples", "price": "3.49", "currency": "usd"},
        {"external_id": "BAN-1", "title": "Bananas"},
    ]}, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 2, "updated": 0}

    second = secret_client.post(PRODUCTS, {"products": [
        {"external_id": "APL-1", "title": "Gala apples", "in_stock": False},
        {"external_id": "PEA-1", "title": "Pears"},
    ]}, format="json")
    assert second.json() == {"created": 1, "updated": 1}

    products = _products_of(tenant)
    assert sorted(products) == ["APL-1", "BAN-1", "PEA-1"]
    apples = products["APL-1"]
    assert apples.title == "Gala apples"
    assert apples.in_stock is False
    # An update sets the fields sent and keeps the others: a storefront that syncs only titles
    # and stock must not wipe the prices.
    assert (apples.price, apples.currency) == (Decimal("3.49"), "USD")

    secret_client.post(PRODUCTS, {"products": [{"external_id": "APL-1", "title": "Gala apples", "price": None}]},
                       format="json")
    assert _products_of(tenant)["APL-1"].price is None  # sent empty: cleared


def test_an_upserted_product_keeps_every_field_and_is_normalised(secret_client, tenant):
    response = secret_client.post(PRODUCTS, {"products": [{
        "external_id": "TEA-1", "title": "Green tea", "description": "100 bags",
        "category": "Grocery>Drinks >  Tea", "brand": "Leafy", "price": 4.5, "currency": "eur",
        "attributes": {"organic": True, "origin": "CN"},
    }]}, format="json")
    assert response.status_code == 200, response.content
    tea = _products_of(tenant)["TEA-1"]
    assert tea.tenant_id == tenant.pk
    assert tea.category == "Grocery > Drinks > Tea"
    assert tea.currency == "EUR"
    assert str(tea.price) == "4.50"
    assert tea.in_stock is True
    assert tea.attributes == {"organic": True, "origin": "CN"}
    assert tea.description == "100 bags" and tea.brand == "Leafy"


def test_a_stock_change_alone_updates_a_product_in_the_catalog_and_keeps_its_title_and_other_fields(
    secret_client, tenant
):
    ProductFactory(tenant=tenant, external_id="TEA-1", title="Green tea", brand="Leafy", price="4.50")

    response = _upserted(secret_client, {"external_id": "TEA-1", "in_stock": False})

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 0, "updated": 1}
    tea = _products_of(tenant)["TEA-1"]
    assert tea.in_stock is False
    assert (tea.title, tea.brand, tea.price, tea.currency) == ("Green tea", "Leafy", Decimal("4.50"), "USD")


def test_a_new_sku_without_a_title_is_refused_by_index_field_and_reason_and_nothing_is_stored(
    secret_client, tenant
):
    ProductFactory(tenant=tenant, external_id="TEA-1", title="Green tea")

    response = secret_client.post(PRODUCTS, {"products": [
        {"external_id": "TEA-1", "in_stock": False},
        {"external_id": "NEW-1", "title": "Black tea"},
        {"external_id": "NEW-2", "in_stock": False},
    ]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 2, "field": "title", "reason": "Required for a product not yet in the catalog."},
    ]
    assert sorted(_products_of(tenant)) == ["TEA-1"]
    assert _products_of(tenant)["TEA-1"].in_stock is True


def test_a_new_sku_without_a_title_is_refused_alone_too(secret_client, tenant):
    response = _upserted(secret_client, {"external_id": "NEW-1", "in_stock": False})

    assert response.status_code == 400
    assert [(e["index"], e["field"], e["reason"]) for e in response.json()["errors"]] == [
        (0, "title", "Required for a product not yet in the catalog."),
    ]
    assert _products_of(tenant) == {}


def test_a_product_without_a_title_names_that_beside_its_other_errors(secret_client, tenant):
    response = _upserted(secret_client, {"external_id": "NEW-1", "price": "-1"})

    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "title"), (0, "price")]


def test_a_blank_title_is_refused_even_for_a_product_in_the_catalog(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="TEA-1", title="Green tea")

    response = _upserted(secret_client, {"external_id": "TEA-1", "title": " "})

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "title")]
    assert _products_of(tenant)["TEA-1"].title == "Green tea"


def test_a_sku_only_in_another_tenants_catalog_still_needs_its_title_and_theirs_is_untouched(
    secret_client, tenant, other_tenant
):
    ProductFactory(tenant=other_tenant, external_id="SHARED-SKU", title="Theirs", in_stock=True)

    response = _upserted(secret_client, {"external_id": "SHARED-SKU", "in_stock": False})

    assert response.status_code == 400
    assert [(e["index"], e["field"], e["reason"]) for e in response.json()["errors"]] == [
        (0, "title", "Required for a product not yet in the catalog."),
    ]
    assert _products_of(tenant) == {}
    theirs = _products_of(other_tenant)["SHARED-SKU"]
    assert (theirs.title, theirs.in_stock) == ("Theirs", True)


def test_a_batch_looks_up_its_skus_without_a_title_in_one_query(tenant, django_assert_num_queries):
    for n in range(5):
        ProductFactory(tenant=tenant, external_id=f"TEA-{n}")
    rows = [{"external_id": f"TEA-{n}", "in_stock": False} for n in range(5)] + [{"external_id": "NEW-1"}]

    with tenant_scope(tenant), django_assert_num_queries(1):
        products, errors = product_rows_validate(rows, tenant=tenant)

    assert [product.values["external_id"] for product in products] == [f"TEA-{n}" for n in range(5)]
    assert [(error.position, error.field) for error in errors] == [(5, "title")]


def test_more_products_than_the_batch_limit_is_a_400_naming_the_limit(secret_client, tenant):
    limit = settings.PRODUCTS_MAX_BATCH
    assert limit == 10_000
    products = [{"external_id": f"SKU-{n}", "title": "Thing"} for n in range(limit + 1)]
    response = secret_client.post(PRODUCTS, {"products": products}, format="json")
    assert response.status_code == 400
    # Whatever shape the project's error handler gives the body, it names the limit.
    assert "10000" in response.content.decode()
    assert _products_of(tenant) == {}


def test_a_full_batch_of_ten_thousand_products_is_stored_and_counted(secret_client, tenant):
    with tenant_scope(tenant):
        ProductFactory(tenant=tenant, external_id="SKU-00007")
    products = [
        {"external_id": f"SKU-{n:05d}", "title": f"Thing {n}", "price": "1.00"} for n in range(10_000)
    ]
    response = secret_client.post(PRODUCTS, {"products": products}, format="json")
    assert response.status_code == 200, response.content[:500]
    assert response.json() == {"created": 9_999, "updated": 1}
    with tenant_scope(tenant):
        assert Product.objects.count() == 10_000


def test_a_bad_product_in_a_batch_stores_nothing_and_names_its_index_and_field(secret_client, tenant):
    response = secret_client.post(PRODUCTS, {"products": [
        {"external_id": "OK-1", "title": "Fine"},
        {"external_id": "OK-2", "title": "Fine too"},
        {"external_id": "BAD-1", "title": "Broken", "price": "-2", "currency": "dollars"},
        {"title": "No SKU"},
    ]}, format="json")
    assert response.status_code == 400
    errors = {(error["index"], error["field"]) for error in response.json()["errors"]}
    assert errors == {(2, "price"), (2, "currency"), (3, "external_id")}
    assert all(error["reason"] for error in response.json()["errors"])
    assert _products_of(tenant) == {}


def test_a_null_product_is_named_by_its_index_like_any_other_bad_product(secret_client, tenant):
    response = secret_client.post(
        PRODUCTS, {"products": [{"external_id": "OK-1", "title": "Fine"}, None]}, format="json"
    )
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "product")]
    assert _products_of(tenant) == {}


def test_a_sku_repeated_in_one_batch_is_refused_at_its_second_index(secret_client, tenant):
    response = secret_client.post(PRODUCTS, {"products": [
        {"external_id": "DUP", "title": "One"},
        {"external_id": "OTHER", "title": "Other"},
        {"external_id": "DUP", "title": "Two"},
    ]}, format="json")
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(2, "external_id")]
    assert _products_of(tenant) == {}


def test_an_unknown_product_field_is_refused_rather_than_dropped(secret_client, tenant):
    response = secret_client.post(
        PRODUCTS, {"products": [{"external_id": "A", "title": "A", "pirce": "3.00"}]}, format="json"
    )
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "pirce")]


def test_a_body_without_a_products_list_is_a_400(secret_client, tenant):
    assert secret_client.post(PRODUCTS, {"items": []}, format="json").status_code == 400
    assert secret_client.post(PRODUCTS, {"products": {"external_id": "A"}}, format="json").status_code == 400


def test_the_list_alone_is_told_to_go_in_an_object_under_products_and_nothing_is_stored(secret_client, tenant):
    response = secret_client.post(PRODUCTS, [{"external_id": "A", "title": "A"}], format="json")
    assert response.status_code == 400
    assert response.json() == {"products": ['Send an object with a "products" list, not the list alone.']}
    assert _products_of(tenant) == {}


@pytest.mark.parametrize("body,named", [
    ({"products": [{"external_id": "A", "title": "A"}], "dry_run": True}, "dry_run"),
    ({"products": [{"external_id": "A", "title": "A"}], "product": [{"external_id": "B", "title": "B"}]}, "product"),
])
def test_a_key_beside_products_is_refused_by_name_and_nothing_is_stored(secret_client, tenant, body, named):
    response = secret_client.post(PRODUCTS, body, format="json")
    assert response.status_code == 400
    assert response.json() == {named: ["Unknown field. The fields are: products."]}
    assert _products_of(tenant) == {}


def test_a_product_keeps_its_free_form_attributes_whatever_their_names(secret_client, tenant):
    response = _upserted(secret_client, {"external_id": "A", "title": "A", "attributes": {"dry_run": True}})
    assert response.status_code == 200, response.content
    assert _products_of(tenant)["A"].attributes == {"dry_run": True}


def test_the_list_filters_by_category_prefix_text_and_stock(secret_client, tenant):
    ProductFactory(
        tenant=tenant, external_id="A1", title="Gala apples", category="Grocery > Produce > Apples"
    )
    ProductFactory(
        tenant=tenant, external_id="B1", title="Bananas", category="Grocery > Produce", in_stock=False
    )
    ProductFactory(tenant=tenant, external_id="M1", title="Mug", category="Home > Kitchen", brand="Stoneware")
    ProductFactory(tenant=tenant, external_id="G1", title="Grocery bag", category="Grocery bags")

    def skus(**params):
        response = secret_client.get(PRODUCTS, params)
        assert response.status_code == 200, response.content
        return [product["external_id"] for product in response.json()["results"]]

    assert skus() == ["A1", "B1", "G1", "M1"]
    assert skus(category="Grocery") == ["A1", "B1"]
    assert skus(category="Grocery > Produce > Apples") == ["A1"]
    assert skus(q="stoneware") == ["M1"]
    assert skus(q="apples") == ["A1"]
    assert skus(q="b1") == ["B1"]
    assert skus(in_stock="false") == ["B1"]
    assert skus(category="Grocery", in_stock="true") == ["A1"]


def test_the_list_is_paginated(secret_client, tenant):
    for n in range(settings.REST_FRAMEWORK["PAGE_SIZE"] + 3):
        ProductFactory(tenant=tenant, external_id=f"P{n:03d}")
    first = secret_client.get(PRODUCTS).json()
    assert first["count"] == settings.REST_FRAMEWORK["PAGE_SIZE"] + 3
    assert len(first["results"]) == settings.REST_FRAMEWORK["PAGE_SIZE"]
    assert first["next"]
    second = secret_client.get(PRODUCTS, {"page": 2}).json()
    assert [p["external_id"] for p in second["results"]] == ["P050", "P051", "P052"]


@pytest.mark.parametrize("params,named", [
    ({"categroy": "Grocery"}, "categroy"),
    ({"in_stock": "maybe"}, "in_stock"),
    ({"page": "first"}, "page"),
])
def test_an_unknown_or_badly_typed_query_parameter_is_a_400_naming_it(secret_client, tenant, params, named):
    response = secret_client.get(PRODUCTS, params)
    assert response.status_code == 400
    assert f'"{named}"' in response.content.decode()


@pytest.mark.parametrize("given", ["", "null", "maybe"])
def test_an_in_stock_filter_that_is_neither_true_nor_false_is_refused_not_read_as_no_filter(
    secret_client, tenant, given
):
    ProductFactory(tenant=tenant, external_id="A1", in_stock=False)
    response = secret_client.get(f"{PRODUCTS}?in_stock={given}")
    assert response.status_code == 400
    assert response.json() == {"in_stock": ["Must be true or false."]}


def test_an_empty_text_filter_matches_every_product_as_an_empty_search_does(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="A1", category="Grocery")
    response = secret_client.get(f"{PRODUCTS}?q=&category=")
    assert [product["external_id"] for product in response.json()["results"]] == ["A1"]


def test_a_filter_given_twice_is_a_400_naming_it_rather_than_the_last_value_taken(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="A1", in_stock=False)
    response = secret_client.get(f"{PRODUCTS}?in_stock=true&in_stock=false")
    assert response.status_code == 400
    assert response.json() == {"in_stock": ["Give this parameter once."]}


def test_one_product_is_read_and_deleted_by_its_sku(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="MUG/RED-1", title="Red mug")
    url = f"{PRODUCTS}/MUG/RED-1"
    response = secret_client.get(url)
    assert response.status_code == 200
    assert response.json()["title"] == "Red mug"
    assert secret_client.delete(url).status_code == 204
    assert secret_client.get(url).status_code == 404
    assert secret_client.delete(url).status_code == 404


def test_a_sku_that_ends_in_a_slash_is_read_by_its_sku_not_taken_for_a_mistyped_path(secret_client, tenant):
    # Nothing refuses such a SKU when it is stored, so the API must reach it (tenants/converters.py).
    ProductFactory(tenant=tenant, external_id="MUG/", title="Any mug")
    response = secret_client.get(f"{PRODUCTS}/MUG/")
    assert response.status_code == 200
    assert response.json()["external_id"] == "MUG/"
    assert secret_client.get(f"{PRODUCTS}/MUG").status_code == 404


def test_another_tenants_key_gets_404_for_a_product_of_the_first_tenant_and_does_not_list_it(
    other_tenant_client, tenant
):
    ProductFactory(tenant=tenant, external_id="OURS-1")
    assert other_tenant_client.get(f"{PRODUCTS}/OURS-1").status_code == 404
    assert other_tenant_client.delete(f"{PRODUCTS}/OURS-1").status_code == 404
    assert other_tenant_client.get(PRODUCTS).json()["results"] == []
    assert "OURS-1" in _products_of(tenant)


def test_an_upsert_with_another_tenants_key_never_touches_the_first_tenants_product(
    other_tenant_client, tenant, other_tenant
):
    ProductFactory(tenant=tenant, external_id="SHARED-SKU", title="Ours")
    response = other_tenant_client.post(
        PRODUCTS, {"products": [{"external_id": "SHARED-SKU", "title": "Theirs"}]}, format="json"
    )
    assert response.json() == {"created": 1, "updated": 0}
    assert _products_of(tenant)["SHARED-SKU"].title == "Ours"
    assert _products_of(other_tenant)["SHARED-SKU"].title == "Theirs"


def test_the_upsert_refuses_to_write_a_tenants_products_inside_another_tenants_scope(tenant, other_tenant):
    # bulk_create skips the per-row scope check of save(): the service makes its own.
    with tenant_scope(tenant), pytest.raises(TenantScopeMissing):
        product_upsert_many(tenant=other_tenant, rows=[{"external_id": "X", "title": "X"}])
    assert _products_of(other_tenant) == {}


CATALOG_CALLS = [
    ("get", PRODUCTS), ("post", PRODUCTS), ("get", f"{PRODUCTS}/ANY"), ("delete", f"{PRODUCTS}/ANY"),
    ("get", IMPORTS), ("post", IMPORTS), ("get", f"{IMPORTS}/1"),
]


@pytest.mark.parametrize("method,url", CATALOG_CALLS)
def test_no_key_gets_401(api_client, db, method, url):
    assert getattr(api_client, method)(url).status_code == 401


@pytest.mark.parametrize("method,url", CATALOG_CALLS)
def test_a_bad_key_gets_401(api_client, tenant, method, url):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer sk_abcdefgh.notarealsecret")
    assert getattr(api_client, method)(url).status_code == 401


@pytest.mark.parametrize("method,url", CATALOG_CALLS)
def test_a_publishable_key_gets_403_on_every_catalog_endpoint(publishable_client, tenant, method, url):
    ProductFactory(tenant=tenant, external_id="ANY")
    assert getattr(publishable_client, method)(url).status_code == 403
    assert "ANY" in _products_of(tenant)


def test_a_session_analyst_can_read_but_gets_403_on_writes(api_client, tenant, member_with_role):
    ProductFactory(tenant=tenant, external_id="ANY")
    api_client.force_login(member_with_role(Role.ANALYST))
    assert api_client.get(PRODUCTS).status_code == 200
    assert api_client.get(f"{PRODUCTS}/ANY").status_code == 200
    assert api_client.get(IMPORTS).status_code == 200
    body = {"products": [{"external_id": "NEW", "title": "New"}]}
    assert api_client.post(PRODUCTS, body, format="json").status_code == 403
    assert api_client.delete(f"{PRODUCTS}/ANY").status_code == 403
    assert sorted(_products_of(tenant)) == ["ANY"]


def test_a_session_owner_can_write(session_client, tenant):
    body = {"products": [{"external_id": "N", "title": "New"}]}
    response = session_client.post(PRODUCTS, body, format="json")
    assert response.status_code == 200
    assert "N" in _products_of(tenant)


def test_the_openapi_schema_documents_the_product_fields_and_the_paginated_list(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    components = schema["components"]["schemas"]
    products = schema["paths"]["/api/v1/catalog/products"]
    imports = schema["paths"]["/api/v1/catalog/imports"]
    request_schema = products["post"]["requestBody"]["content"]["application/json"]
    assert request_schema["schema"]["$ref"].endswith("/ProductUpsertRequest")
    items = components["ProductUpsertRequest"]["properties"]["products"]["items"]
    assert items["$ref"].endswith("/ProductInput")
    assert {"external_id", "title", "price", "attributes"} <= set(components["ProductInput"]["properties"])
    assert "examples" in request_schema
    listed = products["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/PaginatedProductList")
    assert {"category", "q", "in_stock", "page"} <= {p["name"] for p in products["get"]["parameters"]}
    assert "/api/v1/catalog/products/{external_id}" in schema["paths"]
    assert "/api/v1/catalog/imports/{import_id}" in schema["paths"]
    assert "multipart/form-data" in imports["post"]["requestBody"]["content"]


def test_the_openapi_schema_says_a_title_is_required_only_for_a_new_product(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    product_input = schema["components"]["schemas"]["ProductInput"]
    assert product_input["required"] == ["external_id"]
    assert "not yet in the catalog" in product_input["properties"]["title"]["description"]


def test_a_category_that_outgrows_its_limit_once_spelled_out_is_refused_by_field(secret_client, tenant):
    # "a>a>...": 499 characters as sent, 997 once written "a > a > ...", which the column cannot hold.
    response = secret_client.post(
        PRODUCTS, {"products": [{"external_id": "X-1", "title": "X", "category": ">".join(["a"] * 250)}]},
        format="json",
    )
    assert response.status_code == 400
    assert "once written as" in str(response.json()) and "category" in str(response.json())
    assert _products_of(tenant) == {}
