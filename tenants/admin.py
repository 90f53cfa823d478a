from django.contrib import admin

from tenants.accounts import ThrottledAdminAuthenticationForm
from tenants.models import ApiKey, Membership, Tenant

# The admin's login checks passwords too: the same limit on failures as the login page's.
admin.site.login_form = ThrottledAdminAuthenticationForm


class AllTenantsAdmin(admin.ModelAdmin):
    """Admin is staff-only and cross-tenant by design: it reads through `all_tenants`."""

    def get_queryset(self, request):
        return self.model.all_tenants.all()


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(AllTenantsAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]


@admin.register(ApiKey)
class ApiKeyAdmin(AllTenantsAdmin):
    list_display = ["name", "prefix", "kind", "tenant", "revoked", "last_used_at", "created"]
    list_filter = ["kind", "revoked"]
    readonly_fields = ["prefix", "hashed_key", "last_used_at"]
