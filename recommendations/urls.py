"""The recommendation pages of the merchant UI."""

from django.urls import path

from recommendations import views

app_name = "recommendations"

urlpatterns = [
    path("try/", views.try_view, name="try"),
    path("rules/", views.rules_view, name="rules"),
    path("rules/new/", views.rule_create_view, name="rule-create"),
    path("rules/<int:rule_id>/delete/", views.rule_delete_view, name="rule-delete"),
    path("rules/rebuys/", views.recommend_purchased_view, name="recommend-purchased"),
]
