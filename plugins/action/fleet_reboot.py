# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling reboot of many phones from one task, inside the worker on the controller.

Glue only: refuse bad options before anything is sent, take the state directory's lock, then load the run's
ledger (plugin_utils/rolling_ledger), run the engine (plugin_utils/rolling_run), write the reports
(plugin_utils/rolling_reports) and return the summary.
"""

import os

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import check_options
from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_reboot import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import write_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import Ledger, RunLock
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    PROBLEM_OUTCOMES, Window, check_run_id, default_run_id, has_canary, parse_batch_size, resume_hint,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import (
    ROLLING_REPORTS, rolling_summary_sentence,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_run import ControllerGone, RollingReboot


def reboot_options(args):
    """The sys_operation reboot options (module_utils/reboot.check_options) from the task's; raises ValueError."""
    return check_options({
        'operation': 'reboot', 'wait': True, 'busy_policy': args['busy_policy'],
        'busy_timeout': args['busy_timeout'], 'down_timeout': args['down_timeout'],
        'reboot_timeout': args['reboot_timeout'], 'registration_timeout': args['registration_timeout'],
        'connect_timeout': args['connect_timeout'], 'poll_interval': args['poll_interval'],
    })


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check_args(self, args):
        if args['batch_pause'] < 0:
            raise AnsibleActionFail('batch_pause must be a number of seconds, not %g.' % args['batch_pause'])
        if not 0 <= args['max_fail_percent'] <= 100:
            raise AnsibleActionFail('max_fail_percent must be from 0 to 100, not %g.' % args['max_fail_percent'])
        try:
            parse_batch_size(args['batch_size'], 100, 'batch_size')
            if has_canary(args['canary']):
                parse_batch_size(args['canary'], 100, 'canary')
            reboot_options(args)
            if args['window']:
                Window(args['window'])
            if args['run_id']:
                check_run_id(args['run_id'])
        except ValueError as exc:
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))

    def run_fleet(self, args, targets):
        options = reboot_options(args)
        state_dir = os.path.abspath(args['state_dir'])
        check_mode = bool(self._task.check_mode)
        window = Window(args['window']) if args['window'] else None
        lock = None
        try:
            run_id = check_run_id(args['run_id'] or default_run_id(window))
            if not check_mode:
                # First the lock, then the ledger: a run that waited for another one must see what that one wrote.
                # A worker left over from a killed ansible-playbook stops within a poll; give it that time.
                lock = RunLock(state_dir, run_id).acquire(timeout=2 * (options['poll_interval'] + options['connect_timeout']) + 5)
            ledger = Ledger(state_dir, run_id)
        except ValueError as exc:
            if lock is not None:
                lock.release()
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))
        run = RollingReboot(targets, args, options, ledger, check_mode=check_mode, window=window,
                            display=self._display.display)
        try:
            report = run.run()
        except ControllerGone as exc:
            raise AnsibleActionFail(str(exc))
        except (IOError, OSError) as exc:
            raise AnsibleActionFail('The rolling reboot %s stopped: its ledger %s could not be written (%s). Phones whose '
                                    'command went out are in the ledger as it was last written; to resume, %s.'
                                    % (run_id, ledger.path, exc.strerror or exc, resume_hint(run_id)))
        finally:
            if lock is not None:
                lock.release()
        summary = report['summary']
        problems = [phone['name'] for phone in report['phones'] if phone['outcome'] in PROBLEM_OUTCOMES]

        report_files = {}
        if args['report_dir']:
            report_dir = os.path.abspath(args['report_dir'])
            try:
                report_files = write_reports(ROLLING_REPORTS, report, report_dir, args['report_formats'])
            except OSError as exc:
                where = exc.filename or report_dir
                raise AnsibleActionFail('The rolling reboot ran (%d rebooted, %d failed) but its reports could not be written: '
                                        '%s: %s.' % (summary['rebooted'], summary['failed'], where, exc.strerror or exc))
        msg = rolling_summary_sentence(summary, problems)
        if report_files:
            msg += ' Report: %s.' % report_files.get('json', sorted(report_files.values())[0])
        result = dict(
            changed=run.changed,
            summary=summary, problems=problems, stopped_reason=summary['stopped_reason'], run_id=summary['run_id'],
            plan=report['plan'], ledger=ledger.path, report_files=report_files, msg=msg,
        )
        if args['return_phones']:
            result['phones'] = report['phones']
        return result
