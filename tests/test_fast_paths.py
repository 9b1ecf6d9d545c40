"""The assistant's faster paths through Rasa give Rasa's own answers.

The graph runs node after node without dask (:mod:`bot.dialogue.graph_runner`), event
classes are found from a table (:mod:`bot.storage.event_types`), and a replica keeps
the conversations it saved last (``ConversationSQLTrackerStore``), on SQLite and on
PostgreSQL: never a stale conversation when another replica wrote to it or erased it,
never a half-changed one after a turn that failed before saving.
"""

from __future__ import annotations

import uuid

import pytest
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot.dialogue.graph_runner import SequentialGraphRunner
from bot.storage import event_types
from bot.storage.conversation_stores import ConversationSQLTrackerStore
from tests.test_storage import url  # noqa: F401 - the fixture: a fresh database of each kind

CONVERSATION = [
    "hello", "mijn baas heeft mijn paspoort afgepakt", "/affirm", "/ask_information",
    "il me frappe maintenant", "/deny", "wie erkenne ich menschenhandel", "?!", "merci", "bye"]


def _dask_runner(runner: SequentialGraphRunner) -> DaskGraphRunner:
    dask = DaskGraphRunner.__new__(DaskGraphRunner)
    dask.__dict__.update({k: v for k, v in runner.__dict__.items() if k != "_plans"})
    return dask


async def test_the_graph_runs_without_dask_to_the_same_answers(assistant):
    processor = assistant.agent.processor
    assert isinstance(processor.graph_runner, SequentialGraphRunner)

    async def talk() -> list:
        sender, said = uuid.uuid4().hex, []
        for text in CONVERSATION:
            parsed = await assistant.parse(text)
            said.append((parsed["intent"]["name"], round(parsed["intent"]["confidence"], 9),
                         parsed.get("language"), await assistant.turn(sender, text)))
        return [(intent, confidence, language, [r["text"] for r in replies])
                for intent, confidence, language, replies in said]

    ours = await talk()
    sequential = processor.graph_runner
    processor.graph_runner = _dask_runner(sequential)
    try:
        rasas = await talk()
    finally:
        processor.graph_runner = sequential
    assert ours == rasas
    assert len({intent for intent, *_ in ours}) >= 6  # the script really went through the dialogue


def test_event_classes_are_found_by_name_as_rasa_finds_them():
    event_types.install()
    walk = all_subclasses(Event)
    for cls in walk:
        first = next(c for c in walk if c.type_name == cls.type_name)
        assert Event.resolve_by_type(cls.type_name) is first
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no such event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        Event.resolve_by_type("no such event")


@pytest.fixture
def domain(settings):
    return Domain.load(str(settings.root / "domain.yml"))


@pytest.fixture
def replicas(url, domain):  # noqa: F811
    """Two replicas' tracker stores on one database."""
    stores = [ConversationSQLTrackerStore(domain, host=url) for _ in range(2)]
    yield stores
    for store in stores:
        store.engine.dispose()


class FullReads:
    """Counts the reads of a whole conversation by one store."""

    def __init__(self, store, monkeypatch) -> None:
        self.count = 0
        query = store._event_query

        def counted(*args, **kwargs):
            self.count += 1
            return query(*args, **kwargs)

        monkeypatch.setattr(store, "_event_query", counted)


def _said(tracker) -> list:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


async def _new_conversation(store, domain, *said: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(uuid.uuid4().hex, domain.slots)
    for text in said:
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_greet"))
    await store.save(tracker)
    return tracker


async def test_a_replica_reads_what_it_saved_last_without_rebuilding_it(replicas, domain, monkeypatch):
    here, there = replicas
    saved = await _new_conversation(here, domain, "one")
    reads = FullReads(here, monkeypatch)
    assert await here.retrieve(saved.sender_id) is saved
    assert reads.count == 0
    # Handed out once: until it is saved again, the next read is a full one.
    again = await here.retrieve(saved.sender_id)
    assert reads.count == 1 and again is not saved and _said(again) == ["one"]
    for text in ("two", "three"):  # turn after turn on this replica: new events only, no full read
        again.update(UserUttered(text))
        await here.save(again)
        again = await here.retrieve(saved.sender_id)
    assert reads.count == 1 and _said(again) == ["one", "two", "three"]
    assert _said(await there.retrieve(saved.sender_id)) == ["one", "two", "three"]  # all stored


async def test_a_new_conversation_is_looked_up_once_and_saved_without_counting(replicas, domain, monkeypatch):
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.storage import conversation_stores

    here, there = replicas
    counts = []
    count = SQLTrackerStore._additional_events
    monkeypatch.setattr(SQLTrackerStore, "_additional_events",
                        lambda self, *a: counts.append(1) or count(self, *a))
    reads = FullReads(here, monkeypatch)
    store = conversation_stores.TurnCachedTrackerStore(here)
    sender = uuid.uuid4().hex
    conversation_stores.begin_turn()
    try:
        assert await store.retrieve(sender) is None
        assert await store.retrieve(sender) is None  # the turn remembers it is new
        tracker = await store.get_or_create_tracker(sender)
        tracker.update(UserUttered("one"))
        await store.save(tracker)
    finally:
        conversation_stores.end_turn()
    assert reads.count == 1 and counts == []
    # What it keeps is exactly what is stored: the next turn uses it, another replica reads it all.
    assert here._saved[sender][1] == here._current_version(sender)
    assert await here.retrieve(sender) is tracker
    assert _said(await there.retrieve(sender)) == ["one"]
    assert [e.type_name for e in (await there.retrieve(sender)).events] == [e.type_name for e in tracker.events]


async def test_what_another_replica_wrote_or_erased_is_never_served_stale(replicas, domain):
    here, there = replicas
    saved = await _new_conversation(here, domain, "one")
    theirs = await there.retrieve(saved.sender_id)
    theirs.update(UserUttered("two"))
    await there.save(theirs)
    assert _said(await here.retrieve(saved.sender_id)) == ["one", "two"]

    kept = await _new_conversation(here, domain, "three")
    with there.session_scope() as session:  # erased through the other replica
        session.query(there.SQLEvent).filter(there.SQLEvent.sender_id == kept.sender_id).delete()
        session.commit()
    assert await here.retrieve(kept.sender_id) is None

    kept = await _new_conversation(here, domain, "four")
    with there.session_scope() as session:
        session.query(there.SQLEvent).filter(there.SQLEvent.sender_id == kept.sender_id).delete()
        session.commit()
    fresh = DialogueStateTracker(kept.sender_id, domain.slots)
    fresh.update(UserUttered("five"))
    await there.save(fresh)  # erased, then the person wrote again elsewhere
    assert _said(await here.retrieve(kept.sender_id)) == ["five"]


async def test_a_turn_that_failed_before_saving_leaves_no_half_changed_conversation(replicas, domain):
    here, _ = replicas
    saved = await _new_conversation(here, domain, "one")
    during = await here.retrieve(saved.sender_id)
    during.update(UserUttered("never saved"))  # the turn fails here
    assert _said(await here.retrieve(saved.sender_id)) == ["one"]


async def test_kept_conversations_are_bounded_in_number_and_time(replicas, domain, monkeypatch):
    here, _ = replicas
    monkeypatch.setattr(ConversationSQLTrackerStore, "CACHE_SIZE", 1)
    first = await _new_conversation(here, domain, "one")
    second = await _new_conversation(here, domain, "two")
    assert list(here._saved) == [second.sender_id]
    reads = FullReads(here, monkeypatch)
    assert _said(await here.retrieve(first.sender_id)) == ["one"] and reads.count == 1

    monkeypatch.setattr(ConversationSQLTrackerStore, "CACHE_SECONDS", 0.0)
    third = await _new_conversation(here, domain, "three")
    before = reads.count  # (saving a conversation it never read counts its events, as Rasa does)
    assert await here.retrieve(third.sender_id) is not third and reads.count == before + 1


async def test_erasing_a_conversation_here_drops_what_this_replica_kept(assistant, tmp_path, domain,
                                                                        monkeypatch):
    import datetime as dt

    store = ConversationSQLTrackerStore(domain, host=f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setattr(type(assistant), "conversations", property(lambda self: store))
    saved = await _new_conversation(store, domain, "one")
    await assistant.forget(saved.sender_id)
    assert saved.sender_id not in store._saved
    assert await store.retrieve(saved.sender_id) is None
    await _new_conversation(store, domain, "two")
    await assistant.forget_older_than(dt.datetime.utcnow() - dt.timedelta(days=1))
    assert not store._saved  # retention: nothing kept in memory either
    store.engine.dispose()


def test_events_are_indexed_by_conversation_for_the_version_check(replicas):
    from sqlalchemy import inspect

    from bot.storage.conversation_stores import EVENTS_BY_CONVERSATION

    here, there = replicas  # the second replica found the index already there
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(here.engine).get_indexes("events")}
    assert indexes[EVENTS_BY_CONVERSATION] == ["sender_id", "id"]


def test_conversation_events_skip_the_disk_flush_wait_on_postgresql_only(replicas, url):  # noqa: F811
    from sqlalchemy import text

    from bot.storage.database import Database

    here, _ = replicas
    if here.engine.dialect.name == "sqlite":
        assert here._reader is here.engine  # SQLite: the same engine for the version check
        return
    with here.engine.connect() as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "off"
    cases = Database(url)  # the handoff database keeps full durability
    with cases.engine.connect() as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
    cases.dispose()


# --- NLU fast paths: sentence-only count vectors and the classifier's row -------------------

PARSE_SAMPLES = ["hallo", "he is hitting me now!!", "ils ont pris mon passeport", "Wo ist der Bahnhof?",
                 "ok", "🙂🙂", "a" * 300, "je dois 50 euros à un ami", "kan ik met iemand praten"]


def _components(assistant, kind):
    nodes = assistant.agent.processor.graph_runner._instantiated_nodes.values()
    return [node._component for node in nodes if isinstance(node._component, kind)]


async def test_sentence_featurizer_gives_rasas_sentence_features(assistant):
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.shared.nlu.constants import TEXT

    from bot.nlu.sentence_featurizer import SentenceCountVectorsFeaturizer

    featurizers = _components(assistant, SentenceCountVectorsFeaturizer)
    assert len(featurizers) == 3  # words, character n-grams and word pairs
    for featurizer in featurizers:
        for text in PARSE_SAMPLES:
            tokens = text.lower().split()
            sequence, sentence = featurizer._create_features(TEXT, [tokens])
            rasa_sequence, rasa_sentence = CountVectorsFeaturizer._create_features(featurizer, TEXT, [tokens])
            assert sequence == [None]
            assert (sentence[0] != rasa_sentence[0]).nnz == 0 and sentence[0].shape == rasa_sentence[0].shape


async def test_classifier_row_is_rasas_row(assistant):
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier as RasaClassifier,
    )
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.logistic_regression import LogisticRegressionClassifier
    from bot.nlu.sentence_featurizer import SentenceCountVectorsFeaturizer

    [classifier] = _components(assistant, LogisticRegressionClassifier)
    [tokenizer] = _components(assistant, WhitespaceTokenizer)
    # The messages as the pipeline featurizes them (tokens, then words, characters and word pairs, in order).
    messages = tokenizer.process([Message(data={TEXT: text}) for text in PARSE_SAMPLES])
    for featurizer in _components(assistant, SentenceCountVectorsFeaturizer):
        featurizer.process(messages)
    # Ours equal Rasa's, one by one and stacked.
    ours, rasas = classifier._create_X(messages), RasaClassifier._create_X(classifier, messages)
    assert ours.shape == rasas.shape and abs(ours - rasas).sum() == 0
    assert ours[0].nnz > 0  # really featurized
    assert classifier._create_X(messages[:1]).shape == (1, ours.shape[1])


def test_the_loaded_model_is_kept_out_of_the_garbage_collectors_walk(assistant):
    """A full collection walked the model's half a million objects (a quarter of a second
    with every turn stalled); once loaded they sit in the permanent generation."""
    import gc

    from bot.dialogue.assistant import settle_model_memory

    assert gc.get_freeze_count() > 100_000
    walked = len(gc.get_objects())
    assert walked < gc.get_freeze_count()
    # settling again freezes what was created since, never unfreezes
    before = gc.get_freeze_count()
    assert settle_model_memory() >= before
