"""The tenant scope: which tenant the current request or task works for.

The scope lives in a ContextVar, so it follows the code that set it (a
request, a Celery task, a thread) and nothing else. A tenant-scoped manager
reads it and *raises* when it is missing: a query that forgot its tenant fails
loudly instead of reading every tenant's rows.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Iterator

from django.db import models

from tenants import rls

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: ContextVar["Tenant | None"] = ContextVar("current_tenant", default=None)


class TenantScopeMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant scope set."""


def current_tenant() -> "Tenant":
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantScopeMissing(
            "No tenant scope is set. Wrap the code in tenant_scope(tenant), or use "
            "Model.all_tenants where reading every tenant is intended."
        )
    return tenant


def current_tenant_or_none() -> "Tenant | None":
    return _current_tenant.get()


@contextlib.contextmanager
def tenant_scope(tenant: "Tenant | int") -> Iterator["Tenant"]:
    """Run the body with `tenant` as the current tenant; restore the previous scope after.

    Accepts a Tenant or its id (Celery tasks pass ids).
    """
    from tenants.models import Tenant

    if not isinstance(tenant, Tenant):
        tenant = Tenant.objects.get(pk=tenant)
    token = set_current_tenant(tenant)
    try:
        yield tenant
    finally:
        reset_current_tenant(token)


@contextlib.contextmanager
def outside_tenant_scope() -> Iterator[None]:
    """Run the body with no tenant scope, inside a request or task that has one: for code that
    reads across tenants on purpose (a link that names another store's row). Scoped managers
    raise in it, as anywhere outside a scope, and `all_tenants` sees every tenant's rows again,
    which row-level security hides inside a scope. Named so that review can find it."""
    token = set_current_tenant(None)
    try:
        yield
    finally:
        reset_current_tenant(token)


def set_current_tenant(tenant: "Tenant | None"):
    """Set the scope for the rest of the current context; returns a token for reset.

    Only for code that resets it itself (the API base view, around each
    request); everything else uses `tenant_scope`. The database session follows
    (tenants/rls.py: row-level security, the second wall).
    """
    token = _current_tenant.set(tenant)
    try:
        rls.apply(None if tenant is None else tenant.pk)
    except BaseException:
        _current_tenant.reset(token)
        raise
    return token


def reset_current_tenant(token) -> None:
    _current_tenant.reset(token)
    tenant = _current_tenant.get()
    rls.apply(None if tenant is None else tenant.pk)


class TenantScopedManager(models.Manager):
    """Default manager of tenant-owned models: only the current tenant's rows."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(tenant=current_tenant())


class TenantOwned(models.Model):
    """Base of every tenant-owned table.

    `objects` sees the current tenant's rows and raises outside a scope;
    `all_tenants` is the named escape hatch for admin, ops and migrations.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        scoped = current_tenant_or_none()
        if self.tenant_id is None and scoped is not None:
            self.tenant = scoped
        elif scoped is not None and self.tenant_id != scoped.pk:
            raise TenantScopeMissing(
                f"{type(self).__name__} of tenant {self.tenant_id} saved inside the scope "
                f"of tenant {scoped.pk}."
            )
        super().save(*args, **kwargs)
