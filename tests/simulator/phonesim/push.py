"""Action URL pushes: a simulated phone tells an HTTP server what happened, by a GET sent from the phone's own
loopback address (as a real phone does from its IP). Targets are checked to be loopback when the spec is built
(spec.check_action_urls); a failed delivery is an event, never an error."""

import asyncio
import os
import re
from urllib.parse import quote, urlsplit

PUSH_TIMEOUT = 5.0       # seconds for connecting, sending and reading the status line

# The variables a template may use; the longest names come first so that one never eats the start of another.
VARIABLES = ('display_local', 'display_remote', 'active_user', 'active_host', 'phone_ip', 'firmware', 'call_id',
             'remote', 'local', 'model', 'mac', 'ip')
_VARIABLE = re.compile(r'\$(%s)' % '|'.join(VARIABLES))


def render(template, values):
    """``template`` with each ``$variable`` replaced by its URL-quoted value (empty when the event has none).
    A ``$word`` that is not a known variable stays as it is."""
    return _VARIABLE.sub(lambda match: quote(str(values.get(match.group(1), '')), safe=''), template)


async def send(phone, event, url):
    """GET ``url`` from the phone's address; log ``push`` (with the HTTP status) or ``push_failed`` (with why)."""
    parts = urlsplit(url)
    host = '127.0.0.1' if parts.hostname == 'localhost' else parts.hostname
    target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    request = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Grandstream %s %s\r\nAccept: */*\r\nConnection: close\r\n\r\n'
               % (target, parts.netloc, phone.spec.model, phone.version)).encode('latin-1', 'replace')
    writer = None
    try:
        async with asyncio.timeout(PUSH_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, parts.port or 80, local_addr=(phone.host, 0))
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
    except TimeoutError:
        phone._emit('push_failed', action=event, url=url, reason='timed out after %.0f s' % PUSH_TIMEOUT)
        return
    except OSError as exc:
        # asyncio's connect error says "Connect call failed (...)"; the errno text says why.
        phone._emit('push_failed', action=event, url=url, reason=os.strerror(exc.errno) if exc.errno else str(exc))
        return
    finally:
        if writer is not None:
            writer.close()
    words = status_line.decode('latin-1').split()
    if len(words) < 2 or not words[0].startswith('HTTP/') or not words[1].isdigit():
        phone._emit('push_failed', action=event, url=url, reason='no HTTP answer')
        return
    phone._emit('push', action=event, url=url, status=int(words[1]))
