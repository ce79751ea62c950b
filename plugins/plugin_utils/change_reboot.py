# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot as a rolling change (:class:`RebootChange`), and the watch that checks a phone whose REBOOT went out
before an interruption (:class:`ResumedWatch`).

The preflight reads the lines and the accounts (``module_utils/reboot.preflight``); the change is REBOOT; its proof is
a ``RebootWatch``: the phone went down, came back and registered again the accounts registered before.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import (
    check_options, preflight as read_before_reboot, send_command,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import DOWN, RebootWatch, WatchOptions
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import REBOOT_PROOF_OPTIONS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import Change, Preflight
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import REASON_UNVERIFIED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import rolling_reports

# The reboot's outcome words (the engine's: rolling_plan, fanout, cti).
REBOOTED = 'rebooted'
ALREADY_DONE = 'already_done'

NO_ACCOUNT_NOTE = 'no account was registered before the reboot, so registration was not checked.'
DROPPED_NOTE = 'the phone closed the connection instead of answering REBOOT (counted as sent).'


class RebootPreflight(Preflight):
    """Lines and accounts before the reboot: ``registered``, the account ids that must register again."""

    __slots__ = ('registered',)

    def __init__(self, in_use, registered):
        super(RebootPreflight, self).__init__(in_use)
        self.registered = list(registered)


class RebootChange(Change):
    """REBOOT, proven by a RebootWatch.  ``options``: ``reboot.check_options`` values; ``probes(connection)``: the
    watch's ``{'probe', 'port_check'}`` for a phone (tests), or None for the network."""

    kind = 'reboot'
    title = 'Rolling reboot'
    verb = 'reboot'
    report_name = 'rolling_reboot'
    lock_name = 'rolling_reboot.lock'
    role_prefix = 'rolling_reboot_'
    done = REBOOTED
    done_earlier = ALREADY_DONE
    proof_steps = (('down', 'down_after'), ('back', 'up_after'), ('registered', 'registered_after'))
    batch_bound = 'reboot_timeout + registration_timeout'
    unrecorded_ledgers = True  # the rolling reboot wrote ledgers before kinds were recorded
    old_state_dir = 'state'    # before 0.2.0 the role kept them in <report_dir>/state
    ledger_field_checks = (('expected', lambda value: isinstance(value, list) and all(
        isinstance(item, (int, str)) and not isinstance(item, bool) for item in value), 'a list of account ids'),)

    def __init__(self, options, probes=None):
        self.options = options
        self.watch_options = WatchOptions.from_options(options)
        self._probes = probes or (lambda connection: {})

    @classmethod
    def from_args(cls, args, probes=None):
        """From the module's validated options; raises ValueError."""
        options = dict((name, args[name]) for name, dummy in REBOOT_PROOF_OPTIONS)
        options.update(operation='reboot', wait=True, connect_timeout=args['connect_timeout'],
                       poll_interval=args['poll_interval'])
        return cls(check_options(options), probes)

    def preflight(self, client):
        facts = read_before_reboot(client)
        return RebootPreflight(facts['in_use'], facts['registered'])

    def ledger_fields(self, preflight):
        return {'expected': list(preflight.registered)}

    def apply(self, client, preflight, clock):
        probes = self._probes(client.connection)
        return send_command(client, preflight.registered, self.options, clock=clock.monotonic,
                            probe=probes.get('probe'), port_check=probes.get('port_check'))

    def sent_note(self, proof):
        return DROPPED_NOTE if proof.dropped else None

    def resume(self, target, entry, clock):
        probes = self._probes(target.connection)
        return ResumedWatch(target.connection, entry.fields.get('expected') or [], self.watch_options,
                            sent_ago=entry.sent_ago, down_after=entry.down_after, sent=entry.surely_sent,
                            clock=clock.monotonic, probe=probes.get('probe'), port_check=probes.get('port_check'))

    def finished_notes(self, proof):
        if not proof.ok:
            return []
        notes = []
        if isinstance(proof, ResumedWatch):
            notes.append('checked after the interruption: %s, back and registered; its command was not sent again.'
                         % ('seen going down before it' if proof.seen_down_before else 'found down'))
        if not proof.expected:
            notes.append(NO_ACCOUNT_NOTE)
        return notes

    def max_seconds(self):
        return self.options['reboot_timeout'] + self.options['registration_timeout']

    def settings_record(self):
        return dict((name, self.options[name]) for name, dummy in REBOOT_PROOF_OPTIONS)


# The reboot's report files (rolling_reboot.json, .junit.xml, .csv, .html); module_utils/rolling_options.REPORT_FORMATS
# names the same formats (a unit test keeps both equal).
ROLLING_REPORTS = rolling_reports(RebootChange)


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
