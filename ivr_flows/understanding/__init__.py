"""Understanding of recognised text, French and English: pure, deterministic, no I/O.

Nothing here logs the texts it reads (they are health data).
"""

from ivr_flows.understanding.dates import parse_birth_date
from ivr_flows.understanding.emergency import (
    DEFAULT_DETECTOR,
    EmergencyDetector,
    EmergencyVerdict,
    is_emergency,
)
from ivr_flows.understanding.information import (
    InformationRequest,
    Topic,
    information_request,
)
from ivr_flows.understanding.intents import Intent, detect_intent, score_intents
from ivr_flows.understanding.language import detect_language, language_switch
from ivr_flows.understanding.normalise import normalise, words
from ivr_flows.understanding.numbers import parse_digits, parse_number
from ivr_flows.understanding.spelling import parse_spelled_name
from ivr_flows.understanding.times import parse_time
from ivr_flows.understanding.understand import Understanding, understand
from ivr_flows.understanding.when import When, parse_when, wants_soonest
from ivr_flows.understanding.yesno import parse_yes_no

LANGUAGES = ("fr", "en")

__all__ = [
    "DEFAULT_DETECTOR",
    "LANGUAGES",
    "EmergencyDetector",
    "EmergencyVerdict",
    "InformationRequest",
    "Intent",
    "Topic",
    "Understanding",
    "When",
    "detect_intent",
    "detect_language",
    "information_request",
    "is_emergency",
    "language_switch",
    "normalise",
    "parse_birth_date",
    "parse_digits",
    "parse_number",
    "parse_spelled_name",
    "parse_time",
    "parse_when",
    "parse_yes_no",
    "score_intents",
    "understand",
    "wants_soonest",
    "words",
]
