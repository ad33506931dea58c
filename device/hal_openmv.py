# HAL for OpenMV Cams: camera via csi.CSI() (>= 4.8) or sensor; model via ml.Model (>= 4.5.6,
# decoded by ml.postprocessing.darknet.YoloV2 when present, else pfcore.region on the NHWC
# output) or the older tf module (pfcore.region on tf.segment's 8-bit planes); LEDs via
# pyb.LED(n) or machine.LED("LED_RED").
# ml.Model.predict() without a post-processor returns float32 arrays already dequantised,
# (q - zero_point) * scale, on every ml firmware; with one, >= 4.8 hands it the raw tensor in
# the model's dtype: infer() checks what it got (docs/firmware.md, "The app's firmware paths").
# No LCD: show() draws on the frame buffer that the IDE displays.
import gc

from hal import Base
from pfcore import gate, geom, region, signals

INPUT_CHUNK = 128           # bytes of host input taken per frame (a command line is <= 120 + "\n")


def probe():
    try:
        import omv  # noqa: F401
    except ImportError:
        pass
    have_cam = False
    for name in ("csi", "sensor"):
        try:
            __import__(name)
            have_cam = True
            break
        except ImportError:
            pass
    if not have_cam:
        return False
    for name in ("ml", "tf"):
        try:
            __import__(name)
            return True
        except ImportError:
            pass
    return False


def _try_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


class Hal(Base):
    def __init__(self):
        # csi.CSI objects from v4.8.0; on v4.6.0 - v4.7.0 `csi` is the sensor module under a
        # second name (no CSI class), before v4.6.0 there is only `sensor`
        csi = _try_import("csi")
        self.csi = csi if csi is not None and hasattr(csi, "CSI") else None
        self.sensor = None if self.csi else __import__("sensor")
        self.ml = _try_import("ml")
        self.tf = None if self.ml else _try_import("tf")
        self.yolo = None
        if self.ml is not None:
            try:
                from ml.postprocessing.darknet import YoloV2
                self.yolo = YoloV2
            except ImportError:
                self.yolo = None
        self.firmware = "openmv/%s+%s" % ("ml" if self.ml else "tf", "csi" if self.csi else "sensor")

    def init(self, cfg):
        self.cfg = cfg
        self.model = None
        self.vcp = None
        self.cam_ok = False
        self.cam_w = cfg["camera"]["w"]
        self.cam_h = cfg["camera"]["h"]
        try:
            self._camera_reset()
        except Exception:
            self.cam_ok = False     # snapshot() retries and reports the error
        self._led_init()
        self.wdt = None
        if cfg["watchdog_ms"] > 0:
            from machine import WDT
            self.wdt = WDT(id=0, timeout=min(cfg["watchdog_ms"], 32000))
        self.info = {"firmware": self.firmware, "camera": (self.cam_w, self.cam_h), "lcd": False}
        return self.info

    # ---- camera -------------------------------------------------------------------------
    def _camera_reset(self):
        self.cam_ok = False
        fs = self.cfg["camera"]["framesize"]
        if self.csi is not None:
            cam = self.csi.CSI()
            cam.reset()
            cam.pixformat(self.csi.RGB565)
            cam.framesize(getattr(self.csi, fs))
            cam.snapshot(time=1000)
            self.cam = cam
        else:
            s = self.sensor
            s.reset()
            s.set_pixformat(s.RGB565)
            s.set_framesize(getattr(s, fs))
            s.skip_frames(time=1000)
            self.cam = s
        self.cam_ok = True

    def snapshot(self):
        if not self.cam_ok:
            self._camera_reset()
        try:
            return self.cam.snapshot()
        except Exception:
            self.cam_ok = False
            raise

    # ---- model --------------------------------------------------------------------------
    def load_model(self):
        self.model = None
        gc.collect()
        m = self.cfg["model"]
        for k in ("w", "h", "grid_w", "grid_h", "anchors", "path"):
            if k not in m:
                raise ValueError("config model lacks %s" % k)
        fit = m.get("fit", "stretch")
        if fit == "letterbox":
            raise ValueError("fit=letterbox is not supported on the OpenMV HAL; export with stretch or crop")
        self.fit = geom.Fit(self.cam_w, self.cam_h, m["w"], m["h"], fit)
        want = m.get("bytes", 0)
        import uos
        size = uos.stat(m["path"])[6]
        if want and size != want:
            raise ValueError("model file has %d bytes, config says %d" % (size, want))
        self.spec = dict(m)
        self.spec["layout"] = "NHWC"
        if self.ml is not None:
            self.model = self.ml.Model(m["path"])
            dt = self.model.output_dtype[0]
            self.spec["dtype"] = {"b": "int8", "B": "uint8"}.get(dt, "float32")
            self.spec["scale"] = self.model.output_scale[0]
            self.spec["zero_point"] = self.model.output_zero_point[0]
            self.post = None
            # YoloV2 only for one class: its score is sigmoid(obj) alone and its threshold applies
            # to that (darknet.py:70,79,95), not obj x class probability as every other path (the
            # C region layers, pfcore.region); a multi-class model takes the raw path below, which
            # gives each face its class (docs/firmware.md, "Detector classes")
            if self.yolo is not None and m.get("classes", 1) == 1:
                # soft-NMS with OpenMV's defaults; pfcore.nms then applies the config's IoU. The
                # anchors go through ulab's np.take: an ndarray of shape (N, 2), not a list
                from ulab import numpy as np
                self.post = self.yolo(threshold=self.cfg["score"], anchors=np.array(m["anchors"]))
        else:
            # tf (<= v4.5.5): tf.classify refuses any output but 1 x 1 x C, so the grid comes from
            # tf.segment: one 8-bit plane per output channel (NCHW), an int8 value q as q + 128
            # (the byte XOR 0x80), uint8 as is, float as value x 255 cut to 8 bits (unusable)
            self.model = self.tf.load(m["path"], load_to_fb=True)
            dt = self.model.output_datatype()
            if dt not in ("int8", "uint8"):
                raise ValueError("a %s model cannot be read on tf firmware (tf.segment gives 8 bits a value): "
                                 "export an int8 model or update to OpenMV >= 4.5.6" % dt)
            self.spec["layout"] = "NCHW"
            self.spec["dtype"] = "uint8"
            self.spec["scale"] = self.model.output_scale()
            zp = self.model.output_zero_point()
            self.spec["zero_point"] = zp + 128 if dt == "int8" else zp
        self.float_spec = dict(self.spec)
        self.float_spec["dtype"] = "float32"
        self.float_spec["scale"] = 1.0
        self.float_spec["zero_point"] = 0
        return {"source": m["path"]}

    def model_hash(self):
        # sha256 of the model file on the board, 4 KB at a time
        from pfcore import compat
        return compat.sha256_file(self.cfg["model"]["path"])

    def _net_image(self, img):
        x, y, w, h = self.fit.cam_rect()
        nw, nh = self.fit.net_size
        if (x, y, w, h) == (0, 0, nw, nh):
            return img
        # hint=image.AREA: area averaging; without it OpenMV scales by nearest neighbour
        # (docs/firmware.md, "`mode: gate`"), which the nets were not trained on
        import image
        return img.copy(roi=(x, y, w, h), x_scale=(nw + 0.5) / w, y_scale=(nh + 0.5) / h, hint=image.AREA)

    def infer(self, img):
        net = self._net_image(img)
        cfg = self.cfg
        spec = self.spec
        if self.tf is not None:
            out = bytearray()
            for plane in self.tf.segment(self.model, net):
                out.extend(plane.bytearray())
        elif self.post is not None:
            nw, nh = self.fit.net_size
            dets = []
            res = self.model.predict([net], callback=self.post)
            # one list of (rect, score) per class index (ml-core/ml/utils.py:154-163 at v4.8.0), () when
            # nothing passed; only a 1-class model gets here (load_model), so list 0 holds every face
            for r in (res[0] if len(res) else ()):
                b = r[0]
                if r[1] < cfg["score"]:
                    continue    # soft-NMS lowered it below the threshold: suppressed
                dets.append([(b[0] + b[2] * 0.5) / nw, (b[1] + b[3] * 0.5) / nh, b[2] / nw, b[3] / nh, r[1]])
            from pfcore import nms
            return nms.nms(self.fit.map(dets), cfg["nms"], cfg["max_faces"])
        else:
            raw = self.model.predict([net])[0]
            if raw.itemsize == 1:
                # the model's int8/uint8 tensor: decoded with its scale and zero point
                out = raw.tobytes()
            elif raw.itemsize >= 4:
                # ulab float32 (the only 4-byte ulab dtype): already (q - zero_point) * scale
                out = raw.reshape((raw.size,))
                spec = self.float_spec
            else:
                raise ValueError("model output has %d-byte values; export an int8 or float32 model" % raw.itemsize)
        return region.postprocess(out, spec, self.fit, cfg["score"], cfg["nms"], cfg["max_faces"])

    def load_gate(self):
        self.gmodel = None
        gc.collect()
        g = self.cfg["gate"]
        if "path" not in g:
            raise ValueError("config gate lacks path")
        import uos
        size = uos.stat(g["path"])[6]
        if g.get("bytes", 0) and size != g["bytes"]:
            raise ValueError("gate file has %d bytes, config says %d" % (size, g["bytes"]))
        self.gmodel, self.gq = self._map_net(g["path"], "gate")

    def gate(self, img):
        # the whole frame squashed to the gate's input (a new image; the frame stays as it is)
        g = self.cfg["gate"]
        import image
        gi = img.copy(x_scale=(g["w"] + 0.5) / self.cam_w, y_scale=(g["h"] + 0.5) / self.cam_h, hint=image.AREA)
        if self.gq is not None:
            planes = self.tf.segment(self.gmodel, gi)
            return gate.score(planes[0].bytearray(), self.gq[0], self.gq[1])
        return gate.score(self._predict(self.gmodel, gi, "gate"))

    # ---- mode recognise (docs/firmware.md, "`mode: recognise`") --------------------------------
    # ml: predict() returns the map dequantised, position-major (HWC, the TFLite tensor); tf:
    # tf.segment gives one 8-bit plane a channel, so the map comes back planar and recog_chw is True
    recog_chw = False

    def _map_net(self, path, what):
        # (net, None) on ml firmware; on tf firmware (net, (scale, zero point)) of its 8-bit output as
        # tf.segment gives it: one byte a value, an int8 q as q + 128
        if self.ml is not None:
            return self.ml.Model(path), None
        net = self.tf.load(path, load_to_fb=True)
        dt = net.output_datatype()
        if dt not in ("int8", "uint8"):
            raise ValueError("a %s %s cannot be read on tf firmware: export an int8 model" % (dt, what))
        zp = net.output_zero_point()
        return net, (net.output_scale(), zp + 128 if dt == "int8" else zp)

    def _predict(self, net, img, what):
        # ml: predict()'s first output, dequantised float32, flat (HWC)
        raw = net.predict([img])[0]
        if raw.itemsize < 4:
            raise ValueError("the %s gave %d-byte values; predict() should dequantise" % (what, raw.itemsize))
        return raw.reshape((raw.size,))

    def load_recog(self):
        self.lnet = self.enet = None
        gc.collect()
        lpath, epath = self._recog_paths()
        self.lnet, self.lq = self._map_net(lpath, "net")
        self.enet, self.eq = self._map_net(epath, "net")
        self.recog_chw = self.tf is not None

    def _recog_run(self, net, q, img):
        if q is not None:
            # tf.segment: plane c holds channel c, an int8 value v as v + 128
            scale, zp = q
            out = []
            for plane in self.tf.segment(net, img):
                for b in plane.bytearray():
                    out.append((b - zp) * scale)
            return out
        return self._predict(net, img, "net")

    def landmarks(self, img, roi):
        # the roi scaled to input x input in one copy (a new image on the GC heap): area averaging
        # when it shrinks; growing, AREA would fall back to nearest neighbour (draw_image), so bilinear
        n = self.cfg["recog"]["input"]
        import image
        x, y, w, h = roi[0], roi[1], roi[2], roi[3]
        hint = image.AREA if (w >= n and h >= n) else image.BILINEAR
        crop = img.copy(roi=(x, y, w, h), x_scale=(n + 0.5) / w, y_scale=(n + 0.5) / h, hint=hint)
        return self._recog_run(self.lnet, self.lq, crop)

    def embed(self, img, m):
        # the aligned face: image.Image(w, h, image.RGB565) (zeroed, GC heap), set pixel by pixel from
        # the frame's nearest pixel
        import image
        from pfcore import recognise
        n = self.cfg["recog"]["input"]
        face = image.Image(n, n, image.RGB565)
        recognise.warp_nearest(img.get_pixel, img.width(), img.height(), m, n, face.set_pixel)
        return self._recog_run(self.enet, self.eq, face)

    # ---- frame buffer, LED, serial, watchdog -------------------------------------------------
    def show(self, img, faces, fps, message=None):
        if img is None:
            return
        self._draw_faces(img, faces)
        img.draw_string(2, 2, "%.1f fps %d" % (fps, len(faces)), color=(255, 255, 255))
        if message:
            img.draw_string(2, 20, message[:38], color=(255, 64, 64))

    def _led_init(self):
        self.leds = None
        led = self.cfg["led"]
        if led is False or (isinstance(led, dict) and not led.get("enabled", True)):
            return
        ids = (1, 2, 3)
        if isinstance(led, dict) and "r" in led:
            ids = (led["r"], led["g"], led["b"])
        try:
            import pyb
            self.leds = [pyb.LED(ids[0]), pyb.LED(ids[1]), pyb.LED(ids[2])]
        except ImportError:
            from machine import LED
            self.leds = [LED("LED_RED"), LED("LED_GREEN"), LED("LED_BLUE")]
        self.signal("idle")

    def signal(self, state):
        if self.leds is None:
            return
        on = signals.colour(state)
        for i in range(3):
            if on[i]:
                self.leds[i].on()
            else:
                self.leds[i].off()

    def send(self, line):
        print(line)

    def read_input(self):
        # What the host sent since the last frame, never waiting: pyb.USB_VCP().read(n) returns
        # what is there, or None (any() is a bool). The host must open the port at neither 921600
        # nor 12000000 baud: those put the VCP in IDE debug mode, where the app reads nothing
        # (docs/firmware.md, "Reading commands").
        v = self.vcp
        if v is None:
            import pyb
            v = self.vcp = pyb.USB_VCP()
        if not v.any():
            return b""
        return v.read(INPUT_CHUNK) or b""

    def _open_button(self):
        # pfcore.button calls this once. The OpenMV Cam H7 and H7 Plus have no user button (no
        # pyb.Switch, no pin for one); the RT1062 reads machine.Pin("SW") and the N6
        # machine.Pin("BUTTON"), both low while pressed, given as the config's "button"
        # ({"pin": "SW", "active_low": true}); else pyb.Switch() where a board has one
        # (docs/firmware.md, "The button"). A missing module or pin means no button.
        b = self.cfg.get("button")
        if b is False or (isinstance(b, dict) and b.get("kind") == "none"):
            return None
        if isinstance(b, dict) and isinstance(b.get("pin"), str):
            from machine import Pin
            p = Pin(b["pin"], Pin.IN)
            held = 0 if b.get("active_low", True) else 1

            def read():
                return p.value() == held
            return read
        import pyb
        return pyb.Switch().value       # AttributeError where the firmware has no Switch

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()
