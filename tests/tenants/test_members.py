"""The members page: owners and admins invite colleagues by email, set their roles and take them
out; an invited colleague joins with the link, with a new account or logged in to their own."""
import re

import pytest
from django.contrib.auth import get_user_model

from tenants.models import Invitation, Membership, Role
from tests.factories import UserFactory

MEMBERS = "/settings/members/"
PASSWORD = "plum-kettle-4417"


def _invitation_link(html: str) -> str:
    return re.search(r'<pre class="secret" id="invitation-link">https?://[^/]+(/invitations/[^<]+)</pre>', html).group(1)


def _invite(client, email, role=Role.ANALYST) -> str:
    return _invitation_link(client.post(MEMBERS, {"email": email, "role": role}).content.decode())


def test_an_owner_invites_a_new_colleague_who_chooses_a_password_and_joins_as_an_analyst(
    client, merchant_user, tenant
):
    client.force_login(merchant_user)
    link = _invite(client, "Ana@Acme.test")
    assert not get_user_model().objects.filter(email__iexact="ana@acme.test").exists()  # not before they accept

    client.logout()
    joined = client.post(link, {"password1": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == "/"
    ana = get_user_model().objects.get(email="ana@acme.test")
    assert Membership.all_tenants.get(tenant=tenant, user=ana).role == Role.ANALYST
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and 'href="/catalog/import/"' not in dashboard.content.decode()
    client.logout()
    assert client.post("/login/", {"username": "Ana@Acme.test", "password": PASSWORD}).status_code == 302
    assert 'id="invitation-expired"' in client.get(link).content.decode()  # used: gone


def test_a_new_address_opened_while_logged_in_as_another_account_says_the_session_will_switch(
    client, merchant_user
):
    client.force_login(merchant_user)
    link = _invite(client, "ana@acme.test")

    page = client.get(link).content.decode()  # the manager opens the link they are sending on
    note = re.search(r'id="switches-account">(.*?)</p>', page).group(1)
    assert note == (
        f"You are logged in as {merchant_user.email}. Creating this account logs you out of "
        f"{merchant_user.email} and in as ana@acme.test."
    )
    client.logout()
    assert 'id="switches-account"' not in client.get(link).content.decode()


def test_a_weak_or_mismatched_password_is_explained_and_makes_no_account(client, merchant_user):
    client.force_login(merchant_user)
    link = _invite(client, "ana@acme.test")
    client.logout()
    weak = client.post(link, {"password1": "123", "password2": "123"}).content.decode()
    differ = client.post(link, {"password1": PASSWORD, "password2": PASSWORD + "x"}).content.decode()
    assert "This password is too short" in weak and "The two passwords differ." in differ
    assert not get_user_model().objects.filter(email="ana@acme.test").exists()


def test_a_colleague_with_an_account_joins_only_when_logged_in_as_that_account(
    client, merchant_user, other_merchant_user, tenant
):
    client.force_login(merchant_user)
    link = _invite(client, "owner@globex.test", Role.ADMIN)

    # The inviting manager holds the link, but not the account: the link alone joins nobody.
    page = client.get(link).content.decode()
    assert 'id="wrong-account"' in page and 'id="accept"' not in page
    client.post(link)
    assert not Membership.all_tenants.filter(tenant=tenant, user=other_merchant_user).exists()

    client.logout()
    assert "Log in to accept" in client.get(link).content.decode()
    client.force_login(other_merchant_user)
    client.post(link)
    assert Membership.all_tenants.get(tenant=tenant, user=other_merchant_user).role == Role.ADMIN


def test_an_address_set_up_by_one_store_cannot_be_taken_into_another_by_that_store(
    client, merchant_user, other_tenant, other_merchant_user
):
    """Acme's manager invites cfo@globex.test and sets its password through the link, then waits
    for Globex to invite the same address: Globex's link goes to Globex's colleague, and Acme's
    manager, without it, joins nothing of Globex."""
    client.force_login(merchant_user)
    acme_link = _invite(client, "cfo@globex.test", Role.LEARNER)
    client.logout()
    client.post(acme_link, {"password1": PASSWORD, "password2": PASSWORD})  # the squatter's account
    client.logout()
    client.force_login(other_merchant_user)
    globex_link = _invite(client, "cfo@globex.test", Role.ADMIN)
    assert globex_link != acme_link
    client.logout()
    client.post("/login/", {"username": "cfo@globex.test", "password": PASSWORD})
    client.post(acme_link)  # used already: nothing
    assert not Membership.all_tenants.filter(tenant=other_tenant, user__email="cfo@globex.test").exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"email": "not-an-email", "role": Role.ANALYST}, "Enter a valid email address."),
        ({"email": "OWNER@acme.test", "role": Role.ANALYST}, "owner@acme.test is already a member."),
        ({"email": "x@acme.test", "role": "wizard"}, "Select a valid choice."),
    ],
    ids=["bad email", "already a member", "unknown role"],
)
def test_a_refused_invitation_is_explained_beside_the_field_and_nothing_is_made(client, merchant_user, body, reason):
    client.force_login(merchant_user)
    html = client.post(MEMBERS, body).content.decode()
    assert reason in html
    assert not Invitation.all_tenants.exists()


def test_inviting_an_address_again_replaces_its_link(client, merchant_user):
    client.force_login(merchant_user)
    first = _invite(client, "ana@acme.test")
    second = _invite(client, "ana@acme.test", Role.LEARNER)
    assert 'id="invitation-expired"' in client.get(first).content.decode()
    assert Invitation.all_tenants.get().role == Role.LEARNER and second != first


def test_a_revoked_invitation_no_longer_works(client, merchant_user):
    client.force_login(merchant_user)
    link = _invite(client, "ana@acme.test")
    client.post(f"/settings/invitations/{Invitation.all_tenants.get().pk}/revoke/")
    client.logout()
    assert client.get(link).status_code == 404
    client.post(link, {"password1": PASSWORD, "password2": PASSWORD})
    assert not get_user_model().objects.filter(email="ana@acme.test").exists()


def test_an_admin_can_neither_invite_nor_change_nor_revoke_an_owner(client, member_with_role, merchant_user):
    client.force_login(merchant_user)
    _invite(client, "boss@acme.test", Role.OWNER)
    owner_invitation = Invitation.all_tenants.get()
    client.force_login(member_with_role(Role.ADMIN))
    html = client.post(MEMBERS, {"email": "boss2@acme.test", "role": Role.OWNER}).content.decode()
    assert "Only an owner can make someone an owner." in html
    owner = Membership.all_tenants.get(user=merchant_user)
    refused = client.post(f"{MEMBERS}{owner.pk}/role/", {"role": Role.LEARNER}, follow=True)
    assert "Only an owner can change or remove an owner." in refused.content.decode()
    client.post(f"{MEMBERS}{owner.pk}/remove/")
    client.post(f"/settings/invitations/{owner_invitation.pk}/revoke/")
    assert Membership.all_tenants.get(pk=owner.pk).role == Role.OWNER
    assert Invitation.all_tenants.filter(pk=owner_invitation.pk).exists()


def test_an_admin_is_not_offered_what_only_an_owner_may_do_to_an_owner(
    client, member_with_role, merchant_user
):
    admin = Membership.all_tenants.get(user=member_with_role(Role.ADMIN))
    owner = Membership.all_tenants.get(user=merchant_user)
    client.force_login(admin.user)
    html = client.get(MEMBERS).content.decode()
    owner_row = re.search(rf'<tr id="member-{owner.pk}">.*?</tr>', html, re.DOTALL).group(0)
    assert "Change role" not in owner_row and "remove/" not in owner_row and "Owner" in owner_row
    admin_row = re.search(rf'<tr id="member-{admin.pk}">.*?</tr>', html, re.DOTALL).group(0)
    assert 'value="owner"' not in admin_row and 'value="analyst"' in admin_row


def test_an_admin_opening_an_owners_removal_is_told_at_once_that_only_an_owner_can(
    client, member_with_role, merchant_user
):
    owner = Membership.all_tenants.get(user=merchant_user)
    client.force_login(member_with_role(Role.ADMIN))
    response = client.get(f"{MEMBERS}{owner.pk}/remove/", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == MEMBERS
    assert "Only an owner can change or remove an owner." in page
    assert "Remove owner@acme.test from" not in page


def test_the_last_owner_opening_their_own_removal_is_told_at_once_the_store_needs_an_owner(
    client, merchant_user
):
    owner = Membership.all_tenants.get(user=merchant_user)
    client.force_login(merchant_user)
    page = client.get(f"{MEMBERS}{owner.pk}/remove/", follow=True).content.decode()
    assert "The store needs an owner: make someone else owner first." in page
    assert 'id="confirm"' not in page


def test_an_admin_demoted_meanwhile_acts_with_the_new_role(client, member_with_role, tenant):
    from tenants.services import member_invite

    admin = Membership.all_tenants.get(user=member_with_role(Role.ADMIN))
    Membership.all_tenants.filter(pk=admin.pk).update(role=Role.LEARNER)  # by an owner, a moment ago
    with pytest.raises(Exception, match="Only an owner"):
        member_invite(tenant=tenant, email="x@acme.test", role=Role.OWNER, by=admin)


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
    again = client.post(f"{MEMBERS}{analyst.pk}/remove/")
    assert again.status_code == 404


def test_removing_a_member_first_says_what_goes_with_them_and_removes_nothing_until_confirmed(
    client, merchant_user, member_with_role, tenant
):
    from courses.models import Certificate, Enrollment
    from tests.courses.factories import CourseFactory
    from tests.factories import TenantFactory

    learner = Membership.all_tenants.get(user=member_with_role(Role.LEARNER))
    enrollment = Enrollment.all_tenants.create(tenant=tenant, membership=learner, course=CourseFactory())
    Certificate.all_tenants.create(tenant=tenant, enrollment=enrollment, learner_name="L", course_title="C")
    TenantFactory(name="Sandbox", slug="sandbox-1", sandbox_of=tenant, sandbox_owner=learner.user)
    client.force_login(merchant_user)

    assert f'href="{MEMBERS}{learner.pk}/remove/"' in client.get(MEMBERS).content.decode()
    page = client.get(f"{MEMBERS}{learner.pk}/remove/").content.decode()
    assert "Remove learner@acme.test from Acme Grocer?" in page
    assert "Their 1 certificate stays valid at its public link." in page
    assert "Their sandbox store of this store is deleted" in page
    assert Membership.all_tenants.filter(pk=learner.pk).exists()

    client.post(f"{MEMBERS}{learner.pk}/remove/")
    assert not Membership.all_tenants.filter(pk=learner.pk).exists()
    assert not Enrollment.all_tenants.filter(pk=enrollment.pk).exists()
    assert Certificate.all_tenants.filter(tenant=tenant, learner_name="L", enrollment=None).exists()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_members_who_do_not_manage_the_store_cannot_see_or_change_members(client, member_with_role, role):
    user = member_with_role(role)
    client.force_login(user)
    assert client.get(MEMBERS).status_code == 403
    own = Membership.all_tenants.get(user=user)
    assert client.post(f"{MEMBERS}{own.pk}/role/", {"role": Role.OWNER}).status_code == 403
    assert Membership.all_tenants.get(pk=own.pk).role == role


def test_another_stores_members_and_invitations_are_a_404_on_every_action(
    client, merchant_user, other_merchant_user, other_tenant
):
    foreign = Membership.all_tenants.get(user=other_merchant_user)
    foreign_invitation = Invitation.all_tenants.create(
        tenant=other_tenant, email="x@globex.test", role=Role.LEARNER, token_hash="0" * 64
    )
    client.force_login(merchant_user)
    page = client.get(MEMBERS).content.decode()
    assert "owner@globex.test" not in page and "x@globex.test" not in page
    for action, data in (("role", {"role": Role.LEARNER}), ("remove", {})):
        assert client.post(f"{MEMBERS}{foreign.pk}/{action}/", data).status_code == 404, action
    assert client.post(f"/settings/invitations/{foreign_invitation.pk}/revoke/").status_code == 404
    assert Membership.all_tenants.get(pk=foreign.pk).role == Role.OWNER
    assert Invitation.all_tenants.filter(pk=foreign_invitation.pk).exists()


def test_an_invitation_older_than_a_week_no_longer_works(client, merchant_user):
    from django.utils import timezone

    from tenants.models import INVITATION_MAX_AGE

    client.force_login(merchant_user)
    link = _invite(client, "ana@acme.test")
    Invitation.all_tenants.update(created_at=timezone.now() - INVITATION_MAX_AGE * 1.1)
    client.logout()
    assert client.get(link).status_code == 404


def test_the_members_page_says_which_invitations_have_expired_and_until_when_the_others_work(
    client, merchant_user
):
    from django.utils import timezone

    from tenants.models import INVITATION_MAX_AGE

    client.force_login(merchant_user)
    _invite(client, "old@acme.test")
    Invitation.all_tenants.update(created_at=timezone.now() - INVITATION_MAX_AGE * 1.1)
    _invite(client, "new@acme.test")
    html = client.get(MEMBERS).content.decode()
    old = Invitation.all_tenants.get(email="old@acme.test")
    new = Invitation.all_tenants.get(email="new@acme.test")
    old_row = re.search(rf'<tr id="invitation-{old.pk}">.*?</tr>', html, re.DOTALL).group(0)
    new_row = re.search(rf'<tr id="invitation-{new.pk}">.*?</tr>', html, re.DOTALL).group(0)
    assert "Expired: its link no longer works" in old_row and "works until" not in old_row
    assert "Its link works until" in new_row and "Expired" not in new_row


def test_the_members_page_and_the_invitation_are_in_chinese(client, merchant_user):
    client.force_login(merchant_user)
    client.cookies["django_language"] = "zh-hans"
    link = _invite(client, "ana@acme.test")
    page = client.get(MEMBERS).content.decode()
    assert "成员" in page and "Invite a colleague" not in page
    client.logout()
    client.cookies["django_language"] = "zh-hans"
    assert "Choose a password" not in client.get(link).content.decode()


def test_a_login_name_is_matched_regardless_of_case_unless_two_accounts_differ_only_by_it(client, db):
    UserFactory(username="mixed@acme.test")
    assert client.post("/login/", {"username": "MIXED@Acme.test", "password": "correct-horse-battery"}).status_code == 302
    client.logout()
    UserFactory(username="twin@acme.test")
    UserFactory(username="Twin@acme.test")
    assert client.post("/login/", {"username": "TWIN@acme.test", "password": "correct-horse-battery"}).status_code == 200


def test_a_manager_removed_since_cannot_come_back_through_a_link_they_made(client, merchant_user, member_with_role):
    admin_user = member_with_role(Role.ADMIN)
    client.force_login(admin_user)
    backdoor = _invite(client, "backdoor@example.test", Role.ADMIN)
    client.force_login(merchant_user)
    client.post(f"{MEMBERS}{Membership.all_tenants.get(user=admin_user).pk}/remove/")
    assert not Invitation.all_tenants.exists()  # what they sent went with them
    client.logout()
    client.post(backdoor, {"password1": PASSWORD, "password2": PASSWORD})
    assert not get_user_model().objects.filter(email="backdoor@example.test").exists()


def test_an_owner_demoted_since_cannot_bring_in_an_owner_through_a_link_they_made(client, merchant_user, tenant):
    second_owner = UserFactory(username="second@acme.test")
    Membership.all_tenants.create(tenant=tenant, user=second_owner, role=Role.OWNER)
    client.force_login(second_owner)
    takeover = _invite(client, "alt@example.test", Role.OWNER)
    learner_link = _invite(client, "learner@example.test", Role.LEARNER)
    client.force_login(merchant_user)
    client.post(f"{MEMBERS}{Membership.all_tenants.get(user=second_owner).pk}/role/", {"role": Role.ADMIN})
    assert list(Invitation.all_tenants.values_list("email", flat=True)) == ["learner@example.test"]
    client.logout()
    client.post(takeover, {"password1": PASSWORD, "password2": PASSWORD})
    assert not Membership.all_tenants.filter(user__email="alt@example.test").exists()
    client.post(learner_link, {"password1": PASSWORD, "password2": PASSWORD})  # an admin may still send that one
    assert Membership.all_tenants.get(user__email="learner@example.test").role == Role.LEARNER


def test_an_invitation_whose_sender_lost_the_right_meanwhile_is_refused_when_accepted(client, merchant_user, tenant):
    from tenants.services import invitation_accept, invitation_from_token, member_invite

    owner = Membership.all_tenants.get(user=merchant_user)
    issued = member_invite(tenant=tenant, email="alt@example.test", role=Role.OWNER, by=owner)
    Membership.all_tenants.filter(pk=owner.pk).update(role=Role.ADMIN)  # past the services, as a race would
    with pytest.raises(Exception, match="no longer holds"):
        invitation_accept(invitation=invitation_from_token(issued.token), password=PASSWORD)
    assert not Membership.all_tenants.filter(user__email="alt@example.test").exists()


def test_an_admin_cannot_replace_an_owners_invitation_by_inviting_the_address_again(
    client, merchant_user, member_with_role
):
    client.force_login(merchant_user)
    _invite(client, "boss@example.test", Role.OWNER)
    client.force_login(member_with_role(Role.ADMIN))
    html = client.post(MEMBERS, {"email": "boss@example.test", "role": Role.LEARNER}).content.decode()
    assert "Only an owner can change or remove an owner." in html
    assert Invitation.all_tenants.get().role == Role.OWNER


@pytest.mark.parametrize("address", ["\u017fam@acme.test", "bob@\u212ccme.test"], ids=["long s", "script B"])
def test_an_address_with_unicode_look_alikes_is_refused(client, merchant_user, address):
    client.force_login(merchant_user)
    html = client.post(MEMBERS, {"email": address, "role": Role.ANALYST}).content.decode()
    assert "Write the address in plain ASCII letters." in html
    assert not Invitation.all_tenants.exists()


def test_with_email_set_up_the_invitation_goes_to_the_address_and_its_link_is_never_shown(
    client, merchant_user, settings, mailoutbox
):
    settings.INVITATIONS_BY_EMAIL = True
    client.force_login(merchant_user)
    page = client.post(MEMBERS, {"email": "ana@example.test", "role": Role.ANALYST}).content.decode()
    assert 'id="invitation-link"' not in page
    assert "The invitation is on its way to ana@example.test." in page
    (email,) = mailoutbox
    assert email.to == ["ana@example.test"] and "Acme Grocer" in email.subject
    link = re.search(r"https?://[^/\s]+(/invitations/\S+/)", email.body).group(1)
    assert link not in page
    client.logout()
    client.post(link, {"password1": PASSWORD, "password2": PASSWORD})
    assert Membership.all_tenants.get(user__email="ana@example.test").role == Role.ANALYST


def test_an_invitation_email_that_cannot_be_sent_withdraws_the_invitation(client, merchant_user, settings, monkeypatch):
    from tenants import members

    settings.INVITATIONS_BY_EMAIL = True

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp.example.com:587")

    monkeypatch.setattr(members, "send_mail", smtp_down)
    client.force_login(merchant_user)
    page = client.post(MEMBERS, {"email": "ana@example.test", "role": Role.ANALYST}).content.decode()
    assert "The invitation email could not be sent, so the invitation was withdrawn." in page
    assert 'id="invitation-link"' not in page and not Invitation.all_tenants.exists()
