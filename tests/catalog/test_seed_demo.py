"""The demo tenant, seeded from the real Complete Journey data with a few households."""
import datetime as dt
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.demo import DEMO_NAME, DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD, purchase_lines, sample_households
from catalog.models import Event, EventType, Product
from tenants.models import ApiKey, Membership, Role, Tenant

pytestmark = pytest.mark.django_db

HOUSEHOLDS = 3


def seed_demo(*args: str) -> str:
    stdout = StringIO()
    call_command("seed_demo", *args, stdout=stdout)
    return stdout.getvalue()


def row_counts() -> tuple[int, int, int]:
    return Product.all_tenants.count(), Event.all_tenants.count(), ApiKey.all_tenants.count()


@pytest.fixture
def seeded_demo() -> tuple[Tenant, str]:
    output = seed_demo("--households", str(HOUSEHOLDS))
    return Tenant.objects.get(slug="demo"), output


def test_demo_has_products_and_purchase_events_linked_to_them(seeded_demo):
    demo, _output = seeded_demo

    products = Product.all_tenants.filter(tenant=demo)
    events = Event.all_tenants.filter(tenant=demo)
    assert demo.name == DEMO_NAME
    assert products.exists() and events.exists()
    assert not events.exclude(type=EventType.PURCHASE).exists()
    assert not events.filter(product__isnull=True).exists()
    assert not events.filter(quantity__lt=1).exists()
    assert set(events.values_list("product_external_id", flat=True)) == set(
        products.values_list("external_id", flat=True)
    )
    sample_product = products.first()
    assert " > " in sample_product.category
    assert "manufacturer_id" in sample_product.attributes
    assert sample_product.brand in {"National", "Private"}


def test_events_are_the_sampled_households_cleaned_purchase_lines(seeded_demo):
    demo, _output = seeded_demo
    lines, _skipped = purchase_lines(sample_households(HOUSEHOLDS))

    events = Event.all_tenants.filter(tenant=demo)
    assert events.count() == len(lines)
    assert events.values("shopper_key").distinct().count() == HOUSEHOLDS
    assert all(event.occurred_at.utcoffset().total_seconds() == 0 for event in events[:20])


def test_raw_household_ids_are_never_stored(seeded_demo):
    demo, _output = seeded_demo

    stored_shoppers = set(Event.all_tenants.filter(tenant=demo).values_list("shopper_key", flat=True))
    households = [str(household) for household in sample_households(HOUSEHOLDS)]
    assert stored_shoppers == {demo.pseudonymise_shopper(household) for household in households}
    assert not stored_shoppers & set(households)


def test_sample_is_the_same_every_time():
    assert sample_households(HOUSEHOLDS) == sample_households(HOUSEHOLDS)
    assert set(sample_households(HOUSEHOLDS)) <= set(sample_households(HOUSEHOLDS + 5))


def test_if_missing_does_nothing_the_second_time(seeded_demo):
    demo, _output = seeded_demo
    counts_before = row_counts()

    output = seed_demo("--households", str(HOUSEHOLDS), "--if-missing")

    assert "already exists" in output
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert row_counts() == counts_before


def test_seeding_an_existing_demo_without_if_missing_is_refused(seeded_demo):
    with pytest.raises(CommandError, match="already exists"):
        seed_demo("--households", str(HOUSEHOLDS))


def test_owner_can_log_in_with_the_printed_password(seeded_demo, client):
    demo, output = seeded_demo

    assert f"{DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD}" in output
    membership = Membership.all_tenants.get(tenant=demo)
    assert membership.role == Role.OWNER and membership.user.email == DEMO_OWNER_EMAIL
    assert client.login(username=DEMO_OWNER_EMAIL, password=DEMO_OWNER_PASSWORD)


def test_demo_keys_are_issued_once_and_printed(seeded_demo):
    demo, output = seeded_demo

    assert ApiKey.all_tenants.filter(tenant=demo).count() == 2
    assert "sk_" in output and "pk_" in output


def test_print_login_creates_nothing():
    output = seed_demo("--print-login")

    assert f"Merchant login:    {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD}" in output
    assert not Tenant.objects.exists()


def test_the_demo_year_is_moved_to_end_in_the_week_before_seeding_with_weekdays_kept(seeded_demo):
    demo, _output = seeded_demo
    lines, _skipped = purchase_lines(sample_households(HOUSEHOLDS))
    events = Event.all_tenants.filter(tenant=demo)
    latest = max(events.values_list("occurred_at", flat=True))
    now = timezone.now()
    assert now - timedelta(weeks=1) < latest <= now  # the dashboard's 30 days show a living store
    original_latest = lines["transaction_timestamp"].max().to_pydatetime().replace(tzinfo=dt.UTC)
    shift = latest - original_latest
    assert shift.total_seconds() % timedelta(weeks=1).total_seconds() == 0
    assert min(events.values_list("occurred_at", flat=True)) - shift == (
        lines["transaction_timestamp"].min().to_pydatetime().replace(tzinfo=dt.UTC)
    )
