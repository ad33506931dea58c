"""picoface: always-on face detection for microcontroller cameras (host tooling)."""

__version__ = "0.1.0"
