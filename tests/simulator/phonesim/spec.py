"""What describes a simulated phone: the PhoneSpec fields, their validation, and the names the simulator knows
(faults, CTI functions, key tokens, call states)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from urllib.parse import urlsplit

from .profiles import settings_store

LOOPBACK = ipaddress.IPv4Network('127.0.0.0/8')

FIRMWARES = ('doc', 'new')
AUTH_STYLES = ('http401', 'body')
# passcode: ?passcode= on every CTI call (cti-api.md section 1); session: the web-session login with sha256 and a
# nonce (section 5); session_plain: the older GXP login that posts the plain password.
AUTH_DIALECTS = ('passcode', 'session', 'session_plain')
# Settings wire forms (cti-api.md section 6); ``none``: the phone has no settings endpoints at all.
SETTINGS_FORMS = ('form', 'json', 'none')
ROLES = ('admin', 'user')

# Firmware version a model reports by default (model name prefix -> version), longest prefix first.
MODEL_VERSIONS = (('GRP26', '1.0.5.67'), ('WP8', '1.0.3.35'), ('GXP16', '1.0.7.81'), ('GXP21', '1.0.9.135'))
FALLBACK_VERSION = '1.0.5.67'
MAC_PATTERN = re.compile(r'^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$')

# Action URL events a simulated phone pushes (README.md, "Event pushes").
PUSH_EVENTS = ('setup_completed', 'registered', 'unregistered', 'incoming_call', 'outgoing_call', 'established_call',
               'terminated_call', 'reboot')

# Line states (cti-api.md section 3). Everything but idle means "the line is in use".
CALL_STATES = ('ringing', 'connected', 'onhold', 'dialing', 'calling', 'failed')
ENDABLE_STATES = frozenset(('connected', 'onhold', 'dialing', 'calling', 'failed'))

# Faults, grouped by where they act.
CONNECTION_FAULTS = ('down', 'hang', 'reset')
RESPONSE_FAULTS = ('not_found', 'forbidden_403', 'forbidden_body', 'http500', 'html', 'garbage',
                   'wrong_shape', 'wrong_shape_list', 'wrong_body', 'huge_body')
DELIVERY_FAULTS = ('drip_headers', 'drip')   # how the bytes of whatever answer leave, not what they say
REBOOT_FAULTS = ('never_back', 'back_unregistered', 'no_down', 'drop_on_reboot')
OTHER_FAULTS = ('unauthorized_body', 'unregistered', 'wrong_passcode')
FAULTS = frozenset(CONNECTION_FAULTS + RESPONSE_FAULTS + DELIVERY_FAULTS + REBOOT_FAULTS + OTHER_FAULTS)

FUNCTIONS = ('api-get_accounts', 'api-get_phone_status', 'api-get_line_status', 'api-phone_operation',
             'api-send_key', 'api-sys_operation', 'api-make_call')
COMMAND_FUNCTIONS = frozenset(('api-phone_operation', 'api-send_key', 'api-sys_operation', 'api-make_call'))

KEY_TOKENS = frozenset(
    [str(digit) for digit in range(10)]
    + ['STAR', 'POUND', '#', 'SEND', 'OK', 'UP', 'DOWN', 'LEFT', 'RIGHT', 'ONHOOK', 'OFFHOOK', 'LOCK', 'UNLOCK',
       'SPEAKER', 'VUP', 'VDOWN', 'MUTE', 'HOLD', 'CONF', 'XFER']
    + ['MPK%d' % number for number in range(1, 49)]
)
DIAL_CHARS = dict([(str(digit), str(digit)) for digit in range(10)] + [('STAR', '*'), ('POUND', '#'), ('#', '#')])


def check_loopback(address, what='address'):
    """Return an IPv4Address inside 127.0.0.0/8, or raise ValueError."""
    try:
        ip = ipaddress.IPv4Address(str(address).split('/', 1)[0].strip())
    except ValueError as exc:
        raise ValueError('%s %r is not an IPv4 address' % (what, address)) from exc
    if ip not in LOOPBACK:
        raise ValueError('%s %s is outside 127.0.0.0/8: the simulator only uses loopback addresses' % (what, ip))
    return ip


def fault_set(value):
    """Normalise a fault spec (None, 'name', 'a,b' or a list) to a frozenset of known fault names."""
    if value is None or value == '':
        return frozenset()
    if isinstance(value, str):
        items = [item.strip() for item in value.split(',') if item.strip()]
    else:
        items = [str(item).strip() for item in value]
    unknown = sorted(set(items) - FAULTS)
    if unknown:
        raise ValueError('unknown fault(s) %s; known: %s' % (', '.join(unknown), ', '.join(sorted(FAULTS))))
    return frozenset(items)


def call_list(value):
    """Normalise the ``call`` spec (None, a dict or a list of dicts) to a list of complete dicts."""
    if value is None:
        return []
    calls = [value] if isinstance(value, dict) else list(value)
    result = []
    for call in calls:
        if not isinstance(call, dict):
            raise ValueError('call must be a mapping, got %r' % (call,))
        unknown = set(call) - {'line', 'state', 'remotenumber', 'remotename', 'ends_after'}
        if unknown:
            raise ValueError('unknown call key(s): %s' % ', '.join(sorted(unknown)))
        state = call.get('state', 'connected')
        if state not in CALL_STATES:
            raise ValueError('call state %r is not one of %s' % (state, ', '.join(CALL_STATES)))
        ends_after = call.get('ends_after')
        result.append({
            'line': int(call.get('line', 1)),
            'state': state,
            'remotenumber': str(call.get('remotenumber', '2001')),
            'remotename': str(call.get('remotename', '')),
            'ends_after': None if ends_after is None else float(ends_after),
        })
    return result


def default_version(model):
    """The firmware version a model reports when the spec gives none."""
    return next((version for prefix, version in MODEL_VERSIONS if str(model).upper().startswith(prefix)), FALLBACK_VERSION)


def check_action_urls(urls, what):
    """Validate an ``action_urls`` mapping (event -> URL template); the target must be http on a loopback address.

    Returns a plain dict without the disabled (None) entries.
    """
    if urls is None:
        return {}
    if not isinstance(urls, dict):
        raise ValueError('%s: action_urls must be a mapping of event to URL, got %r' % (what, urls))
    checked = {}
    for event, url in urls.items():
        if event not in PUSH_EVENTS:
            raise ValueError('%s: action_urls: unknown event %r; known: %s' % (what, event, ', '.join(PUSH_EVENTS)))
        if url is None:
            continue
        parts = urlsplit(str(url))
        if parts.scheme != 'http':
            raise ValueError('%s: action_urls[%s]: %r must be an http:// URL' % (what, event, url))
        if '$' in parts.netloc or not parts.hostname:
            raise ValueError('%s: action_urls[%s]: %r needs a literal host (variables go in the path or query)'
                             % (what, event, url))
        host = '127.0.0.1' if parts.hostname == 'localhost' else parts.hostname
        check_loopback(host, '%s: action_urls[%s]: target' % (what, event))
        try:
            parts.port  # pylint: disable=pointless-statement  # urlsplit checks the port only when asked
        except ValueError:
            raise ValueError('%s: action_urls[%s]: %r has a bad port' % (what, event, url)) from None
        checked[event] = str(url)
    return checked


def spec_settings(value, what):
    """Validate a spec's ``settings`` mapping: ``{'P30': '...', '238': 2, 'P4503': None}`` -> ``{'30': '...', '238': '2',
    '4503': None}`` (None: the phone does not know that key)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError('%s: settings must be a mapping of P-value to value, got %r' % (what, value))
    checked = {}
    for key, item in value.items():
        number = settings_store.key_number(key)
        if number is None:
            raise ValueError('%s: settings: %r is not a P-value (P30, 30)' % (what, key))
        if isinstance(item, bool) or not isinstance(item, (str, int, float, type(None))):
            raise ValueError('%s: settings[%s] must be a string (or a number), got %r' % (what, key, item))
        checked[number] = None if item is None else str(item)
    return checked


@dataclasses.dataclass
class PhoneSpec:
    """Everything that describes one simulated phone. Durations are seconds (float).

    name               inventory name (required)
    passcode           CTI passcode; None: the fleet default, else ``pw-<name>``
    factory_passcode   passcode after a RESET (GRP26xx: the sticker; old GXP: ``admin``)
    site, model        inventory data (CSV/INI columns); model is not interpreted
    firmware           ``doc`` (documented shapes, application/json) or ``new`` (newer firmware shapes, text/plain)
    host               explicit loopback address; None: allocated from the fleet network
    port               explicit port; None: the fleet port (0 = ephemeral)
    auth_style         ``http401`` (HTTP 401 HTML page) or ``body`` (200 ``{"body": "unauthorized"}``)
    fault              None, a fault name, or a list of names (see FAULTS / README.md)
    latency            seconds added before each answer
    accounts           list of ``{sip_id, sip_server, name, register}``; None: account 1 = ``<1000+n>`` on sip_server
    account_count      accounts listed; None: 2 (doc) or 3 (new)
    line_count         lines listed; None: 3 (doc) or 4 (new)
    sip_server         server of the default account
    phone_status       force api-get_phone_status to answer this string (e.g. ``oncall``, ``weird``)
    call               a call present from the start: ``{line, state, remotenumber, remotename, ends_after}``
                       (ends_after: seconds after fleet start, None = never), or a list of them
    call_answer_after  a make_call/SEND call goes calling -> connected after this; None = never answered
    save_delay         REBOOT/RESET: seconds the phone keeps serving after answering
    down_time          seconds the phone stays dark
    register_delay     seconds after coming back until the accounts register
    lock_minutes       lockout length reported in ``lockTime``
    lock_seconds       real lockout length; None: lock_minutes * 60
    lock_threshold     consecutive wrong passcodes that lock the phone (the Nth answers ``locked``)
    inventory_vars     extra per-phone values for CSV columns / INI host variables
    tls                serve HTTPS with the fleet's ``tls_context`` (Fleet(tls_context=...)) instead of HTTP
    auth               ``passcode`` (``?passcode=`` on each call), ``session`` (access + dologin with sha256 and a
                       nonce, then ``Cookie: sid``) or ``session_plain`` (dologin with the plain password)
    username           the account a session login must name; its password is ``passcode``
    role               ``admin`` or ``user``: the role a session login reports (as sha256(role + sid))
    version            firmware version reported by dologin (``ver``); None: by model (GRP26xx 1.0.5.67, WP8xx 1.0.3.35,
                       GXP16xx 1.0.7.81, else 1.0.5.67)
    mac                MAC address reported by dologin; None: ``00:0B:82`` + the phone's position in the fleet
    default_password   the factory password is still set: dologin answers ``defaultAuth: true`` (also after a RESET)
    single_session     a second login ends the first session (fw 1.0.3.35; 1.0.1.87 keeps both: false)
    session_ttl        seconds a session may stay idle before it expires
    wrong_attempts_left  a wrong login says how many attempts are left (``wrong4``); false: plain ``wrong``
    model_js           serve ``/json/configs/model.define.js`` (no login); false: 404
    keep_alive         answer HTTP/1.1 requests on a kept-alive connection (idle 5 s); false: close after every answer
    drip_interval      seconds per byte for the ``drip`` and ``drip_headers`` faults
    huge_body_bytes    length of the ``huge_body`` answer
    action_urls        event -> URL template pushed by HTTP GET from the phone's own address (README.md)
    settings           P-values over the recorded defaults of the model: ``{P30: ntp.example.net, P238: 2}``; None
                       as a value: the phone does not know that key. Not the keys that mirror other fields (P2
                       passcode, P47/P35/P270 accounts, P68 version, P89 model, P67 mac)
    settings_form      ``form``, ``json`` or ``none``; None: by model and version (tests/fixtures/recorded.py PROFILES)
    cloud_managed      a cloud service (GDMS) owns provisioning: writes of the provisioning keys are dropped
    download_cfg       serve ``/cgi-bin/download_cfg``; None: as the model's recording says
    metaconfig_open    ``metaconfig_get`` answers without a login; None: as the model's recording says
    dhcp_firmware_path the firmware path DHCP option 66/43 offers; replaces P192 at boot while P145 is 1
    flash_time         seconds a firmware upgrade writes the flash before the phone reboots into it
    firmware_timeout   seconds a firmware fetch may take before the phone gives up and boots its old image
    allow_downgrade    an image older than the running firmware is flashed too (default: refused)
    """

    name: str
    passcode: str | None = None
    factory_passcode: str = 'admin'
    site: str = ''
    model: str = 'GRP2614'
    firmware: str = 'doc'
    host: str | None = None
    port: int | None = None
    auth_style: str = 'http401'
    fault: str | list | tuple | None = None
    latency: float = 0.0
    accounts: list | None = None
    account_count: int | None = None
    line_count: int | None = None
    sip_server: str = 'pbx.example.net'
    phone_status: str | None = None
    call: dict | list | None = None
    call_answer_after: float | None = 1.0
    save_delay: float = 0.3
    down_time: float = 1.0
    register_delay: float = 0.5
    lock_minutes: int = 5
    lock_seconds: float | None = None
    lock_threshold: int = 5
    inventory_vars: dict = dataclasses.field(default_factory=dict)
    tls: bool = False
    auth: str = 'passcode'
    username: str = 'admin'
    role: str = 'admin'
    version: str | None = None
    mac: str | None = None
    default_password: bool = False
    single_session: bool = True
    session_ttl: float = 600.0
    wrong_attempts_left: bool = True
    model_js: bool = True
    keep_alive: bool = True
    drip_interval: float = 1.0
    huge_body_bytes: int = 100 * 1024 * 1024
    action_urls: dict = dataclasses.field(default_factory=dict)
    settings: dict = dataclasses.field(default_factory=dict)
    settings_form: str | None = None
    cloud_managed: bool = False
    download_cfg: bool | None = None
    metaconfig_open: bool | None = None
    dhcp_firmware_path: str | None = None
    flash_time: float = 1.0
    firmware_timeout: float = 10.0
    allow_downgrade: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError('a phone needs a non-empty name')
        if self.firmware not in FIRMWARES:
            raise ValueError('%s: firmware %r is not one of %s' % (self.name, self.firmware, ', '.join(FIRMWARES)))
        if self.auth_style not in AUTH_STYLES:
            raise ValueError('%s: auth_style %r is not one of %s' % (self.name, self.auth_style, ', '.join(AUTH_STYLES)))
        fault_set(self.fault)
        calls = call_list(self.call)
        lines = self.line_count or (3 if self.firmware == 'doc' else 4)
        for call in calls:
            if not 1 <= call['line'] <= lines:
                raise ValueError('%s: call line %d does not exist (1..%d)' % (self.name, call['line'], lines))
        for key in ('latency', 'save_delay', 'down_time', 'register_delay'):
            if float(getattr(self, key)) < 0:
                raise ValueError('%s: %s must not be negative' % (self.name, key))
        if self.host is not None:
            check_loopback(self.host, '%s: host' % self.name)
        if self.port is not None and not 0 <= int(self.port) <= 65535:
            raise ValueError('%s: port %r out of range' % (self.name, self.port))
        if int(self.lock_threshold) < 1:
            raise ValueError('%s: lock_threshold must be at least 1' % self.name)
        if self.accounts is not None:
            for account in self.accounts:
                if not isinstance(account, dict) or set(account) - {'sip_id', 'sip_server', 'name', 'register'}:
                    raise ValueError('%s: accounts entries are mappings of sip_id, sip_server, name, register' % self.name)
        if self.auth not in AUTH_DIALECTS:
            raise ValueError('%s: auth %r is not one of %s' % (self.name, self.auth, ', '.join(AUTH_DIALECTS)))
        if self.role not in ROLES:
            raise ValueError('%s: role %r is not one of %s' % (self.name, self.role, ', '.join(ROLES)))
        if not isinstance(self.username, str) or not self.username:
            raise ValueError('%s: username must be a non-empty string' % self.name)
        if self.mac is not None and not MAC_PATTERN.match(str(self.mac)):
            raise ValueError('%s: mac %r is not six hex pairs separated by colons' % (self.name, self.mac))
        if float(self.session_ttl) <= 0:
            raise ValueError('%s: session_ttl must be positive' % self.name)
        if float(self.drip_interval) < 0:
            raise ValueError('%s: drip_interval must not be negative' % self.name)
        if int(self.huge_body_bytes) < 64:
            raise ValueError('%s: huge_body_bytes must be at least 64' % self.name)
        self.action_urls = check_action_urls(self.action_urls, self.name)
        self.settings = spec_settings(self.settings, self.name)
        if self.settings_form is not None and self.settings_form not in SETTINGS_FORMS:
            raise ValueError('%s: settings_form %r is not one of %s' % (self.name, self.settings_form, ', '.join(SETTINGS_FORMS)))
        for key in ('flash_time', 'firmware_timeout'):
            if float(getattr(self, key)) < 0:
                raise ValueError('%s: %s must not be negative' % (self.name, key))
        if self.dhcp_firmware_path is not None and not isinstance(self.dhcp_firmware_path, str):
            raise ValueError('%s: dhcp_firmware_path must be a string' % self.name)

    @property
    def session_dialect(self):
        """True for the web-session dialects (``session``, ``session_plain``)."""
        return self.auth != 'passcode'

    @property
    def lock_duration(self):
        """Seconds a lockout lasts."""
        return float(self.lock_seconds) if self.lock_seconds is not None else float(self.lock_minutes) * 60.0


SPEC_FIELDS = {field.name: field for field in dataclasses.fields(PhoneSpec)}


def field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING
