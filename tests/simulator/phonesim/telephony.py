"""Accounts, lines and calls of a simulated phone, and the CTI functions that read or change them."""

from .profiles import account_template, line_template, recorded
from .spec import CALL_STATES, DIAL_CHARS, ENDABLE_STATES, KEY_TOKENS, call_list, fault_set


class Line:
    __slots__ = ('number', 'state', 'acct', 'remotename', 'remotenumber', 'call_id', 'timers', 'pending')

    def __init__(self, number):
        self.number = number
        self.state = 'idle'
        self.acct = 0
        self.remotename = ''
        self.remotenumber = ''
        self.call_id = 0
        self.timers = []    # asyncio TimerHandles of the current call
        self.pending = []   # (delay, callback) armed when the fleet starts


class Telephony:
    """The telephone part of a phone: accounts, lines, calls, registration and the CTI functions on them.

    ``Phone`` adds the network side (listening, HTTP, reboot). Methods without a leading underscore are thread-safe;
    the others run on the event loop thread.
    """

    def __init__(self, fleet, spec, index):
        self.fleet = fleet
        self.spec = spec
        self.index = index
        self.name = spec.name
        self.faults = fault_set(spec.fault)
        self._status_override = spec.phone_status
        self._accounts = self._build_accounts()
        self._lines = [Line(number) for number in range(1, (spec.line_count or (3 if spec.firmware == 'doc' else 4)) + 1)]
        self._active = None
        self._calls = 0
        if 'unregistered' not in self.faults:
            for account in self._accounts:
                account['reg'] = 1 if account['sip_id'] and account['register'] else 0
        for call in call_list(spec.call):
            line = self._lines[call['line'] - 1]
            self._begin_call(line, call['state'], call['remotenumber'], call['remotename'], 'spec',
                             ends_after=call['ends_after'])

    def _build_accounts(self):
        spec = self.spec
        count = spec.account_count or (2 if spec.firmware == 'doc' else 3)
        if spec.accounts is None:
            configured = [{'sip_id': str(1001 + self.index), 'sip_server': spec.sip_server, 'name': 'office'}]
        else:
            configured = list(spec.accounts)
        accounts = []
        for number in range(max(count, len(configured))):
            source = configured[number] if number < len(configured) else {}
            sip_id = str(source.get('sip_id') or '')
            accounts.append({
                'id': number + 1,
                'sip_server': str(source.get('sip_server', spec.sip_server if sip_id else '')),
                'sip_id': sip_id,
                'name': str(source.get('name', '')),
                'register': bool(source.get('register', True)),
                'reg': 0,
            })
        return accounts

    def _emit(self, event, **fields):
        return self.fleet.event_log.emit(self.name, event, **fields)

    # ----- public, thread-safe API

    @property
    def accounts(self):
        """Copies of the accounts: dicts with id, sip_server, sip_id, name, reg."""
        return self.fleet.call(lambda: [self._render_account(account, recorded.SHAPE_FOLDERS['doc']) for account in self._accounts])

    @property
    def registered_accounts(self):
        """Ids of the accounts currently registered."""
        return self.fleet.call(lambda: [account['id'] for account in self._accounts if account['reg']])

    @property
    def lines(self):
        """Copies of the lines: dicts with line, state, acct (int), remotename, remotenumber, active."""
        return self.fleet.call(lambda: [dict(self._render_line(line, recorded.SHAPE_FOLDERS['doc']), acct=line.acct if line.state != 'idle' else 0)
                                        for line in self._lines])

    def phone_status(self):
        """What api-get_phone_status answers now."""
        return self.fleet.call(self._status)

    def set_phone_status(self, value):
        """Force api-get_phone_status to answer ``value`` (None: computed from accounts and lines)."""
        self._status_override = value

    def start_call(self, line=1, state='connected', ends_after=None, remotenumber='2001', remotename=''):
        """Put a call on ``line`` (replacing any); ends_after seconds from now (None: never). No auto-answer."""
        if state not in CALL_STATES:
            raise ValueError('state %r is not one of %s' % (state, ', '.join(CALL_STATES)))
        if not 1 <= int(line) <= len(self._lines):
            raise ValueError('line %r does not exist (1..%d)' % (line, len(self._lines)))
        return self.fleet.call(self._runtime_call, int(line), state, ends_after, str(remotenumber), str(remotename))

    def end_calls(self):
        """End every call (lines go idle); returns how many were ended."""
        return self.fleet.call(self._end_all, 'runtime')

    # ----- state helpers (event loop thread)

    def _render_account(self, account, folder):
        """An account in the shape recorded in ``folder`` (tests/fixtures: key order, types, extra fields)."""
        values = {'id': account['id'], 'sip_server': account['sip_server'], 'sip_id': account['sip_id'], 'name': account['name'],
                  'reg': account['reg']}
        return recorded.render_like(account_template(folder), values)

    def _render_line(self, line, folder):
        """A line in the shape recorded in ``folder``: ``acct`` empty (``""`` or 0, as recorded) while idle."""
        in_use = line.state != 'idle'
        return recorded.render_like(line_template(folder), {
            'line': line.number, 'state': line.state, 'acct': line.acct if in_use else 0, 'remotename': line.remotename,
            'remotenumber': line.remotenumber, 'active': 1 if in_use and self._active == line.number else 0})

    def _status(self):
        if self._status_override is not None:
            return self._status_override
        if not any(account['reg'] and account['sip_id'] for account in self._accounts):
            return 'unavailable'
        states = [line.state for line in self._lines]
        if 'ringing' in states:
            return 'ringing'
        if any(state != 'idle' for state in states):
            return 'busy'
        return 'available'

    def _registered_account(self, index=None):
        """The account to call from: ``index`` (0-based) if given, else the first registered one; None if unusable."""
        if index is None:
            return next((acc for acc in self._accounts if acc['sip_id'] and acc['reg']), None)
        if 0 <= index < len(self._accounts) and self._accounts[index]['sip_id'] and self._accounts[index]['reg']:
            return self._accounts[index]
        return None

    def _default_acct(self):
        account = next((acc for acc in self._accounts if acc['sip_id']), None)
        return account['id'] if account else 1

    def _schedule(self, line, delay, callback):
        if self.fleet.running:
            line.timers.append(self.fleet.loop.call_later(max(0.0, delay), callback, line, line.call_id))
        else:
            line.pending.append((delay, callback))

    def _cancel_timers(self, line):
        for handle in line.timers:
            handle.cancel()
        line.timers = []
        line.pending = []

    def _find(self, states):
        """The active line if its state is in ``states``, else the first such line, else None."""
        if self._active is not None:
            line = self._lines[self._active - 1]
            if line.state in states:
                return line
        return next((line for line in self._lines if line.state in states), None)

    def _focus(self, line, cause):
        """Make ``line`` the active one; a connected call elsewhere goes on hold (what a phone does)."""
        for other in self._lines:
            if other is not line and other.state == 'connected':
                self._set_state(other, 'onhold', cause)
        self._active = line.number

    def _begin_call(self, line, state, remotenumber, remotename, origin, ends_after=None, acct=None):
        if line.state != 'idle':
            self._end(line, 'replaced')
        self._cancel_timers(line)
        self._calls += 1
        line.call_id = self._calls
        line.state = state
        line.acct = acct if acct is not None else self._default_acct()
        line.remotenumber = remotenumber
        line.remotename = remotename
        if state != 'ringing' or self._active is None:
            self._active = line.number
        self._emit('call_started', line=line.number, state=state, remotenumber=remotenumber, origin=origin)
        self._call_changed(line, 'idle')
        if ends_after is not None:
            self._schedule(line, float(ends_after), self._timed_end)

    def _set_state(self, line, state, cause):
        previous, line.state = line.state, state
        self._emit('call_state', line=line.number, state=state, previous=previous, cause=cause)
        self._call_changed(line, previous)

    def _end(self, line, cause):
        previous = line.state
        number = line.remotenumber
        self._notify('terminated_call', **self._call_values(line))
        self._cancel_timers(line)
        line.state, line.acct, line.remotename, line.remotenumber = 'idle', 0, '', ''
        if self._active == line.number:
            other = next((item for item in self._lines if item.state != 'idle'), None)
            self._active = other.number if other else None
        self._emit('call_ended', line=line.number, previous=previous, remotenumber=number, cause=cause)

    def _end_all(self, cause):
        ended = 0
        for line in self._lines:
            if line.state != 'idle':
                self._end(line, cause)
                ended += 1
        return ended

    def _timed_end(self, line, call_id):
        if line.call_id == call_id and line.state != 'idle':
            self._end(line, 'ends_after')

    def _answered(self, line, call_id):
        if line.call_id == call_id and line.state == 'calling':
            self._set_state(line, 'connected', 'answered')

    def _place_outgoing(self, line, number, account, origin):
        self._focus(line, 'new_call')
        self._begin_call(line, 'calling', number, '', origin, acct=account['id'])
        if self.spec.call_answer_after is not None:
            self._schedule(line, float(self.spec.call_answer_after), self._answered)

    def _runtime_call(self, line_number, state, ends_after, remotenumber, remotename):
        self._begin_call(self._lines[line_number - 1], state, remotenumber, remotename, 'runtime', ends_after=ends_after)

    def _register(self, cause):
        ids = []
        for account in self._accounts:
            if account['sip_id'] and account['register'] and not account['reg']:
                account['reg'] = 1
                ids.append(account['id'])
        if ids:
            self._emit('registered', accounts=ids, cause=cause)
        for account in self._accounts:
            if account['id'] in ids:
                self._notify('registered', active_user=account['sip_id'], active_host=account['sip_server'])

    def _unregister(self, cause, only=None):
        ids = []
        for account in self._accounts:
            if account['reg'] and (only is None or account['id'] == only):
                account['reg'] = 0
                ids.append(account['id'])
        if ids:
            self._emit('unregistered', accounts=ids, cause=cause)
        for account in self._accounts:
            if account['id'] in ids:
                self._notify('unregistered', active_user=account['sip_id'], active_host=account['sip_server'])

    # ----- Action URL hooks

    def _notify(self, event, **values):
        """Push an Action URL event; the network side (Phone) does it, a bare Telephony has nowhere to push."""

    def _call_values(self, line):
        account = next((acc for acc in self._accounts if acc['id'] == line.acct), None)
        local = account['sip_id'] if account else ''
        return {'local': local, 'active_user': local, 'active_host': account['sip_server'] if account else '',
                'display_local': account['name'] if account else '', 'remote': line.remotenumber,
                'display_remote': line.remotename, 'call_id': line.call_id}

    def _call_changed(self, line, previous):
        """Push what a line entering its state means: a call coming in, going out, or being established."""
        if line.state == 'ringing':
            self._notify('incoming_call', **self._call_values(line))
        elif line.state == 'calling':
            self._notify('outgoing_call', **self._call_values(line))
        elif line.state == 'connected' and previous != 'onhold':
            self._notify('established_call', **self._call_values(line))

    # ----- CTI functions (handler(params) -> JSON object)

    def _api_get_accounts(self, params):
        return {'response': 'success', 'body': [self._render_account(acc, self.shape_folder) for acc in self._accounts]}

    def _api_get_phone_status(self, params):
        return {'response': 'success', 'body': self._status(), 'misc': '0'}

    def _api_get_line_status(self, params):
        lines = self._lines
        wanted = params.get('line', '-1')
        if wanted.isdigit() and 1 <= int(wanted) <= len(lines):
            lines = [lines[int(wanted) - 1]]
        return {'response': 'success', 'body': [self._render_line(line, self.shape_folder) for line in lines]}

    def _api_phone_operation(self, params):
        cmd = params.get('cmd', '')
        line = None
        if cmd == 'endcall':
            line = self._find(ENDABLE_STATES)
            if line:
                self._end(line, 'endcall')
        elif cmd == 'holdcall':
            line = self._find(('connected',))
            if line:
                self._set_state(line, 'onhold', 'holdcall')
        elif cmd in ('unholdcall', 'acceptcall'):
            line = self._find(('onhold',) if cmd == 'unholdcall' else ('ringing',))
            if line:
                self._focus(line, cmd)
                self._set_state(line, 'connected', cmd)
        elif cmd == 'rejectcall':
            line = self._find(('ringing',))
            if line:
                self._end(line, 'rejectcall')
        elif cmd == 'cancel':
            line = self._find(('dialing', 'calling'))
            if line:
                self._end(line, 'cancel')
        if line is None:
            return {'response': 'error', 'body': False}
        return {'response': 'success', 'body': True}

    def _api_send_key(self, params):
        keys = params.get('keys', '')
        tokens = keys.split(':') if keys else []
        if not tokens or any(token not in KEY_TOKENS for token in tokens):
            return {'response': 'error', 'body': 'unknown'}
        self._emit('keys', keys=tokens)
        for token in tokens:
            self._press(token)
        return {'response': 'success', 'body': 'complete'}

    def _press(self, token):
        """Rough key semantics: OFFHOOK answers a ringing call or starts dialing; digits dial; SEND places the call."""
        active = self._find(ENDABLE_STATES | {'ringing'})
        if token == 'OFFHOOK':
            ringing = self._find(('ringing',))
            if ringing is not None:
                self._focus(ringing, 'offhook')
                self._set_state(ringing, 'connected', 'offhook')
            elif active is None:
                free = next((line for line in self._lines if line.state == 'idle'), None)
                account = self._registered_account()
                if free is not None and account is not None:
                    self._begin_call(free, 'dialing', '', '', 'keys', acct=account['id'])
        elif token == 'ONHOOK':
            if active is not None and active.state != 'ringing':
                self._end(active, 'onhook')
        elif token in DIAL_CHARS:
            if active is not None and active.state == 'dialing':
                active.remotenumber += DIAL_CHARS[token]
        elif token in ('SEND', 'OK'):
            if active is not None and active.state == 'dialing' and active.remotenumber:
                self._set_state(active, 'calling', 'send')
                if self.spec.call_answer_after is not None:
                    self._schedule(active, float(self.spec.call_answer_after), self._answered)
        elif token == 'HOLD':
            if active is not None and active.state in ('connected', 'onhold'):
                self._set_state(active, 'onhold' if active.state == 'connected' else 'connected', 'hold_key')

    def _api_make_call(self, params):
        invalid = {'response': 'error', 'body': 'Invalid Request'}
        number = params.get('phonenumber', '')
        raw = params.get('account', '')
        if not number or (raw and not raw.lstrip('-').isdigit()):
            return invalid
        account = self._registered_account(int(raw) if raw else None)
        line = next((item for item in self._lines if item.state == 'idle'), None)
        if account is None or line is None:
            return invalid
        self._place_outgoing(line, number, account, 'make_call')
        return {'response': 'success', 'body': True}
