# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Phone facts: what a phone is and how it is set, read through the CTI client and never guessed.

The client (``cti.py``) speaks the protocol; this file turns answers into facts: :func:`read_device` (model,
firmware, MAC, factory password) today, the settings readers next.  The audit, the modules and the rollouts read
facts here, never from the protocol directly.

Python 3.8 syntax: module_utils may run on a jump host.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_errors import ERROR, CTIError

# What the phone tells of itself; a field it cannot tell is None with its reason in ``unknown_reason``.
DEVICE_FIELDS = ('model', 'firmware', 'mac', 'default_password')

MODEL_NOT_ASKED = 'not read from model.define.js'
PASSCODE_DIALECT_SILENT = ('the passcode dialect does not report it (only the web-session login of grandstream_auth: '
                           'session or session_plain does)')


def read_device(client, web_login=False, model=True):
    """``{model, firmware, mac, default_password, auth, unknown_reason}`` of a phone: what it tells, never a guess.

    The model comes from model.define.js (no login), the rest from the session login's answer; a field the phone
    or its dialect cannot tell is None, and ``unknown_reason[field]`` says why.  Raises CTIError when the phone
    cannot be read at all (unreachable, refused, a failed login).

    ``web_login``: log in to the web interface whatever the CTI dialect (``CTIClient.web_login``; the security posture
    reads settings through that login anyway), so that a passcode phone tells its firmware, MAC and factory-password
    flag too.  A web login that fails then leaves those fields unknown with why, and ``login_error`` says how
    (``{'error_class', 'reason'}``): the phone's CTI answered, so it is not a failure of the phone, and nothing else
    may try that login again in the visit.

    ``model``: False leaves the model to the caller (None, with ``unknown_reason['model']`` ``MODEL_NOT_ASKED``): the
    security posture reads it with the settings (P89), which spares a request per phone.
    """
    device = dict((field, None) for field in DEVICE_FIELDS)
    device['auth'] = client.connection.auth
    unknown = {}
    if model:
        read_model(client, device, unknown)
    else:
        unknown['model'] = MODEL_NOT_ASKED
    if web_login:
        try:
            facts = client.web_login()
        except CTIError as error:
            device['login_error'] = {'error_class': error.error_class, 'reason': error.reason}
            for field in ('firmware', 'mac', 'default_password'):
                unknown[field] = 'the web login failed: %s' % error.reason.rstrip('.')
            device['unknown_reason'] = unknown
            return device
    else:
        facts = client.login_facts()
    if facts is None:
        for field in ('firmware', 'mac', 'default_password'):
            unknown[field] = PASSCODE_DIALECT_SILENT
    else:
        for field, key in (('firmware', 'ver'), ('mac', 'mac')):
            value = facts.get(key)
            if isinstance(value, str) and value.strip():
                device[field] = value.strip()
            else:
                unknown[field] = 'the login answer has no %s' % key
        if isinstance(facts.get('defaultAuth'), bool):
            device['default_password'] = facts['defaultAuth']
        else:
            unknown['default_password'] = 'the login answer has no defaultAuth'
    device['unknown_reason'] = unknown
    return device


def read_model(client, device, unknown):
    """Put the model from model.define.js (no login) into ``device``, or why not into ``unknown``; raises CTIError when
    the phone cannot be read at all."""
    try:
        device['model'] = client.get_model()
        unknown.pop('model', None)
    except CTIError as error:
        if error.error_class != ERROR:
            raise
        unknown['model'] = error.reason
