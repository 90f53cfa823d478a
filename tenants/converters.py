"""The URL converter of the ids merchants choose (SKUs, shopper ids): any text, slashes included,
but no NUL, which no stored id can hold (DRF refuses it in a body, the events API at ingest) and
which PostgreSQL refuses even in a query: such a URL is a 404 at routing, not a 500.

A trailing slash belongs to the id too (`catalog/products/MUG/` asks for the SKU "MUG/"): nothing
refuses such an id when it is stored, and a product or a shopper that can be stored must be
readable and erasable. A slash typed by habit after an id therefore asks for another id (a
product's 404); after a path without an id (`recommendations/`) it gets the API's catch-all 404
(tenants.api.api_not_found), which names the path without it.

Importing this module registers it as `<external_id:...>`; every urls module that uses it imports
it, so the order in which Django loads them does not matter.
"""
from django.urls import converters, register_converter


class ExternalIdConverter(converters.PathConverter):
    regex = "[^\x00]+"


register_converter(ExternalIdConverter, "external_id")
