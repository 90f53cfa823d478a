"""The catalog pages of the merchant UI: the product list, file import, an import's outcome."""
from django import forms
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from catalog.models import ImportStatus, ProductImport
from catalog.selectors.products import (
    product_category_list,
    product_import_get,
    product_import_list,
    product_list,
)
from catalog.services.imports import IMPORT_ERRORS_KEPT, catalog_import_file
from tenants.web import member_required

PRODUCTS_PER_PAGE = 50
RECENT_IMPORTS_SHOWN = 20


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
        help_text=_("A .csv or .json file, UTF-8. The first CSV row names the columns."),
    )


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


@member_required(manage=True)
def product_import_view(request):
    form = CatalogImportForm(request.POST or None, request.FILES or None)
    outcome = None
    if request.method == "POST" and form.is_valid():
        outcome = catalog_import_file(
            tenant=request.tenant, uploaded_file=form.cleaned_data["file"], created_by=request.user
        )
        form = CatalogImportForm()
    context = {
        "form": form,
        "outcome": outcome,
        "recent_imports": product_import_list(tenant=request.tenant)[:RECENT_IMPORTS_SHOWN],
        "errors_kept": IMPORT_ERRORS_KEPT,
        "FAILED": ImportStatus.FAILED,
    }
    return render(request, "catalog/product_import.html", context)


@member_required
def product_import_detail_view(request, import_id: int):
    try:
        product_import = product_import_get(tenant=request.tenant, import_id=import_id)
    except ProductImport.DoesNotExist:
        raise Http404
    context = {
        "product_import": product_import,
        "errors_kept": IMPORT_ERRORS_KEPT,
        "FAILED": ImportStatus.FAILED,
    }
    return render(request, "catalog/import_detail.html", context)


urlpatterns = [
    path("", product_list_view, name="product-list"),
    path("import/", product_import_view, name="product-import"),
    path("imports/<int:import_id>/", product_import_detail_view, name="product-import-detail"),
]
