# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of a fleet module that runs a rolling change (``fleet_reboot``, ``fleet_firmware``): one table of
names, types and defaults.  The module builds its argument spec from it, the action plugin parses the validated values
once (``plugin_utils/rolling_settings``), and a unit test proves that the role's defaults and argument specs say the
same.  The timeouts of the reboot watch come from ``reboot.DEFAULTS`` (what sys_operation documents too).

Python 3.8 syntax: module_utils may run on a jump host (modules import this file).
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import (
    BUSY_FORCE, BUSY_SKIP, BUSY_WAIT, DEFAULTS as REBOOT_DEFAULTS,
)

# Report formats of a rolling change (a family's registry names its files: rolling_reports).
REPORT_FORMATS = ('json', 'junit', 'csv', 'html')

# The engine's options: which phones, batches, stops, calls, state and reports.
ROLLING_OPTIONS = (
    ('hosts', dict(type='list', elements='str')),
    ('run_id', dict(type='str')),
    ('state_dir', dict(type='path')),
    ('batch_size', dict(type='raw', default='10%')),
    ('canary', dict(type='raw', default=0)),
    ('batch_pause', dict(type='float', default=0)),
    ('busy_policy', dict(type='str', choices=[BUSY_WAIT, BUSY_SKIP, BUSY_FORCE], default=BUSY_WAIT)),
    ('busy_timeout', dict(type='float', default=REBOOT_DEFAULTS['busy_timeout'])),
    ('poll_interval', dict(type='float', default=REBOOT_DEFAULTS['poll_interval'])),
    ('connect_timeout', dict(type='float', default=REBOOT_DEFAULTS['connect_timeout'])),
    ('max_fail_percent', dict(type='float', default=10)),
    ('window', dict(type='str')),
    ('concurrency', dict(type='int', default=50)),
    ('report_dir', dict(type='path')),
    ('report_formats', dict(type='list', elements='str', choices=list(REPORT_FORMATS), default=list(REPORT_FORMATS))),
    ('return_phones', dict(type='bool', default=True)),
)

# How a reboot is proven (the RebootWatch timeouts).
REBOOT_PROOF_OPTIONS = (
    ('down_timeout', dict(type='float', default=REBOOT_DEFAULTS['down_timeout'])),
    ('reboot_timeout', dict(type='float', default=REBOOT_DEFAULTS['reboot_timeout'])),
    ('registration_timeout', dict(type='float', default=REBOOT_DEFAULTS['registration_timeout'])),
)

# How a firmware rollout points the phones at their image, checks the images first and proves each upgrade: the waits of
# a reboot, plus the download, the flash and the reboot into the new image (minutes on real phones).
FIRMWARE_OPTIONS = (
    ('targets', dict(type='dict', required=True)),
    ('fix_settings', dict(type='bool', default=True)),
    ('image_check', dict(type='bool', default=True)),
    ('image_check_timeout', dict(type='float', default=10)),
    ('image_validate_certs', dict(type='bool', default=True)),
    ('down_timeout', dict(type='float', default=REBOOT_DEFAULTS['down_timeout'])),
    ('reboot_timeout', dict(type='float', default=1200)),
    ('upgrade_timeout', dict(type='float', default=1800)),
    ('registration_timeout', dict(type='float', default=REBOOT_DEFAULTS['registration_timeout'])),
)


def rolling_argument_spec(*change_options):
    """The argument spec of a rolling module: the engine's options plus its change's (tables like REBOOT_PROOF_OPTIONS)."""
    spec = {}
    for table in (ROLLING_OPTIONS,) + change_options:
        for name, entry in table:
            spec[name] = dict(entry, **({'choices': list(entry['choices'])} if 'choices' in entry else {}))
    return spec
