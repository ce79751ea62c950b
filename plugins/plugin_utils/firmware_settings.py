# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings a firmware rollout writes on a phone (cti-api.md section 8), and the ones that would stall it.

Pointing a phone at its image: the firmware server path ``P192`` (host[:port]/path, no scheme) and the protocol
(``P6767``, or ``P212`` on older GXP21xx: 0 TFTP, 1 HTTP, 2 HTTPS).  Settings that would stall the upgrade, each set
right when the rollout may fix them:

- ``P238`` firmware check at boot: ``2`` skips it, ``1`` checks only when the file prefix or postfix changes; -> ``0``;
- ``P8375`` upgrade confirmation: ``1`` makes the phone wait for a person; -> ``0``;
- ``P145``: on, DHCP option 66/43 may replace the server path written; -> ``0``;
- ``P232``/``P233`` file prefix/postfix: the phone would fetch ``<prefix><image><postfix>``, not the image the rollout
  checked; -> empty.

All of them are left so on the phone after the upgrade (the docs say so).
"""

SETTINGS_NOT_APPLIED = 'settings_not_applied'   # a reason: a value written did not read back (the phone not rebooted)

SERVER_PATH = 'P192'
PREFIX = 'P232'
POSTFIX = 'P233'
CHECK_AT_BOOT = 'P238'
DHCP_OVERRIDE = 'P145'
CONFIRMATION = 'P8375'
STALLING_KEYS = (CHECK_AT_BOOT, CONFIRMATION, DHCP_OVERRIDE, PREFIX, POSTFIX)
SHOWN = 60


def shown(value):
    """A setting's value fit for a sentence: quoted, printable, cut."""
    text = ''.join(char if char.isprintable() else '?' for char in str(value))
    return "'%s'" % (text if len(text) <= SHOWN else text[:SHOWN] + '...')


def point_settings(preflight, target):
    """``{pkey: value}`` that point the phone at its target's image: the server path and the protocol."""
    return {SERVER_PATH: target.server_path, preflight.protocol_key: target.protocol}


class Stall(object):
    """A setting that would stall the upgrade: ``key``, its ``value``, the ``wanted`` one, ``why`` (words)."""

    __slots__ = ('key', 'value', 'wanted', 'why')

    def __init__(self, key, value, wanted, why):
        self.key, self.value, self.wanted, self.why = key, value, wanted, why

    def __repr__(self):
        return 'Stall(%s=%s)' % (self.key, self.value)


class Stalls(list):
    """The stalling settings of one phone, in STALLING_KEYS order."""

    def fixes(self):
        return dict((stall.key, stall.wanted) for stall in self)

    def keys(self):
        return [stall.key for stall in self]


def stalling_settings(settings):
    """The :class:`Stalls` of a phone whose firmware settings are ``settings`` (``{pkey: value or None}``)."""
    stalls = Stalls()
    check = settings.get(CHECK_AT_BOOT)
    if check == '2':
        stalls.append(Stall(CHECK_AT_BOOT, check, '0', 'the phone skips the firmware check at boot'))
    elif check == '1':
        stalls.append(Stall(CHECK_AT_BOOT, check, '0', 'the phone checks for firmware only when the file prefix or '
                                                       'postfix changes'))
    if settings.get(CONFIRMATION) == '1':
        stalls.append(Stall(CONFIRMATION, '1', '0', 'the phone waits for a person to confirm the upgrade on its screen'))
    if settings.get(DHCP_OVERRIDE) not in (None, '', '0'):
        stalls.append(Stall(DHCP_OVERRIDE, settings[DHCP_OVERRIDE], '0', 'DHCP option 66/43 may replace the firmware '
                                                                         'server path written'))
    for key, what in ((PREFIX, 'prefix'), (POSTFIX, 'postfix')):
        if settings.get(key):
            stalls.append(Stall(key, settings[key], '', 'a file %s: the phone would fetch another file than the image '
                                                        'checked' % what))
    return stalls


def stalling_text(stalls):
    """``P238 is '2' (the phone skips ...), P8375 is '1' (...)``."""
    return ', '.join('%s is %s (%s)' % (stall.key, shown(stall.value), stall.why) for stall in stalls)


def changed_settings_note(changed):
    """The note of a phone whose settings were written: ``changed`` is ``(key, before, after)``."""
    return ('Set before the reboot, and left so on the phone: %s.'
            % ', '.join('%s %s -> %s' % (key, shown(before), shown(after)) for key, before, after in changed))
