"""A USB serial port the tests can unplug: a pty reached through a stable symlink (like
/dev/serial/by-id/...). unplug() closes the pty and removes the link, plug() makes a new pty and
points the link at it; send() writes one line as a board does."""

import os
import tty
from pathlib import Path


class FakeUsbPort:
    def __init__(self, link):
        self.link = Path(link)
        self.master = self.slave = None

    def plug(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self):
        self.link.unlink()
        for fd in (self.master, self.slave):
            os.close(fd)
        self.master = self.slave = None

    def send(self, text):
        os.write(self.master, text.encode() + b"\r\n")
