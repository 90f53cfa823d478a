from django.urls import include, path

from courses import learner_views, views

app_name = "courses"

urlpatterns = [
    # token_urlsafe codes: letters, digits, "-" and "_".
    path("certificates/<str:code>/", views.certificate_verify, name="certificate-verify"),
    path("courses/", include(learner_views.urlpatterns)),
    path("courses/author/", include("courses.authoring_urls")),
    path("courses/analytics/", include("courses.analytics_urls")),
    path("courses/requirement/", include("courses.gating_urls")),
]
