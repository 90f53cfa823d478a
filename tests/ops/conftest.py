"""Staff of the platform, and jobs of two tenants for the ops console to show."""
import pytest
from django.core.cache import cache

from tests.factories import UserFactory
from tests.training.factories import next_job_number
from training.models import TrainingJob


@pytest.fixture
def staff_user(db):
    """Platform staff: is_staff, and a member of no tenant."""
    return UserFactory(username="ops@platform.test", is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_job():
    def make(tenant, **fields) -> TrainingJob:
        fields.setdefault("config", {"method": "lora", "epochs": 2})
        fields.setdefault("number", next_job_number(tenant))
        return TrainingJob.all_tenants.create(tenant=tenant, **fields)

    return make


@pytest.fixture
def empty_cache():
    """The API traffic counters live in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()
