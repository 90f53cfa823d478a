"""The ops console, for staff only; everyone else gets a 404 (ops.views.staff_only)."""
from django.urls import path

from ops import views

app_name = "ops"

urlpatterns = [
    path("", views.job_list_view, name="jobs"),
    path("jobs/<int:job_id>/retry/", views.job_retry_view, name="job-retry"),
    path("jobs/<int:job_id>/cancel/confirm/", views.job_cancel_confirm_view, name="job-cancel-confirm"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel_view, name="job-cancel"),
    path("system/", views.system_view, name="system"),
]
