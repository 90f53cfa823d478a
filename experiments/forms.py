"""The forms of the experiment pages: a new design, and the share of traffic of a running one.

Types, and which fields must be filled in: `experiments.services` decides what a design may be,
and its errors, keyed by field (`variants[1].model_version`), are put beside the field they name
(`add_service_errors`). The fields the service always needs (the name, the key, the share of
traffic, the primary metric) are required here too, each refused empty with an error that names
it, so that the page marks the others "(optional)" (_field.html) and is right to.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from experiments.models import Metric, VariantKind
from experiments.services import MAX_VARIANTS, experiment_design_check
from tenants.models import Tenant
from training.selectors import model_version_list

VARIANT_FIELDS = ("name", "kind", "model_version", "weight")


def _percent_errors(percent: float | None) -> str:
    if percent is None:
        return _("Give the share of traffic, in percent.")
    if not 0 < percent <= 100:
        return _("The share of traffic is a percentage: more than 0, at most 100.")
    return ""


class ModelVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version) -> str:
        return _("v%(number)d (%(status)s)") % {
            "number": version.number, "status": version.get_status_display()
        }


class VariantForm(forms.Form):
    """One row of the design. Every field may be left empty: a row left empty is no variant."""

    name = forms.CharField(label=gettext_lazy("Name"), required=False, max_length=40)
    kind = forms.ChoiceField(label=gettext_lazy("Serves"), required=False, choices=VariantKind.choices,
                             initial=VariantKind.LIVE)
    model_version = ModelVersionChoiceField(
        label=gettext_lazy("Model version"), required=False, queryset=None,
        empty_label=gettext_lazy("(only for “A model version”)"),
    )
    weight = forms.FloatField(label=gettext_lazy("Weight"), required=False,
                              widget=forms.NumberInput(attrs={"step": "any", "min": "0"}))

    def __init__(self, *args, tenant: Tenant, **kwargs):
        super().__init__(*args, **kwargs)
        # The tenant's versions only: another tenant's id is not a valid choice.
        self.fields["model_version"].queryset = model_version_list(tenant=tenant)

    def is_blank(self) -> bool:
        """Nothing typed in: no name, no weight, no version (the `kind` select always sends a value)."""
        typed = (self.data.get(self.add_prefix(name), "") for name in ("name", "weight", "model_version"))
        return not any(value.strip() for value in typed)

    def variant(self, *, is_control: bool) -> dict[str, Any]:
        """The variant as `experiment_create` takes it."""
        data = self.cleaned_data
        version = data.get("model_version")
        return {
            "name": data.get("name", "").strip(),
            "kind": data.get("kind") or "",
            "model_version": version.pk if version is not None else None,
            "weight": data.get("weight"),
            "is_control": is_control,
        }


class ExperimentForm(forms.Form):
    """A new experiment: its fields, and MAX_VARIANTS rows of variants, blank ones ignored.

    The control is one radio group over the rows (`control`, the row's index), so that
    exactly one row can be marked."""

    # Required: the service refuses a design without each of these. The rest may be left empty.
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=200,
        error_messages={"required": gettext_lazy("Give the experiment a name.")},
    )
    key = forms.CharField(
        label=pgettext_lazy("experiment identifier", "Key"), max_length=60,
        error_messages={"required": gettext_lazy("Give the experiment a key.")},
        help_text=gettext_lazy("Lowercase letters, digits and hyphens, for example new-ranker. "
                               "Your storefront and the API name the experiment by it; it does not change."),
    )
    hypothesis = forms.CharField(
        label=gettext_lazy("Hypothesis"), required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "What you expect, and why: for example, the fine-tuned model raises conversion "
            "because it knows the new catalog."
        ),
    )
    traffic_percent = forms.FloatField(
        label=gettext_lazy("Share of traffic (%)"), initial=100,
        error_messages={"required": gettext_lazy("Give the share of traffic, in percent.")},
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "100"}),
        help_text=gettext_lazy("The shoppers in the experiment; the others are served what everyone gets. "
                               "You can raise or lower it while the experiment runs."),
    )
    primary_metric = forms.ChoiceField(
        label=gettext_lazy("Primary metric"), choices=Metric.choices, initial=Metric.CONVERSION_RATE,
        error_messages={"required": gettext_lazy("Choose the primary metric.")},
        help_text=gettext_lazy("The one metric that decides whether a variant wins."),
    )
    guardrail_metrics = forms.MultipleChoiceField(
        label=gettext_lazy("Guardrail metrics"), required=False, choices=Metric.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Metrics that must not get worse, watched beside the primary metric."),
    )
    # Not required to the form: without it the service names the problem above the variants
    # ("Mark exactly one variant as the control."), where the radios are.
    control = forms.TypedChoiceField(
        label=gettext_lazy("Control"), required=False, coerce=int, empty_value=None,
        choices=[(index, index + 1) for index in range(MAX_VARIANTS)], widget=forms.RadioSelect,
        initial=0,
    )

    def __init__(self, data=None, *, tenant: Tenant):
        super().__init__(data)
        initial_rows = [
            {"name": "control", "kind": VariantKind.LIVE, "weight": 50},
            {"name": "treatment", "kind": VariantKind.MODEL_VERSION, "weight": 50},
        ]
        self.variant_forms = [
            VariantForm(
                data, tenant=tenant, prefix=f"variants-{index}",
                initial=initial_rows[index] if index < len(initial_rows) else None,
            )
            for index in range(MAX_VARIANTS)
        ]
        self.variants_errors: list[str] = []  # about the variants together (no control, too few)
        self._row_of_variant: list[int] = []

    def rows(self) -> list[tuple[int, VariantForm, Any]]:
        """(row number from 1, the row's form, its control radio) for the template."""
        control = self["control"]
        return [(index + 1, row, control[index]) for index, row in enumerate(self.variant_forms)]

    def clean_traffic_percent(self) -> float | None:
        percent = self.cleaned_data.get("traffic_percent")
        problem = _percent_errors(percent)
        if problem:
            raise ValidationError(problem)
        return percent

    def is_valid(self) -> bool:
        rows_valid = [row.is_valid() for row in self.variant_forms]  # every row, so each shows its errors
        return super().is_valid() and all(rows_valid)

    def design(self) -> dict[str, Any]:
        """The keyword arguments of `experiment_create`, less the tenant and the user.
        Call after is_valid()."""
        data = self.cleaned_data
        control_row = data.get("control")
        variants = []
        self._row_of_variant = []
        for index, row in enumerate(self.variant_forms):
            # A blank row is no variant, unless it was marked the control: then its errors show on it.
            if row.is_blank() and index != control_row:
                continue
            variants.append(row.variant(is_control=index == control_row))
            self._row_of_variant.append(index)
        return {
            "name": data.get("name", ""),
            "key": data.get("key", "").strip(),
            "hypothesis": data.get("hypothesis", "").strip(),
            # A percent the form refused is named already; 100 keeps the rules from naming it twice.
            "traffic_share": (data.get("traffic_percent") if "traffic_percent" in data else 100) / 100,
            "primary_metric": data.get("primary_metric", ""),
            "guardrail_metrics": data.get("guardrail_metrics", []),
            "variants": variants,
        }

    def add_service_errors(self, error: ValidationError) -> None:
        """Each of `experiment_create`'s errors beside its field: `variants[i].weight` on the row
        that became variant i, `traffic_share` on the percent field, `variants` above the rows."""
        for key, reasons in error.message_dict.items():
            for reason in reasons:
                self._add_service_error(key, reason)

    def add_design_errors(self, tenant: Tenant) -> None:
        """After the form refused some fields: the service's rules on the rest, so that every bad
        field is named at once. A field the form named already is not named twice."""
        try:
            experiment_design_check(tenant=tenant, **self.design())
        except ValidationError as error:
            self.add_service_errors(error)

    def _add_service_error(self, key: str, reason: str) -> None:
        if key.startswith("variants[") and "]." in key:
            position, field = key[len("variants["):].split("].", 1)
            row = self.variant_forms[self._row_of_variant[int(position)]]
            field = field if field in VARIANT_FIELDS else None
            if not _named_already(row, field):
                row.add_error(field, reason)
        elif key == "variants":
            self.variants_errors.append(reason)
        else:
            field = "traffic_percent" if key == "traffic_share" else key if key in self.fields else None
            if not _named_already(self, field):
                self.add_error(field, reason)


def _named_already(form: forms.Form, field: str | None) -> bool:
    return field is not None and field in form.errors


class TrafficShareForm(forms.Form):
    traffic_percent = forms.FloatField(
        label=gettext_lazy("Share of traffic (%)"), required=False,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "100"}),
    )

    def clean_traffic_percent(self) -> float:
        percent = self.cleaned_data.get("traffic_percent")
        problem = _percent_errors(percent)
        if problem:
            raise ValidationError(problem)
        return percent
