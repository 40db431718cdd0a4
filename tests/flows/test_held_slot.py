"""``held_slot()`` against the real agenda: a hold not taken is given back, whatever ends it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr_flows.call import Call, EmergencyHeard
from ivr_flows.channel import CallerHungUp
from ivr_flows.checker import load_flow
from ivr_flows.practice import load_practice
from ivr_flows.simulator import TextChannel
from ivr_flows.steps import STEP_KINDS
from ivr_flows.steps.held_slot import HeldSlot, held_slot
from scheduling.demo import DEMO_SLUG
from scheduling.values import Booked, Reason, Refused, Slot
from storage.models import AuditEvent
from tests.flows.conftest import FLOWS, NOW, Demo
from tests.flows.test_conversations import holds, patient_id


def a_call(demo: Demo) -> Call:
    demo.clock_at[0] = NOW
    return Call(channel=TextChannel(lambda: None), services=demo.services,
                practice=load_practice(demo.db, DEMO_SLUG),
                flow=load_flow(FLOWS / "default_fr.yaml", kinds=STEP_KINDS), language="fr")


def first_free(call: Call) -> Slot:
    slots = call.services.agenda.find_slots(call.practice.id, "consultation", now=call.now(),
                                            limit=1)
    assert isinstance(slots, list) and slots
    return slots[0]


def hold_actions(demo: Demo, call: Call) -> list[str]:
    with demo.db.session() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor == call.actor, AuditEvent.object_type == "hold",
        ).order_by(AuditEvent.seq)))


@pytest.mark.parametrize("interruption", [CallerHungUp, EmergencyHeard, RuntimeError],
                         ids=["hangup", "emergency", "error"])
def test_released_when_the_block_is_interrupted(demo: Demo,
                                                interruption: type[Exception]) -> None:
    call = a_call(demo)
    with pytest.raises(interruption), held_slot(call, first_free(call), minutes=5) as held:
        assert isinstance(held, HeldSlot) and holds(demo) == 1
        raise interruption
    assert holds(demo) == 0
    assert hold_actions(demo, call) == ["hold.create", "hold.release"]


def test_released_when_the_caller_says_no(demo: Demo) -> None:
    call = a_call(demo)
    with held_slot(call, first_free(call), minutes=5):
        pass  # nothing taken
    assert holds(demo) == 0
    assert hold_actions(demo, call) == ["hold.create", "hold.release"]


def test_released_when_the_booking_is_refused(demo: Demo) -> None:
    call = a_call(demo)
    patient = patient_id(demo, "100001")
    with held_slot(call, first_free(call), minutes=5) as held:
        assert isinstance(held, HeldSlot)
        late = call.now() + timedelta(minutes=6)  # the hold has expired by then
        result = held.take(call.services.agenda.confirm(held.hold.id, patient, "k1", now=late,
                                                        actor=call.actor))
        assert isinstance(result, Refused) and result.reason is Reason.HOLD_EXPIRED
        assert not held.taken
    assert holds(demo) == 0
    assert hold_actions(demo, call) == ["hold.create", "hold.release"]


def test_kept_when_taken(demo: Demo) -> None:
    call = a_call(demo)
    patient = patient_id(demo, "100001")
    with held_slot(call, first_free(call), minutes=5) as held:
        assert isinstance(held, HeldSlot)
        result = held.take(call.services.agenda.confirm(held.hold.id, patient, "k2",
                                                        now=call.now(), actor=call.actor))
    assert isinstance(result, Booked) and held.taken
    assert holds(demo) == 0  # the hold became the appointment
    assert hold_actions(demo, call) == ["hold.create"]


def test_a_slot_already_held_is_refused_with_nothing_to_give_back(demo: Demo) -> None:
    first, second = a_call(demo), a_call(demo)
    slot = first_free(first)
    with held_slot(first, slot, minutes=5) as mine:
        assert isinstance(mine, HeldSlot)
        with held_slot(second, slot, minutes=5) as theirs:
            assert isinstance(theirs, Refused) and theirs.reason is Reason.SLOT_TAKEN
        assert holds(demo) == 1
    assert hold_actions(demo, second) == []
    assert holds(demo) == 0
