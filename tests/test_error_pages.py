"""Refusals and errors in the merchant UI are pages of the product, in the reader's language,
with a way back; never Django's bare English pages."""
import re

import pytest
from django.test import RequestFactory
from django.utils import translation

from tenants.models import Role
from tests.factories import UserFactory

CHINESE = re.compile("[\u4e00-\u9fff]")


def _in_chinese(client):
    client.cookies["django_language"] = "zh-hans"


def test_a_learner_refused_a_managers_page_is_told_why_in_chinese_with_a_way_back(client, member_with_role):
    client.force_login(member_with_role(Role.LEARNER))
    _in_chinese(client)
    response = client.get("/catalog/import/")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'lang="zh-hans"' in html and 'id="error-page"' in html
    with translation.override("zh-hans"):
        assert translation.gettext("Only owners and admins can do this.") in html
    assert 'href="/"' in html and "Forbidden" not in html


def test_a_missing_page_is_a_product_page_in_chinese(client, merchant_user):
    client.force_login(merchant_user)
    _in_chinese(client)
    response = client.get("/training/jobs/999999/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="error-page"' in html and CHINESE.search(html)
    assert "No TrainingJob matches" not in html  # Django's text, about our models


def test_a_server_error_page_renders_without_a_request_context(db):
    from django.views.defaults import server_error

    request = RequestFactory().get("/")
    with translation.override("zh-hans"):
        html = server_error(request).content.decode()
    assert 'id="error-page"' in html and 'lang="zh-hans"' in html and CHINESE.search(html)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LEARNER])
def test_members_who_cannot_import_are_not_shown_links_to_the_import_page(client, member_with_role, role):
    client.force_login(member_with_role(role))
    for page in ("/", "/catalog/"):
        assert 'href="/catalog/import/"' not in client.get(page).content.decode(), page


def test_an_owner_is_shown_the_import_links(client, merchant_user):
    client.force_login(merchant_user)
    assert 'href="/catalog/import/"' in client.get("/").content.decode()


def test_staff_who_belong_to_no_store_are_pointed_to_the_ops_console(client, db):
    client.force_login(UserFactory(is_staff=True))
    html = client.get("/").content.decode()
    assert 'href="/ops/"' in html
    assert "Ask an owner of your store to invite you" not in html
