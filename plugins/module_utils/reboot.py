# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reboot (or factory-reset) one phone and prove that it happened.

An answer to REBOOT proves nothing: the phone keeps answering while it saves its settings
(cti-api.md section 3).  A reboot is proven only by seeing the phone go away and come back,
then, for a reboot, by its accounts registering again.

The pieces are small and never sleep, so that the rolling_reboot role can send the commands
of a whole batch and drive every :class:`~reboot_watch.RebootWatch` (reboot_watch.py) from one waiter::

    options = check_options({'poll_interval': 5})   # defaults filled in; raises ValueError
    facts = preflight(client)                       # read-only; raises CTIError
    if skip_reason(facts, options) is None:
        watch = send_command(client, expected_registrations(facts, options), options)
    ...
    while not all(watch.done for watch in watches):  # one waiter for the batch
        due = [watch for watch in watches if not watch.done and watch.due_at <= time.monotonic()]
        pool.map(lambda watch: watch.step(), due)    # one look each: a port check or a registration poll
        time.sleep(...)

:func:`reboot_phone` is that sequence for one phone (with busy_policy=wait), and is what the
sys_operation module runs.

Python 3.8 syntax: this file may run on a jump host.
"""

import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import (
    REGISTERED, WATCH_DEFAULTS, RebootWatch, WatchOptions, registered_ids, seconds_text, wait_for,
)

# Busy policies and skip reasons of reboot_phone().
BUSY_SKIP = 'skip'
BUSY_WAIT = 'wait'
BUSY_FORCE = 'force'
SKIPPED_BUSY = 'busy'
SKIPPED_REGISTERED = 'registered'
SKIPPED_NO_ACCOUNTS = 'no_accounts'

# Defaults suit real phones, which take minutes; the sys_operation module documents the same values.
DEFAULTS = dict(WATCH_DEFAULTS, busy_policy=BUSY_SKIP, busy_timeout=300.0, only_if_unregistered=False, confirm_reset=False)
TIMEOUT_OPTIONS = ('busy_timeout', 'down_timeout', 'reboot_timeout', 'registration_timeout', 'post_reboot_delay',
                   'connect_timeout', 'poll_interval')


def preflight(client):
    """Read-only look at the phone before a reboot: proves it is reachable and the passcode works.

    Returns ``{'lines', 'in_use', 'accounts', 'configured', 'registered', 'unregistered'}``
    (the last three are lists of account ids).  Raises CTIError.
    """
    lines = client.get_line_status()
    accounts = client.get_accounts()
    configured = [account['id'] for account in accounts if account['configured']]
    registered = registered_ids(accounts)
    return {
        'lines': lines,
        'in_use': any(line['in_use'] for line in lines),
        'accounts': accounts,
        'configured': configured,
        'registered': registered,
        'unregistered': [account_id for account_id in configured if account_id not in registered],
    }


def check_options(options):
    """Fill defaults and refuse bad combinations before anything is sent.  Raises ValueError.

    ``options`` may hold other keys (the module passes its connection options too); None means default.
    """
    merged = dict(DEFAULTS)
    merged.update((key, value) for key, value in options.items() if value is not None)
    merged['operation'] = str(merged['operation']).lower()
    if merged['operation'] not in ('reboot', 'reset'):
        raise ValueError('operation must be reboot or reset, not %r' % merged['operation'])
    if merged['busy_policy'] not in (BUSY_SKIP, BUSY_WAIT, BUSY_FORCE):
        raise ValueError('busy_policy must be skip, wait or force, not %r' % merged['busy_policy'])
    if merged['operation'] == 'reset' and not merged['confirm_reset']:
        raise ValueError('operation=reset is a factory reset: it erases the accounts and settings and restores the '
                         'factory passcode. Set confirm_reset: true to do it. Nothing was sent.')
    if merged['operation'] == 'reset' and merged['only_if_unregistered']:
        raise ValueError('only_if_unregistered applies to operation=reboot only; a factory reset erases the accounts')
    for key in TIMEOUT_OPTIONS:
        merged[key] = _seconds_option(key, merged[key])
    return merged


def _seconds_option(key, value):
    value = float(value)
    # A zero poll interval would spin, a zero connect timeout would see every phone as down.
    if key in ('poll_interval', 'connect_timeout') and value <= 0:
        raise ValueError('%s must be a positive number of seconds, not %s' % (key, value))
    if value < 0:
        raise ValueError('%s must be a non-negative number of seconds, not %s' % (key, value))
    return value


def skip_reason(facts, options):
    """Why the phone must not be rebooted now, or None.  Busy comes last: it is the one that can be waited out."""
    if options['only_if_unregistered']:
        if not facts['configured']:
            return SKIPPED_NO_ACCOUNTS
        if not facts['unregistered']:
            return SKIPPED_REGISTERED
    if facts['in_use'] and options['busy_policy'] != BUSY_FORCE:
        return SKIPPED_BUSY
    return None


def wait_until_idle(client, facts, options, sleep=None, clock=None):
    """busy_policy=wait: repeat the preflight until no line is in use or busy_timeout passed.

    Returns the last preflight (its ``in_use`` tells which), so the accounts are fresh too.
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + options['busy_timeout']
    while facts['in_use'] and clock() < deadline:
        sleep(max(0.0, min(options['poll_interval'], deadline - clock())))
        facts = preflight(client)
    return facts


def expected_registrations(facts, options):
    """Accounts that must register again: those registered before, or every configured one when
    the reboot is meant to repair registration (only_if_unregistered)."""
    return facts['configured'] if options['only_if_unregistered'] else facts['registered']


def send_command(client, expected, options, clock=None, probe=None, port_check=None):
    """Send REBOOT or RESET and return the RebootWatch that proves it; ``watch.dropped`` tells whether the
    phone closed the connection instead of answering.  ``expected``: the account ids that must register again
    (:func:`expected_registrations`); ``options``: from :func:`check_options`.  Raises CTIError when the command
    was refused."""
    sent = client.sys_operation(options['operation'].upper())
    watch = RebootWatch(client.connection, expected, WatchOptions.from_options(options), clock=clock, probe=probe,
                        port_check=port_check)
    watch.dropped = bool(sent.get('dropped'))
    return watch


def reboot_phone(client, options, check_mode, sleep=None, clock=None, probe=None, port_check=None):
    """Reboot or reset one phone and verify it; returns the sys_operation result dict.

    Raises ValueError for bad options and CTIError when the preflight or the command fails.
    """
    options = check_options(options)
    facts = preflight(client)
    reason = skip_reason(facts, options)
    waited = 0.0
    if reason == SKIPPED_BUSY and options['busy_policy'] == BUSY_WAIT:
        if check_mode:
            reason = None  # the real run would wait for the call to end, then reboot
        else:
            started = (clock or time.monotonic)()
            facts = wait_until_idle(client, facts, options, sleep, clock)
            waited = (clock or time.monotonic)() - started
            reason = skip_reason(facts, options)
    result = _base_result(options, facts, waited)
    if reason:
        return dict(result, skipped_reason=reason, msg=_skip_message(client, options, reason))
    if check_mode:
        return dict(result, changed=True, msg=_check_message(client, options, facts))
    watch = wait_for(send_command(client, expected_registrations(facts, options), options, clock, probe, port_check),
                     sleep, clock)
    return _finish(result, watch, options)


def _check_message(client, options, facts):
    busy = ' once no line is in use' if facts['in_use'] and options['busy_policy'] == BUSY_WAIT else ''
    return '%s: would %s the phone%s (check mode, nothing sent).' % (client.connection.label, _verb(options), busy)


def _verb(options):
    return 'factory-reset' if options['operation'] == 'reset' else 'reboot'


def _participle(options):
    return 'factory-reset' if options['operation'] == 'reset' else 'rebooted'


def _base_result(options, facts, waited):
    return {
        'changed': False,
        'operation': options['operation'],
        'rebooted': False,
        'skipped_reason': None,
        'dropped': False,
        'elapsed': 0.0,
        'timings': {'down_after': None, 'up_after': None, 'registered_after': None},
        'waited_for_idle': round(waited, 2),
        'lines': facts['lines'],
        'registered_before': facts['registered'],
        'passcode_reset': False,
    }


def _skip_message(client, options, reason):
    label = client.connection.label
    if reason == SKIPPED_BUSY:
        if options['busy_policy'] == BUSY_WAIT:
            return '%s: not %s: a line was still in use after busy_timeout (%s s).' % (
                label, _participle(options), seconds_text(options['busy_timeout']))
        return '%s: not %s: a line is in use (busy_policy=skip).' % (label, _participle(options))
    if reason == SKIPPED_NO_ACCOUNTS:
        return '%s: not rebooted: no account is configured, so there is no registration to repair.' % label
    return '%s: not rebooted: every configured account is registered.' % label


def _finish(result, watch, options):
    result = dict(result, changed=watch.timings['down_after'] is not None, rebooted=watch.rebooted,
                  dropped=watch.dropped, elapsed=round(watch.elapsed(), 2), timings=dict(watch.timings),
                  passcode_reset=options['operation'] == 'reset' and watch.timings['down_after'] is not None)
    if not watch.ok:
        return dict(result, failed=True, failure=watch.reason, msg=watch.error)
    return dict(result, msg=_done_message(watch, options))


def _done_message(watch, options):
    label = watch.connection.label
    if options['operation'] == 'reset':
        return ('%s: factory reset done: the phone went down and came back. Its accounts and settings are erased and its '
                'admin passcode is now the factory one (see the sticker on the phone); update grandstream_passcode '
                'before the next run.' % label)
    if watch.state == REGISTERED:
        return '%s: rebooted; it was back after %s s and its accounts registered after %s s.' % (
            label, seconds_text(watch.timings['up_after']), seconds_text(watch.timings['registered_after']))
    return '%s: rebooted; it was back after %s s (registration not checked: wait=false).' % (
        label, seconds_text(watch.timings['up_after']))
