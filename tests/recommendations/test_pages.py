"""The recommendation pages of the merchant UI: "try it" and the serving rules."""

import re

import pytest

from recommendations.attribution import served_log
from recommendations.models import RankingRule
from recommendations.selectors.recommendations import (
    popularity_list,
    recommendation_list,
    similar_product_list,
)
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.recommendations.conftest import RECOMMENDATIONS

TRY = "/recommendations/try/"
RULES = "/recommendations/rules/"
RULE_NEW = "/recommendations/rules/new/"
REBUYS = "/recommendations/rules/rebuys/"


def column_skus(html: str, kind: str) -> list[str]:
    """The SKUs listed in the page's "model" or "popularity" column, in order."""
    section = re.search(rf'<section[^>]*id="{kind}-column".*?</section>', html, re.S)
    assert section, f"no {kind} column"
    return re.findall(r"<code>([^<]+)</code>", section.group(0))


def field_error(html: str, field: str) -> str:
    match = re.search(rf'id="id_{field}_error">([^<]*)<', html)
    return match.group(1) if match else ""


def rules_of(tenant) -> list[tuple[str, str, str, float]]:
    rules = RankingRule.all_tenants.filter(tenant=tenant)
    return list(rules.values_list("field", "value", "action", "strength"))


def add_rule(tenant, **fields) -> RankingRule:
    return RankingRule.all_tenants.create(tenant=tenant, **fields)


def bury_coffee(client, **changes):
    posted = {"field": "category", "value": "coffee", "action": "bury", "strength": 5, **changes}
    return client.post(RULE_NEW, posted)


# --- Try it ----------------------------------------------------------------------------------


def test_the_try_page_shows_the_models_list_beside_popularitys_for_a_shopper(
    owner_client, live_version, tenant
):
    response = owner_client.get(TRY, {"shopper_id": "shopper-0", "limit": 8})
    assert response.status_code == 200
    html = response.content.decode()
    with tenant_scope(tenant):
        expected_model = recommendation_list(tenant=tenant, shopper_id="shopper-0", limit=8).product_ids
        expected_popular = popularity_list(tenant=tenant, limit=8).product_ids
    assert column_skus(html, "model") == expected_model and len(expected_model) == 8
    assert column_skus(html, "popularity") == expected_popular
    assert expected_model != expected_popular
    status = re.search(r'id="model-answer-status">(.*?)</p>', html, re.S).group(1)
    assert "v1" in status and "Popularity answered" not in status


def test_the_search_box_finds_earl_grey_tea_in_the_models_column(owner_client, live_version):
    html = owner_client.get(TRY, {"shopper_id": "shopper-0", "query": "earl grey tea"}).content.decode()
    assert column_skus(html, "model")[0] == "tea-2"
    assert "Popularity does not read the search" in html


def test_without_a_live_model_the_page_says_popularity_answered_and_why(owner_client, tiny_shop):
    html = owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    status = re.search(r'id="model-answer-status">(.*?)</p>', html, re.S).group(1)
    assert "Popularity answered (No model is live yet)." in status
    assert len(column_skus(html, "model")) == 10


def test_a_new_shopper_is_shown_the_reason_the_model_stood_aside(owner_client, live_version):
    html = owner_client.get(TRY, {"shopper_id": "never-seen-before"}).content.decode()
    assert "Popularity answered (A shopper without history: trending products)." in html


def test_an_unknown_product_sku_is_named_beside_its_field(owner_client, live_version):
    response = owner_client.get(TRY, {"shopper_id": "shopper-0", "context_product": "no-such-sku"})
    html = response.content.decode()
    assert field_error(html, "context_product") == "No product with this SKU in your catalog."
    assert 'id="model-column"' not in html


def test_the_popularity_list_keeps_to_the_category_and_leaves_out_the_product_page(
    owner_client, live_version
):
    html = owner_client.get(TRY, {"context_product": "tea-0", "category": "tea"}).content.decode()
    popular = column_skus(html, "popularity")
    assert popular and all(sku.startswith("tea-") for sku in popular) and "tea-0" not in popular


def test_a_product_page_also_shows_the_similar_products_that_page_is_served(
    owner_client, live_version, tenant
):
    html = owner_client.get(
        TRY, {"shopper_id": "shopper-0", "context_product": "tea-0", "category": "coffee", "limit": 5}
    ).content.decode()

    with tenant_scope(tenant):
        expected = similar_product_list(tenant=tenant, external_id="tea-0", limit=5).product_ids
    assert column_skus(html, "similar") == expected and len(expected) == 5
    assert "tea-0" not in expected
    status = re.search(r'id="similar-answer-status">(.*?)</p>', html, re.S).group(1)
    assert "What the product page of tea-0 lists as similar, ranked by model v1" in status


def test_the_similar_products_without_a_model_say_what_answered(owner_client, tiny_shop):
    html = owner_client.get(TRY, {"context_product": "tea-0"}).content.decode()
    status = re.search(r'id="similar-answer-status">(.*?)</p>', html, re.S).group(1)
    assert "best sellers of its category answered, then the store's other best sellers where it has too few (No model is live yet)" in status
    assert column_skus(html, "similar")


def test_no_similar_products_are_shown_without_a_product_page_or_for_a_search(owner_client, live_version):
    assert 'id="similar-column"' not in owner_client.get(TRY, {"shopper_id": "shopper-0"}).content.decode()
    searching = owner_client.get(TRY, {"context_product": "tea-0", "query": "earl grey"}).content.decode()
    assert 'id="similar-column"' not in searching


def test_trying_records_nothing_as_served(owner_client, publishable_client, live_version):
    owner_client.get(TRY, {"shopper_id": "shopper-0"})
    owner_client.get(TRY, {"shopper_id": "shopper-0", "query": "earl grey tea"})
    owner_client.get(TRY, {"shopper_id": "shopper-0", "context_product": "tea-0"})
    assert served_log.pending() == 0
    publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"})
    assert served_log.pending() == 1  # the storefront API does record: the counter works


def test_an_analyst_can_try_recommendations(client, member_with_role, live_version):
    client.force_login(member_with_role(Role.ANALYST))
    response = client.get(TRY, {"shopper_id": "shopper-0"})
    assert response.status_code == 200
    assert len(column_skus(response.content.decode(), "model")) == 10


def test_a_learner_of_the_store_cannot_try_recommendations(client, member_with_role, live_version):
    client.force_login(member_with_role(Role.LEARNER))
    response = client.get(TRY, {"shopper_id": "shopper-0"})
    assert response.status_code == 403 and 'id="model-column"' not in response.content.decode()


def test_another_tenants_member_sees_none_of_this_tenants_products(client, other_merchant_user, live_version):
    client.force_login(other_merchant_user)
    html = client.get(TRY, {"shopper_id": "shopper-0", "query": "earl grey tea"}).content.decode()
    assert column_skus(html, "model") == [] and column_skus(html, "popularity") == []
    assert "tea-2" not in html and "coffee" not in html


def test_another_tenants_product_page_shows_no_similar_products_of_it(client, other_merchant_user, live_version):
    client.force_login(other_merchant_user)
    html = client.get(TRY, {"context_product": "tea-0"}).content.decode()
    assert field_error(html, "context_product") == "No product with this SKU in your catalog."
    assert 'id="similar-column"' not in html and "tea-1" not in html


def test_the_try_page_asks_anonymous_visitors_to_log_in(client, db):
    response = client.get(TRY)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Serving rules ---------------------------------------------------------------------------


def test_an_owner_adds_a_bury_rule_and_sees_it_listed(owner_client, tenant):
    response = bury_coffee(owner_client)
    assert response.status_code == 302
    assert rules_of(tenant) == [("category", "coffee", "bury", 5.0)]
    html = owner_client.get(RULES).content.decode()
    row = re.search(r'<tr id="rule-\d+">(.*?)</tr>', html, re.S).group(1)
    assert "coffee" in row and "Bury" in row and "Category" in row


def test_a_second_rule_for_the_same_category_is_refused_with_a_clear_message(owner_client, tenant):
    bury_coffee(owner_client)
    response = bury_coffee(owner_client, action="boost", strength=2)
    assert response.status_code == 200
    assert field_error(response.content.decode(), "value") == (
        "There is already a rule for this category: delete it first to change it."
    )
    assert rules_of(tenant) == [("category", "coffee", "bury", 5.0)]


def test_a_brand_rule_is_a_duplicate_whatever_its_case(owner_client, tenant):
    owner_client.post(RULE_NEW, {"field": "brand", "value": "Happy Paws", "action": "boost", "strength": 1})
    response = owner_client.post(
        RULE_NEW, {"field": "brand", "value": "happy paws", "action": "bury", "strength": 1}
    )
    assert "There is already a rule for this brand" in field_error(response.content.decode(), "value")
    assert len(rules_of(tenant)) == 1


def test_a_category_rule_is_a_duplicate_whatever_its_case_and_spacing_as_serving_matches_it(owner_client, tenant):
    owner_client.post(RULE_NEW, {"field": "category", "value": "Grocery > Cold Cereal", "action": "boost", "strength": 5})
    response = owner_client.post(
        RULE_NEW, {"field": "category", "value": "grocery>cold cereal", "action": "bury", "strength": 2}
    )
    assert "There is already a rule for this category" in field_error(response.content.decode(), "value")
    assert rules_of(tenant) == [("category", "Grocery > Cold Cereal", "boost", 5.0)]


def test_a_rule_that_reaches_no_product_is_saved_with_a_warning(owner_client, tenant):
    from tests.factories import ProductFactory

    ProductFactory(tenant=tenant, category="Grocery > Tea")
    page = owner_client.post(
        RULE_NEW, {"field": "category", "value": "Does Not Exist", "action": "boost", "strength": 3}, follow=True
    ).content.decode()
    assert "No product of your catalog has Does Not Exist for now" in page
    page = owner_client.post(
        RULE_NEW, {"field": "category", "value": "grocery", "action": "boost", "strength": 3}, follow=True
    ).content.decode()
    assert "No product of your catalog has" not in page  # "grocery" reaches "Grocery > Tea"


@pytest.mark.parametrize("strength", [0, -1, 10.5])
def test_a_strength_outside_0_to_10_is_refused_beside_the_strength_field(owner_client, tenant, strength):
    response = bury_coffee(owner_client, strength=strength)
    assert response.status_code == 200
    message = field_error(response.content.decode(), "strength")
    assert message == "The strength must be more than 0 and at most 10."
    assert rules_of(tenant) == []


def test_a_blank_value_is_refused_beside_the_value_field(owner_client, tenant):
    response = bury_coffee(owner_client, value="   ")
    assert field_error(response.content.decode(), "value")
    assert rules_of(tenant) == []


def test_an_analyst_sees_the_rules_but_cannot_add_one(analyst_client, tenant):
    add_rule(tenant, field="brand", value="Happy Paws", action="boost", strength=2)
    html = analyst_client.get(RULES).content.decode()
    assert "Happy Paws" in html
    assert 'id="rule-new"' not in html and "Delete" not in html
    assert bury_coffee(analyst_client).status_code == 403
    assert [rule[1] for rule in rules_of(tenant)] == ["Happy Paws"]


def test_the_owner_deletes_a_rule(owner_client, tenant):
    rule = add_rule(tenant, field="category", value="tea", action="boost", strength=1)
    response = owner_client.post(f"/recommendations/rules/{rule.pk}/delete/")
    assert response.status_code == 302
    assert rules_of(tenant) == []
    page = owner_client.get(RULES).content.decode()
    assert "The rule to boost tea (strength 1) is deleted." in page  # which one, since it cannot come back
    assert "tea" not in re.search(
        r'<table class="data" id="rules">.*?</table>', owner_client.get(RULES).content.decode(), re.S
    ).group(0)


def test_another_tenants_rule_cannot_be_deleted(owner_client, other_tenant):
    rule = add_rule(other_tenant, field="category", value="tea", action="bury", strength=1)
    assert owner_client.post(f"/recommendations/rules/{rule.pk}/delete/").status_code == 404
    assert rules_of(other_tenant) == [("category", "tea", "bury", 1.0)]


def test_another_tenants_rules_are_not_listed(owner_client, other_tenant):
    add_rule(other_tenant, field="brand", value="Globex Brew", action="bury", strength=1)
    assert "Globex Brew" not in owner_client.get(RULES).content.decode()


def test_toggling_recommend_purchased_saves_it(owner_client, tenant):
    assert owner_client.post(REBUYS, {"recommend_purchased": "on"}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.recommend_purchased is True
    html = owner_client.get(RULES).content.decode()
    checkbox = re.search(r'<input type="checkbox" name="recommend_purchased"[^>]*>', html)
    assert checkbox and " checked" in checkbox.group(0)
    owner_client.post(REBUYS, {})
    tenant.refresh_from_db()
    assert tenant.recommend_purchased is False


def test_an_analyst_cannot_toggle_recommend_purchased(analyst_client, tenant):
    assert analyst_client.post(REBUYS, {"recommend_purchased": "on"}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.recommend_purchased is False


def test_a_rule_added_on_the_page_changes_what_the_api_serves_at_once(
    owner_client, publishable_client, live_version, django_capture_on_commit_callbacks
):
    def top_categories() -> list[str]:
        response = publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0", "limit": 5})
        return [item["category"] for item in response.data["items"]]

    assert "coffee" in top_categories()  # served, and the serving state is now cached
    with django_capture_on_commit_callbacks(execute=True):
        assert bury_coffee(owner_client).status_code == 302
    assert "coffee" not in top_categories()
