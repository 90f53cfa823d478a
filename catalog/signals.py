"""What the catalog tells other apps, so it does not import them."""
from django.dispatch import Signal

# Sent after the transaction that created or changed products commits; kwargs: tenant_id.
products_changed = Signal()
