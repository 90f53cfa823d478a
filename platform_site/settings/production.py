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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Redis in production: https://docs.djangoproject.com/en/5.2/topics/cache/#redis
CACHES = {"default": env.cache("CACHE_URL", default=env.str("REDIS_URL", default="locmemcache://"))}
