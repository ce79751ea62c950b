# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every CTI module shares: connection options, and one way to run a task.

A task function has the signature ``task(client, params, check_mode) -> dict`` and
lives in ``cti_tasks``.  The same function runs inside the module (``run_module``,
for example on a jump host) and inside the action plugin on the controller
(``run_task``), so both paths return the same result.
"""

# env_fallback from common.parameters, not basic: basic costs ~13 ms to import in every Ansible worker.
from ansible.module_utils.common.parameters import env_fallback

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_PASSCODE, ERROR, CTIClient, CTIConnection, CTIError, DEFAULT_TIMEOUT,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import AUTH_DIALECTS
from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import PASSCODE_ENV
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact


def connection_argument_spec():
    """Argument spec of the connection doc fragment.

    The passcode falls back to GRANDSTREAM_PASSCODE on the host that runs the module; the
    action plugin already resolves it on the controller before that.
    """
    return dict(
        host=dict(type='str'),
        port=dict(type='int'),
        scheme=dict(type='str', choices=['http', 'https']),
        passcode=dict(type='str', no_log=True, fallback=(env_fallback, [PASSCODE_ENV])),
        validate_certs=dict(type='bool'),
        ca_path=dict(type='path'),
        timeout=dict(type='float'),
        auth=dict(type='str', choices=list(AUTH_DIALECTS)),
        username=dict(type='str'),
        retry_refused=dict(type='bool'),
        phone_name=dict(type='str'),
    )


def argument_spec(task_spec):
    spec = connection_argument_spec()
    spec.update(task_spec)
    return spec


def connection_from_params(params):
    """CTIConnection from validated module parameters (defaults applied here)."""
    if not params.get('host'):
        raise ValueError('no phone address: set host, ansible_host, or use the inventory name')
    if not params.get('passcode'):
        # Not sent without one: the phone would count the request towards its lockout (five wrong passcodes).
        raise ValueError('no passcode: set grandstream_passcode (in vaulted host or group variables), '
                         'GRANDSTREAM_PASSCODE in the environment, or the passcode option. Nothing was sent to the phone')
    username = params.get('username')
    if username is not None and not str(username).strip():
        raise ValueError('username must not be empty (the default is admin)')
    port = params.get('port')
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError('port must be between 1 and 65535, not %s' % port)
    timeout = params.get('timeout')
    if timeout is not None and float(timeout) <= 0:
        raise ValueError('timeout must be a positive number of seconds, not %s' % timeout)
    validate_certs = params.get('validate_certs')
    return CTIConnection(
        host=params['host'],
        passcode=params.get('passcode'),
        port=port,
        scheme=params.get('scheme') or 'http',
        validate_certs=True if validate_certs is None else validate_certs,
        ca_path=params.get('ca_path'),
        timeout=timeout or DEFAULT_TIMEOUT,
        name=params.get('phone_name'),
        auth=params.get('auth') or AUTH_PASSCODE,
        username=params.get('username'),
        retry_refused=bool(params.get('retry_refused')),
    )


def run_task(task, params, check_mode, transport=None):
    """Run one task function against one phone; always returns a result dict, never raises.

    Failures become ``failed: true`` with a sentence naming the phone and the error class.
    """
    passcode = params.get('passcode')
    try:
        connection = connection_from_params(params)
    except ValueError as exc:
        return {'failed': True, 'changed': False, 'msg': redact('%s: %s' % (params.get('phone_name') or params.get('host') or 'phone', exc), [passcode])}
    client = None
    try:
        with CTIClient(connection, transport=transport) as client:
            result = task(client, params, check_mode)
    except CTIError as error:
        result = dict(error.to_result(), failed=True, changed=False)
    except ValueError as exc:
        result = {'failed': True, 'changed': False, 'msg': '%s: %s' % (connection.label, exc)}
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # An answer nobody foresaw must still give one sentence naming the phone, never a traceback.
        text = ' '.join(str(exc).split())[:200]
        result = {'failed': True, 'changed': False, 'error_class': ERROR,
                  'msg': '%s: unexpected %s%s. This is a bug in the collection or an answer it does not know; please '
                         'report it.' % (connection.label, type(exc).__name__, ': ' + text if text else '')}
    if client is not None and client.cut_notes:
        result['cut'] = client.cut_notes
    return _scrub(result, passcode)


def _scrub(value, passcode):
    """Last line of defence: no string in a result may carry the passcode."""
    if not passcode:
        return value
    if isinstance(value, dict):
        return dict((key, _scrub(item, passcode)) for key, item in value.items())
    if isinstance(value, list):
        return [_scrub(item, passcode) for item in value]
    if isinstance(value, str):
        return redact(value, [passcode])
    return value


def run_module(task_spec, task):
    """main() of every CTI module."""
    from ansible.module_utils.basic import AnsibleModule
    module = AnsibleModule(argument_spec=argument_spec(task_spec), supports_check_mode=True)
    result = run_task(task, module.params, module.check_mode)
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


def run_controller_only(name, argument_spec):
    """main() of a fleet module: its work happens in its action plugin on the controller, which reads every phone's
    host variables; run as a module (delegate_to a remote host) it can only say so."""
    from ansible.module_utils.basic import AnsibleModule
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.fail_json(msg='phonefleet.grandstream.%s runs on the controller through its action plugin; it cannot run '
                         'as a module on a remote host (do not use delegate_to with it).' % name)
