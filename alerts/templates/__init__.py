"""Response orders (处警单): their text for every channel, and the county response level a situation suggests.

    render_order(hazard=…, level=…, msg_type=…, town_names=…, …) -> OrderText
        title/body in zh-CN and English, plus the short texts of the dispatch channels:
        sms_zh ≤ 300 characters, led_zh ≤ 60 (village LED board), speaker_zh ≤ 120 (loudspeakers)
    suggest_response_level([(hazard, colour), …]) -> "none" | "IV" | "III" | "II" | "I"

``render`` renders, ``duties`` holds the texts per hazard and colour, ``response_level`` suggests.

Pure: no clock, database or network; the text carries no date (the dispatcher stamps it).

Message types: ``alert`` a new order and ``update`` an update of the situation and duties of an
earlier one (for both, ``order_no`` is the order's own number; name the earlier order in ``extra`` if
wanted, e.g. "（涉及象防指〔2026〕42号）"); ``cancel`` the earlier order ``order_no`` is
withdrawn (撤销: it was issued in error or has been overtaken) and is no longer to be executed;
``allclear`` the warning is over (解除): the response started with order ``order_no`` ends and normal
life resumes. ``level`` is the warning colour (None: not graded, e.g. a general order); the duties
listed grow with it (an orange order repeats the blue and yellow duties and adds its own).
``response_level`` is the county response level the order states ("none" or None: not mentioned).

Drill (演练): every text, Chinese and English, starts with "【演练】", and the bodies (and the SMS,
room permitting) say "本指令为演练，请勿外传". Length limits are counted in characters (``len``) and are
never exceeded: the texts degrade step by step (the town list becomes "石浦镇等5个乡镇（街道）", fewer
duties, no free text) and, as a last resort, are cut with "…" (the drill marker always survives).

``subject`` and ``observed`` are joined directly, so write ``observed`` as the continuation of
``subject``: "大徐溪大徐站" + "水位 3.62 m，超警戒 0.32 m".
"""

from alerts.templates.render import LED_MAX, MSG_TYPES, SMS_MAX, SPEAKER_MAX, OrderText, render_order
from alerts.templates.response_level import suggest_response_level

__all__ = ["LED_MAX", "MSG_TYPES", "SMS_MAX", "SPEAKER_MAX", "OrderText", "render_order", "suggest_response_level"]
