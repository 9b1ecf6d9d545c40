"""The dialogue states of a conversation's history, computed once per event.

Rasa's policies ask for the states of a tracker's whole history
(``Domain.states_for_tracker_history``) several times per turn: the rule policy once or
twice, memoization once, for every action predicted. Each time Rasa replays every event
of the conversation onto a fresh tracker and builds a state at every action, so a turn
costs more the longer the conversation is (about a sixth of a turn's CPU here).

:func:`states_for_tracker_history` does the same work once per event: for each tracker
and each way of asking (domain, flags, rule-only data) it keeps the replayed tracker,
the states built so far and the two values Rasa's loop carries from one action to the
next (the rule-only slots and loops are compared by value). When asked again and the tracker's applied events extend the ones already
replayed (the same event objects, in order), only the new events are replayed;
otherwise (a rewind, a restart, another tracker) it starts again from the first event.
The state after the last event is built fresh on every call, as in Rasa, and handed out
as a copy, because the featurizers edit the last state in place. The states before it
are shared between calls; Rasa's policies only read them.

:func:`install` puts it in place of Rasa's method (``Assistant.load`` does). A test
compares it with Rasa's on every turn of whole conversations.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

RASA_STATES_FOR_TRACKER_HISTORY = Domain.states_for_tracker_history


@dataclass
class _Replay:
    """How far one tracker's history was turned into states, for one way of asking."""

    domain: Domain
    tracker: DialogueStateTracker  # the events below applied
    events: List[Event] = field(default_factory=list)
    states: List[State] = field(default_factory=list)
    last_ml_action: Optional[Dict[str, Any]] = None
    turn_was_hidden: bool = False


# id(tracker) -> {(id(domain), omit_unset_slots, ignore_rule_only_turns, rule-only data): _Replay}
_replays: Dict[int, Dict[Tuple[Any, ...], _Replay]] = {}


def _frozen(rule_only_data: Optional[Dict[str, Any]]) -> Any:
    """The rule-only slots and loops as a key (the rule policy passes a new dict each time)."""
    if not rule_only_data:
        return None
    return tuple(sorted((name, tuple(values or ())) for name, values in rule_only_data.items()))


def _forget(key: int) -> None:
    _replays.pop(key, None)


def _state_at(domain: Domain, replay: _Replay, tr: DialogueStateTracker, hide_rule_turn: bool,
              states: List[State], omit_unset_slots: bool, ignore_rule_only_turns: bool,
              rule_only_data: Optional[Dict[str, Any]]) -> Optional[State]:
    """One step of Rasa's loop (``Domain.states_for_tracker_history``) at an action:
    updates the carried values in ``replay``; the new state, or None for a hidden turn."""
    if ignore_rule_only_turns:
        if not replay.turn_was_hidden:
            replay.last_ml_action = domain._get_prev_action_sub_state(tr)
        if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
            replay.turn_was_hidden = hide_rule_turn
        if replay.turn_was_hidden:
            return None
    state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if states:
            domain._substitute_rule_only_user_input(state, states[-1])
        if replay.last_ml_action:
            state[PREVIOUS_ACTION] = replay.last_ml_action
    return domain._clean_state(state)


def _extends(applied: List[Event], replayed: List[Event]) -> bool:
    if len(applied) < len(replayed):
        return False
    return all(a is b for a, b in zip(applied, replayed))


def states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: Optional[Dict[str, Any]] = None,
) -> List[State]:
    """Rasa's states of ``tracker``'s history (same arguments, same result)."""
    applied = tracker.applied_events()
    key = (id(self), omit_unset_slots, ignore_rule_only_turns, _frozen(rule_only_data))
    by_key = _replays.get(id(tracker))
    replay = by_key.get(key) if by_key is not None else None
    if replay is None or replay.domain is not self or not _extends(applied, replay.events):
        replay = _Replay(self, tracker.init_copy())
        if by_key is None:
            by_key = _replays[id(tracker)] = {}
            weakref.finalize(tracker, _forget, id(tracker))
        by_key[key] = replay

    for event in applied[len(replay.events):]:
        if isinstance(event, ActionExecuted):
            state = _state_at(self, replay, replay.tracker, event.hide_rule_turn, replay.states,
                              omit_unset_slots, ignore_rule_only_turns, rule_only_data)
            if state is not None:
                replay.states.append(state)
        replay.tracker.update(event)
        replay.events.append(event)

    # After the last event: built on a copy of the carried values, handed out as a copy.
    after = _Replay(self, replay.tracker, last_ml_action=replay.last_ml_action,
                    turn_was_hidden=replay.turn_was_hidden)
    last = _state_at(self, after, replay.tracker, False, replay.states, omit_unset_slots,
                     ignore_rule_only_turns, rule_only_data)
    states = list(replay.states)
    if last is not None:
        states.append(copy.deepcopy(last))
    return states


def install() -> None:
    """Use :func:`states_for_tracker_history` for every domain (idempotent)."""
    Domain.states_for_tracker_history = states_for_tracker_history


def uninstall() -> None:
    Domain.states_for_tracker_history = RASA_STATES_FOR_TRACKER_HISTORY
