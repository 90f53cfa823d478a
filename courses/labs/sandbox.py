"""A learner's sandbox: a real tenant seeded from a sample of a store, where labs run.

One sandbox per learner per store, not one per store: labs change state (a
training job, a started experiment, a promoted model, a used API key), and
the checks read that state. In a sandbox shared by a store's learners, one
learner's finished lab would pass everyone else's, and one learner's
experiment would block the next one's (one runs at a time). A sandbox per
learner costs a few hundred products and a few thousand events.

The sandbox is a Tenant like any other, so every page, API and task works
on it unchanged, and tenant isolation keeps labs away from the live store.
The shopper keys of copied events are kept as they are: they are already
HMACs under the store's secret, and a sandbox never needs a raw shopper id
(the sandbox's own secret only pseudonymises events a learner sends it).
"""
from __future__ import annotations

import secrets

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from catalog.models import Event, Product
from tenants.models import Membership, Role, Tenant
from tenants.scope import TenantOwned, tenant_scope
from tenants.services import membership_add

# The sample copied from the store: enough to train on and to see recommendations
# that make sense, small enough that a sandbox per learner is cheap.
SANDBOX_PRODUCTS = 300
SANDBOX_SHOPPERS = 150
# The newest events of that sample at most: the copy runs while the learner waits for the page.
SANDBOX_EVENTS = 20_000
COPY_BATCH_SIZE = 1000

# The apps whose rows a reset deletes: what labs change. Memberships stay (the
# learner keeps owning the sandbox); other apps' rows (courses) are not lab state.
_RESET_APPS = frozenset({"catalog", "training", "experiments", "recommendations", "tenants"})
_SLUG_MAX_LENGTH = Tenant._meta.get_field("slug").max_length
_NAME_MAX_LENGTH = Tenant._meta.get_field("name").max_length


class SandboxError(Exception):
    """The sandbox cannot be made: a sandbox of a sandbox, say."""


def sandbox_get(*, tenant: Tenant, user) -> Tenant | None:
    """The user's sandbox of `tenant`, or None. Another store's sandbox is never returned:
    the lookup is by the store itself, so the caller's 404 follows."""
    return Tenant.objects.filter(sandbox_of=tenant, sandbox_owner=user).first()


@transaction.atomic
def sandbox_for(*, tenant: Tenant, user) -> Tenant:
    """The user's sandbox of `tenant`, created and seeded on first use.

    The user must be a member of `tenant`; `tenant` must be a real store.
    """
    existing = sandbox_get(tenant=tenant, user=user)
    if existing is not None:
        return existing
    if tenant.sandbox_of_id is not None:
        raise SandboxError(_("A sandbox cannot have a sandbox of its own."))
    with tenant_scope(tenant):
        if not Membership.objects.filter(user=user).exists():
            raise PermissionDenied(_("Only a member of the store can have a sandbox of it."))
    _store_share_lock(tenant)
    try:
        # A savepoint, so that losing a race to create it leaves this transaction usable.
        with transaction.atomic():
            sandbox = Tenant.objects.create(
                sandbox_of=tenant,
                sandbox_owner=user,
                slug=_sandbox_slug(tenant, user),
                name=_sandbox_name(tenant),
                base_model_path=tenant.base_model_path,
                recommend_purchased=tenant.recommend_purchased,
            )
    except IntegrityError:
        return Tenant.objects.get(sandbox_of=tenant, sandbox_owner=user)
    membership_add(tenant=sandbox, user=user, role=Role.OWNER)
    _seed(sandbox)
    return sandbox


@transaction.atomic
def sandbox_reset(*, sandbox: Tenant) -> Tenant:
    """Delete everything labs made in the sandbox and seed it again from its store."""
    if sandbox.sandbox_of_id is None:
        raise SandboxError(_("Only a sandbox can be reset; this is a live store."))
    # Lock the row: two resets at once would seed twice.
    Tenant.objects.select_for_update().filter(pk=sandbox.pk).first()
    _store_share_lock(sandbox.sandbox_of)
    _lab_state_delete(sandbox)
    _seed(sandbox)
    return sandbox


@transaction.atomic
def sandbox_delete(*, sandbox: Tenant) -> None:
    """Delete a sandbox and everything in it."""
    if sandbox.sandbox_of_id is None:
        raise SandboxError(_("Only a sandbox can be deleted here; this is a live store."))
    # What protects other rows (a variant its model version) goes first, as in a reset; the
    # tenant's cascade takes the rest.
    _lab_state_delete(sandbox)
    # In the sandbox's scope: the caller may be in its store's (a member removed there), whose
    # row-level security would hide the sandbox's rows from the delete's cascade.
    with tenant_scope(sandbox):
        sandbox.delete()


def _sandbox_name(tenant: Tenant) -> str:
    name = _("%(store)s (sandbox)") % {"store": tenant.name}
    overflow = len(name) - _NAME_MAX_LENGTH
    if overflow > 0:
        name = _("%(store)s (sandbox)") % {"store": tenant.name[: len(tenant.name) - overflow]}
    return name


def _sandbox_slug(tenant: Tenant, user) -> str:
    suffix = f"-sandbox-{user.pk}"
    slug = f"{tenant.slug[: _SLUG_MAX_LENGTH - len(suffix)]}{suffix}"
    if Tenant.objects.filter(slug=slug).exists():
        # A store truncated to the same prefix, or one whose slug happens to look like this.
        tail = f"-{secrets.token_hex(3)}"
        slug = f"{slug[: _SLUG_MAX_LENGTH - len(tail)]}{tail}"
    return slug


def _store_share_lock(store: Tenant) -> None:
    """Hold the store's row shared until the seed commits. A shopper's erasure in the store takes
    it for update (catalog.services.events.shopper_erase), so a seed never copies events an
    erasure is deleting: the erasure waits for the seed and then erases in the new sandbox too,
    or the seed waits and reads the store without them (each statement of a READ COMMITTED
    transaction sees what committed before it). Shared, so learners' seeds do not wait on each
    other; taken before the sandbox's rows are touched, so it cannot deadlock with an erasure
    deleting them. Django has no FOR SHARE. SQLite needs none: its transactions begin IMMEDIATE
    (settings), one writer at a time."""
    if connection.vendor != "postgresql":
        return
    table, key = (connection.ops.quote_name(name) for name in (Tenant._meta.db_table, Tenant._meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {key} = %s FOR SHARE", [store.pk])


def _lab_state_delete(sandbox: Tenant) -> None:
    owned = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and model._meta.app_label in _RESET_APPS and model is not Membership
    ]
    # A model whose rows PROTECT others' (a variant its model version) is deleted first.
    owned.sort(key=lambda model: not _protects_others(model))
    with tenant_scope(sandbox):
        for model in owned:
            model.objects.filter(tenant=sandbox).delete()


def _protects_others(model) -> bool:
    return any(
        getattr(field.remote_field, "on_delete", None) is models.PROTECT
        for field in model._meta.get_fields()
        if field.is_relation and field.many_to_one
    )


def _seed(sandbox: Tenant) -> None:
    """Copy a sample of the store into the sandbox: the products shoppers did most with
    and the events, on those products, of the shoppers who did most with them.

    The caller holds the store's row shared (`_store_share_lock`), in the transaction it commits."""
    store = sandbox.sandbox_of
    with tenant_scope(store):
        product_ids = _sample_product_ids()
        products = list(Product.objects.filter(pk__in=product_ids))
        shopper_keys = list(
            Event.objects.filter(product_id__in=product_ids)
            .values("shopper_key")
            .annotate(interactions=Count("id"))
            .order_by("-interactions", "shopper_key")
            .values_list("shopper_key", flat=True)[:SANDBOX_SHOPPERS]
        )
    copies = _products_copy(sandbox, products)
    with tenant_scope(store):
        # Read whole (at most SANDBOX_EVENTS) before writing: a cursor still open on the store
        # while the sandbox's scope writes would read on under the sandbox's row-level security.
        events = list(
            Event.objects.filter(product_id__in=product_ids, shopper_key__in=shopper_keys)
            .order_by("-occurred_at", "-pk")[:SANDBOX_EVENTS]
        )
    for start in range(0, len(events), COPY_BATCH_SIZE):
        _events_write(sandbox, [
            _event_copy(sandbox, event, copies[event.product_id]) for event in events[start:start + COPY_BATCH_SIZE]
        ])


def _sample_product_ids() -> list[int]:
    """Up to SANDBOX_PRODUCTS of the store's products, most interacted-with first, so the
    copied events land on them; topped up with others when few have events. In a store scope."""
    busiest = list(
        Event.objects.filter(product__isnull=False)
        .values("product_id")
        .annotate(interactions=Count("id"))
        .order_by("-interactions", "product_id")
        .values_list("product_id", flat=True)[:SANDBOX_PRODUCTS]
    )
    missing = SANDBOX_PRODUCTS - len(busiest)
    if missing > 0:
        busiest += list(
            Product.objects.exclude(pk__in=busiest).order_by("pk").values_list("pk", flat=True)[:missing]
        )
    return busiest


def _products_copy(sandbox: Tenant, products: list[Product]) -> dict[int, Product]:
    """Store the copies in the sandbox; returns the copy of each store product id."""
    copied_fields = ("external_id", "title", "description", "category", "brand", "price", "currency",
                     "in_stock", "attributes")
    copies = {
        product.pk: Product(tenant=sandbox, **{name: getattr(product, name) for name in copied_fields})
        for product in products
    }
    with tenant_scope(sandbox):
        Product.objects.bulk_create(copies.values(), batch_size=COPY_BATCH_SIZE)
        by_sku = {product.external_id: product for product in Product.objects.all()}
    # bulk_create does not give ids back on every database: the SKU, unique per tenant, does.
    return {store_id: by_sku[copy.external_id] for store_id, copy in copies.items()}


def _event_copy(sandbox: Tenant, event: Event, product: Product) -> Event:
    return Event(
        tenant=sandbox,
        event_id=event.event_id,
        shopper_key=event.shopper_key,
        type=event.type,
        product=product,
        product_external_id=product.external_id,
        occurred_at=event.occurred_at,
        quantity=event.quantity,
        value=event.value,
        # The store's served lists are not copied: an id here would point at nothing.
        recommendation_id="",
    )


def _events_write(sandbox: Tenant, batch: list[Event]) -> None:
    if batch:
        with tenant_scope(sandbox):
            Event.objects.bulk_create(batch)
