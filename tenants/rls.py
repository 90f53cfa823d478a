"""PostgreSQL row-level security: the second wall of tenancy (DESIGN.md).

The first wall is the scoped manager, which filters every query of a tenant-owned table by the
current tenant. It does not see SQL that leaves it: `Model.all_tenants` called inside a scope, a
related object read through Django's base manager, `raw()` or a cursor. The second wall is in
the database: while a tenant scope is set, the session carries the tenant's id in `app.tenant_id`
and a policy on every tenant-owned table shows and accepts that tenant's rows only.

Outside a scope the setting is empty and the policy lets every row through: that is the code that
works across tenants on purpose (the ops console, the reaper, API key lookup, migrations), which
the first wall already makes name itself.

Superusers are never subject to row-level security, and the table owner only with FORCE. So the
scope also switches the session to TENANT_DATABASE_ROLE, a role with no login and no more rights
than reading and writing rows, and back when it ends; installations whose application user may
not create roles set TENANT_DATABASE_ROLE="" and connect as a user that is not a superuser, to
whom the forced policy applies.

Both are session settings: a transaction rolled back puts back the value it began with, which is
the scope that was current then, as scopes and transactions nest.
"""
from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

TENANT_SETTING = "app.tenant_id"
POLICY_NAME = "tenant_wall"
# `NULLIF(...)::bigint` rather than `...::bigint`: PostgreSQL may evaluate both sides of the OR,
# and '' does not cast.
_TENANT_IN_SCOPE = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')"
POLICY_CONDITION = f"({_TENANT_IN_SCOPE} IS NULL OR tenant_id = {_TENANT_IN_SCOPE}::bigint)"

# Whether this process's database user may switch to the tenant role, per database alias; the
# answer is read once per process (and again after a migration, which may have created the role).
_role_usable: dict[str, bool] = {}


def tenant_owned_tables() -> list[str]:
    from tenants.scope import TenantOwned

    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and not model._meta.proxy and model._meta.managed
    )


def install(*, using: str = "default") -> None:
    """Create the tenant role and the policies; idempotent, run after every `migrate`."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    role = settings.TENANT_DATABASE_ROLE
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if role:
            _create_role(cursor, role)
        for table in tenant_owned_tables():
            cursor.execute(f"ALTER TABLE {quote(table)} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {quote(table)} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {quote(table)}")
            cursor.execute(
                f"CREATE POLICY {POLICY_NAME} ON {quote(table)} "
                f"USING {POLICY_CONDITION} WITH CHECK {POLICY_CONDITION}"
            )
    _role_usable.clear()


def _create_role(cursor, role: str) -> None:
    quote = cursor.db.ops.quote_name
    role_literal = role.replace("'", "''")
    try:
        cursor.execute(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role_literal}') THEN "
            f"CREATE ROLE {quote(role)} NOLOGIN; END IF; "
            "EXCEPTION WHEN duplicate_object THEN NULL; "  # created meanwhile by another migrate
            "END $$"
        )
        cursor.execute(f"GRANT {quote(role)} TO CURRENT_USER")
    except DatabaseError as error:
        # Creating roles takes CREATEROLE. Failing here rather than running without the wall:
        # the operator chooses, and the forced policies still wall a user that is not a superuser.
        raise ImproperlyConfigured(
            f"Row-level security: cannot create the database role {role!r} ({error}). Give the "
            "database user CREATEROLE, or set TENANT_DATABASE_ROLE=\"\" and connect as a user "
            "that is not a superuser."
        ) from error
    cursor.execute("SELECT current_schema()")
    schema = quote(cursor.fetchone()[0])
    cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {quote(role)}")
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quote(role)}")
    cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {quote(role)}")


def _usable_role(connection) -> str:
    """TENANT_DATABASE_ROLE if this connection's user may switch to it, else ""."""
    role = settings.TENANT_DATABASE_ROLE
    if not role:
        return ""
    if connection.alias not in _role_usable:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) "
                "AND pg_has_role(session_user, %s, 'MEMBER')",
                [role, role],
            )
            _role_usable[connection.alias] = bool(cursor.fetchone()[0])
    return role if _role_usable[connection.alias] else ""


def apply(tenant_id: int | None, *, using: str = "default") -> None:
    """Put the database session of this thread in step with the tenant scope.

    A connection not opened yet gets it when it opens (`on_connection_created`). A transaction
    that already failed takes no command: its rollback puts back the setting it began with.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    from psycopg.pq import TransactionStatus

    if connection.connection.info.transaction_status == TransactionStatus.INERROR:
        return
    try:
        _apply(connection, tenant_id)
    except DatabaseError:
        if tenant_id is not None:
            raise  # a scope that cannot be walled does not start
        # Ending a scope on a connection that broke: Django closes such a connection, and a new
        # one starts outside any scope. The error that broke it is the one to see.
        logger.warning("row-level security: could not end the scope on a failed connection", exc_info=True)


def _apply(connection, tenant_id: int | None) -> None:
    role = _usable_role(connection)
    with connection.cursor() as cursor:
        # set_config('role', ...) is SET ROLE as a function: one round trip for both.
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config('role', %s, false)",
            [TENANT_SETTING, "" if tenant_id is None else str(tenant_id),
             role if role and tenant_id is not None else "none"],
        )


def on_connection_created(sender, connection, **kwargs) -> None:
    """A connection opened inside a scope (the first query of a request, or one reopened after
    Django closed it) starts walled."""
    from tenants.scope import current_tenant_or_none

    tenant = current_tenant_or_none()
    if connection.vendor == "postgresql" and tenant is not None:
        _apply(connection, tenant.pk)


def on_post_migrate(sender, using="default", **kwargs) -> None:
    # post_migrate is sent once per app; the tables of every app exist by the last one.
    if sender.name == "tenants":
        install(using=using)
