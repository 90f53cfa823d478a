from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """The ops console (/ops/, staff only) and the platform's Prometheus figures (/metrics)."""

    name = "ops"
    verbose_name = _("Operations")
