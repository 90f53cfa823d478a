"""Tells drf-spectacular how our API key authentication looks in OpenAPI."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
