"""The embedded default: where the database and broker are when no URL is configured.

``floodctl up`` starts the embedded PostgreSQL (pgserver) and broker, and records the broker's
address in ``FLOOD_DATA_DIR/runtime.json`` so that other commands run beside it
(``floodctl ingest``, ``floodctl serve``, …) find them without any setting.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from floodctl.core.errors import ServiceUnavailable
from floodctl.core.settings import Settings

RUNTIME_FILE = "runtime.json"


@dataclass(frozen=True, slots=True)
class MqttTarget:
    url: str
    shared_subscriptions: bool = True
    protocol: str = "5"


def runtime_path(settings: Settings) -> Path:
    return settings.data_dir / RUNTIME_FILE


def write_runtime(settings: Settings, target: MqttTarget) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime_path(settings).write_text(json.dumps({"mqtt": asdict(target)}), encoding="utf-8")


def clear_runtime(settings: Settings) -> None:
    runtime_path(settings).unlink(missing_ok=True)


def database_url(settings: Settings) -> str:
    """FLOOD_DATABASE_URL, else the embedded pgserver under FLOOD_DATA_DIR (started if needed)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from floodctl.core.embedded.postgres import start_pgserver

    return start_pgserver(settings.data_dir)


def mqtt_target(settings: Settings) -> MqttTarget:
    """FLOOD_MQTT_URL, else the broker that ``floodctl up`` started."""
    if settings.mqtt_url is not None:
        return MqttTarget(settings.mqtt_url.get_secret_value(), True, settings.mqtt_protocol)
    path = runtime_path(settings)
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["mqtt"]
            return MqttTarget(data["url"], bool(data["shared_subscriptions"]), str(data["protocol"]))
        except (ValueError, KeyError, TypeError):
            pass
    raise ServiceUnavailable("no MQTT broker: set FLOOD_MQTT_URL, or start the embedded one with `floodctl up`")
