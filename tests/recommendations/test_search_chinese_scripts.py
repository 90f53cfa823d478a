"""Traditional and simplified Chinese find each other in search: 蘋果 <-> 苹果, 手機殼 <-> 手机壳.

Both sides are folded to simplified characters before the pairs are made (catalog/chinese.py):
the query in Python, the products' text in PostgreSQL's stored document (catalog migration 0006);
on SQLite the query's characters match every character that folds to them. Shown products keep
the text the merchant wrote.
"""

import importlib

import pytest
from django.db import connection

from catalog.chinese import FOLDED_RANGES, simplified, spellings, t2s_character_table
from catalog.models import Product
from catalog.services.products import product_upsert_many
from tenants.scope import tenant_scope
from tests.factories import ProductFactory
from tests.recommendations.conftest import SEARCH
from tests.recommendations.test_search_selector import _plan_of_the_search, _search

MIGRATION = importlib.import_module("catalog.migrations.0006_product_search_document_simplified")


def _product(tenant, external_id: str, title: str, **fields):
    return ProductFactory(tenant=tenant, external_id=external_id, title=title, **fields)


def _two_scripts_catalog(tenant):
    _product(tenant, "HK-CASE", "蘋果 iPhone 15 手機殼 透明", brand="臺灣殼王", category="手機配件")
    _product(tenant, "CN-CASE", "苹果 iPhone 14 手机壳 黑色", brand="深圳壳王", category="手机配件")
    _product(tenant, "HK-MILK", "有機純牛奶 1公升", brand="鮮奶坊", category="乳製品")
    _product(tenant, "CN-BREAD", "全麦面包", brand="面包房", category="烘焙")
    _product(tenant, "EN-TEA", "Earl Grey tea", brand="Leafy", category="Drinks")


# --- the fold itself -------------------------------------------------------------------------


def test_traditional_characters_fold_to_simplified_and_nothing_else_changes():
    assert simplified("蘋果手機殼") == "苹果手机壳"
    assert simplified("臺灣 軟體 乾燥 頭髮") == "台湾 软体 干燥 头发"  # character by character: 軟體 stays 软体
    assert simplified("苹果手机壳") == "苹果手机壳"
    text = "iPhone 15 Pro, 256GB — café ＡＢＣ ｶﾀｶﾅ ひらがな カタカナ 123"
    assert simplified(text) == text


def test_folding_twice_changes_nothing():
    # OpenCC converts 薴 to 苧, and 苧 to 苎: the table folds to the end.
    table = t2s_character_table()
    assert simplified("薴") == simplified("苧") == "苎"
    assert all(simplified(value) == value for value in table.values())


def test_the_spellings_of_a_character_are_those_that_fold_as_it_does():
    assert spellings("苹") == spellings("蘋") == "苹蘋"
    assert set(spellings("干")) >= {"干", "乾", "幹"}
    assert spellings("茶") == "茶"
    assert spellings("a") == "a"
    for traditional, folded in t2s_character_table().items():
        assert traditional in spellings(folded) and spellings(folded)[0] == folded


def test_every_character_folds_to_one_that_search_reads_as_chinese():
    # A simplified form outside the indexed ranges would split a run of characters in two.
    for traditional, folded in t2s_character_table().items():
        assert len(folded) == 1
        assert any(low <= ord(folded) <= high for low, high in FOLDED_RANGES), (traditional, folded)


def test_the_installed_opencc_folds_as_the_table_the_migration_stored():
    """PostgreSQL folds the documents by the table of migration 0006, Python the queries by the
    installed OpenCC's. When an upgrade of OpenCC changes its table, this fails: a new migration
    stores the new table in catalog_search_terms and catalog_search_simplified, and refolds."""
    stored = dict(MIGRATION.T2S_PAIRS)

    assert len(stored) == len(MIGRATION.T2S_PAIRS)
    assert stored == t2s_character_table(), (
        "The installed OpenCC folds otherwise than PostgreSQL's documents: a new catalog migration "
        "must store its table and refold them (catalog/chinese.py)"
    )


# --- search, on SQLite and PostgreSQL --------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        # Simplified queries find traditional titles, and the other way round.
        ("苹果", ["CN-CASE", "HK-CASE"]),
        ("蘋果", ["CN-CASE", "HK-CASE"]),
        ("手机壳", ["CN-CASE", "HK-CASE"]),
        ("手機殼", ["CN-CASE", "HK-CASE"]),
        ("苹果手机壳", ["CN-CASE", "HK-CASE"]),  # a long run: its pairs
        ("蘋果手機殼", ["CN-CASE", "HK-CASE"]),
        ("有机纯牛奶", ["HK-MILK"]),
        ("牛奶", ["HK-MILK"]),
        ("有机牛奶", ["HK-MILK"]),  # two words written together, apart in 有機純牛奶
        ("全麥麵包", ["CN-BREAD"]),
        ("麵", ["CN-BREAD"]),  # one character
        # In the brand and the category too.
        ("台湾", ["HK-CASE"]),
        ("乳制品", ["HK-MILK"]),
        ("手機配件", ["CN-CASE", "HK-CASE"]),
        # Mixed scripts, within one run and beside Latin letters and digits.
        ("蘋果手机壳", ["CN-CASE", "HK-CASE"]),
        ("iphone手機壳", ["CN-CASE", "HK-CASE"]),
        ("iphone 15 手機", ["HK-CASE"]),
        ("鮮奶 1公升", ["HK-MILK"]),
        # Latin words as before, and nothing where no pair matches in either script.
        ("iphone", ["CN-CASE", "HK-CASE"]),
        ("earl grey", ["EN-TEA"]),
        ("tea", ["EN-TEA"]),
        ("藍牙耳機", []),
    ],
)
def test_a_query_in_either_script_finds_products_written_in_either(tenant, query, found):
    _two_scripts_catalog(tenant)

    assert _search(tenant, query) == found


def test_the_products_holding_more_of_the_querys_pairs_come_first_whatever_their_script(tenant):
    _product(tenant, "A-MILK", "純牛奶")
    _product(tenant, "B-CANDY", "纯牛奶糖 200g")
    _product(tenant, "C-ORGANIC", "有機純牛奶")
    _product(tenant, "D-RICE", "有機大米")

    # 纯牛, 牛奶 and 奶糖, then 纯牛 and 牛奶 alone; two of the three pairs are needed.
    assert _search(tenant, "純牛奶糖") == ["B-CANDY", "A-MILK", "C-ORGANIC"]
    assert _search(tenant, "纯牛奶糖") == ["B-CANDY", "A-MILK", "C-ORGANIC"]
    assert _search(tenant, "有机大米") == ["D-RICE"]


def test_latin_letters_beside_chinese_match_in_any_case_and_wildcards_are_plain_characters(tenant):
    _product(tenant, "CASE", "iPhone手機殼")
    _product(tenant, "STAR", "Star*手機殼")

    assert _search(tenant, "IPHONE手机") == ["CASE"]
    assert _search(tenant, "iphone手機") == ["CASE"]
    assert _search(tenant, "star* 手机") == ["STAR"]
    if connection.vendor == "sqlite":  # PostgreSQL's parser reads punctuation as a space
        assert _search(tenant, "star*手机") == ["STAR"]
        assert _search(tenant, "手?殼") == []


def test_a_short_traditional_run_in_the_description_is_found_by_simplified(tenant):
    # The description's words between punctuation and spaces (PostgreSQL indexes its runs whole).
    _product(tenant, "TEA", "Oolong tea", description="產地: 臺灣, 凍頂")
    _product(tenant, "OTHER", "Green tea", description="产地: 浙江")

    assert _search(tenant, "台湾") == ["TEA"]
    assert _search(tenant, "臺灣") == ["TEA"]
    assert _search(tenant, "產地") == ["OTHER", "TEA"]


def test_another_tenants_traditional_product_is_never_returned(tenant, other_tenant):
    _product(tenant, "OURS", "苹果手机壳")
    _product(other_tenant, "THEIRS", "蘋果手機殼 蘋果")
    _product(other_tenant, "THEIRS-2", "苹果手机壳")

    for query in ["苹果", "蘋果", "手机壳", "手機殼", "蘋果手机壳"]:
        assert _search(tenant, query) == ["OURS"], query
    assert _search(other_tenant, "苹果") == ["THEIRS", "THEIRS-2"]


def test_the_api_finds_a_traditional_title_by_simplified_words_and_shows_it_as_written(
    publishable_client, tenant
):
    _two_scripts_catalog(tenant)

    response = publishable_client.get(SEARCH, {"q": "苹果手机壳"})

    assert response.status_code == 200, response.content
    titles = {item["external_id"]: item["title"] for item in response.data["items"]}
    assert titles == {"HK-CASE": "蘋果 iPhone 15 手機殼 透明", "CN-CASE": "苹果 iPhone 14 手机壳 黑色"}
    with tenant_scope(tenant):
        stored = Product.objects.get(tenant=tenant, external_id="HK-CASE")
    assert (stored.title, stored.brand, stored.category) == ("蘋果 iPhone 15 手機殼 透明", "臺灣殼王", "手機配件")


# --- PostgreSQL: the stored document ---------------------------------------------------------


def _all_folded_characters() -> str:
    return "".join(chr(code) for low, high in FOLDED_RANGES for code in range(low, high + 1))


@pytest.mark.needs_postgres
def test_on_postgres_the_database_folds_every_character_as_python_folds_the_query(db):
    text = _all_folded_characters()
    with connection.cursor() as cursor:
        cursor.execute("SELECT catalog_search_simplified(%s), catalog_search_simplified(NULL)", [text])
        folded, null = cursor.fetchone()

    assert folded == simplified(text)
    assert null is None


@pytest.mark.needs_postgres
def test_on_postgres_a_product_given_a_traditional_title_later_is_found_by_simplified(tenant):
    _product(tenant, "CASE", "Phone case", brand="Acme", category="Accessories")

    with tenant_scope(tenant):
        product_upsert_many(tenant=tenant, rows=[{"external_id": "CASE", "title": "蘋果手機殼"}])

    assert _search(tenant, "苹果手机壳") == ["CASE"]
    assert _search(tenant, "phone") == []


@pytest.mark.needs_postgres
def test_on_postgres_a_traditional_query_reads_the_search_index(tenant):
    _product(tenant, "TEA", "西湖龍井綠茶")

    plan = _plan_of_the_search(tenant, "龙井绿茶", ["TEA"])

    assert "catalog_product_search_document" in plan, plan


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgres_the_migration_refolds_the_products_already_there_and_those_alone(tenant):
    # The migration's own functions, back and forth, as for 0004 (tests/.../test_search_selector.py).
    def run(step):
        with connection.schema_editor(atomic=False) as editor:
            step(None, editor)

    _product(tenant, "HK-CASE", "蘋果手機殼")
    _product(tenant, "CN-CASE", "苹果手机壳 (台湾)")
    _product(tenant, "EN-TEA", "Earl Grey tea")
    _product(tenant, "HK-TEA", "Oolong tea", description="產地: 臺灣")
    updated_at = dict(Product.all_tenants.values_list("external_id", "updated_at"))
    run(MIGRATION.reverse)
    forward_done = False
    try:
        assert _search(tenant, "苹果") == ["CN-CASE"]  # the traditional title is as indexed before
        assert _search(tenant, "台湾") == ["CN-CASE"]
        with connection.schema_editor(atomic=False) as editor:
            for statement in MIGRATION.FORWARD_FUNCTIONS:
                editor.execute(statement)
        assert MIGRATION.refold(connection, batch=1) == 2  # the rows with traditional text, one at a time
        forward_done = True

        assert _search(tenant, "苹果") == ["CN-CASE", "HK-CASE"]
        assert _search(tenant, "台湾") == ["CN-CASE", "HK-TEA"]
        assert _search(tenant, "earl grey") == ["EN-TEA"]
        assert dict(Product.all_tenants.values_list("external_id", "updated_at")) == updated_at
        assert MIGRATION.refold(connection) == 2  # run again: the same rows, no harm
    finally:
        if not forward_done:
            run(MIGRATION.forward)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgres_a_traditional_title_not_yet_refolded_is_still_found_by_its_own_script(tenant):
    # While 0006 refolds in batches, or after a run that stopped before this row, the stored
    # document holds the traditional characters as written, and the folded query misses them.
    _product(tenant, "HK-CASE", "蘋果手機殼")
    _product(tenant, "CN-CASE", "苹果手机壳")
    with connection.schema_editor(atomic=False) as editor:
        MIGRATION.reverse(None, editor)
    try:
        with connection.schema_editor(atomic=False) as editor:
            for statement in MIGRATION.FORWARD_FUNCTIONS:  # the function replaced, no row refolded yet
                editor.execute(statement)

        assert _search(tenant, "蘋果手機殼") == ["CN-CASE", "HK-CASE"]  # the refolded first, then as typed
        assert _search(tenant, "苹果手机壳") == ["CN-CASE"]  # as before 0006, until the row is refolded
    finally:
        MIGRATION.refold(connection)
