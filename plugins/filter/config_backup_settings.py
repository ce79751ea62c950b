# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter config_backup_settings: a config_backup file's text as the settings phone_config sets (a restore).
Documented in config_backup_settings.yml beside this file."""

from ansible.errors import AnsibleFilterError

from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings_backup import parse_backup, restorable


def config_backup_settings(text, keys=None, read_only=False):
    """``{'P30': value}`` of a backup file's text: without the read-only keys unless ``read_only``, only ``keys`` when
    given."""
    if not isinstance(text, str):
        raise AnsibleFilterError('config_backup_settings expects the text of a backup file, not %s' % type(text).__name__)
    try:
        return restorable(parse_backup(str(text), 'the backup file'), keys, read_only=bool(read_only))
    except ValueError as exc:
        raise AnsibleFilterError('config_backup_settings: %s' % exc)


class FilterModule(object):

    def filters(self):
        return {'config_backup_settings': config_backup_settings}
