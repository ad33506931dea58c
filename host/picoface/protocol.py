"""Host side of serial protocol v2 (docs/protocol.md; v1 boards read too), built on the device's own
pfcore.protocol.

``StreamDecoder`` takes raw bytes from a serial port or a capture file in chunks of any size
(garbage, NULs, invalid UTF-8 and endless lines included) and returns decoded messages, keeping
counters. It only parses: nothing received is ever evaluated or executed.
"""

from pfcore.protocol import (MARKER, MAX_LINE, VERSION, VERSIONS, ProtocolError, decode, encode_ack,  # noqa: F401
                             encode_command, encode_error, encode_event, encode_frame, encode_hello)

from picoface.errors import PicofaceError

_MARK = MARKER.encode("ascii")


def version_error(version):
    """The PicofaceError for a board that speaks another protocol version."""
    if version is not None and version > VERSION:
        return PicofaceError(
            "the board speaks picoface protocol v%d; this picoface understands v1 to v%d" % (version, VERSION),
            "upgrade picoface on this computer (pip install -U picoface), or flash the app that matches it "
            "with `picoface flash`")
    return PicofaceError(
        "the board speaks picoface protocol v%s; this picoface understands v1 to v%d" % (version, VERSION),
        "flash the app that comes with this picoface (`picoface flash`)")


def check_version(version):
    """Raise version_error(version) unless this side reads that version (VERSIONS)."""
    if version not in VERSIONS:
        raise version_error(version)


class StreamDecoder:
    """Bytes in, messages out.

    feed(chunk) -> list of message dicts (pfcore.protocol.decode format). Lines are split on
    b"\\n" (a trailing b"\\r" is dropped); bytes are read as Latin-1, so nothing can fail to
    decode. Counters: bytes, lines, messages, skipped (lines without the @PF marker),
    corrupt (framed lines that fail the checksum or field checks), overlong (lines longer
    than max_line, cut), version (checksummed lines of another protocol version);
    by_type counts messages per type. last_error holds the latest ProtocolError text.

    strict_version: raise PicofaceError (see version_error) on a line whose checksum is
    valid but whose version differs; otherwise it is only counted.
    keep_text: also return non-protocol lines as {"type": "text", "text": str} (boot
    banners, tracebacks) so a monitor can show them.
    """

    def __init__(self, max_line=4 * MAX_LINE, strict_version=True, keep_text=False):
        self.max_line = max_line
        self.strict_version = strict_version
        self.keep_text = keep_text
        self._buf = bytearray()
        self._cut = False
        self.bytes = 0
        self.lines = 0
        self.messages = 0
        self.skipped = 0
        self.corrupt = 0
        self.overlong = 0
        self.version = 0
        self.by_type = {}
        self.last_error = None
        self.seen_version = None

    def counters(self):
        return {"bytes": self.bytes, "lines": self.lines, "messages": self.messages,
                "skipped": self.skipped, "corrupt": self.corrupt, "overlong": self.overlong,
                "version": self.version, "by_type": dict(self.by_type)}

    def feed(self, chunk):
        if not chunk:
            return []
        chunk = bytes(chunk)
        self.bytes += len(chunk)
        out = []
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._buf += chunk[start:]
                self._bound()
                return out
            self._buf += chunk[start:nl]
            start = nl + 1
            line = bytes(self._buf)
            self._buf.clear()
            if len(line) > self.max_line:
                if not self._cut:
                    self.overlong += 1
                line = self._tail(line)
            self._cut = False
            self._line(line, out)

    def flush(self):
        """Decode what is left after the last newline (end of a capture); returns messages."""
        out = []
        if self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            self._cut = False
            self._line(line, out)
        return out

    def _tail(self, data):
        """Cut an overlong line: keep from its last marker if that part fits, else only a few
        bytes (a marker split across chunks)."""
        i = data.rfind(_MARK)
        if i >= 0 and len(data) - i <= self.max_line:
            return data[i:]
        return data[-(len(_MARK) - 1):]

    def _bound(self):
        if len(self._buf) > self.max_line:
            if not self._cut:
                self.overlong += 1
            self._cut = True
            tail = self._tail(bytes(self._buf))
            self._buf = bytearray(tail)

    def _line(self, raw, out):
        self.lines += 1
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("latin-1")
        try:
            msg = decode(text)
        except ProtocolError as e:
            self.last_error = str(e)
            if e.kind == "version":
                self.version += 1
                self.seen_version = e.version
                if self.strict_version:
                    raise version_error(e.version) from None
            else:
                self.corrupt += 1
            return
        if msg is None:
            self.skipped += 1
            if self.keep_text:
                out.append({"type": "text", "text": text.replace("\x00", "")})
            return
        self.messages += 1
        self.by_type[msg["type"]] = self.by_type.get(msg["type"], 0) + 1
        out.append(msg)


def decode_bytes(data, **kw):
    """All messages in a capture (bytes); returns (messages, decoder) for the counters."""
    dec = StreamDecoder(**kw)
    msgs = dec.feed(data)
    msgs += dec.flush()
    return msgs, dec


__all__ = ["StreamDecoder", "decode_bytes", "check_version", "version_error", "ProtocolError", "decode",
           "encode_hello", "encode_frame", "encode_event", "encode_error", "encode_command", "encode_ack", "VERSION",
           "VERSIONS", "MARKER"]
