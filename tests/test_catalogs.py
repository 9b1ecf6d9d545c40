"""Every reply exists in all four languages, and numbers come from one data file."""

from __future__ import annotations

import re
import subprocess

import pytest
from rasa.shared.core.domain import Domain

from bot import LANGUAGES
from bot.content.contacts import contacts, placeholders
from bot.dialogue.nlg import CatalogNLG
from bot.i18n import catalogs


# A text this long that reads the same as the English was not translated; shorter
# ones may be ("Status", "Centre", "OK").
UNTRANSLATED_CHECK_WORDS = 4


@pytest.fixture(scope="module")
def nlg(settings):
    return CatalogNLG(domain=Domain.load(str(settings.root / "domain.yml")), settings=settings)


def test_catalogs_are_complete_and_consistent(settings):
    messages = catalogs.all_messages(settings.root)
    problems = catalogs.check(settings.locales_dir, messages,
                              placeholders(settings.contacts_file, "en"))
    assert [str(p) for p in problems] == []


def test_check_catches_missing_fuzzy_and_placeholder_mismatch(settings, tmp_path):
    import shutil

    shutil.copytree(settings.locales_dir, tmp_path / "locales")
    from babel.messages.pofile import read_po, write_po

    po = catalogs.po_path(tmp_path / "locales", "de")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="de")
    # Break one translation's placeholder and mark another fuzzy.
    broken = next(m for m in catalog if m.id and "{helpline_phone}" in m.string)
    broken.string = broken.string.replace("{helpline_phone}", "{helpline_fone}")
    catalog["Are you safe right now? If you are in danger, call {emergency_phone}."].flags.add("fuzzy")
    with po.open("wb") as handle:
        write_po(handle, catalog)
    messages = catalogs.all_messages(settings.root)
    problems = catalogs.check(tmp_path / "locales", messages, placeholders(settings.contacts_file, "en"))
    kinds = {p.what for p in problems}
    assert {"placeholder mismatch", "fuzzy"} <= kinds
    assert all(p.language == "de" for p in problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reply_renders_in_every_language(nlg, language):
    english = {}
    for name in nlg.responses:
        rendered = nlg.render(name, language)
        assert rendered and rendered["text"].strip(), name
        assert not re.search(r"{[a-z_]+}", rendered["text"]), (name, rendered["text"])
        for button in rendered.get("buttons") or []:
            assert button["title"].strip()
        english[name] = nlg.render(name, "en")["text"]
        if (language != "en" and name != "utter_other_language"
                and len(english[name].split()) >= UNTRANSLATED_CHECK_WORDS):
            assert rendered["text"] != english[name], f"{name} is not translated to {language}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_system_text_renders_in_every_language(nlg, language):
    for key in nlg.system_texts:
        text = nlg.system_text(key, language)
        assert text.strip() and "{" not in text
        english = nlg.system_text(key, "en")
        if language != "en" and len(english.split()) >= UNTRANSLATED_CHECK_WORDS:
            assert text != english, (key, language)


def test_phone_numbers_live_in_one_data_file(settings):
    """No number of the data file is written anywhere else in the project."""
    numbers = [c.phone for c in contacts(settings.contacts_file).values() if len(c.phone.replace(" ", "")) >= 6]
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=settings.root, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        path = settings.root / name
        if path == settings.contacts_file or not path.is_file() or path.suffix in {".gz", ".png"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for number in numbers:
            if number in text or number.replace(" ", "") in text:
                offenders.append((name, number))
    assert offenders == []


def test_facts_command_lists_every_number_with_source_and_date(settings):
    from bot.content.contacts import facts_report

    report = facts_report(settings.contacts_file)
    for contact in contacts(settings.contacts_file).values():
        assert contact.phone in report
        assert contact.sources and contact.checked in report


def test_french_says_traite_not_trafic_for_trafficking(settings):
    from babel.messages.pofile import read_po

    with catalogs.po_path(settings.locales_dir, "fr").open("rb") as handle:
        french = [m for m in read_po(handle) if m.id]
    assert any("traite des êtres humains" in m.string for m in french)
    # "trafic" (smuggling in Belgian French) only where smuggling is explained.
    for message in french:
        if "trafic" in message.string.lower():
            assert "smuggling" in message.id.lower(), message.string
