# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit of many phones from one task, inside the worker on the controller.

Glue only: refuse bad options before anything is sent, then run the audit (plugin_utils/audit.registration_check,
a fleet check of plugin_utils/fleet_check, with its security posture: plugin_utils/audit_posture) over the play's
phones (plugin_utils/cti_action.fleet_targets), compare it with the previous report of the report directory
(plugin_utils/audit_changes) and publish its reports and task result (fleet_check.publish).  It stops with the phones
when ansible-playbook is gone.  No worker and no module process per phone.
"""

import os

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_registration_info import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_changes import changes_since
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_posture import PosturePolicy
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import FirmwarePolicy
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import publish


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run(self, tmp=None, task_vars=None):
        self._warnings = []
        result = super(ActionModule, self).run(tmp, task_vars)
        if self._warnings:
            result.setdefault('warnings', []).extend(self._warnings)
        return result

    def check_args(self, args):
        if args['deadline'] < 0:
            raise AnsibleActionFail('deadline must be a number of seconds, or 0 for none, not %g.' % args['deadline'])
        if any(number < 1 for number in args['accounts']):
            raise AnsibleActionFail('accounts are numbered from 1; got %s.' % ', '.join(str(number) for number in args['accounts']))
        if args['stats_max_names'] < 0:
            raise AnsibleActionFail('stats_max_names must be 0 or more, not %d.' % args['stats_max_names'])
        if args['fail_on_posture'] and not args['posture']:
            raise AnsibleActionFail('fail_on_posture lists %s, but posture is false: no posture check would run. Set '
                                    'posture: true, or leave fail_on_posture empty. Nothing was sent.'
                                    % ', '.join(args['fail_on_posture']))
        try:
            FirmwarePolicy(args['firmware_minimum'])
            PosturePolicy(args['cves'])
        except ValueError as exc:
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))

    def run_fleet(self, args, targets):
        check = registration_check(args['accounts'], device=args['device'], policy=FirmwarePolicy(args['firmware_minimum']),
                                   posture=PosturePolicy(args['cves']) if args['posture'] else None)
        report = self.run_check(check, targets, args)
        report['audit']['fail_on_firmware'] = args['fail_on_firmware']
        report['audit']['fail_on_posture'] = list(args['fail_on_posture'])
        if args['report_dir']:
            # Read before the new set replaces it; a previous report that cannot be used is a warning, not a failure.
            report['changes'], warning = changes_since(args['report_dir'], report, check)
            if warning:
                self._warnings.append(warning)
        directories = {'prometheus': os.path.abspath(args['prometheus_dir'])} if args['prometheus_dir'] else None
        try:
            result = publish(check, REGISTRATION_REPORTS, report, args['report_dir'], args['report_formats'], directories,
                             stats_max_names=args['stats_max_names'])
        except OSError as exc:
            raise AnsibleActionFail('The registration audit ran (%s%% compliant) but its reports could not be written: %s'
                                    % (report['summary']['compliance_percent'], str(exc).rstrip('.') + '.'))
        result['duration_seconds'] = report['audit']['duration_seconds']
        if 'changes' in report:
            result['changes'] = report['changes']
        if args['return_phones']:
            result['phones'] = report['phones']
        return result
