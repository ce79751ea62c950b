# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake fleet on a fake clock for the rolling reboot engine: no network, no sleeping, seconds of fake time.

Each :class:`TimedPhone` is a fixture phone (tests/fixtures/fixture_phone.py: the CTI client's transport, recorded
answers) driven by the fake clock, and answers the reboot watch's probes from the same timeline: after REBOOT it keeps
answering for ``save`` seconds, is down for ``down`` seconds, answers unregistered for ``register`` seconds, then
registered.  :func:`make_run` builds a
:class:`RollingRun` of a :class:`RebootChange` wired to the fleet (sequential fan-out, the fake clock's monotonic,
wall, local time and sleep), with the options parsed as the action plugin parses them.  A :class:`Crash` raised
from inside the run stands for ansible-playbook being killed at that moment: whatever the ledger had on disk is all
a re-run gets.
"""

import dataclasses
import datetime

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import AUTH_FAILED, CTIConnection, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import Observation
from ansible_collections.phonefleet.grandstream.plugins.modules.fleet_reboot import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, run_target
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import RunClock
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_ledger import Ledger
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_run import RollingRun
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_settings import RollingSettings
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import PASSCODE, FixturePhone

EPOCH = 1796000000.0  # wall-clock time at fake time 0


class Crash(BaseException):
    """ansible-playbook killed here (a BaseException: nothing in the engine may catch it)."""


class FakeClock(object):
    """Fake time: ``monotonic()``, ``wall()``, ``local_now()`` and ``sleep()`` all move together."""

    def __init__(self, start_local=datetime.datetime(2026, 12, 3, 2, 0, 0)):
        self.now = 0.0
        self.local_start = start_local
        self.sleeps = 0
        self.on_sleep = None  # a callable run at each sleep (a test raises Crash from it)

    def monotonic(self):
        return self.now

    def wall(self):
        return EPOCH + self.now

    def local_now(self):
        return self.local_start + datetime.timedelta(seconds=self.now)

    def run_clock(self):
        return RunClock(self.monotonic, self.wall, self.local_now, self.sleep)

    def sleep(self, seconds):
        assert seconds >= 0, 'a negative sleep'
        self.sleeps += 1
        if self.on_sleep is not None:
            self.on_sleep(self)
        self.now += max(seconds, 0.001)

    def advance(self, seconds):
        self.now += seconds


class TimedPhone(object):
    """One phone (a GRP2614 fixture phone: account 1 registered, three lines); reboots on a timeline; faults by name.

    faults: ``never_down`` (accepts REBOOT, never goes away), ``never_up`` (goes down, never comes back),
    ``back_unregistered`` (comes back, never registers), ``refuse`` (answers REBOOT with "unknown"),
    ``wrong_passcode`` (HTTP 401 to everything), ``unreachable`` (always down), ``keeps_old_marker`` (boots with its old
    ``marker``: the second change of test_rolling_change).

    ``marker``: what the phone runs (a firmware version, say); ``next_marker``, set before a REBOOT, is what it runs
    once it is back.
    """

    def __init__(self, clock, name, index, faults=(), busy_until=None, save=0.5, down=3.5, register=1.0,
                 call_after_line_reads=None, marker='old'):
        self.clock = clock
        self.marker_before = marker
        self.next_marker = None
        self.name = name
        self.host = '10.9.%d.%d' % (index // 250, index % 250 + 1)
        self.faults = set(faults)
        self.busy_until = busy_until  # line 1 is in a call until this fake time (None: idle)
        self.save, self.down, self.register = save, down, register
        self.call_after_line_reads = call_after_line_reads  # a call starts once the lines were read this many times
        self.line_reads = 0
        self.rebooted_at = None
        self.commands = []            # fake times of every REBOOT received
        self.before_command = None    # run when a REBOOT request arrives, before the phone acts on it (FakeFleet's)
        # The phone the CTI client talks to: its power follows the timeline, its lines and commands this phone.
        self.fixture = FixturePhone(passcode='Th3-phones-own' if 'wrong_passcode' in self.faults else PASSCODE, host=self.host)
        self.fixture.power_source = self._fixture_power
        self.fixture.on_request = self._before_answer

    @property
    def requests(self):
        """HTTP requests the phone got (whether it could answer or not)."""
        return len(self.fixture.requests)

    # -- the timeline ------------------------------------------------------------------------

    def power(self):
        """'up', 'down' or 'booting' (answering, accounts not registered yet) at the current fake time."""
        if 'unreachable' in self.faults:
            return 'down'
        if self.rebooted_at is None or 'never_down' in self.faults:
            return 'up'
        since = self.clock.now - self.rebooted_at
        if since < self.save:
            return 'up'
        if since < self.save + self.down or 'never_up' in self.faults:
            return 'down'
        if since < self.save + self.down + self.register or 'back_unregistered' in self.faults:
            return 'booting'
        return 'up'

    @property
    def marker(self):
        """What it runs now: the next marker once it came back from the reboot that installs it."""
        if self.next_marker is None or self.rebooted_at is None or 'keeps_old_marker' in self.faults:
            return self.marker_before
        back = self.clock.now - self.rebooted_at >= self.save + self.down and self.power() != 'down'
        return self.next_marker if back else self.marker_before

    def busy(self):
        return self.busy_until is not None and self.clock.now < self.busy_until

    def rebooting_at(self, when):
        """True while a command of this phone has been received and it has not registered again."""
        return any(sent <= when < sent + self.save + self.down + self.register for sent in self.commands)

    # -- what the client and the probes see -------------------------------------------------

    def _fixture_power(self):
        """The fixture phone's power state of the request now: ``booting`` answers with the accounts unregistered."""
        return {'up': 'up', 'down': 'down', 'booting': 'unregistered'}[self.power()]

    def _before_answer(self, fixture, request):
        """The fixture phone got a request and is up: the command hook, then what this phone is at this fake time."""
        function = request['function']
        if function == 'api-sys_operation' and self.before_command is not None:
            self.before_command(self)
        if not request['secrets'].get('passcode'):
            return  # the fixture phone answers its 401: nothing happens
        if function == 'api-get_line_status':
            self.line_reads += 1
            if self.call_after_line_reads is not None and self.line_reads > self.call_after_line_reads:
                self.busy_until = float('inf')
        fixture.set_line(1, 'connected' if self.busy() else 'idle', active=False)
        if function == 'api-sys_operation':
            if 'refuse' in self.faults:
                fixture.script(function, {'response': 'success', 'body': 'unknown'})
                return
            self.commands.append(self.clock.now)
            if self.rebooted_at is None or self.power() == 'up':
                self.rebooted_at = self.clock.now

    def observation(self):
        """What the watch's probe (api-get_accounts without retry) sees."""
        power = self.power()
        if power == 'down':
            return Observation(False)
        if 'wrong_passcode' in self.faults:
            return Observation(True, fatal=CTIError(self.name, AUTH_FAILED, 'the phone rejected the passcode (HTTP 401).',
                                                    status=401))
        return Observation(True, [1] if power == 'up' else [])

    def port_open(self):
        return self.power() != 'down'


class FakeFleet(object):
    """Phones by name on one fake clock, with what the engine needs to reach them."""

    def __init__(self, clock=None):
        self.clock = clock or FakeClock()
        self.phones = {}
        self.before_command = None  # a callable run when a REBOOT request arrives, before the phone acts on it
        self.max_rebooting = 0

    def add(self, name, **kwargs):
        phone = TimedPhone(self.clock, name, len(self.phones), **kwargs)
        self.phones[name] = phone
        return phone

    def add_many(self, count, prefix='gs', **kwargs):
        return [self.add('%s%03d' % (prefix, number), **kwargs) for number in range(1, count + 1)]

    def targets(self, names=None):
        return [FleetTarget(phone.name, CTIConnection(phone.host, passcode=PASSCODE, name=phone.name), {'site': 'hq'})
                for phone in (self.phones[name] for name in (names or list(self.phones)))]

    def fan_out(self, targets, work, concurrency):
        """Sequential, in fake time (each phone's work sees the clock as it is)."""
        def session(target):
            phone = self.phones[target.name]
            phone.before_command = self.before_command
            return phone.fixture
        results = [run_target(target, work, transport_factory=session) for target in targets]
        rebooting = sum(1 for phone in self.phones.values() if phone.rebooting_at(self.clock.now))
        self.max_rebooting = max(self.max_rebooting, rebooting)
        return results

    def watch_probes(self, connection):
        """The reboot watch's probes of the phone behind ``connection`` (RebootChange's ``probes``)."""
        phone = self.phones[connection.name]
        return {'probe': phone.observation, 'port_check': phone.port_open}

    def commands(self):
        return dict((name, len(phone.commands)) for name, phone in self.phones.items())


# The tests' own choices (short timeouts in fake seconds); every other option is the module's default.
TEST_OPTIONS = {'batch_size': 3, 'max_fail_percent': 100.0, 'busy_timeout': 60.0, 'down_timeout': 20.0,
                'reboot_timeout': 60.0, 'registration_timeout': 30.0, 'poll_interval': 1.0, 'connect_timeout': 1.0}


def task_args(**options):
    """The options of a fleet_reboot task as the argument spec hands them over: defaults, then ``options``."""
    args = dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items())
    args.update(TEST_OPTIONS)
    args.update(options)
    return args


def make_run(fleet, state_dir, run_id='r1', settings=None, options=None, check_mode=False, window=None, names=None,
             lines=None, change=None):
    """A RollingRun over ``fleet`` with a ledger in ``state_dir`` (loaded now, as the action plugin does); ``settings``
    and ``options`` are task options (both kinds in one table since the options are parsed once); ``change``: another
    Change than the reboot."""
    args = task_args(**dict(settings or {}, **(options or {})))
    parsed = RollingSettings.from_args(args)
    if window is not None:
        parsed = dataclasses.replace(parsed, window=window)
    change = change or RebootChange.from_args(args, probes=fleet.watch_probes)
    return RollingRun(fleet.targets(names), parsed, change, Ledger(str(state_dir), run_id, change.ledger_kind),
                      check_mode=check_mode, display=(lines.append if lines is not None else None),
                      fan_out=fleet.fan_out, clock=fleet.clock.run_clock(), controller_alive=lambda: True)


def outcomes(report):
    return dict((phone['name'], phone['outcome']) for phone in report['phones'])


def reasons(report):
    return dict((phone['name'], phone['reason']) for phone in report['phones'])
