"""The experiment pages of the merchant UI."""
from django.urls import path

from experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.experiment_list_view, name="list"),
    path("new/", views.experiment_new_view, name="new"),
    path("<int:experiment_id>/", views.experiment_detail_view, name="detail"),
    path("<int:experiment_id>/start/", views.experiment_start_view, name="start"),
    path("<int:experiment_id>/stop/", views.experiment_stop_view, name="stop"),
    path("<int:experiment_id>/traffic/", views.experiment_traffic_view, name="traffic"),
    path("<int:experiment_id>/delete/", views.experiment_delete_view, name="delete"),
]
