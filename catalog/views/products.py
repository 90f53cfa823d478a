"""The catalog pages of the merchant UI: the product list, a product (to read, change or delete),
file import, an import's outcome."""
import json

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from catalog.models import ImportStatus, Product, ProductImport
from catalog.selectors.products import (
    product_category_list,
    product_import_get,
    product_import_list,
    product_list,
)
from catalog.services.imports import IMPORT_ERRORS_KEPT, catalog_import_queue, catalog_imports_lost_fail
from catalog.services.products import ProductRowsInvalid, product_delete, product_update
from tenants.web import member_required

PRODUCTS_PER_PAGE = 50
IMPORTS_PER_PAGE = 20


class ProductFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False, max_length=200, widget=forms.TextInput(attrs={"type": "search"})
    )
    category = forms.CharField(
        label=_("Category"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"list": "category-suggestions"}),
    )
    in_stock = forms.TypedChoiceField(
        label=_("Stock"),
        required=False,
        choices=[("", _("All")), ("true", _("In stock")), ("false", _("Out of stock"))],
        coerce=lambda value: value == "true",
        empty_value=None,
    )


class CatalogImportForm(forms.Form):
    # Empty files are let through to be recorded as a failed import, like in the API.
    file = forms.FileField(
        label=_("Catalog file"),
        allow_empty_file=True,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = gettext(
            "A .csv or .json file, UTF-8, of at most %(most)s. The first CSV row names the columns."
        ) % {"most": filesizeformat(settings.CATALOG_IMPORT_MAX_BYTES)}


@member_required
def product_list_view(request):
    form = ProductFilterForm(request.GET)
    # A hand-edited address with a bad filter shows the whole catalog and the form's error.
    filters = form.cleaned_data if form.is_valid() else {}
    products = product_list(tenant=request.tenant, filters=filters)
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "is_filtered": any(value not in (None, "") for value in filters.values()),
        "catalog_is_empty": not page.object_list and not product_list(tenant=request.tenant).exists(),
        "categories": product_category_list(tenant=request.tenant),
    }
    return render(request, "catalog/product_list.html", context)


class ProductEditForm(forms.Form):
    """The product's fields as text; the rules are every product's (ProductRowSerializer), applied
    by the service, which names each bad field."""

    title = forms.CharField(label=_("Title"), max_length=500)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    category = forms.CharField(
        label=_("Category"), required=False, max_length=500, help_text=_("A path, most general first: Grocery > Produce."),
        widget=forms.TextInput(attrs={"list": "category-suggestions"}),
    )
    brand = forms.CharField(label=_("Brand"), required=False, max_length=200)
    price = forms.CharField(label=_("Price"), required=False, help_text=_("Such as 1234.50; empty: no price."))
    currency = forms.CharField(label=_("Currency"), required=False, max_length=3, help_text=_("Such as USD or CNY."))
    in_stock = forms.BooleanField(label=_("In stock"), required=False)
    attributes = forms.CharField(
        label=_("Attributes"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_('A JSON object, such as {"origin": "NZ", "organic": true}; empty: none.'),
    )

    def clean_attributes(self):
        text = self.cleaned_data["attributes"].strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise forms.ValidationError(_('Write a JSON object, such as {"origin": "NZ"}.'))

    @classmethod
    def of(cls, product: Product) -> "ProductEditForm":
        return cls(initial={
            "title": product.title, "description": product.description, "category": product.category,
            "brand": product.brand, "price": "" if product.price is None else str(product.price),
            "currency": product.currency, "in_stock": product.in_stock,
            "attributes": json.dumps(product.attributes, ensure_ascii=False, indent=1) if product.attributes else "",
        })

    def product_fields(self) -> dict:
        fields = dict(self.cleaned_data)
        fields["price"] = fields["price"].strip() or None
        return fields


def _product_or_404(request, product_id: int) -> Product:
    # Through the tenant scope: another store's product is a 404.
    try:
        return Product.objects.get(pk=product_id)
    except Product.DoesNotExist:
        raise Http404


@member_required
def product_detail_view(request, product_id: int):
    """A product; owners and admins change it here (what a catalog file or the API would set)."""
    product = _product_or_404(request, product_id)
    status = 200
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied
        form = ProductEditForm(request.POST)
        if form.is_valid():
            try:
                product = product_update(
                    tenant=request.tenant, external_id=product.external_id, fields=form.product_fields()
                )
            except ProductRowsInvalid as invalid:
                for error in invalid.errors:
                    field = error.field.split(".")[0]
                    form.add_error(field if field in form.fields else None, error.reason)
            else:
                messages.success(request, gettext("The product is saved."))
                return redirect("product-detail", product_id=product.pk)
        status = 400
    else:
        form = ProductEditForm.of(product)
    context = {"product": product, "form": form, "categories": product_category_list(tenant=request.tenant)}
    return render(request, "catalog/product_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def product_delete_view(request, product_id: int):
    product = _product_or_404(request, product_id)
    if request.method == "GET":
        return render(request, "_confirm.html", {
            "question": gettext("Delete the product %(sku)s?") % {"sku": product.external_id},
            "consequences": [
                gettext("It leaves the catalog and is no longer recommended or found by search."),
                gettext("Shopper events keep its SKU, so their history stays whole; a catalog file or the API "
                        "can bring the product back."),
            ],
            "action": gettext("Delete"),
            "back": reverse("product-detail", args=[product.pk]),
        })
    product_delete(tenant=request.tenant, external_id=product.external_id)
    messages.success(request, gettext("The product %(sku)s is deleted.") % {"sku": product.external_id})
    return redirect("product-list")


@member_required(manage=True)
def product_import_view(request):
    form = CatalogImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        queued = catalog_import_queue(
            tenant=request.tenant, uploaded_file=form.cleaned_data["file"], created_by=request.user
        )
        # The import's own page follows its progress; reloading it sends nothing again.
        return redirect("product-import-detail", queued.pk)
    catalog_imports_lost_fail(tenant=request.tenant)
    context = {
        "form": form,
        # Every import, newest first, in pages: an older failure stays a click away.
        "page": Paginator(product_import_list(tenant=request.tenant), IMPORTS_PER_PAGE).get_page(request.GET.get("page")),
    }
    return render(request, "catalog/product_import.html", context)


@member_required
def product_import_detail_view(request, import_id: int):
    catalog_imports_lost_fail(tenant=request.tenant)
    try:
        product_import = product_import_get(tenant=request.tenant, import_id=import_id)
    except ProductImport.DoesNotExist:
        raise Http404
    context = {
        "product_import": product_import,
        "errors_kept": IMPORT_ERRORS_KEPT,
        "FAILED": ImportStatus.FAILED,
        # Long enough that a worker would have taken it, were one free: the page says so.
        "waits_long": product_import.status == ImportStatus.QUEUED
        and timezone.now() - product_import.created_at > ProductImport.QUEUED_SLOW_AFTER,
    }
    return render(request, "catalog/import_detail.html", context)


urlpatterns = [
    path("", product_list_view, name="product-list"),
    path("products/<int:product_id>/", product_detail_view, name="product-detail"),
    path("products/<int:product_id>/delete/", product_delete_view, name="product-delete"),
    path("import/", product_import_view, name="product-import"),
    path("imports/<int:import_id>/", product_import_detail_view, name="product-import-detail"),
]
