"""Lexical product search: the SKUs whose text matches a shopper's query, best first.

PostgreSQL ranks with its full-text search, over a stored and indexed document
of each product (catalog migration 0002); other databases (SQLite in tests and
on a laptop) fall back to matching every word as a substring.
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
    params: tuple[str, ...] = (SEARCH_CONFIG, query)
    if all(_PLAIN_WORD.match(word) for word in words) and not any(word.lower() == "or" for word in words):
        # Every word also as a prefix, so a half-typed "espress" finds "espresso".
        # The words are \w only, so quoting them cannot break out of the tsquery.
        prefixes = " & ".join(f"'{word}'" if _whole_word_only(word) else f"'{word}':*" for word in words)
        tsquery = f"({tsquery} || to_tsquery(%s::regconfig, %s))"
        params += (SEARCH_CONFIG, prefixes)
    return (
        products.filter(RawSQL(f"{document} @@ {tsquery}", params, output_field=BooleanField()))
        .annotate(rank=RawSQL(f"ts_rank({document}, {tsquery})", params, output_field=FloatField()))
        .order_by("-rank", "external_id")
    )


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
