"""Lesson bodies: Markdown to HTML that is safe to show, whoever wrote the lesson.

Python-Markdown renders (it passes raw HTML through, by design); nh3, the
binding of the Rust `ammonia` sanitiser, then keeps only the tags, attributes
and URL schemes allowed below. Sanitising the *output* is what makes a
<script> in a lesson never run, whatever Markdown or raw HTML produced it.
"""

import markdown as python_markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "strong", "em", "b", "i", "code", "pre", "blockquote", "del",
    "ul", "ol", "li", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    # fenced_code writes class="language-python": kept for syntax highlighting.
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
}
# Relative URLs (an image next to the lesson) stay; any absolute URL must use one of these.
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
# Removed with their content, not just their tags: the text of a script is no lesson.
REMOVED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template"}


def markdown_to_safe_html(text: str) -> str:
    """Render Markdown (fenced code blocks, tables) and sanitise the HTML."""
    html = python_markdown.markdown(text, extensions=["fenced_code", "tables"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=REMOVED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
