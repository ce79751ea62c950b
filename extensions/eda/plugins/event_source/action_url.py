"""action_url.py: an ansible-rulebook event source for the Action URL events of Grandstream phones.

Grandstream phones report events (registered, unregistered, setup completed, incoming call, ...) with an HTTP GET
of a URL that the admin configures per event, with variables such as $mac and $phone_ip filled in. This source
listens for those requests and turns each one into an event. It needs only the Python standard library: it runs
inside ansible-rulebook, where neither ansible-core nor the collection's plugins need to be importable.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import ipaddress
import logging
import os
import re
import stat
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

DOCUMENTATION = r"""
---
short_description: Receive the Action URL events of Grandstream phones (HTTP GET).
description:
  - An ansible-rulebook event source that listens for the HTTP GET requests Grandstream phones send to their
    Action URLs (web UI, Settings, Outbound Notification, Action URL), one URL per event with dynamic variables
    such as C($mac) and C($phone_ip) filled in by the phone.
  - 'The URL to configure on the phone is C(http://HOST:PORT/grandstream/EVENT?token=TOKEN&mac=$mac&ip=$phone_ip), with
    EVENT the name of the event (C(registered), C(unregistered), C(setup_completed), C(incoming_call), ...). Every
    query parameter except C(token) is passed on in the event.'
  - 'Each event is C({"grandstream": {"event": EVENT, "phone_ip": SENDER, "mac": MAC, "params": {...}},
    "meta": {"hosts": NAME}}). C(phone_ip) is the address the request came from; C(mac) is the C(mac) parameter
    (null without one); C(meta.hosts) is the inventory name of the phone with that address in O(inventory), else
    the address itself, so that C(run_playbook) and C(run_job_template) are limited to that phone.'
  - >-
    Only senders in O(allowed_networks) are answered. A connection from any other address gets HTTP 403 and is
    closed at once, before anything is read, and holds none of the O(max_connections). With O(token), a request
    without the right token gets HTTP 403. Only GET is accepted (HTTP 405), without a body (HTTP 400); the request
    line is at most 4096 bytes (HTTP 414) and the header at most 8192 bytes in 64 fields (HTTP 431); a sender above
    O(rate_limit) gets HTTP 429, a sender with O(max_connections_per_sender) connections open gets HTTP 503; a
    connection that sends no complete request within O(request_timeout) seconds is closed. None of these makes an
    event. The source answers and closes without waiting for the rest of the request, logs the first refusal of a
    sender with its reason, then at most one line per sender every 10 seconds with a count (never the token), and
    keeps running.
options:
  host:
    description:
      - The address to listen on. V(0.0.0.0) listens on every IPv4 address, V(::) on every address; an address of
        the host (the one in the voice VLAN, say) listens there only.
    type: str
    default: "0.0.0.0"
  port:
    description:
      - The TCP port to listen on.
    type: int
    default: 5000
  allowed_networks:
    description:
      - Networks in CIDR notation (V(10.1.4.0/22), V(2001:db8:4::/48)) whose hosts may send events, usually the
        voice VLANs. Requests from any other address get HTTP 403 and make no event.
    type: list
    elements: str
    required: true
  token:
    description:
      - A shared secret that every request must carry as the query parameter C(token). It is compared in constant
        time, never logged and never part of an event. Use a long random string of letters and digits.
      - The parameter's name is matched in any case (C(Token), C(TOKEN)); a request with more than one is refused
        (HTTP 400). Without O(token) such parameters are dropped from the event all the same.
      - Without it, every host in O(allowed_networks) can send events.
    type: str
  inventory:
    description:
      - Path of the collection's CSV inventory file (columns C(name) and C(host), in any case; other columns are
        ignored; blank lines and lines starting with C(#) are skipped). The phone whose C(host) is the sender's IP
        address gives C(meta.hosts) its C(name).
      - The file is checked once a second, off the event loop, and read again when it changed. Only a regular file
        of at most 64 MiB is read (a named pipe, a device such as C(/dev/zero) or a larger file is refused); when a
        new version cannot be read, the source logs why once and keeps the phones it read before.
      - Rows whose C(host) is a DNS name match no sender; an event from such a phone has its IP address as C(meta.hosts).
    type: str
  rate_limit:
    description:
      - Requests per minute that one sender may make on average (a token bucket per sender address). Above it the
        sender gets HTTP 429 and makes no event.
    type: float
    default: 60
  rate_burst:
    description:
      - Requests one sender may make at once before O(rate_limit) applies, for example the events of a phone that
        has just booted.
    type: int
    default: 20
  request_timeout:
    description:
      - Seconds a connection may take to send its complete request header; then it is closed.
    type: float
    default: 5
  max_connections:
    description:
      - Connections from O(allowed_networks) served at the same time. Further connections get HTTP 503 until one
        ends.
    type: int
    default: 256
  max_connections_per_sender:
    description:
      - Connections one sender address may have open at the same time. Further connections from it get HTTP 503,
        so that a few slow or stuck senders cannot take O(max_connections) from the other phones.
    type: int
    default: 8
"""

EXAMPLES = r"""
- name: Grandstream phone events
  hosts: grandstream
  sources:
    - phonefleet.grandstream.action_url:
        host: 0.0.0.0
        port: 5000
        allowed_networks:
          - 10.1.4.0/22
        token: "{{ action_url_token }}"
        inventory: /srv/phonefleet/phones/office.csv
  rules:
    - name: A phone lost its registration
      condition: event.grandstream.event == "unregistered"
      action:
        run_playbook:
          name: phonefleet.grandstream.registration_audit
"""

logger = logging.getLogger("phonefleet.grandstream.action_url")

SOURCE = "phonefleet.grandstream.action_url"
PATH_PREFIX = "/grandstream/"
MAX_REQUEST_LINE = 4096
MAX_HEADER_BYTES = 8192
MAX_HEADER_FIELDS = 64
MAX_PARAMS = 64
READ_CHUNK = 4096
MIN_TOKEN_LENGTH = 16
TOKEN_PARAMETER = "token"
# How often the inventory file is checked (off the event loop), and the largest file read.
INVENTORY_CHECK_SECONDS = 1.0
MAX_INVENTORY_BYTES = 64 * 1024 * 1024
# Refusals: the first of a sender is logged with its reason, then one line per sender per interval with a count.
REFUSAL_LOG_SECONDS = 10.0
MAX_LOGGED_SENDERS = 1024

EVENT_NAME = re.compile(r"[a-z0-9_]{1,64}\Z")
METHOD = re.compile(r"[A-Za-z]{1,16}\Z")
HTTP_VERSION = re.compile(r"HTTP/1\.[01]\Z")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 414: "URI Too Long", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 503: "Service Unavailable",
}

OPTIONS = ("host", "port", "allowed_networks", "token", "inventory", "rate_limit", "rate_burst", "request_timeout",
           "max_connections", "max_connections_per_sender")


class Refused(Exception):
    """A request that gets an error status and no event; ``why`` is for the log and never holds the token."""

    def __init__(self, status: int, why: str, headers: tuple = ()):
        super().__init__(why)
        self.status = status
        self.why = why
        self.headers = headers


# ----- options

def _number(args: dict, name: str, default: float, minimum: float, integer: bool = False) -> float:
    value = args.get(name, default)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", value):
        value = float(value)  # rulebook variables may arrive as strings
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum \
            or (integer and int(value) != value):
        kind = "a whole number" if integer else "a number"
        raise ValueError("%s: %s must be %s of at least %s, not %r." % (SOURCE, name, kind, minimum, value))
    return int(value) if integer else float(value)


class Settings:
    """The source's options, checked; every problem is one sentence naming the option."""

    def __init__(self, args: dict):
        if not isinstance(args, dict):
            raise ValueError("%s: the source's arguments must be a mapping of options." % SOURCE)
        unknown = sorted(name for name in args if name not in OPTIONS and not str(name).startswith("eda_"))
        if unknown:
            raise ValueError("%s: unknown option(s) %s; the options are %s."
                             % (SOURCE, ", ".join(map(str, unknown)), ", ".join(OPTIONS)))
        self.host = args.get("host") or "0.0.0.0"  # every interface: allowed_networks decides who is answered
        if not isinstance(self.host, str):
            raise ValueError("%s: host must be an address to listen on, such as 0.0.0.0." % SOURCE)
        port = _number(args, "port", 5000, 1, integer=True)
        if port > 65535:
            raise ValueError("%s: port must be at most 65535, not %d." % (SOURCE, port))
        self.port = port
        self.allowed_networks = self._networks(args.get("allowed_networks"))
        self.token = args.get("token")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ValueError("%s: token must be a non-empty string (or left out)." % SOURCE)
        self.inventory = args.get("inventory")
        if self.inventory is not None:
            if not isinstance(self.inventory, str) or not self.inventory:
                raise ValueError("%s: inventory must be the path of a CSV file." % SOURCE)
            self.inventory = os.path.expanduser(self.inventory)
        self.rate_per_second = _number(args, "rate_limit", 60, 0.001) / 60.0
        self.rate_burst = _number(args, "rate_burst", 20, 1, integer=True)
        self.request_timeout = _number(args, "request_timeout", 5, 0.01)
        self.max_connections = _number(args, "max_connections", 256, 1, integer=True)
        self.max_connections_per_sender = _number(args, "max_connections_per_sender", 8, 1, integer=True)

    @staticmethod
    def _networks(value: Any) -> list:
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s,]+", value) if part]
        if not isinstance(value, list) or not value:
            raise ValueError("%s: allowed_networks is required: a list of the networks (CIDR, such as 10.1.4.0/22) "
                             "your phones send from." % SOURCE)
        networks = []
        for entry in value:
            try:
                networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                raise ValueError("%s: allowed_networks: %r is not a network in CIDR notation (such as 10.1.4.0/22)."
                                 % (SOURCE, entry)) from None
        return networks


# ----- who may send

class TokenBucket:
    """``burst`` requests at once, refilled at ``rate`` per second."""

    __slots__ = ("tokens", "updated", "refused")

    def __init__(self, burst: float, now: float):
        self.tokens = float(burst)
        self.updated = now
        self.refused = 0

    def refill(self, now: float, rate: float, burst: float) -> None:
        self.tokens = min(float(burst), self.tokens + (now - self.updated) * rate)
        self.updated = now

    def take(self, now: float, rate: float, burst: float) -> bool:
        self.refill(now, rate, burst)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """One token bucket per sender address. Full buckets are dropped when there are many: a new one is the same."""

    def __init__(self, per_second: float, burst: int, max_senders: int = 4096):
        self.per_second = per_second
        self.burst = burst
        self.max_senders = max_senders
        self.buckets: dict = {}

    def bucket(self, sender, now: float) -> TokenBucket:
        found = self.buckets.get(sender)
        if found is None:
            if len(self.buckets) >= self.max_senders:
                self._drop_full(now)
            found = self.buckets[sender] = TokenBucket(self.burst, now)
        return found

    def _drop_full(self, now: float) -> None:
        for sender, bucket in list(self.buckets.items()):
            bucket.refill(now, self.per_second, self.burst)
            if bucket.tokens >= self.burst and not bucket.refused:
                del self.buckets[sender]


FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_inventory_bytes(path: str, limit: int = MAX_INVENTORY_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ValueError with a sentence for anything else.

    Nothing else is opened for reading: /dev/zero would be read until memory runs out, a named pipe would wait for a
    writer. The same rule as the collection's CSV inventory plugin (plugins/plugin_utils/csv_table.py).
    """
    def not_a_file(mode):
        kind = next((name for test, name in FILE_KINDS if test(mode)), "not a regular file")
        return ValueError("%s: inventory %s is %s, not a CSV file." % (SOURCE, path, kind))

    try:
        mode = os.stat(path).st_mode  # follows symbolic links, never blocks
        if not stat.S_ISREG(mode):
            raise not_a_file(mode)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(descriptor, "rb") as handle:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):  # swapped since the check above
                raise not_a_file(status.st_mode)
            data = handle.read(limit + 1) if status.st_size <= limit else None
    except OSError as exc:
        raise ValueError("%s: inventory %s cannot be read: %s." % (SOURCE, path, exc.strerror or exc)) from None
    if data is None or len(data) > limit:
        raise ValueError("%s: inventory %s is larger than %d MiB: is it the right file?" % (SOURCE, path, limit >> 20))
    return data


class PhoneDirectory:
    """Sender address -> inventory name, from the collection's CSV inventory file.

    Read at start (a bad file stops the source), then checked by ``watch()`` once a second in a thread, so that
    neither a large file nor a slow disk holds the event loop, and read again when it changed. A new version that
    cannot be read is logged once; the names read before stay in use.
    """

    def __init__(self, path: str):
        self.path = path
        signature = self._stat_signature()  # raises ValueError: the source does not start
        self.names: dict = self._load()
        self.signature = signature   # of the file last read
        self.failed = None           # what last failed (a signature, or "missing"), logged once

    def _stat_signature(self):
        try:
            found = os.stat(self.path)
        except OSError as exc:
            raise ValueError("%s: inventory %s cannot be read: %s." % (SOURCE, self.path, exc.strerror or exc)) from None
        return (found.st_mtime_ns, found.st_size, found.st_ino, found.st_mode)

    def _load(self) -> dict:
        names, notes = read_phone_directory(read_inventory_bytes(self.path), self.path)
        for note in notes:
            logger.warning("%s", note)
        logger.info("%s: %d phone addresses from %s", SOURCE, len(names), self.path)
        return names

    def check(self) -> None:
        """Read the file again if it changed since it was last read. Blocking: ``watch()`` runs it in a thread."""
        try:
            signature = self._stat_signature()
        except ValueError as exc:
            self._failed("missing", exc)
            return
        if signature == self.signature:
            self.failed = None
            return
        if signature == self.failed:
            return
        try:
            names = self._load()
        except ValueError as exc:
            self._failed(signature, exc)
            return
        self.names, self.signature, self.failed = names, signature, None

    def _failed(self, what, exc: ValueError) -> None:
        if what != self.failed:
            self.failed = what
            logger.error("%s Using the %d phones read before.", exc, len(self.names))

    async def watch(self, interval: float = INVENTORY_CHECK_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.check)

    def name_for(self, address) -> str | None:
        return self.names.get(address)


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter of the header row, as the collection's CSV inventory plugin finds it."""
    unquoted = "".join(header_line.split('"')[::2])
    counts = [(unquoted.count(candidate), candidate) for candidate in (",", ";", "\t", "|")]
    best = max(count for count, _candidate in counts)
    return next(candidate for count, candidate in counts if count == best) if best else ","


class _ContentLines:
    """Feeds csv.reader one physical line at a time, skipping blank and comment lines between records.

    A '#' or an empty line inside a quoted multi-line cell stays part of the cell; the physical line where each
    record starts is kept for messages.
    """

    def __init__(self, text: str):
        self._lines = iter(io.StringIO(text, newline=""))
        self.line_number = 0
        self.record_start = 0
        self.at_record_start = True

    def __iter__(self):
        return self

    def __next__(self) -> str:
        for line in self._lines:
            self.line_number += 1
            if self.at_record_start:
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                self.record_start = self.line_number
                self.at_record_start = False
            return line
        raise StopIteration


def _records(text: str, path: str):
    """(line number, cells) of each CSV record, the header row first."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip() and not line.strip().startswith("#")), "")
    lines = _ContentLines(text)
    reader = csv.reader(lines, delimiter=_sniff_delimiter(first))
    while True:
        lines.at_record_start = True
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValueError("%s: %s:%d: not valid CSV (%s)." % (SOURCE, path, lines.record_start, exc)) from None
        yield lines.record_start, [cell.strip() for cell in cells]


def read_phone_directory(data: bytes, path: str) -> tuple:
    """Address -> name from the CSV inventory file's ``host`` and ``name`` columns, and notes about skipped rows."""
    if data.lstrip().startswith(b"$ANSIBLE_VAULT"):
        raise ValueError("%s: inventory %s is encrypted with ansible-vault, which this source cannot decrypt: give it a "
                         "copy with the name and host columns only." % (SOURCE, path))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("%s: inventory %s is not UTF-8 (byte %d)." % (SOURCE, path, exc.start)) from None
    records = _records(text, path)
    header_line_number, header = next(records, (0, []))
    if not header:
        raise ValueError("%s: inventory %s has no header row (it is empty, or has only blank and comment lines)."
                         % (SOURCE, path))
    columns = [cell.lower() for cell in header]
    if "host" not in columns:
        raise ValueError("%s: %s:%d: the header row has no host column (it has %s)."
                         % (SOURCE, path, header_line_number, ", ".join(columns)))
    host_at = columns.index("host")
    name_at = columns.index("name") if "name" in columns else None
    names: dict = {}
    notes = []
    dns_rows = 0
    for number, cells in records:
        host = cells[host_at] if host_at < len(cells) else ""
        name = cells[name_at] if name_at is not None and name_at < len(cells) and cells[name_at] else host
        if not host:
            if any(cells):
                notes.append("%s: %s:%d: no host; skipped." % (SOURCE, path, number))
            continue
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            dns_rows += 1
            continue
        if address in names:
            notes.append("%s: %s:%d: %s is already the address of %s; %s is skipped."
                         % (SOURCE, path, number, address, names[address], name))
            continue
        names[address] = name
    if dns_rows:
        notes.append("%s: %s: %d phones have a DNS name as host; their events carry their IP address as the host."
                     % (SOURCE, path, dns_rows))
    return names, notes


# ----- HTTP

def _head_end(buffer: bytearray) -> int:
    """The index just after the blank line that ends the request header, or -1."""
    ends = [index + len(mark) for mark in (b"\r\n\r\n", b"\n\n") for index in (buffer.find(mark),) if index >= 0]
    return min(ends) if ends else -1


def parse_head(head: bytes) -> tuple:
    """(method, target, headers) of a request header; raises Refused for anything an HTTP/1.x GET never is."""
    lines = head.split(b"\n")
    request_line = lines[0].rstrip(b"\r")
    if len(request_line) > MAX_REQUEST_LINE:
        raise Refused(414, "request line longer than %d bytes" % MAX_REQUEST_LINE)
    try:
        text = request_line.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "request line is not text") from None
    if CONTROL_CHARACTERS.search(text):
        raise Refused(400, "request line has control characters")
    method, _space, rest = text.partition(" ")
    target, _space, version = rest.rpartition(" ")
    if not METHOD.match(method) or not target or not HTTP_VERSION.match(version):
        raise Refused(400, "not an HTTP/1.x request line")
    if len(head) - len(lines[0]) - 1 > MAX_HEADER_BYTES + 4:
        raise Refused(431, "request header larger than %d bytes" % MAX_HEADER_BYTES)
    fields = [line.rstrip(b"\r") for line in lines[1:]]
    fields = [field for field in fields if field]
    if len(fields) > MAX_HEADER_FIELDS:
        raise Refused(431, "more than %d header fields" % MAX_HEADER_FIELDS)
    headers = {}
    for field in fields:
        name, colon, value = field.decode("latin-1").partition(":")
        if not colon or not HEADER_NAME.match(name):
            raise Refused(400, "malformed header field")
        headers[name.lower()] = value.strip()
    return method, target, headers


def parse_target(target: str) -> tuple:
    """(event name, query parameters) of ``/grandstream/<event>?<parameters>``; raises Refused otherwise."""
    if not target.startswith("/"):
        raise Refused(400, "request target is not a path")
    parts = urlsplit(target)
    path = parts.path
    if not path.startswith(PATH_PREFIX):
        raise Refused(404, "path %s is not %s<event>" % (_excerpt(path), PATH_PREFIX))
    name = unquote(path[len(PATH_PREFIX):]).strip("/")
    event = name.lower().replace("-", "_")
    if not EVENT_NAME.match(event):
        hint = " (is the ? before the parameters missing?)" if re.search(r"[&=;]", name) else ""
        raise Refused(400, "event name %s is not 1 to 64 letters, digits and underscores%s" % (_excerpt(name), hint))
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8", errors="replace",
                          max_num_fields=MAX_PARAMS)
    except ValueError:
        raise Refused(400, "more than %d query parameters" % MAX_PARAMS) from None
    params = {}
    for name, value in pairs:
        if name in params:
            raise Refused(400, "query parameter %s given twice" % _excerpt(name))
        params[name] = value
    return event, params


def _excerpt(text: str, limit: int = 64) -> str:
    """A short, printable rendering of a path from a request for a log line, without anything that looks like a
    parameter: a token put in the path by mistake stays out of the log."""
    text = CONTROL_CHARACTERS.sub("?", re.split(r"[&=;%]", text, maxsplit=1)[0])
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _response(status: int, headers: tuple = ()) -> bytes:
    body = ("ok\n" if status == 200 else "%d %s\n" % (status, REASONS[status])).encode("ascii")
    lines = ["HTTP/1.1 %d %s" % (status, REASONS[status]), "Content-Type: text/plain; charset=utf-8",
             "Content-Length: %d" % len(body), "Connection: close", "Cache-Control: no-store"]
    lines.extend("%s: %s" % pair for pair in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class RefusalLog:
    """Log lines about refused requests: a sender's first refusal with its reason, then at most one line per sender
    per ``interval`` with the number refused since. A flood makes a handful of lines, not one per connection."""

    def __init__(self, say, interval: float = REFUSAL_LOG_SECONDS, max_senders: int = MAX_LOGGED_SENDERS,
                 clock=time.monotonic):
        self.say = say
        self.interval = interval
        self.max_senders = max_senders
        self.clock = clock
        self.windows: dict = {}  # sender (or "other senders") -> [start of its interval, refused since, last reason]

    def refused(self, sender, status: int, why: str) -> None:
        window = self.windows.get(sender)
        if window is None and len(self.windows) >= self.max_senders:
            sender, window = "other senders", self.windows.setdefault("other senders", [self.clock(), 0, None])
        if window is None:
            self.windows[sender] = [self.clock(), 0, None]
            self.say(logging.WARNING, "%s: request from %s refused (HTTP %d): %s.", SOURCE, sender, status, why)
            return
        window[1] += 1
        window[2] = (status, why)

    def flush(self, everything: bool = False) -> None:
        """The counts of the intervals that are over (all of them with ``everything``, when the source stops)."""
        now = self.clock()
        for sender, (started, count, last) in list(self.windows.items()):
            if now - started < self.interval and not everything:
                continue
            if count:
                self.say(logging.WARNING, "%s: %d more requests from %s refused in the last %d s (the last: HTTP %d, %s).",
                         SOURCE, count, sender, max(1, round(now - started)), last[0], last[1])
                self.windows[sender] = [now, 0, None]
            else:
                del self.windows[sender]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.flush()


class ActionUrlServer:
    """Answers one request per connection: an event, or an error status and a log line."""

    def __init__(self, queue, settings: Settings, directory: PhoneDirectory | None):
        self.queue = queue
        self.settings = settings
        self.directory = directory
        self.token = settings.token.encode("utf-8") if settings.token else None
        self.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        self.refusals = RefusalLog(self._say)
        self.connections = 0
        self.connections_of: dict = {}  # sender -> connections it has open
        self.tasks: set = set()          # the tasks serving a connection, cancelled when the source stops

    def _say(self, level: int, message: str, *args) -> None:
        """Log a line; the token never appears in it, whatever a request carried."""
        text = message % args if args else message
        if self.settings.token:
            text = re.sub(re.escape(self.settings.token), "********", text, flags=re.IGNORECASE)
        logger.log(level, "%s", text)

    def _admission(self, sender) -> tuple | None:
        """(status, reason) when a new connection from sender is refused before it is read, else None."""
        if not any(sender in network for network in self.settings.allowed_networks):
            return 403, "not in allowed_networks"
        if self.connections_of.get(sender, 0) >= self.settings.max_connections_per_sender:
            return 503, "it has %d connections open already (max_connections_per_sender)" % self.connections_of[sender]
        if self.connections >= self.settings.max_connections:
            return 503, "more than %d connections at once (max_connections)" % self.settings.max_connections
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = writer.get_extra_info("peername") or ("?",)
            sender = ipaddress.ip_address(str(peer[0]).split("%", maxsplit=1)[0])
        except ValueError:
            writer.transport.abort()
            return
        if sender.version == 6 and sender.ipv4_mapped:
            sender = sender.ipv4_mapped
        refusal = self._admission(sender)
        if refusal:
            # at once: no slot, no read, no waiting for the client (a flood of these must not crowd out the phones)
            writer.write(_response(refusal[0]))
            writer.close()
            self.refusals.refused(sender, *refusal)
            return
        self.connections += 1
        self.connections_of[sender] = self.connections_of.get(sender, 0) + 1
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await self._serve(reader, writer, sender)
        except asyncio.CancelledError:
            # stop(): the source is stopping. Ended, not cancelled: on Python 3.11 asyncio's stream callback would
            # print a traceback for a cancelled connection task.
            pass
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            logger.debug("%s: connection ended early: %s", SOURCE, exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # one bad connection must not end the source
            logger.error("%s: unexpected error while serving a connection: %s", SOURCE, exc)
            logger.debug("details", exc_info=True)
        finally:
            self.tasks.discard(task)
            self.connections -= 1
            self.connections_of[sender] -= 1
            if not self.connections_of[sender]:
                del self.connections_of[sender]
            writer.close()

    async def stop(self) -> None:
        """End the connections being served (the source is stopping) and log the refusals not logged yet."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.refusals.flush(everything=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender) -> None:
        now = time.monotonic()
        bucket = self.limiter.bucket(sender, now)
        if not bucket.take(now, self.limiter.per_second, self.limiter.burst):
            retry_after = max(1, int((1.0 - bucket.tokens) / self.limiter.per_second + 0.999))
            await self._answer(writer, 429, (("Retry-After", str(retry_after)),))
            bucket.refused += 1
            if bucket.refused == 1:
                self._say(logging.WARNING, "%s: %s sends more than %g requests per minute: refused (HTTP 429) until "
                          "it slows down.", SOURCE, sender, self.settings.rate_per_second * 60)
            return
        if bucket.refused:
            self._say(logging.WARNING, "%s: %s is below the rate again; %d requests were refused.",
                      SOURCE, sender, bucket.refused)
            bucket.refused = 0

        try:
            head = await self._read_head(reader)
            if head is None:
                return  # connected and closed without a byte: a port check, nothing to answer
            event = self._event(sender, head)
        except Refused as refused:
            await self._answer(writer, refused.status, refused.headers)
            self.refusals.refused(sender, refused.status, refused.why)
            return
        await self.queue.put(event)
        await self._answer(writer, 200)
        self._say(logging.INFO, "%s: event %s from %s (%s).", SOURCE, event["grandstream"]["event"], sender,
                  event["meta"]["hosts"])

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        """The request header, up to its blank line; None when the client sent nothing. Never reads a body."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout
        buffer = bytearray()
        while True:
            end = _head_end(buffer)
            if end >= 0:
                return bytes(buffer[:end])
            line_end = buffer.find(b"\n")
            if (line_end < 0 and len(buffer) > MAX_REQUEST_LINE + 1) or line_end > MAX_REQUEST_LINE + 1:
                raise Refused(414, "request line longer than %d bytes" % MAX_REQUEST_LINE)
            if len(buffer) > MAX_REQUEST_LINE + MAX_HEADER_BYTES + 4:
                raise Refused(431, "request header larger than %d bytes" % MAX_HEADER_BYTES)
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise asyncio.TimeoutError()
                chunk = await asyncio.wait_for(reader.read(READ_CHUNK), remaining)
            except asyncio.TimeoutError:
                if not buffer:
                    return None
                raise Refused(408, "no complete request header within %g seconds" % self.settings.request_timeout) \
                    from None
            if not chunk:
                if not buffer:
                    return None
                raise Refused(400, "the connection ended before the request header was complete")
            buffer += chunk

    def _event(self, sender, head: bytes) -> dict:
        method, target, headers = parse_head(head)
        if method != "GET":
            raise Refused(405, "method %s (only GET is accepted)" % _excerpt(method), (("Allow", "GET"),))
        if headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers:
            raise Refused(400, "a request body is not accepted")
        event_name, params = parse_target(target)
        # the token's name in any case: 'token=T&Token=T' must not carry the token into the event
        tokens = [params.pop(name) for name in [name for name in params if name.lower() == TOKEN_PARAMETER]]
        if len(tokens) > 1:
            raise Refused(400, "the token parameter is given %d times (its name in any case)" % len(tokens))
        given = tokens[0] if tokens else None
        if self.token is not None:
            if given is None:
                raise Refused(403, "no token")
            if not hmac.compare_digest(given.encode("utf-8"), self.token):
                raise Refused(403, "wrong token")
        name = self.directory.name_for(sender) if self.directory else None
        return {
            "grandstream": {"event": event_name, "phone_ip": str(sender), "mac": params.get("mac"), "params": params},
            "meta": {"hosts": name or str(sender)},
        }

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, headers: tuple = ()) -> None:
        """The answer; the connection is closed after it without waiting for whatever the client still sends."""
        writer.write(_response(status, headers))
        await writer.drain()


async def main(queue: asyncio.Queue, args: dict) -> None:
    """Listen for Action URL requests and put one event on the queue for each accepted request.

    Cancelled (ansible-rulebook stops its sources so), it closes its connections, logs the refusals it has not
    logged yet and ends with CancelledError, as a cancelled task should; it prints nothing else.
    """
    settings = Settings(args)
    directory = PhoneDirectory(settings.inventory) if settings.inventory else None
    if settings.token is None:
        logger.warning("%s: no token: every host in allowed_networks can send events.", SOURCE)
    elif len(settings.token) < MIN_TOKEN_LENGTH:
        logger.warning("%s: the token is shorter than %d characters: easy to guess.", SOURCE, MIN_TOKEN_LENGTH)
    handler = ActionUrlServer(queue, settings, directory)
    try:
        server = await asyncio.start_server(handler.handle, settings.host, settings.port, reuse_address=True,
                                            backlog=1024)
    except OSError as exc:
        raise OSError("%s: cannot listen on %s port %d: %s." % (SOURCE, settings.host, settings.port,
                                                                exc.strerror or exc)) from None
    logger.info("%s: listening on %s port %d for %s", SOURCE, settings.host, settings.port,
                ", ".join(str(network) for network in settings.allowed_networks))
    helpers = [asyncio.ensure_future(handler.refusals.run())]
    if directory:
        helpers.append(asyncio.ensure_future(directory.watch()))
    try:
        # not server.serve_forever(): cancelled, it waits for the connections in progress (Python 3.12+) before
        # they are ended below
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        logger.info("%s: stopped", SOURCE)
        raise
    finally:
        server.close()
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await handler.stop()
        await server.wait_closed()


if __name__ == "__main__":
    # Check what the phones send, without ansible-rulebook (events are printed):
    #   ACTION_URL_TOKEN=... python3 action_url.py [--host ADDRESS] PORT NETWORK[,NETWORK...] [INVENTORY.csv]
    import argparse
    import json
    import sys

    class PrintQueue:  # pylint: disable=too-few-public-methods
        """Prints each event instead of queueing it."""

        async def put(self, event: dict) -> None:
            print(json.dumps(event), flush=True)  # noqa: T201

    parser = argparse.ArgumentParser(
        prog="ACTION_URL_TOKEN=... python3 action_url.py",
        description="Print the events Grandstream phones send to their Action URLs, without ansible-rulebook. "
                    "The token is read from the environment variable ACTION_URL_TOKEN (none: no token).")
    parser.add_argument("--host", default="0.0.0.0",
                        help="the address to listen on (default: 0.0.0.0, every IPv4 address of this host)")
    parser.add_argument("port", metavar="PORT")
    parser.add_argument("allowed_networks", metavar="NETWORK[,NETWORK...]")
    parser.add_argument("inventory", metavar="INVENTORY.csv", nargs="?")
    arguments = parser.parse_args()
    options = dict(vars(arguments), token=os.environ.get("ACTION_URL_TOKEN"))
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(main(PrintQueue(), {name: value for name, value in options.items() if value}))
    except (ValueError, OSError) as error:
        sys.exit(str(error))
    except KeyboardInterrupt:
        pass
