"""Query parameters checked as strictly as a request body."""

from django.utils.translation import gettext as _
from rest_framework import serializers


def validated_query(
    request, serializer_class: type[serializers.Serializer], *, lists: tuple[str, ...] = ()
) -> dict:
    """The query parameters validated by `serializer_class`; a 400 names each bad one.

    A misspelt parameter would otherwise be ignored silently, and the client
    would take an unfiltered answer for a filtered one, so unknown names are
    refused. `lists` names the parameters that may repeat or hold
    comma-separated values (`exclude=A,B&exclude=C`).
    """
    fields = serializer_class().fields
    unknown = sorted(set(request.query_params) - set(fields))
    if unknown:
        raise serializers.ValidationError({name: [_("Unknown query parameter.")] for name in unknown})
    data = request.query_params.dict()
    for name in lists:
        if name in request.query_params:
            data[name] = [
                value.strip()
                for joined in request.query_params.getlist(name)
                for value in joined.split(",")
                if value.strip()
            ]
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
