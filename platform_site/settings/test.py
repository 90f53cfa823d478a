"""Settings for the test suite: the defaults of base.py, made fast."""
import os
import tempfile

from .base import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "100000/minute", "serving": "100000/minute", "events": "100000/minute"}
# Tests write the served-lists log themselves (served_log.flush()), inside their transaction.
RECOMMENDATIONS_LOG_FLUSH_SECONDS = 3600.0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests build their tiny encoders in pytest's temporary folders.
TRAINING_BASE_MODEL_DIRS = [*TRAINING_BASE_MODEL_DIRS, Path(tempfile.gettempdir())]  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared in-memory database: tests that run a real Celery
    # worker in a thread write from two connections at once, which SQLite's
    # shared cache answers with "table is locked" instead of waiting.
    # One file per test run, so two runs on one machine do not share it; Django deletes it at the end.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405

if CELERY_BROKER_TRANSPORT_OPTIONS:  # noqa: F405 (the filesystem broker)
    # One broker folder per test run, like the database: a run's real worker must never take
    # another run's task (its job ids belong to another database), nor `make run`'s worker a test's.
    # tests/conftest.py removes it at the end.
    TEST_CELERY_DIR = VAR_DIR / "celery" / f"test-{os.getpid()}"  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "data_folder_in": str(TEST_CELERY_DIR / "broker"),
        "data_folder_out": str(TEST_CELERY_DIR / "broker"),
        "processed_folder": str(TEST_CELERY_DIR / "processed"),
        "control_folder": str(TEST_CELERY_DIR / "control"),
    }
