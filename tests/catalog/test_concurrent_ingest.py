"""Storefronts retry: the same batch can arrive twice at the same moment. On
PostgreSQL, with real concurrent transactions, each event is still stored once."""
import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Event
from tenants.models import ApiKeyKind
from tenants.services import api_key_issue
from tests.factories import ProductFactory


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_is_stored_once(tenant):
    key = api_key_issue(tenant=tenant, kind=ApiKeyKind.SECRET, name="server").key
    ProductFactory(tenant=tenant, external_id="SKU-1")
    batch = {
        "events": [
            {"event_id": str(uuid.uuid4()), "shopper_id": f"s{i % 17}", "type": "view", "product": "SKU-1",
             "timestamp": "2026-01-05T10:00:00Z"}
            for i in range(500)
        ]
    }
    barrier = threading.Barrier(4)
    statuses = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        barrier.wait()
        statuses.append(client.post("/api/v1/events", batch, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 4
    assert Event.all_tenants.filter(tenant=tenant).count() == 500


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_stores_sending_the_same_event_ids_at_once_each_keep_their_own(tenant, other_tenant):
    event_ids = [str(uuid.uuid4()) for _ in range(200)]
    keys = []
    for store in (tenant, other_tenant):
        keys.append(api_key_issue(tenant=store, kind=ApiKeyKind.SECRET, name="server").key)
        ProductFactory(tenant=store, external_id="SKU-1")
    batch = {
        "events": [
            {"event_id": event_id, "shopper_id": "s1", "type": "view", "product": "SKU-1",
             "timestamp": "2026-01-05T10:00:00Z"}
            for event_id in event_ids
        ]
    }
    barrier = threading.Barrier(len(keys))
    statuses = []

    def send(key):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        barrier.wait()
        statuses.append(client.post("/api/v1/events", batch, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=send, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200, 200]
    for store in (tenant, other_tenant):
        stored = Event.all_tenants.filter(tenant=store)
        assert stored.count() == 200
        assert set(stored.values_list("product__tenant", flat=True)) == {store.pk}
