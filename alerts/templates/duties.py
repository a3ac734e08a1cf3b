"""What a response order asks of the towns and tells the public, per hazard and colour: the texts as data."""

from __future__ import annotations

# Duties of the towns per hazard: (lowest colour rank it applies from, zh, en). Cumulative with the colour;
# an order without colour (level None) gets the rank-0 duties.
DUTIES: dict[str, tuple[tuple[int, str, str], ...]] = {
    "river_flood": (
        (
            0,
            "加强河道水位监测和堤防巡查，巡堤查险人员到岗到位",
            "step up river-level monitoring and embankment patrols; levee inspection teams on post",
        ),
        (0, "做好沿河低洼地带人员转移准备", "prepare the evacuation of people in low-lying areas along the rivers"),
        (
            1,
            "落实防汛抢险队伍和物资，险工险段落实专人值守",
            "stand by flood-fighting teams and materials; post watchmen at weak embankment sections",
        ),
        (
            2,
            "立即组织沿河低洼地带及危险区域人员转移",
            "evacuate people from low-lying riverside areas and danger zones at once",
        ),
        (2, "封闭漫水桥、过水路面等危险路段", "close submersible bridges, fords and other dangerous road sections"),
        (
            3,
            "危险区域人员应转尽转、不漏一人，抢险力量前置到险工险段",
            "evacuate everyone from danger zones, leaving nobody behind; pre-position rescue forces at weak sections",
        ),
    ),
    "reservoir": (
        (
            0,
            "加强大坝巡查，加密水位观测，管理人员在岗值守",
            "step up dam inspections and water-level readings; reservoir staff on post",
        ),
        (
            0,
            "严格执行县防指调度指令，不得擅自超汛限蓄水",
            "follow the county HQ's operating orders strictly; no storage above the flood-limit level",
        ),
        (
            1,
            "按调度令预泄腾库，泄洪前提前通知下游",
            "pre-release by the operating order and warn downstream before any release",
        ),
        (
            2,
            "按调度令泄洪，做好下游人员转移准备，抢险队伍和物资在坝区待命",
            "release by the operating order; prepare the downstream evacuation; rescue teams on standby at the dam",
        ),
        (
            3,
            "立即组织下游危险区域人员转移，发现险情立即报告并组织抢险",
            "evacuate downstream danger zones at once; report any dam danger immediately and start emergency works",
        ),
    ),
    "storm_tide": (
        (
            0,
            "加强海塘巡查和潮位监测，关闭沿塘旱闸",
            "patrol the seawalls, watch the tide levels and close the dry gates in the seawalls",
        ),
        (
            0,
            "渔船回港避风，涉海作业人员做好上岸准备",
            "call fishing boats back to harbour; prepare sea workers to come ashore",
        ),
        (
            1,
            "海上养殖、涉海作业人员全部上岸，停止海边、滩涂活动",
            "bring all aquaculture and sea workers ashore; stop all activity on beaches and mudflats",
        ),
        (
            2,
            "组织海塘外侧及沿海低洼地带人员转移，险工险段专人值守",
            "evacuate people outside the seawalls and in low-lying coastal areas; watchmen at weak seawall sections",
        ),
        (
            3,
            "沿海危险区域人员全部撤离，抢险队伍和物资前置到重点海塘",
            "evacuate all coastal danger zones; pre-position rescue teams and materials at key seawalls",
        ),
    ),
    "rainstorm": (
        (
            0,
            "加强雨情监测，开展山洪、地质灾害隐患点巡查",
            "watch the rainfall and patrol flash-flood and landslide hazard sites",
        ),
        (
            1,
            "提前转移山洪、地质灾害隐患点和危险区人员",
            "evacuate people at flash-flood and landslide hazard sites and danger zones in advance",
        ),
        (1, "检查排水设施，做好城镇排涝准备", "check drainage and prepare urban pumping"),
        (
            2,
            "山洪地质灾害危险区人员全部转移，停止户外作业和集体活动",
            "evacuate all flash-flood and landslide danger zones; stop outdoor work and gatherings",
        ),
        (
            3,
            "视情落实停课、停工、停业等措施，危险区域人员应转尽转、不漏一人",
            "suspend classes, work and business as needed; evacuate everyone from danger zones",
        ),
    ),
    "typhoon": (
        (
            0,
            "渔船进港避风，海上作业人员做好回港上岸准备",
            "fishing boats into harbour for shelter; prepare sea workers to return ashore",
        ),
        (
            0,
            "加固户外广告牌、临时建筑、在建工地塔吊等设施",
            "secure billboards, temporary structures and tower cranes on building sites",
        ),
        (
            1,
            "海上养殖、涉海作业人员全部上岸，停止户外高空作业",
            "bring all aquaculture and sea workers ashore; stop outdoor work at height",
        ),
        (
            2,
            "组织危旧房、工棚、低洼地带及山洪地质灾害隐患点人员撤离危险区域，停止户外作业",
            "evacuate dilapidated houses, work sheds, low-lying areas and hazard sites; stop outdoor work",
        ),
        (2, "视情落实停课、停工、停业、停运等措施", "suspend classes, work, business and transport as needed"),
        (
            3,
            "危险区域人员全部撤离且不得擅自返回，除抢险救灾外停止一切户外活动",
            "evacuate all danger zones with no return until cleared; all outdoor activity stops except rescue work",
        ),
    ),
    "waterlogging": (
        (0, "加强易涝点巡查，排涝泵站提前预排", "patrol flood-prone spots and pump down drainage systems in advance"),
        (
            1,
            "地下车库、地下商场、下穿通道等地下空间做好挡水和封控准备",
            "prepare flood barriers and closure of underground car parks, malls and underpasses",
        ),
        (
            2,
            "对地下空间和低洼路段实施封控，设置警示标志，禁止车辆人员通行",
            "close underground spaces and low-lying road sections; post warning signs; no vehicles or people",
        ),
        (
            3,
            "地下空间人员全部撤离，积水严重区域人员转移，排涝抢险力量全部到位",
            "evacuate all underground spaces and badly flooded areas; all drainage and rescue forces deployed",
        ),
    ),
    "seawall_breach": (
        (
            0,
            "立即组织抢险队伍和物资赶赴现场抢险，查明险情并及时报告",
            "send rescue teams and materials to the site at once; assess the damage and report",
        ),
        (
            0,
            "危险区人员全部转移，设置警戒区域，严禁无关人员进入",
            "evacuate everyone from the danger zone; cordon it off and keep everyone else out",
        ),
        (
            2,
            "组织塘内低洼地带人员全部转移，做好溃塘应急处置准备",
            "evacuate all low-lying areas behind the seawall; prepare for a breach",
        ),
        (
            3,
            "请求县级以上抢险力量支援，全力封堵险情",
            "request support from county-level and higher rescue forces; close the breach with every means",
        ),
    ),
    "general": (
        (
            0,
            "加强监测预警，密切关注雨情、水情、风情、潮情变化",
            "step up monitoring; follow rainfall, river, wind and tide conditions closely",
        ),
        (
            1,
            "抢险队伍和物资做好准备，落实危险区域人员转移准备",
            "stand by rescue teams and materials; prepare the evacuation of danger zones",
        ),
        (2, "组织危险区域人员转移", "evacuate danger zones"),
        (3, "危险区域人员全部转移，全力做好抢险救灾", "evacuate all danger zones; all-out rescue and relief"),
    ),
}
COMMON_DUTY = (
    "严格执行24小时领导带班和值班值守制度，加强巡查值守",
    "keep leaders on duty and the duty desk manned 24 hours; step up patrols",
)

# Advice to the public (LED boards, loudspeakers): (below orange, orange and red).
PUBLIC_ADVICE_ZH = {
    "river_flood": (
        "河道水位上涨，请远离河道堤防，低洼地带群众做好转移准备",
        "河道超警洪水，沿河低洼地带群众请立即转移，切勿靠近河道",
    ),
    "reservoir": (
        "水库水位超汛限，下游群众请远离河道，做好转移准备",
        "水库泄洪，下游沿河低洼地带群众请立即转移，严禁靠近河道",
    ),
    "storm_tide": (
        "风暴潮来袭，请远离海边海塘，渔船回港避风",
        "严重风暴潮，沿海群众请立即上岸撤离，严禁到海塘滩涂活动",
    ),
    "rainstorm": ("强降雨来袭，请远离山洪地质灾害隐患点，切勿涉水", "特大暴雨，山洪地质灾害危险区群众请立即转移"),
    "typhoon": (
        "台风将影响我县，渔船进港避风，加固门窗，减少外出",
        "台风即将严重影响，危险区域人员立即撤离，停止户外作业，不要外出",
    ),
    "waterlogging": (
        "局部积水，请勿进入地下空间和低洼路段，车辆绕行",
        "严重内涝，地下空间人员立即撤离，低洼路段禁止通行",
    ),
    "seawall_breach": (
        "海塘出现险情，危险区域群众请立即撤离，听从指挥",
        "海塘出现险情，危险区域群众请立即撤离，听从指挥",
    ),
    "general": ("请密切关注天气和水情变化，注意防范", "危险区域人员请立即转移，听从指挥"),
}
