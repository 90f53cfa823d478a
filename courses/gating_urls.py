"""The certificate requirement page, under courses/requirement/ (courses.urls)."""

from django.urls import path

from courses import gating_views

urlpatterns = [
    path("", gating_views.certificate_requirement_view, name="requirement"),
]
