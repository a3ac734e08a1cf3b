"""The open registry of hazards and warning categories, read once from ``hazards.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Final


@dataclass(frozen=True, slots=True)
class Hazard:
    id: str
    zh: str
    en: str
    response_zh: str  # the response it belongs to: 防汛, 防台风 or 防汛防台
    response_en: str


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    zh: str
    en: str


def _load() -> tuple[dict[str, Hazard], dict[str, Category]]:
    data = tomllib.loads(resources.files(__package__).joinpath("hazards.toml").read_text(encoding="utf-8"))
    hazards = {k: Hazard(k, v["zh"], v["en"], v["response"][0], v["response"][1]) for k, v in data["hazard"].items()}
    categories = {k: Category(k, v["zh"], v["en"]) for k, v in data["category"].items()}
    return hazards, categories


HAZARDS_BY_ID, CATEGORIES_BY_ID = _load()
HAZARDS: Final[tuple[str, ...]] = tuple(HAZARDS_BY_ID)
CATEGORIES: Final[tuple[str, ...]] = tuple(CATEGORIES_BY_ID)
HAZARD_ZH: Final[dict[str, str]] = {k: h.zh for k, h in HAZARDS_BY_ID.items()}
HAZARD_EN: Final[dict[str, str]] = {k: h.en for k, h in HAZARDS_BY_ID.items()}
FLOOD: Final = "flood"  # the categories the code itself acts on (orders come from flood warnings)
DEVICE: Final = "device"
