"""Traditional Chinese characters folded to simplified ones, for search: 蘋果 and 苹果 match.

Stores selling to Hong Kong and Taiwan hold both scripts in their catalogs, and their shoppers
type both. Search folds both sides to simplified before it makes the pairs of characters it
matches (recommendations.selectors.search): the shopper's query here, in Python; a product's text
in PostgreSQL's stored search document (`catalog_search_terms`, catalog migration 0006). SQLite
holds no document: there the folded query's Chinese characters match each character that folds
to them (`spellings`), which is the same. Only search sees the folded text: products are stored,
listed and shown as the merchant wrote them.

Character by character, with OpenCC's Traditional-to-Simplified character table (the `opencc`
package, pinned in requirements.txt): 蘋 -> 苹, 機 -> 机. No phrase conversion, neither OpenCC's
t2s phrases (乾隆 keeps 乾 there) nor regional words (Taiwan's 軟體 for 软件): a phrase converts
by its context, so the same characters could fold one way in a title and another in a query,
while a character folds the same way everywhere, which is what makes both sides meet. A
simplified character that stands for several traditional ones (发 for 發 and 髮, 后 for 後 and 后)
makes those alike to search: a query finds a little more, never less.

The table keeps the characters that search treats as Chinese or Japanese (CJK_CHARACTERS in
recommendations.selectors.search; the compatibility ideographs are NFKC-normalised first), and
simplified forms among them: the 190 or so whose simplified form lies outside the Basic
Multilingual Plane (𠵾 for 㗲), where it would break a run of characters apart, keep their
traditional form. Japanese kanji that share a traditional Chinese form fold too (東 -> 东), on
both sides alike; kana are untouched.

PostgreSQL holds its own copy of the table (migration 0006 stored it): when a new OpenCC changes
the table, tests/recommendations/test_search_chinese_scripts.py says so, and a new migration
stores the new table in `catalog_search_terms` and `catalog_search_simplified` and refolds the rows
it changes (0006's `refold`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import opencc

# Kana, CJK Unified Ideographs extension A and the main block: CJK_CHARACTERS in
# recommendations.selectors.search, less the compatibility ideographs, which NFKC folds first.
FOLDED_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF))


def _in_folded_ranges(character: str) -> bool:
    return any(low <= ord(character) <= high for low, high in FOLDED_RANGES)


def _converter() -> opencc.OpenCC:
    # By its path: OpenCC takes a bare "t2s" for a file t2s.json in the working directory first.
    config = Path(opencc.__file__).parent / "clib" / "share" / "opencc" / "t2s.json"
    # No "tofu risk" dictionary: its simplified forms are characters few fonts draw.
    return opencc.OpenCC(str(config) if config.is_file() else "t2s", include_tofu_risk_dictionaries=False)


@functools.cache
def t2s_character_table() -> dict[str, str]:
    """{traditional character: simplified character}, each simplified one final (no chains)."""
    characters = [chr(code) for low, high in FOLDED_RANGES for code in range(low, high + 1)]
    # One call, a character a line (no phrase spans a line break): ~20 ms rather than ~0.4 s.
    converted = _converter().convert("\n".join(characters)).split("\n")
    if len(converted) != len(characters):
        raise RuntimeError("OpenCC did not convert one character a line")
    table = {
        traditional: folded
        for traditional, folded in zip(characters, converted, strict=True)
        if folded != traditional and len(folded) == 1 and _in_folded_ranges(folded)
    }
    # OpenCC converts once: 薴 -> 苧, and 苧 -> 苎. Folded to the end, so folding twice changes nothing.
    for traditional, folded in table.items():
        while folded in table:
            folded = table[folded]
        table[traditional] = folded
    return table


@functools.cache
def _translation() -> dict[int, str]:
    return str.maketrans(t2s_character_table())


def simplified(text: str) -> str:
    """`text` with each traditional Chinese character in its simplified form; nothing else changes."""
    return text.translate(_translation())


@functools.cache
def _spellings_of() -> dict[str, str]:
    forms: dict[str, str] = {}
    for traditional, folded in sorted(t2s_character_table().items()):
        forms[folded] = forms.get(folded, folded) + traditional
    return forms


def spellings(character: str) -> str:
    """Every character that folds as `character` does, its folded form first: "苹蘋" for 苹 or 蘋,
    "干乾幹榦" for 干; the character alone when it has no other form."""
    folded = simplified(character)
    return _spellings_of().get(folded, folded)
