"""The course analytics pages, under courses/analytics/ (courses.urls)."""

from django.urls import path

from courses import analytics_views

urlpatterns = [
    path("", analytics_views.analytics_view, name="analytics"),
    path("members/<int:membership_id>/", analytics_views.analytics_member_view, name="analytics-member"),
]
