# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet fan-out: run one CTI read (or a short sequence) against many phones at once.

One task (an action plugin running once per play) hands :func:`fan_out` a list of
:class:`FleetTarget` and a work function ``work(client, target) -> dict``.  Up to
``concurrency`` phones are worked on at the same time, each with its own
:class:`~cti.CTIClient`; a global ``deadline`` bounds the whole run.  Every phone gets
one result dict, in input order, whatever happened to it: a CTIError becomes its error
class and sentence, any other exception the class ``error`` with a one-line message.
Results never hold a traceback or a passcode.

The second half of the file is the registration audit built on it (``audit_registration``
and ``registration_summary``), used by ``fleet_registration_info``.

Python 3.8 syntax: module_utils may run on a remote host.
"""

import math
import threading
import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import (
    AUTH_FAILED, ERROR, FORBIDDEN, LOCKED, UNREACHABLE, CTIClient, CTIError, redact,
)

DEFAULT_CONCURRENCY = 50

# Error classes of the fan-out itself, next to the CTI ones (cti.ERROR_CLASSES).
NOT_ATTEMPTED = 'not_attempted'  # the deadline passed before the phone's turn: nothing was sent to it
INTERRUPTED = 'interrupted'      # the deadline passed while the work ran: whether it took effect is unknown

_INVALID_TARGET_HINT = 'Check the host variables of the phone (ansible_host, grandstream_port, grandstream_scheme, ...).'


class FleetTarget(object):
    """One phone of a fan-out.

    ``name``: the inventory name; ``connection``: a CTIConnection (None when the host variables
    are unusable, then ``problem`` says why and the work is not run); ``variables``: host variables
    the work or the reports need (``site``, ``model``...).
    """

    __slots__ = ('name', 'connection', 'variables', 'problem')

    def __init__(self, name, connection=None, variables=None, problem=None):
        if connection is None and not problem:
            raise ValueError('%s: a target needs a connection or a problem' % name)
        self.name = str(name)
        self.connection = connection
        self.variables = dict(variables or {})
        self.problem = problem

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


def run_target(target, work, session_factory=None, client_options=None):
    """Run work against one target; always returns a result dict (see :func:`fan_out`), never raises."""
    started = time.monotonic()
    result = _base_result(target)
    if target.problem:
        _failure(result, target, ERROR, target.problem, hint=_INVALID_TARGET_HINT, reachable=None)
        return result
    client = None
    try:
        session = session_factory(target) if session_factory is not None else None
        client = CTIClient(target.connection, session=session, **(client_options or {}))
        data = work(client, target)
        result.update(ok=True, reachable=True, data=dict(data or {}))
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


def fan_out(targets, work, concurrency=DEFAULT_CONCURRENCY, deadline=None, session_factory=None, client_options=None):
    """Run ``work(client, target)`` for every target, at most ``concurrency`` at a time.

    ``deadline``: seconds for the whole run (None or 0: none).  When it passes, phones not
    started get the class ``not_attempted`` and phones in progress ``interrupted`` (their
    threads are abandoned; a read is harmless, a command's effect is unknown).
    ``session_factory(target)``: the HTTP session for a target's client (tests); default a new
    ``requests.Session`` per phone.  ``client_options``: keyword arguments for every CTIClient.

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
            result = run_target(targets[index], work, session_factory, client_options)
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


# -- registration audit -------------------------------------------------------------------

REGISTERED = 'registered'
UNREGISTERED = 'unregistered'
AUDIT_STATUSES = (REGISTERED, UNREGISTERED, UNREACHABLE, AUTH_FAILED, LOCKED, FORBIDDEN, ERROR)

_UNREGISTERED_HINT = ("Check the account's SIP server and credentials on the phone, and that the phone reaches the SIP server "
                      "(VLAN, DNS, firewall).")
_NOT_CONFIGURED_HINT = 'Provision the phone: it has no SIP account configured.'
_ACCOUNT_KEYS = ('id', 'name', 'sip_id', 'sip_server', 'configured', 'registered')


def _account_text(account):
    text = 'account %s' % account['id']
    if account.get('sip_id'):
        text += ' (%s%s)' % (account['sip_id'], '@' + account['sip_server'] if account.get('sip_server') else '')
    return text


def _join(items):
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return '%s and %s' % (', '.join(items[:-1]), items[-1])


def classify_accounts(accounts, required=None):
    """(status, reason, hint) of one phone's normalized accounts.

    ``required``: account ids that must be registered; None or empty: every configured account.
    """
    if required:
        by_id = dict((account['id'], account) for account in accounts)
        missing = [str(number) for number in required if number not in by_id]
        unconfigured = [by_id[number] for number in required if number in by_id and not by_id[number]['configured']]
        down = [by_id[number] for number in required if number in by_id and by_id[number]['configured']
                and not by_id[number]['registered']]
        reasons = []
        if missing:
            reasons.append('the phone has no account %s' % _join(missing))
        if unconfigured:
            reasons.append('%s %s not configured' % (_join(_account_text(account) for account in unconfigured),
                                                     'is' if len(unconfigured) == 1 else 'are'))
        if down:
            reasons.append('%s %s not registered' % (_join(_account_text(account) for account in down),
                                                     'is' if len(down) == 1 else 'are'))
        if not reasons:
            return REGISTERED, None, None
        hint = _UNREGISTERED_HINT if down and not (missing or unconfigured) else _NOT_CONFIGURED_HINT
        return UNREGISTERED, '; '.join(reasons) + '.', hint
    configured = [account for account in accounts if account['configured']]
    if not configured:
        return UNREGISTERED, 'no SIP account is configured on the phone.', _NOT_CONFIGURED_HINT
    down = [account for account in configured if not account['registered']]
    if down:
        return UNREGISTERED, '%s %s not registered.' % (_join(_account_text(account) for account in down),
                                                        'is' if len(down) == 1 else 'are'), _UNREGISTERED_HINT
    return REGISTERED, None, None


def audit_registration(required=None):
    """A work function for :func:`fan_out`: read accounts and phone status, classify the phone.

    The phone status is read only when the accounts answered (an authentication failure is
    never repeated).  A phone whose accounts answer but whose phone status does not exist or
    answers nonsense (class ``error``) is still classified by its accounts; a later transport,
    authentication or access failure makes the whole phone fail with that class.
    """
    required = [int(number) for number in required or []]

    def work(client, target):
        accounts = client.get_accounts()
        status, reason, hint = classify_accounts(accounts, required)
        data = {
            'status': status,
            'accounts': [dict((key, account.get(key)) for key in _ACCOUNT_KEYS) for account in accounts],
            'phone_status': None,
            'error': reason,
            'hint': hint,
        }
        try:
            data['phone_status'] = client.get_phone_status()['status']
        except CTIError as error:
            if error.error_class != ERROR:
                raise
            data['phone_status_error'] = error.reason
        return data

    return work


def registration_record(result, target=None):
    """The report row of one phone from its fan-out result."""
    variables = target.variables if target is not None else {}
    data = result.get('data') or {}
    if result['ok']:
        status = data['status']
        error, hint = data.get('error'), data.get('hint')
    else:
        status = result['error_class']
        # rejected: the phone refused a read; not_attempted/interrupted: registration unknown
        if status not in AUDIT_STATUSES:
            status = ERROR
        error, hint = result.get('error'), result.get('hint')
    record = {
        'name': result['name'],
        'host': result['host'],
        'port': result['port'],
        'site': _text_or_none(variables.get('site')),
        'model': _text_or_none(variables.get('model')),
        'status': status,
        'compliant': status == REGISTERED,
        'reachable': result.get('reachable'),
        'accounts': data.get('accounts', []),
        'phone_status': data.get('phone_status'),
        'error': error,
        'hint': hint,
        'seconds': result.get('seconds'),
    }
    if result.get('error_class') in (NOT_ATTEMPTED, INTERRUPTED):
        record['error_class'] = result['error_class']
    if result.get('http_status') is not None:
        record['http_status'] = result['http_status']
    if data.get('lock_minutes') is not None:
        record['lock_minutes'] = data['lock_minutes']
    if data.get('phone_status_error'):
        record['phone_status_error'] = data['phone_status_error']
    return record


def _text_or_none(value):
    return None if value is None or value == '' else str(value)


def compliance_percent(compliant, total):
    """Percent of compliant phones, rounded down to 2 decimals so that 99.999 never shows as 100."""
    if not total:
        return 100.0
    return math.floor(10000.0 * compliant / total) / 100.0


def registration_summary(records):
    """``{"total", <a count per status>, "compliance_percent"}``."""
    summary = {'total': len(records)}
    for status in AUDIT_STATUSES:
        summary[status] = 0
    for record in records:
        summary[record['status']] += 1
    summary['compliance_percent'] = compliance_percent(summary[REGISTERED], len(records))
    return summary


def summary_sentence(summary, non_compliant_names, limit=10):
    """One paragraph for people: the compliance figure, the counts of each problem and the first problem phones."""
    total = summary['total']
    text = 'Registration audit: %d of %d phone%s registered (%s%% compliant).' % (
        summary[REGISTERED], total, '' if total == 1 else 's', _percent_text(summary['compliance_percent']))
    problems = ['%d %s' % (summary[status], status) for status in AUDIT_STATUSES[1:] if summary[status]]
    if problems:
        text += ' Not compliant: %s.' % ', '.join(problems)
        text += ' Phones: %s.' % name_list(non_compliant_names, limit)
    return text


def name_list(names, limit=10):
    """``a, b, c and 7 more``: the first ``limit`` names, so a message stays short for 10,000 phones."""
    names = list(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += ' and %d more' % (len(names) - limit)
    return shown


def _percent_text(value):
    return ('%.2f' % value).rstrip('0').rstrip('.')
