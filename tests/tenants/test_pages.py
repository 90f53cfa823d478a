"""The tenant pages of the merchant UI: login, dashboard, tenant switch, API keys."""
import re

from tenants.models import ApiKey, ApiKeyKind, Role
from tenants.scope import tenant_scope
from tenants.selectors import api_key_from_presented
from tenants.services import api_key_issue
from tests.factories import MembershipFactory, ProductFactory, UserFactory


def test_a_merchant_logs_in_with_email_and_password_and_sees_their_dashboard(client, merchant_user, tenant):
    ProductFactory(tenant=tenant)
    response = client.post("/login/", {"username": "owner@acme.test", "password": "correct-horse-battery"})
    assert response.status_code == 302
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "Acme Grocer" in dashboard.content.decode()


def test_a_wrong_password_shows_an_error_and_no_dashboard(client, merchant_user):
    response = client.post("/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_the_dashboard_asks_anonymous_visitors_to_log_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_dashboard_counts_only_the_active_tenants_products(client, merchant_user, tenant, other_tenant):
    ProductFactory(tenant=tenant)
    for _ in range(7):
        ProductFactory(tenant=other_tenant)
    client.force_login(merchant_user)
    html = client.get("/").content.decode()
    assert "Globex" not in html
    assert re.search(r'class="figure">1<', html)


def test_a_user_in_two_tenants_switches_between_them(client, merchant_user, other_tenant):
    MembershipFactory(tenant=other_tenant, user=merchant_user, role=Role.ANALYST)
    client.force_login(merchant_user)
    assert "Acme Grocer</h1>" in client.get("/").content.decode()
    response = client.post("/tenant/switch/", {"tenant_id": other_tenant.id})
    assert response.status_code == 302
    assert "Globex Market</h1>" in client.get("/").content.decode()


def test_switching_to_a_tenant_the_user_does_not_belong_to_is_a_404(client, merchant_user, other_tenant):
    client.force_login(merchant_user)
    assert client.post("/tenant/switch/", {"tenant_id": other_tenant.id}).status_code == 404
    assert client.post("/tenant/switch/", {"tenant_id": "nonsense"}).status_code == 404
    assert "Acme Grocer</h1>" in client.get("/").content.decode()


NEW_KEY = re.compile(r'<pre class="secret" id="new-key">([sp]k_[^<]+)</pre>')


def test_an_owner_creates_a_key_and_sees_it_once(client, merchant_user, tenant):
    client.force_login(merchant_user)
    response = client.post("/settings/api-keys/", {"name": "Storefront", "kind": ApiKeyKind.PUBLISHABLE})
    assert response.status_code == 302 and response["Location"] == "/settings/api-keys/"

    html = client.get("/settings/api-keys/").content.decode()
    assert len(NEW_KEY.findall(html)) == 1
    shown = NEW_KEY.search(html).group(1)
    assert shown.startswith("pk_")
    assert api_key_from_presented(shown).tenant == tenant
    again = client.get("/settings/api-keys/").content.decode()
    assert shown not in again
    assert shown.split(".")[0] in again  # the prefix stays visible


def test_reloading_the_page_after_creating_a_key_creates_no_second_key(client, merchant_user, tenant):
    client.force_login(merchant_user)
    response = client.post(
        "/settings/api-keys/", {"name": "Server", "kind": ApiKeyKind.SECRET}, follow=True
    )
    assert response.redirect_chain == [("/settings/api-keys/", 302)]
    assert len(NEW_KEY.findall(response.content.decode())) == 1

    client.get("/settings/api-keys/")  # what a browser's reload sends now: no form again

    with tenant_scope(tenant):
        assert ApiKey.objects.count() == 1


def test_a_new_key_is_not_shown_in_another_store_switched_to_before_the_page_loads(
    client, merchant_user, other_tenant
):
    MembershipFactory(tenant=other_tenant, user=merchant_user, role=Role.OWNER)
    client.force_login(merchant_user)
    client.post("/settings/api-keys/", {"name": "Acme server", "kind": ApiKeyKind.SECRET})
    client.post("/tenant/switch/", {"tenant_id": other_tenant.id})

    assert not NEW_KEY.search(client.get("/settings/api-keys/").content.decode())


def test_a_key_form_without_a_name_shows_the_error_beside_the_field(client, merchant_user, tenant):
    client.force_login(merchant_user)
    response = client.post("/settings/api-keys/", {"name": "", "kind": ApiKeyKind.SECRET})
    assert 'class="field-error"' in response.content.decode()
    with tenant_scope(tenant):
        assert not ApiKey.objects.exists()


def test_an_owner_revokes_a_key(client, merchant_user, tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="old")
    client.force_login(merchant_user)
    response = client.post(f"/settings/api-keys/{issued.api_key.prefix}/revoke/")
    assert response.status_code == 302
    assert api_key_from_presented(issued.key) is None


def test_revoking_a_key_first_says_who_is_refused_and_revokes_nothing_until_confirmed(
    client, merchant_user, tenant
):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="checkout server")
    revoke_url = f"/settings/api-keys/{issued.api_key.prefix}/revoke/"
    client.force_login(merchant_user)
    listing = client.get("/settings/api-keys/").content.decode()
    # The list links to the question; no button there revokes on one click.
    assert f'href="{revoke_url}"' in listing and f'action="{revoke_url}"' not in listing

    page = client.get(revoke_url).content.decode()
    assert f"Revoke the key checkout server ({issued.api_key.display_prefix}…)?" in page
    assert "Your servers that send this key are refused from the moment it is revoked" in page
    assert "It has never been used." in page and "This cannot be undone." in page
    assert api_key_from_presented(issued.key) is not None

    client.post(revoke_url)
    assert api_key_from_presented(issued.key) is None


def test_the_revoke_question_of_another_tenants_key_is_a_404(client, merchant_user, other_tenant):
    foreign = api_key_issue(tenant=other_tenant, kind=ApiKeyKind.PUBLISHABLE, name="globex-browser")
    client.force_login(merchant_user)
    response = client.get(f"/settings/api-keys/{foreign.api_key.prefix}/revoke/")
    assert response.status_code == 404 and "globex-browser" not in response.content.decode()


def test_an_analyst_cannot_open_the_revoke_question(client, member_with_role, tenant):
    issued = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server")
    client.force_login(member_with_role(Role.ANALYST))
    assert client.get(f"/settings/api-keys/{issued.api_key.prefix}/revoke/").status_code == 403


def test_replacing_the_signing_key_first_says_what_is_refused_and_replaces_nothing_until_confirmed(
    client, merchant_user, tenant
):
    old_key = tenant.shopper_signing_key
    client.force_login(merchant_user)
    listing = client.get("/settings/api-keys/").content.decode()
    assert 'href="/settings/shopper-signatures/rotate/"' in listing
    assert 'action="/settings/shopper-signatures/rotate/"' not in listing

    page = client.get("/settings/shopper-signatures/rotate/").content.decode()
    assert "Replace the shopper signing key?" in page
    tenant.refresh_from_db()
    assert tenant.shopper_signing_key == old_key

    client.post("/settings/shopper-signatures/rotate/")
    tenant.refresh_from_db()
    assert tenant.shopper_signing_key != old_key


def test_the_page_does_not_advise_turning_signatures_off_to_keep_old_ones_working(
    client, merchant_user, tenant
):
    # A signature that is sent is checked even when none is required: old ones are refused either way.
    client.force_login(merchant_user)
    for url in ("/settings/api-keys/", "/settings/shopper-signatures/rotate/"):
        page = client.get(url).content.decode()
        assert "turn the requirement off meanwhile" not in page
        assert "whether or not signatures are required: give your servers the new key first." in page


def test_revoking_another_tenants_key_is_a_404_and_leaves_it_working(client, merchant_user, other_tenant):
    foreign = api_key_issue(tenant=other_tenant, kind=ApiKeyKind.SECRET, name="theirs")
    client.force_login(merchant_user)
    assert client.post(f"/settings/api-keys/{foreign.api_key.prefix}/revoke/").status_code == 404
    assert api_key_from_presented(foreign.key) is not None


def test_another_tenants_keys_are_not_listed(client, merchant_user, other_tenant):
    foreign = api_key_issue(tenant=other_tenant, kind=ApiKeyKind.SECRET, name="globex-secret-server")
    client.force_login(merchant_user)
    html = client.get("/settings/api-keys/").content.decode()
    assert "globex-secret-server" not in html
    assert foreign.api_key.prefix not in html


def test_analysts_cannot_manage_api_keys(client, member_with_role):
    client.force_login(member_with_role(Role.ANALYST))
    assert client.get("/settings/api-keys/").status_code == 403


def test_a_user_with_no_tenant_is_told_so(client, db):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 403
    assert "does not belong to any merchant" in response.content.decode()


def test_the_language_switch_shows_the_page_in_chinese(client, merchant_user):
    client.force_login(merchant_user)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/").content.decode()
    assert 'lang="zh-hans"' in html
    assert "仪表盘" in html


def test_an_owner_sets_the_allowed_web_origins_one_per_line(client, merchant_user, tenant):
    client.force_login(merchant_user)
    lines = "https://Shop.Acme.test/\r\n\r\nhttp://localhost:3000"
    response = client.post("/settings/api-keys/", {"form": "allowed-origins", "allowed_origins": lines})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.allowed_origins == ["https://shop.acme.test", "http://localhost:3000"]
    page = client.get(response["Location"]).content.decode()
    assert "https://shop.acme.test\nhttp://localhost:3000</textarea>" in page


def test_a_bad_origin_is_named_beside_the_field_and_nothing_is_saved(client, merchant_user, tenant):
    client.force_login(merchant_user)
    posted = {"form": "allowed-origins", "allowed_origins": "https://ok.test\nshop.acme.test"}
    response = client.post("/settings/api-keys/", posted)
    assert response.status_code == 200
    assert re.search(r'class="field-error"[^>]*>[^<]*shop.acme.test', response.content.decode())
    tenant.refresh_from_db()
    assert tenant.allowed_origins == []


def test_a_learner_cannot_set_the_allowed_web_origins(client, member_with_role, tenant):
    client.force_login(member_with_role(Role.LEARNER))
    posted = {"form": "allowed-origins", "allowed_origins": "https://evil.test"}
    response = client.post("/settings/api-keys/", posted)
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.allowed_origins == []


def test_staff_who_work_in_a_store_see_every_stores_members_in_the_admin(client, tenant, other_tenant):
    # The admin runs outside the staff member's store scope: on PostgreSQL that scope's
    # row-level security would hold the admin to one store.
    staff = UserFactory(username="ops@platform.test", is_staff=True, is_superuser=True)
    MembershipFactory(tenant=tenant, user=staff)
    MembershipFactory(tenant=other_tenant, user=UserFactory(username="bo@globex.test"))
    client.force_login(staff)

    page = client.get("/admin/tenants/membership/").content.decode()

    assert "bo@globex.test" in page and "ops@platform.test" in page
