"""Writes on how a tenant's lists are served: its ranking rules and whether re-buys are recommended.

Each write drops the cached serving state once it is committed, so the next
request serves the change (a request in between would cache the old rules).
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from catalog.models import Product
from catalog.services.products import CATEGORY_SEPARATOR, category_path_normalize
from recommendations.models import RankingRule, RuleAction, RuleField
from recommendations.serving import serving_state_forget
from tenants.models import Tenant

# Standard deviations of the candidates' scores: past about 10 a rule already decides alone.
MAX_STRENGTH = 10.0


def _forget_on_commit(tenant: Tenant) -> None:
    tenant_id = tenant.pk
    transaction.on_commit(lambda: serving_state_forget(tenant_id=tenant_id))


def _rule_errors(*, field: str, value: str, action: str, strength: float) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if field not in RuleField.values:
        errors["field"] = [_("Choose a category or a brand.")]
    if not value:
        errors["value"] = [_("Name the category or the brand.")]
    if action not in RuleAction.values:
        errors["action"] = [_("Choose boost or bury.")]
    in_range = isinstance(strength, (int, float)) and math.isfinite(strength) and 0 < strength <= MAX_STRENGTH
    if not in_range:
        errors["strength"] = [
            _("The strength must be more than 0 and at most %(maximum)s.") % {"maximum": f"{MAX_STRENGTH:g}"}
        ]
    return errors


def _duplicate_error(field: str) -> ValidationError:
    if field == RuleField.BRAND:
        message = _("There is already a rule for this brand: delete it first to change it.")
    else:
        message = _("There is already a rule for this category: delete it first to change it.")
    return ValidationError({"value": [message]})


@transaction.atomic
def ranking_rule_create(
    *, tenant: Tenant, field: str, value: str, action: str, strength: float
) -> RankingRule:
    """Add a rule; raises ValidationError naming the field at fault. The tenant scope is set.

    One rule per category or brand: two would add up, which nobody reading the
    list would expect. Both match as serving matches them, ignoring case; a category is also
    written as the catalog writes it ("Grocery>Cereal" is "Grocery > Cereal").
    """
    value = (value or "").strip()
    if field == RuleField.CATEGORY:
        value = category_path_normalize(value)
    errors = _rule_errors(field=field, value=value, action=action, strength=strength)
    if errors:
        raise ValidationError(errors)
    same = RankingRule.objects.filter(tenant=tenant, field=field, value__iexact=value)
    if same.exists():
        raise _duplicate_error(field)
    try:
        with transaction.atomic():  # a savepoint: the constraint may refuse a concurrent twin
            rule = RankingRule.objects.create(
                tenant=tenant, field=field, value=value, action=action, strength=float(strength)
            )
    except IntegrityError:
        raise _duplicate_error(field) from None
    _forget_on_commit(tenant)
    return rule


def ranking_rule_matches(*, tenant: Tenant, rule: RankingRule) -> int:
    """How many products of the catalog the rule reaches (a category: and those below it)."""
    products = Product.objects.filter(tenant=tenant)
    if rule.field == RuleField.BRAND:
        return products.filter(brand__iexact=rule.value).count()
    return products.filter(
        Q(category__iexact=rule.value) | Q(category__istartswith=rule.value + CATEGORY_SEPARATOR)
    ).count()


@transaction.atomic
def ranking_rule_delete(*, tenant: Tenant, rule_id: int) -> RankingRule:
    """Raises RankingRule.DoesNotExist for a rule that is not the tenant's; returns the rule gone."""
    rule = RankingRule.objects.get(tenant=tenant, pk=rule_id)
    rule.delete()
    _forget_on_commit(tenant)
    return rule


@transaction.atomic
def tenant_recommend_purchased_set(*, tenant: Tenant, value: bool) -> Tenant:
    """Whether a shopper's recommendations may hold what they already bought (groceries: yes)."""
    tenant.recommend_purchased = bool(value)
    tenant.save(update_fields=["recommend_purchased"])
    _forget_on_commit(tenant)
    return tenant
