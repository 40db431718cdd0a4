"""Yes / no answers and their spoken variants.

Phrases are matched longest first and consume their words, so "pas d'accord" is a no
and never also the yes "d'accord". An answer holding both a yes and a no ("oui non"),
or a phrase of doubt ("je sais pas"), is ambiguous: None.
"""

from __future__ import annotations

from ivr_flows.understanding.normalise import words

YES = {
    "fr": [
        "oui", "ouais", "ouai", "ouep", "ouaip", "si", "d'accord", "dac", "ok", "okay", "okey",
        "c'est ça", "c'est bien ça", "c'est exact", "c'est correct", "c'est bon", "exactement",
        "exact", "tout à fait", "absolument", "bien sûr", "évidemment", "parfait", "parfaitement",
        "ça marche", "ça me va", "ça me convient", "ça va", "volontiers", "affirmatif",
        "certainement", "carrément", "voilà", "en effet", "effectivement", "je confirme",
        "oui merci", "avec plaisir", "entendu", "très bien", "c'est parfait", "bien entendu",
        "je veux bien", "c'est moi", "yes", "je crois que oui", "je pense que oui",
    ],
    "en": [
        "yes", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "that is right",
        "that is correct", "right", "exactly", "absolutely", "of course", "definitely",
        "certainly", "ok", "okay", "fine", "that is fine", "sounds good", "perfect", "please",
        "yes please", "affirmative", "indeed", "that is it", "that works", "go ahead",
        "alright", "all right", "i do", "it is", "that is me", "uh huh", "correctamundo",
        "you got it", "true", "for sure", "i confirm", "i think so", "i believe so",
    ],
}
NO = {
    "fr": [
        "non", "nan", "nope", "pas du tout", "absolument pas", "surtout pas", "pas vraiment",
        "négatif", "jamais", "aucunement", "non merci", "c'est pas ça", "ce n'est pas ça",
        "c'est faux", "pas ça", "pas d'accord", "ça ne va pas", "ça va pas", "ça me va pas",
        "ça ne me va pas", "ça ne me convient pas", "ça me convient pas", "pas question",
        "hors de question", "je ne veux pas", "je veux pas", "pas celui là", "pas le bon",
        "c'est une erreur", "erreur", "incorrect", "pas bon", "ce n'est pas moi",
        "c'est pas moi", "pas exactement", "pas trop", "aucun", "ça marche pas", "no",
        "je crois que non", "je pense que non", "je crois pas", "je ne crois pas", "je pense pas",
        "je ne pense pas",
    ],
    "en": [
        "no", "nope", "nah", "not really", "not at all", "no thanks", "no thank you",
        "that is wrong", "wrong", "incorrect", "negative", "that is not right",
        "that is not correct", "not correct", "not right", "i do not think so", "never",
        "absolutely not", "certainly not", "definitely not", "of course not", "not that",
        "do not", "i do not", "it is not", "that is not me", "no way", "not quite",
        "not exactly", "not me", "nay", "i think not", "i do not believe so",
    ],
}
UNSURE = {
    "fr": [
        "je sais pas", "je ne sais pas", "chais pas", "sais pas", "peut être", "je crois",
        "je pense", "je ne suis pas sûr", "je suis pas sûr", "pas sûr", "pas sûre",
        "je ne sais plus", "je sais plus", "aucune idée", "je ne me souviens pas",
        "je me souviens pas", "comment", "pardon", "quoi", "je n'ai pas compris",
        "j'ai pas compris", "répétez", "vous pouvez répéter", "oui ou non",
    ],
    "en": [
        "i do not know", "do not know", "dunno", "maybe", "perhaps", "not sure", "i am not sure",
        "i guess", "i think", "no idea", "i can not remember", "i do not remember", "sorry",
        "pardon", "what", "come again", "say that again", "can you repeat", "i am unsure",
        "unsure", "yes or no",
    ],
}
NEGATORS = {"fr": frozenset({"pas", "ne", "n"}), "en": frozenset({"not", "never"})}


def _table(phrases: dict[str, list[str]], lang: str) -> list[tuple[str, ...]]:
    seqs = {words(p, lang) for p in phrases.get(lang, phrases["fr"])}
    return sorted((s for s in seqs if s), key=len, reverse=True)


_TABLES = {
    lang: [(label, seq) for label, table in (("unsure", UNSURE), ("no", NO), ("yes", YES))
           for seq in _table(table, lang)]
    for lang in ("fr", "en")
}
_BY_FIRST_WORD: dict[str, dict[str, list[tuple[str, tuple[str, ...]]]]] = {}
for _lang, _entries in _TABLES.items():
    _entries.sort(key=lambda e: len(e[1]), reverse=True)
    _index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for _label, _seq in _entries:
        _index.setdefault(_seq[0], []).append((_label, _seq))
    _BY_FIRST_WORD[_lang] = _index


def yes_no_votes(text: str, lang: str) -> dict[str, int]:
    """How many yes, no and unsure phrases the answer holds."""
    t = words(text, lang)
    table = _BY_FIRST_WORD.get(lang, _BY_FIRST_WORD["fr"])
    negators = NEGATORS.get(lang, NEGATORS["fr"])
    votes = {"yes": 0, "no": 0, "unsure": 0}
    i = 0
    while i < len(t):
        for label, seq in table.get(t[i], ()):
            if t[i:i + len(seq)] == seq:
                if label == "yes" and i > 0 and t[i - 1] in negators:
                    label = "no"
                votes[label] += 1
                i += len(seq)
                break
        else:
            i += 1
    return votes


def parse_yes_no(text: str, lang: str) -> bool | None:
    """True for a yes ("ouais", "tout à fait", "that's right"), False for a no
    ("pas du tout", "nope"), None when absent, mixed or doubtful ("oui non", "je sais pas").
    """
    votes = yes_no_votes(text, lang)
    if votes["unsure"] or (votes["yes"] and votes["no"]):
        return None
    if votes["yes"]:
        return True
    if votes["no"]:
        return False
    return None
