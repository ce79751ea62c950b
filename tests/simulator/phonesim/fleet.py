"""A fleet of simulated phones on one asyncio event loop: building it (also from a spec file), running it in a
background thread or on the caller's loop, and its event log and inventories."""

import asyncio
import inspect
import ipaddress
import json
import os
import resource
import threading
import time

from . import inventory
from .events import EventLog
from .phone import Phone
from .spec import LOOPBACK, SPEC_FIELDS, PhoneSpec, check_action_urls, check_loopback, field_default

CALL_TIMEOUT = 30.0      # seconds a cross-thread call into the event loop may take
SPARE_FILES = 512        # open files beyond one socket per phone: client connections, pushes, the event file


def raise_open_file_limit(phone_count):
    """Raise the soft RLIMIT_NOFILE to the hard limit; refuse clearly when even that cannot hold the fleet."""
    needed = phone_count + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ValueError('%d phones need about %d open files (one socket each, plus %d for connections), but the hard '
                         'limit is %d: raise it (ulimit -Hn, LimitNOFILE=, limits.conf) or start at most %d phones'
                         % (phone_count, needed, SPARE_FILES, hard, max(0, hard - SPARE_FILES)))
    # An unlimited hard limit cannot become the soft one on Linux (fs.nr_open caps it): then ask for what is needed.
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < needed:
        raise ValueError('%d phones need about %d open files, but the limit is %d and could not be raised'
                         % (phone_count, needed, soft))
    return soft


def run_now(awaitable):
    """Drive a coroutine that does not suspend (used before the loop runs); return its value."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise RuntimeError('this operation needs the running fleet')


class Fleet:
    """N simulated phones served by one asyncio event loop.

    ``Fleet(network='127.77.0.0', port=8080, defaults=None, events_path=None)``: phone i gets the i-th address after
    ``network`` whose last octet is not 0 or 255. ``port=0`` gives every phone an ephemeral port. ``defaults`` holds
    PhoneSpec fields applied to every phone that leaves them at the built-in default (``action_urls`` is merged
    per event instead: a phone's own entries win, a None entry turns the fleet's off). ``events_kept``: how many
    events the in-memory log keeps (the events file gets them all).
    """

    def __init__(self, network='127.77.0.0', port=8080, defaults=None, events_path=None, tls_context=None,
                 events_kept=500000):
        self.network = check_loopback(network, 'network')
        # Server-side ssl.SSLContext (certificate and key loaded) for the phones with ``tls``; the caller makes the
        # certificate, for the phones' addresses (tests/integration: cryptography, which ansible-core brings).
        self.tls_context = tls_context
        self.port = int(port)
        if not 0 <= self.port <= 65535:
            raise ValueError('port %r out of range' % (port,))
        self.defaults = dict(defaults or {})
        bad = sorted(set(self.defaults) - set(SPEC_FIELDS) | (set(self.defaults) & {'name', 'host'}))
        if bad:
            raise ValueError('defaults: not usable as fleet defaults: %s' % ', '.join(bad))
        if 'action_urls' in self.defaults:
            check_action_urls(self.defaults['action_urls'], 'defaults')
        self.events_path = os.fspath(events_path) if events_path else None
        self.event_log = EventLog(self.events_path, maxlen=events_kept)
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
    def from_spec(cls, spec, network=None, port=None, events_path=None, defaults=None, events_kept=500000):
        """A fleet from a spec mapping or a YAML/JSON file; the keyword arguments override the spec's values."""
        if not isinstance(spec, dict):
            spec = load_spec_file(spec)
        unknown = set(spec) - {'network', 'port', 'defaults', 'phones', 'events_path'}
        if unknown:
            raise ValueError('unknown spec key(s): %s' % ', '.join(sorted(unknown)))
        merged = dict(spec.get('defaults') or {})
        merged.update(defaults or {})
        if 'action_urls' in (defaults or {}) and 'action_urls' in (spec.get('defaults') or {}):
            merged['action_urls'] = dict(spec['defaults']['action_urls'] or {}, **defaults['action_urls'])
        fleet = cls(network=network or spec.get('network', '127.77.0.0'),
                    port=port if port is not None else spec.get('port', 8080),
                    defaults=merged, events_path=events_path or spec.get('events_path'), events_kept=events_kept)
        for entry in spec.get('phones') or []:
            entry = dict(entry)
            count = entry.pop('count', None)
            if count is not None:
                fleet.add_many(count=int(count), **entry)
            else:
                fleet.add(**entry)
        return fleet

    def _merge(self, spec, fields):
        unknown = set(fields) - set(SPEC_FIELDS)
        if unknown:
            raise TypeError('unknown PhoneSpec field(s): %s' % ', '.join(sorted(unknown)))
        explicit = {}
        if spec is not None:
            if not isinstance(spec, PhoneSpec):
                raise TypeError('spec must be a PhoneSpec, got %r' % (spec,))
            for name, field in SPEC_FIELDS.items():
                value = getattr(spec, name)
                if name == 'name' or value != field_default(field):
                    explicit[name] = value
        explicit.update(fields)
        data = dict(self.defaults)
        data.update(explicit)
        for merged in ('action_urls', 'settings'):   # merged per key: the phone's own entries win
            if merged in self.defaults and merged in explicit:
                data[merged] = dict(self.defaults[merged] or {}, **(explicit[merged] or {}))
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
            host = str(check_loopback(spec.host, '%s: host' % spec.name))
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
            return run_now(result) if inspect.iscoroutine(result) else result
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
        raise_open_file_limit(len(self._phones))
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
    def write_csv(self, path, columns=None):
        """Write a CSV inventory (header + one row per phone). Columns: inventory.BUILTIN_COLUMNS or inventory_vars
        keys; None: the default columns, plus ``auth`` and ``username`` when a phone speaks the session dialect."""
        return inventory.write_csv(self._phones, path, columns)

    def write_ini(self, path):
        """Write an INI inventory: group [grandstream] with connection vars, plus one group site_<site> per site."""
        return inventory.write_ini(self._phones, path)

    @staticmethod
    def inventory_passcode(phone):
        """The passcode the inventory holds: the spec's, or a wrong one for the ``wrong_passcode`` fault."""
        return inventory.inventory_passcode(phone)

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


def load_spec_file(path):
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
