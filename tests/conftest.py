"""Fixtures shared by the whole suite: two tenants, their people and their keys.

Tests that need a real PostgreSQL or Redis are marked; on a machine without
them they skip with the reason, and in CI (CI=true) they fail instead.
"""
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import translation
from rest_framework.test import APIClient

from tenants.models import ApiKeyKind, Role
from tenants.scope import tenant_scope
from tenants.services import api_key_issue
from tests.factories import MembershipFactory, TenantFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    parsed = urlparse(REDIS_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def pytest_sessionfinish(session, exitstatus):
    """Remove what this run left under var/: its Celery broker folder, and the SQLite test
    database's -wal and -shm files (Django deletes the database file only)."""
    from django.conf import settings

    celery_dir = getattr(settings, "TEST_CELERY_DIR", None)
    if celery_dir is not None:
        shutil.rmtree(celery_dir, ignore_errors=True)
    for leftover in Path(settings.VAR_DIR).glob(f"test-db-{os.getpid()}.sqlite3*"):
        leftover.unlink(missing_ok=True)


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_redis") and not _redis_reachable():
        message = f"Redis is not reachable at {REDIS_URL}"
        if IN_CI:
            pytest.fail(f"{message}; CI must run this test")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _every_test_starts_in_the_default_language():
    """A request in Chinese leaves Chinese active in the thread (LocaleMiddleware activates a
    language and nothing deactivates it), which would leak into the next test's messages."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _every_test_starts_with_an_empty_cache():
    """The cache holds counters that outlive a test: failed logins per address, reset emails,
    throttles, API traffic. On Redis (the PostgreSQL pass) they outlive the run too, so without
    this, a test's failed logins could lock a later test's user, even one of the next run's."""
    cache.clear()


@pytest.fixture(autouse=True)
def _skip_postgres_only_tests_on_sqlite(request):
    if request.node.get_closest_marker("needs_postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Acme Grocer", slug="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Globex Market", slug="globex")


@pytest.fixture
def merchant_user(tenant):
    user = UserFactory(username="owner@acme.test")
    MembershipFactory(tenant=tenant, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def other_merchant_user(other_tenant):
    user = UserFactory(username="owner@globex.test")
    MembershipFactory(tenant=other_tenant, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def member_with_role(tenant):
    """Make a user of the tenant with a given role: `member_with_role(Role.ANALYST)`."""

    def make(role: str):
        user = UserFactory(username=f"{role}@acme.test")
        MembershipFactory(tenant=tenant, user=user, role=role)
        return user

    return make


@pytest.fixture
def owner_client(client, merchant_user):
    """The merchant's owner, logged in to the web UI (Django's test client)."""
    client.force_login(merchant_user)
    return client


@pytest.fixture
def learner_user(tenant):
    """A learner of the tenant: takes courses, and reads none of the store's data."""
    user = UserFactory(username="mei@acme.test", first_name="Mei", last_name="Lin")
    MembershipFactory(tenant=tenant, user=user, role=Role.LEARNER)
    return user


@pytest.fixture
def learner_client(client, learner_user):
    """The learner, logged in to the web UI."""
    client.force_login(learner_user)
    return client


@pytest.fixture
def analyst_client(client, member_with_role):
    """An analyst of the tenant, logged in to the web UI."""
    client.force_login(member_with_role(Role.ANALYST))
    return client


@pytest.fixture
def secret_key(tenant) -> str:
    return api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server").key


@pytest.fixture
def publishable_key(tenant) -> str:
    return api_key_issue(tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="browser").key


@pytest.fixture
def other_tenant_secret_key(other_tenant) -> str:
    return api_key_issue(tenant=other_tenant, kind=ApiKeyKind.SECRET, name="other server").key


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def secret_client(secret_key) -> APIClient:
    """A storefront server: the tenant's secret key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    return client


@pytest.fixture
def publishable_client(publishable_key) -> APIClient:
    """A storefront browser: the tenant's publishable key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


@pytest.fixture
def other_tenant_client(other_tenant_secret_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_tenant_secret_key}")
    return client


@pytest.fixture
def session_client(merchant_user) -> APIClient:
    """The merchant's owner, logged in to the web UI."""
    client = APIClient()
    client.force_login(merchant_user)
    return client


@pytest.fixture
def in_tenant(tenant):
    """Run the test body inside the tenant's scope."""
    with tenant_scope(tenant):
        yield tenant
