"""The paginator of every API list: a page number that is no page number is a 400 naming `page`."""

import pytest
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from tenants.api_params import PageNumberPagination


def _page(query: dict) -> list:
    request = Request(APIRequestFactory().get("/api/v1/things", query))
    paginator = PageNumberPagination()
    paginator.page_size = 2
    return paginator.paginate_queryset(list(range(5)), request)


@pytest.mark.parametrize("page", ["abc", "0", "-1", "", "last", "1.5"])
def test_a_page_number_that_is_not_a_whole_number_from_1_is_a_400_naming_page(page):
    with pytest.raises(ValidationError) as refused:
        _page({"page": page})
    assert list(refused.value.detail) == ["page"]


def test_a_well_formed_page_number_past_the_last_page_stays_a_404_and_only_it():
    assert _page({}) == [0, 1]
    assert _page({"page": "3"}) == [4]
    with pytest.raises(NotFound):
        _page({"page": "4"})
    with pytest.raises(ValidationError):
        _page({"page": "four"})
