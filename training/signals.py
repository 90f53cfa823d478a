"""What fine-tuning tells other apps, so it does not import them."""
from django.dispatch import Signal

# Sent after the transaction that changed a tenant's live version commits; kwargs: tenant_id.
live_version_changed = Signal()
