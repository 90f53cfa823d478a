"""PostgreSQL row-level security: the second wall of tenancy (DESIGN.md).

The first wall is the scoped manager, which filters every query of a tenant-owned table by the
current tenant. It does not see SQL that leaves it: `Model.all_tenants` called inside a scope, a
related object read through Django's base manager, `raw()` or a cursor. The second wall is in
the database: while a tenant scope is set, the session carries the tenant's id in `app.tenant_id`
and a policy on every tenant-owned table shows and accepts that tenant's rows only.

Courses are shared: a course with no tenant is the platform's, which every tenant reads and none
writes; a tenant's own course is its alone, and its modules, lessons, quizzes and labs follow it
(`tenant_path` on those models names the way to the course's tenant).

Outside a scope the setting is empty and the policy lets every row through: that is the code that
works across tenants on purpose (the ops console, the reaper, API key lookup, migrations), which
the first wall already makes name itself.

Superusers are never subject to row-level security, and the table owner only with FORCE. So the
scope also switches the session to the tenant role (`tenant_role_name`: one per database, with
no login and no more rights than reading and writing rows), and back when it ends. A database
user that is not a superuser needs no role: set TENANT_DATABASE_ROLE="" and the forced policies
hold it directly. A scope that no wall would hold (the role missing, and a superuser session)
raises instead of running unwalled.

This guards against mistakes in the code, not against SQL injected into it: a session setting can
be set back by whoever sends SQL.

Both are session settings: a transaction rolled back puts back the value it began with, which is
the scope that was current then, as scopes and transactions nest.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

TENANT_SETTING = "app.tenant_id"
POLICY_NAME = "tenant_wall"
SHARED_POLICY_NAME = "platform_rows"
# `NULLIF(...)::bigint` rather than `...::bigint`: PostgreSQL may evaluate both sides of the OR,
# and '' does not cast.
_TENANT_IN_SCOPE = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')"
_OUTSIDE_A_SCOPE = f"{_TENANT_IN_SCOPE} IS NULL"


def quote(name: str) -> str:
    """A PostgreSQL identifier, quoted (policies are built before any connection is at hand)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Policy:
    table: str
    name: str
    command: str  # ALL, or SELECT for a policy that only adds rows to read
    using: str
    check: str | None

    @property
    def mark(self) -> str:
        """Stored as the policy's comment: a migrate finds the policies in place and touches
        nothing (a policy dropped and made again would leave its table without one, denying every
        row, meanwhile)."""
        rule = f"{self.command}|{self.using}|{self.check}"
        return f"{self.name} {hashlib.sha256(rule.encode()).hexdigest()[:12]}"


def _tenant_condition(model, path: str, test: str) -> str:
    """`test` ("= <tenant>", "IS NULL") applied to the tenant column at the end of `path`, a
    Django lookup path from `model` ("tenant", "module__course__tenant"); each hop is a join on a
    primary key."""
    *hops, last = path.split("__")
    if not hops:
        return f"{quote(model._meta.get_field(last).column)} {test}"
    column = f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(hops[0]).column)}"
    tables, joins, current = [], [], model
    for depth, hop in enumerate(hops, start=1):
        field = current._meta.get_field(hop)
        current = field.related_model
        alias = f"hop{depth}"
        tables.append(f"{quote(current._meta.db_table)} {alias}")
        if depth > 1:
            joins.append(f"{alias}.{quote(current._meta.pk.column)} = hop{depth - 1}.{quote(field.column)}")
    tenant_column = f"hop{len(hops)}.{quote(current._meta.get_field(last).column)}"
    first_pk = f"hop1.{quote(model._meta.get_field(hops[0]).related_model._meta.pk.column)}"
    where = " AND ".join([f"{first_pk} = {column}", *joins, f"{tenant_column} {test}"])
    return f"EXISTS (SELECT 1 FROM {', '.join(tables)} WHERE {where})"


def policies() -> list[Policy]:
    """Every tenant-owned table: its tenant's rows only. Every table shared with the platform (a
    model with `tenant_path`, the courses: a NULL tenant is the platform's, read by every tenant):
    its tenant's rows to read and write, and the platform's to read."""
    from tenants.scope import TenantOwned

    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        path = "tenant" if issubclass(model, TenantOwned) else getattr(model, "tenant_path", None)
        if path is None:
            continue
        table = model._meta.db_table
        own = f"({_OUTSIDE_A_SCOPE} OR {_tenant_condition(model, path, f'= {_TENANT_IN_SCOPE}::bigint')})"
        found.append(Policy(table, POLICY_NAME, "ALL", own, own))
        if not issubclass(model, TenantOwned):
            found.append(Policy(table, SHARED_POLICY_NAME, "SELECT", _tenant_condition(model, path, "IS NULL"), None))
    return sorted(found, key=lambda policy: (policy.table, policy.name))


def walled_tables() -> list[str]:
    return sorted({policy.table for policy in policies()})


# The role scopes switch to, per database alias ("" when the session user is held directly). Only
# an answer that walls is kept: a role created later is found by the next scope.
_scope_role: dict[str, str] = {}


def tenant_role_name(connection) -> str:
    """TENANT_DATABASE_ROLE, or `<database>_tenant`: one per database, since roles are the
    cluster's and another database's users must not hold this one's rights."""
    configured = settings.TENANT_DATABASE_ROLE
    if configured is not None:
        return configured
    database = connection.settings_dict["NAME"]
    role = f"{database}_tenant"
    if len(role) > 63:  # PostgreSQL's limit; a hash keeps two long names from sharing a role
        role = f"{database[:46]}_{hashlib.sha256(database.encode()).hexdigest()[:8]}_tenant"
    return role


def install(*, using: str = "default") -> None:
    """The tenant role's rights and the policies, in one transaction; run after every `migrate`,
    and idempotent: what is in place already is left as it is."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    role = tenant_role_name(connection)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        # Waiting long on a busy table would hold every query queued behind the migrate.
        cursor.execute("SET LOCAL lock_timeout = '10s'")
        if role:
            _ensure_role(cursor, role)
            _grant_rows(cursor, role)
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        forced = dict(cursor.fetchall())
        cursor.execute(
            "SELECT c.relname, p.polname, obj_description(p.oid, 'pg_policy') FROM pg_policy p "
            "JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema()"
        )
        marks = {(table, name): mark for table, name, mark in cursor.fetchall()}
        for policy in policies():
            table = quote(policy.table)
            if not forced.get(policy.table):
                cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
                cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
                forced[policy.table] = True
            key = (policy.table, policy.name)
            if marks.get(key) == policy.mark:
                continue
            check = f" WITH CHECK ({policy.check})" if policy.check else ""
            if key in marks:
                cursor.execute(f"ALTER POLICY {policy.name} ON {table} USING ({policy.using}){check}")
            else:
                cursor.execute(
                    f"CREATE POLICY {policy.name} ON {table} FOR {policy.command} USING ({policy.using}){check}"
                )
            cursor.execute(f"COMMENT ON POLICY {policy.name} ON {table} IS %s", [policy.mark])
    _scope_role.clear()


def _ensure_role(cursor, role: str) -> None:
    """A superuser (development, CI) creates the role; anyone else must have been given it by a
    DBA, since creating roles takes rights no application should hold."""
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    superuser = cursor.fetchone()[0]
    cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
    found = cursor.fetchone()
    if found is None and superuser:
        cursor.execute(  # two migrates at once: the second finds it made
            f"DO $$ BEGIN CREATE ROLE {quote(role)} NOLOGIN NOINHERIT; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        return
    if found is None:
        raise ImproperlyConfigured(_role_missing(role, cursor))
    if found[0]:
        raise ImproperlyConfigured(
            f"Row-level security: the role {role!r} is a superuser or bypasses row-level security, so it "
            "would wall nothing. Give TENANT_DATABASE_ROLE a role of its own."
        )
    cursor.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [role])
    if not superuser and not cursor.fetchone()[0]:
        raise ImproperlyConfigured(_role_missing(role, cursor))


def _role_missing(role: str, cursor) -> str:
    cursor.execute("SELECT current_user")
    user = cursor.fetchone()[0]
    return (
        f"Row-level security: the database role {role!r} is missing, or {user!r} may not use it. "
        f"Have a DBA run: CREATE ROLE {quote(role)} NOLOGIN NOINHERIT; GRANT {quote(role)} TO {quote(user)}; "
        "then migrate again. Or, if this user is not a superuser, set TENANT_DATABASE_ROLE=\"\": "
        "the policies then hold this user directly."
    )


def _grant_rows(cursor, role: str) -> None:
    # One right at a time: has_table_privilege with a list is true when any one is held.
    missing = " OR ".join(
        f"NOT has_table_privilege(%(role)s, quote_ident(schemaname) || '.' || quote_ident(tablename), '{right}')"
        for right in ("SELECT", "INSERT", "UPDATE", "DELETE")
    )
    cursor.execute(
        f"SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() AND ({missing})",
        {"role": role},
    )
    tables = [row[0] for row in cursor.fetchall()]
    if tables:
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(tables)} TO {quote(role)}")
    cursor.execute(
        "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = current_schema() AND NOT "
        "has_sequence_privilege(%s, quote_ident(schemaname) || '.' || quote_ident(sequencename), 'USAGE')",
        [role],
    )
    sequences = [row[0] for row in cursor.fetchall()]
    if sequences:
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {', '.join(sequences)} TO {quote(role)}")
    cursor.execute("SELECT quote_ident(current_schema())")
    cursor.execute(f"GRANT USAGE ON SCHEMA {cursor.fetchone()[0]} TO {quote(role)}")


def _role_for_scopes(connection) -> str:
    """The role a scope switches to; "" when the session user is held by the policies itself.
    Raises ImproperlyConfigured when neither would hold: a scope never runs unwalled."""
    if connection.alias in _scope_role:
        return _scope_role[connection.alias]
    role = tenant_role_name(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user")
        session_unwalled = cursor.fetchone()[0]
        usable = False
        if role:
            cursor.execute(
                "SELECT NOT (rolsuper OR rolbypassrls) AND pg_has_role(session_user, oid, 'MEMBER') "
                "FROM pg_roles WHERE rolname = %s",
                [role],
            )
            found = cursor.fetchone()
            usable = bool(found and found[0])
    if not usable and session_unwalled:
        raise ImproperlyConfigured(
            f"Row-level security cannot hold this session: the database user bypasses it and the role "
            f"{role!r} cannot be used (run `manage.py migrate`, or see TENANT_DATABASE_ROLE in the README)."
        )
    if not _policies_in_place(connection):
        raise ImproperlyConfigured(
            "Row-level security is not in place on every tenant table: run `manage.py migrate`."
        )
    _scope_role[connection.alias] = role if usable else ""
    return _scope_role[connection.alias]


def _policies_in_place(connection) -> bool:
    expected = {(policy.table, policy.name) for policy in policies()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.polname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE n.nspname = current_schema() AND c.relrowsecurity AND c.relforcerowsecurity"
        )
        return expected <= set(cursor.fetchall())


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
        connection.rls_applied = None  # what the rollback puts back is not known here
        return
    try:
        _apply(connection, tenant_id)
    except DatabaseError:
        if tenant_id is not None:
            raise  # a scope that cannot be walled does not start
        # Ending a scope on a connection that broke: Django closes such a connection, and a new
        # one starts outside any scope. The error that broke it is the one to see.
        connection.rls_applied = None
        logger.warning("row-level security: could not end the scope on a failed connection", exc_info=True)


def _apply(connection, tenant_id: int | None) -> None:
    wanted = "" if tenant_id is None else str(tenant_id)
    # What the session holds is known outside a transaction only: a rollback puts back older values.
    if not connection.in_atomic_block and getattr(connection, "rls_applied", None) == wanted:
        return
    role = _role_for_scopes(connection) if tenant_id is not None else ""
    with connection.cursor() as cursor:
        # set_config('role', ...) is SET ROLE as a function: one round trip for both.
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config('role', %s, false)",
            [TENANT_SETTING, wanted, role or "none"],
        )
    connection.rls_applied = None if connection.in_atomic_block else wanted


def on_connection_created(sender, connection, **kwargs) -> None:
    """A new session holds no tenant; one opened inside a scope (the first query of a request, or
    a connection reopened after Django closed it) starts walled."""
    from tenants.scope import current_tenant_or_none

    if connection.vendor != "postgresql":
        return
    connection.rls_applied = ""
    tenant = current_tenant_or_none()
    if tenant is None:
        return
    try:
        _apply(connection, tenant.pk)
    except BaseException:
        # Django keeps a connection it opened even when this handler fails: closed here, the next
        # query opens another and tries the wall again, instead of running unwalled on this one.
        raw, connection.connection = connection.connection, None
        raw.close()
        raise


def on_post_migrate(sender, using="default", **kwargs) -> None:
    # post_migrate is sent once per app; the tables of every app exist by the last one.
    if sender.name == "tenants":
        install(using=using)
