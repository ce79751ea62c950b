# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One phone of a rolling run (:class:`RollingPhone`): the one place its story is kept.  Its report row
(:meth:`RollingPhone.record`) and its ledger entry (:meth:`RollingPhone.ledger_entry`) are projections of it."""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, ERROR, UNREACHABLE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import (
    LEDGER_FAILED, LEDGER_PENDING, LEDGER_SENDING, LEDGER_SENT,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED


def read_failure_outcome(error_class):
    """Outcome of a phone whose read failed (nothing was sent to it): the outcomes unreachable and auth_failed
    carry the name of the error class that causes them, every other class is failed."""
    return error_class if error_class in (UNREACHABLE, AUTH_FAILED) else FAILED


class RollingPhone(object):
    """What the run knows about one phone: its target, its ledger key, its preflight, its proof once its change went
    out, its ledger story and in the end its outcome.  ``timing_keys``: the change's proof steps' timings."""

    def __init__(self, target, timing_keys):
        self.target = target
        self.name = target.name
        self.key = None              # its ledger entry (phone_key of its address)
        # The outcome (the report row).
        self.outcome = None
        self.reason = None           # why it was not changed: a code word (rolling_plan.REASON_*, a CTI error class...)
        self.error = None            # the same as a sentence naming the phone
        self.error_class = None      # the CTI error class when a CTI error caused the outcome
        self.note = None
        self.batch = None
        self.timings = dict((key, None) for key in tuple(timing_keys) + ('busy_wait',))
        # On the way.
        self.preflight = None        # the last Preflight: what the change needs (accounts registered...)
        self.busy_since = None
        self.proof = None
        self.attempted = False       # this attempt sent it a change or checked it (max_fail_percent)
        self.before_command = False  # failed before any change was tried (summary preflight_failed)
        self.earlier = False         # its outcome is an earlier attempt's, from the ledger (done, or failed for good)
        # Its ledger story (ledger_entry), written by this attempt or loaded from an earlier one.
        self.stage = None            # None (no entry to write) or the ledger state
        self.sending_at = None
        self.sent_at = None
        self.seen_down = None        # epoch seconds when it was first seen going down
        self.resume_fields = {}      # Change.ledger_fields of its preflight
        self.sent = None             # failed: whether its change went out
        self.checked = None          # failed: whether its proof finished

    # -- the outcome ---------------------------------------------------------------------------

    def finish(self, outcome, reason=None, error=None, error_class=None, note=None):
        self.outcome = outcome
        self.reason = reason
        self.error = error
        self.error_class = error_class
        if note:
            self.add_note(note)

    def fail_before_command(self, outcome, reason, error, error_class=None):
        self.before_command = True
        self.finish(outcome, reason=reason, error=error, error_class=error_class)

    def fail_read(self, result):
        """A read (the preflight, the last look at the lines) failed: nothing was sent.  ``result``: a PhoneResult."""
        self.fail_before_command(read_failure_outcome(result.error_class), result.error_class or ERROR, result.error,
                                 result.error_class)

    def add_note(self, text):
        self.note = '%s %s' % (self.note, text) if self.note else text

    @property
    def in_flight(self):
        """Its change went out (or may have) and nothing finished it yet."""
        return self.outcome is None and self.stage in (LEDGER_SENDING, LEDGER_SENT)

    # -- the ledger story -------------------------------------------------------------------------

    def resume_from(self, entry, fields):
        """Take over the story of an entry whose change went out before an interruption (it is checked, not sent);
        ``fields``: the change's own fields of the entry."""
        self.resume_fields = dict(fields)
        self.batch = entry.get('batch')
        self.stage = entry.get('state')
        self.sending_at, self.sent_at, self.seen_down = entry.get('sending_at'), entry.get('sent_at'), entry.get('seen_down')
        self.sent, self.checked = entry.get('sent'), entry.get('checked')

    def mark_sending(self, batch, when, fields):
        """Right before its change leaves: the entry starts over (nothing of an earlier attempt's is kept)."""
        self.batch = batch
        self.stage = LEDGER_SENDING
        self.sending_at, self.sent_at, self.seen_down = when, None, None
        self.resume_fields = dict(fields)
        self.sent = self.checked = None

    def mark_unsent(self):
        """Marked sending, but nothing left (its ledger could not be written, or the run is stopping)."""
        self.batch = None
        self.stage = LEDGER_PENDING

    def mark_sent(self, when, proof):
        self.stage = LEDGER_SENT
        self.sent_at = when
        self.proof = proof

    def mark_seen_down(self, when):
        self.seen_down = when

    def mark_failed(self, sent, checked):
        """Its outcome is a failure of its change: refused (not sent), lost after sending (sent, unchecked), or a
        proof that failed (sent and checked: final for the run id)."""
        self.stage = LEDGER_FAILED
        self.sent, self.checked = sent, checked

    def mark_done(self, state):
        """Its proof passed: the ledger state is the change's done outcome."""
        self.stage = state
        self.sent, self.checked = None, None

    def ledger_entry(self):
        """The phone's ledger entry, or None when this attempt has nothing to write about it."""
        if self.stage is None:
            return None
        entry = {'name': self.name, 'host': self.target.host, 'port': self.target.port, 'state': self.stage}
        for field in ('batch', 'sending_at', 'sent_at', 'seen_down', 'sent', 'checked'):
            if getattr(self, field) is not None:
                entry[field] = getattr(self, field)
        entry.update(self.resume_fields)
        if self.stage == LEDGER_FAILED:
            entry.update(reason=self.reason, error=self.error, error_class=self.error_class)
            if self.checked:
                entry['timings'] = self._proof_timings()
        elif self.stage not in (LEDGER_SENDING, LEDGER_SENT, LEDGER_PENDING):
            entry.update(timings=self._proof_timings(), note=self.note)
        return entry

    def _proof_timings(self):
        return dict((key, value) for key, value in self.timings.items() if key != 'busy_wait')

    # -- the report ---------------------------------------------------------------------------------

    def record(self):
        """The phone's row of the report."""
        return {
            'name': self.name,
            'host': self.target.host,
            'port': self.target.port,
            'site': self.target.variables.get('site'),
            'outcome': self.outcome,
            'reason': self.reason,
            'error_class': self.error_class,
            'batch': self.batch,
            'timings': dict(self.timings),
            'error': self.error,
            'note': self.note,
        }
