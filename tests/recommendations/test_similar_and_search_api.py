"""GET /api/v1/products/{sku}/similar and GET /api/v1/search."""

from django.utils import timezone

from catalog.models import Event, Product
from tests.recommendations.conftest import RECOMMENDATIONS, SEARCH, similar_url

PRODUCTS = "/api/v1/catalog/products"


def skus_of(response) -> list[str]:
    return [item["external_id"] for item in response.data["items"]]


def test_similar_products_come_from_the_model_and_leave_out_the_product_itself(
    publishable_client, live_version
):
    response = publishable_client.get(similar_url("coffee-3"), {"limit": 8})
    assert response.status_code == 200
    assert response.data["model_version"] == 1 and response.data["fallback"] is False
    assert len(response.data["items"]) == 8 and "coffee-3" not in skus_of(response)
    assert sum(item["category"] in {"coffee", "cheese"} for item in response.data["items"]) >= 5


def test_similar_products_of_an_unknown_sku_is_a_404(publishable_client, live_version):
    response = publishable_client.get(similar_url("no-such-sku"))
    assert response.status_code == 404
    assert "SKU" in response.data["detail"]


def test_another_tenants_product_is_a_404(other_tenant_client, live_version):
    assert other_tenant_client.get(similar_url("coffee-3")).status_code == 404


def test_without_a_model_similar_products_are_best_sellers_of_the_same_category(
    publishable_client, tiny_shop
):
    response = publishable_client.get(similar_url("pasta-4"), {"limit": 3})
    assert response.status_code == 200
    assert response.data["fallback"] is True and response.data["fallback_reason"] == "no_live_model"
    assert [item["category"] for item in response.data["items"]] == ["pasta"] * 3
    assert skus_of(response)[0] == "pasta-0"


def test_without_a_model_the_categorys_best_sellers_lead_even_when_other_best_sellers_sell_far_more(
    publishable_client, tiny_shop
):
    # A grocer's best sellers (milk, bananas) sell a hundred times more than the rest: a nudge
    # by a few standard deviations left them above every product of the category.
    Product.all_tenants.filter(tenant=tiny_shop, category="pasta").update(category="Grocery > Pasta")
    best_seller = Product.all_tenants.get(tenant=tiny_shop, external_id="coffee-0")
    Event.all_tenants.bulk_create([
        Event(tenant=tiny_shop, event_id=f"rush-{n}", shopper_key=f"rush-{n}", type="purchase",
              product=best_seller, product_external_id="coffee-0", occurred_at=timezone.now())
        for n in range(300)
    ])
    assert skus_of(publishable_client.get(RECOMMENDATIONS, {"limit": 1})) == ["coffee-0"]  # the store's best seller
    response = publishable_client.get(similar_url("pasta-4"), {"limit": 5})
    assert [item["category"] for item in response.data["items"]] == ["Grocery > Pasta"] * 5


def test_a_product_synced_a_moment_ago_can_be_asked_about_at_once(
    publishable_client, secret_client, tiny_shop, django_capture_on_commit_callbacks
):
    assert publishable_client.get(similar_url("pasta-4")).status_code == 200  # what it serves is now cached
    with django_capture_on_commit_callbacks(execute=True):
        added = secret_client.post(PRODUCTS, {"products": [
            {"external_id": "pasta-new", "title": "Fresh tagliatelle", "category": "pasta"},
        ]}, format="json")
    assert added.status_code == 200
    assert publishable_client.get(similar_url("pasta-new"), {"limit": 3}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert secret_client.delete(f"{PRODUCTS}/pasta-0").status_code == 204
    assert "pasta-0" not in skus_of(publishable_client.get(similar_url("pasta-4"), {"limit": 3}))


def test_similar_products_of_a_sku_with_a_slash_are_found(publishable_client, tiny_shop):
    # The catalog API takes such a SKU (catalog/products/<path:external_id>); so must this one.
    Product.all_tenants.filter(tenant=tiny_shop, external_id="pasta-4").update(external_id="pasta/4")
    response = publishable_client.get(similar_url("pasta/4"), {"limit": 3})
    assert response.status_code == 200
    assert [item["category"] for item in response.data["items"]] == ["pasta"] * 3
    assert "pasta/4" not in skus_of(response)


def test_a_query_that_matches_a_product_title_finds_it_in_the_top_3(publishable_client, live_version):
    for query, sku in [("earl grey tea", "tea-2"), ("argan oil shampoo", "shampoo-5"), ("gouda", "cheese-2")]:
        response = publishable_client.get(SEARCH, {"q": query})
        assert response.status_code == 200
        assert sku in skus_of(response)[:3], (query, skus_of(response)[:5])
    assert response.data["model_version"] == 1 and response.data["fallback"] is False


def test_search_without_a_model_matches_words_and_says_it_fell_back(publishable_client, tiny_shop):
    response = publishable_client.get(SEARCH, {"q": "earl grey"})
    assert skus_of(response) == ["tea-2"]
    assert response.data["fallback"] is True


def test_search_leaves_out_products_out_of_stock(publishable_client, live_version, tenant):
    Product.all_tenants.filter(tenant=tenant, external_id="tea-2").update(in_stock=False)
    assert "tea-2" not in skus_of(publishable_client.get(SEARCH, {"q": "earl grey tea"}))


def test_a_personalised_search_ranks_the_shoppers_kind_of_product_higher(publishable_client, live_version):
    # "aroma" is in every coffee's description; shopper-1 shops tea and shampoo, shopper-0 coffee and cheese.
    plain = publishable_client.get(SEARCH, {"q": "brand new", "limit": 10})
    personal = publishable_client.get(SEARCH, {"q": "brand new", "limit": 10, "shopper_id": "shopper-1"})
    assert personal.status_code == 200 and plain.status_code == 200
    mission = {"tea", "shampoo"}
    count = lambda response: sum(item["category"] in mission for item in response.data["items"])  # noqa: E731
    assert count(personal) > count(plain)


def test_search_needs_a_query_and_refuses_unknown_parameters(publishable_client, live_version):
    response = publishable_client.get(SEARCH)
    assert response.status_code == 400 and "q" in response.data
    response = publishable_client.get(SEARCH, {"q": "tea", "page": 2})
    assert response.status_code == 400 and "page" in response.data


def test_another_tenant_finds_none_of_our_products(other_tenant_client, live_version):
    response = other_tenant_client.get(SEARCH, {"q": "earl grey tea"})
    assert response.status_code == 200 and response.data["items"] == []


def test_a_query_searched_again_is_not_encoded_again(publishable_client, live_version, monkeypatch):
    from training.ml.artifacts import LoadedVersion

    encoded = []
    original = LoadedVersion.encode_texts

    def counting(self, texts, batch_size=256):
        encoded.extend(texts)
        return original(self, texts, batch_size=batch_size)

    monkeypatch.setattr(LoadedVersion, "encode_texts", counting)
    first = publishable_client.get(SEARCH, {"q": "earl grey tea"})
    again = publishable_client.get(SEARCH, {"q": "earl grey tea"})
    assert skus_of(first) == skus_of(again)
    assert encoded == ["earl grey tea"]


def test_search_answers_by_words_when_the_models_encoder_cannot_be_loaded(
    publishable_client, live_version, caplog
):
    import shutil
    from pathlib import Path

    shutil.rmtree(Path(live_version.artifact_path) / "adapter")  # a half-copied version, say
    for _ in range(2):
        response = publishable_client.get(SEARCH, {"q": "earl grey tea"})
        assert response.status_code == 200
        assert skus_of(response) == ["tea-2"]
        assert response.data["fallback"] is True and response.data["fallback_reason"] == "model_unavailable"
    assert sum("its encoder cannot be loaded" in record.getMessage() for record in caplog.records) == 1
    # Recommendations do not need the encoder: they still come from the model.
    from tests.recommendations.conftest import RECOMMENDATIONS

    assert publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"}).data["model_version"] == 1


def test_search_finds_the_base_model_where_this_web_host_keeps_it(publishable_client, base_models_elsewhere):
    response = publishable_client.get(SEARCH, {"q": "earl grey tea"})
    assert response.data["fallback"] is False and response.data["model_version"] == 1
    assert "tea-2" in skus_of(response)[:3]


def test_search_without_a_model_fills_its_places_with_products_in_stock(
    publishable_client, tiny_shop, monkeypatch
):
    from recommendations.selectors import recommendations

    matches = list(Product.all_tenants.filter(tenant=tiny_shop, category="tea").order_by("external_id"))
    Product.all_tenants.filter(pk__in=[product.pk for product in matches[:3]]).update(in_stock=False)
    monkeypatch.setattr(recommendations, "SEARCH_POOL", 3)  # no bigger than the out-of-stock matches
    response = publishable_client.get(SEARCH, {"q": "tea", "limit": 3})
    assert len(skus_of(response)) == 3
    assert not {product.external_id for product in matches[:3]} & set(skus_of(response))


def test_a_search_whose_words_no_product_holds_says_so_beside_the_models_closest_products(
    publishable_client, live_version
):
    # Semantic matches still come (what search by meaning is for), but a storefront must be able to
    # tell "related products" from products that hold the words.
    found = publishable_client.get(SEARCH, {"q": "earl grey tea"})
    nothing = publishable_client.get(SEARCH, {"q": "zzqqxx"})
    assert found.data["word_matches"] >= 1 and nothing.data["word_matches"] == 0
    assert nothing.data["items"] and nothing.data["model_version"] == 1


def test_the_try_page_warns_when_no_product_holds_the_searched_words(owner_client, live_version):
    html = owner_client.get("/recommendations/try/", {"query": "zzqqxx"}).content.decode()
    assert 'id="no-word-matches"' in html
    html = owner_client.get("/recommendations/try/", {"query": "earl grey tea"}).content.decode()
    assert 'id="no-word-matches"' not in html


def test_a_chinese_query_of_the_longest_length_allowed_is_answered_not_a_500(publishable_client, tiny_shop):
    query = ("有机纯牛奶全脂低脂酸奶咖啡茶叶苹果香蕉橙子面包鸡蛋大米面粉食用油酱油醋盐糖巧克力饼干薯片" * 5)[:200]

    response = publishable_client.get(SEARCH, {"q": query})

    assert response.status_code == 200, response.content
