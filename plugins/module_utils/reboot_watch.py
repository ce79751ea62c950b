# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving one reboot: :class:`RebootWatch` sees the phone go away, come back and register again.

An answer to REBOOT proves nothing: the phone keeps answering while it saves its settings (cti-api.md
section 3).  The watch looks at the phone in two ways, chosen to see each step soon without hammering it:

- while it waits for the phone to go down and to come back, a bare TCP connect to the web port every
  half second (nothing is sent, nothing counts towards a lockout);
- from the moment the web port answers until the accounts are registered, an ``api-get_accounts`` poll,
  first at once, then every second, and after ten seconds without registration backing off (x2) up to
  ``poll_interval``: never more than one HTTP request a second.

A watch never sleeps: :meth:`step` does what is due at :attr:`due_at`, so one waiter can drive the
watches of a whole batch (the rolling reboot) or one phone (``reboot.wait_for``).

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

# Watch states, in order: the last step the phone was seen to reach.  A failed watch stays at the step where it
# failed; ``reason`` says why.
SENT = 'sent'
DOWN = 'down'
UP = 'up'
REGISTERED = 'registered'

# Why a watch failed (RebootWatch.reason), for reports and tests; a CTI error class (cti.py) when a poll was refused.
NEVER_DOWN = 'never_down'
NEVER_UP = 'never_up'
UNREGISTERED = 'unregistered'
REFUSED = 'refused'

# Seconds between two port checks (at most poll_interval): cheap, and a phone seen down or back half a second late.
CHECK_INTERVAL = 0.5
# Seconds between two registration polls while the phone has just come back (at most poll_interval); after
# FAST_POLL_PERIOD seconds of polls without registration the wait doubles up to poll_interval.
FAST_POLL_WAIT = 1.0
FAST_POLL_PERIOD = 10.0

# Defaults suit real phones, which take minutes; the sys_operation module documents the same values.
WATCH_DEFAULTS = {
    'operation': 'reboot',
    'wait': True,
    'down_timeout': 120.0,
    'reboot_timeout': 600.0,
    'registration_timeout': 300.0,
    'post_reboot_delay': 0.0,
    'connect_timeout': 5.0,
    'poll_interval': 5.0,
}

# What one look saw.  reachable: the phone answered.  registered: ids of the registered configured accounts,
# or None when the look did not tell (a port check, an odd answer).  fatal: a CTIError that ends the watch
# (for example the passcode was rejected: asking again would only count towards the phone's lockout).
Observation = collections.namedtuple('Observation', ['reachable', 'registered', 'fatal'])
Observation.__new__.__defaults__ = (None, None)


def registered_ids(accounts):
    return [account['id'] for account in accounts if account['configured'] and account['registered']]


class AccountsProbe(object):
    """The registration poll: one unretried ``api-get_accounts`` with ``connect_timeout`` as its deadline.

    One client for the whole watch: a session-dialect phone logs in once after its reboot (its old session died
    with it: the client logs in again on the 401) instead of once a poll.  The phone accepted the password before
    its command went out, so the client may send it again after a poll whose answer was lost in the reboot (a
    refusal still ends the watch at once).
    """

    def __init__(self, connection, connect_timeout):
        self._client = CTIClient(connection.copy(timeout=connect_timeout), read_retries=0, proven=True)

    def __call__(self):
        try:
            return Observation(True, registered_ids(self._client.get_accounts()))
        except CTIError as error:
            if error.error_class == UNREACHABLE:
                return Observation(False)
            if error.error_class in (AUTH_FAILED, LOCKED, FORBIDDEN):
                return Observation(True, fatal=error)
            # HTTP 500, HTML, half-booted answers: the phone is there, its registration unknown.
            return Observation(True)

    def close(self):
        self._client.close()


def web_port_check(connection, timeout):
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


class WatchOptions(object):
    """How a :class:`RebootWatch` waits: the reboot options of ``reboot.check_options()``, in one object.

    ``WatchOptions.from_options(check_options(...))`` from a module's or a task's options; keyword arguments
    for the ones that differ from the defaults (tests).
    """

    FIELDS = tuple(WATCH_DEFAULTS)
    __slots__ = FIELDS

    def __init__(self, **options):
        unknown = set(options) - set(self.FIELDS)
        if unknown:
            raise TypeError('unknown watch option(s): %s' % ', '.join(sorted(unknown)))
        for field in self.FIELDS:
            value = options.get(field, WATCH_DEFAULTS[field])
            setattr(self, field, value if field in ('operation', 'wait') else float(value))

    @classmethod
    def from_options(cls, options):
        return cls(**dict((field, options[field]) for field in cls.FIELDS))

    def __repr__(self):
        return 'WatchOptions(%s)' % ', '.join('%s=%r' % (field, getattr(self, field)) for field in self.FIELDS)


class RebootWatch(object):
    """State machine proving one reboot: ``sent -> down -> up -> registered``; it fails at any step before the last.

    Create it right after the command went out.  Times in :attr:`timings` are seconds since the watch was created.
    ``registered_before``: account ids that must be registered again (ignored when ``options.wait`` is false or
    after a RESET, which clears the accounts and the passcode: then no HTTP request is ever sent).
    ``clock`` replaces ``time.monotonic``; ``port_check`` (a callable, True while the web port accepts a connection)
    and ``probe`` (a callable returning an :class:`Observation`) replace the network in tests.
    Drive it with :meth:`step` at :attr:`due_at`; :meth:`close` when done.  A failed watch has :attr:`reason` (a code
    word: NEVER_DOWN, NEVER_UP, UNREGISTERED, a CTI error class) and :attr:`error` (a sentence naming the phone).
    """

    def __init__(self, connection, registered_before, options=None, clock=None, probe=None, port_check=None):
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
        self.check_interval = min(CHECK_INTERVAL, options.poll_interval)
        self.fast_poll_wait = min(FAST_POLL_WAIT, options.poll_interval)
        self._clock = clock or time.monotonic
        if port_check is None:
            port_check = web_port_check(connection, min(options.connect_timeout, 1.0))
        self._port_open = port_check
        self._probe = probe
        self.started = self._clock()
        self.state = SENT
        self.done = False
        self.reason = None      # why it failed, a code word (None while it has not failed)
        self.error = None       # why it failed, a sentence that names the phone
        self.registered = None  # account ids registered at the last poll that told
        self.dropped = False    # set by send_command(): the phone closed the connection on the command
        self.polls = 0          # HTTP requests (registration polls)
        self.checks = 0         # TCP port checks
        self.timings = {'down_after': None, 'up_after': None, 'registered_after': None}
        self._poll_wait = self.fast_poll_wait
        self.due_at = self.started + self.check_interval

    @property
    def ok(self):
        return self.done and self.reason is None

    @property
    def rebooted(self):
        """The phone was seen going away and coming back."""
        return self.timings['up_after'] is not None

    def elapsed(self):
        return self._clock() - self.started

    def step(self):
        """Look at the phone once, as its state asks (a port check, or a registration poll), and advance.

        Returns the state.  A finished watch looks no more.
        """
        if self.done:
            return self.state
        if self.state in (SENT, DOWN):
            self.checks += 1
            seen = Observation(bool(self._port_open()))
            since = self.elapsed()
            (self._after_sent if self.state == SENT else self._after_down)(seen, since)
        else:
            self._after_up(since=self.elapsed())
        self._schedule(self.elapsed())
        return self.state

    def close(self):
        """Let go of the registration poll's client (a session-dialect phone gets its logout)."""
        probe = self._probe
        if probe is not None and hasattr(probe, 'close'):
            probe.close()

    # -- the states ------------------------------------------------------------------------

    def _after_sent(self, seen, since):
        if not seen.reachable:
            self._advance(DOWN, 'down_after', since)
        elif since >= min(self.down_timeout, self.reboot_timeout):
            self.fail(NEVER_DOWN, 'the phone accepted %s but was still answering %s s later, so it did not reboot. '
                      'Reboot it by hand if it stays like this.' % (self.operation, seconds_text(since)))

    def _after_down(self, seen, since):
        if seen.reachable:
            self._advance(UP, 'up_after', since)
            if not self.check_registration and self.post_reboot_delay <= 0:
                self.done = True
        elif since >= self.reboot_timeout:
            self.fail(NEVER_UP, 'the phone went down after %s but did not answer again within reboot_timeout (%s s). '
                      'Check its power and network.' % (self.operation, seconds_text(self.reboot_timeout)))

    def _after_up(self, since):
        settled_at = self.timings['up_after'] + self.post_reboot_delay
        if since < settled_at:
            return
        if not self.check_registration:
            self.done = True
            return
        if not self.expected:
            self._advance(REGISTERED, 'registered_after', since)
            self.done = True
            return
        seen = self._poll()
        since = self.elapsed()
        if seen.fatal is not None:
            self.fail(seen.fatal.error_class or REFUSED, str(seen.fatal))
            return
        if seen.registered is not None:
            self.registered = list(seen.registered)
        if seen.registered is not None and set(self.expected) <= set(seen.registered):
            self._advance(REGISTERED, 'registered_after', since)
            self.done = True
        elif since >= settled_at + self.registration_timeout:
            missing = sorted(set(self.expected) - set(self.registered or ()))
            self.fail(UNREGISTERED, 'the phone rebooted and answers again, but account%s %s did not register within '
                      'registration_timeout (%s s). Check the SIP server and the phone network.'
                      % ('s' if len(missing) > 1 else '', ', '.join(str(item) for item in missing),
                         seconds_text(self.registration_timeout)))

    def _poll(self):
        if self._probe is None:
            self._probe = AccountsProbe(self.connection, self.options.connect_timeout)
        self.polls += 1
        return self._probe()

    def _advance(self, state, timing, since):
        self.state = state
        self.timings[timing] = round(since, 2)

    def fail(self, reason, message):
        """End the watch as failed: ``reason`` says why in a word (NEVER_DOWN, an error class...), ``message`` in a sentence."""
        self.done = True
        self.reason = reason
        # CTIError texts already start with the phone label.
        label = self.connection.label
        self.error = message if message.startswith(label) else '%s: %s' % (label, message)

    # -- when to look next ---------------------------------------------------------------------

    def _schedule(self, since):
        """The next look: a port check after check_interval, a registration poll after the backed-off wait; never
        later than the running deadline, so that a watch fails on time."""
        if self.done:
            return
        if self.state in (SENT, DOWN):
            next_since = since + self.check_interval
        else:
            settled_at = self.timings['up_after'] + self.post_reboot_delay
            if since < settled_at:
                next_since = settled_at  # nothing to learn while the phone settles
            elif self.polls == 0:
                next_since = since       # the web port just answered: ask at once
            else:
                next_since = since + self._poll_wait
                if since - settled_at >= FAST_POLL_PERIOD:  # it stays unregistered: ask less often
                    self._poll_wait = min(self._poll_wait * 2, self.poll_interval)
        deadline = self._deadline(since)
        if deadline is not None:
            next_since = min(next_since, max(deadline, since))
        self.due_at = self.started + next_since

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


def seconds_text(value):
    """``4.5``, ``120``: seconds with at most two decimals."""
    return ('%.2f' % value).rstrip('0').rstrip('.')


def wait_for(watch, sleep=None, clock=None):
    """Blocking wrapper: step one watch until it is done, then close it."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    try:
        while not watch.done:
            sleep(max(0.0, watch.due_at - clock()))
            watch.step()
    finally:
        watch.close()
    return watch
