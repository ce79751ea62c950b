"""The event log: every thing a simulated phone does or is asked, for tests to read and wait for."""

import collections
import json
import threading
import time


class EventLog:
    """Thread-safe event list; each event is a dict with t (monotonic), wall (epoch), phone, event and fields.

    With ``path`` every event is also appended to that file as one JSON line (flushed per line).
    """

    def __init__(self, path=None, maxlen=500000):
        self.path = path
        self._events = collections.deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self._file = None

    def emit(self, phone, event, **fields):
        record = {'t': time.monotonic(), 'wall': time.time(), 'phone': phone, 'event': event}
        record.update(fields)
        with self._cond:
            self._events.append(record)
            if self.path:
                if self._file is None:
                    self._file = open(self.path, 'a', encoding='utf-8')  # pylint: disable=consider-using-with  # closed in close()
                self._file.write(json.dumps(record, default=str, sort_keys=False) + '\n')
                self._file.flush()
            self._cond.notify_all()
        return record

    @staticmethod
    def _matches(record, phone, event, since, match):
        if phone is not None and record['phone'] != phone:
            return False
        if event is not None and record['event'] not in event:
            return False
        if since is not None and record['t'] < since:
            return False
        return all(record.get(key) == value for key, value in match.items())

    @staticmethod
    def _copy(record):
        return {key: (dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value)
                for key, value in record.items()}

    @staticmethod
    def _events_arg(event):
        if event is None or isinstance(event, str):
            return None if event is None else (event,)
        return tuple(event)

    def select(self, phone=None, event=None, since=None, **match):
        """Copies of the events matching every given filter (event: a name or several)."""
        event = self._events_arg(event)
        with self._cond:
            return [self._copy(rec) for rec in self._events if self._matches(rec, phone, event, since, match)]

    def wait_for(self, event, phone=None, timeout=10.0, since=None, **match):
        """Wait until a matching event exists; return (a copy of) the first one, or raise TimeoutError."""
        names = self._events_arg(event)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self._events:
                    if self._matches(rec, phone, names, since, match):
                        return self._copy(rec)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError('no %r event for phone %r within %.1f s' % (event, phone, timeout))
                self._cond.wait(remaining)

    def clear(self):
        with self._cond:
            self._events.clear()

    def close(self):
        with self._cond:
            if self._file is not None:
                self._file.close()
                self._file = None
