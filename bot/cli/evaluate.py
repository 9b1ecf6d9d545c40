"""``python -m bot evaluate``: score the NLU on the held-out sets in ``tests/nlu/<set>``.

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
# What the current model is held to in `make test` so that it cannot get worse: set just
# below the measured figures. Where a floor is under its goal, the goal is not met yet (see
# the README's "Quality" section); raise floors as data improves. The first ten held-out sets
# became training data in session 10 (nlu/<lang>/former_test_sets.yml); the held-out sets
# now start at the eleventh. "Session 10" below: with sets one to ten trained on and
# character 3- to 5-grams.
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
# Session 10: nl .988/1.0/1.0/.009, fr .997/1.0/1.0/0, en .974/.990/.971/.038, de
# .995/1.0/.971/0.
ELEVENTH_SET_FLOORS = {
    "intent_macro_f1": 0.97,
    "distress_recall": 0.98,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.04,  # at most
    "language_accuracy": 0.99,
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
# Session 10: nl .978/1.0/1.0/.021, fr .990/1.0/1.0/.010, en .977/.980/.970/.010, de
# .986/1.0/1.0/.029.
TWELFTH_SET_FLOORS = {
    "intent_macro_f1": 0.97,
    "distress_recall": 0.97,
    "emergency_recall": 0.96,
    "false_alarm_rate": 0.03,  # at most
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
# Session 10: nl .983/.981/.972/.033, fr .970/.990/1.0/0, en .988/.981/1.0/.010, de
# .975/1.0/1.0/.064.
THIRTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.97,
    "distress_recall": 0.98,
    "emergency_recall": 0.97,
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
# Session 10: nl .971/.973/.973/.048, fr .971/.991/1.0/.028, en .944/.991/1.0/.068, de
# .972/.982/.974/.049.
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
# Session 10: nl .974/.991/1.0/.035, fr .972/.982/1.0/.071, en .980/.973/1.0/.027, de
# .961/.964/.974/.071.
FIFTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.96,
    "distress_recall": 0.96,
    "emergency_recall": 0.97,
    "false_alarm_rate": 0.08,  # at most
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
# Session 10: nl .951/.981/.943/.093, fr .975/1.0/1.0/.062, en .927/1.0/1.0/.075, de
# .967/.982/.973/.047.
SIXTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.92,
    "distress_recall": 0.98,
    "emergency_recall": 0.94,
    "false_alarm_rate": 0.095,  # at most
    "language_accuracy": 0.98,
}

# The seventeenth set (tests/nlu/seventeenth), 221-227 messages per language by four more
# authors (two per language, none saw the project): warehouses, meat plants, greenhouses and
# hotels, recruiters from the writer's own community, mothers with children back home;
# prostitution run by a "manager" or partner, shoplifting crews, grow houses and card fraud,
# people with a disability exploited by relatives; older writers, live-in carers, truck
# drivers, fishermen, begging children; students and young migrants, sham sponsors, visa
# debts, football academies and hair salons. Look-alikes from overtime, unions, pensions,
# taxes, nightlife, dating apps, true-crime podcasts, visas done properly and weddings. Lines
# equal to a training or held-out line were dropped (3-9 per language). Written and measured
# after the changes of session 10, with its final model (distress 110-111 and benign
# 111-117 messages per language): nl .938/.973/.919/.088/1.0, fr .967/1.0/1.0/.070/1.0,
# en .965/.991/1.0/.051/.987, de .925/.982/.972/.081/.995.
SEVENTEENTH_SET_FLOORS = {
    "intent_macro_f1": 0.92,
    "distress_recall": 0.97,
    "emergency_recall": 0.91,
    "false_alarm_rate": 0.09,  # at most
    "language_accuracy": 0.98,
}

# Every held-out set: name -> (folder under the project root, the floors it is held to).
# The last three are the fair estimate (their errors are not looked at).
HELDOUT_SETS: Dict[str, Tuple[str, Dict[str, float]]] = {
    "eleventh": ("tests/nlu/eleventh", ELEVENTH_SET_FLOORS),
    "twelfth": ("tests/nlu/twelfth", TWELFTH_SET_FLOORS),
    "thirteenth": ("tests/nlu/thirteenth", THIRTEENTH_SET_FLOORS),
    "fourteenth": ("tests/nlu/fourteenth", FOURTEENTH_SET_FLOORS),
    "fifteenth": ("tests/nlu/fifteenth", FIFTEENTH_SET_FLOORS),
    "sixteenth": ("tests/nlu/sixteenth", SIXTEENTH_SET_FLOORS),
    "seventeenth": ("tests/nlu/seventeenth", SEVENTEENTH_SET_FLOORS),
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
    parser.add_argument("--dir", help="one folder of heldout_<lang>.yml files (default: every held-out set)")


def run(args: argparse.Namespace) -> int:
    from bot.dialogue.assistant import Assistant
    from bot.settings import Settings

    settings = Settings.from_env()
    assistant = Assistant.load(settings, Path(args.model) if args.model else None)
    folders = ({args.dir: Path(args.dir)} if args.dir
               else {name: settings.root / folder for name, (folder, _) in HELDOUT_SETS.items()})
    report = {name: asyncio.run(evaluate(assistant, folder)) for name, folder in folders.items()}
    if args.json:
        print(json.dumps({name: {k: {n: v for n, v in asdict(s).items() if n != "errors"}
                                 for k, s in scores.items()} for name, scores in report.items()},
                         indent=2))
    else:
        for name, scores in report.items():
            print_scores(name, scores, args.errors)
    failures = [f"{name} {f}" for name, scores in report.items() for s in scores.values() for f in s.failures()]
    for failure in failures:
        print("below goal:", failure)
    return 1 if failures else 0


def print_scores(name: str, scores: Dict[str, Score], errors: bool) -> None:
    print(f"{name}\nlang  n    intentF1 distress emergency falseAlarm langAcc")
    for s in scores.values():
        print(f"{s.language:4}  {s.examples:<4} {s.intent_macro_f1:8.3f} {s.distress_recall:8.3f}"
              f" {s.emergency_recall:9.3f} {s.false_alarm_rate:10.3f} {s.language_accuracy:7.3f}")
    if errors:
        for s in scores.values():
            for gold, got, text in s.errors:
                print(f"{s.language} {gold:>26} -> {got:<26} {text}")
