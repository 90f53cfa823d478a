"""The language menu in the top bar switches the whole console to Simplified Chinese and back."""

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Role
from tests.browser.conftest import NEEDS_CHROMIUM, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture
def merchant():
    user = UserFactory(username="owner@acme.test")
    MembershipFactory(tenant=TenantFactory(name="Acme Grocer"), user=user, role=Role.OWNER)
    return user


@pytest.mark.django_db(transaction=True)
def test_choosing_chinese_in_the_language_menu_translates_the_page_and_it_stays_so(page: Page, merchant):
    log_in(page, merchant.username)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog")).to_be_visible()

    # The menu submits itself on change (no button): what a person does with a mouse.
    page.get_by_label("Language").select_option("zh-hans")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    navigation = page.get_by_role("navigation", name="主导航")
    expect(navigation.get_by_role("link", name="商品目录")).to_be_visible()
    expect(navigation.get_by_role("link", name="Catalog")).to_have_count(0)

    navigation.get_by_role("link", name="微调").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_label("语言").select_option("en")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Fine-tuning")).to_be_visible()
