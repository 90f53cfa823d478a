"""A forgotten password: the login page's "Forgot your password?" sends a link by email, which sets a
new password once. Offered only where email is set up; a handful of emails per address an hour."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/login/"
RESET = "/password-reset/"
SENT = "/password-reset/sent/"
OLD_PASSWORD = "correct-horse-battery"  # the factories' password
NEW_PASSWORD = "plum-kettle-4417"


@pytest.fixture(autouse=True)
def email_set_up(settings):
    """Email as with EMAIL_URL set, into Django's in-memory outbox (mailoutbox, mail.outbox)."""
    settings.PASSWORD_RESET_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    cache.clear()  # the rate limit's counters, from earlier tests
    yield
    cache.clear()


@pytest.fixture
def ana(db):
    return UserFactory(username="ana@acme.test")


def _link(email) -> str:
    return re.search(r"https?://[^/\s]+(/password-reset/\S+/\S+/)", email.body).group(1)


def _without_csrf_tokens(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def _log_in(client, password: str) -> bool:
    answer = client.post(LOGIN, {"username": "ana@acme.test", "password": password})
    client.post("/logout/")  # the logout page, which keeps the device cookie (client.logout() drops every cookie)
    return answer.status_code == 302


def test_the_login_page_offers_a_reset_when_email_is_set_up(client, db):
    page = client.get(LOGIN).content.decode()
    assert 'id="forgot-password"' in page and f'href="{RESET}"' in page and "Forgot your password?" in page


def test_without_email_the_login_page_offers_no_reset_and_the_reset_pages_are_404(client, ana, settings, mailoutbox):
    assert client.get(RESET).status_code == 200  # with email set up (the fixture)
    settings.PASSWORD_RESET_BY_EMAIL = False
    page = client.get(LOGIN).content.decode()
    assert page.count('name="password"') == 1 and 'id="forgot-password"' not in page and RESET not in page
    assert client.get(RESET).status_code == 404
    assert client.post(RESET, {"email": "ana@acme.test"}).status_code == 404
    assert client.get(SENT).status_code == 404
    assert client.get("/password-reset/complete/").status_code == 404
    assert not mailoutbox


@pytest.mark.parametrize(("email_url", "offered"), [(None, False), ("consolemail://", True)], ids=["unset", "set"])
def test_the_reset_is_offered_exactly_when_email_url_is_set(email_url, offered):
    env = {name: value for name, value in os.environ.items() if name != "EMAIL_URL"}
    if email_url:
        env["EMAIL_URL"] = email_url
    env["DJANGO_SETTINGS_MODULE"] = "platform_site.settings.local"
    read = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.PASSWORD_RESET_BY_EMAIL)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == str(offered)


def test_a_link_issued_while_email_was_set_up_is_404_once_it_is_not(client, ana, settings, mailoutbox):
    client.post(RESET, {"email": "ana@acme.test"})
    settings.PASSWORD_RESET_BY_EMAIL = False
    assert client.get(_link(mailoutbox[0])).status_code == 404


@pytest.mark.parametrize("typed", ["ana@acme.test", "Ana@ACME.test"], ids=["as stored", "other case"])
def test_a_known_address_gets_a_link_by_email_whatever_its_case(client, ana, mailoutbox, typed):
    answer = client.post(RESET, {"email": typed})
    assert answer.status_code == 302 and answer["Location"] == SENT
    (email,) = mailoutbox
    assert email.to == ["ana@acme.test"]  # the account's address, not as typed
    assert email.subject == "Choose a new password for the recommendation platform"
    assert "ana@acme.test" in email.body and _link(email).startswith("/password-reset/")


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, ana, mailoutbox):
    known = client.post(RESET, {"email": "ana@acme.test"}, follow=True)
    unknown = client.post(RESET, {"email": "nobody@acme.test"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [(SENT, 302)]
    assert _without_csrf_tokens(known.content.decode()) == _without_csrf_tokens(unknown.content.decode())
    assert "nobody@acme.test" not in unknown.content.decode()
    assert [email.to for email in mailoutbox] == [["ana@acme.test"]]


def test_the_link_sets_a_new_password_and_login_works_with_it(client, ana, mailoutbox):
    client.post(RESET, {"email": "ana@acme.test"})
    opened = client.get(_link(mailoutbox[0]), follow=True)
    assert 'id="new-password"' in opened.content.decode()
    form_url = opened.redirect_chain[-1][0]  # Django moves the token out of the address bar

    weak = client.post(form_url, {"new_password1": "123", "new_password2": "123"}).content.decode()
    assert "This password is too short" in weak
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert done.redirect_chain == [("/password-reset/complete/", 302)]
    assert 'id="password-reset-complete"' in done.content.decode()

    assert not _log_in(client, OLD_PASSWORD)
    assert _log_in(client, NEW_PASSWORD)


def test_a_used_link_is_refused(client, ana, mailoutbox):
    client.post(RESET, {"email": "ana@acme.test"})
    link = _link(mailoutbox[0])
    form_url = client.get(link)["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = client.get(link)
    assert again.status_code == 200 and 'id="password-reset-link-invalid"' in again.content.decode()
    assert 'id="new-password"' not in client.get(form_url).content.decode()
    client.post(form_url, {"new_password1": "other-" + NEW_PASSWORD, "new_password2": "other-" + NEW_PASSWORD})
    assert _log_in(client, NEW_PASSWORD)


def test_a_link_for_another_password_than_the_current_one_is_refused(client, ana, mailoutbox):
    client.post(RESET, {"email": "ana@acme.test"})
    ana.set_password("changed-meanwhile-2209")
    ana.save()
    assert 'id="password-reset-link-invalid"' in client.get(_link(mailoutbox[0])).content.decode()


def test_an_address_gets_a_handful_of_emails_an_hour_then_the_same_answer_and_no_more(client, ana, mailoutbox):
    from tenants.accounts import PASSWORD_RESET_EMAILS_PER_ADDRESS

    answers = [
        client.post(RESET, {"email": typed})
        for typed in ["ana@acme.test", "ANA@acme.test"] * PASSWORD_RESET_EMAILS_PER_ADDRESS
    ]
    assert {(answer.status_code, answer["Location"]) for answer in answers} == {(302, SENT)}
    assert len(mailoutbox) == PASSWORD_RESET_EMAILS_PER_ADDRESS  # counted together, whatever the case

    UserFactory(username="bob@acme.test")
    client.post(RESET, {"email": "bob@acme.test"})
    assert mailoutbox[-1].to == ["bob@acme.test"]  # each address has its own count

    cache.clear()  # as when the hour is over
    client.post(RESET, {"email": "ana@acme.test"})
    assert len(mailoutbox) == PASSWORD_RESET_EMAILS_PER_ADDRESS + 2


def test_the_reset_pages_and_the_email_are_in_english_by_default(client, ana, mailoutbox):
    page = client.get(RESET, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="en"' in page and "Forgot your password?" in page and "Send me the link" in page
    client.post(RESET, {"email": "ana@acme.test"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "Check your email" in client.get(SENT, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Open this link to choose a new password." in mailoutbox[0].body


def test_the_reset_pages_and_the_email_are_in_chinese_for_a_chinese_visitor(client, ana, mailoutbox):
    client.cookies["django_language"] = "zh-hans"
    form_page = client.get(RESET).content.decode()
    assert 'lang="zh-hans"' in form_page and "忘记密码？" in form_page and "给我发送链接" in form_page
    assert "Forgot your password?" not in form_page
    client.post(RESET, {"email": "ana@acme.test"})
    # Written in the language of the request that asked for it.
    assert mailoutbox[0].subject == "为推荐平台设置新密码"
    assert "打开此链接设置新密码" in mailoutbox[0].body and "Open this link" not in mailoutbox[0].body
    assert "请查收邮件" in client.get(SENT).content.decode()
    new_password = client.get(_link(mailoutbox[0]), follow=True).content.decode()
    assert 'lang="zh-hans"' in new_password and "新密码" in new_password  # Django's own label, in Chinese
    assert "密码已更改" in client.get("/password-reset/complete/").content.decode()


def test_the_browser_that_sets_the_new_password_gets_in_while_strangers_hold_the_address(client, ana, mailoutbox):
    """A reset makes every browser that logged in before a stranger again (their device cookies were
    made with the old password), an intruder's among them; the one that set the new password is
    the owner's, and is trusted from then on."""
    from django.test import Client

    from tenants.accounts import LOGIN_FAILURES_PER_NAME

    earlier = Client()
    assert _log_in(earlier, OLD_PASSWORD)
    assert earlier.cookies["login_device"].value

    client.post(RESET, {"email": "ana@acme.test"})
    form_url = client.get(_link(mailoutbox[0]), follow=True).redirect_chain[-1][0]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.cookies["login_device"]["httponly"] is True

    stranger = Client()
    for _ in range(LOGIN_FAILURES_PER_NAME):
        stranger.post(LOGIN, {"username": "ana@acme.test", "password": "not-it"})
    assert not _log_in(Client(), NEW_PASSWORD)
    assert not _log_in(earlier, NEW_PASSWORD)
    assert _log_in(client, NEW_PASSWORD)
