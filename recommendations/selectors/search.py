"""Lexical product search: the SKUs whose text matches a shopper's query, best first.

PostgreSQL ranks with its full-text search, over a stored and indexed document
of each product (catalog migrations 0002 and 0004); other databases (SQLite in
tests and on a laptop) fall back to matching every word as a substring.

Chinese and Japanese write no spaces between words, so the document also holds
each run of their characters as single characters and overlapping pairs (0004),
and a query's run is asked for as the phrase of its pairs: "纯牛奶" is
'纯牛' <-> '牛奶', which "有机纯牛奶" holds.
"""

from __future__ import annotations

import functools
import operator
import re

from django.db import connections
from django.db.models import BooleanField, Case, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from catalog.models import Product
from tenants.models import Tenant

# "simple" lowercases and does no stemming or stop words: a catalog may be in
# any language, and a tenant's language is not known here.
SEARCH_CONFIG = "simple"

# Hiragana and katakana, CJK Unified Ideographs (extension A and the main block), compatibility
# ideographs: keep in step with catalog migration 0004's CJK_RUN, which indexes these runs.
CJK_CHARACTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")
_CJK_OR_OTHER_RUN = re.compile(f"[{CJK_CHARACTERS}]+|[^{CJK_CHARACTERS}]+")

# A query of plain words only, with no quotes, "-", or "or": websearch syntax
# would give it no operators, so prefix matching cannot change its meaning.
_PLAIN_WORD = re.compile(r"^\w+$")


def _whole_word_only(word: str) -> bool:
    """A single Latin letter or digit ("a", "5") matches as a word of its own, not as the start
    (or, on SQLite, any part) of every word that holds it: "a" would otherwise match most of a
    catalog. A single Chinese character is a word, and matches inside a text as before."""
    return len(word) < 2 and word.isascii()


def lexical_search(*, tenant: Tenant, query: str, limit: int = 100, in_stock_only: bool = False) -> list[str]:
    """The SKUs (external_id) of the tenant's products that match `query`, best first, at most `limit`.

    A blank query matches nothing. `in_stock_only` leaves out-of-stock products out before the
    limit, so they do not take the places of matches a shopper can buy.
    """
    words = query.split()
    if not words or limit <= 0:
        return []
    products = Product.objects.filter(tenant=tenant)
    if in_stock_only:
        products = products.filter(in_stock=True)
    if connections[products.db].vendor == "postgresql":
        ranked = _full_text_ranked(products, query=query, words=words)
    else:
        ranked = _every_word_ranked(products, words=words)
    return list(ranked.values_list("external_id", flat=True)[:limit])


def _full_text_ranked(products: QuerySet[Product], *, query: str, words: list[str]) -> QuerySet[Product]:
    # search_document is the stored tsvector that catalog migration 0002 adds on
    # PostgreSQL (title A, brand and category B, description C, "simple"), with
    # a GIN index: not a model field, so only raw SQL can name it. The index is
    # not per tenant; the tenant filter applies to the rows it finds.
    document = f"{connections[products.db].ops.quote_name(Product._meta.db_table)}.search_document"
    tsquery = "websearch_to_tsquery(%s::regconfig, %s)"
    params: tuple[str, ...] = (SEARCH_CONFIG, _cjk_runs_as_indexed(query))
    if all(_PLAIN_WORD.match(word) for word in words) and not any(word.lower() == "or" for word in words):
        # Every word also as a prefix, so a half-typed "espress" finds "espresso".
        # The words are \w only, so quoting them cannot break out of the tsquery.
        prefixes = " & ".join(_prefix_term(word) for word in words)
        tsquery = f"({tsquery} || to_tsquery(%s::regconfig, %s))"
        params += (SEARCH_CONFIG, prefixes)
    return (
        products.filter(RawSQL(f"{document} @@ {tsquery}", params, output_field=BooleanField()))
        .annotate(rank=RawSQL(f"ts_rank({document}, {tsquery})", params, output_field=FloatField()))
        .order_by("-rank", "external_id")
    )


def _cjk_pairs(run: str) -> list[str]:
    """A run of Chinese or Japanese characters as the document indexes it: one or two characters
    as themselves, a longer run as its overlapping pairs ("纯牛奶" -> 纯牛, 牛奶)."""
    return [run] if len(run) <= 2 else [run[start : start + 2] for start in range(len(run) - 1)]


def _cjk_runs_as_indexed(query: str) -> str:
    """The query for websearch_to_tsquery, with each Chinese or Japanese run spaced from letters
    and digits glued to it ("iphone手机壳") and, when longer than two characters, quoted as the
    phrase of its pairs. Within the shopper's own quotes the pairs are left unquoted: they are
    already in a phrase. A "-" before a run still excludes it."""

    def as_indexed(match: re.Match) -> str:
        run, (start, end) = match.group(), match.span()
        pairs = " ".join(_cjk_pairs(run))
        if len(run) > 2 and query.count('"', 0, start) % 2 == 0:
            pairs = f'"{pairs}"'
        before = " " if start > 0 and query[start - 1].isalnum() else ""
        after = " " if end < len(query) and query[end].isalnum() else ""
        return f"{before}{pairs}{after}"

    return _CJK_RUN.sub(as_indexed, query)


def _prefix_term(word: str) -> str:
    """A plain word for to_tsquery: each Latin or digit part a prefix (a single letter a whole
    word), each Chinese or Japanese run the phrase of its pairs."""
    terms = []
    for part in _CJK_OR_OTHER_RUN.findall(word):
        if _CJK_RUN.fullmatch(part):
            terms.append("(" + " <-> ".join(f"'{pair}'" for pair in _cjk_pairs(part)) + ")")
        else:
            terms.append(f"'{part}'" if _whole_word_only(part) else f"'{part}':*")
    return " & ".join(terms)


def _every_word_ranked(products: QuerySet[Product], *, words: list[str]) -> QuerySet[Product]:
    for word in words:
        if _whole_word_only(word):
            pattern = rf"\b{re.escape(word)}\b"
            products = products.filter(
                Q(title__iregex=pattern)
                | Q(brand__iregex=pattern)
                | Q(category__iregex=pattern)
                | Q(description__iregex=pattern)
            )
            continue
        products = products.filter(
            Q(title__icontains=word)
            | Q(brand__icontains=word)
            | Q(category__icontains=word)
            | Q(description__icontains=word)
        )
    title_hits = functools.reduce(
        operator.add,
        [
            Case(When(title__icontains=word, then=Value(1)), default=Value(0), output_field=IntegerField())
            for word in words
        ],
    )
    return products.annotate(title_hits=title_hits).order_by("-title_hits", "external_id")
