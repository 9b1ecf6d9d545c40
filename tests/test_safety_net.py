"""The safety net: danger and exploitation patterns in four languages, and their limits."""

from __future__ import annotations

import re

import pytest

from bot.nlu.safety_net import (
    leaning_to_distress, load_patterns, overridden_intent, positive_part_first, scan, scan_patterns,
)


@pytest.mark.parametrize("text", [
    "he is hitting me right now", "I'm locked in the room", "they are coming back tonight",
    "hij slaat me nu", "ik ben opgesloten", "ze komen terug",
    "il me frappe", "je suis enfermée", "ils reviennent ce soir", "je ne suis pas en sécurité",
    "er schlägt mich", "ich bin eingesperrt", "sie kommen gleich zurück",
])
def test_danger_is_seen(text):
    assert scan(text) == "emergency"


@pytest.mark.parametrize("text", [
    "my boss took my passport", "I owe them for the trip and can never pay",
    "ze hebben mijn paspoort afgepakt", "ik krijg geen loon",
    "ils ont pris mon passeport", "ils menacent ma famille",
    "sie haben meinen pass weggenommen", "ich bekomme keinen lohn",
    # a debt paid back through men or clients
    "mijn lief zegt dat ik hem moet terugbetalen door met zijn vrienden mee te gaan",
    "je dois rembourser le voyage avec les clients qu'il m'envoie", "i have to pay it back with the men he brings",
    "ich muss die schulden bei den freiern abarbeiten",
    # wants to leave but is not let go
    "i want to leave but they won't let me", "ik wil weg maar ze laten me niet gaan",
    "je veux partir mais ils me laissent pas", "ich will hier weg aber sie lassen mich nicht",
    # the words for trafficking and exploitation, when the writer speaks of themself
    "i think i am trafficked", "ik word uitgebuit op een bouwwerf", "ils m'exploitent au resto",
    "is what is happening to me human trafficking?",
    # cards kept, hit at work, wages taken, married against one's will (session 9)
    "they keep our passports", "l'agence a pris ma carte d'identité", "der Sohn hat meine Identitätskarte",
    "le chef nous bat quand on est trop lents", "de baas slaat ons als we te traag zijn",
    "the owner takes my whole wage for the visa", "mes parents veulent me marier avec mon cousin, je veux pas",
    "my father wants me to marry my cousin, I don't want it", "ze willen mij uithuwelijken",
    "die wollen mich in der heimat verheiraten",
    "je suis victime de traite", "ich werde ausgebeutet und bekomme nichts",
    "mein zuhalter nimmt alles", "the madam says i owe her more",
])
def test_exploitation_is_seen(text):
    assert scan(text) == "exploitation"


@pytest.mark.parametrize("text", [
    "my boss pays my overtime", "I lost my passport at the airport", "I owe a friend 50 euros",
    "I am locked out of my car", "mijn baas betaalt mijn overuren", "oui je suis en sécurité maintenant",
    "je me suis enfermé dehors de ma voiture", "yes I am safe now", "ja ik ben veilig", "ik ben mijn paspoort kwijt",
    "j'ai perdu mon passeport à l'aéroport", "je dois 50 euros à un ami",
    "ich habe meinen pass am flughafen verloren", "ich schulde einem freund 50 euro",
    "i have to pay back my friends for the concert tickets", "je dois rembourser mes potes pour le resto",
    "ik moet mijn vrienden nog terugbetalen voor de citytrip", "der kunde will sein geld zuruckzahlen lassen",
    # "slave" is no sign (on held-out sets one to thirteen it was a joke or homework every time
    # the classifier had not already seen distress), nor a question about someone else
    "my boss is a total slave driver lol", "onze ploegbaas is een echte slavendrijver",
    "ma belle-mère me traite comme son esclave en cuisine", "Mein Chef nennt uns seine Sklaven 😂",
    "I'm basically a slave to this spreadsheet", "mijn vrouw zegt dat ik haar slaaf ben in de keuken",
    "devoir d'histoire sur la traite des Noirs", "il me traite bien, je suis content",
    "ik denk dat mijn buurvrouw uitgebuit wordt", "who do i tell if i suspect someone is exploited",
    "qui je dois prévenir si je pense que quelqu'un est exploité", "wo kann man menschenhandel melden?",
    "Blaues Herz gegen Menschenhandel, was bedeutet das?",
    # what the words mean, or how to recognise it (session 9)
    "c koi exactement la traite des etres humains?", "what is human trafficking exactly",
    "wat is mensenhandel juist?", "was ist menschenhandel genau", "comment on reconnait une victime de traite?",
    "i owe my cousin 200 for the flight home, will pay him back end of month",
    "on m'a volé ma carte d'identité à la foire du midi", "wir haben unsere pässe dabei",
    "the rent takes my whole salary", "my boss hit the jackpot at the casino",
])
def test_harmless_look_alikes_are_left_alone(text):
    assert scan(text) is None


# The patterns added from the held-out sets' errors, by theme: each theme has cases that
# must be danger and look-alikes that must not.
DANGER_NOW = {
    "someone close taken just now": [
        "my sister was just kidnapped", "my little brother has been abducted", "my son was just taken",
        "mijn zus is net ontvoerd", "mijn broertje is zonet meegenomen door twee mannen",
        "ma soeur vient d'être enlevée", "ma copine vient d'être emmenée de force",
        "meine Schwester wurde gerade entführt", "mein Bruder wurde eben in ein Auto gezerrt und mitgenommen"],
    "hiding or having to get out now": [
        "i have to get out now", "hiding under the bed", "we are hiding in the basement",
        "ik moet hier weg, vandaag nog", "ik zit verstopt in de kast", "ik heb me onder het bed verstopt",
        "je suis cachée dans l'armoire", "je dois partir d'ici aujourd'hui",
        "ich hab mich im schrank versteckt", "ich muss hier raus, heute noch"],
    "forced into a vehicle, or locked in with smoke": [
        "two men are dragging a girl into a white van right now", "ik zie twee mannen een vrouw in een busje sleuren",
        "deux hommes poussent une fille dans une camionnette", "sie zerren einen jungen in den transporter",
        "the door is locked and there is smoke", "de deur is op slot en het ruikt naar rook",
        "fumée partout et la porte est bloquée", "die tür ist zu und es riecht nach rauch"],
    "asking us to call the police": [
        "can you call the police for me", "i cant call, please tell the police", "bel politie aub ik kan zelf niet bellen",
        "kunnen jullie de politie bellen", "appelez la police pour moi svp", "je peux pas appeler, prévenez la police",
        "ruft bitte die polizei für mich", "ich kann nicht anrufen, bitte polizei"],
    "a threat if they scream": [
        "he says he will hurt me if i scream", "hij gaat mij slaan als ik roep", "il dit qu'il va me frapper si je crie",
        "er droht mich aus dem Fenster zu werfen wenn ich schreie"],
    "followed, without a subject word": [
        "man volgt mij sinds het station", "de baas volgt mij", "un homme me suit depuis la gare",
        "der typ folgt mir seit dem bahnhof"],
    "no air": [
        "ik krijg geen adem meer in de laadruimte", "we krijgen bijna geen lucht meer",
        "j'arrive plus à respirer dans le camion", "ich krieg keine luft mehr hier drin"],
    "hit now, without a subject word": ["mann schlagt mich jetzt", "bitte hilfe mann schlagen mich jetzt"],
    "a bystander sees someone attacked or taken now": [
        "my neighbour is being dragged out of her flat as we speak", "mijn buurvrouw wordt nu meegesleurd door twee mannen",
        "ze wordt op dit moment geslagen op straat", "ma voisine se fait frapper dans la rue",
        "elle est en train d'être embarquée dans une voiture", "die frau wird gerade verschleppt"],
    "anyone asked to call the police or an ambulance, or an ambulance needed": [
        "someone call police", "please call the police he has a knife", "need ambulance, worker fell from roof",
        "bel de politie aub", "iemand bel een ziekenwagen", "appelez la police vite", "quelqu'un appelle une ambulance",
        "j'ai besoin d'une ambulance", "ruf die polizei, schnell", "ich brauche einen krankenwagen"],
    "only a plea for haste": [
        "hurry up please", "please be quick!!", "haast u aub", "snel snel", "dépêchez-vous svp",
        "faites vite", "beeilen Sie sich bitte", "schnell schnell!"],
    "someone heard or seen being hit right now, by a bystander (session 8)": [
        "he is beating her right now, what do i do", "i can hear a woman screaming for help next door right now",
        "ik hoor de buurvrouw nu om hulp roepen", "hij slaat haar nu, ik sta ernaast",
        "mon oncle est en train de la taper", "j'entends des coups et des cris chez la voisine maintenant",
        "er schlägt sie gerade, ich bin 14", "ich höre beim Nachbarn gerade Schläge und Schreie"],
    "someone screaming for help, heard by a bystander (session 9)": [
        "the girl upstairs is screaming for help", "de buurvrouw roept al een kwartier om hulp",
        "une fille crie au secours dans l'appartement du dessus",
        "über mir schreit ein mädchen seit 10 min um hilfe"],
    "only a few words: not safe, they are here (session 9)": [
        "not safe. now.", "nu niet veilig. ni bellen", "peux pas parler. pas safe", "pas en sécurité",
        "sie sind da", "they're here", "ze zijn hier", "ils sont là",
        "on est plein dans la remorque, l'air manque"],
    "a weapon shown or held, shut in a container, hiding in silence, a child taken now (session 9)": [
        "he pointed a gun at me", "ze bedreigen ons nu met een bijl", "il me montre son pistolet",
        "ils sont en bas avec des battes", "er steht mit einer axt vor der tür",
        "container very hot nobody open, we are 8 persons inside", "nous sommes dans un container au port",
        "wir sind im container, keine luft mehr", "inside a cupboard, cant make noise", "hulp nu",
        "ze pakken mijn kind mee nu"],
}
# Look-alikes that match no pattern at all.
NOTHING_FOUND = {
    "someone hit in a film, a game or long ago; a game alone (session 8)": [
        "in the movie he is beating her right now and i cant watch", "i hear the neighbours' tv, someone screaming in a film now",
        "fortnite level 12 tips please", "je suis en train de taper mon CV", "ik hoor nu een liedje over slagen op de radio 🎵",
        "im Film schlägt er sie gerade, ich schau weg"],
    "taken in a story, long ago or for fun": [
        "my sister was kidnapped in the movie", "my brother was kidnapped 20 years ago",
        "my son was taken to the zoo by grandma", "mijn broer werd meegenomen naar de kermis",
        "mijn broer werd ontvoerd in de film", "la police a embarqué mon frère",
        "mon frère a été enlevé il y a 10 ans", "mein Bruder wurde zum Fußball mitgenommen",
        "meine Schwester wurde im Film entführt"],
    "hide and seek, presents, leaving for work": [
        "i need to get out of bed now lol", "i have to leave now, bye", "i hid the presents in the closet",
        "de kinderen zitten verstopt, verstoppertje", "ik heb de cadeaus verstopt",
        "on joue à cache-cache, je suis caché sous le lit", "je dois partir ce soir pour le travail",
        "ich hab die geschenke im schrank versteckt", "ich muss jetzt aufhören, akku ist fast leer"],
    "loading a van, a fire drill": [
        "we are pushing the sofa into the van", "ik duw de fiets in de bestelwagen",
        "on pousse les cartons dans la camionnette", "wir schieben die kisten in den transporter",
        "the fire door is locked for the drill, no smoke"],
    "following, breathing and calling for help, said harmlessly": [
        "ge volgt mij niet he", "volgt ge mij nog?", "mijn baas volgt mij op linkedin", "de kat volgt mij overal",
        "le chien me suit partout", "die katze folgt mir überall hin", "ik krijg geen adem van het lachen 😂",
        "j'étouffe dans ce bureau avec cette chaleur", "on étouffe ici mdr", "ich krieg keine luft nach dem joggen",
        "how do i call an ambulance in belgium", "i dont need an ambulance", "we need an ambulance driver for the event",
        "no don't call the police", "nee, bel de politie niet", "geen ziekenwagen nodig", "non, n'appelez pas la police",
        "pas besoin d'une ambulance", "bitte keine polizei rufen", "ich brauche keinen krankenwagen",
        "wie ruft man einen krankenwagen", "on a failli appeler la police haha",
        "je lis un polar où une fille se fait enlever à Anvers", "my application is being processed now",
        # in a film, as a joke, or heard at work (session 9)
        "welke film was da weer waar zijn dochter ontvoerd wordt",
        "je suis en danger avec mes vieilles baskets? 😂", "I hear them still working at 2am, the shutter is down outside",
        "they are here for the party", "ze zijn hier al om 8u, de loodgieters", "sie sind da, die pizza ist gekommen",
        "is it not safe to swim here?",
        "hurry up and answer lol", "dépêchez-vous de répondre, j'ai pas toute la journée", "schnell bitte, wie spät ist es"],
    "wanting to leave, harmlessly": [
        "i want to leave my job but i can't afford it", "i want to leave the party but can't find my keys",
        "ik wil weg maar het regent te hard", "ik wil naar huis maar de file gaat niet vooruit",
        "je veux partir mais j'ai pas d'argent pour le train", "je veux rentrer mais il pleut, impossible",
        "ich will weg aber im stau geht nichts", "ich möchte kündigen aber der vertrag geht nicht", "i want to go but i cant lol"],
}
# Look-alikes that may match an exploitation pattern, never a danger one.
NOT_DANGER = {
    "asking whether to call the police": [
        "should i call the police about my neighbour?", "moet ik de politie bellen voor mijn buurvrouw?",
        "je dois appeler la police pour ma voisine?",
        "est-ce que je peux appeler la police si mon patron garde mon passeport?",
        "soll ich die polizei rufen wegen meiner nachbarin?", "ich kann nicht anrufen, mein akku ist leer"],
    "living or sleeping in a container on the site is exploitation, not danger now (session 9)": [
        "we sleep in a container on the building site and the boss takes 300 for it",
        "on dort dans un container sur le chantier", "wir wohnen im container auf der baustelle",
        "ik help nu mijn zus met verhuizen"],
    "a parent or teacher if they shout": [
        "my dad will throw my phone away if i shout again", "de juf gaat ons straffen als we roepen in de klas",
        "le prof va jeter mon gsm si je crie encore", "mein Vater wirft mein Handy weg wenn ich schreie"],
}
# Benign patterns: the net stands aside.
BENIGN = [
    "mijn dochtertje heeft zich voor de grap opgesloten in de badkamer",
    "my daughter locked herself in the bathroom for fun 🙄",
    "ma fille s'est enfermée dans la salle de bain pour rigoler", "meine tochter hat sich zum spaß im bad eingesperrt 😂",
    "gestern 6:0 verloren, die haben uns richtig abgeschlachtet 😂", "HILFE der Kuchen ist im Ofen komplett verbrannt",
    "help mijn taart is verbrand", "what is the song that goes they coming for me",
    # locked in by accident, or a child who locked themselves in and was let out (session 9)
    "mijn zoontje had zichzelf in de badkamer opgesloten, gelukkig kreeg ik de deur open",
    "locked my toddler in the car by accident with the keys inside",
    "mein sohn hat sich aus versehen im bad eingeschlossen", "mon fils s'est enfermé par accident dans les toilettes",
    # paid overtime; homework about an article (session 9)
    "boss made me work saturday again but he pays overtime x1.5", "mijn baas betaalt mijn overuren dubbel",
    "le patron paie les heures sup", "uberstunden werden gut bezahlt",
    "hausaufgabe: einen zeitungsartikel über menschenhandel zusammenfassen",
]


def _cases(table):
    return [pytest.param(text, id=f"{theme}: {text}") for theme, texts in table.items() for text in texts]


@pytest.mark.parametrize("text", _cases(DANGER_NOW))
def test_danger_now_themes_are_danger(text):
    assert scan(text) == "emergency"


@pytest.mark.parametrize("text", _cases(NOTHING_FOUND))
def test_their_look_alikes_match_nothing(text):
    assert scan(text) is None


@pytest.mark.parametrize("text", _cases(NOT_DANGER))
def test_their_look_alikes_are_not_danger(text):
    assert scan(text) != "emergency"


@pytest.mark.parametrize("text", BENIGN)
def test_benign_patterns_stand_the_net_aside(text):
    assert scan_patterns(text) == (True, None)


@pytest.mark.parametrize("text", [
    "he locked me in lol help", "ze hebben mij opgesloten haha help",
    "my friend locked herself in the bathroom, he is banging on the door",
    # a game, when a man from it waits outside with photos as a threat: the danger detector
    # can then speak
    "the guy from fortnite is outside my house and says he sends my pics to my mum unless i come out",
    "die jongen van roblox staat voor mijn school en zegt dat hij mijn fotos rondstuurt",
])
def test_a_joke_marker_or_a_game_does_not_stand_the_net_aside(text):
    assert scan_patterns(text)[0] is False


def test_override_rules():
    assert overridden_intent("greet", "emergency") == "emergency"
    assert overridden_intent("disclose_exploitation", "emergency") == "emergency"
    assert overridden_intent("out_of_scope", "exploitation") == "disclose_exploitation"
    assert overridden_intent("nlu_fallback", "exploitation") == "disclose_exploitation"
    # Questions and reports keep their own answers.
    assert overridden_intent("report_case", "exploitation") is None
    assert overridden_intent("ask_victim_status", "exploitation") is None
    assert overridden_intent("greet", None) is None


def test_a_harmless_intent_gives_way_when_the_distress_intents_together_are_likely():
    ranking = [{"name": "out_of_scope", "confidence": 0.40}, {"name": "disclose_exploitation", "confidence": 0.30},
               {"name": "ask_if_victim", "confidence": 0.20}, {"name": "greet", "confidence": 0.10}]
    assert leaning_to_distress("out_of_scope", ranking)["name"] == "disclose_exploitation"
    assert leaning_to_distress("out_of_scope", ranking, threshold=0.6) is None
    # Already distress: nothing to do; the distress intents unlikely: the harmless intent stays.
    assert leaning_to_distress("request_human", ranking) is None
    assert leaning_to_distress("out_of_scope", [{"name": "out_of_scope", "confidence": 0.7},
                                                {"name": "emergency", "confidence": 0.3}]) is None


def test_shared_fragments_are_written_into_the_patterns(tmp_path):
    assert not [p.pattern for kind in load_patterns().values() for p in kind if "{{" in p.pattern]
    terms = tmp_path / "terms.yml"
    terms.write_text('fragments:\n  not_lol: "(?!.*lol)"\nemergency:\n  en:\n    - "^{{not_lol}}.*help"\n')
    [pattern] = load_patterns(terms)["emergency"]
    assert pattern.search("help me") and not pattern.search("help lol")
    unknown = tmp_path / "unknown.yml"  # another file: patterns are cached by path
    unknown.write_text('emergency:\n  en:\n    - "^{{nowhere}}help"\n')
    with pytest.raises(KeyError):
        load_patterns(unknown)


@pytest.mark.parametrize("pattern, rewritten", [
    (r"^(?!.*\b(lol|xd)\b)(?!.*(\(|\[\)]))\bhelp\b", r"^(?=\bhelp\b)(?!.*\b(lol|xd)\b)(?!.*(\(|\[\)]))\bhelp\b"),
    (r"^(?=.*now)(?!.*lol).*help", r"^(?=.*help)(?=.*now)(?!.*lol).*help"),
    (r"\bhelp\b(?!.*lol)", r"\bhelp\b(?!.*lol)"),  # no leading exclusion: unchanged
    (r"^(?!.*lol)", r"^(?!.*lol)"),  # nothing after the exclusions: unchanged
])
def test_the_positive_part_is_tried_before_the_exclusions(pattern, rewritten):
    assert positive_part_first(pattern) == rewritten
    for text in ("help", "help lol", "please help now", "help ( me", "now help", "lol", "helpless now"):
        assert bool(re.search(pattern, text)) == bool(re.search(rewritten, text)), text
