"""The practice's profile through the API: everyone of the practice reads it, admins change it."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Practitioner
from tests.api.conftest import ApiWorld


def test_staff_read_the_profile_and_an_admin_changes_it(world: ApiWorld) -> None:
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    for login in ("ada", "sam"):
        world.ready(login)
    read = world.client.get("/practices/demo/profile", headers=world.headers("sam"))
    assert read.status_code == 200, read.text
    assert read.json()["secretary_line"] == "sip:secretariat@127.0.0.1:5070"
    assert read.json()["pharmacy_number"] == "3237"
    assert world.client.patch("/practices/demo/profile", headers=world.headers("sam"),
                              json={"address": "ailleurs"}).status_code == 403

    changed = world.client.patch(
        "/practices/demo/profile", headers=world.headers("ada"),
        json={"address": "3 place du Marché, à Lyon", "on_call_number": "04 72 00 00 00",
              "duplicate_window_days": 14, "secretary_line": None})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["address"] == "3 place du Marché, à Lyon" and body["secretary_line"] is None
    assert body["duplicate_window_days"] == 14 and body["spoken_name"]  # others kept
    for wrong in ({"secretary_line": "secretariat"}, {"alert_recipients": ["nobody"]},
                  {"accepts_new_patients": None}, {"duplicate_window_days": 400}):
        refused = world.client.patch("/practices/demo/profile", headers=world.headers("ada"),
                                     json=wrong)
        assert refused.status_code == 422, (wrong, refused.text)


def test_an_admin_says_which_doctors_take_new_patients(world: ApiWorld) -> None:
    world.add_user("ada", "admin")
    world.ready("ada")
    with world.db.read_session() as session:
        moreau = session.scalar(select(Practitioner.id).where(Practitioner.slug == "dr-moreau"))
    answer = world.client.patch(f"/practices/demo/practitioners/{moreau}",
                                headers=world.headers("ada"),
                                json={"accepts_new_patients": False, "alert_address": None})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepts_new_patients"] is False
    assert answer.json()["alert_address"] is None
    detail = world.client.get("/practices/demo", headers=world.headers("ada")).json()
    assert not any(p["accepts_new_patients"] for p in detail["practitioners"])


def test_an_admin_sets_the_secretaries_hunt(world: ApiWorld) -> None:
    """ring_all by default; a hunt names secretaries of the practice, in order, each
    ringing hunt_seconds; anything else is refused with one clear line."""
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("ada")
    read = world.client.get("/practices/demo/profile", headers=world.headers("ada")).json()
    assert (read["desk_ring"], read["hunt_order"], read["hunt_seconds"]) == ("ring_all", [], 15)
    hunt = world.client.patch("/practices/demo/profile", headers=world.headers("ada"),
                              json={"desk_ring": "hunt", "hunt_order": ["sam"],
                                    "hunt_seconds": 10})
    assert hunt.status_code == 200, hunt.text
    assert (hunt.json()["desk_ring"], hunt.json()["hunt_order"]) == ("hunt", ["sam"])
    for wrong, says in (({"hunt_order": ["sam", "nobody"]}, "'nobody' is no secretary"),
                        ({"hunt_order": ["ada"]}, "'ada' is no secretary"),
                        ({"hunt_order": []}, "needs the secretaries' logins"),
                        ({"hunt_seconds": 1}, "hunt_seconds"),
                        ({"desk_ring": "random"}, "desk_ring")):
        refused = world.client.patch("/practices/demo/profile", headers=world.headers("ada"),
                                     json=wrong)
        assert refused.status_code == 422 and says in refused.text, (wrong, refused.text)
    back = world.client.patch("/practices/demo/profile", headers=world.headers("ada"),
                              json={"desk_ring": "ring_all"})
    assert back.json()["desk_ring"] == "ring_all" and back.json()["hunt_order"] == ["sam"]
