# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach one phone: :class:`CTIConnection` (address, scheme, port, dialect, credentials, timeout).

Python 3.8 syntax: module_utils may run on a jump host.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import AUTH_DIALECTS

# Authentication dialects (grandstream_auth): ?passcode= on every request (the CTI guide); the web-session login with
# the sha256 of password + nonce (WP8xx, newer GXP21xx); the same login with the plain password (older GXP firmware).
AUTH_PASSCODE, AUTH_SESSION, AUTH_SESSION_PLAIN = AUTH_DIALECTS
DEFAULT_USERNAME = 'admin'
DEFAULT_TIMEOUT = 10.0


class CTIConnection(object):
    """How to reach one phone.  ``name`` is how messages call it (the inventory name).

    ``passcode`` is the CTI passcode or, for the session dialects, the web password of ``username``.
    ``retry_refused``: try the password once more although this phone refused it before (credentials.py).
    """

    def __init__(self, host, passcode=None, port=None, scheme='http', validate_certs=True, ca_path=None,
                 timeout=DEFAULT_TIMEOUT, name=None, auth=AUTH_PASSCODE, username=None, retry_refused=False):
        if not host:
            raise ValueError('a phone address (host) is required')
        if scheme not in ('http', 'https'):
            raise ValueError('scheme must be http or https, not %r' % (scheme,))
        if auth not in AUTH_DIALECTS:
            raise ValueError('auth must be one of %s, not %r' % (', '.join(AUTH_DIALECTS), auth))
        self.host = str(host)
        self.passcode = passcode
        self.scheme = scheme
        self.port = int(port) if port else (443 if scheme == 'https' else 80)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self.name = name or self.host
        self.auth = auth
        self.username = username or DEFAULT_USERNAME
        self.retry_refused = bool(retry_refused)

    @property
    def label(self):
        """'gs0042 (10.1.4.42)' or '10.1.4.42:8080' when the name is the address."""
        address = self.host if self.port in (80, 443) else '%s:%d' % (self.host, self.port)
        if self.name in (self.host, address):
            return address
        return '%s (%s)' % (self.name, address)

    @property
    def address(self):
        """``host:port``: what identifies the phone on the network (ledgers, the memory of refused passwords)."""
        return '%s:%d' % (self.host, self.port)

    @property
    def origin(self):
        """``http://10.1.4.42`` or ``https://10.1.4.42:8443``, as a browser sends it in Origin and Referer."""
        host = '[%s]' % self.host if ':' in self.host else self.host
        default = 443 if self.scheme == 'https' else 80
        return '%s://%s' % (self.scheme, host) if self.port == default else '%s://%s:%d' % (self.scheme, host, self.port)

    @property
    def base_url(self):
        host = '[%s]' % self.host if ':' in self.host else self.host
        return '%s://%s:%d/cgi-bin/' % (self.scheme, host, self.port)

    @property
    def verify(self):
        """What the transport verifies the TLS certificate with: True, False, or a CA file."""
        return self.ca_path if (self.validate_certs and self.ca_path) else bool(self.validate_certs)

    def copy(self, **changes):
        fields = dict(host=self.host, passcode=self.passcode, port=self.port, scheme=self.scheme,
                      validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout, name=self.name,
                      auth=self.auth, username=self.username, retry_refused=self.retry_refused)
        fields.update(changes)
        return CTIConnection(**fields)

    def __repr__(self):
        # Never show the passcode, even in a debugger or a traceback.
        return 'CTIConnection(%s)' % self.label
