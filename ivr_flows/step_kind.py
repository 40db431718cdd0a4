"""What every step kind declares: its options, its outcomes, the prompts it may say, and
whether it is personal (says or changes something about a patient: verified callers only).

A flow is read and checked against a table of kinds (``StepKinds``, verb -> kind); the
engine's own is :data:`ivr_flows.steps.STEP_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr_flows.call import Call
    from ivr_flows.flow import Step


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a step: its type, default and what a person should write."""

    type: str  # "str", "int", "number", "bool", "prompts", "prompt", "keymap", "words"
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    example: str = ""


def check_option(name: str, option: Option, value: Any) -> str | None:
    """Return what is wrong with ``value`` for ``option`` (None when it is fine)."""
    kind = option.type
    if kind == "str" or kind == "prompt":
        if not isinstance(value, str) or not value:
            return f"'{name}' must be a word or a name"
        if option.choices and value not in option.choices:
            return f"'{name}' must be one of {', '.join(option.choices)}"
        return None
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"'{name}' must be a number"
        if kind == "int" and not isinstance(value, int):
            return f"'{name}' must be a whole number"
        if option.min is not None and value < option.min:
            return f"'{name}' must be at least {option.min:g}"
        if option.max is not None and value > option.max:
            return f"'{name}' must be at most {option.max:g}"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else f"'{name}' must be true or false"
    if kind in ("prompts", "words"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(
            isinstance(i, str) and i for i in items
        ):
            return f"'{name}' must be a name or a list of names"
        bad = [i for i in items if option.choices and i not in option.choices]
        if bad:
            known = ", ".join(option.choices)
            return f"'{name}' has unknown value(s) {', '.join(bad)}; use {known}"
        return None
    if kind == "keymap":
        if not isinstance(value, dict) or not value:
            return f"'{name}' must map keys to outcomes"
        for key, outcome in value.items():
            if len(str(key)) != 1 or str(key) not in "0123456789*#":
                return f"'{name}' key {key!r} is not a phone key (0-9, * or #)"
            if not isinstance(outcome, str):
                return f"'{name}' key {key} must lead to an outcome name"
        return None
    if kind == "mapping":
        return None if isinstance(value, dict) else f"'{name}' must be a mapping"
    raise AssertionError(f"unknown option type {kind}")


Outcomes = Callable[[dict[str, Any]], set[str]] | tuple[str, ...]

# A personal step reached by a caller not yet verified does not run: the interpreter says
# this prompt and the step ends with this outcome (a flow leads it to `verify_identity`).
NOT_VERIFIED = "not_verified"
NEED_VERIFICATION_PROMPT = "need_verification"


@dataclass
class StepKind:
    """A verb of the flow language. ``run`` does the step and returns its outcome.

    A ``personal`` kind says or changes something about a patient: it runs only for a
    verified caller (the interpreter sees to it) and has the outcome ``not_verified``
    besides its own. ``verifies`` are the outcomes after which the caller is verified.
    """

    name: str
    summary: str
    options: dict[str, Option]
    run: Callable[[Call, Step], str]
    outcomes: Outcomes = ()
    shorthand: str | None = None
    terminal: bool = False  # ends the call (nothing follows it)
    ends_on: tuple[str, ...] = ()  # outcomes after which the call has left the engine
    prompts: tuple[str, ...] = ()  # catalogue ids this step may say on its own
    personal: bool = False  # about a patient: only once the caller is verified
    verifies: Outcomes = ()  # outcomes that mean the caller is verified

    def outcomes_of(self, options: dict[str, Any]) -> set[str]:
        """Outcomes this step can end with, given its options."""
        found = _outcomes(self.outcomes, options)
        return found | {NOT_VERIFIED} if self.personal else found

    def verified_after(self, options: dict[str, Any]) -> set[str]:
        """The outcomes of this step, given its options, after which the caller is verified."""
        return _outcomes(self.verifies, self.with_defaults(options))

    def all_prompts(self) -> tuple[str, ...]:
        """Every catalogue id a step of this kind may say (its own, and the interpreter's)."""
        return (NEED_VERIFICATION_PROMPT, *self.prompts) if self.personal else self.prompts

    def with_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options with defaults filled in."""
        merged = {name: opt.default for name, opt in self.options.items()}
        merged.update(options)
        return merged


StepKinds = Mapping[str, StepKind]


def _outcomes(declared: Outcomes, options: dict[str, Any]) -> set[str]:
    return declared(options) if callable(declared) else set(declared)
