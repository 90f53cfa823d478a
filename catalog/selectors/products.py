"""Reads on the product catalog and its imports."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet

from catalog.models import Product, ProductImport
from catalog.services.products import CATEGORY_SEPARATOR, category_path_normalize
from tenants.models import Tenant


def product_list(*, tenant: Tenant, filters: Mapping[str, Any] | None = None) -> QuerySet[Product]:
    """The tenant's products, by SKU.

    filters (each optional, empty values ignored):
    - `category`: the category and everything below it. Whole path segments
      match, so "Grocery" finds "Grocery > Produce" but not "Grocery bags".
    - `q`: text in the title, description, brand or SKU.
    - `in_stock`: True or False.
    """
    filters = filters or {}
    products = Product.objects.filter(tenant=tenant)
    category = category_path_normalize(filters.get("category") or "")
    if category:
        products = products.filter(
            Q(category__iexact=category) | Q(category__istartswith=category + CATEGORY_SEPARATOR)
        )
    text = (filters.get("q") or "").strip()
    if text:
        products = products.filter(
            Q(title__icontains=text)
            | Q(description__icontains=text)
            | Q(brand__icontains=text)
            | Q(external_id__icontains=text)
        )
    if filters.get("in_stock") is not None:
        products = products.filter(in_stock=filters["in_stock"])
    return products.order_by("external_id")


def product_get(*, tenant: Tenant, external_id: str) -> Product:
    """Raises Product.DoesNotExist when the SKU is not in the tenant's catalog."""
    return Product.objects.get(tenant=tenant, external_id=external_id)


def product_category_list(*, tenant: Tenant, limit: int = 500) -> list[str]:
    """The category paths in use, for a filter's suggestions; at most `limit` of them."""
    return list(
        Product.objects.filter(tenant=tenant)
        .exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()[:limit]
    )


def product_import_list(*, tenant: Tenant) -> QuerySet[ProductImport]:
    """The tenant's catalog imports, newest first."""
    return (
        ProductImport.objects.filter(tenant=tenant)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def product_import_get(*, tenant: Tenant, import_id: int) -> ProductImport:
    """Raises ProductImport.DoesNotExist when the import is not the tenant's."""
    return product_import_list(tenant=tenant).get(pk=import_id)
