# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Settings as code: what ``phone_config`` (one phone) and ``fleet_config`` (every phone of a play) do to a phone.

Read, compare, write the difference, read it back (the netcommon resource-module life cycle: have, want, commands,
after).  A value that did not stick fails with the key named and the likely causes, never "changed".  Secrets are
written (``update_secrets: always``) or left alone (``never``), never read or compared, never shown; a written secret
is ``unverified``.

Python 3.8 syntax: module_utils may run on a jump host.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import (
    ADMIN_PASSWORD, ADMIN_PASSWORD_MIN, MASK, READ_ONLY_PVALUES, SESSION_CUTTERS, PhoneSettings, alias_is_secret, as_value,
    check_keys, is_secret, likely_causes, pvalue_key, weak_admin_password,
)

UPDATE_SECRETS = ('always', 'never')
STATES = ('merged', 'gathered')
_SHOWN = 80


def secret_values(settings):
    """The values of ``settings`` (as a task wrote them) that must never be shown: secrets by P-number or alias."""
    found = []
    for key, value in (settings or {}).items():
        pkey = pvalue_key(key)
        if (pkey is not None and is_secret(pkey)) or (pkey is None and alias_is_secret(str(key))):
            if value not in (None, ''):
                found.append(str(value))
    return found


def _shown(value):
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "...'"


def apply_settings(client, wanted, check_mode=False, update_secrets='always', settings=None):
    """Make the phone's settings ``wanted`` (``{key as written: value}``).  Returns the result fields:

    ``changed``, ``changed_keys``, ``unverified`` (secrets written, values whose read-back would cut the session),
    ``before`` / ``after`` (the keys given; secrets ``********``), ``pvalues`` ({key as written: 'P30'}), ``diff``,
    and on a value that did not stick ``failed`` with ``not_applied`` and ``msg``.  Raises ValueError for keys or
    values that cannot be sent (nothing was sent), CTIError for what the phone answered.
    """
    if update_secrets not in UPDATE_SECRETS:
        raise ValueError('update_secrets must be one of %s, not %r' % (', '.join(UPDATE_SECRETS), update_secrets))
    values = dict((key, as_value(key, value)) for key, value in (wanted or {}).items())
    if not values:
        raise ValueError('settings is empty: give the keys and values to set (P30: pool.ntp.org)')
    check_keys(values)  # before anything is sent
    settings = settings or PhoneSettings(client)
    pvalues = settings.resolve(list(values))
    by_pkey = {}
    for key, pkey in pvalues.items():
        if pkey in READ_ONLY_PVALUES:
            raise ValueError('%s (%s) is read-only (the phone reports it; it cannot be set)' % (key, pkey))
        if pkey in by_pkey and values[by_pkey[pkey]] != values[key]:
            raise ValueError('%s and %s are the same setting (%s) with two different values' % (by_pkey[pkey], key, pkey))
        by_pkey[pkey] = key
    secret = set(key for key, pkey in pvalues.items() if is_secret(pkey, settings.alias_of(pkey)) or alias_is_secret(key))
    if update_secrets == 'always':
        for key in sorted(key for key in secret if pvalues[key] == ADMIN_PASSWORD):
            weak = weak_admin_password(values[key])
            if weak:
                raise ValueError('%s: the phone drops a weak admin password while it answers success, and the admin '
                                 'password cannot be read back, so it was not sent (%s; use at least %d characters with '
                                 'letters and digits). Nothing was written' % (_named(key, pvalues), weak, ADMIN_PASSWORD_MIN))
    plain = [key for key in values if key not in secret]
    current = settings.read([pvalues[key] for key in plain]) if plain else {}
    unknown = [key for key in plain if current.get(pvalues[key]) is None]
    if unknown:
        raise ValueError('the phone has no setting %s (nothing was written)' % ', '.join(
            '%s' % key if pvalues[key] == key else '%s (%s)' % (key, pvalues[key]) for key in unknown))
    before = dict((key, MASK if key in secret else current[pvalues[key]]) for key in values)
    changes = [key for key in plain if current[pvalues[key]] != values[key]]
    secrets_written = sorted(secret) if update_secrets == 'always' else []
    changed_keys = changes + secrets_written
    after = dict(before)
    after.update((key, values[key]) for key in changes)
    result = {
        'changed': bool(changed_keys), 'changed_keys': changed_keys, 'pvalues': pvalues, 'before': before, 'after': after,
        'unverified': list(secrets_written), 'secrets_written': list(secrets_written),
        'diff': {'before': _text(before, plain), 'after': _text(after, plain)},
    }
    if check_mode or not changed_keys:
        return result
    settings.write(dict((pvalues[key], values[key]) for key in changed_keys))
    check = [key for key in changes if pvalues[key] not in SESSION_CUTTERS]
    result['unverified'] += [key for key in changes if pvalues[key] in SESSION_CUTTERS]
    read_back = settings.read([pvalues[key] for key in check]) if check else {}
    not_applied = [key for key in check if read_back.get(pvalues[key]) != values[key]]
    after.update((key, read_back.get(pvalues[key])) for key in check)
    result['diff']['after'] = _text(after, plain)
    result['changed_keys'] = [key for key in changed_keys if key not in not_applied]
    result['changed'] = bool(result['changed_keys'])
    if not_applied:
        details = '; '.join('%s is %s (wanted %s)' % (_named(key, pvalues), _shown(read_back.get(pvalues[key])),
                                                      _shown(values[key])) for key in not_applied)
        causes = likely_causes([pvalues[key] for key in not_applied],
                               dict((pvalues[key], values[key]) for key in not_applied), client)
        result.update(failed=True, not_applied=not_applied,
                      msg='%s: the phone answered success but kept the old value: %s. Likely causes: %s.'
                          % (client.connection.label, details, '; '.join(causes)))
    return result


def read_settings(client, keys, settings=None):
    """``state: gathered``: ``{'gathered': {key: value}, 'pvalues', 'secret_keys', 'unknown_keys'}``; secrets are not
    read (None), keys the phone does not know are None and listed."""
    keys = list(keys or [])
    if not keys:
        raise ValueError('keys is empty: name the settings to read (P30, provisioning.firmware.serverPath...)')
    check_keys(keys)
    settings = settings or PhoneSettings(client)
    pvalues = settings.resolve(keys)
    secret = [key for key in keys if is_secret(pvalues[key], settings.alias_of(pvalues[key])) or alias_is_secret(key)]
    plain = [key for key in keys if key not in secret]
    values = settings.read([pvalues[key] for key in plain]) if plain else {}
    gathered = dict((key, None if key in secret else values.get(pvalues[key])) for key in keys)
    return {'changed': False, 'gathered': gathered, 'pvalues': pvalues, 'secret_keys': secret,
            'unknown_keys': [key for key in plain if values.get(pvalues[key]) is None]}


def phone_config(client, params, check_mode):
    """The task function of the phone_config module."""
    if params.get('state', 'merged') == 'gathered':
        return read_settings(client, params.get('keys'))
    result = apply_settings(client, params.get('settings'), check_mode, params.get('update_secrets') or 'always')
    if result['changed'] and not result.get('failed'):
        result['msg'] = '%s: %s %s%s.' % (client.connection.label, 'would set' if check_mode else 'set',
                                          ', '.join(result['changed_keys']),
                                          ' (secrets written, not verifiable: %s)' % ', '.join(result['secrets_written'])
                                          if result['secrets_written'] else '')
    return result


def _named(key, pvalues):
    return key if pvalues.get(key) == key else '%s (%s)' % (key, pvalues.get(key))


def _text(values, keys):
    return ''.join('%s=%s\n' % (key, values.get(key)) for key in sorted(keys, key=str))
