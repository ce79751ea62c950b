"""A simulated phone: its identity, power and reboot cycle, listening socket and Action URL pushes."""

import asyncio
from urllib.parse import urlencode

from . import push
from .auth import PhoneAuth, login_password, sha256_hex
from .firmware import FirmwareBoot
from .profiles import profile_for, shape_folder
from .serving import CGI_PREFIX, DROP, HttpServing
from .settings import SettingsServing
from .spec import REBOOT_FAULTS, default_version, fault_set
from .telephony import Telephony

# Connections a phone's socket may queue before accepting them; the kernel caps it at net.core.somaxconn. Enough for
# a burst of hundreds of clients at one phone; costs nothing until used, so 10,000 phones can each have it.
BACKLOG = 512


class Phone(HttpServing, SettingsServing, FirmwareBoot, Telephony):
    """One simulated phone. Create phones with ``Fleet.add``; read attributes, call the methods from any thread.

    Attributes: name, spec, index, host, port (the real one after start), faults (frozenset), passcode (current; the
    password of a session phone; P2), reboot_count (accepted REBOOT/RESET commands), version (P68; a firmware upgrade
    changes it), mac, profile (the recorded facts of its model and version), settings_store (its P-values).
    """

    def __init__(self, fleet, spec, index, host):
        super().__init__(fleet, spec, index)
        self.host = host
        self.port = int(spec.port) if spec.port is not None else fleet.port
        self.passcode = spec.passcode
        self.reboot_count = 0
        self.version = spec.version or default_version(spec.model)
        position = index + 1
        self.mac = (spec.mac or '00:0B:82:%02X:%02X:%02X' % ((position >> 16) & 0xff, (position >> 8) & 0xff, position & 0xff)).upper()
        self.auth = PhoneAuth(self)
        self.profile = profile_for(spec.model, self.version, spec.settings_form)
        self.settings_store = self._build_settings()
        self._firmware_init()
        self._pushes = set()          # Action URL pushes in flight
        self._latency = float(spec.latency)
        self._power = 'up'            # up | saving | down
        self._server = None
        self._conns = set()
        self._cycle = None            # task of a running reboot cycle
        self._listen_lock = asyncio.Lock()

    def __repr__(self):
        return '<Phone %s %s:%s %s>' % (self.name, self.host, self.port, self.state)

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
    def shape_folder(self):
        """The recordings (tests/fixtures) whose answer shapes this phone gives: its model's, for its ``firmware``."""
        return shape_folder(self.profile.folder, self.spec.firmware)

    @property
    def in_reboot(self):
        """True from an accepted REBOOT/RESET until the accounts registered again (or the cycle gave up)."""
        return self._cycle is not None

    @property
    def locked(self):
        return self.auth.locked

    @property
    def latency(self):
        return self._latency

    @property
    def origin(self):
        """``scheme://host:port``: what a session phone wants in Origin (and Referer) of a form POST."""
        return '%s://%s:%d' % (self.scheme, self.host, self.port)

    def url(self, function, passcode=True, **params):
        """URL of a CTI call on this phone. passcode: True = the current one (none on a session phone, which does not
        speak that dialect), None/False = none, or a string to send."""
        query = {}
        if passcode is True and not self.spec.session_dialect:
            query['passcode'] = self.passcode
        elif passcode and passcode is not True:
            query['passcode'] = passcode
        query.update(params)
        name = function if function.startswith('api-') else 'api-' + function
        return self.path_url(CGI_PREFIX + name, **query)

    def path_url(self, path, **params):
        """URL of any path on this phone (``/cgi-bin/dologin``, ``/json/configs/model.define.js``...)."""
        return '%s%s%s' % (self.origin, path, ('?' + urlencode(params)) if params else '')

    def login_session(self, password=None, username=None):
        """A ``requests.Session`` logged in to this phone's web server (access + dologin, or the plain dologin of
        ``session_plain``): the CTI session of a session phone, the settings session of any phone.

        It sends Referer and Origin on every request and the ``sid`` cookie; ``session.login`` holds dologin's answer
        body. Raises RuntimeError when the login is refused (the answer is in the message; never retried).
        """
        import requests  # only tests log in; the simulator itself does not need requests

        password = self.passcode if password is None else password
        username = self.spec.username if username is None else username
        session = requests.Session()
        session.trust_env = False
        session.headers.update(Referer=self.origin + '/', Origin=self.origin)
        if self.spec.auth != 'session_plain':
            nonce = session.post(self.path_url('/cgi-bin/access'), data={'access': sha256_hex(username)}, timeout=10).json()['body']
            password = login_password(password, nonce)
        answer = session.post(self.path_url('/cgi-bin/dologin'), data={'username': username, 'password': password}, timeout=10).json()
        if answer.get('response') != 'success':
            session.close()
            raise RuntimeError('%s refused the login: %s' % (self.name, answer))
        session.cookies.set('sid', answer['body']['sid'])
        session.login = answer['body']
        return session

    def set_fault(self, fault):
        """Replace the phone's faults (a name, a list of names, or None for a healthy phone)."""
        fault_set(fault)
        return self.fleet.call(self._set_fault, fault)

    def set_latency(self, seconds):
        self._latency = max(0.0, float(seconds))

    def end_sessions(self, cause='replaced'):
        """End every web session of the phone now, as a second login elsewhere (``replaced``, fw 1.0.3.35) or an idle
        timeout (``expired``) does; the next request with an ended session gets the 401 it would get."""
        return self.fleet.call(self.auth._end_sessions, cause)  # pylint: disable=protected-access

    def set_registered(self, registered=True, account=None):
        """Register (or unregister) every configured account, or the one with id ``account``; sticks across reboots."""
        return self.fleet.call(self._set_registered, bool(registered), account)

    def power_on(self):
        """Bring a phone back that stayed down (``never_back``): listen, then register after register_delay."""
        return self.fleet.call(self._power_on)

    # ----- state changes asked from outside (event loop thread)

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
        old, new = self.faults, fault_set(fault)
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
        for task in list(self._pushes):
            task.cancel()
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
            await self._boot_firmware()
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
        self.auth.reset()
        if request == 'RESET':
            self.passcode = self.spec.factory_passcode
            self.auth.factory_reset()
            for account in self._accounts:
                account.update(sip_server='', sip_id='', name='', register=True, reg=0)
            self.settings_store = self._build_settings(factory=True)
            self._firmware_init()
        self._emit('down', request=request)

    async def _come_up(self, request):
        self._power = 'up'
        await self._sync_listen()
        self._emit('up', request=request)
        if request == 'RESET':
            self._emit('reset_done')
        self._notify('setup_completed')
        if self.faults & {'back_unregistered', 'unregistered'}:
            return
        await asyncio.sleep(float(self.spec.register_delay))
        if not self.faults & {'back_unregistered', 'unregistered'}:
            self._register('boot')

    async def _power_on_task(self):
        try:
            await self._boot_firmware()
            await self._come_up('power_on')
        finally:
            if self._cycle is asyncio.current_task():
                self._cycle = None

    def _power_on(self):
        if self._power != 'down' or self._cycle is not None:
            return False
        self._cycle = self.fleet.loop.create_task(self._power_on_task())
        return True

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
        self._notify('reboot')
        if 'no_down' not in faults:
            if self._cycle is not None:
                self._cycle.cancel()
            # Saving from the moment the command is accepted, not from when the task first runs:
            # a client holding the answer must see ``rebooting``, and a second REBOOT is ignored.
            self._power = 'saving'
            self._cycle = self.fleet.loop.create_task(self._reboot_cycle(request))
        if 'drop_on_reboot' in faults:
            return DROP
        return answer

    # ----- Action URL pushes

    def _notify(self, event, **values):
        """Push ``event`` to its Action URL, if one is set, without waiting for the delivery."""
        template = self.spec.action_urls.get(event)
        if template is None or not self.fleet.running or self._power == 'down':
            return
        values.update(mac=self.mac.replace(':', '').lower(), phone_ip=self.host, ip=self.host, model=self.spec.model,
                      firmware=self.version)
        task = self.fleet.loop.create_task(push.send(self, event, push.render(template, values)))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)
