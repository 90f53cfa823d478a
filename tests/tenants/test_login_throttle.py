"""Guessing passwords on the login page: a login name is refused for a while after a handful of
failures, the same whether or not it has an account."""

import pytest
from django.core.cache import cache

from tenants.accounts import LOGIN_FAILURES_PER_NAME
from tests.factories import UserFactory

LOGIN = "/login/"
PASSWORD = "correct-horse-battery"  # the factories' password


@pytest.fixture(autouse=True)
def no_counters_from_earlier_tests():
    cache.clear()
    yield
    cache.clear()


def _fail(client, username: str, times: int) -> None:
    for _ in range(times):
        response = client.post(LOGIN, {"username": username, "password": "not-it"})
        assert response.status_code == 200


def test_after_too_many_wrong_passwords_even_the_right_one_is_refused_for_a_while(client, db):
    UserFactory(username="owner@acme.test")
    _fail(client, "owner@acme.test", LOGIN_FAILURES_PER_NAME)
    response = client.post(LOGIN, {"username": "Owner@Acme.test", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Too many failed logins with this address: try again in 15 minutes." in response.content.decode()


def test_a_few_wrong_passwords_do_not_keep_the_owner_out(client, db):
    UserFactory(username="owner@acme.test")
    _fail(client, "owner@acme.test", LOGIN_FAILURES_PER_NAME - 1)
    response = client.post(LOGIN, {"username": "owner@acme.test", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_the_refusal_reads_the_same_for_an_address_with_no_account(client, db):
    _fail(client, "nobody@acme.test", LOGIN_FAILURES_PER_NAME)
    page = client.post(LOGIN, {"username": "nobody@acme.test", "password": "not-it"}).content.decode()
    assert "Too many failed logins with this address" in page


def test_failures_for_one_address_do_not_hold_back_another(client, db):
    UserFactory(username="analyst@acme.test")
    _fail(client, "owner@acme.test", LOGIN_FAILURES_PER_NAME)
    response = client.post(LOGIN, {"username": "analyst@acme.test", "password": PASSWORD})
    assert response.status_code == 302


def test_a_wrong_password_does_not_say_the_address_is_case_sensitive(client, db):
    UserFactory(username="owner@acme.test")
    page = client.post(LOGIN, {"username": "owner@acme.test", "password": "not-it"}).content.decode()
    assert "The email address or the password is wrong. Passwords are case-sensitive." in page
    assert "both fields may be case-sensitive" not in page


def test_an_empty_field_is_named_beside_it(client, db):
    page = client.post(LOGIN, {"username": "owner@acme.test", "password": ""}).content.decode()
    assert '<span class="field-error" id="id_password_error">This field is required.</span></p>' in page


def test_the_admin_login_is_refused_after_as_many_failures_as_the_login_page(client, db):
    UserFactory(username="staff@acme.test", is_staff=True, is_superuser=True)
    for _ in range(LOGIN_FAILURES_PER_NAME):
        client.post("/admin/login/", {"username": "staff@acme.test", "password": "not-it"})
    response = client.post("/admin/login/", {"username": "staff@acme.test", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins with this address" in response.content.decode()


def test_failures_on_the_admin_login_count_on_the_login_page_too(client, db):
    UserFactory(username="staff@acme.test", is_staff=True)
    for _ in range(LOGIN_FAILURES_PER_NAME):
        client.post("/admin/login/", {"username": "staff@acme.test", "password": "not-it"})
    response = client.post(LOGIN, {"username": "staff@acme.test", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_attempts_sent_side_by_side_get_no_more_tries_than_the_limit(db, monkeypatch):
    """Requests that arrive while others are still checking their password: each is counted as it
    starts, so the limit holds however many are in flight."""
    from django.contrib.auth import forms as auth_forms

    from tenants.accounts import ThrottledAuthenticationForm

    UserFactory(username="owner@acme.test")
    tried = []

    def slow_authenticate(request=None, **credentials):
        # A wrong password (None), found only once every attempt has started.
        tried.append(credentials["password"])

    monkeypatch.setattr(auth_forms, "authenticate", slow_authenticate)
    forms = [
        ThrottledAuthenticationForm(data={"username": "owner@acme.test", "password": f"guess-{number}"})
        for number in range(LOGIN_FAILURES_PER_NAME * 3)
    ]
    # All in flight together: none has failed yet when the next one is checked.
    started = []
    real_clean = auth_forms.AuthenticationForm.clean

    def clean_after_every_start(self):
        started.append(self)
        if len(started) < len(forms):
            forms[len(started)].is_valid()
        return real_clean(self)

    monkeypatch.setattr(auth_forms.AuthenticationForm, "clean", clean_after_every_start)
    forms[0].is_valid()
    assert len(tried) <= LOGIN_FAILURES_PER_NAME
