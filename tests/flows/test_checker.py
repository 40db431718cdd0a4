"""The flow checker: each kind of error, at the right line, with a fix; the default flows pass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr_flows.checker import FlowInvalid, check, check_text, load_flow
from ivr_flows.flow import FlowProblem
from ivr_flows.steps import STEP_KINDS
from telesec.cli import app

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows"

GOOD = """\
flow: small
language: fr
steps:
  hello:
    say: [greeting]
    next: menu
  menu:
    ask: main_menu
    keys: {"1": book, "0": secretary}
    on: {book: identify, secretary: human}
    next: bye
  identify:
    verify_identity: {max_tries: 3}
    on: {verified: book}
    next: human
  book:
    book_appointment: {propose: 3}
    next: bye
  human:
    transfer: secretaries
    on: {no_answer: bye}
  bye:
    hangup: [goodbye]
"""


def problems_of(text: str) -> list[FlowProblem]:
    return check_text(text, "flow.yaml", kinds=STEP_KINDS)


def only(text: str) -> FlowProblem:
    found = problems_of(text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_a_good_flow_has_no_problem() -> None:
    assert problems_of(GOOD) == []


@pytest.mark.parametrize("path", sorted(FLOWS.glob("*.yaml")), ids=lambda p: p.name)
def test_default_flows_pass(path: Path) -> None:
    assert check(path, kinds=STEP_KINDS) == []
    load_flow(path, kinds=STEP_KINDS)


def test_unknown_step_type() -> None:
    found = only(GOOD.replace("    say: [greeting]", "    sya: [greeting]"))
    assert found.line == 5 and "unknown step type 'sya'" in found.message
    assert "did you mean 'say'" in found.message and "say" in found.fix


def test_unknown_target_step() -> None:
    found = only(GOOD.replace("on: {no_answer: bye}", "on: {no_answer: by}"))
    assert found.line == 21 and "unknown step 'by'" in found.message
    assert "did you mean 'bye'" in found.fix


def test_missing_prompt_from_the_real_catalogue() -> None:
    found = only(GOOD.replace("say: [greeting]", "say: [greting]"))
    assert found.line == 5 and "prompt 'greting' is not in the fr catalogue" in found.message


def test_unreachable_step() -> None:
    text = GOOD + "  lost:\n    say: [goodbye]\n    next: bye\n"
    found = only(text)
    assert found.line == 24 and "'lost' can never be reached" in found.message


def test_loop_with_no_exit() -> None:
    text = GOOD.replace("    next: bye\n  identify:", "    next: again\n  identify:") + (
        "  again:\n    say: [not_understood]\n    next: again2\n"
        "  again2:\n    say: [no_input]\n    next: again\n")
    found = only(text)
    assert found.line == 24 and "loop with no exit" in found.message
    assert "again, again2" in found.message and "hangup" in found.fix


def test_unknown_option_key() -> None:
    found = only(GOOD.replace("    keys: {", "    tiemout: 5\n    keys: {"))
    assert found.line == 9 and "no option 'tiemout'" in found.message
    assert "did you mean 'timeout'" in found.message


def test_wrong_type() -> None:
    found = only(GOOD.replace("{max_tries: 3}", "{max_tries: three}"))
    assert found.line == 13 and "'max_tries' must be a number" in found.message
    assert "max_tries: 3" in found.fix


def test_value_out_of_range() -> None:
    found = only(GOOD.replace("{max_tries: 3}", "{max_tries: 7}"))
    assert found.line == 13 and "at most 3" in found.message


def test_outcome_the_step_cannot_have() -> None:
    found = only(GOOD.replace("on: {verified: book}", "on: {verified: book, succes: book}"))
    assert found.line == 14 and "no outcome 'succes'" in found.message


def test_outcome_with_nowhere_to_go() -> None:
    found = only(GOOD.replace("    on: {no_answer: bye}\n", ""))
    assert found.line == 19 and "does not say where to go after no_answer" in found.message


def test_nothing_may_follow_a_hangup() -> None:
    found = only(GOOD + "    next: hello\n")
    assert found.line == 22 and "ends the call" in found.message


def test_patient_step_before_verification() -> None:
    text = GOOD.replace("on: {book: identify,", "on: {book: book,").replace(
        "    next: bye\n  identify:", "    next: identify\n  identify:")
    found = only(text)
    assert found.line == 16 and "before the caller is verified" in found.message


def test_personal_is_read_from_the_step_table() -> None:
    """The rule knows personal steps by their kind's flag, not by a list of names: with a
    table where `say` is personal, the greeting said before identity is refused."""
    kinds = {**STEP_KINDS, "say": dataclasses.replace(STEP_KINDS["say"], personal=True)}
    found = check_text(GOOD, "flow.yaml", kinds=kinds)
    assert [(p.line, p.message) for p in found] == [
        (4, "step 'hello' (say) can be reached before the caller is verified")]
    assert "verify_identity" in found[0].fix


def test_the_engine_personal_steps() -> None:
    personal = {name for name, kind in STEP_KINDS.items() if kind.personal}
    assert personal == {"book_appointment", "cancel_appointment", "reschedule_appointment",
                        "confirm_appointment"}
    for name in personal:  # the interpreter's outcome and prompt come with the flag
        assert "not_verified" in STEP_KINDS[name].outcomes_of({})
        assert "need_verification" in STEP_KINDS[name].all_prompts()


def test_branch_on_verified_counts_as_verification() -> None:
    verified_first = GOOD.replace("on: {book: identify,", "on: {book: known,") + (
        "  known:\n    branch: verified\n    on: {yes: book, no: identify}\n")
    assert problems_of(verified_first) == []
    open_first = verified_first.replace("branch: verified", "branch: open_now")
    found = only(open_first)
    assert found.line == 16 and "before the caller is verified" in found.message


def test_bad_key_in_a_key_map() -> None:
    found = only(GOOD.replace('"0": secretary', '"10": secretary'))
    assert found.line == 9 and "not a phone key" in found.message


def test_duplicate_key() -> None:
    text = GOOD.replace("    next: menu\n", "    next: menu\n    next: bye\n", 1)
    assert any(p.line == 7 and "written twice" in p.message for p in problems_of(text))


def test_invalid_yaml_points_at_the_line() -> None:
    found = only(GOOD.replace("    ask: main_menu", "    ask: [main_menu"))
    assert found.line in (9, 10) and "not valid YAML" in found.message


def test_unknown_top_level_key_and_language() -> None:
    found = problems_of(GOOD.replace("language: fr", "langue: fr"))
    assert any(p.line == 2 and "unknown top-level key 'langue'" in p.message for p in found)


def test_practice_settings_are_checked() -> None:
    text = GOOD.replace("steps:\n", "practice:\n  opening_hours: {lun: [\"08:00-12:00\"]}\n"
                        "steps:\n", 1)
    found = only(text)
    assert found.line == 4 and "unknown day 'lun'" in found.message


def test_every_problem_has_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("sya", "say").replace("say: [greeting]", "sya: [greting]")
                    .replace("no_answer: bye", "no_answer: by"), encoding="utf-8")
    found = check(path, kinds=STEP_KINDS)
    assert len(found) >= 2
    assert all(p.file == str(path) and p.line > 0 and p.fix for p in found)
    with pytest.raises(FlowInvalid) as error:
        load_flow(path, kinds=STEP_KINDS)
    assert f"{path}:5:" in str(error.value)


def test_cli_flows_check(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["flows", "check", str(FLOWS / "default_fr.yaml")])
    assert ok.exit_code == 0 and "ok" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("say: [greeting]", "sya: [greeting]"), encoding="utf-8")
    result = runner.invoke(app, ["flows", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5: unknown step type 'sya'" in result.output
