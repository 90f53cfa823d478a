"""Every user-facing string has its Simplified Chinese translation, and the
compiled catalogue matches its source."""
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "locale"
CHINESE = LOCALE / "zh_Hans" / "LC_MESSAGES"


def test_every_string_is_translated_into_simplified_chinese():
    catalogue = polib.pofile(str(CHINESE / "django.po"))
    missing = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert not missing, f"untranslated: {missing[:10]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:10]}"


def test_the_compiled_catalogue_holds_every_translation():
    source = polib.pofile(str(CHINESE / "django.po"))
    compiled = {entry.msgid: entry for entry in polib.mofile(str(CHINESE / "django.mo"))}
    stale = [entry.msgid for entry in source.translated_entries() if entry.msgid not in compiled]
    assert not stale, f"django.mo is older than django.po (run make messages): {stale[:10]}"


def test_placeholders_survive_translation():
    for entry in polib.pofile(str(CHINESE / "django.po")).translated_entries():
        for placeholder in ["%(", "%s", "%d"]:
            source = entry.msgid_plural or entry.msgid  # Chinese has one form: it carries the count
            assert source.count(placeholder) == (entry.msgstr or entry.msgstr_plural[0]).count(
                placeholder
            ), entry.msgid
