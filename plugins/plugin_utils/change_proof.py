# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proofs: what a Change returns from ``apply`` and ``resume``, and what the engine's one waiter steps.

A proof never blocks.  Its protocol (``module_utils/reboot_watch.RebootWatch`` is one)::

    started   monotonic seconds when the change went out; timings count from it
    due_at    when step() has something to do
    step()    one look at the phone (a port check, one read), then advance
    done, ok  finished; finished and proven
    reason    why it failed, a code word (never_up, old_version...); error: the same as a sentence naming the phone
    timings   {timing key: seconds after the change, or None}: when each step was reached; SEEN_DOWN (``down_after``)
              when the phone was seen going away: the engine writes it into the ledger (a resume then knows the
              phone restarted) and the run counts as having changed something
    close()   let go of its clients

A proof is a chain of steps: the phone went down, came back, runs version X, reads back the values written, registered.
:class:`ChainProof` chains proofs (a RebootWatch, then :class:`ReadCheck` steps), so a change whose proof needs one step
more than a reboot's adds a ReadCheck instead of a new watch.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, FORBIDDEN, LOCKED, CTIError,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import short_number

# The timing of the step "the phone went away" (RebootWatch's timings use the same key).
SEEN_DOWN = 'down_after'

# Answers that end a read check at once: asking again would only count towards the phone's lockout.
FATAL_CLASSES = (AUTH_FAILED, LOCKED, FORBIDDEN)


class ReadCheck(object):
    """One step of a proof: ``read()`` until ``accept(value)`` is true, at most ``timeout`` seconds from the moment the
    step begins, one read every ``interval`` seconds.

    ``timing``: the key of :attr:`timings` set (seconds after the change) when it passes; ``reason``: the code word of
    its failure; ``describe(value)``: the sentence of a failure whose last read gave ``value`` (None when no read
    answered).  ``read`` raises CTIError when the phone does not answer (tried again) or refuses the passcode (the
    step fails at once: never a second wrong passcode).  ``label`` names the phone in sentences; ``close`` lets go of
    the read's client.  ``from_change``: the ``timeout`` counts from the change (the chain's start), not from the
    moment this step begins.  A step whose failure has more than one reason overrides :meth:`give_up`.
    """

    def __init__(self, label, timing, read, accept, describe, reason, timeout, interval, clock, close=None,
                 from_change=False):
        self.label = label
        self.timing = timing
        self._read = read
        self._accept = accept
        self._describe = describe
        self._close = close
        self.timeout = float(timeout)
        self.interval = float(interval)
        self._clock = clock
        self.failure_reason = reason
        self.from_change = from_change
        self.started = None
        self.deadline = None
        self.due_at = None
        self.done = False
        self.reason = None
        self.error = None
        self.value = None           # the last value a read gave
        self.last_answered = False  # whether the last read got an answer
        self.reads = 0
        self.timings = {timing: None}

    @property
    def ok(self):
        return self.done and self.reason is None

    def begin(self, started):
        """Start the step now; ``started`` is when the change went out (its timings count from it)."""
        self.started = started
        now = self._clock()
        self.deadline = max(now, started + self.timeout) if self.from_change else now + self.timeout
        self.due_at = now

    def step(self):
        if self.done:
            return
        self.reads += 1
        try:
            self.value = self._read()
            answered = True
        except CTIError as error:
            if error.error_class in FATAL_CLASSES:
                self.fail(error.error_class, str(error))
                return
            answered = False
        now = self._clock()
        self.last_answered = answered
        if answered and self._accept(self.value):
            self.timings[self.timing] = round(now - self.started, 2)
            self.done = True
        elif now >= self.deadline:
            self.give_up()
        else:
            self.due_at = min(now + self.interval, self.deadline)

    def give_up(self):
        """The step's time is up: fail with its reason and the sentence of its last read."""
        self.fail(self.failure_reason, '%s (checked for %s s).' % (
            self._describe(self.value if self.last_answered else None).rstrip('.'), short_number(self.timeout)))

    def fail(self, reason, message):
        self.done = True
        self.reason = reason
        self.error = message if message.startswith(self.label) else '%s: %s' % (self.label, message)

    def close(self):
        if self._close is not None:
            self._close()


class ChainProof(object):
    """Proofs one after the other: the first is running (its change went out), each next one begins when the one
    before it passed; the chain fails with the first link that fails.  Timings are the links' together."""

    def __init__(self, links):
        self.links = list(links)
        self.started = self.links[0].started
        self._index = 0

    @property
    def first(self):
        """The link that watches the change itself (a RebootWatch: its expected accounts, whether it was dropped...)."""
        return self.links[0]

    @property
    def current(self):
        return self.links[self._index]

    @property
    def done(self):
        return self.current.done and (not self.current.ok or self._index == len(self.links) - 1)

    @property
    def ok(self):
        return self.done and self.current.ok

    @property
    def reason(self):
        return self.current.reason

    @property
    def error(self):
        return self.current.error

    @property
    def due_at(self):
        return self.current.due_at

    @property
    def timings(self):
        merged = {}
        for link in self.links:
            merged.update(link.timings)
        return merged

    def step(self):
        if self.done:
            return
        self.current.step()
        if self.current.ok and self._index < len(self.links) - 1:
            self._index += 1
            self.current.begin(self.started)

    def fail(self, reason, message):
        self.current.fail(reason, message)

    def close(self):
        for link in self.links:
            link.close()
