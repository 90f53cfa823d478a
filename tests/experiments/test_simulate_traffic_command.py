"""simulate_traffic refuses what it cannot simulate, by name, before it sends anything or issues a key."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from experiments.services import experiment_create
from recommendations.models import ServedRecommendation
from tenants.models import ApiKey
from tenants.scope import tenant_scope


@pytest.fixture
def draft(tenant):
    with tenant_scope(tenant):
        return experiment_create(
            tenant=tenant, key="home-list", name="Home list", primary_metric="click_through_rate",
            variants=[
                {"name": "control", "kind": "live", "weight": 1, "is_control": True},
                {"name": "trending", "kind": "popularity", "weight": 1},
            ],
        )


def simulate(tenant_slug: str, key: str = "home-list", *extra: str) -> None:
    call_command(
        "simulate_traffic", "--tenant", tenant_slug, "--experiment", key,
        "--shoppers", "10", "--true-lift", "0.2", *extra,
    )


@pytest.mark.parametrize(
    "slug, key, extra, message",
    [
        ("no-such-store", "home-list", (), "No tenant with the slug no-such-store."),
        ("acme", "no-such-key", (), "No experiment with the key no-such-key."),
        ("acme", "home-list", (), "home-list is not running: start it first."),
        ("acme", "home-list", ("--shoppers", "0"), "Simulate at least one shopper."),
        ("acme", "home-list", ("--base-click-rate", "0.9"), "must lie between 0 and 1"),
    ],
)
def test_a_run_it_cannot_do_is_refused_by_name_and_leaves_nothing_behind(
    tenant, draft, slug, key, extra, message
):
    with pytest.raises(CommandError, match=message):
        simulate(slug, key, *extra)
    assert not ApiKey.all_tenants.filter(tenant=tenant).exists()
    assert not ServedRecommendation.all_tenants.filter(tenant=tenant).exists()


def test_another_tenants_experiment_cannot_be_simulated(tenant, other_tenant, draft):
    with pytest.raises(CommandError, match="No experiment with the key home-list."):
        simulate(other_tenant.slug)
