"""Laptop settings: the defaults of base.py, with DEBUG on unless told otherwise."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
