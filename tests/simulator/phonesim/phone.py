"""A simulated phone: its power and reboot cycle, its listening socket and how it serves one HTTP request."""

import asyncio
import socket
import struct
from urllib.parse import parse_qsl, urlencode, urlsplit

from .auth import PhoneAuth
from .http_io import (CONTENT_TYPES, HTML_TYPE, LOGIN_PAGE, MAX_BODY, READ_TIMEOUT, BadRequest, html_page, json_bytes,
                      read_request, response_head)
from .spec import COMMAND_FUNCTIONS, FUNCTIONS, REBOOT_FAULTS, RESPONSE_FAULTS, fault_set
from .telephony import Telephony

SECRET_PARAMS = ('passcode', 'password')
CGI_PREFIX = '/cgi-bin/'
BACKLOG = 512

_DROP = object()         # handler result: close the connection without an answer


class Phone(Telephony):
    """One simulated phone. Create phones with ``Fleet.add``; read attributes, call the methods from any thread.

    Attributes: name, spec, index, host, port (the real one after start), faults (frozenset), passcode (current),
    reboot_count (accepted REBOOT/RESET commands).
    """

    def __init__(self, fleet, spec, index, host):
        super().__init__(fleet, spec, index)
        self.host = host
        self.port = int(spec.port) if spec.port is not None else fleet.port
        self.passcode = spec.passcode
        self.reboot_count = 0
        self.auth = PhoneAuth(self)
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
    def in_reboot(self):
        """True from an accepted REBOOT/RESET until the accounts registered again (or the cycle gave up)."""
        return self._cycle is not None

    @property
    def locked(self):
        return self.auth.locked

    @property
    def latency(self):
        return self._latency

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
        fault_set(fault)
        return self.fleet.call(self._set_fault, fault)

    def set_latency(self, seconds):
        self._latency = max(0.0, float(seconds))

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
        self.auth.reset()
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
        # Logged before the bytes leave: a client that has its answer must find the request in the log.
        self._log_request(ctx, status, **extra)
        writer.write(response_head(status, ctype, len(body)) + body)
        await writer.drain()

    async def _serve(self, reader, writer):
        ctx = {'function': None, 'method': None, 'path': None, 'params': {}, 'auth': None}
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await read_request(reader)
                if request is None:
                    return
                method, target, headers = request
                length = headers.get('content-length')
                if length is not None:
                    if not length.isdigit():
                        raise BadRequest()
                    if int(length) > MAX_BODY:
                        ctx['method'] = method
                        await self._answer(writer, ctx, 413, HTML_TYPE, html_page(413, 'Payload Too Large'))
                        return
                    if int(length):
                        await reader.readexactly(int(length))
        except (BadRequest, ValueError, asyncio.LimitOverrunError):
            await self._answer(writer, ctx, 400, HTML_TYPE, html_page(400, 'Bad Request'))
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
            await self._answer(writer, ctx, 405, HTML_TYPE, html_page(405, 'Method Not Allowed'))
            return
        if method == 'POST' and length is None:
            await self._answer(writer, ctx, 411, HTML_TYPE, html_page(411, 'Length Required'))
            return
        ctype = CONTENT_TYPES[self.spec.firmware]
        fault = next((name for name in RESPONSE_FAULTS if name in faults), None)
        if fault is not None:
            status, fault_type, body = self._fault_answer(fault, ctype)
            await self._answer(writer, ctx, status, fault_type, body, fault=fault)
            return
        handler = getattr(self, '_api_' + function[4:], None) if function in FUNCTIONS else None
        if handler is None:
            await self._answer(writer, ctx, 404, HTML_TYPE, html_page(404, 'Not Found', 'The requested URL was not found.'))
            return
        auth, denial = self.auth.authenticate(params, function, ctype)
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
        await self._answer(writer, ctx, 200, ctype, json_bytes(result))

    def _fault_answer(self, fault, ctype):
        if fault == 'not_found':
            return 404, HTML_TYPE, html_page(404, 'Not Found', 'The requested URL was not found.')
        if fault == 'forbidden_403':
            return 403, HTML_TYPE, html_page(403, 'Forbidden', 'Action URI is disabled or this address is not allowed.')
        if fault == 'forbidden_body':
            return 200, ctype, json_bytes({'response': 'error', 'body': 'forbidden'})
        if fault == 'http500':
            return 500, HTML_TYPE, html_page(500, 'Internal Server Error')
        if fault == 'html':
            return 200, HTML_TYPE, LOGIN_PAGE
        if fault == 'garbage':
            return 200, ctype, b'\x00not json{'
        if fault == 'wrong_shape':
            return 200, ctype, json_bytes({'foo': 1})
        if fault == 'wrong_shape_list':
            return 200, ctype, json_bytes(['success', True])
        return 200, ctype, json_bytes({'response': 'success', 'body': {'unexpected': True}})  # wrong_body

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
