# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the reports of a sliced registration audit, on the controller.

Glue only: find and merge the slices' reports (plugin_utils/audit_merge), write the fleet's reports
(plugin_utils/audit_reports), return the summary.
"""

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.phonefleet.grandstream.plugins.modules.registration_report_merge import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import report_message
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_merge import MergeError, find_reports, merge_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import OUTDATED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import write_reports


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        report_dir = os.path.abspath(args['report_dir'])
        try:
            report, slices = merge_reports(find_reports(args['inputs'], exclude=report_dir))
        except MergeError as exc:
            raise AnsibleActionFail('Nothing was merged: %s.' % str(exc).rstrip('.'))
        report['audit']['fail_on_firmware'] = args['fail_on_firmware']
        directories = {'prometheus': os.path.abspath(args['prometheus_dir'])} if args['prometheus_dir'] else None
        try:
            report_files = write_reports(REGISTRATION_REPORTS, report, report_dir, args['report_formats'], directories)
        except OSError as exc:
            raise AnsibleActionFail('The reports were merged but could not be written: %s: %s.'
                                    % (exc.filename or report_dir, exc.strerror or exc))
        phones = report['phones']
        msg = '%s Merged from %d slice%s.' % (report_message(report), len(slices), '' if len(slices) == 1 else 's')
        if report_files:
            msg += ' Report: %s.' % report_files.get('html', sorted(report_files.values())[0])
        result.update(changed=False, summary=report['summary'], slices=slices, report_files=report_files, msg=msg,
                      non_compliant=[phone['name'] for phone in phones if not phone['compliant']],
                      firmware_outdated=[phone['name'] for phone in phones if phone.get('firmware_status') == OUTDATED])
        if args['return_phones']:
            result['phones'] = phones
        return result
