# picoface device app: camera -> face detector -> LCD + LED + one protocol line per frame.
#
# Runs at boot with no PC attached. Reads /flash/picoface.json (or /sd/picoface.json),
# lets hal.select() find the firmware, prints a hello line, then loops forever:
# commands -> snapshot -> infer -> LCD -> LED -> frame line (+ enter/leave events) -> gc -> watchdog.
# mode "gate": a small face / no-face model looks at every frame first, and the detector runs only
# while it sees a face (pfcore.gate: hysteresis, and a detector run at least every gate_every frames).
# mode "recognise": the largest face goes through the landmark and embedding nets and is matched
# against the gallery (pfcore.recognise); "known NAME" / "stranger" events; enrolment by the
# `enrol` command (acked when it ends) or by the board's button (named face1, face2, ...).
# A model of more than one class (model.classes, model.labels, e.g. mask / no_mask): each face
# carries its class; the frame line sends its label, the LCD box and the LED show its colour.
# Commands (protocol v2) are the host's lines on the same serial port, read without blocking
# (hal read_input) and answered with an ack line; see pfcore.commands.
# Every fault (config, model, camera, inference, memory) prints one protocol error line and
# an LCD message; the loop backs off and retries, or degrades (no model: 0 faces, reload
# every model_retry_ms). Imports only hal and pfcore.
import gc

import hal
from pfcore import commands, compat, config, gallery, gate, presence, protocol, recognise, signals

APP_VERSION = "0.1.0"
CONFIG_PATHS = ("/flash/picoface.json", "/sd/picoface.json")
# App-only keys, read here (not device settings): max_frames > 0 stops the loop (simulator
# and tests only); model_retry_ms is how often a missing/broken model is loaded again.
APP_KEYS = {"max_frames": 0, "model_retry_ms": 10000}
# Pause after a failed frame: 50 << backoff ms, at most 1 s. The counter stops at 5 (50 << 5 =
# 1600 ms): an unbounded shift would leave small ints, an OverflowError on ports without long ints.
MAX_BACKOFF = 5


def read_config():
    text = None
    for path in CONFIG_PATHS:
        try:
            with open(path) as f:
                text = f.read()
            break
        except OSError:
            pass
    app = dict(APP_KEYS)
    given = text
    try:
        given = compat.json.loads(text)
        for k in APP_KEYS:
            v = given.pop(k, app[k])
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                app[k] = v
    except Exception:
        pass  # config.load reports what is wrong with the text
    cfg, problems = config.load(given)
    if text is None:
        problems.append("no picoface.json on /flash or /sd")
    return cfg, problems, app


def err_text(e):
    try:
        name = type(e).__name__
    except AttributeError:      # ports built without __name__ on types
        name = "Error"
    return "%s: %s" % (name, e)


def main():
    cfg, problems, app = read_config()
    board = hal.select(cfg)
    m = cfg["model"]
    # a model of more than one class: faces are [x, y, w, h, score, class]; frame lines carry the
    # class's label, the LED and LCD its colour (pfcore.signals); one class: as before
    multi = m.get("classes", 1) > 1
    labels = m.get("labels") if multi else None
    # the hello line's hash is computed here, from the model bytes on the board (flash or file),
    # never copied from the config: "" when they cannot be read; hash_ms is what it cost
    t0 = compat.ticks_ms()
    try:
        model_hash = board.model_hash()
    except Exception:
        model_hash = ""
    hash_ms = compat.ticks_diff(compat.ticks_ms(), t0)

    def hello(asked=False):
        # asked: sent again because the host asked (`hello` command), not a boot: the extra key
        # "asked" tells a monitor not to count a restart
        extra = {"asked": "1"} if asked else {}
        if cfg["mode"] != "detect":
            extra["mode"] = cfg["mode"]
        board.send(protocol.encode_hello(
            board=cfg["board"], firmware=board.info["firmware"], app=APP_VERSION, model=m.get("name", ""),
            model_bytes=m.get("bytes", 0), model_hash=model_hash, input_w=m.get("w", 0),
            input_h=m.get("h", 0), score=cfg["score"], nms=cfg["nms"],
            cam_w=board.info["camera"][0], cam_h=board.info["camera"][1], hash_ms="%d" % hash_ms,
            no_hash=board.info.get("no_hash", ""), **extra))

    hello()

    def fail(code, e, img=None):
        # one protocol error line + LCD message + red LED; never raises
        text = e if isinstance(e, str) else err_text(e)
        try:
            board.send(protocol.encode_error(code, text))
            board.signal("error")
            board.show(img, [], 0.0, code + ": " + text)
        except Exception:
            pass

    if problems:
        fail("config", "; ".join(problems))

    def try_load(load, code):
        # one attempt at loading a model: True, or one error line and False
        try:
            load()
            return True
        except MemoryError as e:
            gc.collect()
            fail(code, e)
        except Exception as e:
            fail(code, e)
        return False

    def due(last):
        # a missing or broken model is tried again every model_retry_ms
        return last is None or compat.ticks_diff(compat.ticks_ms(), last) >= app["model_retry_ms"]
    people = presence.Presence(cfg["enter_frames"], cfg["leave_frames"])
    reader = protocol.LineReader()
    rc = cfg["recog"] if cfg["mode"] == "recognise" else None
    faces_db = gallery.Gallery(rc["dim"], rc.get("max_entries", 100)) if rc else gallery.Gallery()
    cmds = commands.Commands(cfg, faces_db)
    recog = None
    if rc:
        recog = Recognition(board, cfg, faces_db, fail)
        cmds.loaded = True      # Recognition loaded the gallery
    input_ok = True
    model_ok = False
    last_try = None
    gating = None
    gate_try = None
    if cfg["mode"] == "gate":
        gating = gate.Gate(cfg["gate"]["threshold"], cfg["gate_on_frames"], cfg["gate_off_frames"],
                           cfg["gate_every"])
    gate_ok = False
    seq = 0
    backoff = 0
    stamps = []
    led_class = "face"      # multi-class model: the LED state of the last frame with faces
    while app["max_frames"] == 0 or seq < app["max_frames"]:
        board.feed()
        if input_ok:
            try:
                got = reader.feed(board.read_input())
            except Exception as e:
                got = []
                input_ok = False        # reported once; the app goes on without commands
                fail("input", e)
            for cmd in got:
                ok, text, todo = cmds.handle(cmd)
                if todo == "hello":
                    hello(True)
                elif todo == "model":
                    model_ok = False    # thresholds reach the firmware's decoder at load
                    last_try = None
                elif todo == "presence":
                    people = presence.Presence(cfg["enter_frames"], cfg["leave_frames"])
                elif todo == "enrol":
                    # acked when the enrolment ends (recog.tick), not now
                    cid, name, shots = cmds.enrol_request
                    cmds.enrol_request = None
                    recog.start(name, shots, cid)
                    continue
                board.send(protocol.encode_ack(cmd["id"], ok, text))
        if not model_ok and due(last_try):
            model_ok = try_load(board.load_model, "model_load")
            last_try = compat.ticks_ms()
        if recog is not None:
            recog.poll_button()
            if not recog.ok and due(recog.tried):
                recog.ok = try_load(board.load_recog, "recog_load")
                recog.tried = compat.ticks_ms()
        if gating is not None and not gate_ok and due(gate_try):
            # without its gate the app detects every frame (mode detect) and tries the gate again
            gate_ok = try_load(board.load_gate, "gate_load")
            gate_try = compat.ticks_ms()
        img = None
        try:
            img = board.snapshot()
            run = True
            if gate_ok:
                try:
                    run = gating.update(board.gate(img))
                except MemoryError:
                    raise
                except Exception as e:
                    gate_ok = False      # reported; detect every frame until the gate loads again
                    gate_try = compat.ticks_ms()
                    fail("gate", e)
            faces = board.infer(img) if (model_ok and run) else []
            if gate_ok and run:
                gating.found(len(faces))
            backoff = 0
        except MemoryError as e:
            img = None
            gc.collect()
            fail("memory", e)
            backoff = min(backoff + 1, MAX_BACKOFF)
            compat.sleep_ms(min(50 << backoff, 1000))
            continue
        except Exception as e:
            fail("camera" if img is None else "inference", e, img)
            backoff = min(backoff + 1, MAX_BACKOFF)
            compat.sleep_ms(min(50 << backoff, 1000))
            continue
        seq += 1
        now = compat.ticks_ms()
        stamps.append(now)
        if len(stamps) > cfg["fps_window"] + 1:
            stamps.pop(0)
        span = compat.ticks_diff(now, stamps[0])
        fps = (len(stamps) - 1) * 1000.0 / span if span > 0 else 0.0
        kind = people.update(len(faces))
        said = None
        if recog is not None:
            said = recog.frame(img, faces, now)     # identifies the largest face in place
        try:
            board.show(img, faces, fps, None if model_ok else "no model")
            state = "face" if people.present else "idle"        # green while a face is present
            if recog is not None and people.present:
                state = recog.led()
            elif multi and people.present:
                # red while any face is no_mask, else green (pfcore.signals.class_state); a frame
                # without faces while still present keeps the last frame's colour
                if faces:
                    led_class = signals.class_state(faces, labels)
                state = led_class
            board.signal(state)
        except Exception as e:
            fail("display", e)
        if cfg["send_frames"] and seq % cfg["frame_every"] == 0:
            board.send(protocol.encode_frame(seq, now, fps, faces, labels))
        if kind:
            board.send(protocol.encode_event(seq, now, kind, len(faces)))
        if said:
            board.send(protocol.encode_event(seq, now, said[0], len(faces), said[1]))
        if recog is not None:
            recog.tick(now)
        img = None
        gc.collect()


class Recognition:
    """Mode recognise in the app: the gallery, the largest face's identity, enrolment."""

    def __init__(self, board, cfg, faces_db, fail):
        self.board = board
        self.cfg = cfg
        self.rc = cfg["recog"]
        self.db = faces_db
        self.fail = fail
        self.ok = False             # the two nets are loaded
        self.tried = None
        self.ident = recognise.Identity(cfg["known_frames"], cfg["stranger_frames"], cfg["forget_frames"])
        self.track = recognise.Track(cfg["track_frames"])
        self.enrol = None
        problem = faces_db.load()
        if problem:
            fail("gallery", problem)
        self.reload()
        self.label = None

    def reload(self):
        # every change to the gallery (enrolment, gallery commands) saves it, raising its seq
        self.matcher = recognise.Matcher(self.db.entries)
        self.seen = self.db.seq

    def start(self, name, shots, cid):
        if self.enrol is not None and self.enrol.cid is not None:
            self.board.send(protocol.encode_ack(self.enrol.cid, False, "enrolment of %s replaced" % self.enrol.name))
        self.enrol = recognise.Enrolment(name, shots, cid, compat.ticks_ms(), self.cfg["enrol_timeout_ms"])

    def poll_button(self):
        if self.board.pressed() and self.enrol is None:
            names = [n for n, _ in self.db.names()]
            self.start(recognise.free_name(names), self.cfg["enrol_shots"], None)

    def embed(self, img, box):
        # box -> landmark crop -> 5 points -> aligned face -> unit embedding (None: no crop)
        rc = self.rc
        cam = self.board.info["camera"]
        roi = recognise.crop_roi(box, rc.get("box_scale", 1.25), cam[0], cam[1])
        if roi is None:
            return None
        chw = self.board.recog_chw
        pts = recognise.to_frame(recognise.points(self.board.landmarks(img, roi), rc["grid"], chw), roi)
        m = recognise.align_matrix(pts, rc["input"])
        return recognise.embedding(self.board.embed(img, m), rc["grid"], rc["dim"], chw)

    def frame(self, img, faces, now):
        # the largest face gets [..., name, similarity] after its box, score and class (if any);
        # returns an event (kind, name) or None
        if not self.ok or not faces:
            self.label = None
            self.track.reset()
            return self.ident.update(None)
        big = 0
        for i in range(1, len(faces)):
            if faces[i][2] * faces[i][3] > faces[big][2] * faces[big][3]:
                big = i
        try:
            e = self.embed(img, faces[big])
        except MemoryError:
            raise
        except Exception as ex:
            self.fail("recognise", ex)
            return None
        if e is None:
            return None
        if self.db.seq != self.seen:
            self.reload()
        if self.enrol is not None:
            self.enrol.offer(e, now)
        name, sim = self.matcher.best(self.track.add(faces[big][:4], e))
        if name is None:
            label, name, sim = recognise.STRANGER, "", 0.0
        elif sim > self.rc["threshold"]:
            label = name
        else:
            label, name = recognise.STRANGER, recognise.STRANGER
        f = faces[big]
        faces[big] = list(f[:6] if protocol.has_class(f) else f[:5]) + [name, sim]
        self.label = label
        if self.enrol is not None:
            # no known/stranger events while a face is enrolled: on its way into the gallery it would be
            # called a stranger (or someone else); the hysteresis starts again once the enrolment ends
            self.ident.hold()
            return None
        return self.ident.update(label)

    def led(self):
        if self.enrol is not None:
            return "enrol"
        if self.label is None:
            return "face"
        return "stranger" if self.label == recognise.STRANGER else "known"

    def tick(self, now):
        # ends an enrolment that has its shots (saves, acks) or waited too long for a face
        en = self.enrol
        if en is None:
            return
        if en.done():
            ok, text = True, "%s %d" % (en.name, len(en.got))
            p = self.db.add(en.name, recognise.quantise(en.mean()))
            if p is None:
                try:
                    self.db.save()
                except OSError as ex:
                    self.db.load()
                    p = "gallery write failed (%s); the previous gallery is kept" % (ex,)
            if p is not None:
                ok, text = False, p
            self.reload()
        elif en.expired(compat.ticks_diff(now, en.last)):
            ok, text = False, "no face for %d s" % (en.timeout_ms // 1000)
        else:
            return
        self.enrol = None
        if en.cid is not None:
            self.board.send(protocol.encode_ack(en.cid, ok, text))
        elif not ok:
            self.fail("enrol", text)


HEALTHY_MS = 60000   # a run this long before a fault starts the restart pauses again from 1 s


def run():
    # Top level: an unexpected exception restarts the app after a pause, never a crash loop. The
    # pause doubles while faults come close together (up to 30 s) and starts again from 1 s after
    # a healthy run, so a board that meets a rare fault every few hours never waits 30 s for it.
    pause = 1000
    while True:
        t0 = compat.ticks_ms()
        try:
            main()
            return
        except KeyboardInterrupt:
            raise
        except Exception as e:
            try:
                print(protocol.encode_error("fatal", err_text(e)))
            except Exception:
                pass
            if compat.ticks_diff(compat.ticks_ms(), t0) > HEALTHY_MS:
                pause = 1000
            compat.sleep_ms(pause)
            pause = min(pause * 2, 30000)


run()
