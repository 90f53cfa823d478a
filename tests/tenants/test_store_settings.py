"""The store's settings page: its time zone, which the store's days and shown times follow."""
import datetime as dt

from django.utils import timezone
from django.utils.formats import date_format

from catalog.services.events import event_ingest_batch
from tenants.models import Role, Tenant
from tenants.scope import tenant_scope
from tests.factories import ProductFactory

PAGE = "/settings/store/"


def _event_at(tenant, when: dt.datetime) -> None:
    ProductFactory(tenant=tenant, external_id="APL-1")
    with tenant_scope(tenant):
        event_ingest_batch(tenant=tenant, events=[{
            "event_id": "e1", "shopper_id": "s1", "type": "view", "product": "APL-1", "timestamp": when.isoformat(),
        }])


def test_a_store_in_shanghai_counts_an_evening_event_in_utc_on_its_next_day(owner_client, tenant):
    # 20:00 UTC yesterday is 04:00 today in Shanghai: the events page's day follows the store, not the server.
    yesterday = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)
    _event_at(tenant, dt.datetime.combine(yesterday, dt.time(20), tzinfo=dt.UTC))

    response = owner_client.post(PAGE, {"time_zone": "Asia/Shanghai"}, follow=True)
    assert "Your store&#x27;s days now follow Asia/Shanghai." in response.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "Asia/Shanghai"

    html = owner_client.get("/catalog/events/").content.decode()
    shanghai_day = date_format(yesterday + dt.timedelta(days=1), "SHORT_DATE_FORMAT")
    assert f"<tr><td>{shanghai_day}</td><td>1</td>" in html


def test_a_zone_that_does_not_exist_is_refused_by_field_and_changes_nothing(owner_client, tenant):
    response = owner_client.post(PAGE, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert 'id="id_time_zone"' in response.content.decode() and "valid choice" in response.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "UTC"


def test_an_analyst_reads_the_time_zone_but_cannot_change_it(client, member_with_role, tenant):
    client.force_login(member_with_role(Role.ANALYST))
    assert "UTC" in client.get(PAGE).content.decode()
    assert client.post(PAGE, {"time_zone": "Asia/Shanghai"}).status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "UTC"


def test_one_stores_time_zone_is_its_own(owner_client, tenant, other_tenant):
    owner_client.post(PAGE, {"time_zone": "Asia/Shanghai"})
    assert Tenant.objects.get(pk=other_tenant.pk).time_zone == "UTC"


def test_the_time_zone_does_not_stay_active_after_the_request(owner_client, tenant):
    owner_client.post(PAGE, {"time_zone": "Asia/Shanghai"})
    owner_client.get(PAGE)
    assert timezone.get_current_timezone_name() == "UTC"
