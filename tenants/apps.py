from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Tenants")

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from tenants import schema  # noqa: F401  registers the OpenAPI auth extension
        from tenants.cors import cors_allow_tenant_origins

        check_request_enabled.connect(cors_allow_tenant_origins, dispatch_uid="tenants-allowed-origins")

        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from tenants import rls

        connection_created.connect(rls.on_connection_created, dispatch_uid="tenants-rls-connection")
        post_migrate.connect(rls.on_post_migrate, dispatch_uid="tenants-rls-install")

        from django.contrib.auth.signals import user_logged_in

        from tenants.accounts import on_user_logged_in

        # Every login leaves the browser a device cookie (tenants/accounts.py).
        user_logged_in.connect(on_user_logged_in, dispatch_uid="tenants-device-cookie")
