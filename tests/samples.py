"""Messages people write, per language, used by the conversation tests."""

EMERGENCY = {
    "nl": "help hij slaat me nu en ik ben opgesloten in de kamer",
    "fr": "au secours il me frappe maintenant, je suis enfermee dans la chambre",
    "en": "help he is hitting me right now and i am locked in the room",
    "de": "hilfe er schlaegt mich gerade und ich bin im zimmer eingesperrt",
}
DISCLOSURE = {
    "nl": "mijn baas heeft mijn paspoort afgepakt en ik krijg al maanden geen loon",
    "fr": "mon patron a pris mon passeport et je ne suis pas payee depuis des mois",
    "en": "my boss took my passport and i have not been paid for months",
    "de": "mein chef hat meinen pass weggenommen und ich bekomme seit monaten keinen lohn",
}
BYSTANDER = {
    "nl": "ik denk dat mijn buurvrouw wordt uitgebuit, hoe kan ik dat melden?",
    "fr": "je pense que ma voisine est exploitee, comment je peux le signaler?",
    "en": "i think my neighbour is being exploited, how can i report it?",
    "de": "ich glaube meine nachbarin wird ausgebeutet, wie kann ich das melden?",
}
HUMAN = {
    "nl": "ik wil met een echte persoon praten",
    "fr": "je veux parler a une vraie personne",
    "en": "i want to talk to a real person",
    "de": "ich will mit einem echten menschen sprechen",
}
GREETING = {
    "nl": "hallo, ik heb een vraag over mijn werk",
    "fr": "bonjour, j'ai une question sur mon travail",
    "en": "hello, i have a question about my job",
    "de": "hallo, ich habe eine frage zu meiner arbeit",
}
OTHER_LANGUAGE = "necesito ayuda, mi jefe no me paga y no puedo salir de la casa"
