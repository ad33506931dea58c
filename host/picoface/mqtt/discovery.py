"""Home Assistant MQTT discovery: a binary_sensor for presence and a sensor for the face count,
both grouped under one device per board and available while its ``state`` topic says online."""

from picoface import __version__
from picoface.mqtt.topics import OFF, OFFLINE, ON, ONLINE, dumps, topic

DEFAULT_PREFIX = "homeassistant"


def _device(board_id, hello):
    hello = hello or {}
    d = {"identifiers": ["picoface_%s" % board_id], "name": "picoface %s" % board_id,
         "manufacturer": "picoface"}
    if hello.get("board"):
        d["model"] = hello["board"]
    sw = " ".join(x for x in ("app %s" % hello["app"] if hello.get("app") else "",
                              "fw %s" % hello["firmware"] if hello.get("firmware") else "") if x)
    if sw:
        d["sw_version"] = sw
    return d


def configs(ha_prefix, prefix, board_id, hello=None):
    """[(topic, JSON payload)] of the retained discovery messages for one board."""
    common = {
        "availability": [{"topic": topic(prefix, board_id, "state"), "value_template": "{{ value_json.state }}",
                          "payload_available": ONLINE, "payload_not_available": OFFLINE}],
        "device": _device(board_id, hello),
        "origin": {"name": "picoface", "sw_version": __version__},
    }
    presence = dict(common, name="Presence", unique_id="picoface_%s_presence" % board_id,
                    state_topic=topic(prefix, board_id, "presence"), payload_on=ON, payload_off=OFF,
                    device_class="occupancy")
    faces = dict(common, name="Faces", unique_id="picoface_%s_faces" % board_id,
                 state_topic=topic(prefix, board_id, "faces"), state_class="measurement",
                 unit_of_measurement="faces", icon="mdi:face-recognition")
    return [("%s/binary_sensor/%s_presence/config" % (ha_prefix, board_id), dumps(presence)),
            ("%s/sensor/%s_faces/config" % (ha_prefix, board_id), dumps(faces))]
