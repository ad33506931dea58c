"""MQTT for the monitor: every watched board publishes on ``PREFIX/<board-id>/...`` (and Home
Assistant discovery), through a bounded outbox that survives broker restarts.

- ``url``: ``mqtt[s]://[user[:pass]@]host[:port]/prefix`` parsing, password sources, redaction
- ``topics``: board ids, topic names and payloads (the one place that defines them)
- ``discovery``: Home Assistant MQTT discovery configs
- ``outbox``: a bounded, thread-safe queue that counts what it drops
- ``link``: one paho-mqtt connection (a per-board last will), its sender thread, error hints
- ``board``: a monitor sink that turns protocol messages into topic messages (rate limits)
- ``options``: the monitor's --mqtt command-line options -> ``board.Settings`` (broker probed)
"""
