"""Which forms of exploitation a conversation mentions (``forms.yml``), for the case summary."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Pattern

import yaml

from bot.language.detection import fold

FORMS_FILE = Path(__file__).with_name("forms.yml")


@lru_cache(maxsize=1)
def _patterns() -> Dict[str, Pattern[str]]:
    data = yaml.safe_load(FORMS_FILE.read_text(encoding="utf-8"))
    return {form: re.compile(r"\b(?:" + "|".join(re.escape(fold(w)) for w in words) + ")")
            for form, words in data.items()}


def forms_mentioned(texts: Iterable[str]) -> List[str]:
    """The forms named in ``texts``, in the order of ``forms.yml``."""
    joined = " ".join(re.sub(r"[’'`\-]", " ", fold(t)) for t in texts)
    return [form for form, pattern in _patterns().items() if pattern.search(joined)]
