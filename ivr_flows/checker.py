"""``check(path)``: everything wrong in a flow file, each with its line and the fix.

Checked: YAML syntax and structure, unknown step types, unknown or badly typed options,
exits that name no step, outcomes that lead nowhere, prompts missing from the catalogue,
steps that cannot be reached, loops with no way out (no path to a hang-up or transfer),
personal steps (booking, cancelling, moving...) reachable before identity is verified,
questions (``ask``, ``intake``) with no key route (a caller without speech could not
answer them) or whose prompt does not say a key they take, and the ``human`` step
(where key 0 / "secrétariat" leads from any question).

The checker knows no verb by itself: it is given the step table (``kinds``, usually
:data:`ivr_flows.steps.STEP_KINDS`) and reads from each kind its options, outcomes,
prompts, whether it is personal and which of its outcomes mean "verified".
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path

from ivr_flows.flow import Flow, FlowProblem, Step, read_flow, read_flow_text
from ivr_flows.practice import parse_hours
from ivr_flows.step_kind import StepKinds, check_option
from speech.turns import CLOSED_TURN

PRACTICE_KEYS = {
    "name": "the practice's name as said on the phone",
    "opening_hours": 'days to hours, e.g. {mon: ["08:30-12:00", "14:00-18:00"]}',
    "secretaries": "the address calls are transferred to, e.g. sip:secretariat@example.org",
    "emergency_key": 'the key that means "emergency" at any point, e.g. "*"',
    "emergency_numbers": "numbers said in emergencies, e.g. [15, 112]",
    "greeting_recording": "the practice's own greeting recording (a file name)",
}

MissingPrompts = Callable[[Iterable[str], str], set[str]]


class FlowInvalid(Exception):
    """A flow with errors; ``problems`` lists them and ``str()`` is one line per problem."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def catalogue_missing(ids: Iterable[str], language: str) -> set[str]:
    """Prompt ids absent from the prompt catalogue for ``language``."""
    from ivr_flows.prompts.catalogue import missing

    return set(missing(list(ids), language))


def check(path: str | Path, *, kinds: StepKinds,
          missing_prompts: MissingPrompts = catalogue_missing) -> list[FlowProblem]:
    """Every problem of the flow file at ``path``, in line order (empty when it is fine)."""
    flow, problems = read_flow(path, kinds=kinds)
    if flow is not None:
        problems += check_flow(flow, kinds=kinds, missing_prompts=missing_prompts)
    return sorted(problems, key=lambda p: p.line)


def check_text(text: str, file: str = "<flow>", *, kinds: StepKinds,
               missing_prompts: MissingPrompts = catalogue_missing) -> list[FlowProblem]:
    """Like :func:`check`, on text (for tests and editors)."""
    flow, problems = read_flow_text(text, file, kinds=kinds)
    if flow is not None:
        problems += check_flow(flow, kinds=kinds, missing_prompts=missing_prompts)
    return sorted(problems, key=lambda p: p.line)


def load_flow(path: str | Path, *, kinds: StepKinds,
              missing_prompts: MissingPrompts = catalogue_missing) -> Flow:
    """Read and check a flow; raise :class:`FlowInvalid` listing every problem."""
    flow, problems = read_flow(path, kinds=kinds)
    if flow is not None:
        problems += check_flow(flow, kinds=kinds, missing_prompts=missing_prompts)
    if problems or flow is None:
        raise FlowInvalid(sorted(problems, key=lambda p: p.line))
    return flow


def _suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_flow(flow: Flow, *, kinds: StepKinds,
               missing_prompts: MissingPrompts = catalogue_missing) -> list[FlowProblem]:
    """Semantic problems of a parsed flow (see the module docstring)."""
    problems: list[FlowProblem] = []
    file = flow.file

    def problem(line: int, message: str, fix: str) -> None:
        problems.append(FlowProblem(file, line, message, fix))

    _check_practice(flow, problem)
    if flow.human is not None:
        human = flow.steps.get(flow.human)
        if human is None:
            problem(flow.line_of("human"), f"the human step '{flow.human}' does not exist",
                    f"write the name of a step{_suggest(flow.human, flow.steps)}")
        elif kinds[human.kind].personal:
            problem(flow.line_of("human"), f"the human step '{flow.human}' is personal",
                    "lead key 0 to a `transfer` step")
    if flow.start not in flow.steps and flow.start not in flow.broken:
        problem(flow.line_of("start"), f"the start step '{flow.start}' does not exist",
                f"write the name of a step{_suggest(flow.start, flow.steps)}")
    prompt_uses: dict[str, int] = {}
    for step in flow.steps.values():
        _check_step(flow, kinds, step, problem, prompt_uses)
    _check_prompts(flow, prompt_uses, missing_prompts, problem)
    if flow.start in flow.steps and not flow.broken:
        _check_graph(flow, kinds, problem)
    return problems


def _check_practice(flow: Flow, problem: Callable[[int, str, str], None]) -> None:
    for key, value in flow.practice.items():
        line = flow.line_of("practice", key)
        if key not in PRACTICE_KEYS:
            problem(line, f"unknown practice setting '{key}'{_suggest(key, PRACTICE_KEYS)}",
                    f"use one of {', '.join(PRACTICE_KEYS)}")
        elif key == "opening_hours":
            parsed = parse_hours(value)
            if isinstance(parsed, str):
                problem(line, f"opening_hours: {parsed}", f"write {PRACTICE_KEYS[key]}")
        elif key == "emergency_key" and (not isinstance(value, str) or len(value) != 1
                                         or value not in "0123456789*#"):
            problem(line, "emergency_key must be one phone key", 'write emergency_key: "*"')


def _check_step(flow: Flow, kinds: StepKinds, step: Step,
                problem: Callable[[int, str, str], None], prompt_uses: dict[str, int]) -> None:
    kind = kinds[step.kind]
    at = step.path
    valid: dict[str, object] = {}
    for name, value in step.options.items():
        line = flow.line_of(*at, "options", name)
        option = kind.options.get(name)
        if option is None:
            known = ", ".join(kind.options) or "none"
            problem(line, f"'{step.kind}' has no option '{name}'{_suggest(name, kind.options)}",
                    f"options of '{step.kind}': {known}")
            continue
        wrong = check_option(name, option, value)
        if wrong:
            problem(line, f"step '{step.name}': {wrong}", f"write e.g. {name}: {option.example}")
            if option.type == "keymap" and isinstance(value, dict):
                valid[name] = value  # its outcomes still count
            continue
        valid[name] = value
        if option.type in ("prompt", "prompts"):
            for prompt_id in [value] if isinstance(value, str) else value:
                prompt_uses.setdefault(prompt_id, line)
    for name, option in kind.options.items():
        if option.required and name not in step.options:
            problem(step.line, f"step '{step.name}' needs '{name}'",
                    f"write `{step.kind}: {option.example}`")
        elif option.type in ("prompt",) and name not in step.options and option.default:
            prompt_uses.setdefault(option.default, step.line)
    for prompt_id in kind.all_prompts():
        prompt_uses.setdefault(prompt_id, step.line)
    if step.kind == "ask":
        _check_turn(flow, step, valid, problem)
    if step.kind in QUESTION_KINDS and not step.options.get("keys"):
        problem(step.line, f"question '{step.name}' has no key route: a caller without "
                "speech could not answer it", "add `keys: {\"1\": OUTCOME, ...}` and say "
                "the keys in its prompt")
    elif step.kind in QUESTION_KINDS and check_option(
            "keys", kind.options["keys"], step.options["keys"]) is None:
        _check_keys_said(flow, kind, step, problem)
    outcomes = kind.outcomes_of(kind.with_defaults(valid))
    for outcome in step.on:
        if outcome not in outcomes:
            problem(flow.line_of(*at, "on", outcome),
                    f"step '{step.name}' ({step.kind}) has no outcome '{outcome}'"
                    f"{_suggest(outcome, outcomes)}",
                    f"its outcomes are {', '.join(sorted(outcomes)) or 'none'}")
    targets = [("next", step.next, flow.line_of(*at, "next"))] if step.next else []
    targets += [(f"on.{o}", t, flow.line_of(*at, "on", o)) for o, t in step.on.items()]
    for where, target, line in targets:
        if target not in flow.steps and target not in flow.broken:
            problem(line, f"step '{step.name}' leads to unknown step '{target}' ({where})",
                    f"write the name of a step{_suggest(target, flow.steps)}")
    if kind.terminal:
        if step.next or step.on:
            problem(step.line, f"'{step.kind}' ends the call: nothing follows step "
                    f"'{step.name}'", "remove its `next` / `on`")
        return
    if step.next is None:
        unhandled = sorted(o for o in outcomes - set(step.on) if o not in kind.ends_on)
        if unhandled:
            problem(step.line, f"step '{step.name}' does not say where to go after "
                    f"{', '.join(unhandled)}",
                    f"add `next: STEP` or `on: {{{unhandled[0]}: STEP}}`")


def _check_turn(flow: Flow, step: Step, valid: dict[str, object],
                problem: Callable[[int, str, str], None]) -> None:
    """An answered question must not wait longer than an unanswered one."""
    end = valid.get("end_silence_ms", CLOSED_TURN.end_ms)
    answered = valid.get("answered_silence_ms", CLOSED_TURN.closed_end_ms)
    if isinstance(end, int) and isinstance(answered, int) and answered > end:
        line = flow.line_of(*step.path, "options", "answered_silence_ms")
        problem(line, f"step '{step.name}': answered_silence_ms ({answered}) is longer than "
                f"end_silence_ms ({end})", "make answered_silence_ms at most end_silence_ms")


QUESTION_KINDS = ("ask", "intake")
_KEY_WORDS = {"#": ("#", "dièse", "diese", "hash", "pound"),
              "*": ("*", "étoile", "etoile", "star")}


def _check_keys_said(flow: Flow, kind: object, step: Step,
                     problem: Callable[[int, str, str], None]) -> None:
    """Each key a question takes must be said in its prompt (the catalogue's text)."""
    from ivr_flows.prompts.catalogue import load_catalogue

    prompt_id = step.options.get("prompt") or kind.options["prompt"].default
    if not isinstance(prompt_id, str):
        return
    catalogue = load_catalogue(flow.language)
    texts = [catalogue.texts[i] for i in (prompt_id, f"{prompt_id}_keys")
             if i in catalogue.texts]
    for text in texts:
        unsaid = [str(k) for k in step.options["keys"]
                  if not any(w in text.lower() for w in _KEY_WORDS.get(str(k), (str(k),)))]
        if unsaid:
            problem(flow.line_of(*step.path, "options", "keys"),
                    f"question '{step.name}': its prompt does not say key(s) "
                    f"{', '.join(unsaid)}", "say every key in the prompt's text "
                    "(\"appuyez sur 1 pour...\")")
            return


def _check_prompts(flow: Flow, uses: dict[str, int], missing_prompts: MissingPrompts,
                   problem: Callable[[int, str, str], None]) -> None:
    languages = {flow.language}
    if any(s.kind == "choose_language" for s in flow.steps.values()):
        languages |= {"fr", "en"}
    used = dict(uses)
    for prompt_id in ("emergency_advice", "emergency_offer", "transfer_priority",
                      "transfer_no_answer", "goodbye"):
        used.setdefault(prompt_id, 1)  # the interpreter's own (emergencies)
    for language in sorted(languages):
        for prompt_id in sorted(missing_prompts(used, language), key=lambda i: used[i]):
            problem(used[prompt_id], f"prompt '{prompt_id}' is not in the {language} catalogue",
                    "use a prompt id from the catalogue or add the prompt to it")


def _edges(flow: Flow, kinds: StepKinds, step: Step) -> list[tuple[str, str]]:
    """(outcome, next step) pairs of a step, following ``on`` then ``next``."""
    kind = kinds[step.kind]
    if kind.terminal:
        return []
    outcomes = kind.outcomes_of(kind.with_defaults(step.options))
    found = []
    for outcome in sorted(outcomes):
        if outcome in kind.ends_on:
            continue
        target = step.target(outcome)
        if target in flow.steps:
            found.append((outcome, target))
    return found


def _check_graph(flow: Flow, kinds: StepKinds, problem: Callable[[int, str, str], None]) -> None:
    roots = [flow.start] + ([flow.human] if flow.human in flow.steps else [])
    reachable: set[str] = set()
    for root in roots:
        reachable |= _reachable(flow, kinds, root, lambda step, outcome: True)
    for name, step in flow.steps.items():
        if name not in reachable:
            problem(step.line, f"step '{name}' can never be reached",
                    f"lead to it from another step (`next: {name}`) or remove it")
    ends = {n for n, s in flow.steps.items() if kinds[s.kind].terminal or kinds[s.kind].ends_on}
    can_end = set(ends)
    changed = True
    while changed:
        changed = False
        for name, step in flow.steps.items():
            if name not in can_end and any(t in can_end for _, t in _edges(flow, kinds, step)):
                can_end.add(name)
                changed = True
    stuck = [s for n, s in flow.steps.items() if n in reachable and n not in can_end]
    if stuck:
        first = min(stuck, key=lambda s: s.line)
        names = ", ".join(s.name for s in sorted(stuck, key=lambda s: s.line))
        problem(first.line, f"a loop with no exit: from {names} the call can never end",
                "lead one of these steps to a `hangup` or `transfer` step")
    # Nothing personal before verification: walk the flow without crossing an outcome that
    # means the caller is verified; a personal step found on the way is refused.
    unverified: set[str] = set()
    for root in roots:
        unverified |= _reachable(
            flow, kinds, root,
            lambda step, outcome: outcome not in kinds[step.kind].verified_after(step.options),
        )
    for name in sorted(unverified, key=lambda n: flow.steps[n].line):
        step = flow.steps[name]
        if kinds[step.kind].personal:
            problem(step.line, f"step '{name}' ({step.kind}) can be reached before the caller "
                    "is verified", "lead to it only from the `verified` outcome of a "
                    "`verify_identity` step (or the `yes` of `branch: verified`)")


def _reachable(flow: Flow, kinds: StepKinds, start: str,
               follow: Callable[[Step, str], bool]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        step = flow.steps[todo.pop()]
        for outcome, target in _edges(flow, kinds, step):
            if target not in seen and follow(step, outcome):
                seen.add(target)
                todo.append(target)
    return seen
