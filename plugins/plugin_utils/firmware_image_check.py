# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before any phone is touched: does each firmware image answer where the phones will fetch it?

A phone whose server, file or checksum fails boots its old image and says nothing (cti-api.md section 8), after a
reboot that cost its users a few minutes: a missing image is cheaper to find from the controller first.  One ``HEAD``
per image URL (a ranged ``GET`` of one byte when the server refuses ``HEAD``), never a redirect followed, with a total
deadline (a server that drips its answer is cut at the deadline) and a cap on what is read.  TFTP is not checked (a
warning says so).  Standard library only.
"""

import concurrent.futures
import http.client
import socket
import ssl
import threading
from urllib.parse import urlsplit

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import short_number

USER_AGENT = 'phonefleet.grandstream firmware image check'
BODY_CAP = 1024            # bytes read from a GET answer, whatever the server sends
TEXT_CAP = 120             # characters of a header from the server shown in a sentence
CHECKS_AT_ONCE = 8
_HEAD_REFUSED = (400, 403, 405, 501)   # servers (and signed-URL stores) that refuse HEAD but serve GET


class ImageCheck(object):
    """The answer for one image URL: ``ok`` and, when not, ``problem`` (a few words: ``HTTP 404 (not found)``)."""

    __slots__ = ('url', 'ok', 'problem')

    def __init__(self, url, ok, problem=None):
        self.url, self.ok, self.problem = url, ok, problem

    def __repr__(self):
        return 'ImageCheck(%s, %s)' % (self.url, 'ok' if self.ok else self.problem)


def _clean(value):
    text = ''.join(char if char.isprintable() else '?' for char in str(value or ''))
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + '...'


class _Exchange(object):
    """One request with a total deadline: a timer shuts the socket down when the deadline passes."""

    def __init__(self, url, timeout, validate_certs):
        parts = urlsplit(url)
        self.path = parts.path or '/'
        if parts.scheme == 'https':
            context = ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.timeout = timeout
        self.cut = False

    def _cut(self):
        self.cut = True
        sock = self.connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def request(self, method, headers):
        """(status, headers) of the answer; reads at most BODY_CAP bytes of a body.  Raises OSError/HTTPException."""
        timer = threading.Timer(self.timeout, self._cut)
        timer.daemon = True
        timer.start()
        try:
            self.connection.request(method, self.path, headers=dict(headers, **{'User-Agent': USER_AGENT}))
            answer = self.connection.getresponse()
            if method != 'HEAD':
                answer.read(BODY_CAP)
            return answer.status, answer
        finally:
            timer.cancel()
            self.connection.close()


def _ask(url, method, timeout, validate_certs):
    exchange = _Exchange(url, timeout, validate_certs)
    headers = {'Range': 'bytes=0-0'} if method == 'GET' else {}
    late = 'no complete answer within %s s' % short_number(timeout)
    try:
        answer = exchange.request(method, headers)
        # A socket shut at the deadline can look like the end of the headers: what was read then is not an answer.
        return (None, late) if exchange.cut else (answer, None)
    except ssl.SSLCertVerificationError as exc:
        return None, ('its certificate is not trusted (%s): add its CA to the controller, or turn image_validate_certs '
                      'off' % _clean(getattr(exc, 'verify_message', None) or exc))
    except (OSError, http.client.HTTPException) as exc:
        if exchange.cut or isinstance(exc, socket.timeout):
            return None, late
        return None, 'the server could not be reached (%s)' % _clean(getattr(exc, 'strerror', None) or exc.__class__.__name__)


def check_image(url, timeout=10.0, validate_certs=True):
    """An :class:`ImageCheck` for one image URL (http or https)."""
    answer, problem = _ask(url, 'HEAD', timeout, validate_certs)
    if answer is not None and answer[0] in _HEAD_REFUSED:
        answer, problem = _ask(url, 'GET', timeout, validate_certs)
    if answer is None:
        return ImageCheck(url, False, problem)
    status, headers = answer
    if status in (200, 206):
        if headers.getheader('Content-Length') == '0' and status == 200:
            return ImageCheck(url, False, 'HTTP 200 with an empty file')
        return ImageCheck(url, True)
    if 300 <= status < 400:
        return ImageCheck(url, False, 'HTTP %d, a redirect to %s, which phones may not follow: give the final location'
                          % (status, _clean(headers.getheader('Location')) or 'nowhere'))
    words = {404: 'not found', 410: 'gone', 401: 'a password is asked', 403: 'forbidden'}.get(status)
    return ImageCheck(url, False, 'HTTP %d%s' % (status, ' (%s)' % words if words else ''))


def check_images(urls, timeout=10.0, validate_certs=True):
    """``{url: ImageCheck}`` for every URL, a few at a time; each has its own deadline."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(CHECKS_AT_ONCE, len(urls))) as pool:
        checks = pool.map(lambda url: check_image(url, timeout, validate_certs), urls)
        return dict(zip(urls, checks))
