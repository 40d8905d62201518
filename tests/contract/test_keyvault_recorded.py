"""Replay real recorded Key Vault exchanges against the simulator.

Each recording is replayed in order into a fresh vault with the recorded
vault's protections (7-day soft delete, no purge protection). Values that
Azure chose (versions, backup blobs, next links) are learnt from the
simulator's answers and substituted into later requests. The simulator must
answer with the same status, the same headers clients act on, and JSON with
the same field names and nesting; scalar values are normalised away.

Known, deliberate differences are skipped by rule, each with its reason:
EC keys (the simulator makes RSA keys only) and Azure's eventual consistency
(a deleted key briefly 404s, a restore right after a purge briefly 409s: the
simulator is consistent at once).
"""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from simclients import Sdk

from azuresim.process import SimProcess

FIXTURES = Path(__file__).parent / "keyvault_fixtures" / "recorded"
RECORDINGS = sorted(FIXTURES.glob("*.json"))
VAULT = "kv-contract"
VERSION = re.compile(r"^[0-9a-f]{32}$")
CHALLENGE = re.compile(
    r'^Bearer authorization="https://[^"/]+/(?P<tenant>[0-9a-f-]{36})", '
    r'resource="https://vault\.azure\.net"$'
)


def shape(value: Any) -> Any:
    """Field names and nesting, with scalar values normalised away."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return ["list", sorted(shapes)]
    return "scalar"


# Fields the service added after some recordings were made: the simulator
# answers like the newest recording, and older ones lack the field.
NEWER_FIELDS = {"key_size"}
# Present only when the resource has them (a key with no tags has no "tags");
# list pages of the recordings hold keys other tests left behind.
DATA_DEPENDENT = {"tags", "nbf", "exp"}


def shapes_match(recorded: Any, actual: Any, path: str = "") -> list[str]:
    """Differences in field names and nesting between two JSON values."""
    if isinstance(recorded, dict) and isinstance(actual, dict):
        problems = []
        recorded_keys, actual_keys = set(recorded), set(actual)
        if path.endswith("/attributes"):
            actual_keys -= (NEWER_FIELDS & actual_keys) - recorded_keys
        if "[]" in path:
            recorded_keys -= DATA_DEPENDENT
            actual_keys -= DATA_DEPENDENT
        if recorded_keys != actual_keys:
            missing = sorted(recorded_keys - actual_keys)
            extra = sorted(actual_keys - recorded_keys)
            problems.append(f"{path or '/'}: missing {missing}, extra {extra}")
        for key in recorded_keys & actual_keys:
            problems += shapes_match(recorded[key], actual[key], f"{path}/{key}")
        return problems
    if isinstance(recorded, list) and isinstance(actual, list):
        if not recorded or not actual:
            return []  # an empty page says nothing about item shape
        return shapes_match(recorded[0], actual[0], f"{path}[]")
    if isinstance(recorded, dict | list) or isinstance(actual, dict | list):
        return [f"{path}: {type(recorded).__name__} vs {type(actual).__name__}"]
    return []


class Replay:
    def __init__(self, http: httpx.Client, base_url: str, token: str) -> None:
        self.http = http
        self.base_url = base_url
        self.token = token
        self.substitutions: dict[str, str] = {}

    def substitute(self, text: str) -> str:
        for recorded in sorted(self.substitutions, key=len, reverse=True):
            text = text.replace(recorded, self.substitutions[recorded])
        return text

    def learn(self, recorded: Any, actual: Any) -> None:
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for key in set(recorded) & set(actual):
                old, new = recorded[key], actual[key]
                if key == "kid" and isinstance(old, str) and isinstance(new, str):
                    old_version, new_version = (
                        old.rsplit("/", 1)[-1],
                        new.rsplit("/", 1)[-1],
                    )
                    if VERSION.match(old_version) and VERSION.match(new_version):
                        self.substitutions.setdefault(old_version, new_version)
                elif key == "value" and isinstance(old, str) and isinstance(new, str):
                    if old != new:
                        self.substitutions[old] = new
                elif (
                    key == "nextLink" and isinstance(old, str) and isinstance(new, str)
                ):
                    self.substitutions[_path(old)] = _path(new)
                else:
                    self.learn(old, new)
        elif isinstance(recorded, list) and isinstance(actual, list):
            for old, new in zip(recorded, actual, strict=False):
                self.learn(old, new)

    def send(self, request: dict[str, Any], authenticated: bool) -> httpx.Response:
        path = self.substitute(request["path"])
        body = request.get("body")
        content = None if body is None else self.substitute(json.dumps(body))
        headers = {"Content-Type": "application/json"}
        if authenticated:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.http.request(
            request["method"], self.base_url + path, content=content, headers=headers
        )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def skip_reason(interactions: list[dict[str, Any]], index: int) -> str | None:
    interaction = interactions[index]
    request, response = interaction["request"], interaction["response"]
    body = request.get("body") or {}
    if isinstance(body, dict) and str(body.get("kty", "")).startswith("EC"):
        return "the simulator makes RSA keys only"
    following = interactions[index + 1] if index + 1 < len(interactions) else None
    if (
        following is not None
        and following["request"]["method"] == request["method"]
        and following["request"]["path"] == request["path"]
        and response["status"] in (404, 409)
        and following["response"]["status"] == 200
    ):
        return "Azure's eventual consistency; the simulator is consistent at once"
    return None


@pytest.fixture
def replay_vault(simulator: SimProcess, sdk: Sdk) -> Replay:
    simulator.put_vault(
        VAULT,
        location="eastus2",
        enable_purge_protection=False,
        soft_delete_retention_days=7,
    )
    token = sdk.credential().get_token("https://vault.azure.net/.default").token
    http = httpx.Client(
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle), timeout=30
    )
    return Replay(http, sdk.endpoints.vaults[VAULT], token)


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: p.stem)
def test_simulator_answers_like_the_recording(
    replay_vault: Replay, sdk: Sdk, recording: Path
) -> None:
    interactions = json.loads(recording.read_text())["interactions"]
    compared = 0
    for index, interaction in enumerate(interactions):
        if skip_reason(interactions, index):
            continue
        request, recorded = interaction["request"], interaction["response"]
        path = request["path"]
        if "$skiptoken=" in path and replay_vault.substitute(path) == path:
            continue  # the simulator's pages held every item: no such page
        response = replay_vault.send(request, authenticated=recorded["status"] != 401)
        where = f"{recording.stem} #{index}: {request['method']} {request['path']}"

        assert response.status_code == recorded["status"], f"{where}: {response.text}"
        check_headers(recorded["headers"], response, sdk.endpoints.tenant_id, where)
        actual = response.json() if response.content else None
        if recorded["body"] is None:
            assert actual is None, where
        else:
            assert shapes_match(recorded["body"], actual) == [], where
            replay_vault.learn(recorded["body"], actual)
        compared += 1
    assert compared >= 3


def check_headers(
    recorded: dict[str, str], response: httpx.Response, tenant: str, where: str
) -> None:
    if "Content-Type" in recorded:
        assert response.headers["content-type"] == recorded["Content-Type"], where
    else:
        assert "content-type" not in response.headers, where
    if "WWW-Authenticate" in recorded:
        assert CHALLENGE.match(recorded["WWW-Authenticate"]), "fixture changed"
        match = CHALLENGE.match(response.headers.get("www-authenticate", ""))
        assert match and match["tenant"] == tenant, where
    if "Retry-After" in recorded:
        assert response.headers["retry-after"].isdigit(), where
