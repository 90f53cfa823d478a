"""Lexical product search: the SKUs whose text matches a shopper's query, best first.

PostgreSQL ranks with its full-text search, over a stored and indexed document
of each product (catalog migrations 0002 and 0004); other databases (SQLite in
tests and on a laptop) fall back to matching every word as a substring.

Chinese and Japanese write no spaces between words, so the document also holds
each run of their characters as single characters and overlapping pairs (0004).
A query's run of one or two characters is asked for as written; a longer one,
often several words written together, by at least half of its pairs, products
holding more of them first: "有机牛奶" (有机, 机牛, 牛奶) finds "有机纯牛奶".
On SQLite the pairs are matched as substrings, to the same rule.

Traditional and simplified Chinese find each other (蘋果 and 苹果, 手機殼 and 手机壳): the query and
the products' text are both folded to simplified characters before the pairs are made, the query
here, the text in the stored document (catalog migration 0006); on SQLite each Chinese character
of the query matches every character that folds to it (catalog/chinese.py). Only matching sees
the folded text; products are shown as written.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata

from django.db import connections
from django.db.models import (
    BooleanField,
    Case,
    F,
    FloatField,
    IntegerField,
    Lookup,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Combinable, RawSQL

from catalog.chinese import simplified, spellings
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
_LETTERS_OR_DIGITS = re.compile(r"\d+|[^\W\d]+")


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
    # Full-width letters and digits, half-width katakana, as input methods type them, and
    # traditional Chinese characters as simplified ones: as indexed.
    as_typed = unicodedata.normalize("NFKC", query)
    query = simplified(as_typed)
    # Only words to leave out ("-milk") ask for nothing: not the whole catalog.
    if all(word.startswith("-") for word in query.split()) or limit <= 0:
        return []
    products = Product.objects.filter(tenant=tenant)
    if in_stock_only:
        products = products.filter(in_stock=True)
    postgresql = connections[products.db].vendor == "postgresql"
    found = _ranked_skus(products, query, limit=limit, postgresql=postgresql)
    if postgresql and as_typed != query and len(found) < limit:
        # A stored document that catalog migration 0006 has not refolded yet (it refolds in batches
        # while the store is live, and a stopped run is finished by the next `migrate`) holds its
        # traditional characters as written: the query as typed still finds it, after the rest.
        found += _ranked_skus(products.exclude(external_id__in=found), as_typed, limit=limit - len(found),
                              postgresql=True)
    return found


def _ranked_skus(products: QuerySet[Product], query: str, *, limit: int, postgresql: bool) -> list[str]:
    rest, runs = _long_runs_apart(query)
    if postgresql:
        ranked = _full_text_ranked(products, query=rest, runs=runs)
    else:
        ranked = _every_word_ranked(products, words=rest.split(), runs=runs)
    return list(ranked.values_list("external_id", flat=True)[:limit])


def _long_runs_apart(query: str) -> tuple[str, list[str]]:
    """(the query without its Chinese or Japanese runs of three characters or more, those runs).

    Such a run is often several words written together ("有机牛奶" is 有机 and 牛奶, and a product
    may say "有机纯牛奶"): it is matched by its pairs of characters, a product needing at least
    half of them (`_pairs_needed`), and products holding more of them first. A run the shopper
    quoted, or excluded with "-", stays in the query, where it means the exact phrase."""
    runs: list[str] = []

    def taken(match: re.Match) -> str:
        run, start = match.group(), match.start()
        quoted = query.count('"', 0, start) % 2 == 1
        excluded = start > 0 and query[start - 1] == "-"
        if len(run) <= 2 or quoted or excluded:
            return run
        runs.append(run)
        return " "

    return _CJK_RUN.sub(taken, query), runs


def _pairs_needed(pairs: list[str]) -> int:
    return (len(pairs) + 1) // 2


def _full_text_ranked(products: QuerySet[Product], *, query: str, runs: list[str]) -> QuerySet[Product]:
    # search_document is the stored tsvector that catalog migrations 0002 and 0004 add on
    # PostgreSQL (title A, brand and category B, description C, "simple"), with
    # a GIN index: not a model field, so only raw SQL can name it. The index is
    # not per tenant; the tenant filter applies to the rows it finds.
    document = f"{connections[products.db].ops.quote_name(Product._meta.db_table)}.search_document"
    ranked_by: list[tuple[str, tuple[str, ...]]] = []  # tsqueries whose matches rank a product
    words = query.split()
    if words:
        tsquery = "websearch_to_tsquery(%s::regconfig, %s)"
        params: tuple[str, ...] = (SEARCH_CONFIG, _cjk_runs_as_indexed(query))
        if all(_PLAIN_WORD.match(word) for word in words) and not any(word.lower() == "or" for word in words):
            # Every word also as a prefix, so a half-typed "espress" finds "espresso".
            # The words are \w only, so quoting them cannot break out of the tsquery.
            prefixes = " & ".join(_prefix_term(word) for word in words)
            tsquery = f"({tsquery} || to_tsquery(%s::regconfig, %s))"
            params += (SEARCH_CONFIG, prefixes)
        products = products.filter(RawSQL(f"{document} @@ {tsquery}", params, output_field=BooleanField()))
        ranked_by.append((tsquery, params))
    pairs_matched, pairs_params = [], []
    for run in runs:
        pairs = _cjk_pairs(run)
        # CJK characters only: quoting them cannot break out of the tsquery.
        any_pair = (
            "to_tsquery(%s::regconfig, %s)",
            (SEARCH_CONFIG, " | ".join(f"'{pair}'" for pair in pairs)),
        )
        matched = " + ".join(f"({document} @@ to_tsquery(%s::regconfig, %s))::int" for _pair in pairs)
        matched_params = tuple(value for pair in pairs for value in (SEARCH_CONFIG, f"'{pair}'"))
        products = products.filter(
            RawSQL(f"{document} @@ {any_pair[0]}", any_pair[1], output_field=BooleanField()),
            RawSQL(
                f"({matched}) >= %s", (*matched_params, _pairs_needed(pairs)), output_field=BooleanField()
            ),
        )
        pairs_matched.append(matched)
        pairs_params.extend(matched_params)
        ranked_by.append(any_pair)
    combined = " || ".join(tsquery for tsquery, _params in ranked_by)
    combined_params = tuple(value for _tsquery, params in ranked_by for value in params)
    return products.annotate(
        # A bare 0 in ORDER BY would name a column: without runs, a value.
        pairs_matched=RawSQL(" + ".join(pairs_matched), tuple(pairs_params), output_field=IntegerField())
        if pairs_matched
        else Value(0),
        rank=RawSQL(f"ts_rank({document}, {combined})", combined_params, output_field=FloatField()),
    ).order_by("-pairs_matched", "-rank", "external_id")


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


def _letters_and_digits(word: str) -> list[str]:
    """ "iphone15" -> ["iphone", "15"]: a model number typed together that a title may write
    apart ("iPhone 15"); [] when the word does not split so, or a part would be a single letter
    or digit (too loose to ask for alone)."""
    parts = _LETTERS_OR_DIGITS.findall(word)
    return parts if len(parts) > 1 and all(len(part) > 1 for part in parts) else []


def _prefix_term(word: str) -> str:
    """A plain word for to_tsquery: each Latin or digit part a prefix (a single letter a whole
    word), or its letters and digits apart; each Chinese or Japanese run the phrase of its pairs."""
    terms = []
    for part in _CJK_OR_OTHER_RUN.findall(word):
        if _CJK_RUN.fullmatch(part):
            terms.append("(" + " <-> ".join(f"'{pair}'" for pair in _cjk_pairs(part)) + ")")
        elif apart := _letters_and_digits(part):
            terms.append(f"('{part}':* | (" + " & ".join(f"'{piece}':*" for piece in apart) + "))")
        else:
            terms.append(f"'{part}'" if _whole_word_only(part) else f"'{part}':*")
    return " & ".join(terms)


_TEXT_FIELDS = ("title", "brand", "category", "description")


class _Glob(Lookup):
    """SQLite's `lhs GLOB rhs`, as an expression for filter() and When()."""

    lookup_name = "glob"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} GLOB {rhs}", (*lhs_params, *rhs_params)


def _glob_holding(text: str) -> str:
    """A GLOB pattern of the texts that hold `text` (folded) in either script: each Chinese
    character as any character that folds to it ("苹果" -> "*[苹蘋]果*"), ASCII letters in either
    case as LIKE matches them, "*", "?" and "[" as themselves. Folding maps each character to one,
    so this matches exactly the texts whose folded form holds `text`."""
    pattern = []
    for character in text:
        if character.isascii() and character.isalpha():
            pattern.append(f"[{character.lower()}{character.upper()}]")
        elif character in "*?[":
            pattern.append(f"[{character}]")
        else:
            forms = spellings(character)
            pattern.append(f"[{forms}]" if len(forms) > 1 else character)
    return "*" + "".join(pattern) + "*"


def _holds(field: str, text: str) -> Q:
    """The field holds `text`, regardless of case; Chinese characters in either script. LIKE
    (icontains) where no character of `text` has another form: it is the faster."""
    if any(len(spellings(character)) > 1 for character in text if _CJK_RUN.match(character)):
        return Q(_Glob(F(field), Value(_glob_holding(text))))
    return Q(**{f"{field}__icontains": text})


def _anywhere(text: str) -> Q:
    return functools.reduce(operator.or_, (_holds(field, text) for field in _TEXT_FIELDS))


def _every_word_ranked(
    products: QuerySet[Product], *, words: list[str], runs: list[str]
) -> QuerySet[Product]:
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
        apart = _letters_and_digits(word)
        products = products.filter(
            _anywhere(word) | functools.reduce(operator.and_, map(_anywhere, apart))
            if apart
            else _anywhere(word)
        )
    pairs_matched = []
    for run in runs:
        pairs = _cjk_pairs(run)
        matched = _sum(
            [
                Case(When(_anywhere(pair), then=Value(1)), default=Value(0), output_field=IntegerField())
                for pair in pairs
            ]
        )
        name = f"run_{len(pairs_matched)}_pairs"
        products = products.alias(**{name: matched}).filter(**{f"{name}__gte": _pairs_needed(pairs)})
        pairs_matched.append(matched)
    title_hits = _sum(
        [
            Case(When(_holds("title", text), then=Value(1)), default=Value(0), output_field=IntegerField())
            for text in [*words, *(pair for run in runs for pair in _cjk_pairs(run))]
        ]
    )
    return products.annotate(pairs_matched=_sum(pairs_matched), title_hits=title_hits).order_by(
        "-pairs_matched", "-title_hits", "external_id"
    )


def _sum(terms: list) -> Combinable:
    """The terms added up as a balanced tree, Value(0) for none. Added one after the other, the
    SQL nests as deep as there are terms, and SQLite's parser refuses a query of a hundred (a
    "parser stack overflow"): the 200 characters the API takes hold that many words or pairs."""
    if not terms:
        return Value(0)
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _sum(terms[:middle]) + _sum(terms[middle:])
