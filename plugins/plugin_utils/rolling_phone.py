# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One phone of a rolling reboot: what the run knows about it (:class:`RollingPhone`), and the watch that checks
it when its command went out before an interruption (:class:`ResumedWatch`)."""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, ERROR, UNREACHABLE
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import DOWN, RebootWatch
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import FAILED, REASON_UNVERIFIED

TIMING_KEYS = ('down_after', 'up_after', 'registered_after')


def _read_failure_outcome(error_class):
    """Outcome of a phone whose read failed (nothing was sent to it): the outcomes unreachable and auth_failed
    carry the name of the error class that causes them, every other class is failed."""
    return error_class if error_class in (UNREACHABLE, AUTH_FAILED) else FAILED


class RollingPhone(object):
    """What the run knows about one phone: its target, its ledger key, its watch once a command went out, and
    in the end its outcome.  The ledger holds the durable part of the same story (RollingReboot._record)."""

    def __init__(self, target):
        self.target = target
        self.name = target.name
        self.key = None              # its ledger entry (phone_key of its address)
        self.outcome = None
        self.reason = None           # why it was not rebooted (rolling_plan.REASON_*, a CTI error class, a watch failure)
        self.error_class = None      # the CTI error class when a CTI error caused the outcome
        self.batch = None
        self.error = None
        self.note = None
        self.timings = dict((key, None) for key in TIMING_KEYS)
        self.timings['busy_wait'] = None
        self.registered = []         # account ids registered at the last look: they must register again
        self.busy_since = None
        self.watch = None
        self.attempted = False       # this attempt sent it a command or checked it (max_fail_percent)
        self.before_command = False  # failed before any command was tried (summary preflight_failed)
        self.seen_down = False       # the ledger says it was seen down

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
        """A read (the preflight, the last look at the lines) failed: nothing was sent."""
        self.fail_before_command(_read_failure_outcome(result['error_class']), result['error_class'] or ERROR,
                                 result['message'], result['error_class'])

    def add_note(self, text):
        self.note = '%s %s' % (self.note, text) if self.note else text

    def record(self):
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


class ResumedWatch(RebootWatch):
    """Checks a phone whose reboot command went out (or may have) before the run was interrupted; sends nothing.

    ``sent_ago``: seconds since the command, from the ledger; the watch's clock starts then, so every timeout
    counts from the command.  ``down_after``: seconds after the command at which the interrupted attempt saw the
    phone go down (ledger ``seen_down``), or None.  ``sent``: False when the run stopped while the command was
    being sent (it may not have gone out).

    - Seen down before the interruption: it must answer again within reboot_timeout and register as usual.
    - Not seen down: it is watched for going down until down_timeout after the command; once it is seen down, as
      usual.  A phone that answers when down_timeout has passed cannot be proven to have restarted (it may have
      restarted during the interruption, or not at all): failed, ``unverified``.  Never a second command.
    """

    def __init__(self, connection, registered_before, options=None, sent_ago=0.0, down_after=None, sent=True, **kwargs):
        super(ResumedWatch, self).__init__(connection, registered_before, options, **kwargs)
        self.started -= max(0.0, float(sent_ago or 0.0))
        self.command_sent = bool(sent)
        self.seen_down_before = down_after is not None
        if down_after is not None:
            self._advance(DOWN, 'down_after', max(0.0, float(down_after)))
        self.due_at = self._clock()  # look at once

    def _after_sent(self, seen, since):
        if not seen.reachable:
            self._advance(DOWN, 'down_after', since)
            self._after_down(seen, since)  # still down after reboot_timeout: fails now
        elif since >= min(self.down_timeout, self.reboot_timeout):
            # One registration poll, so that the sentence can say what the phone answers now.
            self.fail(REASON_UNVERIFIED, self._unverified_text(self._poll()))

    def _unverified_text(self, seen):
        if seen.registered is None:
            registration = 'its registration could not be read'
        elif not self.expected:
            registration = 'no account was registered before the reboot'
        else:
            missing = sorted(set(self.expected) - set(seen.registered))
            registration = ('its accounts are registered' if not missing else 'account%s %s %s not registered' % (
                's' if len(missing) > 1 else '', ', '.join(str(item) for item in missing), 'are' if len(missing) > 1 else 'is'))
        return ('its reboot command %s before the run was interrupted; the phone answers (%s), but nobody saw it restart, '
                'so its reboot cannot be proven (it was not sent another command). Check it by hand, or reboot it '
                'with a new run id.' % ('went out' if self.command_sent else 'was being sent (it may have gone out)',
                                        registration))
