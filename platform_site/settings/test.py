"""Settings for the test suite: the defaults of base.py, made fast."""
import os

from .base import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "100000/minute", "serving": "100000/minute"}
# Tests write the served-lists log themselves (served_log.flush()), inside their transaction.
RECOMMENDATIONS_LOG_FLUSH_SECONDS = 3600.0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared in-memory database: tests that run a real Celery
    # worker in a thread write from two connections at once, which SQLite's
    # shared cache answers with "table is locked" instead of waiting.
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
    # One file per test run, so two runs on one machine do not share it; Django deletes it at the end.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
