# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling firmware upgrade of many phones from one task, inside the worker on the controller.

Glue only: parse the options once (refusing bad ones before anything is sent), then hand the phones to the rolling
task (plugin_utils/rolling_task: lock, ledger, engine, reports) with the firmware upgrade as its change.
"""

from ansible.errors import AnsibleActionFail

from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_firmware import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_firmware import FirmwareChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import FleetActionModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_settings import RollingSettings
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_task import RollingTask, TaskFailed


class ActionModule(FleetActionModule):

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def check_args(self, args):
        try:
            self._settings = RollingSettings.from_args(args)
            self._change = FirmwareChange.from_args(args)
        except ValueError as exc:
            raise AnsibleActionFail('%s. Nothing was sent.' % str(exc).rstrip('.'))

    def run_fleet(self, args, targets):
        task = RollingTask(self._settings, self._change, self._task.check_mode, self._display.display)
        try:
            result = task.run(targets)
        except TaskFailed as exc:
            raise AnsibleActionFail(str(exc))
        if self._change.warnings:
            result['warnings'] = list(self._change.warnings)
        return result
