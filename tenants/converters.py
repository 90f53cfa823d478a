"""The URL converter of the ids merchants choose (SKUs, shopper ids): any text, slashes included,
but no NUL, which no stored id can hold (DRF refuses it in a body, the events API at ingest) and
which PostgreSQL refuses even in a query: such a URL is a 404 at routing, not a 500.

Importing this module registers it as `<external_id:...>`; every urls module that uses it imports
it, so the order in which Django loads them does not matter.
"""
from django.urls import converters, register_converter


class ExternalIdConverter(converters.PathConverter):
    regex = "[^\x00]+"


register_converter(ExternalIdConverter, "external_id")
