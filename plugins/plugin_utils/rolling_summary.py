# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of a rolling run: ``{"summary", "phones", "plan", "settings"}`` (the report files render it:
``rolling_reports``)."""

import collections

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_proof import SEEN_DOWN
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import utc_timestamp
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    STOP_CANARY, STOP_INTERRUPTED, STOP_MAX_FAIL, STOP_WINDOW,
)

STOPS = (STOP_CANARY, STOP_MAX_FAIL, STOP_WINDOW, STOP_INTERRUPTED)


def run_report(run, planned):
    """The report of ``run`` (a RollingRun) as it stands; ``planned``: the run's batch count."""
    change, clock = run.change, run.clock
    duration = round(clock.monotonic() - run.started, 3)
    phones = [dict(phone.record(), **change.row_fields(phone)) for phone in run.phones]
    summary = dict((outcome, 0) for outcome in change.outcomes)
    reasons = collections.Counter()
    for phone in phones:
        summary[phone['outcome']] = summary.get(phone['outcome'], 0) + 1
        if phone['reason']:
            reasons[phone['reason']] += 1
    attempted, failed = run.attempted()
    summary.update(
        total=len(phones),
        run_id=run.run_id,
        kind=change.kind,
        stopped=run.stopped_reason in STOPS,
        stopped_reason=run.stopped_reason,
        stop_message=run.stop_message,
        check_mode=run.check_mode,
        resumed=run.ledger.resumed,
        preflight_failed=sum(1 for phone in run.phones if phone.outcome == FAILED and phone.before_command),
        reasons=dict(sorted(reasons.items())),
        attempted=attempted,
        failed_percent=round(100.0 * failed / attempted, 2) if attempted else 0.0,
        batch_size=run.batch_size,
        canary=run.canary,
        batches_planned=planned,
        batches_run=run.batches_run,
        started_at=utc_timestamp(run.started_epoch),
        finished_at=utc_timestamp(run.started_epoch + duration),
        duration_seconds=duration,
        ledger=run.ledger.path,
    )
    # Changed: a phone went down because of this attempt (a failed phone may have gone down and not come back).
    run.changed = any(phone.attempted and phone.timings.get(SEEN_DOWN) is not None for phone in run.phones)
    settings = run.settings.record()
    settings.update(change.settings_record())
    settings['ledger'] = run.ledger.path
    return {'summary': summary, 'phones': phones, 'plan': run.plan, 'settings': settings}
