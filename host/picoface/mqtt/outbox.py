"""A bounded FIFO between the serial reader and the network: ``put`` never blocks; when the
bound is hit the oldest message goes and is counted in ``dropped``."""

import collections
import threading


class Outbox:
    def __init__(self, bound=10000):
        if bound < 1:
            raise ValueError("outbox bound must be >= 1")
        self.bound = int(bound)
        self._q = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.put_count = 0
        self.dropped = 0
        self.high_water = 0

    def put(self, item):
        with self._lock:
            if len(self._q) >= self.bound:
                self._q.popleft()
                self.dropped += 1
            self._q.append(item)
            self.put_count += 1
            self.high_water = max(self.high_water, len(self._q))
            self._ready.set()

    def get(self, timeout=None):
        """The oldest item, or None after ``timeout`` seconds of an empty queue."""
        if not self._ready.wait(timeout):
            return None
        with self._lock:
            if not self._q:
                self._ready.clear()
                return None
            item = self._q.popleft()
            if not self._q:
                self._ready.clear()
            return item

    def unget(self, item):
        """Put an item taken by ``get`` back at the front (it could not be sent)."""
        with self._lock:
            self._q.appendleft(item)
            self._ready.set()

    def __len__(self):
        with self._lock:
            return len(self._q)
