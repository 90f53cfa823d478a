from django.contrib.auth import views as auth_views
from django.urls import path

from tenants import accounts, members, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/jobs/", views.dashboard_jobs, name="dashboard-jobs"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A 404 unless email can be sent (tenants/accounts.py says why).
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", accounts.PasswordResetSentView.as_view(), name="password-reset-sent"),
    path(
        "password-reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("password-reset/complete/", accounts.PasswordResetCompleteView.as_view(), name="password-reset-complete"),
    path("tenant/switch/", views.tenant_switch, name="tenant-switch"),
    path("settings/store/", views.store_settings_view, name="store-settings"),
    path("settings/api-keys/", views.api_key_list, name="api-keys"),
    path("settings/api-keys/<str:prefix>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("settings/members/", members.member_list_view, name="members"),
    path("settings/members/<int:membership_id>/role/", members.member_role_view, name="member-role"),
    path("settings/members/<int:membership_id>/remove/", members.member_remove_view, name="member-remove"),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        members.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path("invitations/<str:token>/", members.invitation_view, name="invitation"),
    path("settings/shopper-signatures/", views.shopper_signatures_view, name="shopper-signatures"),
    path(
        "settings/shopper-signatures/rotate/",
        views.shopper_signing_key_rotate_view,
        name="shopper-signing-key-rotate",
    ),
]
