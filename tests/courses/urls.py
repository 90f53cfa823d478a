"""The courses' public pages at the root, with the site's own urls for base.html's links."""

from django.urls import include, path

urlpatterns = [
    path("", include("courses.urls")),
    path("", include("platform_site.urls")),
]
