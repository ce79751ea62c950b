# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet fan-out: run one CTI read (or a short sequence) against many phones at once, on the controller.

One task (an action plugin running once per play) hands :func:`fan_out` a list of
:class:`FleetTarget` and a work function ``work(client, target) -> dict``.  Up to
``concurrency`` phones are worked on at the same time, each with its own
:class:`~cti.CTIClient`; a global ``deadline`` bounds the whole run.  Every phone gets
one result dict, in input order, whatever happened to it: a CTIError becomes its error
class and sentence, any other exception the class ``error`` with a one-line message.
Results never hold a traceback or a passcode.

The registration audit (``audit.py``) and the rolling reboot (``rolling_run.py``) are built on it.
"""

import threading
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.credentials import CredentialGate
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR, UNREACHABLE, CTIClient, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact

DEFAULT_CONCURRENCY = 50

# Error classes of the fan-out itself, next to the CTI ones (cti.ERROR_CLASSES).
NOT_ATTEMPTED = 'not_attempted'  # the deadline passed before the phone's turn: nothing was sent to it
INTERRUPTED = 'interrupted'      # the deadline passed while the work ran: whether it took effect is unknown

_INVALID_TARGET_HINT = 'Check the host variables of the phone (ansible_host, grandstream_port, grandstream_scheme, ...).'


class FleetTarget(object):
    """One phone of a fan-out.

    ``name``: the inventory name; ``connection``: a CTIConnection (None when the host variables
    are unusable, then ``problem`` says why, ``problem_reason`` is a code word (``no_passcode``,
    ``bad_variables``) and the work is not run); ``variables``: host variables the work or the reports
    need (``site``, ``model``...).
    """

    __slots__ = ('name', 'connection', 'variables', 'problem', 'problem_reason')

    def __init__(self, name, connection=None, variables=None, problem=None, problem_reason=None):
        if connection is None and not problem:
            raise ValueError('%s: a target needs a connection or a problem' % name)
        self.name = str(name)
        self.connection = connection
        self.variables = dict(variables or {})
        self.problem = problem
        self.problem_reason = problem_reason if problem else None

    @property
    def host(self):
        return self.connection.host if self.connection is not None else self.variables.get('ansible_host')

    @property
    def port(self):
        return self.connection.port if self.connection is not None else None

    @property
    def label(self):
        return self.connection.label if self.connection is not None else self.name

    @property
    def secrets(self):
        return [self.connection.passcode] if self.connection is not None and self.connection.passcode else []

    def __repr__(self):
        return 'FleetTarget(%s)' % self.label


def _base_result(target):
    return {
        'name': target.name,
        'host': target.host,
        'port': target.port,
        'ok': False,
        'error_class': None,
        'error': None,
        'hint': None,
        'message': None,
        'http_status': None,
        'reachable': None,
        'data': {},
        'seconds': 0.0,
    }


def _failure(result, target, error_class, reason, hint=None, reachable=None, http_status=None):
    # The client already keeps the passcode out of its sentences; this is the last line of defence for the
    # texts of the report.  Names, addresses and what the phone answered are left alone: a short passcode
    # ("123") would otherwise be starred out of "gs0123", which would mangle the report and show the passcode.
    reason, hint = redact(reason, target.secrets), redact(hint, target.secrets)
    result.update(
        error_class=error_class,
        error=reason,
        hint=hint or None,
        message='%s: %s%s' % (target.label, reason, ' ' + hint if hint else ''),
        reachable=reachable,
        http_status=http_status,
    )
    return result


def run_target(target, work, transport_factory=None, client_options=None):
    """Run work against one target; always returns a result dict (see :func:`fan_out`), never raises."""
    started = time.monotonic()
    result = _base_result(target)
    if target.problem:
        _failure(result, target, ERROR, target.problem, hint=_INVALID_TARGET_HINT, reachable=None)
        return result
    client = None
    try:
        transport = transport_factory(target) if transport_factory is not None else None
        client = CTIClient(target.connection, transport=transport, **(client_options or {}))
        data = work(client, target)
        result.update(ok=True, reachable=True, data=dict(data or {}))
        if client.cut_notes:
            result['data']['cut'] = client.cut_notes
    except CTIError as error:
        _failure(result, target, error.error_class, error.reason, hint=error.hint,
                 reachable=error.error_class != UNREACHABLE, http_status=error.status)
        if error.details:
            result['data'] = dict(error.details)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # A bug or an unexpected answer must not end the whole fleet run: one line for this phone, no traceback.
        text = ' '.join(str(exc).split())[:200]
        _failure(result, target, ERROR, 'unexpected %s%s.' % (type(exc).__name__, ': ' + text if text else ''),
                 hint='This is a bug in the collection or an answer it does not know; please report it.')
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # pylint: disable=broad-exception-caught
                pass
    result['seconds'] = round(time.monotonic() - started, 3)
    return result


def _unfinished(target, error_class, deadline):
    result = _base_result(target)
    when = 'the deadline of %g s passed' % deadline if deadline else 'the fan-out stopped'
    if error_class == NOT_ATTEMPTED:
        reason = 'not contacted: %s before its turn.' % when
    else:
        reason = 'did not finish before %s; whether the request took effect is unknown.' % when
    return _failure(result, target, error_class, reason, hint='Raise the deadline or the concurrency, or check why phones answer slowly.')


def fan_out(targets, work, concurrency=DEFAULT_CONCURRENCY, deadline=None, transport_factory=None, client_options=None):
    """Run ``work(client, target)`` for every target, at most ``concurrency`` at a time.

    ``deadline``: seconds for the whole run (None or 0: none).  When it passes, phones not
    started get the class ``not_attempted`` and phones in progress ``interrupted`` (their
    threads are abandoned; a read is harmless, a command's effect is unknown).
    ``transport_factory(target)``: the HTTP transport of a target's client (tests); default a new
    ``cti_http.HTTPTransport`` per phone.  ``client_options``: keyword arguments for every CTIClient.

    Returns one dict per target, in input order::

        {'name', 'host', 'port',
         'ok': bool,                 # work returned
         'data': dict,               # what work returned ({} on failure; lock_minutes for locked)
         'error_class': None | 'unreachable' | 'auth_failed' | 'locked' | 'forbidden' | 'error'
                        | 'rejected' | 'not_attempted' | 'interrupted',
         'error': None | str,        # what happened, one sentence without the phone name
         'hint': None | str,         # what to check
         'message': None | str,      # '<name> (<address>): <error> <hint>' for task output
         'http_status': None | int,
         'reachable': None | bool,   # the phone answered on the network (None: not contacted)
         'seconds': float}
    """
    targets = list(targets)
    count = len(targets)
    if concurrency is None or int(concurrency) < 1:
        raise ValueError('concurrency must be at least 1, not %r' % (concurrency,))
    if deadline is not None and float(deadline) < 0:
        raise ValueError('deadline must be a positive number of seconds (or 0 for none), not %r' % (deadline,))
    if not count:
        return []
    deadline = float(deadline) if deadline else None
    end = time.monotonic() + deadline if deadline else None
    # One gate for the task: a wrong shared password costs the first few phones an attempt, not the fleet.
    client_options = dict(client_options or {})
    client_options.setdefault('gate', CredentialGate())
    results = [None] * count
    lock = threading.Condition()
    state = {'next': 0, 'finished': 0, 'stopped': False}

    def worker():
        while True:
            with lock:
                if state['stopped'] or state['next'] >= count:
                    return
                if end is not None and time.monotonic() >= end:
                    return
                index = state['next']
                state['next'] += 1
            result = run_target(targets[index], work, transport_factory, client_options)
            with lock:
                if state['stopped']:
                    return
                results[index] = result
                state['finished'] += 1
                lock.notify_all()

    threads = []
    for number in range(min(int(concurrency), count)):
        thread = threading.Thread(target=worker, name='fan-out-%d' % number)
        thread.daemon = True  # abandoned at the deadline, never waited for at exit
        thread.start()
        threads.append(thread)

    with lock:
        while state['finished'] < count:
            if end is None:
                lock.wait(1.0)
            else:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                lock.wait(min(remaining, 1.0))
            if not any(thread.is_alive() for thread in threads) and state['finished'] < count:
                break  # every worker stopped at the deadline
        state['stopped'] = True
        started = state['next']
    for index in range(count):
        if results[index] is None:
            results[index] = _unfinished(targets[index], INTERRUPTED if index < started else NOT_ATTEMPTED, deadline)
    return results
