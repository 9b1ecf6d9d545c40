"""``python -m bot evaluate``: score the NLU on the held-out sets in ``tests/nlu``.

Per language: intent macro-F1, recall of distress and of emergency, false alarms
on benign messages and language accuracy, against the goals of the project.
The held-out sets are written apart from ``nlu/`` and never trained on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bot import LANGUAGES

GOALS = {
    "intent_macro_f1": 0.90,
    "distress_recall": 0.97,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.05,  # at most
    "language_accuracy": 0.97,
}
# What the current model is held to in `make test` so that it cannot get worse:
# set just below the measured figures. Where a floor is under its goal, the goal
# is not met yet (see the README's "Quality" section); raise floors as data improves.
# Data round 8 (session 7) turned one Dutch disclosure ("mijn lief zegt dat ik hem moet
# terugbetalen door met zijn vrienden mee te gaan") into ask_confidentiality: distress 0.97.
FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.97,
    "emergency_recall": 0.99,
    "false_alarm_rate": 0.04,  # at most
    "language_accuracy": 0.99,
}
# The second held-out set (tests/nlu/second), written by an author who saw neither
# the training data nor the first set; its errors were looked at from 2026-11-23 on.
# Data round 5 (session 5) moved one German threat ("er droht mich aus dem Fenster zu werfen
# wenn ich schreie") just under the danger threshold; a threat if they scream is a pattern now.
# The distress-mass rule of the safety net (session 7) adds one French false alarm: 0.07.
# Session 9: at most 4.7 % false alarms, 0.986 distress recall: floors 0.06 and 0.97.
SECOND_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.97,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.06,  # at most
    "language_accuracy": 0.99,
}
# The third set (tests/nlu/third), written by another author who saw no training data
# and no other set; the fair estimate in session 2, its errors looked at in session 3.
THIRD_SET_FLOORS = {
    "intent_macro_f1": 0.96,
    "distress_recall": 0.96,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.04,  # at most
    "language_accuracy": 0.98,
}
# The fourth set (tests/nlu/fourth), written by yet another author who saw no training
# data and no other set, with more emergencies (40) and harder look-alikes (25 per
# language); sentences that also occur in the training data were taken out. The fair
# estimate until its errors were looked at (session 3).
# Data round 9 (session 7): en intent F1 0.949. Word pairs as features (session 9; on sets
# one to fourteen 12 false alarms fewer and 11 more disclosures found): en 5 false alarms of 112.
FOURTH_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.97,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.05,  # at most
    "language_accuracy": 0.98,
}
# The fifth set (tests/nlu/fifth), written like the fourth by another author; sentences
# also in the training data taken out. The fair estimate in session 3; its errors were
# looked at in session 4.
FIFTH_SET_FLOORS = {
    "intent_macro_f1": 0.90,
    "distress_recall": 0.92,
    "emergency_recall": 0.92,
    "false_alarm_rate": 0.06,  # at most
    "language_accuracy": 0.98,
}

# The sixth set (tests/nlu/sixth), 224-230 messages per language written like the fifth
# by two more authors (nl+de, fr+en) who saw no training data and no other set; sentences
# also in the training data taken out. The fair estimate in session 4; its errors were
# looked at in session 5.
SIXTH_SET_FLOORS = {
    "intent_macro_f1": 0.93,
    "distress_recall": 0.96,
    "emergency_recall": 0.94,
    "false_alarm_rate": 0.06,  # at most
    "language_accuracy": 0.98,
}

# The seventh set (tests/nlu/seventh), 220-223 messages per language written like the sixth
# by four more authors, one per language, who saw no training data and no other set;
# sentences also in the training data taken out. The fair estimate until data round 4.
# Measured before any change made after it was written (session 5):
# nl .938/.943/.892/.087/.986, fr .972/.972/1.0/.070/.977, en .922/.963/.974/.053/.973,
# de .911/.943/.972/.061/.986 (F1/distress/emergency/false alarms/language). After data
# round 4 (nlu/<lang>/coverage7.yml, from the sixth set's errors): nl .944/.962/.919/.078,
# fr .976/.972/1.0/.053, en .921/.963/.974/.053, de .925/.943/.972/.035. Its errors were
# looked at from then on.
SEVENTH_SET_FLOORS = {
    "intent_macro_f1": 0.95,
    "distress_recall": 0.95,
    "emergency_recall": 0.94,
    "false_alarm_rate": 0.06,  # at most
    "language_accuracy": 0.97,
}

# The eighth set (tests/nlu/eighth), 221-225 messages per language written like the seventh
# by four more authors; never trained on. The fair estimate until its errors were looked at
# (session 5, after round 5). Measured before any change made after it was written (after round 4):
# nl .919/.972/.946/.096/.991, fr .948/.972/.974/.043/.995, en .931/.963/1.0/.069/.987,
# de .943/.944/.946/.078/.986 (F1/distress/emergency/false alarms/language). After data round
# 5 (nlu/<lang>/coverage8.yml, from the seventh set's errors) and the hiding / getting out now
# patterns: nl .922/.972/.946/.079, fr .954/.981/.974/.026, en .944/.972/1.0/.060,
# de .945/.963/.946/.078. Then patterns from its errors (someone forced into a vehicle now,
# locked in with smoke; a child locked in for fun, a lost match, burnt food, lyrics are benign):
# nl .924/.972/.946/.070, fr .954/.981/.974/.026, en .944/.972/1.0/.060, de .953/.981/1.0/.070.
EIGHTH_SET_FLOORS = {
    "intent_macro_f1": 0.91,
    "distress_recall": 0.96,
    "emergency_recall": 0.94,
    "false_alarm_rate": 0.06,  # at most
    "language_accuracy": 0.98,
}

# The ninth set (tests/nlu/ninth), 222-227 messages per language written like the eighth by
# four more authors; never trained on. Measured before any change made after it was written
# (session 5, after round 5 and the patterns from the eighth set's errors):
# nl .930/.991/.946/.113/.991, fr .892/.972/1.0/.067/.978, en .930/.991/.949/.034/.982,
# de .922/.963/.974/.102/.991. Its errors were looked at from session 6 on: data round 7
# (nlu/<lang>/coverage9.yml) and safety-net patterns were written from them, after which
# nl .974/1.0/1.0/.096, fr .948/.981/1.0/.050, en .989/1.0/1.0/.017, de .953/.963/1.0/.059.
# The distress-mass rule (session 7) adds one Dutch false alarm: 0.11.
# Data round 9 (session 7): one more Dutch false alarm (0.113) and one German disclosure
# missed (0.954). Session 9 (the safety net stops taking "slave" or questions about someone
# else as signs; word pairs as features): at most 7 % false alarms, so 0.08.
NINTH_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.95,
    "emergency_recall": 0.99,
    "false_alarm_rate": 0.08,  # at most
    "language_accuracy": 0.97,
}
# The tenth set (tests/nlu/tenth), 219-224 messages per language by four more authors, two
# per language (35-38 emergencies and 42 out-of-scope messages, 16-18 of them hard
# look-alikes, per language); never trained on; the fair estimate in session 6, its errors
# looked at from session 7 on, after the eleventh set was measured. Measured before any
# change made after it was written (session 6, the model of session 5):
# nl .980/1.0/1.0/.034/1.0, fr .948/.971/.972/.053/1.0, en .939/1.0/1.0/.043/.991,
# de .976/.963/1.0/.043/1.0. After round 7 and the patterns from the ninth set's errors
# (the tenth still unseen): nl .986/1.0/1.0/.026, fr .946/.952/.972/.044,
# en .948/1.0/1.0/.043, de .983/.972/1.0/.034 (fr distress two misses more, fr false alarms
# and de distress now within their goals).
# Session 7, after round 8 (written from its errors) and the distress-mass rule:
# nl .995/1.0/1.0/.034, fr .971/.981/1.0/.035, en .966/1.0/1.0/.034, de .978/.991/1.0/.034.
# Data round 9 (session 7): one French disclosure and one German emergency
# ("schnell, Eupen Unterstadt") now read as out of scope.
TENTH_SET_FLOORS = {
    "intent_macro_f1": 0.96,
    "distress_recall": 0.97,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.04,  # at most
    "language_accuracy": 0.98,
}
# The eleventh set (tests/nlu/eleventh), 194-211 messages per language by four more authors,
# two per language, leaning towards construction, meat plants and delivery; nail bars,
# escort ads and loverboys; cannabis plantations, forced theft and car washes; cleaning,
# kitchens, diplomats' households and forced marriage. Never trained on, its errors never
# looked at. Measured before any change made after it was written (session 7, the model of
# session 6): nl .963/.981/1.0/.028/.991, fr .974/.951/1.0/.031/1.0,
# en .944/.962/.971/.067/1.0, de .944/.962/.971/.078/1.0. Its totals were then read for each
# change of session 7 and for several thresholds of the distress-mass rule, so it is no longer
# a clean estimate; after round 8 and the rule: nl .975/.981/1.0/.038, fr .975/.961/.972/.031,
# en .945/.962/.971/.067, de .942/.981/.971/.067.
# Data round 9, written from its errors (session 7): nl .977/.971/1.0/.019,
# fr .979/.971/1.0/.042, en .956/.962/.971/.076, de .967/.971/.971/.044.
ELEVENTH_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.96,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.05,  # at most
    "language_accuracy": 0.98,
}
# The twelfth set (tests/nlu/twelfth), 197-211 messages per language by four more authors,
# two per language, leaning towards farms, stables, removals and the port; salons, hotels,
# unpaid internships and job ads on social media; drug running, money mules and begging
# networks; live-in carers, embassies, bakeries and markets. Written after every change of
# session 7 was decided; never trained on; the fair estimate until the thirteenth set
# arrived, its errors looked at from then on (for a data round 10, not kept: it raised the
# thirteenth set's false alarms by one). The session-6 model: nl .955/.990/1.0/.074,
# fr .947/1.0/1.0/.061, en .938/.960/.970/.078, de .960/.991/.972/.057. After round 8 and
# the distress-mass rule (the rule changes nothing here): nl .957/1.0/1.0/.074/1.0,
# fr .964/.990/.971/.041/1.0, en .944/.960/.970/.069/1.0, de .971/.991/.972/.038/.995.
# With data round 9 (kept because it met, on this set, the test stated before measuring:
# no recall lower by more than one message, no more false alarms): nl .965/1.0/1.0/.053,
# fr .973/.990/.971/.041, en .961/.970/.970/.059, de .979/.991/.972/.029.
TWELFTH_SET_FLOORS = {
    "intent_macro_f1": 0.95,
    "distress_recall": 0.96,
    "emergency_recall": 0.96,  # en: 32 of 33
    "false_alarm_rate": 0.04,  # at most
    "language_accuracy": 0.99,
}
# The thirteenth set (tests/nlu/thirteenth), 187-203 messages per language by four more
# authors, two per language, asked for especially varied look-alikes; leaning towards temp
# agencies, window cleaners, student "brokers" and villa brothels; reception centres, scrap
# yards, pickpocketing and fairgrounds; Asian restaurants, greenhouses, religious
# communities and grooming in gaming chats; chocolate shops, laundries, sports clubs, a
# "niece" as nanny and loan sharks. Never trained on; the fair estimate until the fourteenth
# set arrived (session 8), its errors looked at from then on. Measured before any change made
# after it was written (session 7, with rounds 8 and 9): nl .965/.981/.917/.088/1.0,
# fr .963/.980/1.0/.058/1.0, en .973/.981/.944/.061/1.0, de .963/.980/1.0/.074/1.0.
# Word pairs as features (session 9): de 6 false alarms of 94.
THIRTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.95,
    "distress_recall": 0.97,
    "emergency_recall": 0.91,
    "false_alarm_rate": 0.07,  # at most
    "language_accuracy": 0.99,
}
# The fourteenth set (tests/nlu/fourteenth), 215-218 messages per language by four more
# authors, two per language, leaning towards construction, meat processing, lover boys and
# teenage drug runners; truck drivers, nail salons, cannabis plantations, webcams and au
# pairs; diplomats' households, fruit picking, car washes, forced marriage and begging;
# kitchens, stables, a madam's debt, forced shoplifting and fake football agents. Lines equal
# to a training or held-out line were dropped (12-15 per language). Never trained on; the
# fair estimate until the fifteenth set arrived (session 9), its errors looked at from then on.
# Measured with the model of session 7 before
# any change (distress 110-113 and benign 102-108 messages per language):
# nl .958/.973/.973/.106/.995, fr .928/.964/.946/.093/1.0, en .932/.982/.949/.126/.986,
# de .959/.965/.921/.078/1.0. Then (session 8) the keywords of the safety net stopped taking
# "slave" as a sign, or a question about someone else (11 false alarms fewer, nothing lost):
# nl .961/.973/.973/.077, fr .931/.964/.946/.065, en .936/.982/.949/.087, de .960/.965/.921/.069.
# Session 9 (safety net from its errors, word pairs as features): floors raised to just below.
FOURTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.97,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.07,  # at most
    "language_accuracy": 0.98,
}
# The fifteenth set (tests/nlu/fifteenth), 223-225 messages per language by four more
# authors, two per language (nl I+K, fr I+L, en J+L, de J+K), leaning towards ports, fishing
# boats, delivery riders on rented accounts, barbers, live-in care, sham marriages and forced
# online scams; mushroom farms, security guards, festival crews, removals, puppy farms, drug
# mules and money-mule bank accounts; night shops, tyre garages, taxi licences, harvests,
# begging children, sextortion and cleaning crews; rose sellers, hostess bars, call centres,
# wok restaurants, school-gate dealing, online ads run by a "boyfriend" and forced marriage in
# the summer holidays. Lines equal to a training or held-out line were dropped (5-7 per
# language). Never trained on; the fair estimate until the sixteenth set arrived (session
# 10), its errors still not looked at then. Measured
# with the model of session 8 before any change (distress 111-112 and benign 112-113 messages
# per language): nl .956/.991/1.0/.044/.996, fr .952/.964/.974/.107/1.0,
# en .964/.964/.974/.018/.996, de .954/.937/.974/.080/1.0.
FIFTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.94,
    "distress_recall": 0.93,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.11,  # at most
    "language_accuracy": 0.99,
}

# The sixteenth set (tests/nlu/sixteenth), 214-220 messages per language by four more
# authors (two per language, none saw the project): writers with little schooling on a phone,
# second-language writers who tell a story before the point, teenagers recruited online
# (loverboys, fake modelling and job offers, money mules), domestic workers, au pairs and
# people who play their situation down; look-alikes from shift work, interim agencies, legal
# harvests, landlords, studies, sports, gaming and pets. Lines equal to a training or held-out
# line were dropped (10-16 per language). Measured with the model of session 9 before any
# change (distress 107-111 and benign 106-113 messages per language):
# nl .906/.972/.943/.084/.991, fr .952/.991/1.0/.088/.986, en .901/.973/.919/.093/.991,
# de .944/.964/.946/.047/1.0.
SIXTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.90,
    "distress_recall": 0.96,
    "emergency_recall": 0.91,
    "false_alarm_rate": 0.095,  # at most
    "language_accuracy": 0.98,
}

# Every held-out set: name -> (folder under the project root, the floors it is held to).
# The last one is the fair estimate (its errors are never looked at).
HELDOUT_SETS: Dict[str, Tuple[str, Dict[str, float]]] = {
    "first": ("tests/nlu", FLOORS),
    "second": ("tests/nlu/second", SECOND_SET_FLOORS),
    "third": ("tests/nlu/third", THIRD_SET_FLOORS),
    "fourth": ("tests/nlu/fourth", FOURTH_SET_FLOORS),
    "fifth": ("tests/nlu/fifth", FIFTH_SET_FLOORS),
    "sixth": ("tests/nlu/sixth", SIXTH_SET_FLOORS),
    "seventh": ("tests/nlu/seventh", SEVENTH_SET_FLOORS),
    "eighth": ("tests/nlu/eighth", EIGHTH_SET_FLOORS),
    "ninth": ("tests/nlu/ninth", NINTH_SET_FLOORS),
    "tenth": ("tests/nlu/tenth", TENTH_SET_FLOORS),
    "eleventh": ("tests/nlu/eleventh", ELEVENTH_SET_FLOORS),
    "twelfth": ("tests/nlu/twelfth", TWELFTH_SET_FLOORS),
    "thirteenth": ("tests/nlu/thirteenth", THIRTEENTH_SET_FLOORS),
    "fourteenth": ("tests/nlu/fourteenth", FOURTEENTH_SET_FLOORS),
    "fifteenth": ("tests/nlu/fifteenth", FIFTEENTH_SET_FLOORS),
    "sixteenth": ("tests/nlu/sixteenth", SIXTEENTH_SET_FLOORS),
}


@dataclass
class Score:
    language: str
    examples: int
    intent_macro_f1: float
    distress_recall: float
    emergency_recall: float
    false_alarm_rate: float
    language_accuracy: float
    errors: List[Tuple[str, str, str]]

    def failures(self, targets: Dict[str, float] = GOALS) -> List[str]:
        failed = []
        for name, goal in targets.items():
            value = getattr(self, name)
            ok = value <= goal if name == "false_alarm_rate" else value >= goal
            if not ok:
                failed.append(f"{self.language} {name} {value:.3f} (goal {goal})")
        return failed


def heldout_examples(path: Path) -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


async def score_language(assistant: Any, language: str, examples: List[Tuple[str, str]]) -> Score:
    from sklearn.metrics import f1_score

    from bot.dialogue.signals import DISTRESS_INTENTS, EMERGENCY_INTENTS, signals

    gold, predicted, found_language, errors = [], [], [], []
    for text, intent in examples:
        record = signals(await assistant.parse(text))
        gold.append(intent)
        predicted.append(record["intent"])
        found_language.append(record["language"])
        if record["intent"] != intent:
            errors.append((intent, record["intent"], text))

    def recall(intents: frozenset) -> float:
        relevant = [p for g, p in zip(gold, predicted) if g in intents]
        return sum(p in intents for p in relevant) / len(relevant) if relevant else 1.0

    benign = [p for g, p in zip(gold, predicted) if g not in DISTRESS_INTENTS]
    labels = sorted(set(gold))
    return Score(
        language=language,
        examples=len(examples),
        intent_macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        distress_recall=recall(DISTRESS_INTENTS),
        emergency_recall=recall(EMERGENCY_INTENTS),
        false_alarm_rate=sum(p in DISTRESS_INTENTS for p in benign) / len(benign) if benign else 0.0,
        language_accuracy=sum(found == language for found in found_language) / len(found_language),
        errors=errors,
    )


async def evaluate(assistant: Any, heldout_dir: Path) -> Dict[str, Score]:
    scores = {}
    for language in LANGUAGES:
        examples = heldout_examples(heldout_dir / f"heldout_{language}.yml")
        scores[language] = await score_language(assistant, language, examples)
    return scores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model archive (default: latest in models/)")
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("--dir", help="folder of heldout_<lang>.yml files (default: tests/nlu)")


def run(args: argparse.Namespace) -> int:
    from bot.dialogue.assistant import Assistant
    from bot.settings import Settings

    settings = Settings.from_env()
    assistant = Assistant.load(settings, Path(args.model) if args.model else None)
    heldout_dir = Path(args.dir) if args.dir else settings.root / "tests" / "nlu"
    scores = asyncio.run(evaluate(assistant, heldout_dir))
    if args.json:
        print(json.dumps({k: {n: v for n, v in asdict(s).items() if n != "errors"}
                          for k, s in scores.items()}, indent=2))
    else:
        print("lang  n    intentF1 distress emergency falseAlarm langAcc")
        for s in scores.values():
            print(f"{s.language:4}  {s.examples:<4} {s.intent_macro_f1:8.3f} {s.distress_recall:8.3f}"
                  f" {s.emergency_recall:9.3f} {s.false_alarm_rate:10.3f} {s.language_accuracy:7.3f}")
    if args.errors:
        for s in scores.values():
            for gold, got, text in s.errors:
                print(f"{s.language} {gold:>26} -> {got:<26} {text}")
    failures = [f for s in scores.values() for f in s.failures()]
    for failure in failures:
        print("below goal:", failure)
    return 1 if failures else 0
