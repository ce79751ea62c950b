# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rolling task from start to end, for an action plugin (``fleet_reboot``): the state directory's lock, the run's
ledger, the engine (``rolling_run``) with Ctrl-C and SIGTERM turned into a clean stop, the report files and the task's
result.  Errors are :class:`TaskFailed`, a sentence the action plugin fails with.
"""

import contextlib
import os
import signal
import threading

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.reports import write_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import Ledger
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import default_run_id
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import (
    plan_report, rolling_reports, rolling_summary_sentence,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import RunRefused
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_run import RollingRun, RunStopped
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_state import (
    RunLock, StateFileError, os_error_words,
)


class TaskFailed(Exception):
    """The task fails with this sentence."""


def ledger_dir(settings, change, run_id):
    """The state directory of the run; refuses a run id whose ledger is still at the old default place."""
    if settings.state_dir:
        return settings.state_dir
    directory = settings.ledger_dir(change.report_name)
    if settings.report_dir and change.old_state_dir:
        old = os.path.join(settings.report_dir, change.old_state_dir, '%s.json' % run_id)
        if os.path.lexists(old) and not os.path.lexists(os.path.join(directory, '%s.json' % run_id)):
            raise TaskFailed(
                'Run id %s has a ledger at %s, where versions before 0.2.0 kept it by default (state under the report '
                'directory); ledgers are now kept in %s. To resume that run, pass its state directory (state_dir: %s, '
                '-e %sstate_dir=%s), or move the file into %s. Nothing was sent.'
                % (run_id, old, directory, os.path.dirname(old), change.role_prefix, os.path.dirname(old), directory))
    return directory


@contextlib.contextmanager
def stop_on_signals(run):
    """SIGINT (Ctrl-C reaches the worker through ansible-playbook) and SIGTERM stop ``run`` cleanly
    (:meth:`RollingRun.interrupt`) instead of killing the process at once; yields the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    replaced = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        replaced[signum] = signal.signal(signum, lambda number, frame: run.interrupt(number))
    try:
        yield replaced
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def controller_console():
    """A descriptor on ansible-playbook's standard output (Linux: /proc), or None.

    Ansible's worker has no terminal of its own, and once ansible-playbook was interrupted nobody reads what the worker
    displays; the sentence that says how to resume must still reach the person.  Opened for appending (a cron log is
    never overwritten), without becoming a controlling terminal.
    """
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, 'O_NOCTTY', 0) | getattr(os, 'O_CLOEXEC', 0)
    try:
        return os.open('/proc/%d/fd/1' % os.getppid(), flags)
    except OSError:
        return None


def tell(console, display, text):
    """Write ``text`` to ansible-playbook's output, else display it."""
    if console is not None:
        try:
            os.write(console, ('\n%s\n' % text).encode('utf-8', 'replace'))
            return
        except OSError:
            pass
    display(text)


class RollingTask(object):
    """One task: ``settings`` (RollingSettings), ``change``, ``check_mode``, ``display`` (a line for people).
    :meth:`run` over the targets returns the task's result fields; raises TaskFailed."""

    def __init__(self, settings, change, check_mode, display, console=controller_console, run_class=RollingRun,
                 run_options=None):
        self.settings = settings
        self.change = change
        self.check_mode = bool(check_mode)
        self.display = display
        self.console = console
        self.run_class = run_class
        self.run_options = run_options or {}

    def run(self, targets):
        settings, change = self.settings, self.change
        run_id = settings.run_id or default_run_id(settings.window)
        directory = ledger_dir(settings, change, run_id)
        lock = ledger = None
        try:
            if not self.check_mode:
                # First the lock, then the ledger: a run that waited for another one must see what that one wrote.
                # A worker left over from a killed ansible-playbook stops within a poll; give it that time.
                lock = RunLock(directory, run_id, change.ledger_kind).acquire(
                    timeout=2 * (settings.poll_interval + settings.connect_timeout) + 5)
            ledger = Ledger(directory, run_id, change.ledger_kind)
        except (ValueError, StateFileError) as exc:
            if lock is not None:
                lock.release()
            raise TaskFailed('%s. Nothing was sent.' % str(exc).rstrip('.'))
        console = self.console() if self.console else None
        run = self.run_class(targets, settings, change, ledger, check_mode=self.check_mode, display=self.display,
                             **self.run_options)
        try:
            with stop_on_signals(run) as replaced:
                try:
                    report = run.run()
                except RunStopped as stop:
                    self._stopped(stop, console, replaced)
                report_files = self._write(report)
                if run.late_signal is not None:  # it came after the last batch: the reports are written, end as asked
                    self._end_as_signalled(run.late_signal, replaced)
        except RunRefused as exc:
            raise TaskFailed('%s Nothing was sent.' % str(exc).rstrip())
        except StateFileError as exc:
            raise TaskFailed('The %s %s stopped: %s To resume, %s.' % (change.title.lower(), run_id, exc, run.resume_hint()))
        finally:
            if console is not None:
                os.close(console)
            ledger.close()
            if lock is not None:
                lock.release()
        return self._result(run, report, report_files)

    def _stopped(self, stop, console, replaced):
        """Interrupted: the reports of what was done, the sentence that says how to resume, then the signal's own end
        (Ansible's worker handler: the task ends as Ansible meant it to)."""
        message = stop.message
        try:
            files = self._write(stop.report)
            if files:
                message += ' Report: %s.' % files.get('json', sorted(files.values())[0])
        except TaskFailed as exc:
            message += ' %s' % exc
        tell(console, self.display, message)
        if stop.signum is not None:
            self._end_as_signalled(stop.signum, replaced)
        raise TaskFailed(message)

    @staticmethod
    def _end_as_signalled(signum, replaced):
        """Hand the signal to the handler it interrupted (Ansible's worker handler ends the worker as Ansible means to:
        nobody is waiting for this task's result any more)."""
        previous = replaced.get(signum)
        if callable(previous):
            signal.signal(signum, previous)
            previous(signum, None)

    def _write(self, report):
        settings, change = self.settings, self.change
        if not settings.report_dir:
            return {}
        registry = plan_report(change) if self.check_mode else rolling_reports(change)
        formats = ['plan'] if self.check_mode else settings.report_formats
        try:
            return write_reports(registry, report, settings.report_dir, formats)
        except OSError as exc:
            summary = report['summary']
            raise TaskFailed('The %s ran (%d %s, %d failed) but its report could not be written: cannot write %s: %s.'
                             % (change.title.lower(), summary[change.done], change.done, summary[FAILED],
                                exc.filename or settings.report_dir, os_error_words(exc)))

    def _result(self, run, report, report_files):
        change, summary = self.change, report['summary']
        problems = [(phone['name'], phone['reason']) for phone in report['phones']
                    if phone['outcome'] in change.problem_outcomes]
        msg = rolling_summary_sentence(change, summary, problems)
        msg += ' Ledger: %s.' % run.ledger.path
        if report_files:
            msg += ' %s: %s.' % ('Plan' if self.check_mode else 'Report',
                                 report_files.get('json') or report_files.get('plan') or sorted(report_files.values())[0])
        result = dict(
            changed=run.changed, summary=summary, problems=[name for name, dummy in problems],
            stopped_reason=summary['stopped_reason'], run_id=summary['run_id'], plan=report['plan'],
            ledger=run.ledger.path, report_files=report_files, msg=msg,
        )
        if self.settings.return_phones:
            result['phones'] = report['phones']
        return result
