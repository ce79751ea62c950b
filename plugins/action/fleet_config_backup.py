# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up the configuration of many phones from one task, inside the worker on the controller.

Glue only: make sure the backup directory can be written before anything is sent, then run the backup check
(plugin_utils/config_backup.py, a fleet check of plugin_utils/fleet_check) over the play's phones, sorted by name, and
publish its reports and task result (fleet_check.publish).  In check mode nothing is written.
"""

import os

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings_backup import backup_file_name
from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_config_backup import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.config_backup import (
    BACKUP_REPORTS, SAVED, backup_check, drift_diffs, remove_stale_backup_temporaries,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import publish


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check_args(self, args):
        if args['deadline'] < 0:
            raise AnsibleActionFail('deadline must be a number of seconds, or 0 for none, not %g.' % args['deadline'])
        if args['stats_max_names'] < 0:
            raise AnsibleActionFail('stats_max_names must be 0 or more, not %d.' % args['stats_max_names'])
        if not str(args['backup_dir'] or '').strip():
            raise AnsibleActionFail('backup_dir must name a directory. Nothing was sent.')
        directory = os.path.abspath(args['backup_dir'])
        if self._task.check_mode:
            return
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise AnsibleActionFail('The backup directory %s cannot be created: %s. Nothing was sent.'
                                    % (directory, exc.strerror or exc))
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
            raise AnsibleActionFail('The backup directory %s is not a directory this user can write. Nothing was sent.'
                                    % directory)

    def run_fleet(self, args, targets):
        directory = os.path.abspath(args['backup_dir'])
        check_mode = bool(self._task.check_mode)
        # Stable: the same phones give the same report, whatever the inventory's order.
        targets = sorted((self._named(target) for target in targets), key=lambda target: target.name)
        if not check_mode:
            remove_stale_backup_temporaries(directory, [_file_name(target.name) for target in targets])
        check = backup_check(directory, check_mode)
        report = self.run_check(check, targets, args)
        try:
            result = publish(check, BACKUP_REPORTS, report, None if check_mode else directory, args['report_formats'],
                             stats_max_names=args['stats_max_names'])
        except OSError as exc:
            raise AnsibleActionFail('The phones were backed up (%s) but the reports could not be written: %s'
                                    % (check.message(report), str(exc).rstrip('.') + '.'))
        result['changed'] = report['summary'][SAVED] > 0
        result['duration_seconds'] = report['audit']['duration_seconds']
        if getattr(self._task, 'diff', False):
            diffs = drift_diffs(report['phones'])
            if diffs:
                result['diff'] = diffs
        if args['return_phones']:
            result['phones'] = report['phones']
        return result

    @staticmethod
    def _named(target):
        """The target, or one that is not contacted when its name cannot be a file name (its row says why)."""
        try:
            backup_file_name(target.name)
        except ValueError as exc:
            return FleetTarget(target.name, variables=dict(target.variables, ansible_host=target.host),
                               problem='%s.' % exc, problem_reason='bad_variables')
        return target


def _file_name(name):
    try:
        return backup_file_name(name)
    except ValueError:
        return ''
