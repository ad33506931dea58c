"""The monitor's --mqtt options -> ``board.Settings`` (validated, broker probed)."""

import socket

from picoface.errors import PicofaceError
from picoface.mqtt import discovery, link, url as urls


def add_arguments(p):
    g = p.add_argument_group("MQTT (Home Assistant)")
    g.add_argument("--mqtt", metavar="URL", help="publish to mqtt[s]://[user@]HOST[:PORT]/PREFIX: topics "
                   "PREFIX/<board-id>/{state,presence,event,faces,frame,error} (password: $%s or "
                   "--mqtt-password-file; never put it in the URL on a shared machine)" % urls.PASSWORD_ENV)
    g.add_argument("--mqtt-client-id", metavar="ID", help="MQTT client id prefix; each board connects as ID-<board-id> "
                   "(default: picoface-<hostname>)")
    g.add_argument("--mqtt-keepalive", metavar="S", type=int, default=30,
                   help="MQTT keepalive seconds (default 30)")
    g.add_argument("--mqtt-qos", type=int, choices=(0, 1), default=1,
                   help="1 (default): at-least-once, queued while the broker is down; 0: at-most-once")
    g.add_argument("--mqtt-password-file", metavar="FILE", help="file whose first line is the MQTT password")
    g.add_argument("--mqtt-cafile", metavar="FILE", help="CA certificates for mqtts:// (default: the system's)")
    g.add_argument("--mqtt-queue", metavar="N", type=int, default=10000,
                   help="messages kept per board while the broker is "
                   "unreachable; beyond it the oldest are dropped and counted (default 10000)")
    g.add_argument("--mqtt-faces-rate", metavar="N", type=float, default=2.0,
                   help="at most N face-count messages per second per board (default 2)")
    g.add_argument("--mqtt-frames", metavar="N", type=float, default=0.0,
                   help="also publish the boxes on .../frame, at most N per second (default 0: off)")
    g.add_argument("--mqtt-timeout", metavar="S", type=float, default=10.0,
                   help="seconds to wait for the broker at start (default 10)")
    g.add_argument("--mqtt-drain", metavar="S", type=float, default=10.0,
                   help="seconds to wait at exit for queued messages (default 10)")
    g.add_argument("--no-ha-discovery", action="store_true", help="do not publish Home Assistant discovery configs")
    g.add_argument("--ha-prefix", metavar="PREFIX", default=discovery.DEFAULT_PREFIX,
                   help="Home Assistant discovery prefix (default homeassistant)")


def settings(args):
    """``board.Settings`` from the parsed arguments, or None without --mqtt; probes the broker."""
    from picoface.mqtt.board import Settings

    if not args.mqtt:
        for flag in ("mqtt_password_file", "mqtt_cafile", "mqtt_client_id"):
            if getattr(args, flag):
                raise PicofaceError("--%s needs --mqtt" % flag.replace("_", "-"), urls.EXAMPLE)
        return None
    url = urls.resolve_password(urls.parse(args.mqtt), args.mqtt_password_file)
    if args.mqtt_keepalive < 5:
        raise PicofaceError("--mqtt-keepalive must be at least 5 seconds", "e.g. --mqtt-keepalive 30")
    if args.mqtt_queue < 1:
        raise PicofaceError("--mqtt-queue must be at least 1", "e.g. --mqtt-queue 10000")
    if args.mqtt_faces_rate <= 0 or args.mqtt_frames < 0:
        raise PicofaceError("--mqtt-faces-rate must be > 0 and --mqtt-frames >= 0", "e.g. --mqtt-faces-rate 2")
    if args.mqtt_cafile and not url.tls:
        raise PicofaceError("--mqtt-cafile is for mqtts:// URLs", "use mqtts://HOST:8883/PREFIX")
    ha_prefix = args.ha_prefix.strip("/")
    if not ha_prefix or any(c in ha_prefix for c in "+#"):
        raise PicofaceError("--ha-prefix %r is not a topic prefix" % args.ha_prefix, "e.g. --ha-prefix homeassistant")
    client_id = args.mqtt_client_id or "picoface-%s" % (socket.gethostname().split(".")[0] or "host")
    link.probe(url, client_id, args.mqtt_keepalive, timeout=args.mqtt_timeout, cafile=args.mqtt_cafile)
    return Settings(url, client_id=client_id, keepalive=args.mqtt_keepalive, qos=args.mqtt_qos, bound=args.mqtt_queue,
                    faces_rate=args.mqtt_faces_rate, frame_rate=args.mqtt_frames, ha=not args.no_ha_discovery,
                    ha_prefix=ha_prefix, cafile=args.mqtt_cafile, drain=args.mqtt_drain)


def summary(board_id, c):
    """One line per board at exit; what was lost is said, never hidden."""
    text = ("mqtt %s: %d sent, %d acknowledged, %d dropped (queue bound %d, peak %d), %d live skipped while "
            "offline, %d connect(s)" % (board_id, c["sent"], c["acked"], c["dropped"], c["bound"], c["high_water"],
                                        c["skipped"], c["connects"]))
    if c.get("undelivered"):
        text += "; %d NOT delivered (broker unreachable at exit)" % c["undelivered"]
    return text
