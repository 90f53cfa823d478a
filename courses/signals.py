"""Keeping sandboxes to the people who may see them."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from tenants.models import Membership, Tenant


@receiver(post_delete, sender=Membership, dispatch_uid="courses.sandboxes_of_a_departed_member")
def sandboxes_of_a_departed_member(sender, instance: Membership, **kwargs) -> None:
    """Someone who leaves a store loses their sandboxes of it: a sandbox holds a copy of the
    store's products and shopper events, which only the store's members may see."""
    from courses.labs.sandbox import sandbox_delete  # it imports the apps' models

    for sandbox in Tenant.objects.filter(sandbox_of_id=instance.tenant_id, sandbox_owner_id=instance.user_id):
        sandbox_delete(sandbox=sandbox)
