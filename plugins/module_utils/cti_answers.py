# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the phones' answers mean: accounts and lines normalized across firmware (cti-api.md section 3), and the
send_key tokens.  Pure functions, no network.

Python 3.8 syntax: module_utils may run on a jump host.
"""

import re

LINE_IDLE = 'idle'
# An account or line object carries at least one of these keys; a body without them is the wrong shape.
ACCOUNT_KEYS = ('id', 'sip_id', 'reg')
LINE_KEYS = ('line', 'state')
# More than any phone has (a GXP2170 has 12 accounts, 6 lines): what a phone lists beyond is not kept.
MAX_ACCOUNTS = 64
MAX_LINES = 64

# Known send_key tokens (cti-api.md section 3).  MPK1..MPKn are matched by pattern.
SEND_KEY_TOKENS = frozenset(
    [str(digit) for digit in range(10)]
    + ['STAR', 'POUND', 'SEND', 'OK', 'UP', 'DOWN', 'LEFT', 'RIGHT', 'ONHOOK', 'OFFHOOK', 'LOCK', 'UNLOCK',
       'SPEAKER', 'VUP', 'VDOWN', 'MUTE', 'HOLD', 'CONF', 'XFER']
)
SEND_KEY_ALIASES = {'*': 'STAR', '#': 'POUND'}
_MPK_RE = re.compile(r'^MPK[1-9][0-9]*$')


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def truthy(value):
    """1, "1", "true", "yes", "on" (any case) and True are true; anything else is false."""
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on')
    return bool(value)


def normalize_account(raw):
    """An account as the modules and reports show it.

    Known keys are normalized (``id`` int, ``registered``/``configured`` booleans); keys a
    firmware adds (``auto_cfg``...) pass through unchanged.
    """
    account = dict(raw)
    account['id'] = _to_int(raw.get('id'))
    for key in ('sip_id', 'sip_server', 'name'):
        value = raw.get(key)
        account[key] = '' if value is None else str(value)
    account['configured'] = account['sip_id'].strip() != ''
    account['registered'] = truthy(raw.get('reg', 0))
    return account


def normalize_line(raw):
    """A line as the modules show it: any state other than ``idle`` means in use."""
    state = str(raw.get('state') or LINE_IDLE).strip().lower()
    # Idle lines carry "" (doc firmware) or 0 (newer firmware): neither names an account.
    account = raw.get('acct') if state != LINE_IDLE else None
    return {
        'line': _to_int(raw.get('line')),
        'state': state,
        'in_use': state != LINE_IDLE,
        'active': truthy(raw.get('active', 0)),
        'account': _to_int(account) if account not in (None, '') else None,
        'remote_name': str(raw.get('remotename') or ''),
        'remote_number': str(raw.get('remotenumber') or ''),
        'conference': truthy(raw.get('conf', 0)),
    }


def accounts_summary(accounts):
    configured = [account for account in accounts if account['configured']]
    return {
        'total': len(accounts),
        'configured': len(configured),
        'registered': len([account for account in configured if account['registered']]),
        'all_registered': bool(configured) and all(account['registered'] for account in configured),
    }


def normalize_keys(keys):
    """Validate send_key tokens before anything is sent.  Returns the tokens to send.

    Raises ValueError naming every unknown key.
    """
    tokens = []
    unknown = []
    for key in keys:
        token = SEND_KEY_ALIASES.get(str(key).strip(), str(key).strip().upper())
        if token in SEND_KEY_TOKENS or _MPK_RE.match(token):
            tokens.append(token)
        else:
            unknown.append(str(key))
    if unknown:
        raise ValueError('unknown key%s %s; known keys are 0-9, *, #, %s and MPK1..MPKn'
                         % ('s' if len(unknown) > 1 else '', ', '.join(repr(key) for key in unknown),
                            ', '.join(sorted(token for token in SEND_KEY_TOKENS if not token.isdigit()))))
    if not tokens:
        raise ValueError('keys must name at least one key')
    return tokens
