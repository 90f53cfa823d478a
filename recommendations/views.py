"""The recommendation pages of the merchant UI: "try it" (the live model beside popularity, for a
shopper or a search) and the serving rules (ranking rules, re-buys).

"Try it" calls the same selectors as the storefront API but records nothing: what a merchant
tries is not what a shopper was served, and must not count in attribution.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.selectors.products import product_category_list
from recommendations.models import RankingRule, RuleAction, RuleField
from recommendations.rules import (
    MAX_STRENGTH,
    ranking_rule_create,
    ranking_rule_delete,
    ranking_rule_matches,
    tenant_recommend_purchased_set,
)
from recommendations.selectors.explanations import ProductNote
from recommendations.selectors.recommendations import (
    MAX_EXCLUDE,
    MAX_LIMIT,
    Answer,
    FallbackReason,
    UnknownProduct,
    popularity_list,
    recommendation_list,
    search_result_list,
    similar_product_list,
)
from tenants.models import Tenant
from tenants.web import member_required

DEFAULT_LIMIT = 10
# Room for MAX_EXCLUDE SKUs of the longest kind, with their commas.
MAX_EXCLUDE_TEXT = MAX_EXCLUDE * 129


# --- Try it ----------------------------------------------------------------------------------


class TryForm(forms.Form):
    shopper_id = forms.CharField(
        label=gettext_lazy("Shopper ID"),
        required=False,
        max_length=256,
        help_text=gettext_lazy("As your storefront sends it. Empty: a shopper we have never seen."),
    )
    context_product = forms.CharField(
        label=gettext_lazy("Product page (SKU)"),
        required=False,
        max_length=128,
        help_text=gettext_lazy("The product the shopper is looking at, if any."),
    )
    category = forms.CharField(
        label=gettext_lazy("Category"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"list": "category-suggestions"}),
    )
    query = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search"}),
        help_text=gettext_lazy(
            "Filled in: the page searches for it, for this shopper; the product page and "
            "the category are then not used."
        ),
    )
    exclude = forms.CharField(
        label=gettext_lazy("Leave out (SKUs)"),
        required=False,
        max_length=MAX_EXCLUDE_TEXT,
        help_text=gettext_lazy(
            "Comma-separated, as your storefront sends exclude: what the shopper already has in the cart, "
            "say. Not used for a search."
        ),
    )
    limit = forms.IntegerField(
        label=gettext_lazy("How many"),
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        initial=DEFAULT_LIMIT,
    )
    # As the storefront API takes it, so a merchant sees what asking for variety would serve.
    diversity = forms.FloatField(
        label=gettext_lazy("Diversity"),
        required=False,
        min_value=0.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text=gettext_lazy(
            "0 or empty ranks by score alone; up to 1 trades score for variety, as your storefront "
            "may ask. Not used for a search."
        ),
    )

    def clean_exclude(self) -> list[str]:
        # As the API reads `exclude`: commas part the SKUs, blanks and spaces around them are dropped.
        skus = [sku.strip() for sku in self.cleaned_data["exclude"].split(",") if sku.strip()]
        if len(skus) > MAX_EXCLUDE:
            raise forms.ValidationError(
                _("At most %(limit)d SKUs; this has %(count)d.") % {"limit": MAX_EXCLUDE, "count": len(skus)}
            )
        return skus


@dataclass(frozen=True)
class Column:
    kind: str  # "model", "popularity" or "similar"
    answer: Answer
    reason: str  # why the model did not rank this list, translated; "" when it did, and for popularity

    @property
    def products(self) -> list[dict]:
        return self.answer.products

    @property
    def rows(self) -> list[tuple[dict, ProductNote]]:
        """Each listed product with what moved it (nothing, when the answer was not explained)."""
        explanation = self.answer.explanation
        return [
            (product, explanation.note_for(product["external_id"]) if explanation else ProductNote())
            for product in self.products
        ]


def _reason_label(answer: Answer) -> str:
    return str(FallbackReason(answer.fallback_reason).label) if answer.fallback_reason else ""


def try_columns(*, tenant: Tenant, data: dict) -> list[Column]:
    """The live model's answer and popularity's, for the form's cleaned data, each with why it is
    what it is (rules, what was left out, diversity); with a product page, also the similar
    products that page's own list is served. Raises UnknownProduct."""
    limit = data.get("limit") or DEFAULT_LIMIT
    if data.get("query"):
        model = search_result_list(
            tenant=tenant,
            query=data["query"],
            limit=limit,
            shopper_id=data.get("shopper_id", ""),
            explain=True,
        )
        popular = popularity_list(tenant=tenant, limit=limit, explain=True)
    else:
        model = recommendation_list(
            tenant=tenant,
            shopper_id=data.get("shopper_id", ""),
            limit=limit,
            context_product=data.get("context_product", ""),
            category=data.get("category", ""),
            exclude=data.get("exclude") or (),
            diversity=data.get("diversity") or 0.0,
            explain=True,
        )
        popular = popularity_list(
            tenant=tenant,
            limit=limit,
            category=data.get("category", ""),
            context_product=data.get("context_product", ""),
            exclude=data.get("exclude") or (),
            explain=True,
        )
    columns = [Column("model", model, _reason_label(model)), Column("popularity", popular, "")]
    if data.get("context_product") and not data.get("query"):
        # A product page shows two lists: the shopper's recommendations and the similar products,
        # which read neither the shopper nor the category.
        similar = similar_product_list(tenant=tenant, external_id=data["context_product"], limit=limit)
        columns.append(Column("similar", similar, _reason_label(similar)))
    return columns


@member_required
def try_view(request):
    # A GET form: the address of an answer can be sent to a colleague.
    form = TryForm(request.GET or None)
    columns = []
    if form.is_bound and form.is_valid():
        try:
            columns = try_columns(tenant=request.tenant, data=form.cleaned_data)
        except UnknownProduct:
            form.add_error("context_product", _("No product with this SKU in your catalog."))
    context = {
        "form": form,
        "columns": columns,
        "searching": bool(form.is_bound and form.is_valid() and form.cleaned_data.get("query")),
        "categories": product_category_list(tenant=request.tenant),
    }
    return render(request, "recommendations/try.html", context)


# --- Serving rules ---------------------------------------------------------------------------


class RankingRuleForm(forms.Form):
    """Types only: the service decides what a rule may be, and its errors go beside their fields."""

    field = forms.ChoiceField(label=gettext_lazy("Applies to"), choices=RuleField.choices)
    value = forms.CharField(
        label=gettext_lazy("Category or brand"),
        max_length=500,
        help_text=gettext_lazy("A category takes the categories under it; a brand matches ignoring case."),
    )
    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=RuleAction.choices)
    strength = forms.FloatField(
        label=gettext_lazy("Strength"),
        initial=1.0,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Here, not on the field: the text is translated per request, in the user's language.
        self.fields["strength"].help_text = _(
            "More than 0, at most %(maximum)s: 1 nudges, 5 decides most lists."
        ) % {"maximum": f"{MAX_STRENGTH:g}"}


class RecommendPurchasedForm(forms.Form):
    recommend_purchased = forms.BooleanField(
        label=gettext_lazy("Recommend products a shopper already bought"),
        required=False,
        help_text=gettext_lazy(
            "Yes for what people buy again (groceries, pet food); no for what they buy once."
        ),
    )


def _add_service_errors(form: forms.Form, error: ValidationError) -> None:
    for key, reasons in error.message_dict.items():
        for reason in reasons:
            form.add_error(key if key in form.fields else None, reason)


def _rules_page(request, form: RankingRuleForm | None = None):
    context = {
        "rules": RankingRule.objects.filter(tenant=request.tenant),
        "form": form or RankingRuleForm(),
        "purchased_form": RecommendPurchasedForm(
            initial={"recommend_purchased": request.tenant.recommend_purchased}
        ),
        "recommend_purchased": request.tenant.recommend_purchased,
    }
    return render(request, "recommendations/rules.html", context)


@member_required
def rules_view(request):
    return _rules_page(request)


@require_POST
@member_required(manage=True)
def rule_create_view(request):
    form = RankingRuleForm(request.POST)
    if form.is_valid():
        try:
            rule = ranking_rule_create(tenant=request.tenant, **form.cleaned_data)
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("The rule for %(value)s is saved: it is served from now on.") % {"value": rule.value},
            )
            if not ranking_rule_matches(tenant=request.tenant, rule=rule):
                messages.warning(request, _(
                    "No product of your catalog has %(value)s for now: the rule changes nothing until one has."
                ) % {"value": rule.value})
            return redirect("recommendations:rules")
    return _rules_page(request, form)


@require_POST
@member_required(manage=True)
def rule_delete_view(request, rule_id: int):
    try:
        rule = ranking_rule_delete(tenant=request.tenant, rule_id=rule_id)
    except RankingRule.DoesNotExist:
        raise Http404
    messages.success(request, _("The rule to %(action)s %(value)s (strength %(strength)s) is deleted.") % {
        "action": rule.get_action_display().lower(), "value": rule.value, "strength": f"{rule.strength:g}"})
    return redirect("recommendations:rules")


@require_POST
@member_required(manage=True)
def recommend_purchased_view(request):
    form = RecommendPurchasedForm(request.POST)
    form.is_valid()  # a checkbox: absent means no, nothing else can be wrong
    tenant = tenant_recommend_purchased_set(
        tenant=request.tenant, value=form.cleaned_data.get("recommend_purchased", False)
    )
    if tenant.recommend_purchased:
        messages.success(request, _("Products a shopper already bought may be recommended to them again."))
    else:
        messages.success(request, _("Products a shopper already bought are no longer recommended to them."))
    return redirect("recommendations:rules")
