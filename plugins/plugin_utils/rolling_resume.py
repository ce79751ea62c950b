# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two ends of an interruption of a rolling run: what a run does with each phone from the ledger of an earlier
attempt of its run id (:func:`settle_from_ledger`), and how an interrupted run settles its phones and writes its
ledger (:func:`settle_interrupted`)."""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import (
    RESUME_CHECK, RESUME_DONE, RESUME_FAILED, own_fields, resume_action,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    REASON_DUPLICATE, REASON_INTERRUPTED, REASON_VARIABLES, STOP_INTERRUPTED, first_of_duplicates, phone_key,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_state import StateFileError
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_summary import run_report


def settle_from_ledger(run):
    """Settle what needs no phone; returns the phones to check after an interruption and the phones to preflight."""
    change, ledger = run.change, run.ledger
    duplicates = first_of_duplicates(phone.target for phone in run.phones)
    check, fresh = [], []
    for phone in run.phones:
        target = phone.target
        if target.problem:
            phone.fail_before_command(FAILED, REASON_VARIABLES, '%s: %s' % (phone.name, target.problem))
            continue
        if phone.name in duplicates:
            phone.fail_before_command(FAILED, REASON_DUPLICATE, (
                '%s: the same address as %s, which this run changes; nothing is sent to it under the name %s. '
                'Give each phone one inventory name.' % (target.label, duplicates[phone.name], phone.name)))
            continue
        phone.key = ledger.find(phone.name, target.host, target.port) or phone_key(target.host, target.port)
        entry = ledger.entry(phone.key)
        action = resume_action(entry, change.done)
        earlier_name = entry.get('name') or phone.key
        as_name = ' (as %s)' % earlier_name if earlier_name != phone.name else ''
        if action in (RESUME_DONE, RESUME_FAILED):
            phone.batch = entry.get('batch')
            phone.timings.update(entry.get('timings') or {})
            phone.resume_fields = own_fields(entry)  # for its report row (Change.row_fields); never written back
            phone.earlier = True
        if action == RESUME_DONE:
            phone.finish(change.done_earlier, note='%s in batch %s of an earlier attempt of run %s%s.'
                         % (change.done, entry.get('batch'), run.run_id, as_name))
        elif action == RESUME_FAILED:
            reason = entry.get('reason') or entry.get('failure') or ERROR
            # A failure with an outcome of its own (kept_old_version) keeps it on a re-run.
            phone.finish(change.failure_outcomes.get(reason, FAILED), reason=reason,
                         error=entry.get('error') or '%s: failed in an earlier attempt.' % target.label,
                         error_class=entry.get('error_class'),
                         note='failed in batch %s of an earlier attempt of run %s%s, which is final for that run id: '
                              'nothing was sent again. A new run id %ss it again.'
                              % (entry.get('batch'), run.run_id, as_name, change.verb))
        elif action == RESUME_CHECK:
            phone.resume_from(entry, own_fields(entry))
            check.append(phone)
        else:
            fresh.append(phone)
    return check, fresh


def settle_interrupted(run, what, signum):
    """Settle an interrupted run: what finished is kept, phones whose change is on its way stay in the ledger as sent
    (a resume checks them, never sends again), the others are not attempted; the ledger is saved.  Returns the
    RunStopped arguments (message, report, signum)."""
    change = run.change
    run.stopping = True
    run.stopped_reason = STOP_INTERRUPTED
    run.batches.settle_finished_proofs()
    in_flight = [phone for phone in run.phones if phone.in_flight]
    for phone in in_flight:
        if phone.proof is not None:
            phone.proof.close()
            phone.timings.update(phone.proof.timings)
        phone.finish(FAILED, reason=REASON_INTERRUPTED, error=(
            '%s: the run was interrupted while its %s was on its way or being proven; the next run with run id %s '
            'checks it and never sends it again.' % (phone.target.label, change.verb, run.run_id)))
    done = run.count(change.done)
    not_reached = sum(1 for phone in run.phones if phone.outcome is None)
    run.stop_message = ('%s: %d %s, %d in flight (checked by the next run, never sent again), %d not attempted. To resume, '
                        '%s.' % (what, done, change.done, len(in_flight), not_reached, run.resume_hint()))
    run.settle_not_attempted(REASON_INTERRUPTED, run.stop_note())
    ledger_problem = ''
    try:
        run.save()
    except StateFileError as exc:
        ledger_problem = ' Its ledger could not be saved: %s' % exc
    report = run_report(run, run.planned)
    message = 'The %s %s stopped, %s Ledger: %s.%s' % (
        change.title.lower(), run.run_id, run.stop_message, run.ledger.path, ledger_problem)
    return message, report, signum
