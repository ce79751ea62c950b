# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's options of one rolling run, parsed once (:class:`RollingSettings`).

The module's argument spec (``module_utils/rolling_options``) fills the defaults and the types; this file refuses the
values an argument spec cannot (a batch size of "ten", a window of "1-5", a run id with a slash) before anything is
sent, and keeps the parsed values in one frozen object the engine reads.  The change parses its own options
(``RebootChange.from_args``).
"""

import dataclasses
import os
import typing

from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import BUSY_FORCE, BUSY_SKIP, BUSY_WAIT
from ansible_collections.phonefleet.grandstream.plugins.module_utils.state_dir import state_dir as user_state_dir
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import (
    Window, check_run_id, has_canary, parse_batch_size,
)

BUSY_POLICIES = (BUSY_WAIT, BUSY_SKIP, BUSY_FORCE)


@dataclasses.dataclass(frozen=True)
class RollingSettings(object):
    """The engine's options, checked.  ``batch_size``/``canary`` keep what the user wrote (a count or a percentage of
    the phones of the run, known only when the run starts: :meth:`batch_count`, :meth:`canary_count`)."""

    batch_size: typing.Any = '10%'
    canary: typing.Any = 0
    batch_pause: float = 0.0
    max_fail_percent: float = 10.0
    busy_policy: str = BUSY_WAIT
    busy_timeout: float = 300.0
    poll_interval: float = 5.0
    connect_timeout: float = 5.0
    concurrency: int = 50
    window: typing.Optional[Window] = None
    run_id: typing.Optional[str] = None
    state_dir: typing.Optional[str] = None
    report_dir: typing.Optional[str] = None
    report_formats: tuple = ()
    return_phones: bool = True

    @classmethod
    def from_args(cls, args):
        """From the module's validated options (defaults filled in).  Raises ValueError with a sentence."""
        if args['batch_pause'] < 0:
            raise ValueError('batch_pause must be a number of seconds, not %g' % args['batch_pause'])
        if not 0 <= args['max_fail_percent'] <= 100:
            raise ValueError('max_fail_percent must be from 0 to 100, not %g' % args['max_fail_percent'])
        if args['busy_policy'] not in BUSY_POLICIES:
            raise ValueError('busy_policy must be %s, not %r' % (', '.join(BUSY_POLICIES), args['busy_policy']))
        for name in ('poll_interval', 'connect_timeout'):
            if args[name] <= 0:  # zero would spin, or see every phone as down
                raise ValueError('%s must be a positive number of seconds, not %s' % (name, args[name]))
        if args['busy_timeout'] < 0:
            raise ValueError('busy_timeout must be a non-negative number of seconds, not %s' % args['busy_timeout'])
        parse_batch_size(args['batch_size'], 100, 'batch_size')
        if has_canary(args['canary']):
            parse_batch_size(args['canary'], 100, 'canary')
        return cls(
            batch_size=args['batch_size'], canary=args['canary'], batch_pause=float(args['batch_pause']),
            max_fail_percent=float(args['max_fail_percent']), busy_policy=args['busy_policy'],
            busy_timeout=float(args['busy_timeout']), poll_interval=float(args['poll_interval']),
            connect_timeout=float(args['connect_timeout']), concurrency=int(args['concurrency']),
            window=Window(args['window']) if args.get('window') else None,
            run_id=check_run_id(args['run_id']) if args.get('run_id') else None,
            state_dir=os.path.abspath(args['state_dir']) if args.get('state_dir') else None,
            report_dir=os.path.abspath(args['report_dir']) if args.get('report_dir') else None,
            report_formats=tuple(args.get('report_formats') or ()),
            return_phones=bool(args.get('return_phones', True)),
        )

    def batch_count(self, population):
        return parse_batch_size(self.batch_size, population, 'batch_size')

    def canary_count(self, population):
        return parse_batch_size(self.canary, population, 'canary') if has_canary(self.canary) else 0

    def ledger_dir(self, default_name):
        """The state directory: the one given, else ``default_name`` in the per-user state directory."""
        return self.state_dir or user_state_dir(default_name)

    def record(self):
        """The engine's options for the report's ``settings``."""
        return {'batch_size': str(self.batch_size), 'canary': self.canary, 'batch_pause': self.batch_pause,
                'busy_policy': self.busy_policy, 'busy_timeout': self.busy_timeout, 'poll_interval': self.poll_interval,
                'max_fail_percent': self.max_fail_percent, 'window': self.window.text if self.window else None}
