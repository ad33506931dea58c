"""``mqtt://[user[:pass]@]HOST[:PORT]/PREFIX`` (and ``mqtts://``) -> ``BrokerUrl``.

The password may also come from ``PICOFACE_MQTT_PASSWORD`` or a file (first line), which keeps
it out of the process list; ``redacted()`` is the only form of the URL that is ever printed.
"""

import os
from urllib.parse import unquote, urlsplit

from picoface.errors import PicofaceError

PASSWORD_ENV = "PICOFACE_MQTT_PASSWORD"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
EXAMPLE = "e.g. --mqtt mqtt://127.0.0.1:1883/picoface or mqtts://user@broker.lan/home/picoface"


class BrokerUrl:
    def __init__(self, scheme, host, port, prefix, user=None, password=None):
        self.scheme, self.host, self.port, self.prefix = scheme, host, port, prefix
        self.user, self.password = user, password

    @property
    def tls(self):
        return self.scheme == "mqtts"

    def where(self):
        """host:port, for messages."""
        return "%s:%d" % (self.host, self.port)

    def redacted(self):
        """The URL with the credentials hidden: safe to print and log."""
        auth = ""
        if self.user is not None:
            auth = self.user + (":***" if self.password else "") + "@"
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s%s:%d/%s" % (self.scheme, auth, host, self.port, self.prefix)

    def __repr__(self):
        return "BrokerUrl(%s)" % self.redacted()


def _bad(text):
    return PicofaceError("--mqtt: %s" % text, EXAMPLE)


def parse(text):
    """Parse a broker URL; the error messages never contain the password."""
    text = str(text or "")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in DEFAULT_PORTS:
        raise _bad("the URL must start with mqtt:// or mqtts://")
    if "#" in text or "+" in text.split("@")[-1]:
        raise _bad("the topic prefix has an MQTT wildcard (+ #); give a plain prefix such as home/picoface")
    try:
        u = urlsplit(text)
        port = u.port
    except ValueError:
        raise _bad("the port is not a number from 1 to 65535") from None
    if u.query or u.fragment:
        raise _bad("the URL has a ?query; only a topic prefix may follow the host")
    host = u.hostname or ""
    if not host:
        raise _bad("no broker host")
    prefix = unquote(u.path).strip("/")
    if not prefix:
        raise _bad("no topic prefix after the host")
    if "\0" in prefix or "//" in prefix:
        raise _bad("the topic prefix %r has a NUL or an empty level" % prefix)
    user = unquote(u.username) if u.username is not None else None
    password = unquote(u.password) if u.password is not None else None
    return BrokerUrl(scheme, host, port or DEFAULT_PORTS[scheme], prefix, user, password)


def resolve_password(url, password_file=None, environ=None):
    """Fill ``url.password``: --mqtt-password-file, else $PICOFACE_MQTT_PASSWORD, else the URL's own."""
    environ = os.environ if environ is None else environ
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as f:
                url.password = f.readline().rstrip("\r\n")
        except OSError as e:
            raise PicofaceError("cannot read the MQTT password file %s (%s)" % (password_file, e.strerror or e),
                                "check the path given to --mqtt-password-file") from None
        if not url.password:
            raise PicofaceError("the MQTT password file %s is empty" % password_file,
                                "put the password on its first line")
    elif environ.get(PASSWORD_ENV):
        url.password = environ[PASSWORD_ENV]
    if url.password and url.user is None:
        raise PicofaceError("an MQTT password is given but no user name",
                            "put the user in the URL: mqtt://USER@%s/%s" % (url.where(), url.prefix))
    return url
