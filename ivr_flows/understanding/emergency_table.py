"""The emergency phrases Telesec listens for, per language: a table a practice can extend.

Each entry is (regular expression, weight). Expressions are matched on the accent-folded
normalised text (write them with or without accents: they are folded before compiling).
An utterance scoring 1.0 or more is an emergency: strong phrases weigh 1.0 on their own,
weak cues (a body part, a pain word) need each other. MASKS are wordings that say there
is no emergency ("ce n'est pas urgent"); the words they cover cannot trigger anything,
but a symptom said in the same sentence still does (misses are worse than false alarms).
Extra phrases: `EmergencyDetector.with_extra(...)` or a YAML file (see emergency.py).
"""

from __future__ import annotations

PATTERNS: dict[str, list[tuple[str, float]]] = {
    "fr": [
        # urgence explicite, secours
        (r"urgen(ce|ces|t|te|tes|ts|tissime)", 1.0),
        (r"samu|pompiers|ambulance|secours", 1.0),
        (r"(appel\w*|faire|composer|faut) (le )?(15|quinze|112|cent douze|18|dix huit)", 1.0),
        (r"au secours|a l aide|aidez moi", 1.0),
        # poitrine, cœur
        (r"douleurs? thoraciques?", 1.0),
        (r"(douleurs?|mal|serrement|oppression|pression|brulures?|poids|points?|serre)"
         r" (a|au|dans|sur) (la|le|ma|sa|les) (poitrine|thorax|coeur)", 1.0),
        (r"poitrine", 0.6),
        (r"thorax|thoracique", 0.6),
        (r"(douleurs?|mal|serre|serrement|oppress\w*|brule|ecrase\w*)", 0.5),
        (r"bras gauche", 0.5),
        (r"crise cardiaque|infarctus|arret cardiaque|attaque cardiaque", 1.0),
        (r"coeur (s est arrete|ne bat plus|bat plus|s arrete|lache)", 1.0),
        (r"palpitations?|coeur (qui )?s emball\w*", 0.5),
        # respiration
        (r"(ne |n )?respire (plus|pas|mal|difficilement|tres mal|bizarrement|avec difficulte)",
         1.0),
        (r"(du |de )?mal a respirer", 1.0),
        (r"(arrive|arrivons|arrivent|arrives|peux|peut|pouvons) (plus|pas|presque plus)"
         r" a? ?respirer", 1.0),
        (r"difficult\w* (a|pour) respirer|respiration difficile|detresse respiratoire", 1.0),
        (r"etouff\w*|suffoqu\w*|manque d air|s asphyxie", 1.0),
        (r"essouffl\w*|souffle court|a bout de souffle|siffle en respirant", 0.5),
        (r"levres? (bleues?|violettes?)|devient bleu\w*", 1.0),
        # conscience, malaise
        (r"malaise", 1.0),
        (r"perdu connaissance|perte de connaissance|sans connaissance", 1.0),
        (r"inconscient\w*|evanoui\w*|tombe\w* dans les pommes|syncope", 1.0),
        (r"(ne )?(se )?reveille (plus|pas)|(ne )?repond plus|ne bouge plus|bouge plus", 1.0),
        (r"s est effondre\w*|effondre\w* par terre|tombe\w* par terre", 1.0),
        (r"tombe\w* (et )?(il |elle )?(n arrive|ne peut|ne se releve|se releve) (plus|pas)",
         1.0),
        # saignement
        (r"h?emm?orr?agie", 1.0),
        (r"saign\w* (beaucoup|abondamment|enormement|sans arret|partout|tres fort|fort|"
         r"de partout|comme un|a flots|trop)", 1.0),
        (r"beaucoup de sang|perd\w* (beaucoup de |tout son |enormement de )sang|"
         r"pisse le sang|mare de sang|du sang partout", 1.0),
        (r"saignement\w* (abondant|important|qui ne s arrete pas|enorme)\w*", 1.0),
        (r"(arrive pas|n arrive pas|n arrivons pas) a arreter (le|les) saignement\w*", 1.0),
        (r"saign\w*|sang", 0.5),
        (r"crach\w* (du )?sang|vomi\w* (du )?sang", 1.0),
        # AVC, neurologie
        (r"avc|a v c|accident vasculaire|attaque cerebrale", 1.0),
        (r"paralys\w*", 1.0),
        (r"(bouche|visage|figure) (de travers|tordue?|deformee?|qui tombe|paralyse\w*)", 1.0),
        (r"(sent|sens|sentons) plus (son|mon|sa|ma|ses|mes) (bras|jambes?|visage|cote)", 1.0),
        (r"(n arrive|arrive|ne peut|peut) plus (a )?parler|parle de travers|"
         r"n articule plus|mots qui ne sortent pas", 1.0),
        (r"convuls\w*|crise d epilep\w*|epilep\w*|convulse", 1.0),
        (r"fait une crise|en crise|tremble de partout", 0.6),
        (r"(la|une) tete (qui )?(va |vas )?exploser|pire mal de tete", 0.6),
        # intoxication, surdose
        (r"overdose|surdose|intoxi\w*|empoisonn\w*", 1.0),
        (r"(avale|pris|prendre) (toute (la|une) (boite|plaquette)|tous (mes|ses|les) "
         r"(medicaments|cachets|comprimes)|trop de (medicaments|cachets|comprimes|pilules))",
         1.0),
        (r"trop de (medicaments|cachets|comprimes|pilules)", 1.0),
        # idées suicidaires
        (r"suicid\w*|me tuer|se tuer|me foutre en l air|en finir avec (la vie|tout)", 1.0),
        (r"(veux|veut|envie de|vais) mourir|plus envie de vivre|mettre fin a (mes|ses) jours",
         1.0),
        (r"me faire du mal|me jeter (sous|par|du)", 1.0),
        # autres
        (r"choc anaphylactique|oedeme de quincke|gorge (qui )?(gonfle|enfle)|"
         r"(visage|langue|levres?) (qui )?(gonfle|enfle)\w*", 1.0),
        (r"grave\w* brul\w*|brul\w* (grave|graves|au troisieme degre)", 1.0),
        (r"perdu les eaux|perd les eaux|je perds les eaux|va accoucher|accouche", 1.0),
        (r"accident|renverse\w* par une voiture", 0.7),
        (r"tres grave|c est grave|vital|danger de mort|va mourir|en train de mourir", 1.0),
    ],
    "en": [
        (r"emergenc(y|ies)|urgent\w*|urgently", 1.0),
        (r"ambulance|paramedics?|(call|dial|phone) (911|999|112|nine one one|nine nine nine)",
         1.0),
        (r"help me|somebody help|please help", 0.7),
        (r"chest (pain|pains|hurts|is hurting|hurting|tightness|pressure|is tight|"
         r"feels tight|feels heavy)", 1.0),
        (r"pains? in (my|his|her|the|their) chest|tight(ness)? (in|across) (my|his|her|the)"
         r" chest", 1.0),
        (r"chest", 0.6),
        (r"pain|pains|hurts|hurting|tight|tightness|pressure|crushing|squeezing|ache", 0.5),
        (r"left arm", 0.5),
        (r"heart attack|cardiac arrest|heart (has )?stopped|heart is not beating", 1.0),
        (r"palpitations|heart (is )?racing", 0.5),
        (r"(can not|unable to|could not|can barely|can hardly) breathe|not breathing|"
         r"stopped breathing|breathing (badly|strangely)", 1.0),
        (r"(struggling|trouble|difficulty|hard time|problems?|hard) (to |with |)breath\w*",
         1.0),
        (r"short(ness)? of breath|choking|suffocat\w*|gasping( for air)?|turning blue|"
         r"lips (are |going )?blue", 1.0),
        (r"breathless|wheez\w*", 0.5),
        (r"unconscious|passed out|fainted|fainting|unresponsive|collapsed|blacked out", 1.0),
        (r"(not|will not|does not|can not) wake up|not waking up|not responding|not moving",
         1.0),
        (r"bleeding (heavily|badly|a lot|profusely|everywhere|non stop|so much|really bad)",
         1.0),
        (r"(will not|does not|can not|would not) stop bleeding|lots? of blood|"
         r"blood everywhere|losing (a lot of )?blood|h?a?emorrhag\w*", 1.0),
        (r"bleed\w*|blood", 0.5),
        (r"(coughing|vomiting|throwing) (up )?blood", 1.0),
        (r"stroke|face (is )?droop\w*|slurred speech|slurring|paraly[sz]\w*", 1.0),
        (r"(can not|unable to) (move|feel) (my|his|her) (arm|leg|face|side)|"
         r"numb(ness)? (on|down) one side|(can not|unable to) (speak|talk) properly", 1.0),
        (r"one side of (my|his|her) (body|face)", 0.6),
        (r"seizures?|convuls\w*|fitting|epileptic fit|having a fit", 1.0),
        (r"overdos\w*|poison\w*|took too many|taken too many|swallowed (all|a whole|"
         r"the whole|too many)", 1.0),
        (r"suicid\w*|kill (myself|himself|herself)|end (my|his|her) life|want to die|"
         r"take my (own )?life|not want to live|(harm|hurt) myself", 1.0),
        (r"anaphyla\w*|(throat|tongue|face|lips) (is |are )?(swelling|swollen)|"
         r"severe allergic", 1.0),
        (r"severe(ly)? burn\w*|badly burn\w*", 1.0),
        (r"waters? (have |has )?(broken|broke)|in labou?r|going into labou?r", 1.0),
        (r"accident|hit by a car", 0.7),
        (r"dying|going to die|life threatening|very serious|really serious", 1.0),
        (r"worst headache", 0.6),
    ],
}

MASKS: dict[str, list[str]] = {
    "fr": [
        r"(ce n est |c est |n est |ce |c )?pas (tres |vraiment |du tout |si |trop |super |"
        r"quelque chose d |une chose )?urgent\w*",
        r"(ce n est |c est )?pas (une |d |pour une )urgence", r"(rien|pas grand chose) d urgent",
        r"aucune urgence|non urgent\w*|sans urgence|pas de caractere urgent|aucun caractere urgent",
        r"rien de grave|pas grave|ce n est pas grave|c est pas grave|pas tres grave",
        r"(pas de|sans|aucune) (douleur|douleurs) (thoracique|dans la poitrine)",
        r"(pas de|sans) (saignement|fievre)",
        r"(prise|prises|analyse|analyses|bilan|examen) de sang|sanguin\w*",
        r"radio (de la |des |du )?(poitrine|thorax|pulmonaire)|radio thoracique",
        r"(mal|douleurs?) (au|aux|a la|a l|dans le|dans la|dans les) (dos|gorge|genou|genoux|"
        r"tete|ventre|dents?|oreilles?|pied|pieds|epaule|cheville|hanche|poignet|dos)",
        r"ordonnance|renouvel\w*",
        r"(en cas d|numero d|numeros d) urgence",
        r"(numero|numeros) (des|du|de l|pour les) (urgences?|samu|15|quinze)",
    ],
    "en": [
        r"(is |it is |this is |that is )?not (an |a |very |really |that |too |at all )?"
        r"(urgent|emergency)",
        r"no emergency|nothing urgent|no urgency|no rush|non urgent|non emergency|not urgently",
        r"nothing serious|not serious",
        r"(no|not any|without) (chest pain|bleeding|pain)",
        r"blood (test|tests|work|pressure|sugar|results?)",
        r"chest x ray|x ray of (my|the) chest",
        r"(back|knee|tooth|ear|stomach|head|throat|foot|shoulder|ankle|hip|wrist) "
        r"(pain|ache|hurts)|sore (throat|back|knee)|(my|the) (back|knee|ear|tooth) (hurts|aches)",
        r"prescription|refill|repeat",
        r"in case of emergency|emergency (number|numbers)|(number|numbers) for emergencies",
    ],
}
