"""DTR/RTS sequences as data: ``"D0|R1|W0.1|R0"`` (esptool CustomReset style).

D<0|1> sets DTR, R<0|1> sets RTS, W<seconds> waits. One executor runs every board's
sequence; boards differ only in their strings (boards/*.toml).
"""

import time

from picoface.errors import PicofaceError


def parse(text, where="reset sequence"):
    steps = []
    if not text:
        return steps
    for tok in text.split("|"):
        tok = tok.strip()
        try:
            if tok[:1] in ("D", "R") and tok[1:] in ("0", "1"):
                steps.append((tok[0], tok[1] == "1"))
            elif tok[:1] == "W":
                sec = float(tok[1:])
                if not 0 <= sec <= 10:
                    raise ValueError
                steps.append(("W", sec))
            else:
                raise ValueError
        except ValueError:
            raise PicofaceError("%s: bad step %r in %r" % (where, tok, text),
                                "use D0/D1 (DTR), R0/R1 (RTS) and W<seconds>, joined by |") from None
    return steps


def run(port, text, sleep=time.sleep):
    """Apply a sequence to an open pyserial-like port (has .dtr and .rts)."""
    for kind, val in parse(text):
        if kind == "D":
            port.dtr = val
        elif kind == "R":
            port.rts = val
        else:
            sleep(val)
