from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = _("Recommendations")

    def ready(self):
        from catalog.signals import products_changed, shopper_erased
        from recommendations import tasks
        from recommendations.attribution import served_lists_erase
        from recommendations.serving import serving_state_forget
        from training.signals import live_version_changed

        # New products get embeddings from the live model; a new live model embeds what it lacks.
        products_changed.connect(tasks.item_embeddings_refresh_queue, dispatch_uid="embed-new-products")
        live_version_changed.connect(tasks.item_embeddings_refresh_queue, dispatch_uid="embed-for-new-live")
        # The storefront sees a change at once: a product just added can be asked about by the
        # next request, and one just removed is not recommended any more.
        forget = lambda tenant_id, **kwargs: serving_state_forget(tenant_id=tenant_id)
        live_version_changed.connect(forget, dispatch_uid="serve-new-live-at-once", weak=False)
        products_changed.connect(forget, dispatch_uid="serve-new-products-at-once", weak=False)
        shopper_erased.connect(served_lists_erase, dispatch_uid="erase-served-lists", weak=False)
