# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport of the CTI client (module_utils/cti_http.py) as the unit tests' fake phones give it: a subclass of
:class:`FakeTransportBase` answers ``get(url, params, ...)`` (and ``post(url, data, headers, ...)`` for the session
dialect) with a :class:`FakeResponse`, or raises what the network would: the helpers below."""

import json
import socket
import ssl

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_http import MAX_BODY, Answer, ExchangeFailed


class FakeResponse(object):
    def __init__(self, status=200, body=None, raw=None, content_type='text/plain;charset=UTF-8'):
        self.status_code = status
        self.headers = {'Content-Type': content_type}
        self.content = raw if raw is not None else json.dumps(body).encode()


def refused():
    """The phone's port is closed: nothing was sent."""
    return ExchangeFailed(ConnectionRefusedError(111, 'Connection refused'), sent=False)


def reset():
    """The phone dropped the connection after the request went out (a REBOOT that closes the connection)."""
    return ExchangeFailed(ConnectionResetError(104, 'Connection reset by peer'), sent=True)


def timed_out(answered=False):
    """The phone used up the whole timeout (no answer, or a dripping one)."""
    return ExchangeFailed(socket.timeout('timed out'), too_slow=True, answered=answered)


def tls_failure():
    """The phone's certificate is not trusted (a Grandstream private CA)."""
    cause = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate')
    return ExchangeFailed(cause, sent=False)


class FakeTransportBase(object):
    """The CTI client's transport: one ``exchange()`` per request, answered by the subclass's ``get``/``post``."""

    closed = False

    def exchange(self, method, url, timeout, verify=True, params=None, data=None, headers=None, max_body=MAX_BODY):
        if method == 'GET':
            response = self.get(url, params=params, timeout=timeout, verify=verify)
        else:
            response = self.post(url, params=params, data=data, headers=headers, timeout=timeout, verify=verify)
        if isinstance(response, BaseException):
            raise response
        if len(response.content) > max_body:
            raise ExchangeFailed(None, too_big=True, answered=True)
        return Answer(response.status_code, response.headers.get('Content-Type', ''), response.content)

    def post(self, url, params=None, data=None, headers=None, timeout=None, verify=None):
        raise AssertionError('this fake phone speaks the passcode dialect only (POST %s)' % url)

    def close(self):
        self.closed = True
