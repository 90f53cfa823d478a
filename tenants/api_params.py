"""Query parameters checked as strictly as a request body."""

from django.utils.translation import gettext as _
from rest_framework import pagination, serializers


def validated_query(
    request, serializer_class: type[serializers.Serializer], *, lists: tuple[str, ...] = ()
) -> dict:
    """The query parameters validated by `serializer_class`; a 400 names each bad one.

    A misspelt parameter would otherwise be ignored silently, and the client
    would take an unfiltered answer for a filtered one, so unknown names are
    refused. `lists` names the parameters that may repeat or hold
    comma-separated values (`exclude=A,B&exclude=C`); any other given twice is
    refused too, where QueryDict would keep the last value and drop the others
    (`limit=5&limit=50`).
    """
    fields = serializer_class().fields
    unknown = sorted(set(request.query_params) - set(fields))
    errors = {name: [_("Unknown query parameter.")] for name in unknown}
    for name, values in request.query_params.lists():
        if name in fields and name not in lists and len(values) > 1:
            errors[name] = [_("Give this parameter once.")]
    if errors:
        raise serializers.ValidationError(errors)
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


class PageQuerySerializer(serializers.Serializer):
    """The query of a list that has no filter: its page, and nothing else (for validated_query)."""

    page = serializers.IntegerField(required=False, min_value=1)


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's, but a page number that is no page number (`abc`, `0`) is a 400 naming `page`.

    DRF answers it 404 "Invalid page.", as if the list were not there, where every other bad
    query parameter is a 400 (validated_query). A well-formed number past the last page stays
    DRF's 404: the request is fine, that page does not exist.
    """

    # DRF also takes page=last; validated_query's `page` (PageQuerySerializer, the products' and
    # jobs' filters) never did, and one list should not take what another refuses.
    last_page_strings = ()

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters

    def get_page_number(self, request, paginator):
        given = request.query_params.get(self.page_query_param)
        if given is None:
            return 1
        try:
            return PageQuerySerializer().fields["page"].run_validation(given)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({self.page_query_param: error.detail})
