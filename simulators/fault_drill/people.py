"""The people of the fault drill: the commander approving drafts, and towns answering (or forging) SMS."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import psycopg

from alerts.signing import twilio_signature
from floodctl.core.settings import DEV_SMS_AUTH_TOKEN
from simulators.fault_drill.stack import Stack

COMMANDER = "faults-chief"
PASSWORD = "fault-drill-commander-pw"


def create_commander(conn: psycopg.Connection) -> None:
    from floodctl.auth import store

    store.create_user(conn, COMMANDER, PASSWORD, roles=["commander"], actor="fault-drill")


def roster(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """Each town's responsible people (primary, deputy, superior) and their phone numbers (E.164)."""
    row = conn.execute("SELECT geojson FROM layers WHERE name = 'roster'").fetchone()
    people: dict[str, dict[str, str]] = {}
    for entry in row[0].get("towns", []) if row else []:
        people[entry["town"]] = {
            rank: "+86" + str(entry[rank]["phone"]).lstrip("0")
            for rank in ("primary", "deputy", "superior")
            if entry.get(rank)
        }
    return people


def commander(stack: Stack, drill_id: int, stop: threading.Event) -> None:
    """The county's commander, approving every draft of the drill through the API."""
    http = httpx.Client(base_url=stack.api, timeout=5, trust_env=False)
    token: str | None = None
    while not stop.wait(1.0):
        try:
            if token is None:
                r = http.post("/api/v1/auth/token", data={"username": COMMANDER, "password": PASSWORD})
                if r.status_code != 200:
                    continue
                token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            r = http.get("/api/v1/orders", params={"drill": drill_id, "status": "draft"}, headers=headers)
            if r.status_code == 401:
                token = None
                continue
            for order in r.json()["orders"] if r.status_code == 200 else []:
                http.post(f"/api/v1/orders/{order['id']}/approve", headers=headers)
        except (httpx.HTTPError, ValueError):
            continue
    http.close()


@dataclass
class Replies:
    """Towns answering their SMS: the even ones by a real signed reply; forged and replayed answers
    for the odd ones (none of which may be accepted)."""

    stack: Stack
    roster: dict[str, dict[str, str]]
    answered: set[str] = field(default_factory=set)  # towns that really replied
    forged_refused: int = 0
    forged_accepted: int = 0
    replayed: int = 0

    def run(self, stop: threading.Event) -> None:
        towns = sorted(self.roster)
        honest = set(towns[0::2])
        phones = {self.roster[t]["primary"]: t for t in towns if "primary" in self.roster[t]}
        seen: set[str] = set()
        http = httpx.Client(base_url=self.stack.api, timeout=5, trust_env=False)
        while not stop.wait(0.5):
            with self.stack.drill_gateway.lock:
                messages = [dict(m) for m in self.stack.drill_gateway.messages.values()]
            for message in messages:
                town = phones.get(message["to"])
                if town is None or message["sid"] in seen:
                    continue
                seen.add(message["sid"])
                try:
                    if town in honest and town not in self.answered:
                        self._answer(http, town, message["to"])
                    elif town not in honest:
                        self._forge(http, message["to"])
                except httpx.HTTPError:
                    seen.discard(message["sid"])  # the API is down: answer again later
        http.close()

    def _answer(self, http: httpx.Client, town: str, phone: str) -> None:
        """A real reply, signed with the drill gateway's token, then the same reply again (a replay)."""
        params = self._reply(phone, "1")
        if self._post(http, params, self.stack.drill_token).status_code == 200:
            self.answered.add(town)
            self._post(http, params, self.stack.drill_token)
            self.replayed += 1

    def _forge(self, http: httpx.Client, phone: str) -> None:
        """Replies signed with the development token and with a made-up one."""
        for key in (DEV_SMS_AUTH_TOKEN, "not-the-token"):
            r = self._post(http, self._reply(phone, "1"), key)
            if r.status_code == 200:
                self.forged_accepted += 1
            else:
                self.forged_refused += 1

    def _reply(self, phone: str, body: str) -> dict[str, str]:
        return {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.stack.drill_sid,
            "From": phone,
            "To": "+8610000000",
            "Body": body,
        }

    def _post(self, http: httpx.Client, params: dict[str, str], key: str) -> httpx.Response:
        path = "/api/v1/hooks/sms/inbound"
        return http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(key, self.stack.api + path, params),
            },
        )
