"""Dialogue states computed once per event (bot.dialogue.state_history) equal Rasa's."""

from __future__ import annotations

import uuid

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered, UserUtteranceReverted

from bot.dialogue import state_history
from tests import samples

SCRIPTS = [
    ["hello", samples.DISCLOSURE["en"], "/affirm", "/ask_information", "/ask_victim_status",
     samples.HUMAN["nl"], "merci", samples.EMERGENCY["fr"], "/deny", "bye"],
    [samples.GREETING["de"], samples.BYSTANDER["de"], '/set_language{"language": "fr"}', "ok",
     samples.OTHER_LANGUAGE, "?!", samples.DISCLOSURE["nl"], "/deny", "/request_human", "thanks"],
]
RULE_ONLY = {"rule_only_slots": ["language"], "rule_only_loops": []}


def rasas(domain, tracker, **flags):
    return state_history.RASA_STATES_FOR_TRACKER_HISTORY(domain, tracker, **flags)


FLAGS = [{}, {"ignore_rule_only_turns": True, "rule_only_data": RULE_ONLY},
         {"omit_unset_slots": True, "ignore_rule_only_turns": True}]


def test_installed_by_the_assistant(assistant):
    assert Domain.states_for_tracker_history is state_history.states_for_tracker_history


@pytest.mark.parametrize("script", SCRIPTS)
async def test_every_turn_has_rasas_states(assistant, script):
    domain, sender = assistant.agent.domain, uuid.uuid4().hex
    for text in script:
        await assistant.turn(sender, text)
        tracker = await assistant.agent.tracker_store.retrieve(sender)
        for flags in FLAGS:
            expected = rasas(domain, tracker, **flags)
            assert state_history.states_for_tracker_history(domain, tracker, **flags) == expected
            # asked again (nothing new), and with a fresh dict of the same rule-only data
            again = dict(flags, rule_only_data=dict(RULE_ONLY)) if "rule_only_data" in flags else flags
            assert state_history.states_for_tracker_history(domain, tracker, **again) == expected


async def test_new_events_rewinds_and_edits_of_the_last_state(assistant):
    domain, sender = assistant.agent.domain, uuid.uuid4().hex
    for text in SCRIPTS[0][:4]:
        await assistant.turn(sender, text)
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    flags = FLAGS[1]
    first = state_history.states_for_tracker_history(domain, tracker, **flags)
    # Featurizers edit the last state in place: that must not leak into the next answer.
    first[-1].clear()
    assert state_history.states_for_tracker_history(domain, tracker, **flags) == rasas(domain, tracker, **flags)
    tracker.update(UserUttered("hello", {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    assert state_history.states_for_tracker_history(domain, tracker, **flags) == rasas(domain, tracker, **flags)
    tracker.update(UserUtteranceReverted())  # applied events no longer extend the replayed ones
    assert state_history.states_for_tracker_history(domain, tracker, **flags) == rasas(domain, tracker, **flags)


async def test_a_conversation_gets_the_same_answers_as_with_rasas_states(assistant):
    async def talk(script):
        sender, replies = uuid.uuid4().hex, []
        for text in script:
            replies.append([r.get("text") for r in await assistant.turn(sender, text)])
        return replies

    ours = [await talk(script) for script in SCRIPTS]
    state_history.uninstall()
    try:
        theirs = [await talk(script) for script in SCRIPTS]
    finally:
        state_history.install()
    assert ours == theirs
