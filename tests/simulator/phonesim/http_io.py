"""The HTTP/1.1 side of a simulated phone: reading a request head and its form, the body cap, framing an answer and
sending it (at once, streamed from a small buffer, or dripped one byte at a time)."""

import asyncio
import itertools
import json
from urllib.parse import parse_qsl

CONTENT_TYPES = {'doc': 'application/json', 'new': 'text/plain;charset=UTF-8'}
HTML_TYPE = 'text/html; charset=UTF-8'
REASONS = {200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
           405: 'Method Not Allowed', 411: 'Length Required', 413: 'Payload Too Large', 500: 'Internal Server Error'}

READ_TIMEOUT = 30.0      # seconds to receive a whole request head (and body)
KEEP_ALIVE_IDLE = 5.0    # seconds a kept-alive connection may wait for its next request
MAX_BODY = 1024 * 1024
FORM_TYPE = 'application/x-www-form-urlencoded'

CHUNK = 64 * 1024        # a streamed body leaves in pieces of this size, all cut from one buffer
_FILLER = b'x' * CHUNK
HUGE_PREFIX = b'{"response":"success","body":"'
HUGE_SUFFIX = b'"}'


def html_page(status, title, text=''):
    return ('<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n'
            % (status, title, title, text)).encode('utf-8')


LOGIN_PAGE = (b'<!DOCTYPE html>\n<html><head><title>Grandstream Device Configuration</title></head>\n'
              b'<body><form action="/cgi-bin/dologin" method="post"><input type="password" name="password">'
              b'<input type="submit" value="Login"></form></body></html>\n')


class BadRequest(Exception):
    pass


async def read_request(reader):
    """Read a request head; return (method, target, headers) or None on a clean EOF."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode('latin-1').split()
    if len(parts) != 3 or not parts[2].startswith('HTTP/'):
        raise BadRequest()
    headers = {}
    for dummy in range(100):
        raw = await reader.readline()
        if raw in (b'\r\n', b'\n', b''):
            return parts[0].upper(), parts[1], headers
        name, sep, value = raw.decode('latin-1').partition(':')
        if not sep:
            raise BadRequest()
        headers[name.strip().lower()] = value.strip()
    raise BadRequest()


def response_head(status, ctype, length, close=True):
    """Status line and headers of an answer; ``close``: the phone closes the connection after it."""
    return ('HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n' % (
        status, REASONS.get(status, 'Unknown'), ctype, length, 'close' if close else 'keep-alive')).encode('latin-1')


def json_bytes(obj):
    return json.dumps(obj, separators=(',', ':')).encode('utf-8')


def form_params(headers, body):
    """The fields of a urlencoded form body (a body without Content-Type counts as a form, as browsers send it)."""
    if not body or FORM_TYPE not in headers.get('content-type', FORM_TYPE):
        return {}
    return dict(parse_qsl(body.decode('utf-8', 'replace'), keep_blank_values=True))


def huge_body_chunks(total):
    """A JSON answer of exactly ``total`` bytes (a success with one very long string), produced piece by piece."""
    yield HUGE_PREFIX
    filler = total - len(HUGE_PREFIX) - len(HUGE_SUFFIX)
    while filler > 0:
        size = min(filler, CHUNK)
        yield _FILLER if size == CHUNK else _FILLER[:size]
        filler -= size
    yield HUGE_SUFFIX


def _client_gone(writer):
    # Not reader.at_eof(): a client may half-close after its request (printf ... | nc) and still read the answer.
    # A client that closed for good makes a write fail, and the transport is closing from then on.
    return writer.transport.is_closing()


async def deliver(writer, head, chunks, drip=None, interval=1.0):
    """Send an answer's head and body chunks; return how many bytes went out (fewer when the client left first).

    ``drip``: None sends as fast as the client reads (flow control keeps at most a chunk or two buffered);
    ``drip`` sends the head at once, then the body one byte per ``interval`` seconds; ``drip_headers`` drips every
    byte, status line and headers included.
    """
    sent = 0
    try:
        if drip == 'drip_headers':
            chunks = itertools.chain((head,), chunks)
        else:
            writer.write(head)
            await writer.drain()
            sent = len(head)
        for chunk in chunks:
            if not drip:
                if _client_gone(writer):
                    return sent
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                continue
            for index in range(len(chunk)):
                if sent:
                    await asyncio.sleep(interval)
                if _client_gone(writer):
                    return sent
                writer.write(chunk[index:index + 1])
                await writer.drain()
                sent += 1
    except ConnectionError:
        pass
    return sent
