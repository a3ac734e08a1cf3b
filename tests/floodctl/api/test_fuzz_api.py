"""Schemathesis over the whole API (every operation of /openapi.json) with a valid admin token, against
a real served app and database: no input the schema allows — or breaks — may get a 5xx (issue 12,
item 10). Bounded for CI: FUZZ_EXAMPLES examples per operation (env FLOOD_FUZZ_EXAMPLES to raise it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from floodctl.api.app import create_app
from floodctl.auth import store
from floodctl.core.settings import Settings

FUZZ_EXAMPLES = int(os.environ.get("FLOOD_FUZZ_EXAMPLES", "12"))
PASSWORD = "fuzzing admin password"


PRODUCTION: dict[str, Any] = dict(
    environment="production",
    secret_key="s" * 40,
    mqtt_url="mqtt://127.0.0.1:1883",
    public_url="https://floodctl.county.invalid",
    sms_base_url="https://sms.invalid",
    sms_auth_token="l" * 32,
    drill_sms_base_url="https://drill-sms.invalid",
    drill_sms_auth_token="d" * 32,
)


@pytest.fixture(scope="module", params=["development", "production"])
def fuzz_target(
    request: pytest.FixtureRequest,
    clone_database: Callable[[str], AbstractContextManager[str]],
    serve_app: Callable[[object], AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str]]]:
    """One served app (development, or production: closed reads) on a database of its own; an admin's
    bearer header."""
    with clone_database("fuzz") as database_url:
        with psycopg.connect(database_url) as conn:
            store.create_user(conn, "fuzz.admin", PASSWORD, roles=["admin"], actor="test")
        extra = PRODUCTION | {"database_url": database_url} if request.param == "production" else {}
        app_settings = Settings(
            _env_file=None, data_dir=tmp_path_factory.mktemp("fuzz") / "var", login_max_failures=1000, **extra
        )
        with serve_app(create_app(app_settings, database_url)) as base:
            token = httpx.post(
                f"{base}/api/v1/auth/token", data={"username": "fuzz.admin", "password": PASSWORD}, timeout=30
            ).json()["access_token"]
            yield base, {"Authorization": f"Bearer {token}"}


def _fuzz(operation: Any, mode: GenerationMode, admin: dict[str, str], failures: list[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        headers = dict(case.headers or {})
        if "authorization" not in {name.lower() for name in headers}:
            headers.update(admin)
        response = case.call(headers=headers, timeout=60)
        if response.status_code >= 500:
            failures.append(
                f"{operation.label} [{mode.value}] -> {response.status_code}: "
                f"{case.as_curl_command(headers=headers)}\n    {response.text[:300]}"
            )
            raise AssertionError(failures[-1])

    try:
        run()
    except AssertionError:
        pass  # recorded (hypothesis re-raises the first falsifying example once shrunk)
    except Unsatisfiable:
        pass  # nothing to break (negative mode of an operation without parameters)


def test_no_input_gets_a_server_error(fuzz_target: tuple[str, dict[str, str]]) -> None:
    base, admin = fuzz_target
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the API's operations are not all in /openapi.json"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, admin, failures)
    assert not failures, f"{len(failures)} server error(s):\n" + "\n".join(dict.fromkeys(failures))
