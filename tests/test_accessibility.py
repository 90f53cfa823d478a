"""What a screen reader or keyboard user meets on the merchant pages (WCAG 2.2 AA), in English and
in Chinese: labels and errors tied to their fields, text alternatives for the charts, live regions
for the parts that update themselves, and no words a page was not meant to show."""
import re
from pathlib import Path

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
