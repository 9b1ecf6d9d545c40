"""What an intent means for safety: distress, emergency and who is writing.

Used by ``python -m bot classify``, the evaluation and, later, handoff urgency.
"""

from __future__ import annotations

from typing import Any, Dict

EMERGENCY_INTENTS = frozenset({"emergency"})
DISTRESS_INTENTS = frozenset({"emergency", "disclose_exploitation", "ask_if_victim", "request_human"})
VICTIM_INTENTS = frozenset({"emergency", "disclose_exploitation", "ask_if_victim"})
BYSTANDER_INTENTS = frozenset({"report_case", "ask_signs"})


def audience(intent: str) -> str:
    if intent in VICTIM_INTENTS:
        return "victim"
    if intent in BYSTANDER_INTENTS:
        return "bystander"
    return "general"


def signals(parse: Dict[str, Any]) -> Dict[str, Any]:
    """The classify record for one parsed message."""
    intent = (parse.get("intent") or {}).get("name") or "nlu_fallback"
    confidence = float((parse.get("intent") or {}).get("confidence") or 0.0)
    language = (parse.get("language") or {}).get("language") or "other"
    return {
        "language": language,
        "intent": intent,
        "confidence": round(confidence, 4),
        "distress": intent in DISTRESS_INTENTS,
        "emergency": intent in EMERGENCY_INTENTS,
        "audience": audience(intent),
        # The danger detector's probability that someone is in danger now (for sorting).
        "danger": round(float(parse.get("danger") or 0.0), 4),
    }
