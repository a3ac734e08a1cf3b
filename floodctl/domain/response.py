"""Emergency response levels (应急响应等级): Ⅳ (general) lowest to Ⅰ (extremely severe), and none."""

from __future__ import annotations

from typing import Final, Literal

ResponseLevelName = Literal["none", "IV", "III", "II", "I"]

RESPONSE_LEVELS: Final[tuple[ResponseLevelName, ...]] = ("none", "IV", "III", "II", "I")  # ascending
RESPONSE_RANK: Final[dict[str, int]] = {name: i for i, name in enumerate(RESPONSE_LEVELS)}
RESPONSE_LEVEL_ZH: Final[dict[str, str]] = {"none": "无", "IV": "Ⅳ级", "III": "Ⅲ级", "II": "Ⅱ级", "I": "Ⅰ级"}
RESPONSE_LEVEL_LABEL_ZH: Final[dict[str, str]] = {
    "none": "无",
    "IV": "Ⅳ级（一般）",
    "III": "Ⅲ级（较大）",
    "II": "Ⅱ级（重大）",
    "I": "Ⅰ级（特别重大）",
}
RESPONSE_LEVEL_EN: Final[dict[str, str]] = {
    "none": "none",
    "IV": "Level IV (general)",
    "III": "Level III (major)",
    "II": "Level II (severe)",
    "I": "Level I (extremely severe)",
}
