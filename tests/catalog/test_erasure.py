"""DELETE /api/v1/shoppers/{shopper_id}: a privacy request erases every event of one shopper, in the
store and in the course sandboxes that copied it."""
import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Event, FlaggedShopper
from catalog.services.events import event_ingest_batch, shopper_erase
from courses.labs.sandbox import sandbox_for
from tenants.models import Role
from tenants.scope import tenant_scope
from tests.factories import ProductFactory

JANE = "jane@example.com"
JOHN = "john@example.com"


def _events(shopper_id: str, count: int, prefix: str) -> list[dict]:
    when = timezone.now() - dt.timedelta(hours=3)
    return [
        {
            "event_id": f"{prefix}-{n}", "shopper_id": shopper_id, "type": "view", "product": "APL-1",
            "timestamp": (when + dt.timedelta(minutes=n)).isoformat(),
        }
        for n in range(count)
    ]


def _ingest(tenant, events) -> None:
    with tenant_scope(tenant):
        assert event_ingest_batch(tenant=tenant, events=events).rejected == 0


@pytest.fixture
def history(tenant):
    """Jane has 5 events and a bot flag, John 3."""
    ProductFactory(tenant=tenant, external_id="APL-1")
    _ingest(tenant, _events(JANE, 5, "jane") + _events(JOHN, 3, "john"))
    with tenant_scope(tenant):
        FlaggedShopper.objects.create(
            tenant=tenant, shopper_key=tenant.pseudonymise_shopper(JANE), rule="event_rate",
            events_per_day=5, event_count=5,
        )
    return tenant


def _shopper_event_count(tenant, shopper_id: str) -> int:
    with tenant_scope(tenant):
        return Event.objects.filter(shopper_key=tenant.pseudonymise_shopper(shopper_id)).count()


def test_after_erasure_no_event_of_the_shopper_remains(secret_client, history):
    response = secret_client.delete(f"/api/v1/shoppers/{JANE}")

    assert response.status_code == 200
    assert response.json() == {"deleted_events": 5, "deleted_sandbox_events": 0}
    assert _shopper_event_count(history, JANE) == 0
    assert _shopper_event_count(history, JOHN) == 3
    with tenant_scope(history):
        assert not FlaggedShopper.objects.exists()


def test_erasing_a_shopper_with_no_events_deletes_nothing_and_says_so(secret_client, history):
    response = secret_client.delete("/api/v1/shoppers/nobody@example.com")

    assert response.status_code == 200
    assert response.json() == {"deleted_events": 0, "deleted_sandbox_events": 0}
    with tenant_scope(history):
        assert Event.objects.count() == 8


def test_a_shopper_id_with_a_slash_is_erased(secret_client, tenant):
    ProductFactory(tenant=tenant, external_id="APL-1")
    _ingest(tenant, _events("store/42", 2, "slash"))

    assert secret_client.delete("/api/v1/shoppers/store/42").json() == {
        "deleted_events": 2, "deleted_sandbox_events": 0,
    }


def test_a_shopper_whose_id_ends_in_profile_is_erased_by_the_erasure_rules_and_no_one_else(
    secret_client, publishable_client, api_client, member_with_role, tenant
):
    # shoppers/jane/profile is also the URL of jane's profile (recommendations.apis.profiles).
    ProductFactory(tenant=tenant, external_id="APL-1")
    _ingest(tenant, _events("jane/profile", 2, "ends-in-profile") + _events("jane", 3, "jane"))
    api_client.force_login(member_with_role(Role.ANALYST))
    assert publishable_client.delete("/api/v1/shoppers/jane/profile").status_code == 403
    assert api_client.delete("/api/v1/shoppers/jane/profile").status_code == 403
    assert _shopper_event_count(tenant, "jane/profile") == 2

    response = secret_client.delete("/api/v1/shoppers/jane/profile")

    assert response.status_code == 200
    assert response.json() == {"deleted_events": 2, "deleted_sandbox_events": 0}
    assert _shopper_event_count(tenant, "jane/profile") == 0
    assert _shopper_event_count(tenant, "jane") == 3


def test_a_publishable_key_cannot_erase_a_shopper(publishable_client, history):
    assert publishable_client.delete(f"/api/v1/shoppers/{JANE}").status_code == 403
    assert _shopper_event_count(history, JANE) == 5


def test_another_tenants_key_erases_nothing_of_this_tenant(other_tenant_client, other_tenant, history):
    ProductFactory(tenant=other_tenant, external_id="APL-1")
    _ingest(other_tenant, _events(JANE, 2, "globex"))

    response = other_tenant_client.delete(f"/api/v1/shoppers/{JANE}")

    assert response.json() == {"deleted_events": 2, "deleted_sandbox_events": 0}
    assert _shopper_event_count(history, JANE) == 5
    assert _shopper_event_count(other_tenant, JANE) == 0
    with tenant_scope(history):
        assert FlaggedShopper.objects.count() == 1


def test_an_owner_may_erase_from_the_web_session_but_an_analyst_may_not(
    session_client, api_client, member_with_role, history
):
    api_client.force_login(member_with_role(Role.ANALYST))
    assert api_client.delete(f"/api/v1/shoppers/{JANE}").status_code == 403
    assert _shopper_event_count(history, JANE) == 5

    assert session_client.delete(f"/api/v1/shoppers/{JANE}").json() == {
        "deleted_events": 5, "deleted_sandbox_events": 0,
    }
    assert _shopper_event_count(history, JANE) == 0


def test_no_key_cannot_erase_a_shopper(api_client, history):
    assert api_client.delete(f"/api/v1/shoppers/{JANE}").status_code == 401
    assert _shopper_event_count(history, JANE) == 5


# The same from the web UI, for a merchant with no developer at hand.

ERASE_PAGE = "/catalog/events/erase-shopper/"


def test_an_owner_erases_a_shopper_from_the_events_page_after_seeing_how_many_events_go(owner_client, history):
    assert ERASE_PAGE in owner_client.get("/catalog/events/").content.decode()
    assert owner_client.get(ERASE_PAGE).status_code == 200

    confirm = owner_client.get(ERASE_PAGE, {"shopper_id": JANE}).content.decode()
    assert "Their 5 events are deleted for good" in confirm
    assert f'name="shopper_id" value="{JANE}"' in confirm
    assert _shopper_event_count(history, JANE) == 5  # nothing yet

    page = owner_client.post(ERASE_PAGE, {"shopper_id": JANE}, follow=True).content.decode()
    assert "The shopper is erased: 5 events deleted." in page
    assert _shopper_event_count(history, JANE) == 0 and _shopper_event_count(history, JOHN) == 3


def test_an_id_with_no_events_is_said_to_have_none_before_anything_is_erased(owner_client, history):
    confirm = owner_client.get(ERASE_PAGE, {"shopper_id": "JANE@example.com"}).content.decode()
    assert "No event is stored under this id" in confirm


def test_an_analyst_cannot_erase_from_the_page(analyst_client, history):
    assert analyst_client.get(ERASE_PAGE, {"shopper_id": JANE}).status_code == 403
    assert analyst_client.post(ERASE_PAGE, {"shopper_id": JANE}).status_code == 403
    assert _shopper_event_count(history, JANE) == 5


def test_erasure_deletes_the_recommendation_lists_served_to_the_shopper_too(secret_client, history):
    from recommendations.models import ServedRecommendation

    with tenant_scope(history):
        for number, shopper in enumerate((JANE, JOHN)):
            ServedRecommendation.objects.create(
                tenant=history, recommendation_id=f"r{number}", endpoint="recommendations",
                shopper_key=history.pseudonymise_shopper(shopper), served_at=timezone.now(),
            )
    secret_client.delete(f"/api/v1/shoppers/{JANE}")
    with tenant_scope(history):
        assert list(ServedRecommendation.objects.values_list("recommendation_id", flat=True)) == ["r1"]


def test_erasing_from_the_page_touches_no_other_stores_shopper_of_the_same_id(owner_client, history, other_tenant):
    ProductFactory(tenant=other_tenant, external_id="APL-1")
    _ingest(other_tenant, _events(JANE, 2, "globex"))
    confirm = owner_client.get(ERASE_PAGE, {"shopper_id": JANE}).content.decode()
    assert "Their 5 events are deleted for good" in confirm  # this store's five, not the other's two
    owner_client.post(ERASE_PAGE, {"shopper_id": JANE})
    assert _shopper_event_count(history, JANE) == 0
    assert _shopper_event_count(other_tenant, JANE) == 2


# A learner's sandbox copies the store's events with the store's pseudonyms (courses.labs.sandbox).


def _served_list_create(tenant, shopper_key: str, recommendation_id: str) -> None:
    from recommendations.models import ServedRecommendation

    with tenant_scope(tenant):
        ServedRecommendation.objects.create(
            tenant=tenant, recommendation_id=recommendation_id, endpoint="recommendations",
            shopper_key=shopper_key, served_at=timezone.now(),
        )


def _served_list_ids(tenant) -> list[str]:
    from recommendations.models import ServedRecommendation

    with tenant_scope(tenant):
        return sorted(ServedRecommendation.objects.values_list("recommendation_id", flat=True))


def _sandbox_events_of(sandbox, store, shopper_id: str) -> int:
    with tenant_scope(sandbox):
        return Event.objects.filter(shopper_key=store.pseudonymise_shopper(shopper_id)).count()


@pytest.fixture
def sandbox(history, merchant_user):
    """The owner's sandbox of the store: a copy of Jane's 5 events and John's 3, Jane's bot flag and
    a list served to each of them there."""
    sandbox = sandbox_for(tenant=history, user=merchant_user)
    with tenant_scope(sandbox):
        FlaggedShopper.objects.create(
            tenant=sandbox, shopper_key=history.pseudonymise_shopper(JANE), rule="event_rate",
            events_per_day=5, event_count=5,
        )
    _served_list_create(sandbox, history.pseudonymise_shopper(JANE), "sandbox-jane")
    _served_list_create(sandbox, history.pseudonymise_shopper(JOHN), "sandbox-john")
    assert _sandbox_events_of(sandbox, history, JANE) == 5
    return sandbox


def test_erasure_deletes_the_shoppers_copies_in_every_sandbox_of_the_store(
    secret_client, history, sandbox, member_with_role
):
    second = sandbox_for(tenant=history, user=member_with_role(Role.LEARNER))

    response = secret_client.delete(f"/api/v1/shoppers/{JANE}")

    assert response.json() == {"deleted_events": 5, "deleted_sandbox_events": 10}
    for each in (sandbox, second):
        assert _sandbox_events_of(each, history, JANE) == 0
        assert _sandbox_events_of(each, history, JOHN) == 3
    with tenant_scope(sandbox):
        assert not FlaggedShopper.objects.exists()
    assert _served_list_ids(sandbox) == ["sandbox-john"]


def test_another_stores_sandbox_holding_the_same_shopper_key_is_untouched(
    secret_client, history, sandbox, other_tenant, other_merchant_user
):
    # Keys are HMACs under each store's own secret: the same value in two stores is made here by hand.
    jane_here = history.pseudonymise_shopper(JANE)
    foreign = ProductFactory(tenant=other_tenant, external_id="APL-1")
    with tenant_scope(other_tenant):
        Event.objects.bulk_create([
            Event(
                tenant=other_tenant, event_id=f"globex-{n}", shopper_key=jane_here, type="view",
                product=foreign, product_external_id="APL-1", occurred_at=timezone.now() - dt.timedelta(hours=n),
            )
            for n in range(1, 3)
        ])
    other_sandbox = sandbox_for(tenant=other_tenant, user=other_merchant_user)
    _served_list_create(other_sandbox, jane_here, "globex-sandbox-jane")

    assert secret_client.delete(f"/api/v1/shoppers/{JANE}").json() == {
        "deleted_events": 5, "deleted_sandbox_events": 5,
    }
    with tenant_scope(other_tenant):
        assert Event.objects.filter(shopper_key=jane_here).count() == 2
    with tenant_scope(other_sandbox):
        assert Event.objects.filter(shopper_key=jane_here).count() == 2
    assert _served_list_ids(other_sandbox) == ["globex-sandbox-jane"]


def test_a_sandbox_made_after_an_erasure_copies_none_of_the_erased_events(secret_client, history, merchant_user):
    secret_client.delete(f"/api/v1/shoppers/{JANE}")

    sandbox = sandbox_for(tenant=history, user=merchant_user)

    assert _sandbox_events_of(sandbox, history, JANE) == 0
    assert _sandbox_events_of(sandbox, history, JOHN) == 3


def test_erasing_in_a_sandbox_touches_neither_its_store_nor_a_sibling_sandbox(history, sandbox, member_with_role):
    # A learner's sandbox pseudonymises with its own secret: erasing there finds what was sent
    # to the sandbox itself, never the store's copies.
    second = sandbox_for(tenant=history, user=member_with_role(Role.LEARNER))
    with tenant_scope(sandbox):
        erased = shopper_erase(tenant=sandbox, shopper_id=JANE)

    assert (erased.events, erased.sandbox_events) == (0, 0)
    assert _shopper_event_count(history, JANE) == 5
    assert _sandbox_events_of(second, history, JANE) == 5


def test_the_events_page_says_the_sandbox_copies_go_too_before_and_after(owner_client, history, sandbox):
    confirm = owner_client.get(ERASE_PAGE, {"shopper_id": JANE}).content.decode()
    assert "Their 5 events are deleted for good" in confirm
    assert "Their 5 copied events in the store&#x27;s course sandboxes are deleted too." in confirm

    page = owner_client.post(ERASE_PAGE, {"shopper_id": JANE}, follow=True).content.decode()

    assert "The shopper is erased: 5 events deleted." in page
    assert "5 copies of their events in the store&#x27;s course sandboxes were deleted too." in page
    assert _sandbox_events_of(sandbox, history, JANE) == 0


def test_the_events_page_says_nothing_of_sandboxes_when_none_holds_the_shopper(owner_client, history):
    confirm = owner_client.get(ERASE_PAGE, {"shopper_id": JANE}).content.decode()
    page = owner_client.post(ERASE_PAGE, {"shopper_id": JANE}, follow=True).content.decode()

    assert "sandboxes" not in confirm and "sandboxes" not in page


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_sandbox_seeded_while_an_erasure_commits_copies_none_of_the_erased_events(history, merchant_user):
    # The erasure lists the store's sandboxes before this one is committed; without the store's row
    # lock the seed would read the store before the erasure commits, and keep Jane's events.
    erased, seeding, finished = threading.Event(), threading.Event(), []

    def erase():
        try:
            with transaction.atomic(), tenant_scope(history):
                shopper_erase(tenant=history, shopper_id=JANE)
                erased.set()
                seeding.wait(timeout=10)
                time.sleep(0.5)  # the seed, started, reads the store now if nothing holds it back
        finally:
            erased.set()
            connection.close()

    def seed():
        try:
            erased.wait(timeout=10)
            seeding.set()
            finished.append(sandbox_for(tenant=history, user=merchant_user))
        finally:
            connection.close()

    threads = [threading.Thread(target=erase), threading.Thread(target=seed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    [sandbox] = finished
    assert _sandbox_events_of(sandbox, history, JANE) == 0
    assert _sandbox_events_of(sandbox, history, JOHN) == 3
