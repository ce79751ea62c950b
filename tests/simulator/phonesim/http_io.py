"""The HTTP/1.1 side of a simulated phone: reading a request head, the body cap, framing an answer."""

import json

CONTENT_TYPES = {'doc': 'application/json', 'new': 'text/plain;charset=UTF-8'}
HTML_TYPE = 'text/html; charset=UTF-8'
REASONS = {200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
           405: 'Method Not Allowed', 411: 'Length Required', 413: 'Payload Too Large', 500: 'Internal Server Error'}

READ_TIMEOUT = 30.0      # seconds to receive a whole request head (and body)
MAX_BODY = 1024 * 1024


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


def response_head(status, ctype, length):
    """Status line and headers of an answer; every answer closes its connection."""
    return ('HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % (
        status, REASONS.get(status, 'Unknown'), ctype, length)).encode('latin-1')


def json_bytes(obj):
    return json.dumps(obj, separators=(',', ':')).encode('utf-8')
