"""A simulated phone's settings (P-values, cti-api.md sections 6-7): the store built from the recordings, the two
wire forms (``api.values.get``/``api.values.post``; ``config_get``/``config_update``/``metaconfig_get``), the optional
``download_cfg``, CVE-2026-2329 on old GXP16xx, and the Action URI switch and allowed list that gate CTI."""

import ipaddress
import json
import re

from .http_io import HTML_TYPE, html_page, json_bytes
from .profiles import profile_for, recorded, settings_store
from .spec import spec_settings

# Settings endpoint -> (wire form that has it, methods it takes). download_cfg belongs to no wire form: a spec flag.
SETTINGS_ENDPOINTS = {
    'api.values.get': ('form', ('POST',)),
    'api.values.post': ('form', ('POST',)),
    'config_get': ('json', ('GET',)),
    'config_update': ('json', ('PUT', 'POST')),   # POST: 501 and nothing changes
    'metaconfig_get': ('json', ('GET',)),
    'download_cfg': (None, ('GET',)),
}
SETTINGS_DROP = object()    # answer: close the connection without a word (the CVE's crash)

# The keys that mirror a phone's own state: getter(phone), setter(phone, value) or None (read-only). One table for
# every phone (the store calls it with its phone).
# pylint: disable=protected-access
BINDINGS = {
    '2': (lambda phone: phone.passcode, lambda phone, value: phone._set_admin_password(value)),
    '47': (lambda phone: phone._accounts[0]['sip_server'], lambda phone, value: phone._set_account_field('sip_server', value)),
    '35': (lambda phone: phone._accounts[0]['sip_id'], lambda phone, value: phone._set_account_field('sip_id', value)),
    '270': (lambda phone: phone._accounts[0]['name'], lambda phone, value: phone._set_account_field('name', value)),
    '68': (lambda phone: phone.version, None),
    '89': (lambda phone: phone.spec.model, None),
    '67': (lambda phone: phone.mac.replace(':', ''), None),
}
# pylint: enable=protected-access
BINDINGS_FIELDS = {'2': 'passcode', '47': 'accounts', '35': 'accounts', '270': 'accounts', '68': 'version', '89': 'model',
                   '67': 'mac'}


def allowed_by(allowed_list, peer):
    """True when the Action URI allowed list (P32052) lets ``peer`` in: empty or ``any`` lets everyone in."""
    entries = [item for item in re.split(r'[\s,;]+', allowed_list.strip()) if item]
    if not entries or any(item.lower() == 'any' for item in entries):
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for item in entries:
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


class SettingsServing:
    """The settings side of ``Phone``. Runs on the event loop thread, except the public accessors."""

    # ----- building

    def _build_settings(self, factory=False):
        """The store: the recording's base values (shared), the spec's ``settings`` over them (not after a RESET:
        ``factory``), and the keys that mirror the phone's own state (BINDINGS)."""
        profile = self.profile
        overrides = {}
        if not factory:
            for number, value in spec_settings(self.spec.settings, self.name).items():
                if number in BINDINGS:
                    raise ValueError('%s: settings: P%s mirrors the phone\'s %s: set that field instead'
                                     % (self.name, number, BINDINGS_FIELDS[number]))
                overrides[number] = value
        return settings_store.SettingsStore(profile.start[bool(self.spec.tls)], profile.aliases, BINDINGS, self, profile.secrets,
                                            profile.read_only, overrides)

    def _set_admin_password(self, value):
        self.passcode = value
        self.auth.default_auth = False

    def _set_account_field(self, field, value):
        account = self._accounts[0]
        account[field] = value
        if field == 'sip_id' and not value:
            self._unregister('settings', only=account['id'])
        elif field == 'sip_id' and account['register'] and self._power == 'up' and 'unregistered' not in self.faults:
            self._register('settings')

    def _upgrade_profile(self):
        """After a firmware change: the recordings of the new version (wire form, aliases); values stay, keys the new
        firmware adds get their base value."""
        self.profile = profile_for(self.spec.model, self.version, self.spec.settings_form)
        store = self.settings_store
        store.aliases, store.secrets, store.read_only = self.profile.aliases, self.profile.secrets, self.profile.read_only
        for number, value in self.profile.start[bool(self.spec.tls)].items():
            if not store.known(number):
                store.values[number] = value

    # ----- public, thread-safe

    def setting(self, key):
        """The stored value of a P-value (secrets included: this is the test's view, never the wire's), None if unknown."""
        return self.fleet.call(self.settings_store.get, key)

    def set_settings(self, **values):
        """Change settings as a person at the phone would (no session, no rules): ``phone.set_settings(P30='x')``."""
        def apply():
            for key, value in values.items():
                number = settings_store.key_number(key)
                if number is not None:
                    self.settings_store.set(number, str(value))
        return self.fleet.call(apply)

    # ----- CTI gate (P32050 Action URI support, P32052 allowed list)

    def _cti_refused(self, peer):
        store = self.settings_store
        if store.get('32050') == '0':
            return 'cti_disabled'
        if not allowed_by(store.get('32052') or '', peer):
            return 'not_allowed'
        return None

    # ----- the endpoints

    def _speaks_settings(self, function):
        form = SETTINGS_ENDPOINTS[function][0]
        if function == 'download_cfg':
            enabled = self.spec.download_cfg
            return self.profile.info.get('download_cfg', False) if enabled is None else bool(enabled)
        return form == self.profile.settings_form

    def _metaconfig_open(self):
        if self.spec.metaconfig_open is not None:
            return bool(self.spec.metaconfig_open)
        return bool(self.profile.info.get('metaconfig_without_login'))

    def _recorded_answer(self, name, ctype):
        answer = recorded.recording(self.profile.folder, name)
        body = answer['body'].encode('utf-8')
        return answer['status'], (ctype if answer['content_type'].startswith(('application/json', 'text/plain')) else answer['content_type']), body

    def _settings_answer(self, function, method, headers, params, body, ctx, ctype):
        """(status, content type, body) of a settings request, or SETTINGS_DROP."""
        if function == 'api.values.get' and settings_store.cve_2026_2329_overflow(
                self.spec.model, recorded.version_below(self.version, settings_store.CVE_2026_2329_FIXED), params.get('request', '')):
            longest = max(len(key) for key in params.get('request', '').split(':'))
            self._emit('cve_2026_2329', function=function, key_length=longest)
            return SETTINGS_DROP
        if function == 'config_update' and method == 'POST':
            return self._recorded_answer('config_update_post', ctype)
        session = None
        if not (function == 'metaconfig_get' and self._metaconfig_open()):
            session = self.auth.session_of(headers, params)
            ctx['auth'] = 'ok' if session is not None else 'no_session'
            if session is None:
                self._emit('settings', function=function, result='no_session', role=None)
                return self._recorded_answer('session_expired', ctype)
        role = session.role if session is not None else None
        if function == 'download_cfg' and role != 'admin':
            self._emit('settings', function=function, result='denied', role=role)
            return 401, HTML_TYPE, html_page(401, 'Unauthorized', 'Authentication required.')
        return getattr(self, '_settings_' + function.replace('.', '_'))(params, body, role, ctype)

    def _settings_event(self, function, role, **fields):
        """A ``settings`` event: keys as ``P30`` (a key that is not a number as it came, cut), never a value."""
        def named(key):
            return 'P' + key if key.isdigit() else key
        for field, value in fields.items():
            fields[field] = dict((named(key), item) for key, item in value.items()) if isinstance(value, dict) else [named(key) for key in value]
        self._emit('settings', function=function, result='ok', role=role, **fields)

    def _settings_api_values_get(self, params, body, role, ctype):
        store, profile = self.settings_store, self.profile
        values, asked = store.form_read(params.get('request', ''), profile.secrets_read_as, profile.unknown_read_as)
        self._settings_event('api.values.get', role, read=asked)
        return 200, ctype, json_bytes({'response': 'success', 'body': values})

    def _settings_api_values_post(self, params, body, role, ctype):
        changes = settings_store.SettingsStore.form_changes(params)
        return self._write('api.values.post', changes, role, ctype)

    def _settings_config_get(self, params, body, role, ctype):
        template = recorded.recorded_json(self.profile.folder, 'config_get')['configs'][0]
        configs, asked = self.settings_store.json_read(params.get('pvalues', ''))
        self._settings_event('config_get', role, read=asked)
        return 200, ctype, json_bytes({'configs': [recorded.render_like(template, item) for item in configs]})

    def _settings_config_update(self, params, body, role, ctype):
        try:
            document = json.loads(body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            document = None
        changes = self.settings_store.json_changes(document)
        if changes is None:
            self._emit('settings', function='config_update', result='bad_request', role=role)
            return 200, ctype, json_bytes({'response': 'error', 'body': 'failed'})
        return self._write('config_update', changes, role, ctype)

    def _settings_metaconfig_get(self, params, body, role, ctype):
        self._settings_event('metaconfig_get', role)
        return 200, ctype, json_bytes(self.settings_store.metaconfig())

    def _settings_download_cfg(self, params, body, role, ctype):
        self._settings_event('download_cfg', role)
        return 200, 'text/plain', self.settings_store.config_text().encode('utf-8')

    def _write(self, function, changes, role, ctype):
        written, changed, dropped = self.settings_store.write(changes, role=role, cloud_managed=bool(self.spec.cloud_managed))
        self._settings_event(function, role, written=written, changed=changed, dropped=dropped)
        return self._recorded_answer(function, ctype)
