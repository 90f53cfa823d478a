"""The fine-tuning pages of the merchant UI."""
from training.views import urlpatterns  # noqa: F401
