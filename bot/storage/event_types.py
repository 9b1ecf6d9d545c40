"""Rasa's event classes looked up by name once, not on every event read.

Rebuilding a conversation from storage turns each stored event back into an object;
Rasa finds the class by walking every subclass of ``Event`` (with an abstractness
check on each) for every single event, which was a sixth of a turn's CPU here.
:func:`install` replaces that lookup with a table built from the same walk, rebuilt
if a name is not in it (an event class defined later), with the same answers,
including Rasa's ``topic`` and ``default`` cases.
"""

from __future__ import annotations

from typing import Dict, Optional, Text, Type

from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_by_name: Dict[Text, Type[Event]] = {}


def _table() -> Dict[Text, Type[Event]]:
    table: Dict[Text, Type[Event]] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)  # the first found wins, as in Rasa's walk
    return table


def resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """Rasa's ``Event.resolve_by_type``, from a table."""
    global _by_name
    found = _by_name.get(type_name)
    if found is None:
        _by_name = _table()
        found = _by_name.get(type_name)
    if found is not None:
        return found
    if type_name == "topic":
        return None  # Rasa's backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def install() -> None:
    """Use the table for every event Rasa reads from now on (idempotent)."""
    Event.resolve_by_type = staticmethod(resolve_by_type)
