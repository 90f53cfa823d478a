from django.urls import path

from courses import views

app_name = "courses"

urlpatterns = [
    # token_urlsafe codes: letters, digits, "-" and "_".
    path("certificates/<str:code>/", views.certificate_verify, name="certificate-verify"),
]
