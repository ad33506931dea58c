"""The one user-facing error type.

Anything caused by the user's input, files or hardware raises PicofaceError with a message of
the form "what went wrong — what to do". Only ``picoface.cli.main`` catches it and prints
``picoface: <message>`` on one line, exiting non-zero.
"""


class PicofaceError(Exception):
    """A problem the user can fix; the message says what went wrong and what to do."""

    def __init__(self, what, todo=None):
        self.what = what
        self.todo = todo
        super().__init__(what if not todo else "%s — %s" % (what, todo))
