# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reboot (or factory-reset) one phone and prove that it happened.

An answer to REBOOT proves nothing: the phone keeps answering while it saves its settings
(cti-api.md section 3).  A reboot is proven only by seeing the phone go away and come back,
then, for a reboot, by its accounts registering again.

The pieces are small and never sleep, so that the rolling_reboot role can send the commands
of a whole batch and drive every :class:`RebootWatch` from one waiter::

    options = check_options({'poll_interval': 5})   # defaults filled in; raises ValueError
    facts = preflight(client)                       # read-only; raises CTIError
    if skip_reason(facts, options) is None:
        watch = send_command(client, expected_registrations(facts, options), options)
    ...
    while not all(watch.done for watch in watches):  # one waiter for the batch
        due = [watch for watch in watches if not watch.done and watch.due_at <= time.monotonic()]
        pool.map(lambda watch: watch.step(), due)    # one probe each, at most connect_timeout
        time.sleep(...)

:func:`reboot_phone` is that sequence for one phone (with busy_policy=wait), and is what the
sys_operation module runs.

Python 3.8 syntax: this file may run on a jump host.
"""

import collections
import socket
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, FORBIDDEN, LOCKED, UNREACHABLE, CTIClient, CTIError,
)

REBOOT = 'REBOOT'
RESET = 'RESET'

# Watch states, in order; FAILED can follow any of the first three.
SENT = 'sent'
DOWN = 'down'
UP = 'up'
REGISTERED = 'registered'
FAILED = 'failed'

# Why a watch failed (RebootWatch.failure), for reports and tests.
NEVER_DOWN = 'never_down'
NEVER_UP = 'never_up'
UNREGISTERED = 'unregistered'
REFUSED = 'refused'

# Busy policies and skip reasons of reboot_phone().
BUSY_SKIP = 'skip'
BUSY_WAIT = 'wait'
BUSY_FORCE = 'force'
SKIPPED_BUSY = 'busy'
SKIPPED_REGISTERED = 'registered'
SKIPPED_NO_ACCOUNTS = 'no_accounts'

# Seconds between two bare TCP checks of the web port of a phone not yet seen going down (at most poll_interval).
DOWN_CHECK_INTERVAL = 0.25

# Defaults suit real phones, which take minutes; the sys_operation module documents the same values.
DEFAULTS = {
    'operation': 'reboot',
    'wait': True,
    'busy_policy': BUSY_SKIP,
    'busy_timeout': 300.0,
    'only_if_unregistered': False,
    'confirm_reset': False,
    'down_timeout': 120.0,
    'reboot_timeout': 600.0,
    'registration_timeout': 300.0,
    'post_reboot_delay': 0.0,
    'connect_timeout': 5.0,
    'poll_interval': 5.0,
}
TIMEOUT_OPTIONS = ('busy_timeout', 'down_timeout', 'reboot_timeout', 'registration_timeout', 'post_reboot_delay',
                   'connect_timeout', 'poll_interval')

# What one probe saw.  reachable: the phone answered.  registered: ids of the registered configured
# accounts, or None when the answer did not tell.  fatal: a CTIError that ends the watch (for example
# the passcode was rejected: asking again would only count towards the phone's lockout).
Observation = collections.namedtuple('Observation', ['reachable', 'registered', 'fatal'])
Observation.__new__.__defaults__ = (None, None)


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


def registered_ids(accounts):
    return [account['id'] for account in accounts if account['configured'] and account['registered']]


def cti_probe(connection, connect_timeout):
    """Probe after REBOOT: one unretried ``api-get_accounts``, which also tells registration.

    A fresh client per probe: a kept-alive connection from before the reboot is dead anyway.
    """
    probe_connection = _with_timeout(connection, connect_timeout)

    def probe():
        client = CTIClient(probe_connection, read_retries=0)
        try:
            return Observation(True, registered_ids(client.get_accounts()))
        except CTIError as error:
            if error.error_class == UNREACHABLE:
                return Observation(False)
            if error.error_class in (AUTH_FAILED, LOCKED, FORBIDDEN):
                return Observation(True, fatal=error)
            # HTTP 500, HTML, half-booted answers: the phone is there, its registration unknown.
            return Observation(True)
        finally:
            client.close()
    return probe


def port_probe(connection, connect_timeout):
    """Probe after RESET: a bare TCP connect to the web port.

    The reset restored the factory passcode, so no HTTP request (and never the old passcode)
    is sent: a wrong passcode would count towards the phone's lockout.
    """
    def probe():
        return Observation(port_open(connection.host, connection.port, connect_timeout))
    return probe


def port_check(connection, timeout):
    """A callable: True while the phone's web port accepts a TCP connection (nothing is sent)."""
    def check():
        return port_open(connection.host, connection.port, timeout)
    return check


def port_open(host, port, timeout):
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.timeout):
        return False
    sock.close()
    return True


def _with_timeout(connection, timeout):
    return connection.copy(timeout=timeout)


class WatchOptions(object):
    """How a :class:`RebootWatch` waits: the reboot options of ``check_options()``, in one object.

    ``WatchOptions.from_options(check_options(...))`` from a module's or a task's options; keyword arguments
    for the ones that differ from the defaults (tests).
    """

    FIELDS = ('operation', 'wait', 'down_timeout', 'reboot_timeout', 'registration_timeout', 'post_reboot_delay',
              'connect_timeout', 'poll_interval')
    __slots__ = FIELDS

    def __init__(self, **options):
        unknown = set(options) - set(self.FIELDS)
        if unknown:
            raise TypeError('unknown watch option(s): %s' % ', '.join(sorted(unknown)))
        for field in self.FIELDS:
            value = options.get(field, DEFAULTS[field])
            setattr(self, field, value if field in ('operation', 'wait') else float(value))

    @classmethod
    def from_options(cls, options):
        return cls(**dict((field, options[field]) for field in cls.FIELDS))

    def __repr__(self):
        return 'WatchOptions(%s)' % ', '.join('%s=%r' % (field, getattr(self, field)) for field in self.FIELDS)


class RebootWatch(object):
    """State machine proving one reboot: ``sent -> down -> up -> registered``, or ``failed``.

    Create it right after the command went out; each :meth:`poll` sends one probe and never
    sleeps.  Times in :attr:`timings` are seconds since the watch was created.

    ``registered_before``: account ids that must be registered again (ignored when ``options.wait`` is
    false or after a RESET, which clears the accounts).  ``options``: a :class:`WatchOptions`.
    ``clock`` and ``probe`` replace ``time.monotonic`` and the network probe in tests;
    ``down_check`` (a callable, True while the web port accepts a connection) the quick check of
    :meth:`step`; it is off when a ``probe`` is given without one.

    Drive it with :meth:`step` at :attr:`due_at` (or with :meth:`poll` at :attr:`next_poll_at`).
    """

    def __init__(self, connection, registered_before, options=None, clock=None, probe=None, down_check=None):
        options = options or WatchOptions()
        self.connection = connection
        self.options = options
        self.operation = options.operation.upper()
        self.expected = sorted(set(registered_before or ()))
        self.check_registration = bool(options.wait) and self.operation == REBOOT
        self.down_timeout = options.down_timeout
        self.reboot_timeout = options.reboot_timeout
        self.registration_timeout = options.registration_timeout
        self.post_reboot_delay = options.post_reboot_delay
        self.poll_interval = options.poll_interval
        self._clock = clock or time.monotonic
        if probe is None:
            probe = (port_probe(connection, options.connect_timeout) if self.operation == RESET
                     else cti_probe(connection, options.connect_timeout))
            if down_check is None:
                down_check = port_check(connection, min(options.connect_timeout, 1.0))
        self._probe = probe
        self._down_check = down_check
        self.down_check_interval = min(self.poll_interval, DOWN_CHECK_INTERVAL)
        self.started = self._clock()
        self.state = SENT
        self.done = False
        self.failure = None
        self.reason = None
        self.registered = None  # account ids registered at the last answer that told
        self.dropped = False    # set by send_command(): the phone closed the connection on the command
        self.polls = 0
        self.timings = {'down_after': None, 'up_after': None, 'registered_after': None}
        self.next_poll_at = self.started + self.poll_interval
        self.next_down_check_at = self.started + self.down_check_interval

    @property
    def due_at(self):
        """When :meth:`step` has something to do: the next poll, or earlier the next quick down check."""
        if self.state == SENT and self._down_check is not None:
            return min(self.next_poll_at, self.next_down_check_at)
        return self.next_poll_at

    @property
    def ok(self):
        return self.done and self.state != FAILED

    @property
    def outcome(self):
        """None while waiting, then ``rebooted`` or ``failed`` (the rolling_reboot report outcomes)."""
        if not self.done:
            return None
        return 'rebooted' if self.ok else 'failed'

    @property
    def rebooted(self):
        """The phone was seen going away and coming back."""
        return self.timings['up_after'] is not None

    def elapsed(self):
        return self._clock() - self.started

    def step(self):
        """What is due at :attr:`due_at`: a poll, or before it, while the phone has not been seen going down, a bare
        TCP connect to its web port (no request).  A phone that restarts faster than poll_interval would otherwise be
        seen answering before and after, and fail as never gone down; a closed port triggers the poll at once."""
        if self.done:
            return self.state
        now = self._clock()
        if self.state == SENT and self._down_check is not None and now < self.next_poll_at:
            self.next_down_check_at = now + self.down_check_interval
            if self._down_check():
                return self.state
        return self.poll()

    def poll(self):
        """Send one probe and advance; returns the state.  A finished watch sends nothing."""
        if self.done:
            return self.state
        self.next_down_check_at = self._clock() + self.down_check_interval
        seen = self._probe()
        self.polls += 1
        since = self._clock() - self.started
        if seen.fatal is not None:
            self.fail(seen.fatal.error_class or REFUSED, str(seen.fatal))
        else:
            {SENT: self._after_sent, DOWN: self._after_down, UP: self._after_up}[self.state](seen, since)
        self._schedule(since)
        return self.state

    def _after_sent(self, seen, since):
        if not seen.reachable:
            self._advance(DOWN, 'down_after', since)
        elif since >= min(self.down_timeout, self.reboot_timeout):
            self.fail(NEVER_DOWN, 'the phone accepted %s but was still answering %s s later, so it did not reboot. '
                      'Reboot it by hand if it stays like this.' % (self.operation, _seconds(since)))

    def _after_down(self, seen, since):
        if seen.reachable:
            self._advance(UP, 'up_after', since)
            if self.post_reboot_delay <= 0:
                self._after_up(seen, since)
        elif since >= self.reboot_timeout:
            self.fail(NEVER_UP, 'the phone went down after %s but did not answer again within reboot_timeout (%s s). '
                      'Check its power and network.' % (self.operation, _seconds(self.reboot_timeout)))

    def _after_up(self, seen, since):
        settled_at = self.timings['up_after'] + self.post_reboot_delay
        if since < settled_at:
            return
        if not self.check_registration:
            self.done = True
            return
        if seen.registered is not None:
            self.registered = list(seen.registered)
        if not self.expected or (seen.registered is not None and set(self.expected) <= set(seen.registered)):
            self._advance(REGISTERED, 'registered_after', since)
            self.done = True
        elif since >= settled_at + self.registration_timeout:
            missing = sorted(set(self.expected) - set(self.registered or ()))
            self.fail(UNREGISTERED, 'the phone rebooted and answers again, but account%s %s did not register within '
                      'registration_timeout (%s s). Check the SIP server and the phone network.'
                      % ('s' if len(missing) > 1 else '', ', '.join(str(item) for item in missing),
                         _seconds(self.registration_timeout)))

    def _advance(self, state, timing, since):
        self.state = state
        self.timings[timing] = round(since, 2)

    def fail(self, failure, message):
        """End the watch as failed: ``failure`` says why in a word (NEVER_DOWN, an error class...), ``message`` in a sentence."""
        self.state = FAILED
        self.done = True
        self.failure = failure
        # CTIError texts already start with the phone label.
        label = self.connection.label
        self.reason = message if message.startswith(label) else '%s: %s' % (label, message)

    def _schedule(self, since):
        """Next poll after poll_interval, but never later than the running deadline: fail on time."""
        deadline = self._deadline(since)
        next_since = since + self.poll_interval
        if self.state == UP and since < self.timings['up_after'] + self.post_reboot_delay:
            next_since = deadline  # nothing to learn while the phone settles
        elif deadline is not None:
            next_since = min(next_since, max(deadline, since))
        self.next_poll_at = self.started + next_since

    def _deadline(self, since):
        """Seconds after the start when the current wait ends (for UP: first the settling delay)."""
        if self.state == SENT:
            return min(self.down_timeout, self.reboot_timeout)
        if self.state == DOWN:
            return self.reboot_timeout
        if self.state == UP:
            settled_at = self.timings['up_after'] + self.post_reboot_delay
            return settled_at if since < settled_at else settled_at + self.registration_timeout
        return None


def _seconds(value):
    return ('%.2f' % value).rstrip('0').rstrip('.')


def wait_for(watch, sleep=None, clock=None):
    """Blocking wrapper: step one watch until it is done."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    while not watch.done:
        sleep(max(0.0, watch.due_at - clock()))
        watch.step()
    return watch


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


def send_command(client, expected, options, clock=None, probe=None, down_check=None):
    """Send REBOOT or RESET and return the RebootWatch that proves it; ``watch.dropped`` tells whether the
    phone closed the connection instead of answering.  ``expected``: the account ids that must register again
    (:func:`expected_registrations`); ``options``: from :func:`check_options`.  Raises CTIError when the command
    was refused."""
    sent = client.sys_operation(options['operation'].upper())
    watch = RebootWatch(client.connection, expected, WatchOptions.from_options(options), clock=clock, probe=probe,
                        down_check=down_check)
    watch.dropped = bool(sent.get('dropped'))
    return watch


def reboot_phone(client, options, check_mode, sleep=None, clock=None, probe=None):
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
    watch = wait_for(send_command(client, expected_registrations(facts, options), options, clock, probe), sleep, clock)
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
                label, _participle(options), _seconds(options['busy_timeout']))
        return '%s: not %s: a line is in use (busy_policy=skip).' % (label, _participle(options))
    if reason == SKIPPED_NO_ACCOUNTS:
        return '%s: not rebooted: no account is configured, so there is no registration to repair.' % label
    return '%s: not rebooted: every configured account is registered.' % label


def _finish(result, watch, options):
    result = dict(result, changed=watch.timings['down_after'] is not None, rebooted=watch.rebooted,
                  dropped=watch.dropped, elapsed=round(watch.elapsed(), 2), timings=dict(watch.timings),
                  passcode_reset=options['operation'] == 'reset' and watch.timings['down_after'] is not None)
    if not watch.ok:
        return dict(result, failed=True, failure=watch.failure, msg=watch.reason)
    return dict(result, msg=_done_message(watch, options))


def _done_message(watch, options):
    label = watch.connection.label
    if options['operation'] == 'reset':
        return ('%s: factory reset done: the phone went down and came back. Its accounts and settings are erased and its '
                'admin passcode is now the factory one (see the sticker on the phone); update grandstream_passcode '
                'before the next run.' % label)
    if watch.state == REGISTERED:
        return '%s: rebooted; it was back after %s s and its accounts registered after %s s.' % (
            label, _seconds(watch.timings['up_after']), _seconds(watch.timings['registered_after']))
    return '%s: rebooted; it was back after %s s (registration not checked: wait=false).' % (
        label, _seconds(watch.timings['up_after']))
