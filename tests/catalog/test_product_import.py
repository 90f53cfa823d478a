"""Catalog file imports: CSV and JSON through the API, the record of each import, the command."""
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog.models import ImportStatus, Product, ProductImport
from tenants.scope import tenant_scope
from tests.catalog.conftest import queued_and_run
from tests.factories import ProductFactory

IMPORTS = "/api/v1/catalog/imports"
DATA = Path(__file__).parent / "data"


def _upload(client, filename: str, content: bytes, content_type: str = "application/octet-stream"):
    """The import as it reads once a worker has run it: the upload itself is a 202 with its address."""
    upload = SimpleUploadedFile(filename, content, content_type)
    queued = queued_and_run(lambda: client.post(IMPORTS, {"file": upload}, format="multipart"))
    assert queued.status_code == 202, queued.content
    assert queued.json()["status"] == ImportStatus.QUEUED
    return client.get(queued["Location"])


def _upload_sample(client, name: str):
    return _upload(client, name, (DATA / name).read_bytes())


def _products_of(tenant) -> dict[str, Product]:
    with tenant_scope(tenant):
        return {product.external_id: product for product in Product.objects.all()}


def _imports_of(tenant) -> list[ProductImport]:
    with tenant_scope(tenant):
        return list(ProductImport.objects.all())


def test_a_csv_catalog_is_imported_with_created_and_updated_counts(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="BAN-1KG", title="Old bananas", price="9.99")
    response = _upload_sample(secret_client, "catalog.csv")
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    body = response.json()
    assert body["status"] == ImportStatus.SUCCEEDED
    assert (body["row_count"], body["created_count"], body["updated_count"]) == (3, 2, 1)
    assert body["errors"] == [] and body["error_count"] == 0

    products = _products_of(tenant)
    apples = products["APL-GALA"]
    assert apples.description == "Crisp and sweet,\nfrom the valley"  # a quoted cell over two lines
    assert apples.category == "Grocery > Produce > Apples"
    assert apples.currency == "USD"
    # The attributes column's JSON and the attr_ columns meet in one object.
    assert apples.attributes == {"organic": False, "origin": "NZ"}
    bananas = products["BAN-1KG"]
    assert bananas.title == "Bananas 1 kg"
    assert bananas.category == "Grocery > Produce"
    assert str(bananas.price) == "1.99"
    assert products["TEA-GREEN"].in_stock is False
    assert products["TEA-GREEN"].attributes == {"origin": "CN"}


def test_a_file_with_only_some_columns_updates_those_and_keeps_the_rest_of_each_product(secret_client, tenant):
    ProductFactory(
        tenant=tenant, external_id="SKU-2", title="Green pear", category="Produce > Pears", brand="Orchard",
        price="2.50", currency="USD", in_stock=False, attributes={"origin": "CN"},
    )
    response = _upload(secret_client, "titles.csv", b"external_id,title\nSKU-2,Green pear (renamed)\n")
    assert response.json()["updated_count"] == 1
    pear = _products_of(tenant)["SKU-2"]
    assert pear.title == "Green pear (renamed)"
    assert (pear.category, pear.brand, str(pear.price), pear.currency) == ("Produce > Pears", "Orchard", "2.50", "USD")
    assert pear.in_stock is False and pear.attributes == {"origin": "CN"}


def test_an_empty_cell_in_a_column_of_the_file_clears_that_field(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-2", title="Green pear", brand="Orchard", price="2.50")
    _upload(secret_client, "clear.csv", b"external_id,title,brand,price\nSKU-2,Green pear,,\n")
    pear = _products_of(tenant)["SKU-2"]
    assert (pear.brand, pear.price) == ("", None)


def test_a_json_product_updates_the_fields_it_gives(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-2", title="Green pear", brand="Orchard")
    body = json.dumps([{"external_id": "SKU-2", "title": "Pear", "in_stock": False}]).encode()
    _upload(secret_client, "stock.json", body)
    pear = _products_of(tenant)["SKU-2"]
    assert (pear.title, pear.brand, pear.in_stock) == ("Pear", "Orchard", False)


def test_a_csv_without_a_title_column_updates_the_products_in_the_catalog_and_keeps_their_titles(
    secret_client, tenant
):
    ProductFactory(tenant=tenant, external_id="SKU-1", title="Green tea", brand="Leafy", price="4.50")
    ProductFactory(tenant=tenant, external_id="SKU-2", title="Black tea", in_stock=False)

    response = _upload(secret_client, "stock.csv", b"external_id,in_stock\nSKU-1,false\nSKU-2,true\n")

    body = response.json()
    assert body["status"] == ImportStatus.SUCCEEDED, body
    assert (body["created_count"], body["updated_count"]) == (0, 2)
    products = _products_of(tenant)
    assert (products["SKU-1"].title, products["SKU-1"].in_stock) == ("Green tea", False)
    assert (products["SKU-1"].brand, str(products["SKU-1"].price)) == ("Leafy", "4.50")
    assert (products["SKU-2"].title, products["SKU-2"].in_stock) == ("Black tea", True)


def test_a_csv_without_a_title_column_refuses_a_new_sku_by_row_and_stores_nothing(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-1", title="Green tea")

    response = _upload(secret_client, "stock.csv", b"external_id,in_stock\nSKU-1,false\nNEW-1,true\n")

    body = response.json()
    assert body["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"], error["reason"]) for error in body["errors"]] == [
        (3, "title", "Required for a product not yet in the catalog."),
    ]
    assert sorted(_products_of(tenant)) == ["SKU-1"]
    assert _products_of(tenant)["SKU-1"].in_stock is True


def test_a_csv_without_a_title_column_does_not_take_another_tenants_product_for_one_in_the_catalog(
    secret_client, tenant, other_tenant
):
    ProductFactory(tenant=other_tenant, external_id="SHARED-SKU", title="Theirs", in_stock=True)

    response = _upload(secret_client, "stock.csv", b"external_id,in_stock\nSHARED-SKU,false\n")

    assert response.json()["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in response.json()["errors"]] == [(2, "title")]
    assert _products_of(tenant) == {}
    theirs = _products_of(other_tenant)["SHARED-SKU"]
    assert (theirs.title, theirs.in_stock) == ("Theirs", True)


def test_an_empty_title_cell_is_refused_even_for_a_product_in_the_catalog(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-1", title="Green tea")

    response = _upload(secret_client, "catalog.csv", b"external_id,title,in_stock\nSKU-1,,false\n")

    assert response.json()["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in response.json()["errors"]] == [(2, "title")]
    assert _products_of(tenant)["SKU-1"].in_stock is True


def test_a_json_item_without_a_title_updates_a_product_in_the_catalog_and_one_for_a_new_sku_is_refused(
    secret_client, tenant
):
    ProductFactory(tenant=tenant, external_id="SKU-1", title="Green tea")
    stock = [{"external_id": "SKU-1", "in_stock": False}]

    done = _upload(secret_client, "stock.json", json.dumps(stock).encode()).json()
    assert done["status"] == ImportStatus.SUCCEEDED
    tea = _products_of(tenant)["SKU-1"]
    assert (tea.title, tea.in_stock) == ("Green tea", False)

    with_a_new_sku = [*stock, {"external_id": "NEW-1"}]
    refused = _upload(secret_client, "stock.json", json.dumps(with_a_new_sku).encode()).json()
    assert refused["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in refused["errors"]] == [(2, "title")]
    assert sorted(_products_of(tenant)) == ["SKU-1"]


def test_a_catalog_file_with_one_bad_row_stores_nothing_and_names_the_row(secret_client, tenant):
    response = _upload_sample(secret_client, "catalog_bad_row.csv")
    assert response.json()["status"] == ImportStatus.FAILED
    body = response.json()
    assert body["status"] == ImportStatus.FAILED
    # The header is row 1: MUG-2, the second product, is row 3 of the spreadsheet.
    assert [(error["row"], error["field"]) for error in body["errors"]] == [(3, "price")]
    assert body["errors"][0]["reason"]
    assert _products_of(tenant) == {}
    (recorded,) = _imports_of(tenant)
    assert recorded.status == ImportStatus.FAILED
    assert recorded.error_count == 1
    assert [{key: error[key] for key in ("row", "field", "reason")} for error in recorded.errors] == body["errors"]


def test_a_failed_import_is_explained_in_the_readers_language_whatever_the_uploaders(
    secret_client, owner_client, tenant
):
    from django.utils import translation

    # A reason with no value of the file in it, for gettext to find it whole. The key's request: in English.
    response = _upload(secret_client, "catalog.csv", b"external_id,title,\nA-1,Mug,in no column\n")
    english = response.json()["errors"][0]["reason"]
    with translation.override("zh-hans"):
        chinese = translation.gettext(english)
    assert chinese != english  # a message the catalog has in both languages
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get(f"/catalog/imports/{response.json()['id']}/").content.decode()
    assert chinese in page and english not in page
    in_chinese = secret_client.get(f"{IMPORTS}/{response.json()['id']}", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert in_chinese["errors"][0]["reason"] == chinese


def test_a_file_row_and_an_api_product_are_refused_for_the_same_reason(secret_client, tenant):
    from_file = _upload_sample(secret_client, "catalog_bad_row.csv").json()["errors"][0]
    from_api = secret_client.post("/api/v1/catalog/products", {"products": [
        {"external_id": "MUG-2", "title": "Glass mug", "price": "not-a-price"},
    ]}, format="json").json()["errors"][0]
    assert (from_file["field"], from_file["reason"]) == (from_api["field"], from_api["reason"])


@pytest.mark.parametrize("price", ["1,99", "¥12", "$4"])
def test_a_price_that_is_no_plain_number_is_quoted_back_with_what_a_price_looks_like(secret_client, tenant, price):
    response = _upload(secret_client, "catalog.csv", f'external_id,title,price\nA-1,Tea,"{price}"\n'.encode())
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "price")
    assert f"“{price}”" in error["reason"]
    assert "1234.50" in error["reason"] and "currency field" in error["reason"]


@pytest.mark.parametrize("stock", ["是", "out of stock"])
def test_a_stock_cell_that_is_no_yes_or_no_is_quoted_back_with_what_works(secret_client, tenant, stock):
    content = f"external_id,title,in_stock\nA-1,Tea,{stock}\n".encode()
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "in_stock")
    assert f"“{stock}”" in error["reason"] and "true or false" in error["reason"]


def test_attributes_that_are_no_json_object_in_a_json_file_are_told_what_an_object_looks_like(
    secret_client, tenant
):
    products = [{"external_id": "A-1", "title": "Tea", "attributes": "red"}]
    response = _upload(secret_client, "catalog.json", json.dumps(products).encode())
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (1, "attributes")
    assert error["reason"] == 'Write a JSON object, such as {"origin": "NZ"}.'
    in_chinese = secret_client.get(response.request["PATH_INFO"], HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert "类目" not in in_chinese["errors"][0]["reason"]  # DRF's Chinese calls a JSON object's items categories


def test_a_price_with_thousands_separators_and_a_decimal_dot_is_read_as_spreadsheets_write_it(
    secret_client, tenant
):
    from catalog.models import Product

    response = _upload(secret_client, "catalog.csv", b'external_id,title,price\nA-1,Espresso machine,"1,299.00"\n')
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    assert str(Product.all_tenants.get(external_id="A-1").price) == "1299.00"
    refused = _upload(secret_client, "catalog.csv", b'external_id,title,price\nA-2,Kettle,"1,299"\n')
    assert refused.json()["status"] == ImportStatus.FAILED  # 1,299 may be 1.299: said back, not guessed


def test_a_price_no_database_can_store_in_a_json_file_is_quoted_as_written(secret_client, tenant):
    response = _upload(secret_client, "catalog.json", b'[{"external_id": "A", "title": "Tea", "price": NaN}]')
    reasons = [error["reason"] for error in response.json()["errors"] if error["field"] == "price"]
    assert len(reasons) == 2  # not storable, and not a price
    assert all("NaN" in reason and "object at" not in reason for reason in reasons)


def test_every_bad_row_of_a_csv_file_is_reported_with_its_spreadsheet_row(secret_client, tenant):
    content = (
        "external_id,title,price,attributes,attr_color\n"
        "A-1,Fine,1.00,,\n"
        "\n"  # a blank line: skipped, but it is still a row of the spreadsheet
        "A-2,,2.00,\n"
        "A-3,Bad JSON,3.00,{not json}\n"
        "A-1,Duplicate,4.00,\n"
        "A-5,Too many cells,5.00,,red,extra\n"
        'A-6,List attributes,6.00,"[1, 2]",red\n'
    ).encode()
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.FAILED
    errors = [(error["row"], error["field"]) for error in response.json()["errors"]]
    assert errors == [
        (4, "title"), (5, "attributes"), (6, "external_id"), (7, "product"), (8, "attributes"),
    ]
    assert _products_of(tenant) == {}


def test_a_bad_attributes_cell_names_where_its_json_breaks_without_pythons_english_message(secret_client, tenant):
    response = _upload(secret_client, "catalog.csv", b"external_id,title,attributes\nA-1,Tea,{not json}\n")
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "attributes")
    assert "character 2 of the cell" in error["reason"]
    assert "Expecting" not in error["reason"]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_semicolon_or_tab_separated_csv_is_read_like_a_comma_separated_one(secret_client, tenant, delimiter):
    # The header's comma does not make it comma-separated: its columns say what separates them.
    header = delimiter.join(["external_id", "title", "price", "attr_size, cm"])
    row = delimiter.join(["A-1", "Tea, green", "1.99", "20"])
    response = _upload(secret_client, "catalog.csv", f"{header}\r\n{row}\r\n".encode())
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    tea = _products_of(tenant)["A-1"]
    assert (tea.title, str(tea.price), tea.attributes) == ("Tea, green", "1.99", {"size, cm": "20"})


def test_a_comma_separated_csv_keeps_its_quoted_commas_and_its_semicolons(secret_client, tenant):
    content = b'external_id,title,description\nA-1,"Tea, green",Loose; 250 g\nA-2,"Tea; black, strong",Bags\n'
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    products = _products_of(tenant)
    assert (products["A-1"].title, products["A-1"].description) == ("Tea, green", "Loose; 250 g")
    assert products["A-2"].title == "Tea; black, strong"


def test_a_missing_sku_column_is_a_clear_error(secret_client, tenant):
    response = _upload(secret_client, "catalog.csv", b"title,price\nTea,1.00\n")
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (1, "external_id")
    assert "external_id" in error["reason"] and "missing" in error["reason"]


def test_an_unknown_column_is_refused_so_no_data_is_silently_dropped(secret_client, tenant):
    response = _upload(secret_client, "catalog.csv", b"external_id,title,colour\nA-1,Mug,red\n")
    assert response.json()["status"] == ImportStatus.FAILED
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "colour")]
    assert "attr_" in response.json()["errors"][0]["reason"]


def test_a_form_field_beside_the_file_is_refused_by_name_and_nothing_is_imported(secret_client, tenant):
    upload = SimpleUploadedFile("catalog.csv", b"external_id,title\nA-1,Mug\n", "text/csv")
    response = secret_client.post(IMPORTS, {"file": upload, "dry_run": "true"}, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"dry_run": ["Unknown field. The fields are: file."]}
    assert _imports_of(tenant) == []


def _refused_at_once(client, filename: str, content: bytes, content_type: str = "application/octet-stream"):
    """The upload of a file no worker could import, answered with the failed import, not queued."""
    response = client.post(IMPORTS, {"file": SimpleUploadedFile(filename, content, content_type)}, format="multipart")
    assert response.status_code == 400, response.content
    assert client.get(response["Location"]).json() == response.json()
    return response


def test_an_empty_file_is_a_clear_error_and_is_recorded(secret_client, tenant):
    response = _refused_at_once(secret_client, "catalog.csv", b"")
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert error["row"] is None and error["field"] == "file"
    assert "empty" in error["reason"]
    assert [recorded.status for recorded in _imports_of(tenant)] == [ImportStatus.FAILED]


def test_a_csv_with_only_a_header_holds_no_product(secret_client, tenant):
    response = _upload(secret_client, "catalog.csv", b"external_id,title\n")
    assert response.json()["status"] == ImportStatus.FAILED
    assert "no product" in response.json()["errors"][0]["reason"]


def test_a_utf8_csv_with_a_byte_order_mark_is_read(secret_client, tenant):
    content = (DATA / "catalog_utf8_bom.csv").read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    response = _upload(secret_client, "catalog_utf8_bom.csv", content)
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    assert _products_of(tenant)["BOM-1"].brand == "茶叶铺"


def test_a_file_that_is_not_utf8_is_refused(secret_client, tenant):
    response = _upload(secret_client, "catalog.csv", "external_id,title\nA-1,Thé vert\n".encode("latin-1"))
    assert response.json()["status"] == ImportStatus.FAILED
    assert "UTF-8" in response.json()["errors"][0]["reason"]
    assert _products_of(tenant) == {}


def test_a_csv_saved_in_gbk_names_the_row_of_its_first_other_character_and_how_to_save_it_as_utf8(
    secret_client, tenant
):
    # What a Chinese Excel's "CSV" holds. Row 3 is line 4: the quoted description spans two lines.
    content = 'external_id,title,description\nA-1,Tea,"Two\nlines"\nA-2,绿茶,Green tea\n'.encode("gbk")
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (3, "file")
    assert "Save As → “CSV UTF-8 (Comma delimited)”" in error["reason"]
    assert "byte" not in error["reason"]
    assert _products_of(tenant) == {}


def test_a_json_file_that_is_not_utf8_names_the_line_of_its_first_other_character(secret_client, tenant):
    content = '[\n{"external_id": "A-1", "title": "绿茶"}\n]'.encode("gb18030")
    (error,) = _upload(secret_client, "catalog.json", content).json()["errors"]
    assert (error["row"], error["field"]) == (None, "file")
    assert error["reason"].startswith("Line 2 ")


def _xlsx_bytes() -> bytes:
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return workbook.getvalue()


@pytest.mark.parametrize("filename", ["catalog.csv", "catalog.json"])
@pytest.mark.parametrize("workbook", [
    _xlsx_bytes(),
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),  # the header of an .xls
], ids=["xlsx", "xls"])
def test_an_excel_workbook_renamed_csv_or_json_is_called_a_workbook_to_save_as_csv(
    secret_client, tenant, filename, workbook
):
    response = _upload(secret_client, filename, workbook)
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (None, "file")
    assert "Excel workbook" in error["reason"] and "“CSV UTF-8 (Comma delimited)”" in error["reason"]


def test_a_json_catalog_is_imported(secret_client, tenant):
    response = _upload_sample(secret_client, "catalog.json")
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content
    assert response.json()["created_count"] == 2
    assert response.json()["file_format"] == "json"
    products = _products_of(tenant)
    assert products["JSON-1"].currency == "GBP"
    assert products["JSON-1"].attributes == {"vegan": True}
    assert products["JSON-2"].in_stock is False


def test_a_json_list_chosen_by_content_type_is_imported_and_a_bad_item_is_named_by_position(
    secret_client, tenant
):
    good = json.dumps([{"external_id": "J-1", "title": "One"}]).encode()
    response = _upload(secret_client, "export", good, content_type="application/json")
    assert response.json()["status"] == ImportStatus.SUCCEEDED, response.content

    bad = json.dumps([
        {"external_id": "J-2", "title": "Two"},
        {"external_id": "J-3", "in_stock": "maybe"},
    ]).encode()
    response = _upload(secret_client, "catalog.json", bad)
    assert response.json()["status"] == ImportStatus.FAILED
    errors = {(error["row"], error["field"]) for error in response.json()["errors"]}
    assert errors == {(2, "title"), (2, "in_stock")}
    assert sorted(_products_of(tenant)) == ["J-1"]


def test_invalid_json_is_a_clear_error(secret_client, tenant):
    response = _upload(secret_client, "catalog.json", b'[{"external_id": "A",')
    assert response.json()["status"] == ImportStatus.FAILED
    assert "JSON" in response.json()["errors"][0]["reason"]


def test_invalid_json_names_its_line_and_column_without_pythons_english_message(secret_client, tenant):
    (error,) = _upload(secret_client, "catalog.json", b'[{"external_id": "A",\n  "title": }]').json()["errors"]
    assert "(line 2, column 12)" in error["reason"]
    assert "Expecting" not in error["reason"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_no_database_can_store_in_a_json_file_names_its_row_and_field(secret_client, tenant, number):
    content = (
        '[{"external_id": "A", "title": "Fine"},'
        f' {{"external_id": "B", "title": "Heavy", "attributes": {{"weight": {number}}}}}]'
    ).encode()
    response = _upload(secret_client, "catalog.json", content)
    assert response.json()["status"] == ImportStatus.FAILED
    body = response.json()
    assert [(error["row"], error["field"]) for error in body["errors"]] == [(2, "attributes.weight")]
    assert number in body["errors"][0]["reason"]
    assert _products_of(tenant) == {}
    assert [record.status for record in _imports_of(tenant)] == [ImportStatus.FAILED]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_a_number_no_database_can_store_in_a_csv_attributes_cell_names_its_row(secret_client, tenant, number):
    content = f'external_id,title,attributes\nA,Fine,\nB,Heavy,"{{""weight"": {number}}}"\n'.encode()
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.FAILED
    body = response.json()
    assert [(error["row"], error["field"]) for error in body["errors"]] == [(3, "attributes.weight")]
    assert number in body["errors"][0]["reason"]
    assert _products_of(tenant) == {}
    assert [record.status for record in _imports_of(tenant)] == [ImportStatus.FAILED]


def test_a_json_file_nested_too_deeply_to_read_is_a_failed_import(secret_client, tenant):
    response = _upload(secret_client, "catalog.json", b"[" * 100_000 + b"]" * 100_000)
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (None, "file")
    assert "too deeply" in error["reason"]
    assert [record.status for record in _imports_of(tenant)] == [ImportStatus.FAILED]


def test_a_csv_attributes_cell_nested_too_deeply_to_read_names_its_row(secret_client, tenant):
    # Deeper than Python's stack, within the csv module's 131,072 characters a cell.
    content = b"external_id,title,attributes\nA,Deep," + b"[" * 50_000 + b"]" * 50_000 + b"\n"
    response = _upload(secret_client, "catalog.csv", content)
    assert response.json()["status"] == ImportStatus.FAILED
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, "attributes")
    assert "too deeply" in error["reason"]
    assert _products_of(tenant) == {}


def test_a_file_of_another_type_is_refused(secret_client, tenant):
    response = _refused_at_once(secret_client, "catalog.xlsx", b"PK\x03\x04", content_type="application/vnd.ms-excel")
    assert response.json()["status"] == ImportStatus.FAILED
    assert ".csv" in response.json()["errors"][0]["reason"]


def test_a_one_row_import_says_row_and_product_in_the_singular(owner_client, tenant):
    upload = SimpleUploadedFile("one.csv", b"external_id,title\nA-1,Tea\n", "text/csv")
    posted = queued_and_run(lambda: owner_client.post(reverse("product-import"), {"file": upload}))
    html = owner_client.get(posted.url).content.decode()
    assert "1 row imported: 1 product created, 0 updated." in html


def test_the_counts_of_a_large_import_are_shown_with_their_thousands_grouped(owner_client, tenant):
    with tenant_scope(tenant):
        recorded = ProductImport.objects.create(
            tenant=tenant, filename="big.csv", file_format="csv", status=ImportStatus.SUCCEEDED,
            row_count=110_557, created_count=110_000, updated_count=557,
        )
    detail = owner_client.get(reverse("product-import-detail", args=[recorded.pk])).content.decode()
    assert "110,557 rows imported: 110,000 products created, 557 updated." in detail
    listed = owner_client.get(reverse("product-import")).content.decode()
    assert "<td>110,557</td>" in listed and "<td>110,000</td>" in listed


def test_the_import_page_says_how_to_save_a_sheet_from_excel(owner_client):
    html = owner_client.get(reverse("product-import")).content.decode()
    assert "Save As → “CSV UTF-8 (Comma delimited)”" in html and "semicolons or tabs" in html


def test_a_failed_import_keeps_its_first_errors_and_counts_them_all(secret_client, tenant):
    rows = "".join(f"SKU-{n},Thing,-1\n" for n in range(250))
    response = _upload(secret_client, "catalog.csv", f"external_id,title,price\n{rows}".encode())
    body = response.json()
    assert body["error_count"] == 250
    assert len(body["errors"]) == 200
    assert body["errors"][0]["row"] == 2


def test_a_request_without_a_file_is_a_400(secret_client, tenant):
    assert secret_client.post(IMPORTS, {}, format="multipart").status_code == 400


def test_imports_are_listed_and_read_and_another_tenants_import_is_404(
    secret_client, other_tenant_client, tenant
):
    _upload_sample(secret_client, "catalog.csv")
    _upload_sample(secret_client, "catalog_bad_row.csv")
    listed = secret_client.get(IMPORTS).json()
    assert [item["filename"] for item in listed["results"]] == ["catalog_bad_row.csv", "catalog.csv"]
    failed_id = listed["results"][0]["id"]
    detail = secret_client.get(f"{IMPORTS}/{failed_id}")
    assert detail.status_code == 200
    assert detail.json()["errors"][0]["row"] == 3

    assert other_tenant_client.get(f"{IMPORTS}/{failed_id}").status_code == 404
    assert other_tenant_client.get(IMPORTS).json()["results"] == []


@pytest.mark.parametrize("query,name", [
    ({"page": "abc"}, "page"),
    ({"page": "0"}, "page"),
    ({"page_size": "100000"}, "page_size"),
])
def test_a_bad_page_or_an_unknown_parameter_of_the_import_list_is_a_400_naming_it(
    secret_client, tenant, query, name
):
    response = secret_client.get(IMPORTS, query)
    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_a_page_past_the_last_import_stays_a_404_where_a_page_that_is_no_number_is_a_400(
    secret_client, tenant
):
    _upload_sample(secret_client, "catalog.csv")
    assert secret_client.get(IMPORTS, {"page": 1}).status_code == 200
    assert secret_client.get(IMPORTS, {"page": 2}).status_code == 404
    assert secret_client.get(IMPORTS, {"page": "two"}).status_code == 400


def test_an_import_by_a_logged_in_owner_records_who_uploaded_it(session_client, merchant_user, tenant):
    response = _upload_sample(session_client, "catalog.json")
    assert response.json()["status"] == ImportStatus.SUCCEEDED
    assert _imports_of(tenant)[0].created_by == merchant_user


def test_the_management_command_imports_a_file_and_prints_counts(tenant):
    ProductFactory(tenant=tenant, external_id="TEA-GREEN")
    out = io.StringIO()
    call_command("import_catalog", str(DATA / "catalog.csv"), tenant="acme", stdout=out)
    assert "Imported 3 rows: 2 products created, 1 updated." in out.getvalue()
    assert sorted(_products_of(tenant)) == ["APL-GALA", "BAN-1KG", "TEA-GREEN"]
    assert _imports_of(tenant)[0].status == ImportStatus.SUCCEEDED


def test_the_management_command_says_row_and_product_in_the_singular_for_one(tenant, tmp_path):
    out = io.StringIO()
    one = tmp_path / "one.csv"
    one.write_text("external_id,title\nONE-1,One\n", encoding="utf-8")
    call_command("import_catalog", str(one), tenant="acme", stdout=out)
    assert "Imported 1 row: 1 product created, 0 updated." in out.getvalue()


def test_the_management_command_exits_non_zero_and_prints_the_row_errors(tenant):
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_catalog", str(DATA / "catalog_bad_row.csv"), tenant="acme", stderr=err)
    assert "row 3, price" in err.getvalue()
    assert "failed with 1 error;" in str(failure.value)
    assert _products_of(tenant) == {}


def test_the_management_command_exits_non_zero_from_the_shell(tenant, capsys):
    # CommandError becomes exit status 1 when the command runs as a program.
    from django.core.management import ManagementUtility

    bad_file = str(DATA / "catalog_bad_row.csv")
    utility = ManagementUtility(["manage.py", "import_catalog", "--tenant", "acme", bad_file])
    with pytest.raises(SystemExit) as exit_info:
        utility.execute()
    assert exit_info.value.code == 1
    assert "row 3, price" in capsys.readouterr().err


def test_the_management_command_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="nope"):
        call_command("import_catalog", str(DATA / "catalog.csv"), tenant="nope")


def test_a_quote_that_never_closes_names_its_row_in_the_readers_words_not_pythons(secret_client, tenant):
    body = b'external_id,title\nA-1,Apple\nB-1,"Banana\n' + b"x" * 140_000 + b"\n"
    response = _upload(secret_client, "quote.csv", body)
    errors = response.json()["errors"]
    assert [(error["row"], error["field"]) for error in errors] == [(3, "file")]
    assert "one of its cells runs on" in errors[0]["reason"] and "field limit" not in errors[0]["reason"]
    assert _products_of(tenant) == {}


def test_a_repeated_sku_is_reported_with_the_other_errors_of_the_file_not_after_them(secret_client, tenant):
    body = b'external_id,title,price\nA-1,Tea,not-a-price\nA-1,Green tea,3.50\nB-2,Coffee,also-bad\nB-2,Coffee,x\n'
    response = _upload(secret_client, "catalog.csv", body)
    assert response.json()["status"] == ImportStatus.FAILED
    errors = {(error["row"], error["field"]) for error in response.json()["errors"]}
    assert errors == {(2, "price"), (3, "external_id"), (4, "price"), (5, "price"), (5, "external_id")}
