"""The catalog's REST API: each module under apis/ lists its own routes."""
from catalog.apis import events, imports, products

urlpatterns = [*products.urlpatterns, *imports.urlpatterns, *events.urlpatterns]
