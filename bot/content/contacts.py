"""Loads ``contacts.yml``, the one data file of phone numbers, websites and names.

Replies never contain a number literally: they carry placeholders such as
``{helpline_phone}`` that :func:`placeholders` fills from this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

import yaml


@dataclass(frozen=True)
class Contact:
    """One line or centre, with where its facts come from."""

    key: str
    name: str
    phone: str
    websites: Dict[str, str]
    sources: List[str]
    checked: str
    phone_international: Optional[str] = None
    notes: str = ""

    def website(self, language: str) -> Optional[str]:
        return self.websites.get(language) or self.websites.get("all") or self.websites.get("en")


def load_contacts(path: Path) -> Dict[str, Contact]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    contacts = {}
    for key, entry in data["contacts"].items():
        contacts[key] = Contact(
            key=key,
            name=entry["name"],
            phone=str(entry["phone"]),
            phone_international=entry.get("phone_international"),
            websites=dict(entry.get("website") or {}),
            sources=list(entry["sources"]),
            checked=str(entry["checked"]),
            notes=entry.get("notes", ""),
        )
    return contacts


@lru_cache(maxsize=8)
def _cached(path: str) -> Dict[str, Contact]:
    return load_contacts(Path(path))


def contacts(path: Path) -> Dict[str, Contact]:
    """The contacts of ``path``, read once per process."""
    return _cached(str(path))


def placeholders(path: Path, language: str) -> Dict[str, str]:
    """Values for ``{<key>_phone}``, ``{<key>_web}`` and ``{<key>_name}`` in ``language``."""
    values: Dict[str, str] = {}
    for key, contact in contacts(path).items():
        values[f"{key}_phone"] = contact.phone
        values[f"{key}_name"] = contact.name
        site = contact.website(language)
        if site:
            values[f"{key}_web"] = site
    return values


def facts_report(path: Path) -> str:
    """Every fact with its source and check date, for re-checking before deployment."""
    lines = []
    for contact in contacts(path).values():
        lines.append(f"{contact.key}: {contact.name}")
        lines.append(f"  phone: {contact.phone}" + (
            f" ({contact.phone_international})" if contact.phone_international else ""))
        for language, site in sorted(contact.websites.items()):
            lines.append(f"  website [{language}]: {site}")
        lines.append(f"  last checked: {contact.checked}")
        for source in contact.sources:
            lines.append(f"  source: {source}")
        if contact.notes:
            lines.append(f"  notes: {contact.notes}")
    return "\n".join(lines)
