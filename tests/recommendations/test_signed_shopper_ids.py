"""Signed shopper ids: a publishable key asks for a shopper, or sends their events, only with the
signature the merchant's server made, when the store requires it (GET /api/v1/recommendations and
/search, POST /api/v1/events; the API keys page)."""

import hashlib
import hmac

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiKeyKind, Tenant
from tenants.services import api_key_issue
from tests.recommendations.conftest import RECOMMENDATIONS, SEARCH, similar_url


def signature(key: str, shopper_id: str) -> str:
    """As the API keys page tells merchants to sign, independently of the server's code."""
    return hmac.new(key.encode(), shopper_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def signatures_required(live_version):
    tenant = Tenant.objects.get(pk=live_version.tenant_id)
    tenant.shopper_signatures_required = True
    tenant.save(update_fields=["shopper_signatures_required"])
    return tenant


def test_a_publishable_key_asking_for_a_shopper_needs_the_signature_when_the_store_requires_it(
    publishable_client, signatures_required
):
    unsigned = publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"})
    assert unsigned.status_code == 403
    assert unsigned.data["code"] == "shopper_signature_required"
    assert "shopper_signature" in unsigned.data["detail"]

    signed = publishable_client.get(
        RECOMMENDATIONS,
        {"shopper_id": "shopper-0", "shopper_signature": signature(signatures_required.shopper_signing_key, "shopper-0")},
    )
    assert signed.status_code == 200
    assert signed.data["model_version"] == 1 and signed.data["fallback"] is False


def test_search_for_a_shopper_needs_the_signature_too(publishable_client, signatures_required):
    query = {"q": "earl grey tea", "shopper_id": "shopper-1"}
    assert publishable_client.get(SEARCH, query).status_code == 403
    signed = {**query, "shopper_signature": signature(signatures_required.shopper_signing_key, "shopper-1")}
    assert publishable_client.get(SEARCH, signed).status_code == 200
    assert publishable_client.get(SEARCH, {"q": "earl grey tea"}).status_code == 200


def test_secret_keys_and_requests_for_no_shopper_need_no_signature(
    secret_client, publishable_client, signatures_required
):
    assert secret_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"}).status_code == 200
    anonymous = publishable_client.get(RECOMMENDATIONS, {"context_product": "coffee-3"})
    assert anonymous.status_code == 200 and len(anonymous.data["items"]) > 0


def test_a_wrong_signature_is_refused_even_where_none_is_required(publishable_client, live_version):
    for endpoint, query in ((RECOMMENDATIONS, {}), (SEARCH, {"q": "tea"})):
        response = publishable_client.get(
            endpoint, {**query, "shopper_id": "shopper-0", "shopper_signature": "0" * 64}
        )
        assert response.status_code == 403 and response.data["code"] == "shopper_signature_invalid"
    assert publishable_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"}).status_code == 200


def test_a_signature_that_is_not_64_hex_digits_is_a_400_naming_the_field(publishable_client, live_version):
    for malformed in ("é" * 64, "abc", "g" * 64):
        response = publishable_client.get(
            RECOMMENDATIONS, {"shopper_id": "shopper-0", "shopper_signature": malformed}
        )
        assert response.status_code == 400 and "shopper_signature" in response.data


def test_a_signature_sent_without_its_shopper_id_is_a_400_naming_the_field(publishable_client, live_version):
    for endpoint, query in ((RECOMMENDATIONS, {}), (SEARCH, {"q": "tea"})):
        response = publishable_client.get(endpoint, {**query, "shopper_signature": "0" * 64})
        assert response.status_code == 400
        assert response.data == {"shopper_signature": ["Send it with the shopper_id it signs."]}


def test_the_shopper_id_is_signed_exactly_as_sent(publishable_client, signatures_required):
    key = signatures_required.shopper_signing_key
    response = publishable_client.get(
        RECOMMENDATIONS, {"shopper_id": " shopper-0 ", "shopper_signature": signature(key, " shopper-0 ")}
    )
    assert response.status_code == 200


def test_a_member_trying_the_api_in_the_browser_needs_no_signature(session_client, signatures_required):
    assert session_client.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"}).status_code == 200


def test_a_store_whose_key_is_empty_accepts_no_signature(publishable_client, signatures_required):
    Tenant.objects.filter(pk=signatures_required.pk).update(shopper_signing_key="")
    response = publishable_client.get(
        RECOMMENDATIONS, {"shopper_id": "shopper-0", "shopper_signature": signature("", "shopper-0")}
    )
    assert response.status_code == 403


def test_a_signature_of_another_shopper_or_made_with_another_stores_key_opens_nothing(
    publishable_client, signatures_required, other_tenant
):
    ours, theirs = signatures_required.shopper_signing_key, other_tenant.shopper_signing_key
    assert ours != theirs

    def status(shopper_id, signed):
        return publishable_client.get(RECOMMENDATIONS, {"shopper_id": shopper_id, "shopper_signature": signed}).status_code

    assert status("shopper-1", signature(ours, "shopper-0")) == 403
    assert status("shopper-0", signature(theirs, "shopper-0")) == 403
    assert status("shopper-0", signature(ours, "shopper-0")) == 200


def test_another_tenants_key_finds_none_of_our_products(other_tenant, signatures_required):
    theirs = APIClient()
    theirs.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_issue(tenant=other_tenant, kind=ApiKeyKind.SECRET, name='s').key}"
    )
    assert theirs.get(similar_url("coffee-3")).status_code == 404
    answer = theirs.get(RECOMMENDATIONS, {"shopper_id": "shopper-0"})
    assert answer.status_code == 200
    assert not {item["external_id"] for item in answer.data["items"]} & {"coffee-3", "tea-2"}


def test_an_owner_requires_signatures_and_sees_the_key_on_the_api_keys_page(owner_client, tenant):
    page = owner_client.get("/settings/api-keys/").content.decode()
    assert tenant.shopper_signing_key in page

    response = owner_client.post("/settings/shopper-signatures/", {"required": "on"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.shopper_signatures_required is True

    owner_client.post("/settings/shopper-signatures/", {})
    tenant.refresh_from_db()
    assert tenant.shopper_signatures_required is False


def test_replacing_the_signing_key_refuses_signatures_made_with_the_old_one(
    owner_client, publishable_client, signatures_required
):
    old_key = signatures_required.shopper_signing_key
    assert owner_client.post("/settings/shopper-signatures/rotate/").status_code == 302
    signatures_required.refresh_from_db()
    new_key = signatures_required.shopper_signing_key
    assert new_key != old_key

    def status(key):
        query = {"shopper_id": "shopper-0", "shopper_signature": signature(key, "shopper-0")}
        return publishable_client.get(RECOMMENDATIONS, query).status_code

    assert (status(old_key), status(new_key)) == (403, 200)


def test_analysts_can_neither_see_nor_change_the_signing_key(analyst_client, tenant):
    assert analyst_client.get("/settings/api-keys/").status_code == 403
    assert analyst_client.post("/settings/shopper-signatures/", {"required": "on"}).status_code == 403
    assert analyst_client.post("/settings/shopper-signatures/rotate/").status_code == 403
    tenant.refresh_from_db()
    assert tenant.shopper_signatures_required is False


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_store_its_own_signing_key():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("tenants", "0005_tenant_required_certificate_course_slug")]
    after = [("tenants", "0006_tenant_shopper_signatures")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldTenant = executor.loader.project_state(before).apps.get_model("tenants", "Tenant")
    for slug in ("first-store", "second-store"):
        OldTenant.objects.create(slug=slug, name=slug)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        keys = list(Tenant.objects.filter(slug__in=["first-store", "second-store"]).values_list(
            "shopper_signing_key", flat=True
        ))
        assert len(set(keys)) == 2 and all(len(key) == 64 for key in keys)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


EVENTS = "/api/v1/events"


def view_of(shopper_id: str, event_id: str, **extra) -> dict:
    return {
        "event_id": event_id, "shopper_id": shopper_id, "type": "view", "product": "coffee-3",
        "timestamp": "2025-01-31T09:30:00Z", **extra,
    }


def test_a_publishable_keys_events_need_their_shoppers_signature_where_the_store_requires_it(
    publishable_client, signatures_required
):
    from catalog.models import IngestTally

    key = signatures_required.shopper_signing_key
    batch = [
        view_of("shopper-0", "signed", shopper_signature=signature(key, "shopper-0")),
        view_of("shopper-0", "unsigned"),
        view_of("shopper-1", "signed-for-another", shopper_signature=signature(key, "shopper-0")),
        view_of("shopper-1", "not-hex", shopper_signature="zz"),
    ]
    response = publishable_client.post(EVENTS, {"events": batch}, format="json")
    assert response.status_code == 200
    assert (response.data["accepted"], response.data["rejected"]) == (1, 3)
    assert [(error["index"], error["field"]) for error in response.data["errors"]] == [
        (1, "shopper_signature"), (2, "shopper_signature"), (3, "shopper_signature")
    ]
    assert IngestTally.all_tenants.get(tenant=signatures_required, rule="unsigned_shopper").count == 2


def test_secret_keys_send_events_without_signatures(secret_client, signatures_required):
    response = secret_client.post(EVENTS, {"events": [view_of("shopper-0", "from-the-server")]}, format="json")
    assert response.data["accepted"] == 1


def test_a_wrong_signature_on_an_event_is_refused_even_where_none_is_required(publishable_client, live_version):
    batch = [view_of("shopper-0", "forged", shopper_signature="0" * 64), view_of("shopper-0", "plain")]
    response = publishable_client.post(EVENTS, {"events": batch}, format="json")
    assert (response.data["accepted"], response.data["rejected"]) == (1, 1)
    assert response.data["errors"][0]["field"] == "shopper_signature"
