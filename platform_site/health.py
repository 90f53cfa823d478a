"""Liveness and readiness probes for load balancers and orchestrators."""
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from platform_site.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 2


@require_GET
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready"; say which
        return f"{type(error).__name__}: {error}"
    return None


def _broker_ready() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@require_GET
def readyz(request):
    """The database and the Celery broker answer: 200, else 503 naming what failed."""
    checks = {"database": _database_ready(), "broker": _broker_ready()}
    body = {name: ("ok" if problem is None else problem) for name, problem in checks.items()}
    ready = all(problem is None for problem in checks.values())
    body["status"] = "ok" if ready else "unavailable"
    return JsonResponse(body, status=200 if ready else 503)
