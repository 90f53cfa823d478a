"""Laptop settings: the defaults of base.py, with DEBUG on unless told otherwise."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)

# Serve static files straight from the app folders, no collectstatic needed
# (https://whitenoise.readthedocs.io/en/stable/django.html#WHITENOISE_USE_FINDERS).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
