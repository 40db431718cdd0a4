"""Nothing personal before verification, enforced by the interpreter for every personal step.

The checker refuses a flow that could reach a personal step unverified; these flows are
read without it (``read_flow_text``) to show that the interpreter holds the line anyway,
once, and that ``not_verified`` can lead to identity and back.
"""

from __future__ import annotations

import dataclasses

import pytest

from ivr_flows.checker import check_text
from ivr_flows.flow import Flow, read_flow_text
from ivr_flows.interpreter import Interpreter
from ivr_flows.practice import load_practice
from ivr_flows.simulator import run_script
from ivr_flows.steps import STEP_KINDS
from scheduling.demo import DEMO_SLUG
from tests.flows.conftest import CAMILLE_PHONE, NOW, Demo
from tests.flows.test_conversations import PERSONAL_PROMPTS, audit_actions, booked, holds

ASK_FIRST = """\
flow: ask_first
language: fr
steps:
  menu:
    ask: main_menu
    expect: [book, cancel, reschedule, confirm]
    keys: {"1": book, "2": cancel, "3": reschedule, "4": confirm}
    on: {book: book, cancel: cancel, reschedule: reschedule, confirm: confirm}
    next: bye
  book:
    book_appointment: {doctor: any}
    on: {booked: bye, not_verified: identify_then_book}
    next: bye
  identify_then_book:
    verify_identity: {max_tries: 3}
    on: {verified: book}
    next: bye
  cancel:
    cancel_appointment: {}
    next: bye
  reschedule:
    reschedule_appointment: {}
    next: bye
  confirm:
    confirm_appointment: {}
    next: bye
  bye:
    hangup: [goodbye]
"""


def unchecked(text: str) -> Flow:
    flow, problems = read_flow_text(text, "ask_first.yaml", kinds=STEP_KINDS)
    assert flow is not None and problems == []
    return flow


def call(demo: Demo, *lines: str, caller: str | None = CAMILLE_PHONE):
    demo.clock_at[0] = NOW
    interpreter = Interpreter(unchecked(ASK_FIRST), demo.services,
                              load_practice(demo.db, DEMO_SLUG))
    return run_script(interpreter, lines, caller_number=caller, show=demo.show)


def test_the_checker_refuses_this_flow() -> None:
    found = check_text(ASK_FIRST, "ask_first.yaml", kinds=STEP_KINDS)
    assert {p.message.split("'")[1] for p in found} == {"book", "cancel", "reschedule",
                                                        "confirm"}
    assert all("before the caller is verified" in p.message for p in found)


@pytest.mark.parametrize(("key", "step"), [("#2", "cancel"), ("#3", "reschedule"),
                                           ("#4", "confirm")])
def test_a_personal_step_reached_unverified_does_not_run(demo: Demo, key: str,
                                                         step: str) -> None:
    conv = call(demo, key)
    assert conv.report.trail[:2] == [("menu", step), (step, "not_verified")]
    assert [name for name, _ in conv.report.trail] == ["menu", step, "bye"]
    assert conv.said.count("need_verification") == 1
    assert not PERSONAL_PROMPTS & set(conv.said)
    assert "no_appointment" not in conv.said  # the agenda was not even read
    assert not any(a.startswith("appointment.") for a in audit_actions(demo, conv.channel.call_id))
    assert not conv.report.verified


def test_not_verified_leads_to_identity_and_back(demo: Demo) -> None:
    before = len(booked(demo, "100001"))
    conv = call(demo, "#1", "le 12 mars 1984", "#1", "#1", "#1", "#1", "#1")
    assert [name for name, _ in conv.report.trail] == [
        "menu", "book", "identify_then_book", "book", "bye"]
    assert conv.report.outcome_of("identify_then_book") == "verified"
    assert conv.report.outcome_of("book") == "booked"
    assert conv.said.count("need_verification") == 1
    assert conv.said.index("need_verification") < conv.said.index("ask_birth_date_keys")
    assert len(booked(demo, "100001")) == before + 1
    assert holds(demo) == 0


def test_the_interpreter_guards_any_kind_flagged_personal(demo: Demo) -> None:
    """Not the steps: the interpreter, from the flag. A table where `say` is personal keeps
    the greeting from an unverified caller."""
    kinds = {**STEP_KINDS, "say": dataclasses.replace(STEP_KINDS["say"], personal=True)}
    flow, problems = read_flow_text(
        "flow: t\nlanguage: fr\nsteps:\n  hello:\n    say: [greeting]\n"
        "    on: {not_verified: bye}\n    next: bye\n  bye:\n    hangup: [goodbye]\n",
        "t.yaml", kinds=kinds)
    assert flow is not None and problems == []
    interpreter = Interpreter(flow, demo.services, load_practice(demo.db, DEMO_SLUG),
                              kinds=kinds)
    conv = run_script(interpreter, [], caller_number=CAMILLE_PHONE)
    assert conv.report.trail[0] == ("hello", "not_verified")
    assert [name for name, _ in conv.report.trail] == ["hello", "bye"]
    assert conv.said == ["need_verification", "goodbye"]
