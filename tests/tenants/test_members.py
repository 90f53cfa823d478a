"""The members page: owners and admins add colleagues by email, set their roles and take them out;
a new colleague sets their password from the link they were handed."""
import re

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Membership, Role
from tests.factories import MembershipFactory

MEMBERS = "/settings/members/"


def _password_link(html: str) -> str:
    return re.search(r'<pre class="secret">https?://[^/]+(/account/set-password/[^<]+)</pre>', html).group(1)


def test_an_owner_adds_a_new_colleague_who_sets_a_password_and_logs_in_as_an_analyst(client, merchant_user, tenant):
    client.force_login(merchant_user)
    response = client.post(MEMBERS, {"email": "Ana@Acme.test", "role": Role.ANALYST})
    assert response.status_code == 200
    ana = get_user_model().objects.get(email="ana@acme.test")
    assert not ana.has_usable_password()
    assert Membership.all_tenants.get(tenant=tenant, user=ana).role == Role.ANALYST
    link = _password_link(response.content.decode())

    client.logout()
    form_page = client.get(link, follow=True)  # Django moves the token into the session, then shows the form
    assert "new_password1" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "plum-kettle-4417", "new_password2": "plum-kettle-4417"}
    )
    assert done.status_code == 302 and done["Location"] == "/login/"
    assert client.post("/login/", {"username": "ana@acme.test", "password": "plum-kettle-4417"}).status_code == 302
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and 'href="/catalog/import/"' not in dashboard.content.decode()
    assert client.get(link, follow=True).content.decode().count('id="link-expired"') == 1  # used: gone


def test_a_colleague_with_an_account_elsewhere_is_added_without_a_password_link(
    client, merchant_user, other_merchant_user, tenant
):
    client.force_login(merchant_user)
    html = client.post(MEMBERS, {"email": "owner@globex.test", "role": Role.ADMIN}).content.decode()
    assert 'id="new-member-link"' not in html
    assert "owner@globex.test is now a member." in html
    assert Membership.all_tenants.get(tenant=tenant, user=other_merchant_user).role == Role.ADMIN


def test_a_new_account_that_joined_another_store_gets_no_link_from_this_one(client, merchant_user, other_tenant):
    """Its password link would let this store's managers into the other store's data."""
    newcomer = get_user_model().objects.create_user(username="new@example.test", email="new@example.test")
    MembershipFactory(tenant=other_tenant, user=newcomer, role=Role.LEARNER)
    client.force_login(merchant_user)
    response = client.post(MEMBERS, {"email": "new@example.test", "role": Role.LEARNER})
    assert 'id="new-member-link"' not in response.content.decode()
    membership = Membership.all_tenants.get(user=newcomer, tenant__slug="acme")
    refused = client.post(f"{MEMBERS}{membership.pk}/password-link/", follow=True)
    assert "also belongs to another store" in refused.content.decode()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"email": "not-an-email", "role": Role.ANALYST}, "email", "Enter a valid email address."),
        ({"email": "owner@acme.test", "role": Role.ANALYST}, "email", "owner@acme.test is already a member."),
        ({"email": "x@acme.test", "role": "wizard"}, "role", "Select a valid choice."),
    ],
    ids=["bad email", "already a member", "unknown role"],
)
def test_a_refused_colleague_is_explained_beside_the_field_and_nothing_is_made(
    client, merchant_user, body, field, reason
):
    client.force_login(merchant_user)
    users_before = get_user_model().objects.count()
    html = client.post(MEMBERS, body).content.decode()
    assert reason in html
    assert get_user_model().objects.count() == users_before
    assert Membership.all_tenants.count() == 1


def test_an_admin_cannot_make_an_owner_nor_change_one(client, member_with_role, merchant_user, tenant):
    client.force_login(member_with_role(Role.ADMIN))
    html = client.post(MEMBERS, {"email": "boss@acme.test", "role": Role.OWNER}).content.decode()
    assert "Only an owner can make someone an owner." in html
    owner = Membership.all_tenants.get(user=merchant_user)
    refused = client.post(f"{MEMBERS}{owner.pk}/role/", {"role": Role.LEARNER}, follow=True)
    assert "Only an owner can change or remove an owner." in refused.content.decode()
    client.post(f"{MEMBERS}{owner.pk}/remove/")
    assert Membership.all_tenants.get(pk=owner.pk).role == Role.OWNER


def test_the_last_owner_can_be_neither_demoted_nor_removed(client, merchant_user):
    client.force_login(merchant_user)
    owner = Membership.all_tenants.get(user=merchant_user)
    for action, data in (("role", {"role": Role.ADMIN}), ("remove", {})):
        page = client.post(f"{MEMBERS}{owner.pk}/{action}/", data, follow=True).content.decode()
        assert "The store needs an owner: make someone else owner first." in page
    assert Membership.all_tenants.get(pk=owner.pk).role == Role.OWNER


def test_an_owner_changes_a_role_and_removes_a_member(client, merchant_user, member_with_role):
    analyst = Membership.all_tenants.get(user=member_with_role(Role.ANALYST))
    client.force_login(merchant_user)
    client.post(f"{MEMBERS}{analyst.pk}/role/", {"role": Role.ADMIN})
    assert Membership.all_tenants.get(pk=analyst.pk).role == Role.ADMIN
    client.post(f"{MEMBERS}{analyst.pk}/remove/")
    assert not Membership.all_tenants.filter(pk=analyst.pk).exists()
    assert get_user_model().objects.filter(username="analyst@acme.test").exists()  # the account stays


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_members_who_do_not_manage_the_store_cannot_see_or_change_members(client, member_with_role, role):
    user = member_with_role(role)
    client.force_login(user)
    assert client.get(MEMBERS).status_code == 403
    own = Membership.all_tenants.get(user=user)
    assert client.post(f"{MEMBERS}{own.pk}/role/", {"role": Role.OWNER}).status_code == 403
    assert Membership.all_tenants.get(pk=own.pk).role == role


def test_another_stores_member_is_a_404_on_every_action(client, merchant_user, other_merchant_user):
    foreign = Membership.all_tenants.get(user=other_merchant_user)
    client.force_login(merchant_user)
    assert "owner@globex.test" not in client.get(MEMBERS).content.decode()
    for action, data in (("role", {"role": Role.LEARNER}), ("remove", {}), ("password-link", {})):
        assert client.post(f"{MEMBERS}{foreign.pk}/{action}/", data).status_code == 404, action
    assert Membership.all_tenants.get(pk=foreign.pk).role == Role.OWNER


def test_the_members_page_is_in_chinese(client, merchant_user):
    client.force_login(merchant_user)
    client.cookies["django_language"] = "zh-hans"
    html = client.get(MEMBERS).content.decode()
    assert "成员" in html and "Add a colleague" not in html


def test_a_manager_who_was_handed_no_link_can_make_a_new_one_for_a_colleague_without_a_password(
    client, merchant_user, tenant
):
    client.force_login(merchant_user)
    client.post(MEMBERS, {"email": "late@acme.test", "role": Role.LEARNER})
    late = Membership.all_tenants.get(user__email="late@acme.test")
    page = client.post(f"{MEMBERS}{late.pk}/password-link/").content.decode()
    assert "/account/set-password/" in _password_link(page)
    has_password = Membership.all_tenants.get(user=merchant_user)
    refused = client.post(f"{MEMBERS}{has_password.pk}/password-link/", follow=True).content.decode()
    assert "No link: this member has a password already" in refused
