# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rolling run changes on each phone (:class:`Change`), and the small typed values that pass between the
engine (``rolling_run``, ``rolling_batch``) and a change.

One engine, one :class:`Change` per kind (as kubernetes.core has one waiter and a table of what "ready" means per
kind).  The engine owns batches, the canary, the fail limit, the window, calls in progress, the lock, the ledger, the
report and the progress lines; it knows nothing of what the change does to a phone.  A change says:

- ``kind``: recorded in the ledger; a run id never resumes under another kind;
- its outcome words (``done``: the reboot's ``rebooted``; ``done_earlier``: ``already_done``; more of its own);
- :meth:`Change.preflight` reads a phone into a :class:`Preflight` (read-only);
- :meth:`Change.skip_reason` tells when a phone needs no change (a :class:`Skip`): it is never touched;
- :meth:`Change.apply` sends the change and returns its proof, which never blocks (a chain of steps: down, back,
  version, values read back, registered; see ``change_proof``);
- :meth:`Change.resume` returns the proof of a phone whose change went out before an interruption; it sends nothing.

The reboot is ``change_reboot.RebootChange``.
"""

import collections

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, UNREACHABLE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import SKIPPED_BUSY
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.outcomes import FAILED

# The outcomes every change has besides its own (report order: the change's first, then these).
ENGINE_OUTCOMES = (SKIPPED_BUSY, FAILED, UNREACHABLE, AUTH_FAILED, NOT_ATTEMPTED)
ENGINE_PROBLEM_OUTCOMES = (FAILED, UNREACHABLE, AUTH_FAILED)

# The engine's world: monotonic seconds, epoch seconds (ledger), local time (window) and sleep.
RunClock = collections.namedtuple('RunClock', ['monotonic', 'wall', 'local_now', 'sleep'])

# The state files of a kind of change: ``kind`` (recorded in its ledgers), ``title`` ("rolling reboot", for sentences),
# ``done`` (the ledger state of a phone changed and proven: the change's done outcome), ``unrecorded`` (whether a ledger
# that records no kind, written before kinds were recorded, is one of this kind), ``lock_name`` (the file name of the
# lock of a state directory), ``role_prefix`` (of the role's variables: ``rolling_reboot_`` + ``run_id``) and
# ``field_checks`` (``(field, check, what it must be)`` for the change's own ledger fields).
LedgerKind = collections.namedtuple('LedgerKind', ['kind', 'title', 'done', 'unrecorded', 'lock_name', 'role_prefix',
                                                   'field_checks'])


class ResumePoint(object):
    """Where a phone's change stood when an earlier attempt of the run was interrupted (from its ledger entry):
    ``sent_ago`` seconds since the change went out (or was about to), ``down_after`` seconds after it at which the
    phone was seen going down (None: not seen), ``surely_sent`` (False: the run stopped while it was being sent) and
    ``fields``, what :meth:`Change.ledger_fields` wrote."""

    __slots__ = ('sent_ago', 'down_after', 'surely_sent', 'fields')

    def __init__(self, sent_ago, down_after, surely_sent, fields):
        self.sent_ago, self.down_after, self.surely_sent, self.fields = sent_ago, down_after, surely_sent, fields


class Preflight(object):
    """What the read-only look before a change found on a phone.  ``in_use``: a line is in use (a call), which the
    engine's busy policy handles.  A change subclasses it with what its :meth:`Change.apply` needs."""

    __slots__ = ('in_use',)

    def __init__(self, in_use):
        self.in_use = bool(in_use)


class Skip(object):
    """Why a phone needs no change (:meth:`Change.skip_reason`): it is never touched and ends with ``outcome``
    (``already_current``; ``blocked``, a problem outcome, for a phone whose settings would stall the change), ``reason``
    (a code word) and ``note`` (a sentence), or ``error`` (the sentence of a problem outcome, naming the phone)."""

    __slots__ = ('outcome', 'reason', 'note', 'error')

    def __init__(self, outcome, reason, note=None, error=None):
        self.outcome, self.reason, self.note, self.error = outcome, reason, note, error

    def __repr__(self):
        return 'Skip(%s, %s)' % (self.outcome, self.reason)


class PhoneResult(object):
    """One phone's row of a fan-out, typed: ``ok`` and the ``value`` the work returned, or the CTI ``error_class`` and
    the ``error`` sentence (naming the phone, with what to check)."""

    __slots__ = ('ok', 'value', 'error_class', 'error')

    def __init__(self, ok, value=None, error_class=None, error=None):
        self.ok, self.value, self.error_class, self.error = ok, value, error_class, error

    @classmethod
    def from_row(cls, row):
        if row['ok']:
            return cls(True, row['data'].get('value'))
        return cls(False, error_class=row['error_class'], error=row['message'])


def fan_out_results(fan_out, targets, work, concurrency):
    """``fan_out`` (``fanout.fan_out`` or a fake) with a work that returns any value; one :class:`PhoneResult` per target."""
    def wrapped(client, target):
        return {'value': work(client, target)}
    return [PhoneResult.from_row(row) for row in fan_out(targets, wrapped, concurrency)]


# What became of one phone's command in a batch (the send work's value).

class Busy(object):
    """The last look right before the command found a line in use: nothing was sent."""
    __slots__ = ()


class Withheld(object):
    """Nothing was sent because the run is stopping (interrupted, the controller gone) or its ledger could not be
    written (``error``, a StateFileError)."""
    __slots__ = ('error',)

    def __init__(self, error=None):
        self.error = error


class Refused(object):
    """The phone refused the change, or the connection failed before the request left: nothing is happening.
    ``reason``: the code word of a :class:`ChangeRefused` (None: the CTI error class is the reason)."""
    __slots__ = ('error_class', 'error', 'reason')

    def __init__(self, error_class, error, reason=None):
        self.error_class, self.error, self.reason = error_class, error, reason


class ChangeRefused(Exception):
    """Raised by :meth:`Change.apply` when the phone did not take a first step of the change and nothing irreversible was
    sent (settings written and read back that did not stick: the phone is not rebooted).  The phone is failed with
    ``reason`` (a code word) and ``error`` (a sentence naming the phone); a re-run of the run id tries it again."""

    def __init__(self, reason, error):
        super(ChangeRefused, self).__init__(error)
        self.reason, self.error = reason, error


class RunRefused(Exception):
    """Raised by :meth:`Change.before_batches`: the run must not start (a firmware image missing on its server).
    ``str()`` is the sentence; nothing was sent to any phone."""


class Sent(object):
    """The change went out at ``sent_at`` (epoch seconds); ``proof`` proves it, step by step."""
    __slots__ = ('proof', 'sent_at')

    def __init__(self, proof, sent_at):
        self.proof, self.sent_at = proof, sent_at


class Change(object):
    """One kind of change of a rolling run.  A subclass sets the class attributes and implements the methods.

    Vocabulary: ``kind`` (ledger), ``title`` (sentences: "Rolling reboot r1: ..."), ``verb`` (the plan: "40 to
    reboot"), ``role_prefix`` (of the role's variables, ``rolling_reboot_``: the sentences that say how to resume),
    ``report_name`` (report files ``<report_name>.json``...), ``lock_name`` (the state directory's lock file),
    ``done`` (the outcome of a phone changed and proven), ``done_earlier`` (of one an earlier attempt of the run id
    changed), ``own_outcomes`` (its other outcomes, besides the engine's), ``own_problem_outcomes`` (those of them that
    fail the play), ``failure_outcomes`` (``{proof reason: outcome}``: a failed proof whose reason has its own outcome,
    say ``kept_old_version``; any other failed proof is ``failed``), ``proof_steps`` (``(label, timing key)`` of the
    proof's steps, in order: the progress lines and the reports' timings), ``batch_bound`` (which options bound a batch's
    duration, :meth:`max_seconds`, for the plan), ``unrecorded_ledgers`` (whether a ledger that records no kind is this
    change's: only the reboot's, which came first), ``ledger_field_checks`` (``(field, check, what it must be)`` for
    what :meth:`ledger_fields` writes), ``row_columns`` (the CSV columns of :meth:`row_fields`), ``old_state_dir``
    (where, under the report directory, an older version kept the
    ledgers by default: a run id found there is refused, never started over).
    """

    kind = None
    title = None
    verb = None
    report_name = None
    lock_name = None
    done = None
    done_earlier = None
    own_outcomes = ()
    own_problem_outcomes = ()
    failure_outcomes = {}
    proof_steps = ()
    batch_bound = None
    unrecorded_ledgers = False
    old_state_dir = None
    role_prefix = None
    ledger_field_checks = ()
    row_columns = ()

    # Derived from the attributes above when a subclass is defined, so that they read on the class too (report
    # registries are built from the class): outcomes (every outcome of a run, report order), problem_outcomes (those
    # that fail the play with fail_on_problems, listed as problems), timing_keys, run_id_variable (the role variable
    # that names a run: what a user passes to resume), ledger_kind.
    outcomes = ()
    problem_outcomes = ()
    timing_keys = ()
    run_id_variable = None
    ledger_kind = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ordered = (cls.done, cls.done_earlier) + tuple(cls.own_outcomes) + ENGINE_OUTCOMES
        cls.outcomes = tuple(outcome for index, outcome in enumerate(ordered) if outcome not in ordered[:index])
        cls.problem_outcomes = ENGINE_PROBLEM_OUTCOMES + tuple(cls.own_problem_outcomes)
        cls.timing_keys = tuple(key for dummy, key in cls.proof_steps)
        cls.run_id_variable = cls.role_prefix + 'run_id' if cls.role_prefix else None
        cls.ledger_kind = LedgerKind(cls.kind, cls.title.lower() if cls.title else None, cls.done, cls.unrecorded_ledgers,
                                     cls.lock_name, cls.role_prefix, tuple(cls.ledger_field_checks))

    def outcome_of(self, proof):
        """The outcome of a finished proof: ``done``, or the failure's own outcome, else ``failed``; None while it runs."""
        if not proof.done:
            return None
        return self.done if proof.ok else self.failure_outcomes.get(proof.reason, FAILED)

    # -- what a subclass implements ---------------------------------------------------------------

    def preflight(self, client):
        """Read-only look at one phone; returns a :class:`Preflight`.  Raises CTIError."""
        raise NotImplementedError

    def skip_reason(self, preflight):
        """A :class:`Skip` when the phone needs no change (it is never touched), else None."""
        return None

    def lines_in_use(self, client):
        """The last look right before the change: whether a line is in use now.  Raises CTIError."""
        return any(line['in_use'] for line in client.get_line_status())

    def ledger_fields(self, preflight):
        """What :meth:`resume` needs from the preflight, written into the ledger before the change goes out (JSON)."""
        return {}

    def apply(self, client, preflight, clock):
        """Send the change and return its proof (non-blocking: the engine steps it).  Raises CTIError when the phone
        refused the change or the request never left (nothing is happening)."""
        raise NotImplementedError

    def resume(self, target, entry, clock):
        """The proof of a phone whose change went out (or may have) before an interruption; ``entry`` is its
        :class:`ResumePoint`.  Never sends anything."""
        raise NotImplementedError

    def before_batches(self, preflights):
        """Called once the phones to change are known (their preflights, read-only) and before anything is sent to
        any of them, in check mode too; raises :class:`RunRefused` to stop the run there."""

    def row_fields(self, phone):
        """The change's own fields of a phone's report row (``row_columns`` names them for the CSV): ``phone`` is the
        engine's RollingPhone (its preflight, its proof, its outcome, and ``resume_fields``, the change's fields of
        its ledger entry)."""
        return {}

    def finished_notes(self, proof):
        """Sentences for the phone's note once its proof finished (how it was checked, what was not checked)."""
        return []

    def sent_note(self, proof):
        """A sentence for the phone's note about how the change went out (None: nothing to say)."""
        return None

    def max_seconds(self):
        """The longest one batch can take (its proof's timeouts), for the plan."""
        raise NotImplementedError

    def settings_record(self):
        """The change's options, for the report's ``settings``."""
        return {}
