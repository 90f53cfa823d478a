"""Running Celery tasks inside a tenant scope."""
from celery import Task

from tenants.scope import tenant_scope


class TenantTask(Task):
    """Base for tasks on one tenant's data: call with `tenant_id=`.

    The body runs inside that tenant's scope, and the scope is reset when the
    task ends, so nothing carries over to the next task the worker runs.
    """

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} is a tenant task: call it with tenant_id=")
        with tenant_scope(tenant_id):
            return super().__call__(*args, **kwargs)
