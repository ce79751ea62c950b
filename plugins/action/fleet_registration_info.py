# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit of many phones from one task, inside the worker on the controller.

Glue only: one task reads the play's hosts and their connection variables from ``hostvars``
(plugin_utils/cti_action.fleet_targets), fans out over them (plugin_utils/fanout) with the audit's work
function (plugin_utils/audit) and writes the reports (plugin_utils/audit_reports).  No worker and no
module process per phone.
"""

import os
import time

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_registration_info import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit import (
    audit_registration, build_report, registration_record, report_message,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.audit_reports import REGISTRATION_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import fan_out
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import OUTDATED, FirmwarePolicy
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import utc_timestamp, write_reports


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check_args(self, args):
        if args['deadline'] < 0:
            raise AnsibleActionFail('deadline must be a number of seconds, or 0 for none, not %g.' % args['deadline'])
        if any(number < 1 for number in args['accounts']):
            raise AnsibleActionFail('accounts are numbered from 1; got %s.' % ', '.join(str(number) for number in args['accounts']))
        try:
            FirmwarePolicy(args['firmware_minimum'])
        except ValueError as exc:
            raise AnsibleActionFail('%s. Nothing was sent.' % exc)

    def run_fleet(self, args, targets):
        started_epoch, started = time.time(), time.monotonic()
        policy = FirmwarePolicy(args['firmware_minimum'])
        results = fan_out(targets, audit_registration(args['accounts'], device=args['device']),
                          concurrency=args['concurrency'], deadline=args['deadline'] or None)
        phones = [registration_record(outcome, target, policy) for outcome, target in zip(results, targets)]
        duration = round(time.monotonic() - started, 3)
        finished_epoch = started_epoch + duration
        report = build_report(phones, {
            'started_at': utc_timestamp(started_epoch),
            'finished_at': utc_timestamp(finished_epoch),
            'finished_epoch': round(finished_epoch, 3),
            'duration_seconds': duration,
            'required_accounts': list(args['accounts']),
            'concurrency': args['concurrency'],
            'deadline_seconds': args['deadline'] or None,
            'check_mode': bool(self._task.check_mode),
            'firmware_minimum': dict(args['firmware_minimum']),
            'fail_on_firmware': args['fail_on_firmware'],
        })
        summary = report['summary']

        report_files = {}
        if args['report_dir']:
            report_dir = os.path.abspath(args['report_dir'])
            directories = {'prometheus': os.path.abspath(args['prometheus_dir'])} if args['prometheus_dir'] else None
            try:
                report_files = write_reports(REGISTRATION_REPORTS, report, report_dir, args['report_formats'], directories)
            except OSError as exc:
                raise AnsibleActionFail('The registration audit ran (%s%% compliant) but its reports could not be written: %s: %s.'
                                        % (summary['compliance_percent'], exc.filename or report_dir, exc.strerror or exc))

        msg = report_message(report)
        if report_files:
            msg += ' Report: %s.' % report_files.get('html', sorted(report_files.values())[0])
        result = dict(changed=False, summary=summary, report_files=report_files, msg=msg, duration_seconds=duration,
                      non_compliant=[phone['name'] for phone in phones if not phone['compliant']],
                      firmware_outdated=[phone['name'] for phone in phones if phone['firmware_status'] == OUTDATED])
        if args['return_phones']:
            result['phones'] = phones
        return result
