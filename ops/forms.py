from django import forms
from django.utils.translation import gettext_lazy as _

from ops.selectors import STUCK, JobFilters
from tenants.models import Tenant
from training.models import JobStatus


class TenantChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, tenant: Tenant) -> str:
        return tenant.staff_label


class JobFilterForm(forms.Form):
    """The jobs table's filters, from the query string. A value that does not fit is ignored,
    as if that filter were not set, so a stale bookmark still shows the jobs; the page says so
    beside the field."""

    status = forms.ChoiceField(
        label=_("Status"), required=False,
        choices=[("", _("All")), *JobStatus.choices, (STUCK, _("Stuck (running, no heartbeat)"))],
    )
    tenant = TenantChoiceField(
        label=_("Tenant"), required=False, empty_label=_("All"),
        queryset=Tenant.objects.select_related("sandbox_of", "sandbox_owner").order_by("name", "id"),
    )
    age = forms.ChoiceField(
        # "At any time" first: a bound form without this field (the stuck-jobs link) shows it.
        label=_("Created"), required=False, initial="all",
        choices=[("all", _("At any time")), ("hour", _("In the last hour")), ("day", _("In the last day")),
                 ("week", _("In the last week"))],
    )

    def filters(self) -> JobFilters:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})  # an unbound form (no query string) has none
        tenant = data.get("tenant")
        return JobFilters(
            status=data.get("status") or "", tenant_id=tenant.pk if tenant else None, age=data.get("age") or "all"
        )
