"""What the catalog tells other apps, so it does not import them."""
from django.dispatch import Signal

# Sent after the transaction that created or changed products commits; kwargs: tenant_id.
products_changed = Signal()

# Sent inside the transaction of a shopper's erasure (a privacy request); kwargs: tenant_id,
# shopper_key. Each app deletes what it keeps of that shopper.
shopper_erased = Signal()
