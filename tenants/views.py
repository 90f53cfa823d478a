"""The tenant pages of the merchant UI: dashboard, tenant switch, API keys."""
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from tenants.dashboard import (
    active_api_key_count,
    active_jobs,
    catalog_summary,
    event_counts_by_day,
    getting_started,
    learner_summary,
    learning_summary,
    live_model_summary,
    model_versions_exist,
    running_experiments,
)
from tenants.models import ApiKey, ApiKeyKind
from tenants.selectors import ACTIVE_TENANT_SESSION_KEY, memberships_of_user
from tenants.services import (
    api_key_issue,
    api_key_revoke,
    tenant_allowed_origins_set,
    tenant_shopper_signatures_set,
    tenant_shopper_signing_key_rotate,
    tenant_time_zone_set,
    time_zone_names,
)
from tenants.web import member_required
from training.presentation import TABLE_METRICS


@member_required(learners=True)
def dashboard(request):
    tenant = request.tenant
    if not request.membership.can_read_store_data:
        summary = learner_summary(tenant=tenant, membership=request.membership)
        return render(request, "tenants/dashboard_learner.html", {"summary": summary})
    live_model = live_model_summary(tenant=tenant)
    catalog = catalog_summary(tenant=tenant)
    versions_exist = live_model is not None or model_versions_exist(tenant=tenant)
    context = {
        "getting_started": getting_started(
            tenant=tenant, products=catalog.products, versions_exist=versions_exist, model_live=live_model is not None
        ),
        "catalog": catalog,
        "events": event_counts_by_day(tenant=tenant),
        "live_model": live_model,
        "versions_exist": versions_exist,
        "metric_labels": list(TABLE_METRICS.values()),
        "jobs": active_jobs(tenant=tenant),
        "experiments": running_experiments(tenant=tenant),
        "learning": learning_summary(tenant=tenant),
        "active_key_count": active_api_key_count(tenant=tenant) if request.membership.can_manage else None,
    }
    return render(request, "tenants/dashboard.html", context)


def dashboard_jobs(request):
    """The dashboard's jobs tile alone, which htmx swaps in every few seconds while a job is active."""
    if request.htmx and not request.user.is_authenticated:
        # The session ended while the page polled: reload it (which leads to the login page)
        # rather than swap the login form into the tile.
        return HttpResponseClientRefresh()
    return _dashboard_jobs(request)


@member_required
def _dashboard_jobs(request):
    if not request.htmx:
        # A fragment is no page to land on: someone who opened its address gets the dashboard.
        return redirect("dashboard")
    context = {"jobs": active_jobs(tenant=request.tenant), "polled": True}
    return render(request, "tenants/_dashboard_jobs.html", context)


@require_POST
@member_required(learners=True)
def tenant_switch(request):
    """Make another of the user's tenants the active one; a tenant they do not belong to is a 404."""
    try:
        tenant_id = int(request.POST.get("tenant_id", ""))
    except ValueError:
        raise Http404
    if not any(m.tenant_id == tenant_id for m in memberships_of_user(user=request.user)):
        raise Http404
    request.session[ACTIVE_TENANT_SESSION_KEY] = tenant_id
    return redirect("dashboard")


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=50)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ApiKeyKind.choices)


class AllowedOriginsForm(forms.Form):
    # Both forms of the API keys page post to it; this hidden field tells them apart.
    FORM_NAME = "allowed-origins"

    form = forms.CharField(widget=forms.HiddenInput, initial=FORM_NAME)
    allowed_origins = forms.CharField(
        label=gettext_lazy("Allowed web origins"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "https://shop.example.com"}),
        help_text=gettext_lazy(
            "One per line, like https://shop.example.com. Pages on these origins may call the API "
            "with a publishable key; a browser on any other origin is refused."
        ),
    )

    def clean_allowed_origins(self) -> list[str]:
        return self.cleaned_data["allowed_origins"].splitlines()


# A new key's secret, from the POST that made it to the one page that shows it. The session is
# stored on the server (Django's database backend), never in the cookie.
NEW_API_KEY_SESSION_KEY = "new_api_key"


@never_cache  # it shows the shopper signing key (and a new API key, once)
@member_required(manage=True)
def api_key_list(request):
    posted = request.POST if request.method == "POST" else None
    origins_posted = posted is not None and posted.get("form") == AllowedOriginsForm.FORM_NAME
    form = ApiKeyForm(None if origins_posted else posted)
    origins_form = AllowedOriginsForm(
        posted if origins_posted else None,
        initial={"allowed_origins": "\n".join(request.tenant.allowed_origins)},
    )
    if origins_posted:
        if _allowed_origins_save(request, origins_form):
            return redirect("api-keys")
    elif posted is not None and form.is_valid():
        issued = api_key_issue(
            tenant=request.tenant,
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            created_by=request.user,
        )
        # Redirected, so that reloading the page shows it rather than posting again for a second key.
        request.session[NEW_API_KEY_SESSION_KEY] = {"tenant_id": request.tenant.pk, "key": issued.key}
        return redirect("api-keys")
    keys = ApiKey.objects.select_related("created_by").order_by("-created")
    context = {
        "form": form,
        "origins_form": origins_form,
        "keys": keys,
        "new_key": _new_key_once(request),
        "signature_example": SIGNATURE_EXAMPLE,
        "signing_key_replaced": SIGNING_KEY_REPLACED,
        "signatures_form": ShopperSignaturesForm(
            initial={"required": request.tenant.shopper_signatures_required}
        ),
    }
    return render(request, "tenants/api_keys.html", context)


def _new_key_once(request) -> str | None:
    """The key the last POST made, taken out of the session so that it is shown once. One made
    in another store (the user switched stores meanwhile) is dropped unshown: not its keys."""
    new_key = request.session.pop(NEW_API_KEY_SESSION_KEY, None)
    if new_key is None or new_key["tenant_id"] != request.tenant.pk:
        return None
    return new_key["key"]


def _allowed_origins_save(request, form: AllowedOriginsForm) -> bool:
    """Store the posted origins; False leaves the service's errors on the form."""
    if not form.is_valid():
        return False
    try:
        tenant_allowed_origins_set(tenant=request.tenant, origins=form.cleaned_data["allowed_origins"])
    except ValidationError as error:
        form.add_error(None, error)
        return False
    messages.success(request, _("The allowed web origins are saved."))
    return True


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def api_key_revoke_view(request, prefix: str):
    """GET: who stops being answered, and the button; POST: revoke the key. A revoked key cannot
    be turned back on, and the storefront that sends it is refused at once."""
    if request.method == "GET":
        api_key = ApiKey.objects.filter(prefix=prefix).first()  # the scope: another store's is a 404
        if api_key is None:
            raise Http404
        if api_key.revoked:
            messages.info(request, _("Key %(prefix)s is revoked.") % {"prefix": api_key.display_prefix})
            return redirect("api-keys")
        return _api_key_revoke_confirm(request, api_key)
    try:
        api_key = api_key_revoke(tenant=request.tenant, prefix=prefix)
    except ApiKey.DoesNotExist:
        raise Http404
    messages.success(request, _("Key %(prefix)s is revoked.") % {"prefix": api_key.display_prefix})
    return redirect("api-keys")


def _api_key_revoke_confirm(request, api_key: ApiKey):
    if api_key.kind == ApiKeyKind.SECRET:
        refused = _(
            "Your servers that send this key are refused from the moment it is revoked: "
            "give them a new key first."
        )
    else:
        refused = _(
            "Your storefront's pages that send this key are refused from the moment it is revoked: "
            "put a new publishable key in them first."
        )
    if api_key.last_used_at is None:
        used = _("It has never been used.")
    else:
        used = _("It was last used on %(when)s.") % {
            "when": date_format(timezone.localtime(api_key.last_used_at), "SHORT_DATETIME_FORMAT")
        }
    names = {"name": api_key.name, "prefix": api_key.display_prefix}
    context = {
        "question": _("Revoke the key %(name)s (%(prefix)s…)?") % names,
        "consequences": [refused, used],
        "action": _("Revoke"),
        "back": reverse("api-keys"),
    }
    return render(request, "_confirm.html", context)


# A signature that is sent is checked whether or not the store requires one: turning the
# requirement off does not let old signatures through.
SIGNING_KEY_REPLACED = gettext_lazy(
    "Requests and events that carry a signature made with the current key are refused from the moment it is "
    "replaced, whether or not signatures are required: give your servers the new key first."
)

# Code, the same in every language (so not in the template, where words are translated).
SIGNATURE_EXAMPLE = "hmac.new(key.encode(), shopper_id.encode(), hashlib.sha256).hexdigest()"


class ShopperSignaturesForm(forms.Form):
    required = forms.BooleanField(
        label=gettext_lazy("Require signed shopper ids from publishable keys"),
        required=False,
        help_text=gettext_lazy(
            "When on, a publishable key gets recommendations and search for a shopper, and sends "
            "that shopper's events, only with the shopper's signature; without a shopper_id, "
            "recommendations and search answer as before."
        ),
    )


@require_POST
@member_required(manage=True)
def shopper_signatures_view(request):
    form = ShopperSignaturesForm(request.POST)
    form.is_valid()  # a checkbox: absent is off, anything else on
    tenant = tenant_shopper_signatures_set(tenant=request.tenant, required=form.cleaned_data.get("required", False))
    if tenant.shopper_signatures_required:
        messages.success(request, _("Publishable keys now need a signature to ask for a shopper."))
    else:
        messages.success(request, _("Publishable keys may now ask for a shopper without a signature."))
    return redirect(reverse("api-keys") + "#shopper-signatures")


class StoreTimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        help_text=gettext_lazy(
            "Where your store's days begin and end: the events per day, the dashboard, the experiments' "
            "daily figures, and every time shown here."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]


@member_required
def store_settings_view(request):
    """The store's own settings; members see them, owners and admins change them."""
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied
        form = StoreTimeZoneForm(request.POST)
        if form.is_valid():
            try:
                tenant_time_zone_set(tenant=request.tenant, time_zone=form.cleaned_data["time_zone"])
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Your store's days now follow %(zone)s.") % {
                    "zone": form.cleaned_data["time_zone"]})
                return redirect("store-settings")
        status = 400
    else:
        form, status = StoreTimeZoneForm(initial={"time_zone": request.tenant.time_zone}), 200
    return render(request, "tenants/store_settings.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@member_required(manage=True)
def shopper_signing_key_rotate_view(request):
    """GET: what replacing the key breaks, and the button; POST: replace it."""
    if request.method == "GET":
        context = {
            "question": _("Replace the shopper signing key?"),
            "consequences": [SIGNING_KEY_REPLACED],
            "action": _("Replace the signing key"),
            "back": reverse("api-keys") + "#shopper-signatures",
        }
        return render(request, "_confirm.html", context)
    tenant_shopper_signing_key_rotate(tenant=request.tenant)
    messages.success(
        request,
        _("A new shopper signing key is in place: signatures made with the old one are refused from now on."),
    )
    return redirect(reverse("api-keys") + "#shopper-signatures")
