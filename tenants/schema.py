"""Tells drf-spectacular what our API does that it cannot see: the API key authentication, the
refusals every tenant API view may answer, and the decimals a request body may send.

REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS names AutoSchema; the extensions register themselves when
TenantsConfig.ready imports this module:
https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""
from decimal import Decimal

from drf_spectacular import openapi
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from rest_framework import serializers

from tenants.api import TenantApiView


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A tenant API key: `sk_...` (secret, server side) or `pk_...` (publishable, browsers)."
            ),
        }


class DecimalInputFieldScheme(OpenApiSerializerFieldExtension):
    """A DecimalInputField as DRF reads it: a JSON number, or a string of digits."""

    target_class = "tenants.api_fields.DecimalInputField"

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        whole_digits = field.max_digits - field.decimal_places
        largest = field.max_value if field.max_value is not None else (
            Decimal(10) ** whole_digits - Decimal(10) ** -field.decimal_places
        )
        smallest = field.min_value if field.min_value is not None else -largest
        # With `rounding`, digits past decimal_places are rounded off rather than refused.
        decimals = r"\d+" if field.rounding else rf"\d{{1,{field.decimal_places}}}"
        sign = "-?" if smallest < 0 else ""
        return {
            "oneOf": [
                {"type": "number", "minimum": smallest, "maximum": largest},
                {
                    "type": "string",
                    "format": "decimal",
                    "pattern": rf"^{sign}\d{{1,{whole_digits}}}(?:\.{decimals})?$",
                },
            ]
        }


class ErrorSerializer(serializers.Serializer):
    """The body of DRF's refusals (its exception handler): one message."""

    detail = serializers.CharField(help_text="Why, in the request's language (Accept-Language).")

    class Meta:
        ref_name = "Error"


class FieldErrorsSerializer(serializers.Serializer):
    """The body of a 400 from a serializer's validation: each refused field with its reasons.

    Only a marker: its schema is FieldErrorsScheme's, since a serializer cannot list fields whose
    names depend on the request. For a response that is either this or the view's own body, as
    `PolymorphicProxySerializer(..., serializers=[TheBody, FieldErrorsSerializer])`."""

    class Meta:
        ref_name = "FieldErrors"


class FieldErrorsScheme(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": "Each refused field, `non_field_errors` for the body as a whole, with its reasons.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"products": ["This field is required."]},
        }


UNAUTHENTICATED = "No API key, or one that is not valid or has been revoked."
PUBLISHABLE_KEY_REFUSED = "A publishable key: this endpoint takes secret keys only."
ORIGIN_REFUSED = (
    "A publishable key sent from a web page whose origin (the `Origin` header) your store does not "
    "allow: add the storefront's origin to the allowed web origins on the API keys page. The page "
    "that was refused can read this answer; the platform's own pages (these docs) are always allowed."
)
PAGE_PAST_THE_LAST = "A page past the last one (`Invalid page.`)."
THROTTLED = "Too many requests with this key: wait the seconds that `Retry-After` gives, then send again."
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": '`Bearer realm="api"`', "schema": {"type": "string"}}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, declaring once, for every tenant API view, the refusals that come from
    TenantApiView, the authentication, the throttles and the pagination rather than from the view's
    own code, so that no view's @extend_schema has to repeat them (or forgets to)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not isinstance(self.view, TenantApiView):
            return operation  # excluded from the schema, or not ours
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        _declare(responses, "401", UNAUTHENTICATED, error, WWW_AUTHENTICATE)
        key_refused = ORIGIN_REFUSED if self.view.publishable_key_allowed else PUBLISHABLE_KEY_REFUSED
        _declare(responses, "403", key_refused, error)
        # Views set a pagination_class on their lists only; DRF answers a page past the last with a 404.
        if self.method == "GET" and getattr(self.view, "pagination_class", None) is not None:
            _declare(responses, "404", PAGE_PAST_THE_LAST, error)
        if self.view.throttle_classes:
            _declare(responses, "429", THROTTLED, error, RETRY_AFTER)
        return operation


def _declare(responses: dict, status_code: str, description: str, schema: dict, headers=None) -> None:
    """Adds a refusal to an operation's responses. OpenAPI holds one response per status code: one
    that the view declares already keeps its description and body, and gains this cause beside them."""
    response = responses.setdefault(status_code, {"description": ""})
    response["description"] = f"{response['description']} {description}".strip()
    content = response.setdefault("content", {}).setdefault("application/json", {})
    declared = content.get("schema")
    if declared is None:
        content["schema"] = schema
    elif declared != schema:
        content["schema"] = {"anyOf": [declared, schema]}
    if headers:
        response.setdefault("headers", {}).update(headers)
