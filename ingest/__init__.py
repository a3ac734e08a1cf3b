"""MQTT -> time-series tables: payload decoding per kind, batching writer, workers."""
