"""The catalog pages of the merchant UI: product list, import, import detail."""
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import ImportStatus, Product, ProductImport
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.catalog.conftest import queued_and_run
from tests.factories import ProductFactory

DATA = Path(__file__).parent / "data"


def _upload(client, name: str):
    """The page the upload leads to, once a worker has run the import."""
    upload = SimpleUploadedFile(name, (DATA / name).read_bytes(), "text/csv")
    posted = queued_and_run(lambda: client.post(reverse("product-import"), {"file": upload}))
    assert posted.status_code == 302
    return client.get(posted.url)


def test_the_catalog_pages_need_a_login(client, db):
    for name in ["product-list", "product-import"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_an_empty_catalog_tells_the_merchant_to_import_one(owner_client):
    response = owner_client.get(reverse("product-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your catalog is empty" in html
    assert reverse("product-import") in html


def test_the_product_list_searches_filters_by_category_and_paginates(owner_client, tenant, other_tenant):
    ProductFactory(tenant=tenant, external_id="APL-1", title="Gala apples", category="Grocery > Produce")
    ProductFactory(tenant=tenant, external_id="MUG-1", title="Stoneware mug", category="Home > Kitchen")
    ProductFactory(tenant=other_tenant, external_id="THEIRS-1", title="Their apples")

    html = owner_client.get(reverse("product-list")).content.decode()
    assert "APL-1" in html and "MUG-1" in html and "THEIRS-1" not in html
    assert 'name="q"' in html and 'name="category"' in html

    html = owner_client.get(reverse("product-list"), {"q": "apples"}).content.decode()
    assert "APL-1" in html and "MUG-1" not in html and "THEIRS-1" not in html

    html = owner_client.get(reverse("product-list"), {"category": "Home"}).content.decode()
    assert "MUG-1" in html and "APL-1" not in html

    html = owner_client.get(reverse("product-list"), {"q": "nothing like this"}).content.decode()
    assert "No product matches these filters." in html


def test_the_product_list_pages_keep_the_filters(owner_client, tenant):
    for n in range(55):
        ProductFactory(tenant=tenant, external_id=f"P{n:03d}", category="Grocery")
    first = owner_client.get(reverse("product-list"), {"category": "Grocery"}).content.decode()
    assert "P049" in first and "P050" not in first
    assert "?category=Grocery&amp;page=2" in first
    second = owner_client.get(reverse("product-list"), {"category": "Grocery", "page": 2}).content.decode()
    assert "P050" in second and "P049" not in second


def test_the_import_page_uploads_a_file_and_shows_the_outcome(owner_client, tenant, merchant_user):
    response = _upload(owner_client, "catalog.csv")
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 products created, 0 updated" in html
    assert "catalog.csv" in html
    with tenant_scope(tenant):
        assert Product.objects.count() == 3
        assert ProductImport.objects.get().created_by == merchant_user


def test_the_import_page_shows_the_row_errors_of_a_bad_file(owner_client, tenant):
    response = _upload(owner_client, "catalog_bad_row.csv")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing from this file was stored" in html
    assert "<td>3</td>" in html and "<code>price</code>" in html
    with tenant_scope(tenant):
        assert Product.objects.count() == 0
        assert ProductImport.objects.get().status == ImportStatus.FAILED


def test_the_import_page_lists_recent_imports(owner_client, tenant):
    _upload(owner_client, "catalog_bad_row.csv")
    html = owner_client.get(reverse("product-import")).content.decode()
    assert "catalog_bad_row.csv" in html
    with tenant_scope(tenant):
        recorded = ProductImport.objects.get()
    assert reverse("product-import-detail", args=[recorded.pk]) in html


def test_every_import_stays_reachable_page_by_page_and_the_dashboard_links_the_last_one(owner_client, tenant):
    with tenant_scope(tenant):
        imports = [
            ProductImport.objects.create(tenant=tenant, filename=f"file-{n:02d}.csv", file_format="csv",
                                         status=ImportStatus.FAILED)
            for n in range(25)
        ]
    first = owner_client.get(reverse("product-import")).content.decode()
    second = owner_client.get(reverse("product-import"), {"page": 2}).content.decode()
    shown = [f"file-{n:02d}.csv" for n in range(25)]
    assert sum(name in first for name in shown) == 20 and sum(name in second for name in shown) == 5
    assert "Page 1 of 2" in first
    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    assert reverse("product-import-detail", args=[imports[-1].pk]) in dashboard


def test_an_analyst_may_see_the_catalog_but_not_import(client, member_with_role):
    client.force_login(member_with_role(Role.ANALYST))
    assert client.get(reverse("product-list")).status_code == 200
    assert client.get(reverse("product-import")).status_code == 403


def test_the_import_detail_page_shows_the_errors_and_another_tenants_import_is_404(
    owner_client, tenant, other_tenant, other_merchant_user, client
):
    _upload(owner_client, "catalog_bad_row.csv")
    with tenant_scope(tenant):
        recorded = ProductImport.objects.get()
    url = reverse("product-import-detail", args=[recorded.pk])
    response = owner_client.get(url)
    assert response.status_code == 200
    assert "catalog_bad_row.csv" in response.content.decode() and "<td>3</td>" in response.content.decode()

    owner_client.logout()
    owner_client.force_login(other_merchant_user)
    assert owner_client.get(url).status_code == 404


def test_a_long_catalog_is_shown_in_pages(client, merchant_user, tenant):
    for _ in range(60):
        ProductFactory(tenant=tenant)
    client.force_login(merchant_user)
    html = client.get("/catalog/").content.decode()
    assert "Page 1 of 2" in html
    assert "page=2" in html


def test_the_upload_form_says_it_is_busy_while_a_file_is_checked_in_the_readers_language(client, merchant_user):
    from django.utils import translation

    client.force_login(merchant_user)
    client.cookies["django_language"] = "zh-hans"
    html = client.get("/catalog/import/").content.decode()
    with translation.override("zh-hans"):
        busy = translation.gettext(
            "Uploading the file… Its page then follows the import, row by row."
        )
    assert f'data-busy-message="{busy}"' in html and "/static/js/busy.js" in html


# --- One product: read, change, delete ---------------------------------------------------------


def _product(tenant, **fields) -> Product:
    return ProductFactory(tenant=tenant, external_id="PEAR-1", title="Green pear", category="Produce > Pears",
                          brand="Orchard", price="2.50", currency="USD", **fields)


def test_an_owner_changes_a_product_from_its_page_held_to_the_rules_of_every_product(owner_client, tenant):
    pear = _product(tenant)
    page = owner_client.get(reverse("product-list")).content.decode()
    assert f'href="{reverse("product-detail", args=[pear.pk])}"' in page

    response = owner_client.post(reverse("product-detail", args=[pear.pk]), {
        "title": "Conference pear", "category": "Produce>Pears ", "brand": "Orchard", "price": "2.75",
        "currency": "eur", "attributes": '{"origin": "BE"}',
    }, follow=True)
    assert "The product is saved." in response.content.decode()
    pear.refresh_from_db()
    assert (pear.title, pear.category, str(pear.price), pear.currency) == (
        "Conference pear", "Produce > Pears", "2.75", "EUR")
    assert pear.in_stock is False and pear.attributes == {"origin": "BE"}  # an unticked box is out of stock


def test_a_bad_price_is_named_beside_its_field_the_input_is_kept_and_nothing_changes(owner_client, tenant):
    pear = _product(tenant)
    response = owner_client.post(reverse("product-detail", args=[pear.pk]), {
        "title": "Renamed pear", "price": "1,99", "in_stock": "on", "attributes": "{not json",
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert "Write a JSON object" in html and 'value="Renamed pear"' in html
    pear.refresh_from_db()
    assert pear.title == "Green pear"
    response = owner_client.post(reverse("product-detail", args=[pear.pk]), {"title": "Renamed pear", "price": "1,99"})
    assert response.status_code == 400 and "“1,99” is not a price" in response.content.decode()
    pear.refresh_from_db()
    assert pear.title == "Green pear"


def test_an_owner_deletes_a_product_after_a_page_that_says_what_it_does(owner_client, tenant):
    pear = _product(tenant)
    confirm = owner_client.get(reverse("product-delete", args=[pear.pk])).content.decode()
    assert "Delete the product PEAR-1?" in confirm and "Shopper events keep its SKU" in confirm
    assert Product.all_tenants.filter(pk=pear.pk).exists()
    response = owner_client.post(reverse("product-delete", args=[pear.pk]), follow=True)
    assert "The product PEAR-1 is deleted." in response.content.decode()
    assert not Product.all_tenants.filter(pk=pear.pk).exists()


def test_an_analyst_reads_a_product_but_can_neither_change_nor_delete_it(client, member_with_role, tenant):
    pear = _product(tenant)
    client.force_login(member_with_role(Role.ANALYST))
    page = client.get(reverse("product-detail", args=[pear.pk])).content.decode()
    assert "Produce &gt; Pears" in page and "<form method=\"post\"" not in page.split('id="product-form"')[1]
    assert client.post(reverse("product-detail", args=[pear.pk]), {"title": "x"}).status_code == 403
    assert client.post(reverse("product-delete", args=[pear.pk])).status_code == 403
    assert Product.all_tenants.get(pk=pear.pk).title == "Green pear"


def test_another_stores_product_is_a_404_on_every_product_page(owner_client, other_tenant):
    theirs = _product(other_tenant)
    for name in ("product-detail", "product-delete"):
        assert owner_client.get(reverse(name, args=[theirs.pk])).status_code == 404
        assert owner_client.post(reverse(name, args=[theirs.pk]), {"title": "hijacked"}).status_code == 404
    assert Product.all_tenants.get(pk=theirs.pk).title == "Green pear"
