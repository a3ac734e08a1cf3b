"""Virtual village LED boards and loudspeakers (高音喇叭) for drills, demos and tests.

One MQTT client serves every device of the county's village layer (``gis_data/villages.geojson``:
each village lists ``led_boards`` and ``speakers`` ids such as ``LED-330225001201-1`` and
``SPK-330225001201-1``). It subscribes, QoS 1, to

    flood/v1/led/+/cmd        flood/v1/speaker/+/cmd                   (live operations)
    flood/v1/drill/led/+/cmd  flood/v1/drill/speaker/+/cmd             (drills)

and answers each command, QoS 1, in the namespace it came from: ``flood/v1/led/{board}/ack`` or
``flood/v1/speaker/{id}/ack``, and ``flood/v1/drill/led/{board}/ack`` or
``flood/v1/drill/speaker/{id}/ack`` for a command on a drill topic. Real devices' ACLs allow only
their own live topics, so a drill (which the dispatcher publishes only under ``flood/v1/drill/``)
can never drive a real board; the virtual devices listen to both so that drills have something to
drive.

Commands are UTF-8 JSON objects (``command_id``, ``text``, ``drill_id``, ``priority``, ``repeat``), as
:mod:`simulators.device_commands` describes them.

Ack payload::

    {"command_id": "...", "device": "LED-330225001201-1",
     "status": "shown" | "played" | "failed", "reason": null | "断电 (power failure)" | "bad command",
     "ts": "2021-07-25T12:00:03.120+08:00", "drill_id": 0}

Behaviour:

- An LED board shows ``text`` at once and acks ``shown``. A loudspeaker plays ``text`` ``repeat``
  times, ``len(text) / 5`` seconds each (five characters a second), one command after another, and
  acks ``played`` when it is done. ``time_scale`` multiplies that time: 1.0 is real time, 0 acks at
  once (tests). The ack of a played command is sent by a timer thread, never by sleeping.
- Unknown device ids (not in the village layer, or a board id on the speaker topic) are logged and
  not answered: nothing is listening at that address.
- ``fail_rate``: the fraction of commands a device acks ``failed`` with a reason (power failure,
  display / amplifier fault). ``silent_rate``: the fraction of devices that are dead — they never
  ack anything. Both are decided by hashing the seed with the device id (and the command id), so
  the same seed gives the same outcome for the same command whatever the order of arrival.
- Idempotent: a repeated ``command_id`` on the same device is not shown or played again, but acked
  again with the first outcome (a dispatcher's resend after a lost ack is harmless).
- A payload that is not JSON or not a valid command is logged and acked ``failed`` with the reason
  ``bad command`` when a ``command_id`` can be read from it; otherwise it is ignored.
- Drills: the ack carries the command's ``drill_id`` back so a drill's deliveries stay tagged with
  the drill; a drill command whose text lacks the 【演练】 marker is logged as a warning, and so is
  a command on a drill topic with ``drill_id`` 0. A device's command ids are one set across both
  namespaces (a repeat is acked again, on the topic it came in on).

Each device keeps its last ``keep`` commands (:meth:`VirtualDevices.history`) and what it shows or
last played (:meth:`VirtualDevices.shown`). ``floodctl gateways`` runs these via :func:`run_devices`.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import orjson
import paho.mqtt.client as mqtt

from floodctl.core.errors import ConfigError, ServiceUnavailable
from floodctl.core.mqtt import connect_async, make_client
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.topics import device_filters, device_topic
from simulators.device_commands import BAD_COMMAND, BadCommand, Command, command_address, parse_command, salvage

log = logging.getLogger("floodctl.devices")

DEFAULT_VILLAGES = Path(__file__).resolve().parent.parent / "gis_data" / "villages.geojson"
CST = timezone(timedelta(hours=8))
COMMAND_FILTERS = device_filters("cmd")  # live and drill, every device kind
CHARS_PER_SECOND = 5.0
KEEP_HISTORY = 50
REMEMBER_IDS = 1_000  # per device: command ids remembered for idempotent re-acks
CONNECT_TIMEOUT_S = 15.0
FAIL_REASONS = {
    "led": ("断电 (power failure)", "显示屏故障 (display fault)"),
    "speaker": ("断电 (power failure)", "功放故障 (amplifier fault)"),
}

Kind = Literal["led", "speaker"]
Status = Literal["shown", "played", "failed"]
# Where the village layer lists each kind of device.
VILLAGE_DEVICE_KEYS: tuple[tuple[Kind, str], ...] = (("led", "led_boards"), ("speaker", "speakers"))


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    kind: Kind
    village: str
    village_name: str
    town: str


@dataclass(slots=True)
class CommandRecord:
    """One command as a device received it, with what it did."""

    command_id: str
    text: str | None
    drill_id: int | None
    priority: str
    repeat: int
    received_at: datetime
    status: Status
    reason: str | None
    duration_s: float = 0.0  # simulated play time (speakers), before time_scale
    acks: int = 1  # 1 + the duplicates acked again
    ack_due: float = 0.0  # monotonic time at which the (first) ack is sent


@dataclass(slots=True)
class _DeviceState:
    info: DeviceInfo
    dead: bool
    history: deque[CommandRecord]
    outcomes: OrderedDict[str, CommandRecord] = field(default_factory=OrderedDict)
    shown: str | None = None
    busy_until: float = 0.0


def devices_from_villages(path: str | Path = DEFAULT_VILLAGES) -> dict[str, DeviceInfo]:
    """Every LED board and loudspeaker id of the village layer, with its kind, village and town."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the village layer {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"the village layer {path} is not JSON: {exc}") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise ConfigError(f"the village layer {path} is not a GeoJSON FeatureCollection")
    devices: dict[str, DeviceInfo] = {}
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            continue
        for kind, key in VILLAGE_DEVICE_KEYS:
            ids = props.get(key) or []
            if not isinstance(ids, list):
                continue
            for device_id in ids:
                if isinstance(device_id, str) and device_id and "/" not in device_id and device_id not in devices:
                    devices[device_id] = DeviceInfo(
                        device_id,
                        kind,
                        str(props.get("code", "")),
                        str(props.get("name", "")),
                        str(props.get("town", "")),
                    )
    return devices


def _unit(seed: int, *parts: str) -> float:
    """A number in [0, 1) fixed by the seed and the parts (order-independent 'random')."""
    digest = hashlib.blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class _AckTimer:
    """One thread that publishes delayed acks (speakers that are still playing)."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._heap: list[tuple[float, int, str, dict[str, Any]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, due: float, topic: str, payload: dict[str, Any]) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="devices-acks", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (due, next(self._counter), topic, payload))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else max(self._heap[0][0] - time.monotonic(), 0.001))
                if self._stopped:
                    return
                _, _, topic, payload = heapq.heappop(self._heap)
            self._send(topic, payload)

    def stop(self) -> int:
        """Stop; returns how many acks were still pending (their devices were switched off)."""
        with self._cond:
            self._stopped = True
            pending = len(self._heap)
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)
        return pending


class VirtualDevices:
    """Every LED board and loudspeaker of the village layer behind one MQTT client."""

    def __init__(
        self,
        mqtt_url: str,
        devices: dict[str, DeviceInfo] | None = None,
        *,
        villages_path: str | Path = DEFAULT_VILLAGES,
        fail_rate: float = 0.0,
        silent_rate: float = 0.0,
        seed: int = 0,
        time_scale: float = 0.0,
        keep: int = KEEP_HISTORY,
        client_id: str | None = None,
        protocol: str = "5",
    ) -> None:
        for name, rate in (("fail_rate", fail_rate), ("silent_rate", silent_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, not {rate}")
        if time_scale < 0:
            raise ConfigError(f"time_scale must be 0 or more, not {time_scale}")
        self.url = mqtt_url
        self.fail_rate = fail_rate
        self.silent_rate = silent_rate
        self.seed = seed
        self.time_scale = time_scale
        self.protocol = protocol
        infos = devices if devices is not None else devices_from_villages(villages_path)
        self._devices = {
            device_id: _DeviceState(
                info, dead=silent_rate > 0 and _unit(seed, "dead", device_id) < silent_rate, history=deque(maxlen=keep)
            )
            for device_id, info in infos.items()
        }
        self._lock = threading.Lock()
        self.stats = {"commands": 0, "acks": 0, "failed": 0, "silent": 0, "duplicates": 0, "unknown": 0, "bad": 0}
        self.client, self._props = make_client(
            mqtt_url, client_id or f"floodctl-devices-{os.getpid()}", protocol=protocol, persistent=False
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._sub_mid: int | None = None
        self._timer = _AckTimer(self._publish)
        self._started = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> VirtualDevices:
        """Connect, subscribe, and return once the broker granted the subscriptions."""
        connect_async(
            self.client, self.url, keepalive=30, protocol=self.protocol, properties=self._props, persistent=False
        )
        self.client.loop_start()
        self._started = True
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise ServiceUnavailable(f"MQTT broker {self.url} did not accept the devices' connection")
        return self

    def close(self) -> None:
        pending = self._timer.stop()
        if pending:
            log.info("devices: switched off with %d acks still pending (speakers still playing)", pending)
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False

    def __enter__(self) -> VirtualDevices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- queries ----------------------------------------------------------------------------

    @property
    def device_ids(self) -> list[str]:
        return list(self._devices)

    def counts(self) -> dict[str, int]:
        """How many devices of each kind (``led``, ``speaker``)."""
        out = {"led": 0, "speaker": 0}
        for state in self._devices.values():
            out[state.info.kind] += 1
        return out

    def dead(self) -> list[str]:
        """Devices that never answer (``silent_rate``)."""
        return [d for d, state in self._devices.items() if state.dead]

    def shown(self, device_id: str) -> str | None:
        """What a board shows now / the text a speaker played last (None: nothing yet)."""
        with self._lock:
            return self._state(device_id).shown

    def history(self, device_id: str) -> list[CommandRecord]:
        """The device's last commands, oldest first (a duplicate command id appears once)."""
        with self._lock:
            return list(self._state(device_id).history)

    def _state(self, device_id: str) -> _DeviceState:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"unknown device {device_id!r}") from None

    # --- MQTT callbacks (paho's thread: decode, record, ack — nothing else) --------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("devices: broker refused the connection: %s", reason)
            return
        result, mid = client.subscribe([(topic, 1) for topic in COMMAND_FILTERS])
        self._sub_mid = mid
        log.debug("devices: connected, subscribing (%s)", result)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if mid != self._sub_mid:
            return
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("devices: broker refused the subscription: %s", refused)
            return
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload))
        except Exception:  # a device never takes the client's loop down with it
            log.exception("devices: could not handle a message on %s", msg.topic)

    # --- the devices ------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> None:
        """One command message: decide, record, ack (or not)."""
        addressed = command_address(topic)
        if addressed is None:
            log.warning("devices: message on unexpected topic %s ignored", topic)
            return
        kind, device_id, drill_topic = addressed
        state = self._devices.get(device_id)
        if state is None or state.info.kind != kind:
            with self._lock:
                self.stats["unknown"] += 1
            log.warning("devices: command to unknown %s %r ignored (not in the village layer)", kind, device_id)
            return
        now = time.monotonic()
        try:
            command = parse_command(payload)
        except BadCommand as exc:
            self._bad_command(state, payload, str(exc), now, drill_topic)
            return
        with self._lock:
            self.stats["commands"] += 1
            known = state.outcomes.get(command.command_id)
            if known is not None:
                known.acks += 1
                self.stats["duplicates"] += 1
                record, duplicate = known, True
            else:
                record, duplicate = self._execute(state, command, now), False
            if state.dead:
                self.stats["silent"] += 1
            else:
                self.stats["acks"] += 1
                self.stats["failed"] += record.status == "failed"
        if command.drill_id and not command.text.startswith(DRILL_MARKER):
            log.warning(
                "devices: drill %d command %s to %s lacks the %s marker",
                command.drill_id,
                command.command_id,
                device_id,
                DRILL_MARKER,
            )
        if drill_topic and not command.drill_id:
            log.warning("devices: command %s to %s on a drill topic has drill_id 0", command.command_id, device_id)
        log.info(
            "%s %s ← %s%s%s: %s%s %r",
            kind,
            device_id,
            command.command_id,
            f" (drill {command.drill_id})" if command.drill_id else "",
            " again" if duplicate else "",
            "no answer (dead device)" if state.dead else record.status,
            f" — {record.reason}" if record.reason else "",
            command.text[:60],
        )
        if not state.dead:
            self._ack(state.info, record, max(record.ack_due, now), drill_topic)

    def _execute(self, state: _DeviceState, command: Command, now: float) -> CommandRecord:
        """Show / play a new command (lock held) and remember its outcome."""
        info = state.info
        failed = self.fail_rate > 0 and _unit(self.seed, "fail", info.device_id, command.command_id) < self.fail_rate
        reason = None
        status: Status = "shown" if info.kind == "led" else "played"
        duration = 0.0
        due = now
        if failed:
            status = "failed"
            reasons = FAIL_REASONS[info.kind]
            reason = reasons[int(_unit(self.seed, "reason", info.device_id, command.command_id) * len(reasons))]
        elif info.kind == "led":
            state.shown = command.text
        else:
            duration = len(command.text) / CHARS_PER_SECOND * command.repeat
            start = max(now, state.busy_until)
            due = start + duration * self.time_scale
            state.busy_until = due
            state.shown = command.text
        record = CommandRecord(
            command.command_id,
            command.text,
            command.drill_id,
            command.priority,
            command.repeat,
            datetime.now(CST),
            status,
            reason,
            duration_s=duration,
            ack_due=due,
        )
        self._remember(state, record)
        return record

    def _bad_command(
        self, state: _DeviceState, payload: bytes, problem: str, now: float, drill_topic: bool = False
    ) -> None:
        command_id, drill_id = salvage(payload)
        info = state.info
        if command_id is None:
            with self._lock:
                self.stats["bad"] += 1
            log.warning(
                "devices: bad command to %s (%s) without a readable command_id ignored: %r",
                info.device_id,
                problem,
                payload[:200],
            )
            return
        with self._lock:
            self.stats["bad"] += 1
            record = state.outcomes.get(command_id)
            if record is None:
                record = CommandRecord(
                    command_id, None, drill_id, "normal", 1, datetime.now(CST), "failed", BAD_COMMAND, ack_due=now
                )
                self._remember(state, record)
            else:
                record.acks += 1
            if not state.dead:
                self.stats["acks"] += 1
                self.stats["failed"] += record.status == "failed"
        log.warning(
            "devices: bad command %s to %s (%s)%s",
            command_id,
            info.device_id,
            problem,
            "" if not state.dead else "; dead device, no answer",
        )
        if not state.dead:
            self._ack(info, record, max(record.ack_due, now), drill_topic)

    @staticmethod
    def _remember(state: _DeviceState, record: CommandRecord) -> None:
        state.history.append(record)
        state.outcomes[record.command_id] = record
        while len(state.outcomes) > REMEMBER_IDS:
            state.outcomes.popitem(last=False)

    def _ack(self, info: DeviceInfo, record: CommandRecord, due: float, drill_topic: bool = False) -> None:
        topic = device_topic(info.kind, info.device_id, drill_topic, "ack")
        payload = {
            "command_id": record.command_id,
            "device": info.device_id,
            "status": record.status,
            "reason": record.reason,
            "drill_id": record.drill_id,
        }
        if due <= time.monotonic():
            self._publish(topic, payload)
        else:
            self._timer.schedule(due, topic, payload)

    def _publish(self, topic: str, ack: dict[str, Any]) -> None:
        # ts is the moment the ack leaves (a speaker acks when it has finished playing).
        payload = orjson.dumps({**ack, "ts": datetime.now(CST).isoformat(timespec="milliseconds")})
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            log.warning("devices: could not queue the ack on %s: %s", topic, mqtt.error_string(info.rc))


def run_devices(
    mqtt_url: str,
    villages_path: str | Path = DEFAULT_VILLAGES,
    fail_rate: float = 0.0,
    silent_rate: float = 0.0,
    seed: int = 0,
    stop_event: threading.Event | None = None,
    *,
    time_scale: float = 1.0,
    protocol: str = "5",
    client_id: str | None = None,
) -> dict[str, int]:
    """Run the virtual devices until ``stop_event`` is set (the CLI's ``floodctl gateways``).

    Logs a line per command; returns the counters (commands, acks, failed, silent, …)."""
    stop = stop_event or threading.Event()
    devices = VirtualDevices(
        mqtt_url,
        villages_path=villages_path,
        fail_rate=fail_rate,
        silent_rate=silent_rate,
        seed=seed,
        time_scale=time_scale,
        client_id=client_id,
        protocol=protocol,
    )
    counts = devices.counts()
    devices.start()
    try:
        log.info(
            "devices: %d LED boards and %d loudspeakers listening on %s (fail rate %.2f, silent rate %.2f "
            "→ %d dead, seed %d)",
            counts["led"],
            counts["speaker"],
            ", ".join(COMMAND_FILTERS),
            fail_rate,
            silent_rate,
            len(devices.dead()),
            seed,
        )
        while not stop.wait(0.5):
            pass
    finally:
        devices.close()
    log.info(
        "devices: stopped after %(commands)d commands, %(acks)d acks (%(failed)d failed), "
        "%(silent)d unanswered, %(duplicates)d duplicates, %(unknown)d to unknown devices, %(bad)d bad",
        devices.stats,
    )
    return dict(devices.stats)
