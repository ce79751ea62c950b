"""How a simulated phone serves one HTTP request: faults first, then the route, the dialect's checks, the answer."""

import asyncio
import socket
import struct
from urllib.parse import parse_qsl, urlsplit

from .http_io import (HTML_TYPE, KEEP_ALIVE_IDLE, LOGIN_PAGE, MAX_BODY, READ_TIMEOUT, BadRequest, deliver, form_params,
                      html_page, huge_body_chunks, json_bytes, read_request, response_head)
from .profiles import content_type, model_define, settings_store
from .settings import SETTINGS_DROP, SETTINGS_ENDPOINTS
from .spec import COMMAND_FUNCTIONS, DELIVERY_FAULTS, FUNCTIONS, RESPONSE_FAULTS

SECRET_PARAMS = ('passcode', 'password', 'sid')
CGI_PREFIX = '/cgi-bin/'
MODEL_JS_PATH = '/json/configs/model.define.js'
MODEL_JS_TYPE = 'application/javascript'
SESSION_ENDPOINTS = ('access', 'dologin', 'dologout')

DROP = object()          # handler result: close the connection without an answer


def _methods(function):
    """The HTTP methods a path takes: CTI GET or POST, the login forms POST, the settings endpoints their own."""
    if function in FUNCTIONS:
        return ('GET', 'POST')
    if function in SETTINGS_ENDPOINTS:
        return SETTINGS_ENDPOINTS[function][1]
    return ('POST',)


class HttpServing:
    """The HTTP side of ``Phone`` (see phone.py for the state it works on). Runs on the event loop thread."""

    async def _on_connection(self, reader, writer):
        transport = writer.transport
        self._conns.add(transport)
        try:
            first = True
            while await self._serve(reader, writer, first):  # HTTP/1.1 keep-alive: the next request, if any
                first = False
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # the fleet stops: end this connection quietly (asyncio would print the cancellation as an error)
        finally:
            self._conns.discard(transport)
            transport.close()

    def _log_request(self, ctx, status, **extra):
        self._emit('request', status=status, **ctx, **extra)

    async def _answer(self, conn, ctx, status, ctype, body, length=None, **extra):
        """Send one answer: ``body`` is bytes, or chunks of ``length`` bytes in all. A delivery fault shapes how."""
        writer = conn[1]
        delivery = next((name for name in DELIVERY_FAULTS if name in self.faults), None)
        if delivery is not None:
            extra['delivery'] = delivery
            extra.setdefault('fault', delivery)
        if isinstance(body, bytes):
            body, length = (body,), len(body)
        if delivery is not None:
            conn[2] = False  # a wedged web server does not keep the connection for more
        head = response_head(status, ctype, length, close=not conn[2])
        # Logged before the bytes leave: a client that has its answer must find the request in the log.
        self._log_request(ctx, status, **extra)
        sent = await deliver(writer, head, body, delivery, float(self.spec.drip_interval))
        total = len(head) + length
        if sent < total:
            conn[2] = False
            self._emit('answer_cut', fault=extra.get('fault'), status=status, sent=sent, total=total)

    async def _read(self, conn, ctx, first=True):
        """Read the request; return (method, target, headers, body, length header), or None when it was answered
        or there is none (the client closed a kept-alive connection, or left it idle for KEEP_ALIVE_IDLE)."""
        reader = conn[0]
        try:
            async with asyncio.timeout(READ_TIMEOUT if first else KEEP_ALIVE_IDLE):
                request = await read_request(reader)
                if request is None:
                    return None
                method, target, headers = request
                length = headers.get('content-length')
                body = b''
                if length is not None:
                    if not length.isdigit():
                        raise BadRequest()
                    if int(length) > MAX_BODY:
                        ctx['method'] = method
                        await self._answer(conn, ctx, 413, HTML_TYPE, html_page(413, 'Payload Too Large'))
                        return None
                    if int(length):
                        body = await reader.readexactly(int(length))
        except (BadRequest, ValueError, asyncio.LimitOverrunError):
            await self._answer(conn, ctx, 400, HTML_TYPE, html_page(400, 'Bad Request'))
            return None
        return method, target, headers, body, length

    async def _serve(self, reader, writer, first=True):
        """Read and answer one request; True when the connection stays open for the next one."""
        conn = [reader, writer, False, b'']  # keep the connection after this answer (3rd), the request body (4th)
        ctx = {'function': None, 'method': None, 'path': None, 'params': {}, 'auth': None}
        request = await self._read(conn, ctx, first)
        if request is None:
            return False
        method, target, headers, body, length = request
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        function = parts.path[len(CGI_PREFIX):] if parts.path.startswith(CGI_PREFIX) else None
        if method != 'PUT' and (self.spec.session_dialect or not (function or '').startswith('api-')):
            # A form; a passcode phone never reads the body of a CTI call (as before); a PUT carries JSON, not a form.
            params.update(form_params(headers, body))
        # Never a secret in the log: no passcode, password or sid, and no P-value (a settings write's values).
        ctx.update(function=function, method=method, path=parts.path,
                   params={key: value for key, value in params.items()
                           if key not in SECRET_PARAMS and settings_store.key_number(key) is None})
        conn[3] = body

        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if self._power == 'down':
            return False  # went dark while this request waited: the connection just dies
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
        if method not in ('GET', 'POST', 'PUT'):
            await self._answer(conn, ctx, 405, HTML_TYPE, html_page(405, 'Method Not Allowed'))
            return
        if method in ('POST', 'PUT') and length is None:
            await self._answer(conn, ctx, 411, HTML_TYPE, html_page(411, 'Length Required'))
            return
        ctype = content_type(self.shape_folder)
        fault = next((name for name in RESPONSE_FAULTS if name in faults), None)
        if fault == 'huge_body':
            size = int(self.spec.huge_body_bytes)
            await self._answer(conn, ctx, 200, ctype, huge_body_chunks(size), length=size, fault=fault)
            return
        if fault is not None:
            status, fault_type, answer = self._fault_answer(fault, ctype)
            await self._answer(conn, ctx, status, fault_type, answer, fault=fault)
            return
        conn[2] = self.spec.keep_alive and headers.get('connection', '').lower() != 'close'
        await self._route(conn, ctx, method, headers, params, parts.path, function, ctype)
        return conn[2]

    def _known_path(self, function):
        """CTI functions, the web login (every phone: settings need it, cti-api.md section 6), and the settings
        endpoints of the phone's wire form."""
        if function in FUNCTIONS or function in SESSION_ENDPOINTS:
            return True
        return function in SETTINGS_ENDPOINTS and self._speaks_settings(function)

    async def _route(self, conn, ctx, method, headers, params, path, function, ctype):
        session_phone = self.spec.session_dialect
        if path == MODEL_JS_PATH and self.spec.model_js:
            await self._answer(conn, ctx, 200, MODEL_JS_TYPE, json_bytes(self._model_define()))
            return
        if not self._known_path(function):
            await self._answer(conn, ctx, 404, HTML_TYPE, html_page(404, 'Not Found', 'The requested URL was not found.'))
            return
        web_page = function not in FUNCTIONS
        if method not in _methods(function):
            await self._answer(conn, ctx, 405, HTML_TYPE, html_page(405, 'Method Not Allowed'))
            return
        if method in ('POST', 'PUT') and (session_phone or web_page) and not self._same_origin(headers):
            # The web server's CSRF check comes before anything else (cti-api.md section 5).
            await self._answer(conn, ctx, 403, HTML_TYPE, html_page(403, 'Forbidden'))
            return
        if function in SESSION_ENDPOINTS:
            await self._session_endpoint(conn, ctx, method, headers, params, function, ctype)
            return
        if function in SETTINGS_ENDPOINTS:
            answer = self._settings_answer(function, method, headers, params, conn[3], ctx, ctype)
            if answer is SETTINGS_DROP:
                self._log_request(ctx, None, dropped='cve_2026_2329')
                conn[2] = False
                conn[1].transport.abort()
                return
            await self._answer(conn, ctx, *answer)
            return
        refused = self._cti_refused((conn[1].get_extra_info('peername') or ('',))[0])
        if refused is not None:
            await self._answer(conn, ctx, 403, HTML_TYPE, html_page(403, 'Forbidden', 'Action URI is disabled or this address is not allowed.'),
                               refused=refused)
            return
        if session_phone:
            auth, denial = self.auth.check_session(headers, params, ctype)
        else:
            auth, denial = self.auth.authenticate(params, function, ctype)
        ctx['auth'] = auth
        if denial is not None:
            await self._answer(conn, ctx, *denial)
            return
        if function in COMMAND_FUNCTIONS:
            self._emit('command', function=function, params=dict(ctx['params']))
        result = getattr(self, '_api_' + function[4:])(params)
        if result is DROP:
            self._log_request(ctx, None, fault='drop_on_reboot')
            conn[2] = False
            conn[1].transport.close()
            return
        await self._answer(conn, ctx, 200, ctype, json_bytes(result))

    async def _session_endpoint(self, conn, ctx, method, headers, params, function, ctype):
        """access, dologin, dologout (POST only: they are forms; the route checked the method)."""
        if function == 'access':
            await self._answer(conn, ctx, 200, ctype, json_bytes(self.auth.access(params)))
        elif function == 'dologin':
            auth, answer = self.auth.login(params, ctype)
            ctx['auth'] = auth
            await self._answer(conn, ctx, *answer)
        else:
            await self._answer(conn, ctx, 200, ctype, json_bytes(self.auth.logout(headers, params)))

    def _same_origin(self, headers):
        """Origin is the phone's own scheme://host[:port] and Referer a URL on it (both headers are needed)."""
        origins = {self.origin}
        if self.port == (443 if self.spec.tls else 80):
            origins.add('%s://%s' % (self.scheme, self.host))
        origin, referer = headers.get('origin', ''), headers.get('referer', '')
        return origin in origins and any(referer == item or referer.startswith(item + '/') for item in origins)

    def _model_define(self):
        """/json/configs/model.define.js as recorded (a WP826's has oem and vendor fields; older firmware lacks them)."""
        return model_define(self.shape_folder, self.spec.model, len(self._accounts), len(self._lines))

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
