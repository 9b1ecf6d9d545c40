"""Extract, update, check and read the gettext catalogs in ``locales/``.

Source strings are the English texts of ``domain.yml`` (responses and button
titles). ``locales/<lang>/LC_MESSAGES/messages.po`` hold the four languages,
English included, so that English wording can be reviewed like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot import LANGUAGES

DOMAIN = "messages"
PLACEHOLDER = re.compile(r"{([a-z_]+)}")
# Six or more digits in a row (spaces allowed) or the short emergency numbers: a
# phone number written into a text instead of a {placeholder}.
LITERAL_NUMBER = re.compile(r"(?<![\w{])(\d[\d ]{5,}\d|112|101|116 ?000)(?![\w}])")


def domain_messages(domain_file: Path) -> List[Tuple[str, str]]:
    """(msgid, location) for each response text and button title of the domain."""
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
    found: List[Tuple[str, str]] = []
    for name, variations in (domain.get("responses") or {}).items():
        for variation in variations:
            if variation.get("text"):
                found.append((variation["text"], name))
            for button in variation.get("buttons") or []:
                found.append((button["title"], f"{name}:button"))
    return found


TEXTS_DIR = Path("bot") / "content" / "texts"


def system_texts(root: Path) -> Dict[str, str]:
    """Texts said outside the dialogue model: ``bot/content/texts/<part>.yml``, keys
    prefixed with the part (``service.internal_error``, ``telegram.photo``, ...)."""
    texts: Dict[str, str] = {}
    for path in sorted((root / TEXTS_DIR).glob("*.yml")):
        for key, text in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            texts[f"{path.stem}.{key}"] = text
    return texts


def all_messages(root: Path) -> List[Tuple[str, str]]:
    return domain_messages(root / "domain.yml") + [
        (text, f"text:{key}") for key, text in system_texts(root).items()]


def template(messages: Iterable[Tuple[str, str]]) -> Catalog:
    catalog = Catalog(project="helpline", domain=DOMAIN, fuzzy=False)
    for msgid, location in messages:
        catalog.add(msgid, locations=[(location, 0)])
    return catalog


def po_path(locales_dir: Path, language: str) -> Path:
    return locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False,
                 include_previous=True)


def update(locales_dir: Path, pot: Catalog) -> None:
    """Write ``messages.pot`` and merge it into each language's catalog."""
    _write(locales_dir / f"{DOMAIN}.pot", pot)
    for language in LANGUAGES:
        path = po_path(locales_dir, language)
        if path.exists():
            catalog = _read(path, language)
            catalog.update(pot, no_fuzzy_matching=False)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="helpline")
            catalog.update(pot)
        if language == "en":
            # English is the source language: start from the source text itself.
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        _write(path, catalog)


@dataclass
class Problem:
    language: str
    msgid: str
    what: str

    def __str__(self) -> str:
        return f"[{self.language}] {self.what}: {self.msgid[:70]!r}"


def check(locales_dir: Path, messages: Iterable[Tuple[str, str]],
          known_placeholders: Iterable[str]) -> List[Problem]:
    """Missing, empty, fuzzy, obsolete, placeholder mismatch, literal phone numbers."""
    wanted = {msgid for msgid, _ in messages}
    known = set(known_placeholders)
    problems: List[Problem] = []
    for msgid in sorted(wanted):
        for name in PLACEHOLDER.findall(msgid):
            if name not in known:
                problems.append(Problem("source", msgid, f"unknown placeholder {{{name}}}"))
        if LITERAL_NUMBER.search(msgid):
            problems.append(Problem("source", msgid, "phone number written literally"))
    for language in LANGUAGES:
        path = po_path(locales_dir, language)
        if not path.exists():
            problems.append(Problem(language, "", f"catalog missing: {path}"))
            continue
        catalog = _read(path, language)
        present = {message.id: message for message in catalog if message.id}
        for msgid in sorted(wanted):
            message = present.get(msgid)
            if message is None:
                problems.append(Problem(language, msgid, "missing"))
                continue
            if not message.string or not str(message.string).strip():
                problems.append(Problem(language, msgid, "empty"))
                continue
            if message.fuzzy:
                problems.append(Problem(language, msgid, "fuzzy"))
            if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(message.string)):
                problems.append(Problem(language, msgid, "placeholder mismatch"))
            if LITERAL_NUMBER.search(message.string):
                problems.append(Problem(language, msgid, "phone number written literally"))
        for msgid in sorted(set(present) - wanted):
            problems.append(Problem(language, msgid, "obsolete (not in the domain)"))
    return problems


class Translations:
    """msgid -> text for each language, read once from the ``.po`` files."""

    def __init__(self, locales_dir: Path) -> None:
        self._tables: Dict[str, Dict[str, str]] = {}
        for language in LANGUAGES:
            path = po_path(locales_dir, language)
            table: Dict[str, str] = {}
            if path.exists():
                for message in _read(path, language):
                    if message.id and message.string and not message.fuzzy:
                        table[message.id] = message.string
            self._tables[language] = table

    def gettext(self, language: str, msgid: str) -> str:
        return self._tables.get(language, {}).get(msgid, msgid)
