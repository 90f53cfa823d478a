"""The storefront API: each module under apis/ lists its own routes."""

from recommendations.apis import profiles, serving

urlpatterns = [*serving.urlpatterns, *profiles.urlpatterns]
