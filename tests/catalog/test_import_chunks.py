"""A catalog file is checked and saved a chunk of rows at a time (settings.CATALOG_IMPORT_CHUNK_ROWS),
so a worker's memory follows the chunk, not the file; the import stays all or nothing, in SKU order.
Here a chunk is 3 rows, and the files hold more."""
import json
import random
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import tasks
from catalog.models import ImportStatus, Product, ProductImport
from catalog.services import import_files
from catalog.services import imports as import_services
from catalog.services import products as product_services
from tenants.scope import tenant_scope
from tests.catalog.conftest import queued_and_run
from tests.factories import ProductFactory

IMPORTS = "/api/v1/catalog/imports"
CHUNK = 3


@pytest.fixture(autouse=True)
def _chunks_of_three_rows(settings):
    settings.CATALOG_IMPORT_CHUNK_ROWS = CHUNK


def _csv(skus, *, header: str = "external_id,title,price", price: str = "2.50", delimiter: str = ",") -> bytes:
    rows = "".join(f"{sku}{delimiter}Tea {sku}{delimiter}{price}\n" for sku in skus)
    return (header.replace(",", delimiter) + "\n" + rows).encode()


def _imported(client, content: bytes, name: str = "catalog.csv") -> dict:
    """The import as it reads once a worker has run it."""
    upload = SimpleUploadedFile(name, content, "application/octet-stream")
    queued = queued_and_run(lambda: client.post(IMPORTS, {"file": upload}, format="multipart"))
    assert queued.status_code == 202, queued.content
    return client.get(queued["Location"]).json()


def _products_of(tenant) -> dict[str, Product]:
    with tenant_scope(tenant):
        return {product.external_id: product for product in Product.objects.all()}


TEN_SKUS = [f"SKU-{n:02d}" for n in range(10)]


def test_a_file_of_several_chunks_is_imported_whole_with_its_counts(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-05", title="Old tea")

    done = _imported(secret_client, _csv(TEN_SKUS))

    assert done["status"] == ImportStatus.SUCCEEDED, done
    assert (done["row_count"], done["rows_checked"], done["created_count"], done["updated_count"]) == (10, 10, 9, 1)
    products = _products_of(tenant)
    assert sorted(products) == TEN_SKUS
    assert products["SKU-05"].title == "Tea SKU-05"


def test_no_more_than_a_chunk_of_rows_is_checked_at_once(secret_client, tenant, monkeypatch):
    real_validate = import_services.product_rows_validate
    sizes = []

    def validate_and_count(rows, **kwargs):
        sizes.append(len(rows))
        return real_validate(rows, **kwargs)

    monkeypatch.setattr(import_services, "product_rows_validate", validate_and_count)
    assert _imported(secret_client, _csv(TEN_SKUS))["status"] == ImportStatus.SUCCEEDED

    assert sizes == [3, 3, 3, 1]


def test_the_products_are_saved_a_chunk_at_a_time_in_sku_order_across_the_whole_file(secret_client, tenant):
    """Two imports of the same SKUs lock their rows in the same order, whatever their files' order:
    neither waits on the other for a row it holds (no deadlock)."""
    shuffled = TEN_SKUS.copy()
    random.Random(4).shuffle(shuffled)

    with CaptureQueriesContext(connection) as queries:
        assert _imported(secret_client, _csv(shuffled))["status"] == ImportStatus.SUCCEEDED

    upserts = [query["sql"] for query in queries if query["sql"].startswith('INSERT INTO "catalog_product"')]
    # Each SKU once per upsert: its title names it too.
    skus_in_each = [list(dict.fromkeys(re.findall(r"\bSKU-\d\d\b", upsert))) for upsert in upserts]
    assert all(len(skus) <= CHUNK for skus in skus_in_each)
    # SQLite lists the values row by row, PostgreSQL column by column (UNNEST): in both, in their order.
    assert [sku for skus in skus_in_each for sku in skus] == TEN_SKUS


def test_a_bad_row_in_the_last_chunk_leaves_nothing_of_the_file_saved(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-00", title="Old tea")
    content = _csv(TEN_SKUS) + b"SKU-99,Tea,cheap\n"

    failed = _imported(secret_client, content)

    assert failed["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(12, "price")]
    assert failed["row_count"] == 11 and failed["created_count"] == 0
    assert list(_products_of(tenant)) == ["SKU-00"] and _products_of(tenant)["SKU-00"].title == "Old tea"


def test_an_error_of_ours_while_a_late_chunk_is_saved_leaves_nothing_of_the_file_saved(
    secret_client, tenant, monkeypatch
):
    real_store = import_services.products_store
    chunks_saved = []

    def store_two_chunks_then_fail(**kwargs):
        if len(chunks_saved) == 2:
            raise RuntimeError("connection lost")
        chunks_saved.append(kwargs["products"])
        return real_store(**kwargs)

    monkeypatch.setattr(import_services, "products_store", store_two_chunks_then_fail)
    failed = _imported(secret_client, _csv(TEN_SKUS))

    assert len(chunks_saved) == 2
    assert failed["status"] == ImportStatus.FAILED
    assert "error on our side, not in your file" in failed["errors"][0]["reason"]
    assert _products_of(tenant) == {}


def test_a_sku_repeated_in_a_later_chunk_is_refused_as_one_repeated_in_the_same_chunk(secret_client, tenant):
    failed = _imported(secret_client, _csv(TEN_SKUS + ["SKU-01"]))

    assert failed["status"] == ImportStatus.FAILED
    (error,) = failed["errors"]
    assert (error["row"], error["field"]) == (12, "external_id") and "SKU-01 appears more than once" in error["reason"]
    assert _products_of(tenant) == {}


def test_the_errors_of_every_chunk_are_counted_and_the_first_are_kept_in_each_language(
    secret_client, owner_client, tenant, monkeypatch
):
    monkeypatch.setattr(import_services, "IMPORT_ERRORS_KEPT", 4)

    failed = _imported(secret_client, _csv(TEN_SKUS, price="-1"))

    assert failed["error_count"] == 10
    assert [error["row"] for error in failed["errors"]] == [2, 3, 4, 5]
    recorded = ProductImport.all_tenants.get(pk=failed["id"])
    assert all(set(error["reasons"]) == {"en", "zh-hans"} for error in recorded.errors)
    assert recorded.errors[3]["reasons"]["zh-hans"] != recorded.errors[3]["reasons"]["en"]
    page = owner_client.get(reverse("product-import-detail", args=[failed["id"]])).content.decode()
    assert "Showing the first 4 of 10 errors." in page


def test_a_file_whose_every_row_is_bad_holds_only_the_errors_it_keeps(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(import_services, "IMPORT_ERRORS_KEPT", 4)
    real_translate = import_services._reasons_in_every_language
    held = []

    def translate_and_count(errors, *args):
        held.append(len(errors))
        return real_translate(errors, *args)

    monkeypatch.setattr(import_services, "_reasons_in_every_language", translate_and_count)
    failed = _imported(secret_client, _csv(TEN_SKUS, price="-1"))

    assert held == [4] and failed["error_count"] == 10


def test_the_progress_counts_the_rows_of_every_chunk(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(product_services, "ROWS_PER_PROGRESS_REPORT", 2)
    monkeypatch.setattr(tasks, "IMPORT_PROGRESS_EVERY", timedelta(0))
    monkeypatch.setattr(tasks.catalog_import_task, "delay", lambda **kwargs: None)  # no worker yet
    upload = SimpleUploadedFile("catalog.csv", _csv(TEN_SKUS[:7]), "text/csv")
    import_id = secret_client.post(IMPORTS, {"file": upload}, format="multipart").json()["id"]
    seen = []
    real_run = tasks.catalog_import_stored

    def run_and_watch(*, import_id, on_progress):
        def report(rows_checked, row_count):
            on_progress(rows_checked, row_count)
            seen.append(ProductImport.objects.values_list("rows_checked", "row_count").get(pk=import_id))

        return real_run(import_id=import_id, on_progress=report)

    monkeypatch.setattr(tasks, "catalog_import_stored", run_and_watch)
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})

    assert seen == [(0, 7), (2, 7), (4, 7), (6, 7), (7, 7)]
    assert ProductImport.all_tenants.get(pk=import_id).status == ImportStatus.SUCCEEDED


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("byte_order_mark", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
def test_a_csv_file_of_several_chunks_is_read_whatever_its_separator_and_byte_order_mark(
    secret_client, tenant, delimiter, byte_order_mark
):
    done = _imported(secret_client, byte_order_mark + _csv(TEN_SKUS, delimiter=delimiter))

    assert done["status"] == ImportStatus.SUCCEEDED, done
    assert sorted(_products_of(tenant)) == TEN_SKUS


def test_a_json_file_of_several_chunks_is_imported_each_product_with_the_fields_it_gives(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-03", title="Old tea", brand="Leafy")
    products = [{"external_id": sku, "title": f"Tea {sku}"} for sku in TEN_SKUS]
    products[3] = {"external_id": "SKU-03", "price": "4.00", "title": "Tea SKU-03"}

    done = _imported(secret_client, json.dumps({"products": products}).encode(), name="catalog.json")

    assert (done["status"], done["created_count"], done["updated_count"]) == (ImportStatus.SUCCEEDED, 9, 1)
    saved = _products_of(tenant)
    assert sorted(saved) == TEN_SKUS and saved["SKU-03"].brand == "Leafy"  # a field not given is kept


def _stock_csv(skus) -> bytes:
    return ("external_id,in_stock\n" + "".join(f"{sku},false\n" for sku in skus)).encode()


def test_a_file_without_a_title_column_updates_the_products_of_every_chunk_and_keeps_their_titles(
    secret_client, tenant
):
    for sku in TEN_SKUS:
        ProductFactory(tenant=tenant, external_id=sku, title=f"Old tea {sku}", brand="Leafy")

    done = _imported(secret_client, _stock_csv(reversed(TEN_SKUS)))

    assert (done["status"], done["created_count"], done["updated_count"]) == (ImportStatus.SUCCEEDED, 0, 10)
    saved = _products_of(tenant)
    assert all(saved[sku].title == f"Old tea {sku}" and saved[sku].brand == "Leafy" for sku in TEN_SKUS)
    assert not any(product.in_stock for product in saved.values())


def test_a_file_without_a_title_column_refuses_a_new_sku_in_a_late_chunk_and_stores_nothing(secret_client, tenant):
    for sku in TEN_SKUS[:9]:
        ProductFactory(tenant=tenant, external_id=sku, title=f"Old tea {sku}")

    failed = _imported(secret_client, _stock_csv(TEN_SKUS))

    assert failed["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(11, "title")]
    assert "not yet in the catalog" in failed["errors"][0]["reason"]
    assert sorted(_products_of(tenant)) == TEN_SKUS[:9]
    assert all(product.in_stock for product in _products_of(tenant).values())


def test_a_product_deleted_while_its_file_is_checked_is_not_made_again_without_a_title(
    secret_client, tenant, monkeypatch
):
    for sku in TEN_SKUS:
        ProductFactory(tenant=tenant, external_id=sku, title=f"Old tea {sku}")
    real_validate = import_services.product_rows_validate

    def validate_then_delete_one(rows, **kwargs):
        checked = real_validate(rows, **kwargs)
        if any(row["external_id"] == "SKU-04" for row in rows):
            # The merchant deletes SKU-04 from the catalog page once its chunk is checked.
            Product.objects.filter(tenant=tenant, external_id="SKU-04").delete()
        return checked

    monkeypatch.setattr(import_services, "product_rows_validate", validate_then_delete_one)
    done = _imported(secret_client, _stock_csv(TEN_SKUS))

    assert (done["status"], done["created_count"], done["updated_count"]) == (ImportStatus.SUCCEEDED, 0, 10)
    saved = _products_of(tenant)
    assert sorted(saved) == [sku for sku in TEN_SKUS if sku != "SKU-04"]
    assert all(saved[sku].title == f"Old tea {sku}" for sku in saved)


def test_each_bad_row_of_several_chunks_names_its_spreadsheet_row_a_cell_over_lines_counted_once(
    secret_client, tenant
):
    rows = ['A-1,"Tea over\ntwo lines",1', "A-2,Tea,1", "A-3,Tea,1", "A-4,Tea,1", "", "A-5,Tea,dear", "A-6,Tea,1",
            'A-7,"Tea\nagain",1', "A-8,Tea,-1"]
    content = ("external_id,title,price\n" + "\n".join(rows) + "\n").encode()

    failed = _imported(secret_client, content)

    # Row 6 is blank, and still counted: a spreadsheet shows it.
    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(7, "price"), (10, "price")]


def test_a_quote_that_never_closes_in_a_late_chunk_names_its_row_after_the_errors_before_it(secret_client, tenant):
    content = _csv(TEN_SKUS[:5]) + b"A-1,Tea,cheap\n" + b'A-2,"Tea,1\n' + b"x" * 200_000 + b"\n"

    failed = _imported(secret_client, content)

    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(7, "price"), (8, "file")]
    assert "not readable CSV" in failed["errors"][1]["reason"]


def test_a_file_read_in_small_pieces_is_utf8_where_a_character_falls_across_two(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(import_files, "UTF8_CHECK_PIECE_BYTES", 7)
    content = "external_id,title\n".encode() + "".join(f"茶-{n},绿茶 {n}\n" for n in range(7)).encode()

    done = _imported(secret_client, content)

    assert done["status"] == ImportStatus.SUCCEEDED, done
    assert _products_of(tenant)["茶-6"].title == "绿茶 6"


def test_a_file_read_in_small_pieces_names_the_row_of_its_first_character_that_is_not_utf8(
    secret_client, tenant, monkeypatch
):
    monkeypatch.setattr(import_files, "UTF8_CHECK_PIECE_BYTES", 7)
    content = "\ufeffexternal_id,title\nA-1,绿茶\nA-2,Tea\n".encode() + "A-3,红茶\n".encode("gbk")

    failed = _imported(secret_client, content)

    (error,) = failed["errors"]  # that one, not the errors of the rows before it
    assert (error["row"], error["field"]) == (4, "file") and "UTF-8" in error["reason"]
    assert _products_of(tenant) == {}


def test_a_kept_file_read_from_the_database_in_slices_is_read_whole(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(import_services, "UPLOAD_READ_SLICE_BYTES", 5)
    content = "external_id,title\n".encode() + "".join(f"茶-{n},绿茶 {n}\n" for n in range(7)).encode()

    done = _imported(secret_client, content)

    assert (done["status"], done["created_count"]) == (ImportStatus.SUCCEEDED, 7), done
    assert _products_of(tenant)["茶-6"].title == "绿茶 6"


def test_a_file_of_several_chunks_never_touches_another_stores_products_of_the_same_skus(
    secret_client, tenant, other_tenant
):
    for sku in TEN_SKUS:
        ProductFactory(tenant=other_tenant, external_id=sku, title=f"Their tea {sku}")

    done = _imported(secret_client, _csv(TEN_SKUS))

    assert (done["created_count"], done["updated_count"]) == (10, 0)
    assert sorted(_products_of(tenant)) == TEN_SKUS
    assert all(product.title == f"Their tea {sku}" for sku, product in _products_of(other_tenant).items())


def test_a_stock_file_cannot_update_another_stores_products_and_names_the_skus_new_here(
    secret_client, tenant, other_tenant
):
    for sku in TEN_SKUS:
        ProductFactory(tenant=other_tenant, external_id=sku, title=f"Their tea {sku}")

    failed = _imported(secret_client, _stock_csv(TEN_SKUS))

    assert failed["status"] == ImportStatus.FAILED
    assert {error["field"] for error in failed["errors"]} == {"title"}
    assert _products_of(tenant) == {}
    assert all(product.in_stock for product in _products_of(other_tenant).values())


def test_another_stores_import_is_a_404(secret_client, other_tenant_client):
    theirs = _imported(other_tenant_client, _csv(TEN_SKUS))

    assert secret_client.get(f"{IMPORTS}/{theirs['id']}").status_code == 404
