# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From host variables to connection options: which variables are read, which go through templating, and what a
bad value is called.

- An option the task leaves out comes from the phone's host variable (module_utils/host_variables.py, the one
  table), the passcode last from ``GRANDSTREAM_PASSCODE`` in the controller environment.
- Only a template or a vault value goes through the templating engine, in the host's own context; a plain value is
  what it says (never templated: a CSV cell ``{{ ... }}`` arrives marked unsafe, and templating 10,000 hosts' plain
  values would cost seconds).
- A bad value is named by the variable the user set and the phone (``gs0042: grandstream_auth must be one of
  passcode, session, session_plain, not 'sesion'``), and a message never holds the passcode.

Controller only: the per-phone action plugins (plugin_utils/cti_action.py) and the fleet fan-out use it.
"""

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import (
    connection_argument_spec, connection_from_params,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import (
    ADDRESS_VARIABLE, HOST_VARIABLES, PASSCODE_ENV,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_text import printable
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget

PASSCODE_VARIABLE = dict(HOST_VARIABLES)['passcode']
# What a value of each option type must be, in words.
_TYPE_WORDS = {'int': 'a whole number', 'bool': 'true or false', 'float': 'a number', 'str': 'text', 'path': 'a file path'}
# The types a connection option's value already has when it comes from the CSV inventory or plain YAML.
_PLAIN_TYPES = {'host': str, 'port': int, 'scheme': str, 'passcode': str, 'validate_certs': bool, 'timeout': (int, float),
                'auth': str, 'username': str, 'retry_refused': bool, 'phone_name': str}
_SPEC = connection_argument_spec()
_VALIDATOR = ArgumentSpecValidator(_SPEC)
_OPTION_VALIDATORS = dict((option, ArgumentSpecValidator({option: spec})) for option, spec in _SPEC.items())


def connection_args_from_vars(args, task_vars, template):
    """Connection options from the task, else host variables, else the environment.

    ``template`` renders a variable value (host variables can be templates or vault values).  Returns ``(args,
    sources)``: ``sources[option]`` is the variable (or environment variable) an option came from.
    """
    args = dict(args)
    sources = {}
    if args.get('host') is None:
        address = task_vars.get(ADDRESS_VARIABLE)
        args['host'] = template(address or task_vars.get('inventory_hostname'))
        sources['host'] = ADDRESS_VARIABLE if address else 'inventory_hostname'
    for option, variable in HOST_VARIABLES:
        if args.get(option) is None and task_vars.get(variable) is not None:
            args[option] = template(task_vars[variable])
            sources[option] = variable
    if args.get('passcode') is None and os.environ.get(PASSCODE_ENV):
        args['passcode'] = os.environ[PASSCODE_ENV]
        sources['passcode'] = PASSCODE_ENV
    if args.get('phone_name') is None and task_vars.get('inventory_hostname'):
        args['phone_name'] = str(task_vars['inventory_hostname'])
    return args, sources


def check_options(args, sources, options=None):
    """Validated connection options; raises ValueError with one sentence naming the variable of the first bad value.

    ``options``: check only these (the per-phone action plugins check what came from variables; the module's own
    argument spec checks what the task wrote).  Values of the expected type go as they are (10,000 hosts).
    """
    wanted = [option for option in (options if options is not None else args) if option in _SPEC and option in args]
    if all(_plain(option, args[option]) for option in wanted):
        return dict((key, args.get(key)) for key in _SPEC) if options is None else dict(args)
    checked = dict(args)
    for option in wanted:
        if _plain(option, args[option]):
            continue
        validation = _OPTION_VALIDATORS[option].validate({option: args[option]})
        if validation.error_messages:
            raise ValueError(_bad_value(option, args[option], sources.get(option)))
        checked[option] = validation.validated_parameters[option]
    return dict((key, checked.get(key)) for key in _SPEC) if options is None else checked


def _plain(option, value):
    if value is None:
        return True
    kind = _PLAIN_TYPES.get(option)
    if kind is None or not isinstance(value, kind) or (option == 'port' and isinstance(value, bool)):
        return False
    return value in (_SPEC[option].get('choices') or [value])


def _bad_value(option, value, source):
    name = source or option
    if option == 'passcode':
        return '%s must be text (its value is not shown)' % name
    # str(): ansible-core 2.19 tags strings with their origin, and a tagged string's type name means nothing to a user.
    shown = printable(repr(str(value)) if isinstance(value, str) else repr(value))
    shown = shown if len(shown) <= 60 else shown[:60] + '...'
    choices = _SPEC[option].get('choices')
    if choices:
        return '%s must be one of %s, not %s' % (name, ', '.join(choices), shown)
    return '%s must be %s, not %s' % (name, _TYPE_WORDS.get(_SPEC[option].get('type'), 'valid'), shown)


def connection_for(args, sources):
    """The CTIConnection of validated options; ValueError names the variable of a bad value (``port must be between 1
    and 65535`` becomes ``grandstream_port must be ...`` when the port came from that variable)."""
    try:
        return connection_from_params(args)
    except ValueError as exc:
        text = str(exc)
        option = text.split(' ', 1)[0]
        if sources.get(option):
            text = sources[option] + text[len(option):]
        raise ValueError(text)


def fleet_targets(host_names, hostvars, variables=('site', 'model')):
    """FleetTargets (plugin_utils/fanout.py) for an action plugin that fans out over many hosts from one task.

    ``host_names``: usually ``task_vars['ansible_play_hosts']`` (so --limit applies); ``hostvars``:
    ``task_vars['hostvars']``, whose values are templated in each host's own context.  Connection
    options come from each host's variables as for a per-host task; ``variables`` are copied into
    ``target.variables``.  A host with unusable variables gets a target with a ``problem`` (and ``problem_reason``
    ``no_passcode`` when it is only the passcode that is missing).

    Built for 10,000 hosts: each host's variables are read once (``raw_get``), and only a value that is a
    template or a vault value goes through the templating engine (the others are what they say).
    """
    targets = []
    for name in host_names:
        args, kept = {}, {}
        try:
            if name not in hostvars:
                raise ValueError('it is not in the inventory')
            host_vars = HostVariables(hostvars, name)
            # The address first: the report shows it even when another variable (a passcode template...) fails.
            kept[ADDRESS_VARIABLE] = host_vars.get(ADDRESS_VARIABLE) or name
            for key in variables:
                value = host_vars.get(key)
                if value is not None:
                    kept[key] = value
            args, sources = connection_args_from_vars({}, host_vars, lambda value: value)
            targets.append(FleetTarget(name, connection_for(check_options(args, sources), sources), kept))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problem = redact(' '.join(str(exc).split())[:300], [args.get('passcode'), _raw_passcode(hostvars, name)])
            kept.setdefault(ADDRESS_VARIABLE, args.get('host'))
            reason = 'no_passcode' if str(exc).startswith('no passcode') else 'bad_variables'
            targets.append(FleetTarget(name, variables=kept, problem='its connection variables are unusable: %s' % problem,
                                       problem_reason=reason))
    return targets


class HostVariables(object):
    """One host's variables for fleet_targets: raw values as they are, templates and vault values rendered."""

    def __init__(self, hostvars, name):
        self._hostvars = hostvars
        self._name = name
        self._raw = hostvars.raw_get(name)
        self._rendered = None

    def get(self, key, default=None):
        value = self._raw.get(key, default)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str) and not any(marker in value for marker in ('{{', '{%', '{#')):
            return str(value)
        if self._rendered is None:  # a template or a vault value: the templating engine, in the host's context
            self._rendered = self._hostvars[self._name]
        return self._rendered.get(key, default)

    def __getitem__(self, key):
        return self.get(key)


def _raw_passcode(hostvars, name):
    """The passcode variable as written (a template, say), to keep it out of an error message about that host."""
    try:
        value = hostvars.raw_get(name).get(PASSCODE_VARIABLE)
    except Exception:  # pylint: disable=broad-exception-caught
        return None
    return value if isinstance(value, str) else None
