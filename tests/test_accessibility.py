"""What a screen reader or keyboard user meets on the merchant pages (WCAG 2.2 AA), in English and
in Chinese: labels and errors tied to their fields, text alternatives for the charts, live regions
for the parts that update themselves, and no words a page was not meant to show."""
import re
from html.parser import HTMLParser
from pathlib import Path

from django.urls import reverse

from tenants.models import ApiKeyKind

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_comment_runs_over_two_lines():
    """Django ends a {# #} comment at its line: one over two lines is printed on the page, in English
    on a Chinese page too. Longer comments take {% comment %}."""
    unclosed = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert not unclosed, f"use {{% comment %}} for these: {unclosed}"


class _Elements(HTMLParser):
    """The ids of a page, and the ids its elements point to with aria-describedby."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.described: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        if attributes.get("aria-describedby"):
            name = attributes.get("name") or attributes.get("id") or tag
            self.described[name] = attributes["aria-describedby"].split()


def descriptions_pointing_nowhere(page: str) -> dict[str, list[str]]:
    elements = _Elements()
    elements.feed(page)
    return {
        name: missing
        for name, ids in elements.described.items()
        if (missing := [id_ for id_ in ids if id_ not in elements.ids])
    }


def description_of(page: str, name: str) -> str:
    """The text a screen reader reads after the field `name`'s label: what its aria-describedby names."""
    elements = _Elements()
    elements.feed(page)
    return " ".join(
        re.sub(r"<[^>]+>", " ", re.search(rf'id="{id_}"[^>]*>(.*?)</(?:span|div|small|p)>', page, re.S).group(1))
        for id_ in elements.described[name]
    )


def test_a_refused_login_is_read_out_with_the_email_field(client, merchant_user):
    page = client.post("/login/", {"username": "owner@acme.test", "password": "nope"}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert 'id="id_username"' in page and 'aria-invalid="true"' in page
    assert "password is wrong" in description_of(page, "username")


def test_an_error_of_the_api_key_form_is_tied_to_its_field(owner_client):
    page = owner_client.post("/settings/api-keys/", {"name": "", "kind": ApiKeyKind.SECRET}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "required" in description_of(page, "name")


def test_an_import_without_a_file_ties_the_error_to_the_file_field(owner_client):
    page = owner_client.post(reverse("product-import"), {"file": ""}).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "required" in description_of(page, "file")


def test_the_auto_promote_switch_names_its_help_text(owner_client):
    page = owner_client.get(reverse("model-version-list")).content.decode()

    assert not descriptions_pointing_nowhere(page)
    assert "candidates" in description_of(page, "auto_promote_models")

