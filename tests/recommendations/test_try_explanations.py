""" "Try it" tells the merchant why each list is what it is: the rules that moved a product, what
was left out and why, and what diversity did; the storefront is sent none of it."""

import re

import numpy as np

from catalog.models import Event, EventType, Product
from recommendations.engine.catalog import ServingCatalog
from recommendations.models import RankingRule
from recommendations.selectors.explanations import Diversity, LeftOut, diversity_explained, left_out_count
from recommendations.selectors.recommendations import popularity_list, recommendation_list
from recommendations.serving import serving_state_forget
from tenants.scope import tenant_scope
from tests.recommendations.conftest import RECOMMENDATIONS
from tests.recommendations.test_pages import TRY, column_skus

ANSWER_FIELDS = {"recommendation_id", "model_version", "variant", "fallback", "fallback_reason", "items"}


def why_by_sku(html: str, kind: str) -> dict[str, str]:
    """{SKU: the text of its "why here" cell} for the rows of the "model" or "popularity" column."""
    section = re.search(rf'<section[^>]*id="{kind}-column".*?</section>', html, re.DOTALL).group(0)
    rows = re.findall(r'<td><code>([^<]+)</code></td>.*?<td class="why">(.*?)</td>', section, re.DOTALL)
    return {sku: " ".join(re.sub(r"<[^>]+>", " ", why).split()) for sku, why in rows}


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:li|p|span)>', html, re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


def add_rule(tenant, **fields) -> RankingRule:
    rule = RankingRule.all_tenants.create(tenant=tenant, **fields)
    serving_state_forget(tenant_id=tenant.pk)  # as the rules service does once committed
    return rule


def bought_by(tenant, shopper_id: str) -> set[str]:
    with tenant_scope(tenant):
        return set(
            Event.objects.filter(
                shopper_key=tenant.pseudonymise_shopper(shopper_id), type=EventType.PURCHASE
            ).values_list("product_external_id", flat=True)
        )


def model_list(tenant, **request) -> list[str]:
    with tenant_scope(tenant):
        return recommendation_list(tenant=tenant, **request).product_ids


# --- Rules -----------------------------------------------------------------------------------


def test_a_product_a_rule_buried_says_which_rule(owner_client, live_version, tenant):
    add_rule(tenant, field="category", value="coffee", action="bury", strength=0.5)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 10}).content.decode()
    why = why_by_sku(html, "model")
    coffee = [sku for sku in why if sku.startswith("coffee-")]
    assert coffee, "a gentle bury keeps some coffee in a coffee lover's list"
    for sku in coffee:
        assert "Buried by your rule on the category coffee (strength 0.5)." in why[sku]
        assert "Without your rules: #" in why[sku] or "Without your rules it would not be listed." in why[sku]
    assert not any("Buried" in why[sku] for sku in why if sku not in coffee)


def test_a_product_a_rule_boosted_says_which_rule_and_that_it_would_not_be_listed_without_it(
    owner_client, live_version, tenant
):
    without_rules = model_list(tenant, shopper_id="shopper-0", limit=5)
    add_rule(tenant, field="brand", value="happy paws", action="boost", strength=5)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 5}).content.decode()
    why = why_by_sku(html, "model")
    boosted = [sku for sku in why if "Boosted by your rule on the brand happy paws (strength 5)." in why[sku]]
    assert boosted and all(sku.startswith("dog-food-") for sku in boosted)
    for sku in boosted:
        assert sku not in without_rules
        assert "Without your rules it would not be listed." in why[sku]


def test_the_products_a_rule_pushed_out_of_the_list_are_named(owner_client, live_version, tenant):
    without_rules = model_list(tenant, shopper_id="shopper-0", limit=8)
    add_rule(tenant, field="category", value="coffee", action="bury", strength=5)
    with_rules = model_list(tenant, shopper_id="shopper-0", limit=8)
    pushed_out = [sku for sku in without_rules if sku not in with_rules]
    assert pushed_out
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 8}).content.decode()
    named = re.findall(
        r'<span class="sku">([^<]+)</span>',
        re.search(r'id="model-pushed-out-by-rules">(.*?)</p>', html, re.DOTALL).group(1),
    )
    assert named == pushed_out


def test_the_popularity_column_says_which_rule_moved_its_products_too(owner_client, live_version, tenant):
    add_rule(tenant, field="category", value="tea", action="boost", strength=1)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    why = why_by_sku(html, "popularity")
    assert "Boosted by your rule on the category tea (strength 1)." in why["tea-0"]
    assert not any("Boosted" in why[sku] for sku in why if not sku.startswith("tea-"))


def test_a_search_names_no_rule_since_the_words_rank_it(owner_client, live_version, tenant):
    add_rule(tenant, field="category", value="tea", action="boost", strength=5)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "query": "earl grey tea"}).content.decode()
    assert column_skus(html, "model")[0] == "tea-2"
    assert not any(why_by_sku(html, "model").values())


def test_another_tenants_rule_is_never_named(owner_client, live_version, other_tenant):
    add_rule(other_tenant, field="category", value="coffee", action="bury", strength=1)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert "your rule" not in html and 'id="model-pushed-out-by-rules"' not in html


# --- What was left out -----------------------------------------------------------------------


def test_the_products_the_shopper_bought_are_counted_when_rebuys_are_off(owner_client, live_version, tenant):
    bought = bought_by(tenant, "shopper-0")
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert text_of(html, "model-left-out-purchased") == (
        f"{len(bought)} products this shopper bought were left out: your store does not recommend "
        "re-buys. Change this setting"
    )
    assert 'href="/recommendations/rules/#recommend-purchased"' in html
    assert 'id="popularity-left-out-purchased"' not in html  # popularity does not read the shopper


def test_nothing_bought_is_said_to_be_left_out_when_the_store_recommends_rebuys(
    owner_client, live_version, tenant
):
    tenant.recommend_purchased = True
    tenant.save()
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert 'id="model-left-out-purchased"' not in html
    assert "Nothing was left out." in text_of(html, "model-left-out")


def test_a_bought_product_out_of_stock_counts_as_out_of_stock_not_as_a_rebuy(
    owner_client, live_version, tenant
):
    bought = sorted(bought_by(tenant, "shopper-0"))
    Product.all_tenants.filter(tenant=tenant, external_id__in=[bought[0], "pasta-9"]).update(in_stock=False)
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert text_of(html, "model-left-out-stock") == "2 products out of stock were left out."
    assert text_of(html, "model-left-out-purchased").startswith(
        f"{len(bought) - 1} products this shopper bought"
    )
    assert text_of(html, "popularity-left-out-stock") == "2 products out of stock were left out."


def test_one_product_out_of_stock_is_counted_in_the_singular(owner_client, live_version, tenant):
    Product.all_tenants.filter(tenant=tenant, external_id="pasta-9").update(in_stock=False)
    html = owner_client.get(TRY, {"shopper_id": "new-shopper"}).content.decode()
    assert text_of(html, "model-left-out-stock") == "1 product out of stock was left out."


def test_the_product_page_and_the_other_categories_are_said_to_be_left_out(owner_client, live_version):
    html = owner_client.get(TRY, {"context_product": "tea-0", "category": "tea"}).content.decode()
    for kind in ("model", "popularity"):
        assert text_of(html, f"{kind}-left-out-context") == "The product page itself, tea-0, was left out."
        assert text_of(html, f"{kind}-left-out-category") == (
            "50 products outside the category you chose were left out."  # 60 products, 10 of them tea
        )


def test_the_skus_to_leave_out_are_left_out_of_both_lists_as_the_storefront_sends_them(
    owner_client, live_version, tenant
):
    shown = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 5}).content.decode()
    first_model, first_popular = column_skus(shown, "model")[0], column_skus(shown, "popularity")[0]

    exclude = f" {first_model},, {first_popular} ,no-such-sku"  # spaces and blanks, as typed
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 5, "exclude": exclude}).content.decode()

    assert first_model not in column_skus(html, "model")
    assert first_popular not in column_skus(html, "popularity")
    assert column_skus(html, "model") == model_list(
        tenant, shopper_id="shopper-0", limit=5, exclude=[first_model, first_popular, "no-such-sku"]
    )
    assert "you asked to leave out" in text_of(html, "model-left-out-excluded")
    assert "you asked to leave out" in text_of(html, "popularity-left-out-excluded")


def test_one_product_left_out_as_asked_is_counted_in_the_singular(owner_client, live_version):
    html = owner_client.get(TRY, {"shopper_id": "new-shopper", "exclude": "tea-0"}).content.decode()
    assert text_of(html, "popularity-left-out-excluded") == "1 product you asked to leave out was left out."


def test_more_skus_to_leave_out_than_the_api_takes_are_refused_beside_the_field(owner_client, live_version):
    too_many = ",".join(f"sku-{number}" for number in range(501))
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "exclude": too_many}).content.decode()
    assert re.search(r'id="id_exclude_error">At most 500 SKUs; this has 501.<', html)
    assert 'id="model-column"' not in html


def test_a_search_counts_only_the_products_out_of_stock_that_match_its_words(
    owner_client, live_version, tenant
):
    Product.all_tenants.filter(tenant=tenant, category="tea").update(in_stock=False)
    Product.all_tenants.filter(tenant=tenant, external_id__in=["coffee-0", "coffee-1", "coffee-2"]).update(
        in_stock=False
    )
    html = owner_client.get(TRY, {"query": "tea"}).content.decode()
    assert text_of(html, "model-left-out-stock") == (
        "10 products matching the words are out of stock and were left out."  # the coffee does not say tea
    )
    assert text_of(html, "popularity-left-out-stock") == "13 products out of stock were left out."


def test_one_matching_product_out_of_stock_is_counted_in_the_singular(owner_client, live_version, tenant):
    Product.all_tenants.filter(tenant=tenant, external_id__in=["tea-2", "pasta-9"]).update(in_stock=False)
    html = owner_client.get(TRY, {"query": "earl grey"}).content.decode()
    assert text_of(html, "model-left-out-stock") == (
        "1 product matching the words is out of stock and was left out."
    )


def test_a_search_whose_matches_are_all_in_stock_left_nothing_out(owner_client, live_version, tenant):
    Product.all_tenants.filter(tenant=tenant, category="coffee").update(in_stock=False)
    html = owner_client.get(TRY, {"query": "earl grey tea"}).content.decode()
    assert text_of(html, "model-left-out") == "Nothing was left out."


def test_another_tenants_member_sees_only_their_own_catalog_counted(
    client, other_merchant_user, live_version
):
    client.force_login(other_merchant_user)
    html = client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert "Nothing was left out." in text_of(html, "model-left-out")
    assert "bought" not in text_of(html, "model-left-out")


def test_each_product_left_out_counts_once_under_its_first_reason():
    catalog = ServingCatalog(
        [
            {"external_id": "page", "category": "tea", "in_stock": True},
            {"external_id": "elsewhere-bought", "category": "coffee", "in_stock": True},
            {"external_id": "excluded-bought", "category": "tea", "in_stock": True},
            {"external_id": "gone-bought", "category": "tea", "in_stock": False},
            {"external_id": "bought", "category": "tea", "in_stock": True},
            {"external_id": "listed", "category": "tea", "in_stock": True},
        ]
    )
    left_out = left_out_count(
        catalog,
        category_mask=catalog.category_mask("tea"),
        context_product="page",
        exclude=["excluded-bought", "not-in-the-catalog"],
        purchased=["elsewhere-bought", "excluded-bought", "gone-bought", "bought", "deleted-since"],
    )
    assert left_out == LeftOut(
        outside_category=1, context_product="page", excluded=1, out_of_stock=1, purchased=1
    )


# --- Diversity -------------------------------------------------------------------------------


def test_a_diversified_list_says_so_and_names_what_variety_brought_in_and_left_out(
    owner_client, live_version, tenant
):
    plain = model_list(tenant, shopper_id="shopper-0", limit=6)
    diverse = model_list(tenant, shopper_id="shopper-0", limit=6, diversity=0.9)
    brought_in = [sku for sku in diverse if sku not in plain]
    assert brought_in
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 6, "diversity": 0.9}).content.decode()
    assert column_skus(html, "model") == diverse
    note = text_of(html, "diversity-note")
    assert note.startswith(
        "Diversified (0.9): picked from the 30 best-scored products so that each is unlike those "
        "above it, as the model sees them."
    )
    named = re.findall(
        r'<span class="sku">([^<]+)</span>',
        re.search(r'id="diversity-brought-in">(.*?)\.</span>', html, re.DOTALL).group(1),
    )
    assert named == brought_in
    left_out = re.findall(
        r'<span class="sku">([^<]+)</span>',
        re.search(r'id="diversity-pushed-out">(.*?)\.</span>', html, re.DOTALL).group(1),
    )
    assert left_out == [sku for sku in plain if sku not in diverse]
    why = why_by_sku(html, "model")
    assert [sku for sku in diverse if "Brought in for variety." in why[sku]] == brought_in


def test_a_diversity_that_only_reorders_the_list_says_so_and_notes_what_moved_up(
    owner_client, live_version, tenant
):
    plain = model_list(tenant, shopper_id="shopper-0", limit=4)
    diverse = model_list(tenant, shopper_id="shopper-0", limit=4, diversity=0.5)
    assert set(diverse) == set(plain) and diverse != plain
    moved_up = [sku for place, sku in enumerate(diverse) if place < plain.index(sku)]
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 4, "diversity": 0.5}).content.decode()
    assert text_of(html, "diversity-note").endswith(
        "Diversity kept the products that score alone would list, in another order."
    )
    why = why_by_sku(html, "model")
    assert [sku for sku in diverse if why[sku] == "Moved up for variety."] == moved_up
    assert not any(why[sku] for sku in diverse if sku not in moved_up)


def test_diversity_says_what_moved_up_among_the_products_both_lists_hold():
    catalog = ServingCatalog(
        [{"external_id": sku, "category": "tea", "in_stock": True} for sku in ["a", "b", "c", "d", "new"]]
    )

    def diversified(served: list[str], by_score: list[str]) -> Diversity:
        return diversity_explained(
            catalog,
            rows=catalog.rows(served),
            by_score=catalog.rows(by_score),
            amount=0.5,
            by_model=True,
            pool=5,
        )

    reordered = diversified(["a", "c", "new", "b"], by_score=["a", "b", "c", "d"])
    assert (reordered.brought_in, reordered.pushed_out, reordered.moved_up) == (("new",), ("d",), ("c",))
    # c and d close up behind b, left out: higher on the page, yet in the order of their scores.
    closed_up = diversified(["a", "c", "d", "new"], by_score=["a", "b", "c", "d"])
    assert (closed_up.brought_in, closed_up.pushed_out, closed_up.moved_up) == (("new",), ("b",), ())


def test_without_a_model_diversity_is_said_to_go_by_category(owner_client, tiny_shop):
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 4, "diversity": 0.5}).content.decode()
    assert text_of(html, "diversity-note").startswith(
        "Diversified (0.5): picked from the 20 best-scored products so that each differs by category "
        "from those above it."
    )


def test_a_list_ranked_by_score_alone_says_it_is_not_diversified(owner_client, live_version):
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    assert text_of(html, "diversity-note") == "Not diversified: ranked by score alone."


def test_a_diversity_outside_0_to_1_is_refused_beside_its_field(owner_client, live_version):
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "diversity": 2}).content.decode()
    assert 'id="id_diversity_error"' in html and 'id="model-column"' not in html


# --- The storefront --------------------------------------------------------------------------


def test_the_storefront_api_answer_is_unchanged_and_carries_no_explanation(
    publishable_client, live_version, tenant
):
    add_rule(tenant, field="category", value="coffee", action="bury", strength=1)
    request = {"shopper_id": "shopper-0", "limit": 6, "diversity": 0.5, "category": "coffee"}
    response = publishable_client.get(RECOMMENDATIONS, request)
    assert response.status_code == 200
    assert set(response.data) == ANSWER_FIELDS
    with tenant_scope(tenant):
        storefront = recommendation_list(tenant=tenant, **request)
        explained = recommendation_list(tenant=tenant, **request, explain=True)
    assert storefront.explanation is None and explained.explanation is not None
    assert [dict(item) for item in response.data["items"]] == storefront.products == explained.products


def test_explaining_popularity_changes_none_of_its_list(tenant, live_version):
    add_rule(tenant, field="category", value="cheese", action="bury", strength=2)
    with tenant_scope(tenant):
        plain = popularity_list(tenant=tenant, limit=8, category="cheese", context_product="cheese-0")
        explained = popularity_list(
            tenant=tenant, limit=8, category="cheese", context_product="cheese-0", explain=True
        )
    assert plain.products == explained.products and "cheese-0" not in plain.product_ids
    assert np.all([sku.startswith("cheese-") for sku in plain.product_ids])
