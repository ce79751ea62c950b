"""Grandstream CTI phone fleet simulator.

One process, one asyncio event loop, N simulated phones. Each phone listens on its own loopback address
(127.0.0.0/8 only, nothing else is ever bound or contacted) and answers the CTI HTTP API described in
``cti-api.md``: ``/cgi-bin/api-<function>?passcode=...``.

Python API (pytest)::

    from phonesim import Fleet, PhoneSpec
    with Fleet(network='127.77.0.0', port=0) as fleet:     # port 0: one ephemeral port per phone
        ...

``Fleet.start()`` runs the event loop in a background thread; the CLI (``python phonesim.py --help``) runs it in
the main thread until SIGTERM/SIGINT. Every duration is in seconds (float). See README.md beside this file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import dataclasses
import inspect
import ipaddress
import json
import math
import os
import re
import shlex
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ['EventLog', 'FAULTS', 'Fleet', 'Phone', 'PhoneSpec', 'main']

LOOPBACK = ipaddress.IPv4Network('127.0.0.0/8')

FIRMWARES = ('doc', 'new')
AUTH_STYLES = ('http401', 'body')

# Line states (cti-api.md section 3). Everything but idle means "the line is in use".
CALL_STATES = ('ringing', 'connected', 'onhold', 'dialing', 'calling', 'failed')
ENDABLE_STATES = frozenset(('connected', 'onhold', 'dialing', 'calling', 'failed'))

# Faults, grouped by where they act.
CONNECTION_FAULTS = ('down', 'hang', 'reset')
RESPONSE_FAULTS = ('not_found', 'forbidden_403', 'forbidden_body', 'http500', 'html', 'garbage',
                   'wrong_shape', 'wrong_shape_list', 'wrong_body')
REBOOT_FAULTS = ('never_back', 'back_unregistered', 'no_down', 'drop_on_reboot')
OTHER_FAULTS = ('unauthorized_body', 'unregistered', 'wrong_passcode')
FAULTS = frozenset(CONNECTION_FAULTS + RESPONSE_FAULTS + REBOOT_FAULTS + OTHER_FAULTS)

FUNCTIONS = ('api-get_accounts', 'api-get_phone_status', 'api-get_line_status', 'api-phone_operation',
             'api-send_key', 'api-sys_operation', 'api-make_call')
COMMAND_FUNCTIONS = frozenset(('api-phone_operation', 'api-send_key', 'api-sys_operation', 'api-make_call'))

KEY_TOKENS = frozenset(
    [str(digit) for digit in range(10)]
    + ['STAR', 'POUND', '#', 'SEND', 'OK', 'UP', 'DOWN', 'LEFT', 'RIGHT', 'ONHOOK', 'OFFHOOK', 'LOCK', 'UNLOCK',
       'SPEAKER', 'VUP', 'VDOWN', 'MUTE', 'HOLD', 'CONF', 'XFER']
    + ['MPK%d' % number for number in range(1, 49)]
)
DIAL_CHARS = dict([(str(digit), str(digit)) for digit in range(10)] + [('STAR', '*'), ('POUND', '#'), ('#', '#')])

CONTENT_TYPES = {'doc': 'application/json', 'new': 'text/plain;charset=UTF-8'}
HTML_TYPE = 'text/html; charset=UTF-8'
REASONS = {200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
           405: 'Method Not Allowed', 411: 'Length Required', 413: 'Payload Too Large', 500: 'Internal Server Error'}
SECRET_PARAMS = ('passcode', 'password')
CGI_PREFIX = '/cgi-bin/'

DEFAULT_CSV_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model')
BUILTIN_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model', 'firmware', 'mac')

READ_TIMEOUT = 30.0      # seconds to receive a whole request head (and body)
MAX_BODY = 1024 * 1024
BACKLOG = 512
CALL_TIMEOUT = 30.0      # seconds a cross-thread call into the event loop may take

_DROP = object()         # handler result: close the connection without an answer


def _check_loopback(address, what='address'):
    """Return an IPv4Address inside 127.0.0.0/8, or raise ValueError."""
    try:
        ip = ipaddress.IPv4Address(str(address).split('/', 1)[0].strip())
    except ValueError as exc:
        raise ValueError('%s %r is not an IPv4 address' % (what, address)) from exc
    if ip not in LOOPBACK:
        raise ValueError('%s %s is outside 127.0.0.0/8: the simulator only uses loopback addresses' % (what, ip))
    return ip


def _fault_set(value):
    """Normalise a fault spec (None, 'name', 'a,b' or a list) to a frozenset of known fault names."""
    if value is None or value == '':
        return frozenset()
    if isinstance(value, str):
        items = [item.strip() for item in value.split(',') if item.strip()]
    else:
        items = [str(item).strip() for item in value]
    unknown = sorted(set(items) - FAULTS)
    if unknown:
        raise ValueError('unknown fault(s) %s; known: %s' % (', '.join(unknown), ', '.join(sorted(FAULTS))))
    return frozenset(items)


def _call_list(value):
    """Normalise the ``call`` spec (None, a dict or a list of dicts) to a list of complete dicts."""
    if value is None:
        return []
    calls = [value] if isinstance(value, dict) else list(value)
    result = []
    for call in calls:
        if not isinstance(call, dict):
            raise ValueError('call must be a mapping, got %r' % (call,))
        unknown = set(call) - {'line', 'state', 'remotenumber', 'remotename', 'ends_after'}
        if unknown:
            raise ValueError('unknown call key(s): %s' % ', '.join(sorted(unknown)))
        state = call.get('state', 'connected')
        if state not in CALL_STATES:
            raise ValueError('call state %r is not one of %s' % (state, ', '.join(CALL_STATES)))
        ends_after = call.get('ends_after')
        result.append({
            'line': int(call.get('line', 1)),
            'state': state,
            'remotenumber': str(call.get('remotenumber', '2001')),
            'remotename': str(call.get('remotename', '')),
            'ends_after': None if ends_after is None else float(ends_after),
        })
    return result


@dataclasses.dataclass
class PhoneSpec:
    """Everything that describes one simulated phone. Durations are seconds (float).

    name               inventory name (required)
    passcode           CTI passcode; None: the fleet default, else ``pw-<name>``
    factory_passcode   passcode after a RESET (GRP26xx: the sticker; old GXP: ``admin``)
    site, model        inventory data (CSV/INI columns); model is not interpreted
    firmware           ``doc`` (documented shapes, application/json) or ``new`` (newer firmware shapes, text/plain)
    host               explicit loopback address; None: allocated from the fleet network
    port               explicit port; None: the fleet port (0 = ephemeral)
    auth_style         ``http401`` (HTTP 401 HTML page) or ``body`` (200 ``{"body": "unauthorized"}``)
    fault              None, a fault name, or a list of names (see FAULTS / README.md)
    latency            seconds added before each answer
    accounts           list of ``{sip_id, sip_server, name, register}``; None: account 1 = ``<1000+n>`` on sip_server
    account_count      accounts listed; None: 2 (doc) or 3 (new)
    line_count         lines listed; None: 3 (doc) or 4 (new)
    sip_server         server of the default account
    phone_status       force api-get_phone_status to answer this string (e.g. ``oncall``, ``weird``)
    call               a call present from the start: ``{line, state, remotenumber, remotename, ends_after}``
                       (ends_after: seconds after fleet start, None = never), or a list of them
    call_answer_after  a make_call/SEND call goes calling -> connected after this; None = never answered
    save_delay         REBOOT/RESET: seconds the phone keeps serving after answering
    down_time          seconds the phone stays dark
    register_delay     seconds after coming back until the accounts register
    lock_minutes       lockout length reported in ``lockTime``
    lock_seconds       real lockout length; None: lock_minutes * 60
    lock_threshold     consecutive wrong passcodes that lock the phone (the Nth answers ``locked``)
    inventory_vars     extra per-phone values for CSV columns / INI host variables
    tls                serve HTTPS with the fleet's ``tls_context`` (Fleet(tls_context=...)) instead of HTTP
    """

    name: str
    passcode: str | None = None
    factory_passcode: str = 'admin'
    site: str = ''
    model: str = 'GRP2614'
    firmware: str = 'doc'
    host: str | None = None
    port: int | None = None
    auth_style: str = 'http401'
    fault: str | list | tuple | None = None
    latency: float = 0.0
    accounts: list | None = None
    account_count: int | None = None
    line_count: int | None = None
    sip_server: str = 'pbx.example.net'
    phone_status: str | None = None
    call: dict | list | None = None
    call_answer_after: float | None = 1.0
    save_delay: float = 0.3
    down_time: float = 1.0
    register_delay: float = 0.5
    lock_minutes: int = 5
    lock_seconds: float | None = None
    lock_threshold: int = 5
    inventory_vars: dict = dataclasses.field(default_factory=dict)
    tls: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError('a phone needs a non-empty name')
        if self.firmware not in FIRMWARES:
            raise ValueError('%s: firmware %r is not one of %s' % (self.name, self.firmware, ', '.join(FIRMWARES)))
        if self.auth_style not in AUTH_STYLES:
            raise ValueError('%s: auth_style %r is not one of %s' % (self.name, self.auth_style, ', '.join(AUTH_STYLES)))
        _fault_set(self.fault)
        calls = _call_list(self.call)
        lines = self.line_count or (3 if self.firmware == 'doc' else 4)
        for call in calls:
            if not 1 <= call['line'] <= lines:
                raise ValueError('%s: call line %d does not exist (1..%d)' % (self.name, call['line'], lines))
        for key in ('latency', 'save_delay', 'down_time', 'register_delay'):
            if float(getattr(self, key)) < 0:
                raise ValueError('%s: %s must not be negative' % (self.name, key))
        if self.host is not None:
            _check_loopback(self.host, '%s: host' % self.name)
        if self.port is not None and not 0 <= int(self.port) <= 65535:
            raise ValueError('%s: port %r out of range' % (self.name, self.port))
        if int(self.lock_threshold) < 1:
            raise ValueError('%s: lock_threshold must be at least 1' % self.name)
        if self.accounts is not None:
            for account in self.accounts:
                if not isinstance(account, dict) or set(account) - {'sip_id', 'sip_server', 'name', 'register'}:
                    raise ValueError('%s: accounts entries are mappings of sip_id, sip_server, name, register' % self.name)

    @property
    def lock_duration(self):
        """Seconds a lockout lasts."""
        return float(self.lock_seconds) if self.lock_seconds is not None else float(self.lock_minutes) * 60.0


_SPEC_FIELDS = {field.name: field for field in dataclasses.fields(PhoneSpec)}


def _field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


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


class _Line:
    __slots__ = ('number', 'state', 'acct', 'remotename', 'remotenumber', 'call_id', 'timers', 'pending')

    def __init__(self, number):
        self.number = number
        self.state = 'idle'
        self.acct = 0
        self.remotename = ''
        self.remotenumber = ''
        self.call_id = 0
        self.timers = []    # asyncio TimerHandles of the current call
        self.pending = []   # (delay, callback) armed when the fleet starts


def _run_now(awaitable):
    """Drive a coroutine that does not suspend (used before the loop runs); return its value."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise RuntimeError('this operation needs the running fleet')


def _html(status, title, text=''):
    return ('<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n'
            % (status, title, title, text)).encode('utf-8')


LOGIN_PAGE = (b'<!DOCTYPE html>\n<html><head><title>Grandstream Device Configuration</title></head>\n'
              b'<body><form action="/cgi-bin/dologin" method="post"><input type="password" name="password">'
              b'<input type="submit" value="Login"></form></body></html>\n')


class _BadRequest(Exception):
    pass


async def _read_request(reader):
    """Read a request head; return (method, target, headers) or None on a clean EOF."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode('latin-1').split()
    if len(parts) != 3 or not parts[2].startswith('HTTP/'):
        raise _BadRequest()
    headers = {}
    for dummy in range(100):
        raw = await reader.readline()
        if raw in (b'\r\n', b'\n', b''):
            return parts[0].upper(), parts[1], headers
        name, sep, value = raw.decode('latin-1').partition(':')
        if not sep:
            raise _BadRequest()
        headers[name.strip().lower()] = value.strip()
    raise _BadRequest()


class Phone:
    """One simulated phone. Create phones with ``Fleet.add``; read attributes, call the methods from any thread.

    Attributes: name, spec, index, host, port (the real one after start), faults (frozenset), passcode (current),
    reboot_count (accepted REBOOT/RESET commands).
    """

    def __init__(self, fleet, spec, index, host):
        self.fleet = fleet
        self.spec = spec
        self.index = index
        self.name = spec.name
        self.host = host
        self.port = int(spec.port) if spec.port is not None else fleet.port
        self.faults = _fault_set(spec.fault)
        self.passcode = spec.passcode
        self.reboot_count = 0
        self._latency = float(spec.latency)
        self._status_override = spec.phone_status
        self._accounts = self._build_accounts()
        self._lines = [_Line(number) for number in range(1, (spec.line_count or (3 if spec.firmware == 'doc' else 4)) + 1)]
        self._active = None
        self._power = 'up'            # up | saving | down
        self._server = None
        self._conns = set()
        self._cycle = None            # task of a running reboot cycle
        self._listen_lock = asyncio.Lock()
        self._wrong = 0
        self._locked_until = 0.0
        self._calls = 0
        if 'unregistered' not in self.faults:
            for account in self._accounts:
                account['reg'] = 1 if account['sip_id'] and account['register'] else 0
        for call in _call_list(spec.call):
            line = self._lines[call['line'] - 1]
            self._begin_call(line, call['state'], call['remotenumber'], call['remotename'], 'spec',
                             ends_after=call['ends_after'])

    def __repr__(self):
        return '<Phone %s %s:%s %s>' % (self.name, self.host, self.port, self.state)

    # ----- construction helpers

    def _build_accounts(self):
        spec = self.spec
        count = spec.account_count or (2 if spec.firmware == 'doc' else 3)
        if spec.accounts is None:
            configured = [{'sip_id': str(1001 + self.index), 'sip_server': spec.sip_server, 'name': 'office'}]
        else:
            configured = list(spec.accounts)
        accounts = []
        for number in range(max(count, len(configured))):
            source = configured[number] if number < len(configured) else {}
            sip_id = str(source.get('sip_id') or '')
            accounts.append({
                'id': number + 1,
                'sip_server': str(source.get('sip_server', spec.sip_server if sip_id else '')),
                'sip_id': sip_id,
                'name': str(source.get('name', '')),
                'register': bool(source.get('register', True)),
                'reg': 0,
            })
        return accounts

    def _emit(self, event, **fields):
        return self.fleet.event_log.emit(self.name, event, **fields)

    # ----- public, thread-safe API

    @property
    def state(self):
        """``up``, ``rebooting`` (answered REBOOT/RESET, still serving) or ``down`` (not listening)."""
        if self._power == 'saving':
            return 'rebooting'
        if self._power == 'down' or 'down' in self.faults:
            return 'down'
        return 'up'

    @property
    def in_reboot(self):
        """True from an accepted REBOOT/RESET until the accounts registered again (or the cycle gave up)."""
        return self._cycle is not None

    @property
    def locked(self):
        return time.monotonic() < self._locked_until

    @property
    def latency(self):
        return self._latency

    @property
    def accounts(self):
        """Copies of the accounts: dicts with id, sip_server, sip_id, name, reg."""
        return self.fleet.call(lambda: [self._render_account(account, 'doc') for account in self._accounts])

    @property
    def registered_accounts(self):
        """Ids of the accounts currently registered."""
        return self.fleet.call(lambda: [account['id'] for account in self._accounts if account['reg']])

    @property
    def lines(self):
        """Copies of the lines: dicts with line, state, acct (int), remotename, remotenumber, active."""
        return self.fleet.call(lambda: [dict(self._render_line(line, 'doc'), acct=line.acct if line.state != 'idle' else 0)
                                        for line in self._lines])

    def phone_status(self):
        """What api-get_phone_status answers now."""
        return self.fleet.call(self._status)

    def url(self, function, passcode=True, **params):
        """URL of a CTI call on this phone (passcode: True = the current one, None/False = none, or a string)."""
        query = {}
        if passcode is True:
            query['passcode'] = self.passcode
        elif passcode:
            query['passcode'] = passcode
        query.update(params)
        name = function if function.startswith('api-') else 'api-' + function
        return '%s://%s:%d%s%s%s' % (self.scheme, self.host, self.port, CGI_PREFIX, name, ('?' + urlencode(query)) if query else '')

    def set_fault(self, fault):
        """Replace the phone's faults (a name, a list of names, or None for a healthy phone)."""
        _fault_set(fault)
        return self.fleet.call(self._set_fault, fault)

    def set_latency(self, seconds):
        self._latency = max(0.0, float(seconds))

    def set_phone_status(self, value):
        """Force api-get_phone_status to answer ``value`` (None: computed from accounts and lines)."""
        self._status_override = value

    def set_registered(self, registered=True, account=None):
        """Register (or unregister) every configured account, or the one with id ``account``; sticks across reboots."""
        return self.fleet.call(self._set_registered, bool(registered), account)

    def start_call(self, line=1, state='connected', ends_after=None, remotenumber='2001', remotename=''):
        """Put a call on ``line`` (replacing any); ends_after seconds from now (None: never). No auto-answer."""
        if state not in CALL_STATES:
            raise ValueError('state %r is not one of %s' % (state, ', '.join(CALL_STATES)))
        if not 1 <= int(line) <= len(self._lines):
            raise ValueError('line %r does not exist (1..%d)' % (line, len(self._lines)))
        return self.fleet.call(self._runtime_call, int(line), state, ends_after, str(remotenumber), str(remotename))

    def end_calls(self):
        """End every call (lines go idle); returns how many were ended."""
        return self.fleet.call(self._end_all, 'runtime')

    def power_on(self):
        """Bring a phone back that stayed down (``never_back``): listen, then register after register_delay."""
        return self.fleet.call(self._power_on)

    # ----- state helpers (event loop thread)

    def _render_account(self, account, firmware):
        out = {'id': account['id'], 'sip_server': account['sip_server'], 'sip_id': account['sip_id'],
               'name': account['name'], 'reg': account['reg']}
        if firmware == 'new':
            out['auto_cfg'] = ''
        return out

    def _render_line(self, line, firmware):
        in_use = line.state != 'idle'
        active = 1 if in_use and self._active == line.number else 0
        if firmware == 'doc':
            return {'line': line.number, 'state': line.state, 'acct': str(line.acct) if in_use and line.acct else '',
                    'remotename': line.remotename, 'remotenumber': line.remotenumber, 'active': active}
        return {'state': line.state, 'line': line.number, 'acct': line.acct if in_use else 0, 'active': active,
                'remotename': line.remotename, 'remotenumber': line.remotenumber, 'conf': 0}

    def _status(self):
        if self._status_override is not None:
            return self._status_override
        if not any(account['reg'] and account['sip_id'] for account in self._accounts):
            return 'unavailable'
        states = [line.state for line in self._lines]
        if 'ringing' in states:
            return 'ringing'
        if any(state != 'idle' for state in states):
            return 'busy'
        return 'available'

    def _registered_account(self, index=None):
        """The account to call from: ``index`` (0-based) if given, else the first registered one; None if unusable."""
        if index is None:
            return next((acc for acc in self._accounts if acc['sip_id'] and acc['reg']), None)
        if 0 <= index < len(self._accounts) and self._accounts[index]['sip_id'] and self._accounts[index]['reg']:
            return self._accounts[index]
        return None

    def _default_acct(self):
        account = next((acc for acc in self._accounts if acc['sip_id']), None)
        return account['id'] if account else 1

    def _schedule(self, line, delay, callback):
        if self.fleet.running:
            line.timers.append(self.fleet.loop.call_later(max(0.0, delay), callback, line, line.call_id))
        else:
            line.pending.append((delay, callback))

    def _cancel_timers(self, line):
        for handle in line.timers:
            handle.cancel()
        line.timers = []
        line.pending = []

    def _find(self, states):
        """The active line if its state is in ``states``, else the first such line, else None."""
        if self._active is not None:
            line = self._lines[self._active - 1]
            if line.state in states:
                return line
        return next((line for line in self._lines if line.state in states), None)

    def _focus(self, line, cause):
        """Make ``line`` the active one; a connected call elsewhere goes on hold (what a phone does)."""
        for other in self._lines:
            if other is not line and other.state == 'connected':
                self._set_state(other, 'onhold', cause)
        self._active = line.number

    def _begin_call(self, line, state, remotenumber, remotename, origin, ends_after=None, acct=None):
        if line.state != 'idle':
            self._end(line, 'replaced')
        self._cancel_timers(line)
        self._calls += 1
        line.call_id = self._calls
        line.state = state
        line.acct = acct if acct is not None else self._default_acct()
        line.remotenumber = remotenumber
        line.remotename = remotename
        if state != 'ringing' or self._active is None:
            self._active = line.number
        self._emit('call_started', line=line.number, state=state, remotenumber=remotenumber, origin=origin)
        if ends_after is not None:
            self._schedule(line, float(ends_after), self._timed_end)

    def _set_state(self, line, state, cause):
        previous, line.state = line.state, state
        self._emit('call_state', line=line.number, state=state, previous=previous, cause=cause)

    def _end(self, line, cause):
        previous = line.state
        number = line.remotenumber
        self._cancel_timers(line)
        line.state, line.acct, line.remotename, line.remotenumber = 'idle', 0, '', ''
        if self._active == line.number:
            other = next((item for item in self._lines if item.state != 'idle'), None)
            self._active = other.number if other else None
        self._emit('call_ended', line=line.number, previous=previous, remotenumber=number, cause=cause)

    def _end_all(self, cause):
        ended = 0
        for line in self._lines:
            if line.state != 'idle':
                self._end(line, cause)
                ended += 1
        return ended

    def _timed_end(self, line, call_id):
        if line.call_id == call_id and line.state != 'idle':
            self._end(line, 'ends_after')

    def _answered(self, line, call_id):
        if line.call_id == call_id and line.state == 'calling':
            self._set_state(line, 'connected', 'answered')

    def _place_outgoing(self, line, number, account, origin):
        self._focus(line, 'new_call')
        self._begin_call(line, 'calling', number, '', origin, acct=account['id'])
        if self.spec.call_answer_after is not None:
            self._schedule(line, float(self.spec.call_answer_after), self._answered)

    def _runtime_call(self, line_number, state, ends_after, remotenumber, remotename):
        self._begin_call(self._lines[line_number - 1], state, remotenumber, remotename, 'runtime', ends_after=ends_after)

    def _register(self, cause):
        ids = []
        for account in self._accounts:
            if account['sip_id'] and account['register'] and not account['reg']:
                account['reg'] = 1
                ids.append(account['id'])
        if ids:
            self._emit('registered', accounts=ids, cause=cause)

    def _unregister(self, cause, only=None):
        ids = []
        for account in self._accounts:
            if account['reg'] and (only is None or account['id'] == only):
                account['reg'] = 0
                ids.append(account['id'])
        if ids:
            self._emit('unregistered', accounts=ids, cause=cause)

    def _set_registered(self, registered, account_id):
        targets = [acc for acc in self._accounts if acc['sip_id'] and (account_id is None or acc['id'] == account_id)]
        if account_id is not None and not targets:
            raise ValueError('%s has no configured account %r' % (self.name, account_id))
        for account in targets:
            account['register'] = registered
        if not registered:
            for account in targets:
                self._unregister('runtime', only=account['id'])
        elif self._power != 'down':
            self._register('runtime')

    async def _set_fault(self, fault):
        old, new = self.faults, _fault_set(fault)
        self.faults = new
        self._emit('fault_set', fault=sorted(new) or None)
        if 'unregistered' in new and 'unregistered' not in old:
            self._unregister('fault')
        elif 'unregistered' in old and 'unregistered' not in new and self._power == 'up' and self._cycle is None:
            self._register('fault_cleared')
        await self._sync_listen()

    # ----- listening

    async def _sync_listen(self):
        """Listen or not, as power state and the ``down`` fault say."""
        if not self.fleet.running:
            return
        async with self._listen_lock:
            want = self._power != 'down' and 'down' not in self.faults
            if want and self._server is None:
                self._server = await asyncio.start_server(self._on_connection, self.host, self.port, ssl=self._tls(),
                                                          reuse_address=True, backlog=BACKLOG)
                if not self.port:
                    self.port = self._server.sockets[0].getsockname()[1]
            elif not want and self._server is not None:
                self._unlisten(abort=False)

    def _tls(self):
        """The fleet's server-side ssl.SSLContext for an HTTPS phone, None for an HTTP one."""
        if not self.spec.tls:
            return None
        if self.fleet.tls_context is None:
            raise ValueError('%s: tls is set, but the fleet has no tls_context (Fleet(tls_context=...))' % self.name)
        return self.fleet.tls_context

    @property
    def scheme(self):
        return 'https' if self.spec.tls else 'http'

    def _unlisten(self, abort):
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._conns):
            if abort:
                transport.abort()
            else:
                transport.close()
        self._conns.clear()

    async def _start(self):
        async with self._listen_lock:
            # Bind even a ``down`` phone once, so that port 0 becomes a real port for the inventory.
            self._server = await asyncio.start_server(self._on_connection, self.host, self.port, ssl=self._tls(),
                                                      reuse_address=True, backlog=BACKLOG)
            if not self.port:
                self.port = self._server.sockets[0].getsockname()[1]
        if 'down' in self.faults:
            self._unlisten(abort=True)
        for line in self._lines:
            pending, line.pending = line.pending, []
            for delay, callback in pending:
                self._schedule(line, delay, callback)

    def _shutdown(self):
        if self._cycle is not None:
            self._cycle.cancel()
            self._cycle = None
        for line in self._lines:
            self._cancel_timers(line)
        self._unlisten(abort=True)

    # ----- reboot / reset

    async def _reboot_cycle(self, request):
        try:
            self._power = 'saving'
            await asyncio.sleep(float(self.spec.save_delay))
            self._go_down(request)
            if 'never_back' in self.faults:
                return
            await asyncio.sleep(float(self.spec.down_time))
            await self._come_up(request)
        finally:
            if self._cycle is asyncio.current_task():
                self._cycle = None

    def _go_down(self, request):
        self._power = 'down'
        self._unlisten(abort=False)
        self._end_all('reboot' if request == 'REBOOT' else 'reset')
        for account in self._accounts:
            account['reg'] = 0
        self._wrong = 0
        self._locked_until = 0.0
        if request == 'RESET':
            self.passcode = self.spec.factory_passcode
            for account in self._accounts:
                account.update(sip_server='', sip_id='', name='', register=True, reg=0)
        self._emit('down', request=request)

    async def _come_up(self, request):
        self._power = 'up'
        await self._sync_listen()
        self._emit('up', request=request)
        if request == 'RESET':
            self._emit('reset_done')
        if self.faults & {'back_unregistered', 'unregistered'}:
            return
        await asyncio.sleep(float(self.spec.register_delay))
        if not self.faults & {'back_unregistered', 'unregistered'}:
            self._register('boot')

    async def _power_on_task(self):
        try:
            await self._come_up('power_on')
        finally:
            if self._cycle is asyncio.current_task():
                self._cycle = None

    def _power_on(self):
        if self._power != 'down' or self._cycle is not None:
            return False
        self._cycle = self.fleet.loop.create_task(self._power_on_task())
        return True

    # ----- HTTP

    async def _on_connection(self, reader, writer):
        transport = writer.transport
        self._conns.add(transport)
        try:
            await self._serve(reader, writer)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
            pass
        finally:
            self._conns.discard(transport)
            transport.close()

    def _log_request(self, ctx, status, **extra):
        self._emit('request', status=status, **ctx, **extra)

    async def _answer(self, writer, ctx, status, ctype, body, **extra):
        head = 'HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % (
            status, REASONS.get(status, 'Unknown'), ctype, len(body))
        # Logged before the bytes leave: a client that has its answer must find the request in the log.
        self._log_request(ctx, status, **extra)
        writer.write(head.encode('latin-1') + body)
        await writer.drain()

    def _json(self, obj):
        return json.dumps(obj, separators=(',', ':')).encode('utf-8')

    async def _serve(self, reader, writer):
        ctx = {'function': None, 'method': None, 'path': None, 'params': {}, 'auth': None}
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers = request
                length = headers.get('content-length')
                if length is not None:
                    if not length.isdigit():
                        raise _BadRequest()
                    if int(length) > MAX_BODY:
                        ctx['method'] = method
                        await self._answer(writer, ctx, 413, HTML_TYPE, _html(413, 'Payload Too Large'))
                        return
                    if int(length):
                        await reader.readexactly(int(length))
        except (_BadRequest, ValueError, asyncio.LimitOverrunError):
            await self._answer(writer, ctx, 400, HTML_TYPE, _html(400, 'Bad Request'))
            return
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        function = parts.path[len(CGI_PREFIX):] if parts.path.startswith(CGI_PREFIX) else None
        ctx.update(function=function, method=method, path=parts.path,
                   params={key: value for key, value in params.items() if key not in SECRET_PARAMS})

        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if self._power == 'down':
            return  # went dark while this request waited: the connection just dies
        faults = self.faults
        if 'hang' in faults:
            self._log_request(ctx, None, fault='hang')
            while await reader.read(65536):
                pass
            return
        if 'reset' in faults:
            self._log_request(ctx, None, fault='reset')
            sock = writer.get_extra_info('socket')
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            writer.transport.abort()
            return
        if method not in ('GET', 'POST'):
            await self._answer(writer, ctx, 405, HTML_TYPE, _html(405, 'Method Not Allowed'))
            return
        if method == 'POST' and length is None:
            await self._answer(writer, ctx, 411, HTML_TYPE, _html(411, 'Length Required'))
            return
        ctype = CONTENT_TYPES[self.spec.firmware]
        fault = next((name for name in RESPONSE_FAULTS if name in faults), None)
        if fault is not None:
            status, fault_type, body = self._fault_answer(fault, ctype)
            await self._answer(writer, ctx, status, fault_type, body, fault=fault)
            return
        handler = getattr(self, '_api_' + function[4:], None) if function in FUNCTIONS else None
        if handler is None:
            await self._answer(writer, ctx, 404, HTML_TYPE, _html(404, 'Not Found', 'The requested URL was not found.'))
            return
        auth, denial = self._authenticate(params, function, ctype)
        ctx['auth'] = auth
        if denial is not None:
            await self._answer(writer, ctx, *denial)
            return
        if function in COMMAND_FUNCTIONS:
            self._emit('command', function=function, params=dict(ctx['params']))
        result = handler(params)
        if result is _DROP:
            self._log_request(ctx, None, fault='drop_on_reboot')
            writer.transport.close()
            return
        await self._answer(writer, ctx, 200, ctype, self._json(result))

    def _fault_answer(self, fault, ctype):
        if fault == 'not_found':
            return 404, HTML_TYPE, _html(404, 'Not Found', 'The requested URL was not found.')
        if fault == 'forbidden_403':
            return 403, HTML_TYPE, _html(403, 'Forbidden', 'Action URI is disabled or this address is not allowed.')
        if fault == 'forbidden_body':
            return 200, ctype, self._json({'response': 'error', 'body': 'forbidden'})
        if fault == 'http500':
            return 500, HTML_TYPE, _html(500, 'Internal Server Error')
        if fault == 'html':
            return 200, HTML_TYPE, LOGIN_PAGE
        if fault == 'garbage':
            return 200, ctype, b'\x00not json{'
        if fault == 'wrong_shape':
            return 200, ctype, self._json({'foo': 1})
        if fault == 'wrong_shape_list':
            return 200, ctype, self._json(['success', True])
        return 200, ctype, self._json({'response': 'success', 'body': {'unexpected': True}})  # wrong_body

    def _authenticate(self, params, function, ctype):
        """Return (auth, denial): auth is ok | wrong | locked; denial is None or (status, ctype, body)."""
        now = time.monotonic()
        if self._locked_until:
            if now < self._locked_until:
                return 'locked', self._locked_answer(now, ctype)
            self._locked_until = 0.0
            self._wrong = 0
        given = params.get('passcode')
        if given is None and function == 'api-make_call':
            given = params.get('password')  # some GXP clients (cti-api.md section 1)
        if given is not None and given == self.passcode:
            self._wrong = 0
            return 'ok', None
        self._wrong += 1
        self._emit('auth_failed', function=function, reason='missing' if given is None else 'wrong', count=self._wrong)
        if self._wrong >= int(self.spec.lock_threshold):
            self._locked_until = now + self.spec.lock_duration
            self._emit('locked', seconds=self.spec.lock_duration, lock_minutes=self.spec.lock_minutes)
            return 'locked', self._locked_answer(now, ctype)
        if self.spec.auth_style == 'body' or 'unauthorized_body' in self.faults:
            return 'wrong', (200, ctype, self._json({'response': 'error', 'body': 'unauthorized'}))
        return 'wrong', (401, HTML_TYPE, _html(401, 'Unauthorized', 'Authentication required.'))

    def _locked_answer(self, now, ctype):
        minutes = max(1, int(math.ceil((self._locked_until - now) / 60.0)))
        return 200, ctype, self._json({'response': 'error', 'body': 'locked', 'lockTime': minutes})

    # ----- CTI functions (handler(params) -> JSON object)

    def _api_get_accounts(self, params):
        return {'response': 'success', 'body': [self._render_account(acc, self.spec.firmware) for acc in self._accounts]}

    def _api_get_phone_status(self, params):
        return {'response': 'success', 'body': self._status(), 'misc': '0'}

    def _api_get_line_status(self, params):
        lines = self._lines
        wanted = params.get('line', '-1')
        if wanted.isdigit() and 1 <= int(wanted) <= len(lines):
            lines = [lines[int(wanted) - 1]]
        return {'response': 'success', 'body': [self._render_line(line, self.spec.firmware) for line in lines]}

    def _api_phone_operation(self, params):
        cmd = params.get('cmd', '')
        line = None
        if cmd == 'endcall':
            line = self._find(ENDABLE_STATES)
            if line:
                self._end(line, 'endcall')
        elif cmd == 'holdcall':
            line = self._find(('connected',))
            if line:
                self._set_state(line, 'onhold', 'holdcall')
        elif cmd in ('unholdcall', 'acceptcall'):
            line = self._find(('onhold',) if cmd == 'unholdcall' else ('ringing',))
            if line:
                self._focus(line, cmd)
                self._set_state(line, 'connected', cmd)
        elif cmd == 'rejectcall':
            line = self._find(('ringing',))
            if line:
                self._end(line, 'rejectcall')
        elif cmd == 'cancel':
            line = self._find(('dialing', 'calling'))
            if line:
                self._end(line, 'cancel')
        if line is None:
            return {'response': 'error', 'body': False}
        return {'response': 'success', 'body': True}

    def _api_send_key(self, params):
        keys = params.get('keys', '')
        tokens = keys.split(':') if keys else []
        if not tokens or any(token not in KEY_TOKENS for token in tokens):
            return {'response': 'error', 'body': 'unknown'}
        self._emit('keys', keys=tokens)
        for token in tokens:
            self._press(token)
        return {'response': 'success', 'body': 'complete'}

    def _press(self, token):
        """Rough key semantics: OFFHOOK answers a ringing call or starts dialing; digits dial; SEND places the call."""
        active = self._find(ENDABLE_STATES | {'ringing'})
        if token == 'OFFHOOK':
            ringing = self._find(('ringing',))
            if ringing is not None:
                self._focus(ringing, 'offhook')
                self._set_state(ringing, 'connected', 'offhook')
            elif active is None:
                free = next((line for line in self._lines if line.state == 'idle'), None)
                account = self._registered_account()
                if free is not None and account is not None:
                    self._begin_call(free, 'dialing', '', '', 'keys', acct=account['id'])
        elif token == 'ONHOOK':
            if active is not None and active.state != 'ringing':
                self._end(active, 'onhook')
        elif token in DIAL_CHARS:
            if active is not None and active.state == 'dialing':
                active.remotenumber += DIAL_CHARS[token]
        elif token in ('SEND', 'OK'):
            if active is not None and active.state == 'dialing' and active.remotenumber:
                self._set_state(active, 'calling', 'send')
                if self.spec.call_answer_after is not None:
                    self._schedule(active, float(self.spec.call_answer_after), self._answered)
        elif token == 'HOLD':
            if active is not None and active.state in ('connected', 'onhold'):
                self._set_state(active, 'onhold' if active.state == 'connected' else 'connected', 'hold_key')

    def _api_sys_operation(self, params):
        request = params.get('request', '')
        if request not in ('REBOOT', 'RESET'):
            return {'response': 'error', 'body': 'unknown'}
        answer = {'response': 'success', 'body': 'savereboot' if request == 'REBOOT' else 'reset'}
        if self._power == 'saving':
            self._emit('reboot_ignored', request=request)
            return answer
        faults = self.faults
        self.reboot_count += 1
        self._emit('reboot', request=request, fault=sorted(faults.intersection(REBOOT_FAULTS)) or None)
        if 'no_down' not in faults:
            if self._cycle is not None:
                self._cycle.cancel()
            # Saving from the moment the command is accepted, not from when the task first runs:
            # a client holding the answer must see ``rebooting``, and a second REBOOT is ignored.
            self._power = 'saving'
            self._cycle = self.fleet.loop.create_task(self._reboot_cycle(request))
        if 'drop_on_reboot' in faults:
            return _DROP
        return answer

    def _api_make_call(self, params):
        invalid = {'response': 'error', 'body': 'Invalid Request'}
        number = params.get('phonenumber', '')
        raw = params.get('account', '')
        if not number or (raw and not raw.lstrip('-').isdigit()):
            return invalid
        account = self._registered_account(int(raw) if raw else None)
        line = next((item for item in self._lines if item.state == 'idle'), None)
        if account is None or line is None:
            return invalid
        self._place_outgoing(line, number, account, 'make_call')
        return {'response': 'success', 'body': True}


class Fleet:
    """N simulated phones served by one asyncio event loop.

    ``Fleet(network='127.77.0.0', port=8080, defaults=None, events_path=None)``: phone i gets the i-th address after
    ``network`` whose last octet is not 0 or 255. ``port=0`` gives every phone an ephemeral port. ``defaults`` holds
    PhoneSpec fields applied to every phone that leaves them at the built-in default.
    """

    def __init__(self, network='127.77.0.0', port=8080, defaults=None, events_path=None, tls_context=None):
        self.network = _check_loopback(network, 'network')
        # Server-side ssl.SSLContext (certificate and key loaded) for the phones with ``tls``; the caller makes the
        # certificate, for the phones' addresses (tests/integration: cryptography, which ansible-core brings).
        self.tls_context = tls_context
        self.port = int(port)
        if not 0 <= self.port <= 65535:
            raise ValueError('port %r out of range' % (port,))
        self.defaults = dict(defaults or {})
        bad = sorted(set(self.defaults) - set(_SPEC_FIELDS) | (set(self.defaults) & {'name', 'host'}))
        if bad:
            raise ValueError('defaults: not usable as fleet defaults: %s' % ', '.join(bad))
        self.events_path = os.fspath(events_path) if events_path else None
        self.event_log = EventLog(self.events_path)
        self.loop = None
        self.running = False
        self.t0 = None
        self._phones = []
        self._by_name = {}
        self._next_addr = int(self.network)
        self._fixed = set()
        self._thread = None
        self._loop_tid = None

    # ----- building

    @classmethod
    def from_spec(cls, spec, network=None, port=None, events_path=None, defaults=None):
        """A fleet from a spec mapping or a YAML/JSON file; the keyword arguments override the spec's values."""
        if not isinstance(spec, dict):
            spec = _load_spec_file(spec)
        unknown = set(spec) - {'network', 'port', 'defaults', 'phones', 'events_path'}
        if unknown:
            raise ValueError('unknown spec key(s): %s' % ', '.join(sorted(unknown)))
        merged = dict(spec.get('defaults') or {})
        merged.update(defaults or {})
        fleet = cls(network=network or spec.get('network', '127.77.0.0'),
                    port=port if port is not None else spec.get('port', 8080),
                    defaults=merged, events_path=events_path or spec.get('events_path'))
        for entry in spec.get('phones') or []:
            entry = dict(entry)
            count = entry.pop('count', None)
            if count is not None:
                fleet.add_many(count=int(count), **entry)
            else:
                fleet.add(**entry)
        return fleet

    def _merge(self, spec, fields):
        unknown = set(fields) - set(_SPEC_FIELDS)
        if unknown:
            raise TypeError('unknown PhoneSpec field(s): %s' % ', '.join(sorted(unknown)))
        explicit = {}
        if spec is not None:
            if not isinstance(spec, PhoneSpec):
                raise TypeError('spec must be a PhoneSpec, got %r' % (spec,))
            for name, field in _SPEC_FIELDS.items():
                value = getattr(spec, name)
                if name == 'name' or value != _field_default(field):
                    explicit[name] = value
        explicit.update(fields)
        data = dict(self.defaults)
        data.update(explicit)
        return PhoneSpec(**data)

    def _allocate(self):
        while True:
            self._next_addr += 1
            if self._next_addr & 0xff in (0, 255):
                continue
            address = ipaddress.IPv4Address(self._next_addr)
            if address not in LOOPBACK:
                raise ValueError('out of loopback addresses after %s' % self.network)
            if str(address) not in self._fixed:
                return str(address)

    def add(self, spec=None, **fields):
        """Add one phone (a PhoneSpec and/or PhoneSpec fields); returns the Phone. Only before start()."""
        if self.running:
            raise RuntimeError('add phones before start()')
        spec = self._merge(spec, fields)
        if spec.name in self._by_name:
            raise ValueError('duplicate phone name %r' % spec.name)
        if spec.passcode is None:
            spec.passcode = 'pw-%s' % spec.name
        if spec.host is not None:
            host = str(_check_loopback(spec.host, '%s: host' % spec.name))
            self._fixed.add(host)
        else:
            host = self._allocate()
        phone = Phone(self, spec, len(self._phones), host)
        self._phones.append(phone)
        self._by_name[phone.name] = phone
        return phone

    def add_many(self, count, name='gs{n:04d}', start=1, **fields):
        """Add ``count`` phones named ``name.format(n=...)`` with n from ``start``; returns the Phones."""
        return [self.add(name=name.format(n=number), **fields) for number in range(start, start + int(count))]

    def phone(self, name):
        return self._by_name[name]

    @property
    def phones(self):
        return list(self._phones)

    def __len__(self):
        return len(self._phones)

    def __iter__(self):
        return iter(list(self._phones))

    def __contains__(self, name):
        return name in self._by_name

    # ----- running

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the event loop thread and return its result (awaiting it if it is a coroutine).

        Before start() and after stop() it runs inline; on the loop thread a coroutine becomes a Task.
        """
        if not self.running or self.loop is None:
            result = fn(*args)
            return _run_now(result) if inspect.iscoroutine(result) else result
        if threading.get_ident() == self._loop_tid:
            result = fn(*args)
            return self.loop.create_task(result) if inspect.iscoroutine(result) else result

        async def runner():
            result = fn(*args)
            if inspect.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(CALL_TIMEOUT)

    async def astart(self):
        """Start every phone on the running event loop (the CLI's way; start() wraps it in a thread)."""
        if self.running:
            raise RuntimeError('fleet already running')
        self.loop = asyncio.get_running_loop()
        self._loop_tid = threading.get_ident()
        self.t0 = time.monotonic()
        self.running = True
        try:
            await asyncio.gather(*(phone._start() for phone in self._phones))
        except BaseException:
            await self.astop()
            raise
        self.event_log.emit(None, 'fleet_started', count=len(self._phones), network=str(self.network))

    async def astop(self):
        """Stop every phone, abort open connections and cancel the fleet's tasks."""
        was_running, self.running = self.running, False
        for phone in self._phones:
            phone._shutdown()
        await asyncio.sleep(0)
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if was_running:
            self.event_log.emit(None, 'fleet_stopped', count=len(self._phones))
        self.event_log.close()

    def start(self, timeout=120.0):
        """Start the fleet on an event loop in a background thread; returns self once every phone listens."""
        if self._thread is not None:
            raise RuntimeError('fleet already started')
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name='phonesim-loop', daemon=True)
        self._thread.start()
        ready.wait()
        try:
            asyncio.run_coroutine_threadsafe(self.astart(), loop).result(timeout)
        except BaseException:
            self._stop_thread(loop)
            raise
        return self

    def _stop_thread(self, loop):
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(30)
        loop.close()
        self._thread = None

    def stop(self):
        """Stop a fleet started with start(); safe to call twice."""
        if self._thread is None:
            return
        loop = self.loop
        try:
            asyncio.run_coroutine_threadsafe(self.astop(), loop).result(CALL_TIMEOUT)
        finally:
            self._stop_thread(loop)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # ----- events

    def events(self, phone=None, event=None, since=None, **match):
        """Copies of the logged events; filters: phone name, event name (or several), since (monotonic), field=value."""
        return self.event_log.select(phone=phone, event=event, since=since, **match)

    def wait_for(self, event, phone=None, timeout=10.0, since=None, **match):
        """Block until such an event is logged; returns it or raises TimeoutError."""
        return self.event_log.wait_for(event, phone=phone, timeout=timeout, since=since, **match)

    # ----- inventories

    def _check_ports(self):
        if any(not phone.port for phone in self._phones):
            raise RuntimeError('phones with port 0 get their port at start(): start the fleet first')

    @staticmethod
    def inventory_passcode(phone):
        """The passcode the inventory holds: the spec's, or a wrong one for the ``wrong_passcode`` fault."""
        if 'wrong_passcode' in phone.faults:
            return 'wrong-%s' % phone.spec.passcode
        return phone.spec.passcode

    def _row(self, phone):
        mac = '00:0b:82:%02x:%02x:%02x' % ((phone.index >> 16) & 0xff, (phone.index >> 8) & 0xff, phone.index & 0xff)
        row = {'name': phone.name, 'host': phone.host, 'port': phone.port, 'scheme': phone.scheme,
               'passcode': self.inventory_passcode(phone), 'site': phone.spec.site, 'model': phone.spec.model,
               'firmware': phone.spec.firmware, 'mac': mac}
        row.update(phone.spec.inventory_vars)
        return row

    def write_csv(self, path, columns=DEFAULT_CSV_COLUMNS):
        """Write a CSV inventory (header + one row per phone). Columns: BUILTIN_COLUMNS or inventory_vars keys."""
        self._check_ports()
        known = set(BUILTIN_COLUMNS).union(*(phone.spec.inventory_vars for phone in self._phones))
        unknown = [column for column in columns if column not in known]
        if unknown:
            raise ValueError('unknown CSV column(s): %s' % ', '.join(unknown))
        with open(path, 'w', encoding='utf-8', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for phone in self._phones:
                row = self._row(phone)
                writer.writerow(['' if row.get(column) is None else row.get(column) for column in columns])
        return path

    def write_ini(self, path):
        """Write an INI inventory: group [grandstream] with connection vars, plus one group site_<site> per site."""
        self._check_ports()
        sites = {}
        lines = ['# simulated Grandstream fleet (phonesim)', '[grandstream]']
        for phone in self._phones:
            row = self._row(phone)
            hostvars = [('ansible_host', phone.host), ('grandstream_port', phone.port), ('grandstream_scheme', phone.scheme),
                        ('grandstream_passcode', row['passcode']), ('site', row['site']), ('model', row['model'])]
            hostvars += sorted(phone.spec.inventory_vars.items())
            lines.append(phone.name + ''.join(' %s=%s' % (key, _ini_value(value)) for key, value in hostvars))
            if phone.spec.site:
                sites.setdefault('site_' + re.sub(r'\W', '_', phone.spec.site), []).append(phone.name)
        lines += ['', '[grandstream:vars]', 'ansible_connection=local']
        for group, names in sorted(sites.items()):
            lines += ['', '[%s]' % group] + names
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('\n'.join(lines) + '\n')
        return path

    def ready_info(self):
        """What the CLI writes into its ready file (no passcodes)."""
        return {'pid': os.getpid(), 'count': len(self._phones), 'network': str(self.network),
                'phones': [{'name': phone.name, 'host': phone.host, 'port': phone.port} for phone in self._phones]}

    def summary(self):
        if not self._phones:
            return 'phonesim: 0 phones'
        ports = sorted({phone.port for phone in self._phones})
        port_text = 'port %d' % ports[0] if len(ports) == 1 else 'ports %d-%d' % (ports[0], ports[-1])
        faulty = sum(1 for phone in self._phones if phone.faults)
        return 'phonesim: %d phones listening on %s..%s %s (%d with faults), pid %d' % (
            len(self._phones), self._phones[0].host, self._phones[-1].host, port_text, faulty, os.getpid())


def _ini_value(value):
    """INI host variables go through shlex and then literal_eval: quote strings so '123' stays a string."""
    if isinstance(value, (bool, int, float)):
        return str(value)
    return shlex.quote(json.dumps(str(value)))


def _load_spec_file(path):
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    if str(path).endswith('.json'):
        data = json.loads(text)
    else:
        import yaml  # PyYAML (comes with ansible-core); JSON is valid YAML too
        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError('%s: the spec must be a mapping' % path)
    return data


# ----- CLI


def _atomic_write(path, text):
    tmp = '%s.tmp%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove(path):
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


async def _serve_cli(fleet, args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _remove(args.ready_file)
    await fleet.astart()
    try:
        if args.csv:
            fleet.write_csv(args.csv)
        if args.ini:
            fleet.write_ini(args.ini)
        if args.ready_file:
            info = fleet.ready_info()
            info.update(csv=args.csv, ini=args.ini, events=args.events)
            _atomic_write(args.ready_file, json.dumps(info, indent=1) + '\n')
        print(fleet.summary(), flush=True)
        if args.duration:
            try:
                await asyncio.wait_for(stop.wait(), args.duration)
            except TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        await fleet.astop()
        _remove(args.ready_file)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='phonesim', description='Simulated fleet of Grandstream phones (CTI HTTP API) on 127.0.0.0/8.')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--spec', help='fleet spec, YAML or JSON')
    source.add_argument('--phones', type=int, help='quick form: this many healthy phones named gs0001...')
    parser.add_argument('--network', help='loopback base address (default: spec, else 127.77.0.0)')
    parser.add_argument('--port', type=int, help='port of every phone, 0 = ephemeral (default: spec, else 8080)')
    parser.add_argument('--firmware', choices=FIRMWARES, help='quick form: firmware of the phones')
    parser.add_argument('--csv', help='write the CSV inventory here')
    parser.add_argument('--ini', help='write an INI inventory here')
    parser.add_argument('--events', help='append events as JSON lines to this file')
    parser.add_argument('--ready-file', help='write JSON (pid, phones: name/host/port) here once listening; removed at exit')
    parser.add_argument('--duration', type=float, help='stop after this many seconds (default: run until SIGTERM/SIGINT)')
    args = parser.parse_args(argv)
    try:
        if args.spec:
            fleet = Fleet.from_spec(args.spec, network=args.network, port=args.port, events_path=args.events,
                                    defaults={'firmware': args.firmware} if args.firmware else None)
        else:
            fleet = Fleet(network=args.network or '127.77.0.0', port=8080 if args.port is None else args.port,
                          defaults={'firmware': args.firmware} if args.firmware else None, events_path=args.events)
            fleet.add_many(count=args.phones)
        return asyncio.run(_serve_cli(fleet, args))
    except (OSError, ValueError, TypeError) as exc:
        print('phonesim: error: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
