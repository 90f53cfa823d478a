from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ops.metrics import metrics_view
from platform_site import health
from tenants.api import api_not_found

api_v1 = [
    # Before the catalog's: its shoppers/<external_id:shopper_id> would take shoppers/<id>/profile.
    path("", include("recommendations.api_urls")),
    path("", include("catalog.api_urls")),
    path("", include("training.apis")),
    path("", include("experiments.api_urls")),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # django-prometheus' page and the platform's figures
    path("api/v1/", include(api_v1)),
    # After the API's routes: any other path under api/ (a trailing slash, a misspelling) is a JSON 404.
    re_path(r"^api/", api_not_found, name="api-not-found"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("catalog/", include("catalog.urls")),
    path("training/", include("training.urls")),
    path("recommendations/", include("recommendations.urls")),
    path("experiments/", include("experiments.urls")),
    path("ops/", include("ops.urls")),
    path("", include("courses.urls")),  # /certificates/<code>/, public
    path("", include("tenants.urls")),
]
