# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin glue shared by every CTI module (CTIActionModule) and the fleet modules (FleetActionModule).

1. Options left out of the task are filled from host variables (``ansible_host``,
   ``grandstream_port``, ``grandstream_passcode``...), then from GRANDSTREAM_PASSCODE
   in the controller environment (plugin_utils/host_vars.py, which also names a bad variable).
2. When the task connection is local, the module's task function runs right here in the
   worker: no AnsiballZ payload, no Python process per phone (~11 ms instead of ~150 ms
   per phone and task).  Otherwise (``delegate_to`` a jump host in the voice VLAN) the
   module runs there as usual.  Both paths call the same task function.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti_module import argument_spec, run_task
from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import IN_PROCESS_VARIABLE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.controller import ControllerGone, controller_gone_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import missing_passcodes
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.host_vars import (
    check_options, connection_args_from_vars, connection_for, fleet_targets,
)

COLLECTION = 'phonefleet.grandstream'
LOCAL_TRANSPORTS = ('local', 'ansible.builtin.local', 'ansible.legacy.local')


class CTIActionModule(ActionBase):
    """Base class of the collection's module action plugins.

    A subclass sets ``MODULE`` to its module file (imported at the top of the action plugin):
    the play's strategy loads action plugin classes in the main process, so the module's import
    is paid once there, not again in every forked worker (about 5 ms per phone and task).
    """

    TRANSFERS_FILES = False
    _requires_connection = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(CTIActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        module = self.MODULE
        short_name = module.__name__.split('.')[-1]

        args, sources = connection_args_from_vars(self._task.args, task_vars, self._templar.template)
        problem = _variable_problem(args, sources)
        if problem:
            result.update(failed=True, changed=False, msg='%s: %s.' % (args.get('phone_name') or args.get('host'), problem))
            return result
        if self._in_process(task_vars):
            result.update(self._run_in_process(module, args))
        else:
            result.update(self._execute_module(module_name='%s.%s' % (COLLECTION, short_name), module_args=args,
                                               task_vars=task_vars))
        return result

    def _in_process(self, task_vars):
        value = self._templar.template(task_vars.get(IN_PROCESS_VARIABLE, True))
        try:
            wanted = boolean(value, strict=True)
        except TypeError:
            raise AnsibleActionFail('%s must be true or false, not %r.' % (IN_PROCESS_VARIABLE, value))
        if not wanted:
            return False
        return getattr(self._connection, 'transport', None) in LOCAL_TRANSPORTS

    def _run_in_process(self, module, args):
        validator = ArgumentSpecValidator(argument_spec(module.ARGUMENT_SPEC))
        validation = validator.validate(_plain(args))
        no_log_values = validation._no_log_values  # pylint: disable=protected-access
        if validation.error_messages:
            # Word for word what AnsibleModule answers on the module path: the first error, unknown options named as such.
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = 'Unsupported parameters for (%s.%s) module: %s' % (COLLECTION, module.__name__.split('.')[-1], msg)
            return {'failed': True, 'msg': remove_values(msg, no_log_values)}
        params = validation.validated_parameters
        secrets = getattr(module, 'SECRETS_OF', None)
        secrets = secrets(params) if secrets else []
        no_log_values = set(no_log_values) | set(secrets)
        result = run_task(module.TASK, params, self._task.check_mode, secrets=secrets)
        result['invocation'] = {'module_args': remove_values(params, no_log_values)}
        return result


def _variable_problem(args, sources):
    """The sentence for a bad value that came from a host variable, named by that variable; None otherwise (what the
    task itself wrote is checked by the module's argument spec, with Ansible's own words)."""
    try:
        checked = check_options(args, sources, options=list(sources))
        connection_for(check_options(checked, sources), sources)
    except ValueError as exc:
        text = str(exc)
        # A missing passcode is the module's to report: on a jump host GRANDSTREAM_PASSCODE may still provide one.
        if any(text.startswith(variable + ' ') for variable in sources.values()) and not text.startswith('no passcode'):
            return text.rstrip('.')
    return None


class FleetActionModule(ActionBase):
    """Base class of the fleet action plugins (fleet_registration_info, fleet_reboot).

    They run once for the whole play, whatever ``forks`` says, and fan out over its phones themselves:
    the hosts are the task's ``hosts`` option, else ``ansible_play_hosts`` (so ``--limit`` applies), and each
    phone's connection settings come from its host variables (:func:`fleet_targets`).  A subclass sets
    ``ARGUMENT_SPEC`` (with ``hosts`` and ``concurrency``), may refuse bad options in :meth:`check_args`
    (raise AnsibleActionFail: nothing has been sent yet), and does its work in :meth:`run_fleet`.
    """

    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = True
    _requires_connection = False
    ARGUMENT_SPEC = None
    # Host variables each target carries for the work and the reports (FleetTarget.variables).
    TARGET_VARIABLES = ('site', 'model')

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(FleetActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        self._hostvars = task_vars.get('hostvars')
        dummy, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        if args['concurrency'] < 1:
            raise AnsibleActionFail('concurrency must be at least 1, not %d.' % args['concurrency'])
        capped = _capped_concurrency(args['concurrency'])
        if capped < args['concurrency']:
            result.setdefault('warnings', []).append(
                'concurrency %d is more than the open-file limit of this process allows (ulimit -n); using %d. Raise the '
                'limit to work on more phones at once.' % (args['concurrency'], capped))
            args['concurrency'] = capped
        self.check_args(args)
        hosts = args['hosts'] if args['hosts'] is not None else task_vars.get('ansible_play_hosts') or []
        hosts = _unique(str(name) for name in hosts)
        if not hosts:
            # A green run over nothing is the worst outcome for a cron job: say so and fail.
            raise AnsibleActionFail('No phones to work on: %s. Nothing was sent.' % (
                'the hosts option is empty' if args['hosts'] is not None else 'the play has no hosts left'))
        warning = _serial_warning(args['hosts'], task_vars)
        result.update(self.run_fleet(args, fleet_targets(hosts, task_vars['hostvars'], self.TARGET_VARIABLES)))
        if warning:
            result.setdefault('warnings', []).append(warning)
        return result

    def run_check(self, check, targets, args):
        """The report of a fleet check (plugin_utils/fleet_check) over ``targets``: the options' concurrency and
        deadline, the phones without a passcode named as such, and an AnsibleActionFail when ansible-playbook went away
        during the run."""
        unusable = [target.name for target in targets if target.connection is None]
        hostvars = getattr(self, '_hostvars', None)
        missing = missing_passcodes(unusable, hostvars.raw_get) if unusable and hostvars is not None else ()
        try:
            return check.run(targets, args, concurrency=args['concurrency'], deadline=args['deadline'] or None,
                             should_stop=controller_gone_check(), missing_passcode=missing,
                             check_mode=bool(self._task.check_mode))
        except ControllerGone as exc:
            raise AnsibleActionFail(str(exc))

    def check_args(self, args):
        """Refuse bad option values (AnsibleActionFail) before any phone is contacted."""

    def run_fleet(self, args, targets):
        """The work over ``targets``; returns the fields of the task result."""
        raise NotImplementedError


# Sockets and files the worker needs besides the phones' connections (Ansible's own, the ledger, the reports).
_FILES_KEPT_FREE = 64


def _capped_concurrency(wanted):
    """``wanted``, or less when the open-file limit would not leave one socket per phone in flight."""
    try:
        # POSIX only: imported where it is needed.
        import resource  # pylint: disable=import-outside-toplevel
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return wanted
    if soft in (-1, getattr(resource, 'RLIM_INFINITY', -1)):
        return wanted
    return max(1, min(wanted, soft - _FILES_KEPT_FREE))


def _plain(value):
    """The value in the plain JSON types a module process receives (ansible-core 2.19 tags strings with their origin,
    and the argument spec's error messages name the type), so that both paths give the same messages."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _serial_warning(hosts_option, task_vars):
    """With ``serial``, a task that fans out over every play host itself runs once per batch, over all of them."""
    batch, play_hosts = task_vars.get('ansible_play_batch'), task_vars.get('ansible_play_hosts')
    if hosts_option is not None or not batch or not play_hosts or len(batch) >= len(play_hosts):
        return None
    return ('The play has "serial" (this batch: %d of %d hosts), but this task works on every phone of the play at once, '
            'so each batch repeats it for all of them. Remove "serial" from the play: the task batches on its own.'
            % (len(batch), len(play_hosts)))


def _unique(names):
    """The names in their order, each once (a host listed twice is one phone)."""
    seen = set()
    return [name for name in names if not (name in seen or seen.add(name))]
