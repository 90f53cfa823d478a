"""Guessing passwords on the login page: a login name is refused for a while after a handful of
failures, the same whether or not it has an account."""

import pytest
from django.core.cache import cache

from tenants import accounts
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


def _passwords_tried_with_every_attempt_in_flight(monkeypatch, request=None) -> list[str]:
    """Thrice the limit of wrong passwords for owner@acme.test, each attempt started while all the
    earlier ones are still checking theirs (none has failed yet); the passwords actually checked."""
    from django.contrib.auth import forms as auth_forms

    from tenants.accounts import ThrottledAuthenticationForm

    tried = []

    def slow_authenticate(request=None, **credentials):
        # A wrong password (None), found only once every attempt has started.
        tried.append(credentials["password"])

    monkeypatch.setattr(auth_forms, "authenticate", slow_authenticate)
    forms = [
        ThrottledAuthenticationForm(request, data={"username": "owner@acme.test", "password": f"guess-{number}"})
        for number in range(LOGIN_FAILURES_PER_NAME * 3)
    ]
    started = []
    real_clean = auth_forms.AuthenticationForm.clean

    def clean_after_every_start(self):
        started.append(self)
        if len(started) < len(forms):
            forms[len(started)].is_valid()
        return real_clean(self)

    monkeypatch.setattr(auth_forms.AuthenticationForm, "clean", clean_after_every_start)
    forms[0].is_valid()
    return tried


def test_attempts_sent_side_by_side_get_no_more_tries_than_the_limit(db, monkeypatch):
    """Requests that arrive while others are still checking their password: each is counted as it
    starts, so the limit holds however many are in flight."""
    UserFactory(username="owner@acme.test")

    assert len(_passwords_tried_with_every_attempt_in_flight(monkeypatch)) <= LOGIN_FAILURES_PER_NAME


# Device cookies (OWASP's): a browser that has logged in to an account keeps a signed cookie, and
# its attempts count on that cookie's own counter, so strangers' failures do not keep it out.

ADMIN_LOGIN = "/admin/login/"
DEVICE_COOKIE = "login_device"


def _log_in(client, page: str, username: str, password: str = PASSWORD) -> bool:
    client.post(page, {"username": username, "password": password})
    logged_in = "_auth_user_id" in client.session
    # The logout page, not client.logout(), which drops every cookie. The device cookie stays: it
    # is what lets the owner back in.
    client.post("/logout/")
    return logged_in


def _strangers_fail(page: str, username: str) -> None:
    from django.test import Client

    stranger = Client()
    for _ in range(LOGIN_FAILURES_PER_NAME):
        stranger.post(page, {"username": username, "password": "not-it"})
    # The address is now refused to any browser it has not logged in from.
    assert not _log_in(Client(), page, username)


def _payload(client) -> dict:
    from django.core import signing

    from tenants.accounts import DEVICE_COOKIE_SALT

    return signing.loads(client.cookies[DEVICE_COOKIE].value, salt=DEVICE_COOKIE_SALT)


@pytest.mark.parametrize("page", [LOGIN, ADMIN_LOGIN])
def test_strangers_failures_do_not_keep_the_owner_out_of_a_browser_it_logged_in_from(client, db, page):
    UserFactory(username="owner@acme.test", is_staff=True)
    assert _log_in(client, page, "owner@acme.test")
    _strangers_fail(page, "owner@acme.test")
    assert _log_in(client, page, "Owner@Acme.test")


def test_a_browser_trusted_on_one_login_page_is_trusted_on_the_other(client, db):
    UserFactory(username="staff@acme.test", is_staff=True)
    assert _log_in(client, LOGIN, "staff@acme.test")
    _strangers_fail(ADMIN_LOGIN, "staff@acme.test")
    assert _log_in(client, ADMIN_LOGIN, "staff@acme.test")
    _strangers_fail(LOGIN, "staff@acme.test")
    assert _log_in(client, LOGIN, "staff@acme.test")


@pytest.mark.parametrize("page", [LOGIN, ADMIN_LOGIN])
def test_a_login_leaves_a_long_lived_httponly_lax_cookie_naming_its_account(client, db, page, settings):
    owner = UserFactory(username="owner@acme.test", is_staff=True)
    client.post(page, {"username": "owner@acme.test", "password": PASSWORD})
    cookie = client.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == settings.LOGIN_DEVICE_COOKIE_AGE == 180 * 24 * 3600
    assert not cookie["secure"]  # as the session cookie, on a laptop
    payload = _payload(client)
    assert payload["u"] == owner.pk and len(payload["n"]) == 32


def test_the_device_cookie_is_secure_where_the_session_cookie_is(client, db, settings):
    settings.SESSION_COOKIE_SECURE = True  # production's SECURE_COOKIES
    UserFactory(username="owner@acme.test")
    client.post(LOGIN, {"username": "owner@acme.test", "password": PASSWORD})
    assert client.cookies[DEVICE_COOKIE]["secure"] is True


def test_each_login_renews_the_cookie_and_a_failure_or_logging_out_leaves_it(client, db):
    UserFactory(username="owner@acme.test")
    client.post(LOGIN, {"username": "owner@acme.test", "password": PASSWORD})
    first = _payload(client)["n"]
    assert DEVICE_COOKIE not in client.post("/logout/").cookies
    failed = client.post(LOGIN, {"username": "owner@acme.test", "password": "not-it"})
    assert DEVICE_COOKIE not in failed.cookies
    assert _payload(client)["n"] == first
    client.post(LOGIN, {"username": "owner@acme.test", "password": PASSWORD})
    assert _payload(client)["n"] != first


def _signed(payload: dict, *, key: str | None = None, salt: str | None = None, age: int = 0) -> str:
    import time

    from django.core import signing

    from tenants.accounts import DEVICE_COOKIE_SALT

    class Backdated(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - age)

    return Backdated(key=key, salt=salt or DEVICE_COOKIE_SALT).sign_object(payload)


def _tampered(genuine: str, settings) -> str:
    return genuine[:-2] + ("AA" if genuine[-2:] != "AA" else "BB")


def _other_key(genuine: str, settings) -> str:
    return _signed(_payload_of(genuine), key="not-our-secret-key")


def _other_salt(genuine: str, settings) -> str:
    return _signed(_payload_of(genuine), salt="another.purpose")


def _expired(genuine: str, settings) -> str:
    return _signed(_payload_of(genuine), age=settings.LOGIN_DEVICE_COOKIE_AGE + 60)


@pytest.mark.parametrize(
    "forge",
    [lambda genuine, settings: "not-a-signed-value", _tampered, _other_key, _other_salt, _expired],
    ids=["garbage", "tampered", "other-key", "other-salt", "expired"],
)
def test_a_forged_or_expired_cookie_counts_as_a_stranger(client, db, settings, forge):
    UserFactory(username="owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")
    genuine = client.cookies[DEVICE_COOKIE].value
    client.cookies[DEVICE_COOKIE] = forge(genuine, settings)
    _strangers_fail(LOGIN, "owner@acme.test")
    response = client.post(LOGIN, {"username": "owner@acme.test", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins with this address" in response.content.decode()


def _payload_of(value: str) -> dict:
    from django.core import signing

    from tenants.accounts import DEVICE_COOKIE_SALT

    return signing.loads(value, salt=DEVICE_COOKIE_SALT)


def test_a_cookie_re_signed_as_ours_is_trusted_so_the_forgeries_above_fail_for_their_flaw_alone(client, db):
    UserFactory(username="owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")
    client.cookies[DEVICE_COOKIE] = _signed(_payload_of(client.cookies[DEVICE_COOKIE].value), age=60)
    _strangers_fail(LOGIN, "owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")


@pytest.mark.parametrize("page", [LOGIN, ADMIN_LOGIN])
def test_another_accounts_cookie_counts_as_a_stranger(client, db, page):
    owner = UserFactory(username="owner@acme.test", is_staff=True)
    # Even with the very same stored password hash: the cookie names its account.
    analyst = UserFactory(username="analyst@acme.test", is_staff=True)
    type(analyst).objects.filter(pk=analyst.pk).update(password=owner.password)
    assert _log_in(client, page, "analyst@acme.test")
    _strangers_fail(page, "owner@acme.test")
    response = client.post(page, {"username": "owner@acme.test", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins with this address" in response.content.decode()


def test_a_cookie_for_an_address_with_no_account_gets_the_same_refusal(client, db):
    UserFactory(username="analyst@acme.test")
    assert _log_in(client, LOGIN, "analyst@acme.test")
    _fail(client, "nobody@acme.test", LOGIN_FAILURES_PER_NAME)
    page = client.post(LOGIN, {"username": "nobody@acme.test", "password": "not-it"}).content.decode()
    assert "Too many failed logins with this address: try again in 15 minutes." in page


@pytest.mark.parametrize("page", [LOGIN, ADMIN_LOGIN])
def test_a_trusted_browser_that_fails_as_often_is_refused_on_its_own_counter(client, db, page):
    from django.test import Client

    UserFactory(username="owner@acme.test", is_staff=True)
    assert _log_in(client, page, "owner@acme.test")
    for _ in range(LOGIN_FAILURES_PER_NAME):
        client.post(page, {"username": "owner@acme.test", "password": "not-it"})
    response = client.post(page, {"username": "owner@acme.test", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins with this address: try again in 15 minutes." in response.content.decode()
    # Its failures were its own: a browser without a cookie still gets the address's tries.
    assert _log_in(Client(), page, "owner@acme.test")


def test_a_trusted_browsers_right_password_takes_its_count_back(client, db):
    UserFactory(username="owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")
    for _ in range(3):
        _fail(client, "owner@acme.test", LOGIN_FAILURES_PER_NAME - 1)
        assert _log_in(client, LOGIN, "owner@acme.test")


def test_a_new_password_makes_the_browsers_that_logged_in_before_strangers(client, db):
    owner = UserFactory(username="owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")
    owner.set_password("plum-kettle-4417")
    owner.save()
    _strangers_fail(LOGIN, "owner@acme.test")
    assert not _log_in(client, LOGIN, "owner@acme.test", "plum-kettle-4417")


def test_trusted_attempts_sent_side_by_side_get_no_more_tries_than_the_limit(client, db, monkeypatch):
    """As for strangers' attempts: a trusted browser's are counted on its counter as they start."""
    from django.test import RequestFactory

    UserFactory(username="owner@acme.test")
    assert _log_in(client, LOGIN, "owner@acme.test")
    # The shared counter is at its limit: only the device's can let any attempt through.
    _strangers_fail(LOGIN, "owner@acme.test")
    request = RequestFactory().post(LOGIN)
    request.COOKIES[DEVICE_COOKIE] = client.cookies[DEVICE_COOKIE].value

    tried = _passwords_tried_with_every_attempt_in_flight(monkeypatch, request)

    assert 0 < len(tried) <= LOGIN_FAILURES_PER_NAME


# --- The counters themselves ------------------------------------------------------------------


@pytest.mark.needs_postgres
def test_on_postgres_a_dotless_i_spelling_of_the_address_counts_on_the_accounts_own_counter(client, db):
    # PostgreSQL matches "admın" (dotless ı) to the account admin@ (UPPER of both is ADMIN), where
    # casefolding keeps ı apart: keyed on what was typed, each i would bring ten more guesses.
    UserFactory(username="admin@acme.test")
    for _ in range(LOGIN_FAILURES_PER_NAME):
        client.post(LOGIN, {"username": "admin@acme.test", "password": "not-it"})

    page = client.post(LOGIN, {"username": "admın@acme.test", "password": PASSWORD}).content.decode()

    assert "Too many failed logins" in page
    assert "_auth_user_id" not in client.session


@pytest.fixture
def redis_cache():
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    default = caches["default"]
    if not isinstance(default, RedisCache):
        pytest.skip("needs the Redis cache: runs in the PostgreSQL pass (CACHE_URL=redis://...)")
    return default


def _expiring_between_check_and_increment(monkeypatch, redis_cache, key):
    """Django's Redis backend asks whether the key exists, then increments it: here the key's
    window runs out between the two, as it may under load."""
    client = redis_cache._cache.get_client(key, write=True)
    exists = type(client).exists

    def exists_then_expires(self, *names):
        found = exists(self, *names)
        self.delete(*names)
        return found

    monkeypatch.setattr(type(client), "exists", exists_then_expires)
    return client, redis_cache.make_and_validate_key(key)


@pytest.mark.parametrize("counted_by", ["a failure", "a right password"])
def test_a_counter_whose_window_ends_as_it_is_counted_still_ends(monkeypatch, redis_cache, counted_by, db):
    key = accounts._counter_key("login-failures", "owner@acme.test")
    accounts._count_login_attempt(key)
    client, stored = _expiring_between_check_and_increment(monkeypatch, redis_cache, key)

    if counted_by == "a failure":
        accounts._count_login_attempt(key)
    else:
        accounts._login_attempt_succeeded(key)
    monkeypatch.undo()

    # Made again by the increment: it has its window, or is gone; never a count without an end.
    assert client.ttl(stored) > 0 or client.get(stored) is None


def test_a_reset_counter_whose_window_ends_as_it_is_counted_still_ends(monkeypatch, redis_cache, db):
    key = accounts._counter_key("password-reset", "owner@acme.test")
    accounts.password_reset_allowed("owner@acme.test")
    client, stored = _expiring_between_check_and_increment(monkeypatch, redis_cache, key)

    accounts.password_reset_allowed("owner@acme.test")
    monkeypatch.undo()

    assert client.ttl(stored) > 0
