"""The ground floor every part of floodctl stands on: settings, errors, the database (pool, migrations),
the embedded services, MQTT and network helpers, logging, the audit log and process supervision.

Imports only ``floodctl.domain`` and third-party libraries; nothing here knows a concern package
(ingest, alerts, dashboard, …) or the app shell (CLI, API app)."""
