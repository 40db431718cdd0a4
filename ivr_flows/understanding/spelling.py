"""Names spelled letter by letter: "d u p o n t", "dé u pé o enne té", "d comme Denis",
"double v", "tiret", "dee you pee oh en tee", "d as in delta".

French "e" is said "eu"; a recogniser's "euh" is taken as a hesitation, not an E.
Words that are not letters are skipped; None when no letter was said.
"""

from __future__ import annotations

from ivr_flows.understanding.normalise import words

_SINGLE = {c: c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}
LETTER_NAMES = {
    "fr": {
        **_SINGLE, "ah": "A", "be": "B", "bai": "B", "ce": "C", "ces": "C", "ses": "C",
        "de": "D", "des": "D", "eu": "E", "effe": "F", "ef": "F", "eff": "F", "ge": "G",
        "ache": "H", "hache": "H", "ji": "J", "gi": "J", "ka": "K", "ca": "K", "elle": "L",
        "el": "L", "ele": "L", "emme": "M", "em": "M", "aime": "M", "enne": "N", "en": "N",
        "haine": "N", "oh": "O", "eau": "O", "au": "O", "pe": "P", "paix": "P", "cu": "Q",
        "ku": "Q", "qu": "Q", "erre": "R", "air": "R", "aire": "R", "er": "R", "ere": "R",
        "esse": "S", "es": "S", "te": "T", "the": "T", "thes": "T", "hu": "U", "ve": "V",
        "ixe": "X", "iks": "X", "ix": "X", "igrec": "Y", "zede": "Z", "zed": "Z",
    },
    "en": {
        **_SINGLE, "ay": "A", "eh": "A", "bee": "B", "be": "B", "see": "C", "sea": "C",
        "cee": "C", "dee": "D", "ee": "E", "ef": "F", "eff": "F", "gee": "G", "jee": "G",
        "aitch": "H", "haitch": "H", "eye": "I", "aye": "I", "jay": "J", "kay": "K",
        "el": "L", "ell": "L", "em": "M", "en": "N", "oh": "O", "pee": "P", "pea": "P",
        "cue": "Q", "queue": "Q", "kew": "Q", "are": "R", "ar": "R", "es": "S", "ess": "S",
        "tee": "T", "tea": "T", "you": "U", "yew": "U", "vee": "V", "ex": "X", "why": "Y",
        "wye": "Y", "zed": "Z", "zee": "Z",
    },
}
SEQUENCES = {
    "fr": {
        "i grec": "Y", "double ve": "W", "double v": "W", "double vee": "W", "doublevé": "W",
        "e accent aigu": "É", "e aigu": "É", "e accent grave": "È", "e grave": "È",
        "e accent circonflexe": "Ê", "e circonflexe": "Ê", "e tréma": "Ë", "i tréma": "Ï",
        "i accent circonflexe": "Î", "a accent grave": "À", "o accent circonflexe": "Ô",
        "c cédille": "Ç", "trait d'union": "-", "tiret": "-", "apostrophe": "'",
        "espace": " ", "deux mots": " ",
    },
    "en": {
        "double you": "W", "double u": "W", "hyphen": "-", "dash": "-", "apostrophe": "'",
        "space": " ",
    },
}
SPELLING_ALPHABETS = {
    "fr": ("anatole berthe celestin desire eugene francois gaston henri irma joseph kleber "
           "louis marcel nicolas oscar pierre quintal raoul suzanne therese ursule victor "
           "william xavier yvonne zoe"),
    "en": ("alpha alfa bravo charlie delta echo foxtrot golf hotel india juliet juliett kilo "
           "lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
           "whisky xray yankee zulu"),
}
AS_IN = {"fr": (("comme",), ("comme", "dans")),
         "en": (("as", "in"), ("for",), ("like",), ("as", "in", "the"))}
DOUBLERS = {"fr": ("double", "deux"), "en": ("double",)}
LEAD_INS = {
    "fr": ["ça s'écrit", "ça s'épelle", "je vous épelle", "j'épelle", "c'est", "mon nom",
           "mon nom de famille", "mon prénom", "le nom", "je m'appelle", "s'écrit", "alors",
           "donc", "oui"],
    "en": ["it is spelled", "it is spelt", "spelled", "spelt", "my name is", "my surname is",
           "that is", "it is", "so", "yes", "okay", "ok"],
}
TRAILERS = {
    "fr": ["c'est ça", "c'est tout", "voilà", "merci"],
    "en": ["that is it", "that is all", "thank you", "thanks"],
}
SKIPPED = {"fr": frozenset({"et", "puis", "ensuite", "majuscule", "virgule", "point"}),
           "en": frozenset({"and", "then", "capital", "comma", "with", "an", "letter"})}


def _seqs(table: list[str], lang: str) -> list[tuple[str, ...]]:
    return sorted({words(p, lang) for p in table} - {()}, key=len, reverse=True)


_SEQUENCES = {lang: sorted(((words(k, lang), v) for k, v in table.items()),
                           key=lambda kv: len(kv[0]), reverse=True)
              for lang, table in SEQUENCES.items()}
_LEAD_INS = {lang: _seqs(table, lang) for lang, table in LEAD_INS.items()}
_TRAILERS = {lang: _seqs(table, lang) for lang, table in TRAILERS.items()}
_ALPHABETS = {lang: frozenset(names.split()) for lang, names in SPELLING_ALPHABETS.items()}


def _strip_ends(t: tuple[str, ...], lang: str) -> tuple[str, ...]:
    changed = True
    while changed and t:
        changed = False
        for seq in _LEAD_INS[lang]:
            if t[:len(seq)] == seq:
                t, changed = t[len(seq):], True
                break
        for seq in _TRAILERS[lang]:
            if len(t) > len(seq) and t[-len(seq):] == seq:
                t, changed = t[:-len(seq)], True
                break
    return t


def _letter_at(t: tuple[str, ...], i: int, lang: str) -> tuple[str, int] | None:
    for seq, out in _SEQUENCES[lang]:
        if t[i:i + len(seq)] == seq:
            return out, i + len(seq)
    w = t[i]
    if w in LETTER_NAMES[lang]:
        return LETTER_NAMES[lang][w], i + 1
    if w in _ALPHABETS[lang]:
        return w[0].upper(), i + 1
    return None


def parse_spelled_name(text: str, lang: str) -> str | None:
    """The name spelled in `text`, in capitals ("d u p o n t" -> "DUPONT"), or None."""
    lang = lang if lang in LETTER_NAMES else "fr"
    t = _strip_ends(words(text, lang), lang)
    out: list[str] = []
    i = 0
    while i < len(t):
        as_in = next((seq for seq in sorted(AS_IN[lang], key=len, reverse=True)
                      if t[i:i + len(seq)] == seq), None)
        if as_in is not None:
            k = i + len(as_in)
            if k < len(t):
                if not out or out[-1] in "-' ":
                    out.append(t[k][0].upper())
                i = k + 1
            else:
                i = k
            continue
        if t[i] in DOUBLERS[lang] and i + 1 < len(t):
            found = _letter_at(t, i, lang)  # "double v" is W in French
            if found and found[1] > i + 1:
                out.append(found[0])
                i = found[1]
                continue
            nxt = _letter_at(t, i + 1, lang)
            if nxt:
                out.append(nxt[0] * 2)
                i = nxt[1]
                continue
        found = _letter_at(t, i, lang)
        if found:
            out.append(found[0])
            i = found[1]
        else:
            i += 1  # not a letter (SKIPPED words, stray words): ignored
    name = "".join(out).strip(" -'")
    return name or None
