"""The catalog's pages in the merchant UI."""
from catalog.views import events, products

urlpatterns = [*products.urlpatterns, *events.urlpatterns]
