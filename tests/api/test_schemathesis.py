"""Property-based run of the OpenAPI schema against the app, in-process, as an admin and
as a secretary: no server error, and every response conforms to the schema (status
code declared, content type, body). A bounded number of examples per operation.

(``schemathesis.pytest.from_fixture`` does not work with this pytest; the operations
are driven with Hypothesis directly.)
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from storage.db import Database
from storage.keyring import Keyring
from tests.api.conftest import build_world
from tests.api.helpers import escalate, finished_call, voicemail

EXAMPLES = 25
SKIPPED = {("POST", "/auth/logout"), ("POST", "/auth/password")}  # would end the session
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


def test_no_server_error_and_responses_match_the_schema(
    sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path
) -> None:
    world = build_world(sqlite_db, installed_keyring, tmp_path)
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo", "other"])
    for login in ("ada", "sam"):
        world.ready(login)
    escalate(world, transcript="bonjour")
    finished_call(world, transcript="bonjour", recording=b"\0\0" * 100)
    voicemail(world, None, transcript="bonjour")
    tokens = {login: world.token(login) for login in ("ada", "sam")}
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            if case.path == "/escalations/stream":  # bound the live stream
                case.query = {**(case.query or {}), "max_seconds": 0.2}
            for token in tokens.values():  # the admin's and the secretary's side
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                       checks=CHECKS)

        run()
        tested.append(operation.label)
    world.app.state.context.feed.close()
    assert len(tested) >= 50
