"""The domain vocabulary every part of floodctl speaks, defined once: the ground floor.

- ``levels``     warning levels (蓝/黄/橙/红) in ascending order, their rank, words, colours, shapes
- ``response``   emergency response levels (Ⅳ…Ⅰ级) and their words
- ``hazards``    the open registry of hazards and hazard categories (data: ``hazards.toml``)
- ``thresholds`` station kinds, their thresholds (SL 323 names) with labels, default metrics
- ``metrics``    the metric vocabulary of the MQTT contract (mirrors the ``metrics`` table)
- ``drills``     the drill marker 【演练】 and drill isolation (drill 0 is live operations)
- ``topics``     the MQTT topics of the contract (``flood/v1/…``)
- ``storms``     a storm track's fix
- ``geodesy``    great-circle distance on one Earth radius

Pure: no I/O at import (the hazard registry is package data read once), no import of any other part
of floodctl. Everything else imports these names; nothing else defines them (a test checks it)."""
