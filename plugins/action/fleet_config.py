# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set the settings of many phones from one task, inside the worker on the controller.

Glue only: refuse bad settings before anything is sent, then run the fleet_config check (plugin_utils/config_push.py,
a fleet check of plugin_utils/fleet_check) over the play's phones and publish its report and task result
(fleet_check.publish).  Every secret of the task's settings and of the phones' grandstream_settings is a no-log value
of the result: no string of it may show one.
"""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.phonefleet.grandstream.plugins.module_utils.config_tasks import secret_values
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import (
    ADMIN_PASSWORD, as_value, check_keys, pvalue_key, weak_admin_password,
)
from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_config import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.config_push import (
    CONFIG_REPORTS, FAILED, HOST_SETTINGS_VARIABLE, NOT_APPLIED, config_check, merged_settings,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import publish


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC
    TARGET_VARIABLES = ('site', 'model', HOST_SETTINGS_VARIABLE)

    def run(self, tmp=None, task_vars=None):
        self._secrets = set(secret_values(self._task.args.get('settings') if isinstance(self._task.args.get('settings'), dict)
                                          else None))
        result = super(ActionModule, self).run(tmp, task_vars)
        return remove_values(result, self._secrets) if self._secrets else result

    def check_args(self, args):
        if args['deadline'] < 0:
            raise AnsibleActionFail('deadline must be a number of seconds, or 0 for none, not %g.' % args['deadline'])
        settings = args['settings'] or {}
        self._secrets.update(secret_values(settings))
        try:
            check_keys(list(settings))
            values = dict((key, as_value(key, value)) for key, value in settings.items())
        except ValueError as exc:
            raise AnsibleActionFail('settings: %s. Nothing was sent.' % str(exc).rstrip('.'))
        for key, value in values.items():
            weak = weak_admin_password(value) if pvalue_key(key) == ADMIN_PASSWORD and args['update_secrets'] == 'always' else None
            if weak:
                raise AnsibleActionFail('settings: %s is the admin password, and phones drop a weak one while they answer '
                                        'success (%s; use at least 8 characters with letters and digits). Nothing was sent.'
                                        % (key, weak))

    def run_fleet(self, args, targets):
        settings = args['settings'] or {}
        targets = [self._with_settings(target, settings) for target in targets]
        if not settings and not any(HOST_SETTINGS_VARIABLE in target.variables for target in targets):
            raise AnsibleActionFail('settings is empty and no phone has %s: give the keys and values to set (P30: '
                                    'pool.ntp.org). Nothing was sent.' % HOST_SETTINGS_VARIABLE)
        diff = bool(getattr(self._task, 'diff', False))
        check = config_check(settings, args['update_secrets'], check_mode=self._task.check_mode, diff=diff)
        report = self.run_check(check, targets, args)
        try:
            result = publish(check, CONFIG_REPORTS, report, args['report_dir'], args['report_formats'])
        except OSError as exc:
            raise AnsibleActionFail('The settings were applied (%s) but the report could not be written: %s'
                                    % (check.message(report), str(exc).rstrip('.') + '.'))
        summary = report['summary']
        result['changed'] = summary['changed'] > 0
        result['duration_seconds'] = report['audit']['duration_seconds']
        if summary[NOT_APPLIED] or summary[FAILED]:
            result['failed'] = True
        part = check.parts[0]
        if diff and part.diffs:
            result['diff'] = part.diffs
        if args['return_phones']:
            result['phones'] = report['phones']
        return result

    def _with_settings(self, target, settings):
        """The target, its settings' secrets noted; a target whose grandstream_settings is not a mapping is not
        contacted (its row says why)."""
        host_settings = target.variables.get(HOST_SETTINGS_VARIABLE)
        if host_settings is None:
            return target
        try:
            merged = merged_settings(settings, host_settings)
        except ValueError as exc:
            return FleetTarget(target.name, variables=dict(target.variables, ansible_host=target.host),
                               problem='%s.' % exc, problem_reason='bad_variables')
        self._secrets.update(secret_values(merged))
        return target
