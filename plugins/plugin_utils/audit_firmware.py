# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registration audit's device part: what each phone is (model, firmware, MAC, factory password) and whether its
firmware reaches the minimum for its model (``firmware.py``).  A part of ``fleet_check.py``; shown by
``audit_reports.FirmwareReports``.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_facts import read_device
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import (
    FIRMWARE_STATUSES, NOT_CHECKED, OUTDATED, UNKNOWN, FirmwarePolicy,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fleet_check import (
    FLAG, TEXT, CheckPart, dict_of, one_of,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, plural

# What the phone tells of itself (phone_facts.read_device); a failed read leaves each unknown, with why.
PHONE_TOLD_FIELDS = ('model', 'firmware', 'mac', 'default_password')
NOT_READ = 'the phone could not be read'
# Where a row's model comes from (model_source).
MODEL_FROM_PHONE = 'phone'
MODEL_FROM_INVENTORY = 'inventory'


class DevicePart(CheckPart):
    """Model, firmware, MAC, factory password and the firmware verdict of each phone; the counts of the verdicts."""

    name = 'device'
    fields = {
        'model_source': one_of((MODEL_FROM_PHONE, MODEL_FROM_INVENTORY, None)),
        'firmware': TEXT, 'mac': TEXT, 'default_password': FLAG, 'auth': TEXT,
        'firmware_status': one_of(FIRMWARE_STATUSES, default=NOT_CHECKED),
        'firmware_compliant': FLAG, 'firmware_minimum': TEXT,
        # firmware_reason: the sentence (from 0.2.0, kept for its readers); firmware_error: the same sentence, the name
        # every sentence field of a row has.
        'firmware_reason': TEXT, 'firmware_error': TEXT,
    }
    settings = {'firmware_minimum': dict_of(lambda version: isinstance(version, str),
                                            'an object of model patterns and versions (strings)')}

    def __init__(self, device=True, policy=None, web_login=False):
        # web_login: the security posture reads settings through the web login anyway, so the device read makes it on
        # every phone (a passcode phone then tells its firmware, MAC and factory password too); it implies the read.
        self.web_login = bool(web_login)
        self.device = bool(device) or self.web_login
        self.policy = policy or FirmwarePolicy()

    def read(self, client, target, data):
        if not self.device:
            return
        try:
            # With the posture, the model comes with its settings read (P89): one request less per phone.
            data['device'] = read_device(client, web_login=self.web_login, model=not self.web_login)
        except CTIError as exc:  # a device read that fails leaves the fields unknown; it never changes the status
            data['device'] = {'auth': client.connection.auth,
                              'unknown_reason': dict((field, exc.reason) for field in PHONE_TOLD_FIELDS)}

    def record(self, row, result, target):
        """``model`` is what the phone says, else the inventory's ``model`` variable (``model_source`` tells which);
        ``firmware``, ``mac`` and ``default_password`` only what the phone says."""
        device = (result.get('data') or {}).get('device') or {}
        inventory_model = row.get('model')
        row.update(model=device.get('model') or inventory_model,
                   model_source=MODEL_FROM_PHONE if device.get('model') else (MODEL_FROM_INVENTORY if inventory_model else None),
                   firmware=device.get('firmware'), mac=device.get('mac'), default_password=device.get('default_password'),
                   auth=device.get('auth') or (target.connection.auth if target is not None and target.connection else None))
        verdict = self.policy.verdict(row['model'], row['firmware'])
        if verdict['firmware_status'] == UNKNOWN and not result['ok']:
            verdict['firmware_reason'] = NOT_READ
        elif verdict['firmware_status'] == UNKNOWN and row['firmware'] is None:
            why = (device.get('unknown_reason') or {}).get('firmware')
            if why:
                verdict['firmware_reason'] = '%s: %s' % (verdict['firmware_reason'], why)
        verdict['firmware_error'] = verdict['firmware_reason']
        row.update(verdict)

    def count(self, rows, summary):
        """``firmware_outdated``: phones below their minimum; ``firmware_unknown``: phones whose verdict is unknown (0
        when no minimum was set); ``default_password``: phones that still have the factory password."""
        summary.update(firmware_outdated=0, firmware_unknown=0, default_password=0)
        for row in rows:
            firmware_status = row.get('firmware_status')
            summary['firmware_outdated'] += firmware_status == OUTDATED
            summary['firmware_unknown'] += firmware_status == UNKNOWN
            summary['default_password'] += row.get('default_password') is True

    def settings_of(self, options):
        return {'firmware_minimum': dict((pattern, text) for pattern, text, dummy in self.policy.rules)}

    def problems(self, report):
        return {'firmware_outdated': [row['name'] for row in report['phones'] if row.get('firmware_status') == OUTDATED]}

    def sentence(self, report):
        rows = report['phones']
        return firmware_sentence(report['summary'], [row['name'] for row in rows if row.get('firmware_status') == OUTDATED],
                                 checked=bool((report.get('audit') or {}).get('firmware_minimum')),
                                 factory_names=[row['name'] for row in rows if row.get('default_password') is True])


def firmware_sentence(summary, outdated_names, checked, limit=10, factory_names=None):
    """The firmware part of the paragraph: outdated and unknown counts, the phones with the factory password; ''
    when there is nothing to say."""
    parts = []
    if checked:
        if summary.get('firmware_outdated'):
            parts.append('%s below the minimum firmware (%s)' % (
                plural(summary['firmware_outdated'], 'phone'), name_list(outdated_names, limit)))
        else:
            parts.append('no phone below the minimum firmware')
        if summary.get('firmware_unknown'):
            parts.append('firmware unknown on %d' % summary['firmware_unknown'])
    if summary.get('default_password'):
        parts.append('%d still with the factory password%s' % (
            summary['default_password'], ' (%s)' % name_list(factory_names, limit) if factory_names else ''))
    return ('Firmware: %s.' % '; '.join(parts)) if parts else ''
