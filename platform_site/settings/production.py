"""Production: base.py made stricter. Refuses to start without a secret key."""
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import env

# No default: a forgotten SECRET_KEY must stop the process, not weaken it.
try:
    SECRET_KEY = env.str("SECRET_KEY")
except ImproperlyConfigured as missing:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: production settings refuse to start without one."
    ) from missing

DEBUG = False
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS only, once the cookies are: browsers are told to use nothing else for a year (HSTS), so that
# a visit's first plain-HTTP request cannot be taken over before a redirect, and plain HTTP that
# reaches us anyway is redirected. Not the probes and the scrape (/healthz, /readyz, /metrics):
# load balancers and Prometheus reach the processes directly, over HTTP.
# https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
# SECURE_COOKIES=false (plain HTTP, a private network) turns both off, as it does the cookies' flag.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if SESSION_COOKIE_SECURE else 0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SESSION_COOKIE_SECURE)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Redis in production: https://docs.djangoproject.com/en/5.2/topics/cache/#redis
CACHES = {"default": env.cache("CACHE_URL", default=env.str("REDIS_URL", default="locmemcache://"))}
