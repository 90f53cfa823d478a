"""Every user-facing string has its Simplified Chinese translation, and the
compiled catalogue matches its source."""
import os
import re
import shutil
from pathlib import Path

import polib
from django.core.management import call_command

LOCALE = Path(__file__).resolve().parent.parent / "locale"
CHINESE = LOCALE / "zh_Hans" / "LC_MESSAGES"
TEMPLATES = LOCALE.parent / "templates"


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


def test_the_catalogue_holds_every_string_of_the_source(tmp_path):
    """makemessages, run now on a copy of the sources and the catalogue, finds nothing new to
    translate: a string added to a template or the code without `make messages` and its
    translation fails here. A copy, because makemessages writes into the tree it reads."""
    root = LOCALE.parent
    copy = tmp_path / "tree"
    shutil.copytree(
        root, copy,
        ignore=shutil.ignore_patterns(".venv", "var", "bench", "tests", ".git", "node_modules", "*.mo", "vendor"),
    )
    previous = Path.cwd()
    os.chdir(copy)  # makemessages reads the tree under the working directory
    try:
        call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)
    finally:
        os.chdir(previous)
    refreshed = polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    missing = [entry.msgid for entry in refreshed.untranslated_entries()]
    fuzzy = [entry.msgid for entry in refreshed.fuzzy_entries()]
    assert not missing, f"not in the catalogue yet (run make messages and translate): {missing[:10]}"
    assert not fuzzy, f"changed since translated (run make messages and check): {fuzzy[:10]}"


def _visible_text_outside_translation(template: str) -> list[str]:
    """The words a template shows that no translate tag carries: text between tags, and the
    title, aria-label, placeholder and alt attributes (screen readers and tooltips read them)."""
    text = template
    for pattern in (
        r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}",
        r"\{%\s*blocktranslate.*?\{%\s*endblocktranslate\s*%\}",
        r"<script.*?</script>",
        r"<style.*?</style>",
        r"<!--.*?-->",
        r"\{#.*?#\}",
        r"\{\{.*?\}\}",
    ):
        text = re.sub(pattern, " ", text, flags=re.DOTALL)
    found = []
    for attribute in re.finditer(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"', text):
        if re.search(r"[A-Za-z]{2,}", re.sub(r"\{%.*?%\}", " ", attribute.group(1))):
            found.append(attribute.group(0))
    text = re.sub(r"<[^>]*>", " ", re.sub(r"\{%.*?%\}", " ", text, flags=re.DOTALL))
    found += [chunk.strip() for chunk in re.split(r"\n|\s{2,}", text) if re.search(r"[A-Za-z]{2,}", chunk)]
    return found


def test_templates_show_no_words_outside_translate_tags():
    untranslatable = {
        str(path.relative_to(TEMPLATES)): words
        for path in sorted(TEMPLATES.rglob("*.html"))
        if (words := _visible_text_outside_translation(path.read_text(encoding="utf-8")))
    }
    assert not untranslatable, f"wrap these in {{% translate %}}: {untranslatable}"


def test_the_template_check_finds_a_bare_word_and_a_bare_label():
    assert _visible_text_outside_translation('<p>Save</p><button aria-label="Close">x</button>') == [
        'aria-label="Close"', "Save",
    ]
    assert not _visible_text_outside_translation('<p>{% translate "Save" %} {{ product.title }}</p>')


def test_a_form_labels_colon_is_full_width_in_chinese_and_half_width_in_english():
    from django import forms
    from django.utils import translation

    class NameForm(forms.Form):
        name = forms.CharField(label="Name")

    with translation.override("zh-hans"):
        assert NameForm()["name"].label_tag().endswith("Name：</label>")
    with translation.override("en"):
        assert NameForm()["name"].label_tag().endswith("Name:</label>")
