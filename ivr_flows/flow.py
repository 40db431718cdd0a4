"""The flow model: a YAML call script parsed into steps, with the line of every key.

A flow file looks like::

    flow: accueil
    language: fr
    start: greet
    practice: {emergency_key: "*"}
    steps:
      greet:
        say: [greeting]
        next: menu
      menu:
        ask: main_menu
        keys: {"1": book}
        on: {book: book, no_input: secretary}

Each step has exactly one *verb* (its kind: ``say``, ``ask``...), whose value is either a
shorthand (a scalar or a list) or a mapping of options; options may also be written next
to the verb. ``next`` names the step that follows whatever happens; ``on`` maps an
outcome of the step to the step that follows it.

This module only reads the file. The verbs are not known here: the reader is given the
step table (``kinds``, verb -> kind: :data:`ivr_flows.steps.STEP_KINDS` for the engine's
own), so the flow language does not depend on the steps written in it. What is allowed is
the checker's job (:mod:`ivr_flows.checker`); a flow to run comes from
:func:`ivr_flows.checker.load_flow`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

Path_ = tuple[str | int, ...]

COMMON_KEYS = ("next", "on")


class Verb(Protocol):
    """What the reader needs of a step kind: the option its short form stands for."""

    @property
    def shorthand(self) -> str | None: ...


Verbs = Mapping[str, Verb]


@dataclass(frozen=True, slots=True)
class FlowProblem:
    """One thing wrong in a flow file: where, what, and what to write instead."""

    file: str
    line: int
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


@dataclass(frozen=True, slots=True)
class Step:
    """One step: its name, its verb, its options (shorthand merged in) and its exits."""

    name: str
    kind: str
    options: dict[str, Any]
    next: str | None
    on: dict[str, str]
    line: int
    path: Path_

    def target(self, outcome: str) -> str | None:
        """The step that follows ``outcome`` (``on`` first, then ``next``)."""
        return self.on.get(outcome, self.next)


@dataclass
class Flow:
    """A parsed flow file. ``lines`` maps a key path to its line number (1-based)."""

    file: str
    name: str
    language: str
    start: str
    steps: dict[str, Step]
    practice: dict[str, Any]
    raw: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # steps too broken to build (reported)
    # the step key 0 / "secrétariat" leads to from any question (None: no such way out)
    human: str | None = None

    def line_of(self, *path: str | int) -> int:
        """The line of ``path``, or of its closest ancestor that has one."""
        key: Path_ = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return 1


class _FlowLoader(yaml.SafeLoader):
    """YAML 1.2-like scalars: only true/false are booleans (``on``, ``yes``, ``no`` are words)."""


_FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Reader:
    """Turns a composed YAML node tree into plain values, recording lines and duplicates."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[FlowProblem] = []
        self._constructor = _FlowLoader("")

    def value(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                key = str(key) if not isinstance(key, str) else key
                line = key_node.start_mark.line + 1
                if key in result:
                    self.problems.append(FlowProblem(
                        self.file, line, f"'{key}' is written twice here",
                        "keep one of them (YAML keeps only the last)",
                    ))
                self.lines[(*path, key)] = line
                result[key] = self.value(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.value(item, (*path, index)))
            return items
        return self._constructor.construct_object(node, deep=True)


def read_flow_text(
    text: str, file: str, *, kinds: Verbs
) -> tuple[Flow | None, list[FlowProblem]]:
    """Parse flow text written with the verbs of ``kinds``; return the flow (None if it
    cannot be built) and its structural problems."""
    try:
        root = yaml.compose(text, Loader=_FlowLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = getattr(exc, "problem", None) or str(exc)
        return None, [FlowProblem(file, line, f"not valid YAML: {what}",
                                  "check the indentation and the quotes on this line")]
    if root is None:
        return None, [FlowProblem(file, 1, "the file is empty",
                                  "start with `flow: NAME`, `language: fr` and `steps:`")]
    reader = _Reader(file)
    data = reader.value(root, ())
    problems = reader.problems
    if not isinstance(data, dict):
        return None, [*problems, FlowProblem(
            file, 1, "a flow is a mapping of keys", "start with `flow: NAME` and `steps:`")]
    return _build(data, file, reader.lines, problems, kinds)


def read_flow(path: str | Path, *, kinds: Verbs) -> tuple[Flow | None, list[FlowProblem]]:
    """Read a flow file (see :func:`read_flow_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [FlowProblem(str(path), 1, f"cannot read the file ({exc.strerror})",
                                  "check the path")]
    except UnicodeDecodeError:
        return None, [FlowProblem(str(path), 1, "the file is not UTF-8 text",
                                  "save it as UTF-8")]
    return read_flow_text(text, str(path), kinds=kinds)


TOP_KEYS = ("flow", "language", "start", "human", "practice", "steps")


def _build(
    data: dict[str, Any], file: str, lines: dict[Path_, int], problems: list[FlowProblem],
    kinds: Verbs,
) -> tuple[Flow | None, list[FlowProblem]]:
    def line(*path: str | int) -> int:
        key: Path_ = tuple(path)
        while key and key not in lines:
            key = key[:-1]
        return lines.get(key, 1)

    for key in data:
        if key not in TOP_KEYS:
            problems.append(FlowProblem(
                file, line(key), f"unknown top-level key '{key}'",
                f"use only {', '.join(TOP_KEYS)} at the top level",
            ))
    name = data.get("flow")
    if not isinstance(name, str) or not name:
        problems.append(FlowProblem(file, line("flow"), "the flow has no name",
                                    "add `flow: NAME` at the top"))
        name = Path(file).stem
    language = data.get("language")
    if language not in ("fr", "en"):
        problems.append(FlowProblem(file, line("language"),
                                    f"language {language!r} is not supported",
                                    "write `language: fr` or `language: en`"))
        language = "fr"
    practice = data.get("practice", {})
    if not isinstance(practice, dict):
        problems.append(FlowProblem(file, line("practice"), "'practice' must be a mapping",
                                    "write `practice: {emergency_key: \"*\"}` or leave it out"))
        practice = {}
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        problems.append(FlowProblem(file, line("steps"), "the flow has no steps",
                                    "add `steps:` with at least one step under it"))
        return None, problems

    steps: dict[str, Step] = {}
    broken: set[str] = set()
    for step_name, body in raw_steps.items():
        at = ("steps", step_name)
        broken.add(step_name)  # until it is built
        if not isinstance(body, dict):
            problems.append(FlowProblem(
                file, line(*at), f"step '{step_name}' must be a mapping",
                "write the verb under it, e.g. `say: [greeting]` and `next: STEP`",
            ))
            continue
        verbs = [k for k in body if k in kinds]
        if len(verbs) != 1:
            unknown = [k for k in body if k not in COMMON_KEYS]
            if not verbs and len(unknown) == 1:
                close = difflib.get_close_matches(unknown[0], list(kinds), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                message = f"unknown step type '{unknown[0]}'{hint}"
                where = line(*at, unknown[0])
            elif not verbs:
                message, where = f"step '{step_name}' has no step type", line(*at)
            else:
                message = f"step '{step_name}' has {len(verbs)} step types ({', '.join(verbs)})"
                where = line(*at, verbs[1])
            problems.append(FlowProblem(
                file, where, message,
                f"give each step exactly one of: {', '.join(sorted(kinds))}",
            ))
            continue
        kind = verbs[0]
        spec = kinds[kind]
        verb_value = body[kind]
        options: dict[str, Any] = {}
        if isinstance(verb_value, dict):
            options.update(verb_value)
            for key in verb_value:
                lines[(*at, "options", key)] = line(*at, kind, key)
        elif verb_value is not None:
            if spec.shorthand is None:
                problems.append(FlowProblem(
                    file, line(*at, kind), f"'{kind}' takes options, not a single value",
                    f"write `{kind}: {{}}` or `{kind}: {{OPTION: VALUE}}`",
                ))
            else:
                options[spec.shorthand] = verb_value
                lines[(*at, "options", spec.shorthand)] = line(*at, kind)
                for sub, sub_line in list(lines.items()):
                    if sub[: len(at) + 1] == (*at, kind) and len(sub) > len(at) + 1:
                        lines[(*at, "options", spec.shorthand, *sub[len(at) + 1:])] = sub_line
        for key, value in body.items():
            if key == kind or key in COMMON_KEYS:
                continue
            if key in options:
                problems.append(FlowProblem(
                    file, line(*at, key), f"option '{key}' of step '{step_name}' is given twice",
                    f"write it once, either under '{kind}' or next to it",
                ))
            options[key] = value
            for sub, sub_line in list(lines.items()):
                if sub[: len(at) + 1] == (*at, key):
                    lines[(*at, "options", *sub[len(at):])] = sub_line
        next_step = body.get("next")
        if next_step is not None and not isinstance(next_step, str):
            problems.append(FlowProblem(file, line(*at, "next"), "'next' must be a step name",
                                        "write `next: STEP`"))
            next_step = None
        on = body.get("on", {})
        if not isinstance(on, dict) or not all(isinstance(v, str) for v in on.values()):
            problems.append(FlowProblem(
                file, line(*at, "on"), "'on' must map outcomes to step names",
                "write `on: {OUTCOME: STEP, ...}`",
            ))
            on = {}
        steps[step_name] = Step(
            name=step_name, kind=kind, options=options, next=next_step, on=dict(on),
            line=line(*at), path=at,
        )
        broken.discard(step_name)
    start = data.get("start")
    if start is None:
        start = next(iter(raw_steps))
    elif not isinstance(start, str):
        problems.append(FlowProblem(file, line("start"), "'start' must be a step name",
                                    "write `start: STEP`"))
        start = next(iter(raw_steps))
    human = data.get("human")
    if human is not None and not isinstance(human, str):
        problems.append(FlowProblem(file, line("human"), "'human' must be a step name",
                                    "write `human: secretary`"))
        human = None
    flow = Flow(file=file, name=name, language=language, start=start, steps=steps,
                practice=practice, raw=data, lines=lines, broken=broken, human=human)
    return flow, problems
