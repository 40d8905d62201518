"""The simulator's admin API, for the console's simulator controls.

A sim-only code path: Azure has no clock to advance or outage to switch on,
so this talks plain HTTPS (verified with the simulator's CA) to the admin
API under `/_sim/`, never through mesh. It is built only when the session is
the simulator.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

# What each fault of the panel does; the simulator applies it to every
# listener until it is switched off.
FAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "throttle": {"retry_after": 1},
    "latency": {"delay_seconds": 2.0},
}


class SimError(Exception):
    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")
        self.title = "The simulator refused"
        self.what = what
        self.why = why
        self.fix = "Check the simulator's log; `tdemesh sim` commands reach it too."


@dataclass(frozen=True)
class SimState:
    """What the controls show: the clock, outages and faults in force."""

    now: datetime
    scale: float
    outages: tuple[str, ...]  # vault names
    faults: tuple[tuple[str, str], ...]  # (fault id, kind)


class SimControl:
    """Clock, outages and faults of one running simulator."""

    def __init__(self, admin_url: str, ca_bundle: str, vaults: tuple[str, ...]) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.vaults = vaults
        self.scale = 1.0
        self.ca_bundle = ca_bundle
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        """Made on first use, off the UI thread: httpx takes a while to import."""
        if self._client is None:
            import httpx

            context = ssl.create_default_context(cafile=self.ca_bundle)
            self._client = httpx.Client(verify=context, timeout=10.0)
        return self._client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx  # already loaded by _http(); the name is needed here too

        try:
            response = self._http().request(
                method, f"{self.admin_url}/{path}", json=body
            )
        except httpx.HTTPError as error:
            raise SimError(f"{method} /_sim/{path}", f"no answer ({error})") from error
        if response.status_code >= 400:
            raise SimError(
                f"{method} /_sim/{path}", f"{response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def state(self) -> SimState:
        clock = self._call("GET", "clock")
        self.scale = float(clock.get("scale", 1.0))
        outages = self._call("GET", "outages") or {}
        faults = self._call("GET", "faults") or {}
        return SimState(
            datetime.fromisoformat(clock["now"]),
            self.scale,
            tuple(sorted(str(o["vault"]) for o in outages.get("value", []))),
            tuple((str(f["id"]), str(f["kind"])) for f in faults.get("value", [])),
        )

    def advance(self, seconds: float) -> None:
        self._call("POST", "clock", {"advance_seconds": seconds})

    def set_scale(self, scale: float) -> None:
        self._call("POST", "clock", {"scale": scale})
        self.scale = scale

    def start_outage(self, vault: str) -> None:
        self._call("POST", "outages", {"vault": vault})

    def end_outage(self, vault: str) -> None:
        self._call("DELETE", f"outages/{vault}")

    def toggle_fault(self, kind: str) -> bool:
        """Switch a fault kind on (on every listener) or off; True when on."""
        active = [fault_id for fault_id, k in self.state().faults if k == kind]
        for fault_id in active:
            self._call("DELETE", f"faults/{fault_id}")
        if active:
            return False
        body: dict[str, Any] = {"kind": kind}
        body.update(FAULT_SETTINGS.get(kind, {}))
        self._call("POST", "faults", body)
        return True

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")
        self._call("DELETE", "outages")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
