"""A JSON catalog file is read as a stream (catalog.services.json_stream): a piece of the file at a
time, checked whole before any product is saved, each product built only when its chunk is checked.
It reads what Python's json read, and says where a file stops being JSON as Python's json said it.
Here a chunk is 3 rows, and ijson is fed the file 64 bytes at a time: the files hold more."""
import json
import tracemalloc

import ijson
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from catalog.models import ImportStatus, Product, ProductImport
from catalog.services import import_files, json_stream
from catalog.services import imports as import_services
from tenants.scope import tenant_scope
from tests.catalog.conftest import queued_and_run
from tests.factories import ProductFactory

IMPORTS = "/api/v1/catalog/imports"
CHUNK = 3
TEN_SKUS = [f"SKU-{n:02d}" for n in range(10)]


@pytest.fixture(autouse=True)
def _small_chunks_and_pieces(settings, monkeypatch):
    settings.CATALOG_IMPORT_CHUNK_ROWS = CHUNK
    monkeypatch.setattr(json_stream, "PIECE_BYTES", 64)


def _json(products, *, wrapped: bool = False) -> bytes:
    """One product a line, as an export writes them."""
    lines = ",\n".join(json.dumps(product, ensure_ascii=False) for product in products)
    return ('{"products": [\n' + lines + "\n]}\n" if wrapped else "[\n" + lines + "\n]\n").encode()


def _teas(skus=TEN_SKUS) -> list[dict]:
    return [{"external_id": sku, "title": f"Tea {sku}", "price": "2.50"} for sku in skus]


def _imported(client, content: bytes) -> dict:
    """The import as it reads once a worker has run it."""
    upload = SimpleUploadedFile("catalog.json", content, "application/octet-stream")
    queued = queued_and_run(lambda: client.post(IMPORTS, {"file": upload}, format="multipart"))
    assert queued.status_code == 202, queued.content
    return client.get(queued["Location"]).json()


def _opened(content: bytes) -> import_files.CatalogFile:
    return import_files.catalog_file_open(ContentFile(content, name="catalog.json"), "json")


def _products_of(tenant) -> dict[str, Product]:
    with tenant_scope(tenant):
        return {product.external_id: product for product in Product.objects.all()}


def test_the_pinned_ijson_reads_with_its_c_backend():
    # Its wheels bring yajl2_c; without it ijson falls back on pure Python, many times slower.
    assert ijson.backend_name == "yajl2_c"


@pytest.mark.parametrize("wrapped", [False, True], ids=["list", "products-object"])
def test_a_json_file_of_many_pieces_and_chunks_is_imported_a_chunk_at_a_time(
    secret_client, tenant, monkeypatch, wrapped
):
    real_validate = import_services.product_rows_validate
    sizes = []

    def validate_and_count(rows, **kwargs):
        sizes.append(len(rows))
        return real_validate(rows, **kwargs)

    monkeypatch.setattr(import_services, "product_rows_validate", validate_and_count)
    ProductFactory(tenant=tenant, external_id="SKU-05", title="Old tea")

    done = _imported(secret_client, _json(_teas(), wrapped=wrapped))

    assert (done["status"], done["row_count"], done["created_count"], done["updated_count"]) == (
        ImportStatus.SUCCEEDED, 10, 9, 1)
    assert sizes == [3, 3, 3, 1]
    assert sorted(_products_of(tenant)) == TEN_SKUS


def test_a_syntax_error_past_the_first_chunk_leaves_nothing_written_and_says_where(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-00", title="Old tea")
    content = _json(_teas())
    broken = content.replace(b'"SKU-08", "title": "Tea SKU-08",', b'"SKU-08" "title": "Tea SKU-08",')
    assert broken != content

    failed = _imported(secret_client, broken)

    assert failed["status"] == ImportStatus.FAILED
    (error,) = failed["errors"]  # that one: the rows before it are not checked, nor saved
    assert (error["row"], error["field"]) == (None, "file")
    assert error["reason"] == "The file is not valid JSON (line 10, column 26)."  # where "title" begins
    assert list(_products_of(tenant)) == ["SKU-00"] and _products_of(tenant)["SKU-00"].title == "Old tea"


def test_a_bad_product_in_the_last_chunk_leaves_nothing_written_and_names_its_position(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="SKU-00", title="Old tea")
    products = [*_teas(), {"external_id": "SKU-99", "title": "Tea", "price": "cheap"}]

    failed = _imported(secret_client, _json(products, wrapped=True))

    assert failed["status"] == ImportStatus.FAILED
    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(11, "price")]
    assert failed["row_count"] == 11 and failed["created_count"] == 0
    assert list(_products_of(tenant)) == ["SKU-00"] and _products_of(tenant)["SKU-00"].title == "Old tea"


def test_a_number_no_database_can_store_in_a_late_chunk_leaves_nothing_written(secret_client, tenant):
    products = _teas()
    products[8]["attributes"] = {"weight": "@"}
    content = _json(products).replace(b'"@"', b"NaN")

    failed = _imported(secret_client, content)

    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(9, "attributes.weight")]
    assert failed["errors"][0]["reason"].startswith("NaN is not a number that can be stored")
    assert _products_of(tenant) == {}


def test_a_sku_repeated_in_a_later_chunk_is_reported_with_the_other_errors(secret_client, tenant):
    products = [*_teas(), {"external_id": "SKU-01", "title": "Tea again"}]
    products[4]["price"] = "dear"

    failed = _imported(secret_client, _json(products))

    assert [(error["row"], error["field"]) for error in failed["errors"]] == [(5, "price"), (11, "external_id")]
    assert _products_of(tenant) == {}


def test_a_syntax_error_is_named_in_the_readers_language(secret_client, tenant):
    failed = _imported(secret_client, b'[\n{"external_id": "A", "title": "Tea"}\n{"external_id": "B"}\n]')
    (error,) = failed["errors"]
    assert error["reason"] == "The file is not valid JSON (line 3, column 1)."
    with translation.override("zh-hans"):
        chinese = translation.gettext("The file is not valid JSON (line %(line)d, column %(column)d).") % {
            "line": 3, "column": 1}
    assert "第 3 行" in chinese
    in_chinese = secret_client.get(f"{IMPORTS}/{failed['id']}", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert in_chinese["errors"][0]["reason"] == chinese


@pytest.mark.parametrize("content", [
    b'{"items": [{"external_id": "A", "title": "Tea"}]}',
    b'{"products": {"external_id": "A", "title": "Tea"}}',
    b'{"products": [{"external_id": "A", "title": "Tea"}], "products": null}',  # the last one counts
    b'"products"',
    b"42",
], ids=["no-products-key", "products-not-a-list", "last-products-not-a-list", "a-string", "a-number"])
def test_a_file_that_is_no_list_of_products_is_told_what_to_hold(secret_client, tenant, content):
    failed = _imported(secret_client, content)

    assert failed["status"] == ImportStatus.FAILED
    (error,) = failed["errors"]
    assert (error["row"], error["field"]) == (None, "file")
    assert error["reason"] == 'The file must hold a list of products, or an object with a "products" list.'
    assert _products_of(tenant) == {}


def test_the_last_products_list_of_an_object_is_imported_as_pythons_json_reads_it(secret_client, tenant):
    content = (
        b'{"products": [{"external_id": "OLD", "title": "Not this"}], "note": {"products": [1]},\n'
        b' "products": [{"external_id": "A", "title": "First", "title": "Tea"}, {"external_id": "B", "title": "Mug"}]}'
    )
    done = _imported(secret_client, content)

    assert (done["status"], done["created_count"]) == (ImportStatus.SUCCEEDED, 2), done
    assert {sku: product.title for sku, product in _products_of(tenant).items()} == {"A": "Tea", "B": "Mug"}


def test_words_and_numbers_in_strings_stay_strings_and_numbers_read_as_pythons_json_reads_them(
    secret_client, tenant
):
    products = [
        {"external_id": "NaN", "title": "Infinity scarf", "description": 'a "NaN", -Infinity\\',
         "attributes": {"NaN": "Infinity", "weight": 1.5e2, "count": 12, "tiny": 1e-999, "exact": 0.1}},
    ]
    done = _imported(secret_client, _json(products))

    assert done["status"] == ImportStatus.SUCCEEDED, done
    product = _products_of(tenant)["NaN"]
    assert (product.title, product.description) == ("Infinity scarf", 'a "NaN", -Infinity\\')
    assert product.attributes == {"NaN": "Infinity", "weight": 150.0, "count": 12, "tiny": 0.0, "exact": 0.1}
    assert type(product.attributes["weight"]) is float and type(product.attributes["count"]) is int


@pytest.mark.parametrize("content", [
    b'[{"external_id": "A",\n  "title": }]',  # a value missing
    b'[{"external_id": "A", "title": "Tea"} {"external_id": "B"}]',  # a comma missing
    b'[{"external_id": "A", "price": 1.5e}]',  # a number cut short: where what it reads ends
    b'[{"external_id": "A", "price": 12 3}]',
    b'[{"external_id": "A", "in_stock": tru}]',
    b'[{"external_id": "A", "in_stock": nulll}]',
    b'[{"external_id": "A", "title": "Tea"}] "trailing',  # a string opened after the list, left open
    b'[{"external_id": "A", "title": "Tea"}] x',
    b'[{"external_id": "A", "title": "Tea\tcup"}]',  # a tab in a string
    b'[{"external_id": "A", "title": "Tea \\x"}]',  # an escape that is none
    b'[{"external_id": "A", "title": "Tea \\u12x4"}]',
    b'[{"external_id": "A", "title": "Tea',  # the file cut off
    b'[{"external_id": "A", "title": "Tea \\u00e9',
    b'[{"external_id": "A"',
    b'[{"external_id": "A", "price": -NaN}]',
    b'[{"external_id": "A", "price": 12NaN}]',
    b'[{"external_id": "A", "price": NaNa}]',
    "[\n\n  {\"external_id\": \"绿茶-1\", \"title\": \"绿茶\" \"brand\": \"茶\"}]".encode(),  # columns count characters
    b"\xef\xbb\xbf[\n  {\"external_id\": \"A\",, \"title\": \"Tea\"}]",  # after a byte order mark
], ids=lambda content: content.decode("utf-8", "replace")[-30:])
def test_a_file_that_stops_being_json_is_named_where_pythons_json_names_it(content):
    with pytest.raises(json.JSONDecodeError) as python:
        json.loads(content.decode("utf-8-sig"))

    (error,) = _opened(content).errors

    expected = f"The file is not valid JSON (line {python.value.lineno}, column {python.value.colno})."
    assert (error["row"], error["field"], error["reason"]) == (None, "file", expected)


def test_a_syntax_error_far_into_a_long_line_is_named_by_its_column_in_characters():
    products = [{"external_id": f"茶-{n}", "title": "绿茶 " * 20} for n in range(50)]
    content = json.dumps(products, ensure_ascii=False).encode()  # one line, thousands of pieces
    broken = content[:-1] + b",]"

    (error,) = _opened(broken).errors

    column = len(json.dumps(products, ensure_ascii=False))
    assert error["reason"] == f"The file is not valid JSON (line 1, column {column + 1})."


def test_an_integer_too_long_for_python_is_a_number_that_cannot_be_stored(secret_client, tenant):
    content = b'[{"external_id": "A", "title": "Tea", "attributes": {"n": ' + b"7" * 5000 + b"}}]"

    failed = _imported(secret_client, content)

    (error,) = failed["errors"]
    assert (error["row"], error["field"]) == (None, "file")
    assert error["reason"].startswith("77777777777777777777… is not a number that can be stored")
    assert _products_of(tenant) == {}


def test_a_product_nested_as_deeply_as_allowed_is_imported_and_one_level_more_is_refused(secret_client, tenant):
    # The file's list, the product and its attributes: 3 levels before the lists nested in them.
    deep = "[" * (json_stream.DEPTH_MOST - 3) + "]" * (json_stream.DEPTH_MOST - 3)
    content = f'[{{"external_id": "A", "title": "Tea", "attributes": {{"deep": {deep}}}}}]'.encode()

    assert _imported(secret_client, content)["status"] == ImportStatus.SUCCEEDED
    assert _products_of(tenant)["A"].attributes == {"deep": json.loads(deep)}

    failed = _imported(secret_client, content.replace(b"[[", b"[[[", 1).replace(b"]]", b"]]]", 1))
    (error,) = failed["errors"]
    assert (error["row"], error["field"]) == (None, "file") and "too deeply" in error["reason"]


def test_a_large_json_file_is_read_without_holding_its_products_at_once(monkeypatch):
    """What is held while the file is opened and its rows read is a piece of its text, of its parse,
    and a product, not the document: Python's json held about four times the file's size."""
    monkeypatch.setattr(json_stream, "PIECE_BYTES", 64 * 1024)
    monkeypatch.setattr(import_files, "UTF8_CHECK_PIECE_BYTES", 64 * 1024)  # its own megabyte, not measured here
    products = [
        {"external_id": f"SKU-{n:06d}", "title": f"Tea {n}", "description": "leafy " * 20, "price": n / 100,
         "attributes": {"weight_g": n, "tags": ["tea", str(n % 7)]}}
        for n in range(20_000)
    ]
    content = _json(products)
    assert len(content) > 5_000_000

    tracemalloc.start()
    try:
        opened = _opened(content)  # its UTF-8 checked, its shape read
        _size, opening_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = sum(1 for _row in opened.rows())
        _size, rows_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (opened.errors, opened.product_count(), count) == ([], 20_000, 20_000)
    # Python's json: 22 MB for this 5.3 MB file.
    assert opening_peak < 1_000_000, opening_peak
    assert rows_peak < 1_000_000, rows_peak


def _pieces_fed_counted(monkeypatch) -> list[int]:
    """How many pieces ijson is fed, over every pass: one number a pass."""
    passes: list[int] = []
    real_pieces = json_stream._pieces

    def counted(*args, **kwargs):
        passes.append(0)
        for piece in real_pieces(*args, **kwargs):
            passes[-1] += 1
            yield piece

    monkeypatch.setattr(json_stream, "_pieces", counted)
    return passes


def test_nan_and_infinity_are_fed_to_ijson_within_the_files_pieces_not_a_piece_each(monkeypatch):
    content = b"[" + b",".join([b"NaN", b"Infinity", b"-Infinity"] * 1000) + b"]"  # 3,000 words
    passes = _pieces_fed_counted(monkeypatch)

    opened = _opened(content)
    rows = list(opened.rows())

    assert len(passes) == 2  # its shape, its products
    # 64 bytes a piece, or a little more: a piece ends between tokens.
    assert all(pieces <= len(content) // 64 + 1 for pieces in passes), passes
    assert len(rows) == 3000
    named = [error["reason"].split()[0] for row in rows[:3] for error in row.errors]
    assert named == ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("broken", [
    b"[NaN, NaN, Infinity x]", b"[NaN,\n -Infinity, NaNx]", b"[-Infinity, NaN}",
])
def test_a_syntax_error_after_nan_words_is_named_where_pythons_json_names_it(broken):
    content = b"[" + b"NaN, " * 40 + broken[1:]  # words in several pieces, the error after them
    with pytest.raises(json.JSONDecodeError) as python:
        json.loads(content)

    (error,) = _opened(content).errors

    where = f"line {python.value.lineno}, column {python.value.colno}"
    assert error["reason"] == f"The file is not valid JSON ({where})."


def test_a_syntax_error_is_worked_out_once_for_every_language_not_by_reading_the_file_again(
    secret_client, tenant, monkeypatch
):
    content = b"[" + b"NaN, " * 40 + b"Infinity x]"
    shapes_read = []
    real_shape = json_stream.shape
    monkeypatch.setattr(json_stream, "shape", lambda content: shapes_read.append(1) or real_shape(content))

    failed = _imported(secret_client, content)

    with tenant_scope(tenant):
        (error,) = ProductImport.objects.get(pk=failed["id"]).errors
    assert error["reasons"]["en"] == "The file is not valid JSON (line 1, column 211)."
    assert "第 1 行" in error["reasons"]["zh-hans"] and "211" in error["reasons"]["zh-hans"]
    assert len(shapes_read) == 1


def test_a_product_of_many_fractions_holds_floats_not_decimals():
    """A Decimal is 104 bytes, a float 24: a product is built with floats, as Python's json reads it,
    and costs no more than Python's json did."""
    numbers = b",".join([b"1.5"] * 100_000)
    content = b'[{"external_id": "A", "title": "Tea", "attributes": {"weights": [' + numbers + b"]}}]"
    opened = _opened(content)

    tracemalloc.start()
    try:
        json.loads(content)
        _size, pythons_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        (row,) = opened.rows()
        _size, rows_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert row.product["attributes"]["weights"][-1] == 1.5 and row.errors == []
    assert rows_peak < pythons_peak, (rows_peak, pythons_peak)


@pytest.mark.parametrize(("written", "read"), [
    (b"1e-99999999999999999999", 0.0),
    (b"-1.5E-099999999999999999999", -0.0),
    (b"0e99999999999999999999", 0.0),
])
def test_a_number_too_small_for_any_float_is_read_as_zero_as_pythons_json_reads_it(
    secret_client, tenant, written, read
):
    content = b'[{"external_id": "A", "title": "1e-99999999999999999999", "attributes": {"n": [%s]}}]' % written
    assert json.loads(content)[0]["attributes"]["n"] == [read]

    done = _imported(secret_client, content)

    assert done["status"] == ImportStatus.SUCCEEDED, done
    product = _products_of(tenant)["A"]
    assert product.title == "1e-99999999999999999999"  # in a string: as written
    assert product.attributes == {"n": [read]}  # PostgreSQL's jsonb stores -0.0 as 0
    (row,) = _opened(content).rows()
    assert str(row.product["attributes"]["n"][0]) == str(read)  # as read: its sign too


def test_a_number_too_large_for_any_float_is_still_a_number_that_cannot_be_stored():
    content = b'[{"external_id": "A", "title": "Tea", "attributes": {"n": 1e99999999999999999999}}]'

    (error,) = _opened(content).errors

    assert error["reason"].startswith("1e99999999999999999999 is not a number that can be stored")


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udc00"], ids=["high", "low"])
def test_a_lone_surrogate_escape_is_refused_not_lost(escape):
    content = b'[{"external_id": "A",\n  "title": "Tea ' + escape + b' cup"}]'
    # Python's json read it, as a str no database stores.
    assert json.loads(content)[0]["title"] == "Tea " + escape.decode("unicode_escape") + " cup"

    (error,) = _opened(content).errors

    assert (error["row"], error["field"]) == (None, "file")
    # Where ijson refuses the string: its closing quote.
    assert error["reason"] == "The file is not valid JSON (line 2, column 27)."


def test_surrogate_pairs_and_an_escaped_backslash_before_ud800_are_read_as_written(secret_client, tenant):
    title = "🍵" * 40 + "\\ud800"  # the pairs cross pieces; then a backslash, and text
    content = _json([{"external_id": "A", "title": title}]).replace("🍵".encode(), b"\\ud83c\\udf75")

    done = _imported(secret_client, content)

    assert done["status"] == ImportStatus.SUCCEEDED, done
    assert _products_of(tenant)["A"].title == title
