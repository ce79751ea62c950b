# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the reports of a sliced registration audit, on the controller.

Glue only: find and merge the slices' reports (plugin_utils/audit_merge: every slice is checked before anything is
written), compare the result with the previous merged report of the report directory (plugin_utils/audit_changes),
then publish the fleet's reports and task result as the audit does (fleet_check.publish).
"""

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.phonefleet.grandstream.plugins.modules.registration_report_merge import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import registration_check
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_changes import changes_since
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import MergeError, find_reports, merge_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import publish
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import plural


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args['stats_max_names'] < 0:
            raise AnsibleActionFail('stats_max_names must be 0 or more, not %d.' % args['stats_max_names'])
        report_dir = os.path.abspath(args['report_dir'])
        check = registration_check()
        try:
            report, slices = merge_reports(find_reports(args['inputs'], exclude=report_dir), check)
        except MergeError as exc:
            raise AnsibleActionFail('Nothing was merged: %s.' % str(exc).rstrip('.'))
        report['audit']['fail_on_firmware'] = args['fail_on_firmware']
        report['audit']['fail_on_posture'] = list(args['fail_on_posture'])
        warnings = []
        if args['fail_on_posture'] and 'posture' not in report['summary']:
            warnings.append('fail_on_posture lists %s, but the slices were audited without posture: no phone can fail '
                            'it.' % ', '.join(args['fail_on_posture']))
        # Against the previous merged report of the same directory, read before the new set replaces it.
        report['changes'], warning = changes_since(report_dir, report, check)
        if warning:
            warnings.append(warning)
        directories = {'prometheus': os.path.abspath(args['prometheus_dir'])} if args['prometheus_dir'] else None
        try:
            result.update(publish(check, REGISTRATION_REPORTS, report, report_dir, args['report_formats'], directories,
                                  stats_max_names=args['stats_max_names'],
                                  note='Merged from %s.' % plural(len(slices), 'slice')))
        except OSError as exc:
            raise AnsibleActionFail('The reports were merged but could not be written: %s' % (str(exc).rstrip('.') + '.'))
        result['slices'] = slices
        result['changes'] = report['changes']
        if warnings:
            result.setdefault('warnings', []).extend(warnings)
        if args['return_phones']:
            result['phones'] = report['phones']
        return result
