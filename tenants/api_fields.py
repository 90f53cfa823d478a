"""Serializer fields and checks that API input serializers share."""

import math
from collections.abc import Mapping
from typing import ClassVar

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """DRF's FloatField, refusing NaN and the infinities.

    DRF's takes whatever float() takes: "NaN", "Infinity", "1e999", which overflows to
    infinity, and true and false. No quantity of ours is infinite, a NaN slips past min_value
    and max_value (it compares False with every bound), and either one stored breaks every later
    JSON answer that holds it (JSON has no NaN or Infinity).
    """

    default_error_messages: ClassVar[dict] = {"not_finite": gettext_lazy("Must be a finite number.")}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            # float(True) is 1.0: `{"traffic_share": true}` would be a whole experiment's traffic.
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class DecimalInputField(serializers.DecimalField):
    """DRF's DecimalField, for a request body: the schema shows what DRF reads (tenants.schema).

    DRF takes a JSON number as well as a string of digits, but drf-spectacular types every
    DecimalField as the string DRF writes, with a pattern that lets in a minus sign whatever
    min_value says. With `rounding`, DRF rounds digits past decimal_places rather than refusing
    them, and the schema says so.
    """


def unknown_field_reason(fields) -> str:
    """The reason a key is refused, naming the ones taken: UnknownFieldsRefusedMixin's, and that of a
    view checking its body by hand (catalog.apis.events)."""
    return _("Unknown field. The fields are: %(fields)s.") % {"fields": ", ".join(fields)}


class UnknownFieldsRefusedMixin:
    """For a Serializer: a key it has no field for is an error naming the key, not dropped.

    DRF drops such keys silently, and a misspelt one (`trafic_share`) leaves the client
    believing its value was taken when the default was. The errors of the known fields, if
    any, come in the same 400.
    """

    def unknown_field_reason(self) -> str:
        return unknown_field_reason(self.fields)

    def to_internal_value(self, data):
        unknown = [key for key in data if key not in self.fields] if isinstance(data, Mapping) else []
        unknown_errors = {str(key): [self.unknown_field_reason()] for key in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, dict):
                error.detail.update(unknown_errors)
            raise
        if unknown_errors:
            raise serializers.ValidationError(unknown_errors)
        return value


class NoFieldsInputSerializer(UnknownFieldsRefusedMixin, serializers.Serializer):
    """The body of an operation that takes none (start, cancel, promote, delete): every key sent is
    refused, as UnknownFieldsRefusedMixin refuses a misspelt one. A client sending `{"force": true}`
    to a promotion would otherwise believe it was heard. See `no_body_check`."""

    def unknown_field_reason(self) -> str:
        return _("Unknown field. This request takes no fields.")


def no_body_check(request) -> None:
    """A 400 naming each key of the request's body, for an operation that takes no body. No body, an
    empty object or JSON null passes; anything else that is not an object is refused as DRF refuses it.

    Call it first, before looking anything up: the request's shape is wrong whatever it names, as
    validated_query's checks come first.
    """
    data = {} if request.data is None else request.data
    NoFieldsInputSerializer(data=data).is_valid(raise_exception=True)
