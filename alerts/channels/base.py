"""The channel interface: one outbox row (Delivery) in, what happened (SendResult) out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Outcome = Literal["sent", "retry", "failed", "in_doubt"]
DeviceKind = Literal["led", "speaker"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as a channel sees it."""

    id: int
    order_id: int
    drill_id: int
    town_code: str
    recipient: str
    channel: str
    address: str  # E.164 phone number, or device id
    round: int
    body: str
    attempts: int  # including the attempt in progress
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sent`` (provider_id set) | ``retry`` (nothing went out; try later) | ``failed`` (permanent) |
    ``in_doubt`` (it may have gone out: reconcile with ``find_sent`` before sending again)."""

    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None

    @classmethod
    def sent(cls, provider_id: str) -> SendResult:
        return cls("sent", provider_id, None)

    @classmethod
    def retry(cls, error: str) -> SendResult:
        return cls("retry", None, error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls("failed", None, error)

    @classmethod
    def in_doubt(cls, error: str) -> SendResult:
        return cls("in_doubt", None, error)


class ReconcileError(Exception):
    """``find_sent`` could not tell whether the delivery was sent (the gateway did not answer)."""


class Channel(Protocol):
    """``name``: "sms" | "led" | "speaker". A channel may also say how long one gateway call can take
    at most (``max_call_s``, seconds): the dispatcher keeps its lease on a delivery longer than that."""

    name: str

    def send(self, d: Delivery) -> SendResult: ...

    def find_sent(self, d: Delivery) -> str | None:
        """Reconcile an in-doubt delivery: its provider id if it was sent, else None.
        Raises ReconcileError when the gateway cannot tell now."""
        ...


class RefusingChannel:
    """A channel that fails every delivery with one reason (a gateway that is not configured)."""

    max_call_s = 0.0

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def send(self, d: Delivery) -> SendResult:
        return SendResult.failed(self.reason)

    def find_sent(self, d: Delivery) -> str | None:
        return None
