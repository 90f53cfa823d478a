import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(
    module: str, *, prints: str = "settings.DEBUG", unset: str = "SECRET_KEY", **extra_env
) -> subprocess.CompletedProcess:
    """Start Django in a fresh process with `module`, `unset` taken out of the environment and
    `extra_env` added, and print `prints`."""
    env = {k: v for k, v in os.environ.items() if k != unset}
    env.update(DJANGO_SETTINGS_MODULE=module, **extra_env)
    code = f"import django; django.setup(); from django.conf import settings; print({prints})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _load_settings("platform_site.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_settings_start_with_a_secret_key_and_debug_off():
    result = _load_settings("platform_site.settings.production", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_laptop_settings_need_no_environment_at_all():
    result = _load_settings("platform_site.settings.local")
    assert result.returncode == 0, result.stderr


def test_a_fresh_clone_without_a_var_folder_opens_its_sqlite_database(tmp_path):
    """`make run` on a fresh clone migrates before anything else made var/ (git ignores it)."""
    var = tmp_path / "var"
    result = _load_settings(
        "platform_site.settings.local", unset="DATABASE_URL", PLATFORM_VAR_DIR=str(var),
        prints="__import__('django.db').db.connection.ensure_connection()",
    )
    assert result.returncode == 0, result.stderr
    assert (var / "db.sqlite3").exists()


def test_an_empty_tenant_database_role_means_no_role_not_the_default():
    result = _load_settings(
        "platform_site.settings.local", TENANT_DATABASE_ROLE="", prints="repr(settings.TENANT_DATABASE_ROLE)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"


def _production(prints: str, **extra_env) -> subprocess.CompletedProcess:
    env = {"SECRET_KEY": "x" * 50, **extra_env}
    return _load_settings("platform_site.settings.production", prints=prints, unset="SECURE_COOKIES", **env)


def test_production_tells_browsers_to_use_https_only_for_a_year():
    """Without HSTS, the first plain-HTTP request of a visit (a typed address, an old link) can be
    taken over on the network before any redirect, session cookie and all."""
    result = _production("settings.SECURE_HSTS_SECONDS")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 365 * 24 * 3600


def test_production_redirects_plain_http_to_https_but_not_the_probes_and_the_scrape():
    get = "__import__('django.test', fromlist=['Client']).Client().get"
    result = _production(f"settings.SECURE_SSL_REDIRECT, {get}('/healthz').status_code, {get}('/api/v1/search').status_code")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "200", "301"]


def test_production_without_secure_cookies_sends_no_hsts_and_does_not_redirect():
    """SECURE_COOKIES=false is the switch for an install served over plain HTTP: it must not lock
    browsers out of it for a year."""
    result = _production("settings.SECURE_HSTS_SECONDS, settings.SECURE_SSL_REDIRECT", SECURE_COOKIES="false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False"]
