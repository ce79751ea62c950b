"""The Event-Driven Ansible source phonefleet.grandstream.action_url (extensions/eda/) and its rulebook.

The source is loaded the way ansible-rulebook loads it (``runpy.run_path``) and its ``main(queue, args)`` runs on
an asyncio loop in the test. Real HTTP requests come from sockets bound to 127.88.x.y source addresses, each one
playing a phone (all of 127.0.0.0/8 is loopback on Linux); the source listens on 127.88.0.1. Nothing leaves the
machine. Every refused request must get its status and no event, and the source must still deliver a good event
afterwards.
"""

import ast
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCE_FILE = REPO / 'extensions' / 'eda' / 'plugins' / 'event_source' / 'action_url.py'
RULEBOOK = REPO / 'extensions' / 'eda' / 'rulebooks' / 'phone_events.yml'
SERVER = '127.88.0.1'
PROBE = '127.88.0.254'      # waits for the source to listen; never sends a request
PHONE = '127.88.0.5'
OTHER_PHONE = '127.88.0.6'
UNLISTED_PHONE = '127.88.0.7'
STRANGER = '127.99.0.7'     # loopback too, but outside allowed_networks
TOKEN = 'Tk-3f9c2e7a41d8b6e0'
ALLOWED = ['127.88.0.0/16']
CLIENT_TIMEOUT = 30         # seconds a test client waits for an answer: generous, a busy machine is slow


@pytest.fixture(scope='module')
def source():
    """The source module's globals, loaded as ansible-rulebook does (runpy.run_path, not an import)."""
    return runpy.run_path(str(SOURCE_FILE))


def free_port():
    with socket.socket() as probe:
        probe.bind((SERVER, 0))
        return probe.getsockname()[1]


def exchange(source_address, port, data, shutdown=False):
    """Send raw bytes from ``source_address`` to the source; the whole answer, read until the source closes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.bind((source_address, 0))
        client.connect((SERVER, port))
        if data:
            client.sendall(data)
        if shutdown:
            client.shutdown(socket.SHUT_WR)
        answer = b''
        while True:
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return answer
            answer += chunk
    return answer


def connect_and_close(source_address, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT)
        client.bind((source_address, 0))
        client.connect((SERVER, port))


def status_of(answer):
    match = re.match(rb'HTTP/1\.1 (\d{3}) ', answer)
    assert match, answer[:200]
    return int(match.group(1))


def get(path, host='eda.example.net'):
    return ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Grandstream GRP2614 1.0.5.67\r\n\r\n' % (path, host)).encode()


class Running:
    """The source's main() on the current loop, with the queue it fills."""

    def __init__(self, source, args):
        self.source = source
        self.args = dict(args)
        self.port = self.args.setdefault('port', free_port())
        self.args.setdefault('host', SERVER)
        self.queue = asyncio.Queue()
        self.task = None

    async def __aenter__(self):
        self.task = asyncio.ensure_future(self.source['main'](self.queue, self.args))
        for _attempt in range(200):
            if self.task.done():
                self.task.result()  # raises what main() raised
            try:
                await asyncio.to_thread(connect_and_close, PROBE, self.port)
                return self
            except OSError:
                await asyncio.sleep(0.05)
        pytest.fail('the source did not listen on %s port %d' % (SERVER, self.port))
        return self

    async def __aexit__(self, *exc_info):
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def send(self, source_address, data, shutdown=False):
        return await asyncio.to_thread(exchange, source_address, self.port, data, shutdown)

    async def status(self, source_address, data, shutdown=False):
        return status_of(await self.send(source_address, data, shutdown))

    def events(self):
        found = []
        while not self.queue.empty():
            found.append(self.queue.get_nowait())
        return found

    def still_running(self):
        return not self.task.done()


async def event_once_named(running, sender, name, timeout=15):
    """Push from sender until its event carries ``name`` (the source picks up a changed inventory within a second
    or so); that event, or the last one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        assert await running.status(sender, get('/grandstream/registered?token=%s' % TOKEN)) == 200
        (event,) = running.events()
        if event['meta']['hosts'] == name or asyncio.get_running_loop().time() > deadline:
            return event
        await asyncio.sleep(0.1)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 240))


def write_inventory(path, rows):
    path.write_text('\n'.join(rows) + '\n', encoding='utf-8')
    return str(path)


# ----- events

def test_events_carry_the_phone_and_its_inventory_name(source, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    inventory = write_inventory(tmp_path / 'office.csv', [
        '# phones of the test office',
        'NAME,Host,site,passcode',
        '',
        'gs-lobby,%s,hq,s3cret' % PHONE,
        'gs-lab,%s,lab,' % OTHER_PHONE,
        'gs-dns,phone.example.net,lab,',
    ])

    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED, 'token': TOKEN, 'inventory': inventory}) as running:
            assert await running.status(PHONE, get(
                '/grandstream/unregistered?mac=000B82A1B2C3&ip=%s&token=%s&local=1001&remote=John%%20Doe' % (PHONE, TOKEN))) == 200
            assert await running.status(OTHER_PHONE, get('/grandstream/Setup-Completed?token=%s&ip=$phone_ip' % TOKEN)) == 200
            assert await running.status(UNLISTED_PHONE, get('/grandstream/registered/?token=%s&mac=000b82000007' % TOKEN)) == 200
            first, second, third = running.events()
            # The inventory changes while the source runs: it is read again (checked once a second, off the loop).
            write_inventory(tmp_path / 'office.csv', ['name,host', 'gs-new,%s' % UNLISTED_PHONE, 'gs-lobby,%s' % PHONE])
            fourth = await event_once_named(running, UNLISTED_PHONE, 'gs-new')
            assert running.still_running()
            return first, second, third, fourth

    first, second, third, fourth = run(scenario())
    assert first == {
        'grandstream': {'event': 'unregistered', 'phone_ip': PHONE, 'mac': '000B82A1B2C3',
                        'params': {'mac': '000B82A1B2C3', 'ip': PHONE, 'local': '1001', 'remote': 'John Doe'}},
        'meta': {'hosts': 'gs-lobby'},
    }
    # A variable the firmware does not know stays as the phone sent it; no mac parameter: mac is None.
    assert second == {'grandstream': {'event': 'setup_completed', 'phone_ip': OTHER_PHONE, 'mac': None,
                                      'params': {'ip': '$phone_ip'}},
                      'meta': {'hosts': 'gs-lab'}}
    assert third['meta'] == {'hosts': UNLISTED_PHONE}  # not in the inventory: its address
    assert third['grandstream']['event'] == 'registered' and third['grandstream']['mac'] == '000b82000007'
    assert fourth['meta'] == {'hosts': 'gs-new'}
    assert TOKEN not in caplog.text and 's3cret' not in caplog.text
    assert 'phone.example.net' not in caplog.text and '1 phones have a DNS name as host' in caplog.text


def test_without_inventory_or_token_the_host_is_the_sender(source):
    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED}) as running:
            assert await running.status(PHONE, get('/grandstream/incoming_call?mac=m1&token=ignored')) == 200
            return running.events()

    (event,) = run(scenario())
    assert event == {'grandstream': {'event': 'incoming_call', 'phone_ip': PHONE, 'mac': 'm1', 'params': {'mac': 'm1'}},
                     'meta': {'hosts': PHONE}}


# ----- refused requests: a status, a log line, no event, and the source keeps serving

REFUSED = [
    ('stranger', STRANGER, get('/grandstream/registered?token=%s' % TOKEN), 403),
    ('no token', PHONE, get('/grandstream/registered?mac=x'), 403),
    ('wrong token', PHONE, get('/grandstream/registered?token=%s' % TOKEN[:-1] + 'X'), 403),
    ('token twice', PHONE, get('/grandstream/registered?token=wrong&token=%s' % TOKEN), 400),
    ('post', PHONE, ('POST /grandstream/registered?token=%s HTTP/1.1\r\nContent-Length: 11\r\n\r\n{"a": true}' % TOKEN).encode(), 405),
    ('head', PHONE, ('HEAD /grandstream/registered?token=%s HTTP/1.1\r\n\r\n' % TOKEN).encode(), 405),
    ('get with a body', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody' % TOKEN).encode(), 400),
    ('chunked get', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' % TOKEN).encode(), 400),
    ('oversized url', PHONE, get('/grandstream/registered?token=%s&pad=%s' % (TOKEN, 'x' * 10000)), 414),
    ('url just too long', PHONE, get('/grandstream/registered?token=%s&pad=%s' % (TOKEN, 'x' * 4050)), 414),
    ('huge header', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\nCookie: %s\r\n\r\n' % (TOKEN, 'c' * 9000)).encode(), 431),
    ('many headers', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\n%s\r\n' % (
        TOKEN, ''.join('X-Field-%d: %d\r\n' % (n, n) for n in range(80)))).encode(), 431),
    ('garbage', PHONE, b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xfe\xff' + b'\r\n\r\n', 400),
    ('binary noise', PHONE, bytes(range(256)) + b'\n\n', 400),
    ('no version', PHONE, ('GET /grandstream/registered?token=%s\r\n\r\n' % TOKEN).encode(), 400),
    ('http/2', PHONE, ('GET /grandstream/registered?token=%s HTTP/2.0\r\n\r\n' % TOKEN).encode(), 400),
    ('folded header', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n' % TOKEN).encode(), 400),
    ('absolute url', PHONE, ('GET http://eda/grandstream/registered?token=%s HTTP/1.1\r\n\r\n' % TOKEN).encode(), 400),
    ('other path', PHONE, get('/cgi-bin/api-get_accounts?token=%s' % TOKEN), 404),
    ('token in the path', PHONE, get('/grandstream%%2Fx&token=%s' % TOKEN), 404),
    ('no question mark', PHONE, get('/grandstream/registered&token=%s&mac=x' % TOKEN), 400),
    ('no event name', PHONE, get('/grandstream/?token=%s' % TOKEN), 400),
    ('odd event name', PHONE, get('/grandstream/reg%%3Cistered%%3E?token=%s' % TOKEN), 400),
    ('too many params', PHONE, get('/grandstream/registered?token=%s&%s' % (TOKEN, '&'.join('p%d=1' % n for n in range(70)))), 400),
    ('cut short', PHONE, ('GET /grandstream/registered?token=%s HTTP/1.1\r\nHost: x' % TOKEN).encode(), 400),
]


def test_refused_requests_get_their_status_and_make_no_event(source, caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        answers = {}
        async with Running(source, {'allowed_networks': ALLOWED, 'token': TOKEN, 'rate_burst': 100}) as running:
            for number, (name, sender, data, _status) in enumerate(REFUSED, 1):
                # each from a phone of its own: after a sender's first refusal the others are counted, not logged
                sender = '127.88.1.%d' % number if sender == PHONE else sender
                answer = await running.send(sender, data, shutdown=(name == 'cut short'))
                answers[name] = (status_of(answer), answer, running.events())
                assert running.still_running(), name
            good = await running.status(PHONE, get('/grandstream/registered?token=%s&mac=after' % TOKEN))
            return answers, good, running.events()

    answers, good, events = run(scenario())
    for name, _sender, _data, status in REFUSED:
        got, answer, made = answers[name]
        assert (got, made) == (status, []), (name, answer[:300])
    assert b'\r\nAllow: GET\r\n' in answers['post'][1]
    assert good == 200 and [event['grandstream']['mac'] for event in events] == ['after']
    assert TOKEN.lower() not in caplog.text.lower()
    assert 'is the ? before the parameters missing?' in caplog.text
    assert 'refused (HTTP 403): not in allowed_networks' in caplog.text and STRANGER in caplog.text
    assert 'refused (HTTP 403): wrong token' in caplog.text and 'refused (HTTP 403): no token' in caplog.text
    assert caplog.text.count('refused (HTTP ') == len(REFUSED)  # one line each


def test_a_flood_gets_429_per_sender_and_the_others_still_get_through(source, caplog):
    caplog.set_level(logging.INFO)

    async def scenario():
        args = {'allowed_networks': ALLOWED, 'rate_limit': 1, 'rate_burst': 3}  # 1 a minute: no refill during the test
        async with Running(source, args) as running:
            answers = [await running.send(PHONE, get('/grandstream/hook?n=%d' % n)) for n in range(8)]
            flood_events = running.events()
            other = await running.status(OTHER_PHONE, get('/grandstream/hook?n=other'))
            return answers, flood_events, other, running.events()

    answers, flood_events, other, other_events = run(scenario())
    assert [status_of(answer) for answer in answers] == [200] * 3 + [429] * 5
    assert re.search(rb'\r\nRetry-After: \d+\r\n', answers[-1])
    assert [event['grandstream']['params']['n'] for event in flood_events] == ['0', '1', '2']
    assert other == 200 and [event['meta']['hosts'] for event in other_events] == [OTHER_PHONE]
    assert caplog.text.count('sends more than 1 requests per minute') == 1  # one line for the whole flood


def test_idle_and_slow_connections_are_closed_after_the_timeout(source):
    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED, 'request_timeout': 0.5}) as running:
            idle = await running.send(PHONE, b'')
            slow = await running.send(PHONE, b'GET /grandstream/registered?mac=slow')  # never ends its line
            good = await running.status(PHONE, get('/grandstream/registered'))
            return idle, slow, good, running.events()

    idle, slow, good, events = run(scenario())
    assert idle == b''  # closed without an answer
    assert status_of(slow) == 408
    assert good == 200 and len(events) == 1


def test_connections_beyond_max_connections_get_503(source):
    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED, 'max_connections': 2, 'request_timeout': 20}) as running:
            holders = []
            for _n in range(2):
                holder = socket.socket()
                holder.bind((OTHER_PHONE, 0))
                await asyncio.to_thread(holder.connect, (SERVER, running.port))
                holders.append(holder)
            await asyncio.sleep(0.5)  # lets the loop accept them: both now wait for a request
            crowded = await running.status(PHONE, get('/grandstream/registered'))
            for holder in holders:
                holder.close()
            await asyncio.sleep(0.5)
            after = await running.status(PHONE, get('/grandstream/registered'))
            return crowded, after, running.events()

    crowded, after, events = run(scenario())
    assert (crowded, after, len(events)) == (503, 200, 1)


# ----- options and start-up errors: one sentence naming the option or file:line

@pytest.mark.parametrize('args, message', [
    ({}, 'allowed_networks is required'),
    ({'allowed_networks': []}, 'allowed_networks is required'),
    ({'allowed_networks': ['10.1.4/24']}, "allowed_networks: '10.1.4/24' is not a network in CIDR notation"),
    ({'allowed_networks': ALLOWED, 'allowed_network': ALLOWED}, 'unknown option(s) allowed_network'),
    ({'allowed_networks': ALLOWED, 'port': 70000}, 'port must be at most 65535'),
    ({'allowed_networks': ALLOWED, 'rate_limit': 0}, 'rate_limit must be a number of at least'),
    ({'allowed_networks': ALLOWED, 'token': ''}, 'token must be a non-empty string'),
    ({'allowed_networks': ALLOWED, 'inventory': '/nonexistent/phones.csv'}, 'inventory /nonexistent/phones.csv cannot be read'),
])
def test_bad_options_stop_the_source_with_a_sentence(source, args, message):
    with pytest.raises(ValueError) as error:
        run(source['main'](asyncio.Queue(), dict({'host': SERVER, 'port': free_port()}, **args)))
    assert message in str(error.value)
    assert str(error.value).startswith('phonefleet.grandstream.action_url: ')


@pytest.mark.parametrize('rows, message', [
    (['# only a comment', ''], 'has no header row'),
    (['name,address', 'gs1,10.0.0.1'], 'office.csv:1: the header row has no host column (it has name, address)'),
    (['$ANSIBLE_VAULT;1.1;AES256', '3938'], 'encrypted with ansible-vault'),
])
def test_a_bad_inventory_stops_the_source_with_file_and_line(source, tmp_path, rows, message):
    inventory = write_inventory(tmp_path / 'office.csv', rows)
    with pytest.raises(ValueError) as error:
        args = {'allowed_networks': ALLOWED, 'inventory': inventory, 'host': SERVER, 'port': free_port()}
        run(source['main'](asyncio.Queue(), args))
    assert message in str(error.value)


def test_inventory_reading_matches_the_csv_plugin_rules(source, tmp_path):
    text = ('\ufeff# exported from the spreadsheet\n'
            'Host;Name;Passcode\n'
            '10.1.4.10;gs-reception;"pass; with semicolon"\n'
            '  # an indented comment\n'
            '10.1.4.11;;\n'
            '10.1.4.10;gs-duplicate;\n'
            ';gs-no-host;\n'
            '[2001:db8::5];gs-v6;"multi\n'
            'line"\n'
            '10.1.4.12;gs-last;\n')
    names, notes = source['read_phone_directory'](text.encode('utf-8'), 'office.csv')
    assert {str(address): name for address, name in names.items()} == {
        '10.1.4.10': 'gs-reception', '10.1.4.11': '10.1.4.11', '2001:db8::5': 'gs-v6', '10.1.4.12': 'gs-last'}
    assert notes == [
        'phonefleet.grandstream.action_url: office.csv:6: 10.1.4.10 is already the address of gs-reception; '
        'gs-duplicate is skipped.',
        'phonefleet.grandstream.action_url: office.csv:7: no host; skipped.',
    ]


def test_a_port_in_use_is_one_sentence(source):
    with socket.socket() as taken:
        taken.bind((SERVER, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as error:
            run(source['main'](asyncio.Queue(), {'allowed_networks': ALLOWED, 'host': SERVER, 'port': port}))
    assert str(error.value).startswith('phonefleet.grandstream.action_url: cannot listen on %s port %d: ' % (SERVER, port))


# ----- the file itself

def test_documentation_names_every_option_with_its_default(source):
    documentation = yaml.safe_load(source['DOCUMENTATION'])
    options = documentation['options']
    assert set(options) == set(source['OPTIONS'])
    assert [name for name, spec in options.items() if spec.get('required')] == ['allowed_networks']
    settings = source['Settings']({'allowed_networks': ALLOWED})
    assert (settings.host, settings.port) == (options['host']['default'], options['port']['default'])
    assert settings.rate_per_second * 60 == options['rate_limit']['default']
    assert (settings.rate_burst, settings.request_timeout, settings.max_connections) == (
        options['rate_burst']['default'], options['request_timeout']['default'], options['max_connections']['default'])
    examples = yaml.safe_load(source['EXAMPLES'])
    assert examples[0]['sources'][0]['phonefleet.grandstream.action_url']['allowed_networks']


def test_the_source_needs_only_the_standard_library():
    """ansible-rulebook runs it where ansible-core and the collection's plugins may be missing."""
    tree = ast.parse(SOURCE_FILE.read_text(encoding='utf-8'))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or '').split('.')[0])
    assert imported - {'__future__'} <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    # And it loads in an interpreter that has nothing but the standard library (-I: no site-packages, no PYTHONPATH).
    proc = subprocess.run([sys.executable, '-I', '-S', '-c', 'import runpy, sys; '
                           'm = runpy.run_path(sys.argv[1]); assert callable(m["main"])', str(SOURCE_FILE)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_rulebook_audits_the_phone_that_reports_unregistered():
    rulebook = yaml.safe_load(RULEBOOK.read_text(encoding='utf-8'))
    (ruleset,) = rulebook
    (source_entry,) = ruleset['sources']
    options = source_entry['phonefleet.grandstream.action_url']
    assert options['allowed_networks'] and 'token' in options
    audits = [rule for rule in ruleset['rules'] if 'run_playbook' in rule['action']]
    (audit,) = audits
    assert audit['condition'] == 'event.grandstream.event == "unregistered"'
    playbook = audit['action']['run_playbook']
    assert playbook['name'] == 'phonefleet.grandstream.registration_audit'
    assert (REPO / 'playbooks' / 'registration_audit.yml').is_file()
    # ansible-rulebook limits run_playbook to event.meta.hosts: the phone, by its inventory name.
    assert 'event.meta.hosts' in playbook['extra_vars']['registration_audit_report_dir']
    assert audit['throttle']['group_by_attributes'] == ['event.meta.hosts']
    # The AWX variant, commented out, names the job template of extensions/awx/objects.yml.
    text = RULEBOOK.read_text(encoding='utf-8')
    awx = yaml.safe_load((REPO / 'extensions' / 'awx' / 'objects.yml').read_text(encoding='utf-8').replace('!unsafe ', ''))
    assert re.search(r'^\s*#\s*run_job_template:', text, re.M)
    assert re.search(r'^\s*#\s*name: %s$' % re.escape(awx['grandstream_awx_audit_template']['name']), text, re.M)
    assert re.search(r'^\s*#\s*limit: "\{\{ event\.meta\.hosts \}\}"', text, re.M)


def test_rulebook_and_source_pass_ansible_lint():
    env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
    env['PATH'] = '%s%s%s' % (BIN, os.pathsep, env.get('PATH', ''))
    proc = subprocess.run([str(BIN / 'ansible-lint'), '--offline', '--profile', 'production', '--nocolor',
                           str(RULEBOOK.relative_to(REPO))], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----- the simulated phones' own pushes, end to end

def test_the_simulated_phones_push_their_events_into_the_source(source, sim_fleet, tmp_path):
    """Phones of the simulator push Action URL GETs from their own addresses when they reboot, lose and regain their
    registration; the source maps each one to its inventory name from the fleet's own CSV."""
    port = free_port()
    url = 'http://%s:%d/grandstream/%%s?token=%s&mac=$mac&ip=$phone_ip&local=$local' % (SERVER, port, TOKEN)
    fleet = sim_fleet(count=2, network='127.88.4.0', save_delay=0.1, down_time=0.3, register_delay=0.2,
                      action_urls=dict((event, url % event) for event in ('reboot', 'unregistered', 'registered',
                                                                          'setup_completed')))
    fleet.write_csv(tmp_path / 'phones.csv')
    first, second = fleet.phones

    async def scenario():
        async with Running(source, {'port': port, 'allowed_networks': ALLOWED, 'token': TOKEN,
                                    'inventory': str(tmp_path / 'phones.csv')}) as running:
            await asyncio.to_thread(first.set_registered, False)  # loses its registration, then gets it back
            await asyncio.to_thread(fleet.wait_for, 'push', phone=first.name, timeout=10, action='unregistered')
            await asyncio.to_thread(first.set_registered, True)
            await asyncio.to_thread(fleet.wait_for, 'push', phone=first.name, timeout=10, action='registered')
            await asyncio.to_thread(requests_get, second.url('api-sys_operation', request='REBOOT'))
            await asyncio.to_thread(registered_again, fleet, second.name)
            for _attempt in range(100):
                if len(fleet.events(event='push')) <= running.queue.qsize():
                    break
                await asyncio.sleep(0.05)
            return running.events()

    events = run(scenario())
    seen = [(event['meta']['hosts'], event['grandstream']['event']) for event in events]
    assert (first.name, 'unregistered') in seen and (first.name, 'registered') in seen
    assert (second.name, 'reboot') in seen and (second.name, 'setup_completed') in seen and (second.name, 'registered') in seen
    for event in events:
        assert event['grandstream']['phone_ip'] == fleet.phone(event['meta']['hosts']).host, 'sent from its own address'
        assert event['grandstream']['mac'] and 'token' not in event['grandstream']['params']
    assert not fleet.events(event='push_failed')


def registered_again(fleet, name):
    """Wait (in a thread: the source answers on the test's loop) for the push of a registration after the boot."""
    booted = fleet.wait_for('push', phone=name, timeout=20, action='setup_completed')
    fleet.wait_for('push', phone=name, timeout=20, action='registered', since=booted['t'])


def requests_get(url):
    import requests  # pylint: disable=import-outside-toplevel
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10).status_code


# ----- issue 17: the standalone mode listens where told; a stopped source prints nothing

def test_the_standalone_mode_listens_on_the_host_it_is_given(tmp_path):
    port = free_port()
    env = dict(os.environ, ACTION_URL_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, str(SOURCE_FILE), '--host', SERVER, str(port), '127.88.0.0/16'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _attempt in range(200):
            try:
                connect_and_close(PROBE, port)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
        with socket.socket() as other:  # another address of this host: nothing listens there
            other.settimeout(CLIENT_TIMEOUT)
            with pytest.raises(ConnectionRefusedError):
                other.connect(('127.88.0.2', port))
        assert status_of(exchange(PHONE, port, get('/grandstream/registered?token=%s&mac=m1' % TOKEN))) == 200
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert json.loads(stdout.splitlines()[0])['grandstream']['mac'] == 'm1'
    assert 'listening on %s port %d' % (SERVER, port) in stderr
    assert 'Traceback' not in stderr and TOKEN not in stdout + stderr
    usage = subprocess.run([sys.executable, str(SOURCE_FILE), '--help'], capture_output=True, text=True, check=True)
    assert '--host' in usage.stdout and '0.0.0.0' in usage.stdout


STOPPERS = {
    # tests/demo/demo.py's EventSource: the source on a loop in a thread, stopped by cancelling its task
    'demo': r'''
import sys
sys.path.insert(0, DEMO_DIR)
import demo
with demo.EventSource(PORT, INVENTORY) as source:
    in_flight = hold_and_push(source.port)
''',
    # ansible-rulebook: main() is a task of the rulebook's loop, cancelled at shutdown and awaited
    'ansible-rulebook': r'''
import asyncio, runpy
async def rulebook():
    main = runpy.run_path(SOURCE_FILE)['main']
    task = asyncio.ensure_future(main(asyncio.Queue(), {'host': '127.88.255.1', 'port': PORT, 'token': 'demo-token-of-the-simulated-fleet',
                                                        'allowed_networks': ['127.88.0.0/16'], 'inventory': INVENTORY}))
    in_flight = await asyncio.to_thread(hold_and_push, PORT)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
asyncio.run(rulebook())
''',
}

HOLD_AND_PUSH = r'''
import socket, time
def hold_and_push(port):
    """One connection that never finishes its request (in flight when the source stops), then one event."""
    for _attempt in range(200):
        try:
            socket.create_connection(('127.88.255.1', port), timeout=5, source_address=('127.88.0.254', 0)).close()
            break
        except OSError:
            time.sleep(0.05)
    slow = socket.socket()
    slow.bind(('127.88.0.9', 0))
    slow.connect(('127.88.255.1', port))
    slow.sendall(b'GET /grandstream/registered?mac=')
    with socket.socket() as phone:
        phone.bind(('127.88.0.5', 0))
        phone.connect(('127.88.255.1', port))
        phone.sendall(b'GET /grandstream/registered?token=demo-token-of-the-simulated-fleet HTTP/1.1\r\n\r\n')
        assert phone.recv(100).startswith(b'HTTP/1.1 200 ')
    return slow
'''


@pytest.mark.parametrize('runner', sorted(STOPPERS))
def test_a_stopped_source_ends_quietly(tmp_path, runner):
    """`make demo` printed an asyncio.CancelledError traceback when its source stopped: the source ends its
    connections and its helpers when cancelled, and the demo's runner (like ansible-rulebook) awaits the task."""
    inventory = write_inventory(tmp_path / 'phones.csv', ['name,host', 'gs1,127.88.0.5'])
    script = 'PORT = %d\nINVENTORY = %r\nSOURCE_FILE = %r\nDEMO_DIR = %r\n%s\n%s\nprint("stopped", flush=True)\n' % (
        free_port(), inventory, str(SOURCE_FILE), str(REPO / 'tests' / 'demo'), HOLD_AND_PUSH, STOPPERS[runner])
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120, check=False,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == 'stopped'
    assert proc.stderr == '', proc.stderr


# ----- issue 18.13: strangers, slow senders and a swapped inventory cannot crowd out the phones

def open_and_hold(source_address, port, data=b'GET /grandstream/registered?'):
    """A connection that sends ``data`` and then neither sends nor reads anything: the caller closes it."""
    client = socket.socket()
    client.settimeout(CLIENT_TIMEOUT)
    client.bind((source_address, 0))
    client.connect((SERVER, port))
    client.sendall(data)
    return client


def flood(source_address, port, stop, rate=300):
    """``rate`` connections a second from ``source_address``, each kept open until ``stop`` is set."""
    held, interval, next_at = [], 1.0 / rate, time.monotonic()
    try:
        while not stop.is_set():
            try:
                held.append(open_and_hold(source_address, port))
            except OSError:
                pass
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        for client in held:
            client.close()
    return len(held)


def test_a_flood_from_outside_allowed_networks_loses_no_push_of_the_phones(source, caplog):
    """One address outside allowed_networks at 300 connections a second, each left open: it used to take every
    slot (its refusals lingered), and most of the phones' pushes got 503. Now it is refused at accept."""
    caplog.set_level(logging.INFO)

    async def scenario():
        args = {'allowed_networks': ALLOWED, 'token': TOKEN, 'max_connections': 32}
        async with Running(source, args) as running:
            started = asyncio.get_running_loop().time()
            stop = threading.Event()
            flooder = asyncio.ensure_future(asyncio.to_thread(flood, STRANGER, running.port, stop))
            await asyncio.sleep(1.0)  # the flood is under way: 300 connections, far more than 32
            statuses = [await running.status(PHONE, get('/grandstream/registered?token=%s&n=%d' % (TOKEN, n)))
                        for n in range(15)]
            stop.set()
            opened = await flooder
            return statuses, running.events(), opened, asyncio.get_running_loop().time() - started

    statuses, events, opened, seconds = run(scenario())
    assert opened > 100, 'the flood did not get going'
    assert statuses == [200] * 15
    assert [event['grandstream']['params']['n'] for event in events] == [str(n) for n in range(15)]
    stranger_lines = [line for line in caplog.text.splitlines() if STRANGER in line]
    # the first refusal, then a count of the others every 10 s and at stop
    assert len(stranger_lines) <= 2 + int(seconds // 10), stranger_lines
    assert 'request from %s refused (HTTP 403): not in allowed_networks' % STRANGER in stranger_lines[0]
    assert re.search(r'\d+ more requests from %s refused in the last \d+ s' % re.escape(STRANGER), stranger_lines[-1])


def test_slow_senders_inside_allowed_networks_hold_only_their_share(source, caplog):
    """Slowloris from allowed addresses: each slow sender gets max_connections_per_sender connections, the
    others are refused at once with 503, and another phone is still served."""
    caplog.set_level(logging.INFO)
    slow_senders = ['127.88.3.%d' % number for number in range(1, 4)]

    async def scenario():
        args = {'allowed_networks': ALLOWED, 'max_connections': 16, 'max_connections_per_sender': 4,
                'request_timeout': 30}
        async with Running(source, args) as running:
            held = []
            for sender in slow_senders:
                for _n in range(10):
                    held.append(await asyncio.to_thread(open_and_hold, sender, running.port, b'GET /grandstream/x'))
            # per sender, the first 4 connections hold a slot (nothing answered yet), the other 6 got 503 at once
            answers = await asyncio.to_thread(first_bytes, held)
            statuses = [await running.status(PHONE, get('/grandstream/registered?n=%d' % n)) for n in range(5)]
            for client in held:
                client.close()
            return answers, statuses, running.events()

    answers, statuses, events = run(scenario())
    for number in range(len(slow_senders)):
        got = answers[number * 10:number * 10 + 10]
        assert got[:4] == [b''] * 4, got
        assert all(answer.startswith(b'HTTP/1.1 503 ') for answer in got[4:]), got
    assert statuses == [200] * 5 and len(events) == 5
    assert 'max_connections_per_sender' in caplog.text


def first_bytes(clients, per_sender=10, holding=4):
    """What each client received: the refused ones are read until their answer comes; for the ones expected to hold
    a slot, half a second of silence is the answer (b'')."""
    answers = []
    for index, client in enumerate(clients):
        client.settimeout(0.5 if index % per_sender < holding else CLIENT_TIMEOUT)
        try:
            answers.append(client.recv(100))
        except socket.timeout:
            answers.append(b'')
    return answers


def make_hostile(path, kind):
    """Swap the inventory at ``path`` (a symbolic link) for something that is not a readable CSV file."""
    target = path.parent / ('hostile-%s' % kind)
    if kind == 'dev_zero':
        target = Path('/dev/zero')
    elif kind == 'fifo':
        os.mkfifo(str(target))
    elif kind == 'directory':
        target.mkdir()
    elif kind == 'oversized':
        with open(str(target), 'wb') as sparse:
            sparse.write(b'name,host\n')
            sparse.truncate(64 * 1024 * 1024 + 1)
    elif kind == 'missing':
        target = path.parent / 'nothing-here'
    swapped = path.parent / 'swapped'
    swapped.symlink_to(target)
    os.replace(str(swapped), str(path))


@pytest.mark.parametrize('kind, message', [
    ('dev_zero', 'is a character device, not a CSV file'),
    ('fifo', 'is a named pipe (FIFO), not a CSV file'),
    ('directory', 'is a directory, not a CSV file'),
    ('oversized', 'is larger than 64 MiB'),
    ('missing', 'cannot be read: No such file or directory'),
])
def test_a_swapped_inventory_keeps_the_last_good_names_and_the_loop_free(source, tmp_path, caplog, kind, message):
    """The inventory used to be read in the event loop on every request: /dev/zero blocked the source for good.
    Now it is checked once a second in a thread; a file that cannot be read is logged once, and the phones read
    before keep their names."""
    caplog.set_level(logging.INFO)
    good = write_inventory(tmp_path / 'good.csv', ['name,host', 'gs-lobby,%s' % PHONE])
    inventory = tmp_path / 'office.csv'
    inventory.symlink_to(good)

    async def scenario():
        args = {'allowed_networks': ALLOWED, 'inventory': str(inventory), 'rate_burst': 100}
        async with Running(source, args) as running:
            make_hostile(inventory, kind)
            for _attempt in range(200):  # the next check finds it
                if message in caplog.text:
                    break
                await asyncio.sleep(0.05)
            statuses = []
            started = asyncio.get_running_loop().time()
            while asyncio.get_running_loop().time() - started < 2.5:  # more checks: the file is not read again
                statuses.append(await running.status(PHONE, get('/grandstream/registered')))
                await asyncio.sleep(0.1)
            return statuses, running.events()

    statuses, events = run(scenario())
    assert statuses and statuses == [200] * len(statuses)
    assert {event['meta']['hosts'] for event in events} == {'gs-lobby'}
    errors = [line for line in caplog.text.splitlines() if message in line]
    assert len(errors) == 1, errors
    assert 'Using the 1 phones read before.' in errors[0]


@pytest.mark.parametrize('kind, message', [
    ('dev_zero', 'is a character device, not a CSV file'),
    ('fifo', 'is a named pipe (FIFO), not a CSV file'),
    ('oversized', 'is larger than 64 MiB'),
])
def test_an_inventory_that_is_not_a_regular_file_stops_the_source_at_start(source, tmp_path, kind, message):
    inventory = tmp_path / 'office.csv'
    inventory.symlink_to(tmp_path / 'placeholder')
    make_hostile(inventory, kind)
    with pytest.raises(ValueError) as error:
        run(source['main'](asyncio.Queue(), {'allowed_networks': ALLOWED, 'inventory': str(inventory), 'host': SERVER,
                                             'port': free_port()}))
    assert str(error.value) == 'phonefleet.grandstream.action_url: inventory %s %s%s' % (
        inventory, message, '.' if 'CSV file' in message else ': is it the right file?')


@pytest.mark.parametrize('query, status, params', [
    ('token={t}&Token={t}&mac=m', 400, None),
    ('token={t}&TOKEN={t}', 400, None),
    ('Token={t}&mac=m', 200, {'mac': 'm'}),
    ('TOKEN={t}&mac=m', 200, {'mac': 'm'}),
    ('toKen=wrong&mac=m', 403, None),
    ('mac=m&tOkEn={t}', 200, {'mac': 'm'}),
    ('token=wrong&Token={t}', 400, None),
])
def test_the_token_parameter_in_any_case_never_reaches_the_event(source, caplog, query, status, params):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED, 'token': TOKEN}) as running:
            got = await running.status(PHONE, get('/grandstream/registered?' + query.format(t=TOKEN)))
            return got, running.events()

    got, events = run(scenario())
    assert got == status
    assert [event['grandstream']['params'] for event in events] == ([params] if params else [])
    assert TOKEN.lower() not in caplog.text.lower() and TOKEN not in json.dumps(events)


def test_without_a_token_option_token_parameters_are_dropped_too(source):
    async def scenario():
        async with Running(source, {'allowed_networks': ALLOWED}) as running:
            assert await running.status(PHONE, get('/grandstream/registered?Token=s3cret&mac=m')) == 200
            return running.events()

    (event,) = run(scenario())
    assert event['grandstream']['params'] == {'mac': 'm'}


# ----- the rules, with a fake clock

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_refusal_log_one_line_per_sender_per_interval_with_a_count(source):
    clock, lines = FakeClock(), []
    log = source['RefusalLog'](lambda level, message, *args: lines.append(message % args), interval=10, max_senders=2,
                               clock=clock)
    for _n in range(500):
        log.refused('127.99.0.7', 403, 'not in allowed_networks')
    log.refused('127.88.0.5', 400, 'cut short')
    assert lines == ['phonefleet.grandstream.action_url: request from 127.99.0.7 refused (HTTP 403): not in allowed_networks.',
                     'phonefleet.grandstream.action_url: request from 127.88.0.5 refused (HTTP 400): cut short.']
    clock.now += 5
    log.flush()
    assert len(lines) == 2  # the interval is not over
    log.refused('127.66.0.1', 403, 'not in allowed_networks')  # a third sender: counted with the other senders
    log.refused('127.66.0.2', 403, 'not in allowed_networks')
    clock.now += 5
    log.flush()
    assert lines[2:] == ['phonefleet.grandstream.action_url: 499 more requests from 127.99.0.7 refused in the last 10 s '
                         '(the last: HTTP 403, not in allowed_networks).']
    for _n in range(7):
        log.refused('127.99.0.7', 403, 'not in allowed_networks')
    clock.now += 10
    log.flush()
    assert lines[3:] == ['phonefleet.grandstream.action_url: 7 more requests from 127.99.0.7 refused in the last 10 s '
                         '(the last: HTTP 403, not in allowed_networks).',
                         'phonefleet.grandstream.action_url: 2 more requests from other senders refused in the last 15 s '
                         '(the last: HTTP 403, not in allowed_networks).']
    clock.now += 10
    log.flush()
    assert len(lines) == 5 and log.windows == {}  # quiet senders are forgotten
    log.refused('127.99.0.7', 403, 'not in allowed_networks')
    assert lines[5].endswith('request from 127.99.0.7 refused (HTTP 403): not in allowed_networks.')
    log.refused('127.99.0.7', 403, 'not in allowed_networks')
    log.flush(everything=True)
    assert lines[6].startswith('phonefleet.grandstream.action_url: 1 more requests from 127.99.0.7 refused')


def test_phone_directory_check_keeps_the_last_good_names_and_logs_once(source, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    good = tmp_path / 'office.csv'
    write_inventory(good, ['name,host', 'gs1,10.1.4.10'])
    directory = source['PhoneDirectory'](str(good))
    address = ipaddress.ip_address('10.1.4.10')
    assert directory.name_for(address) == 'gs1'
    good.unlink()
    good.symlink_to('/dev/zero')
    for _n in range(3):
        directory.check()
    assert directory.name_for(address) == 'gs1'
    assert caplog.text.count('is a character device, not a CSV file') == 1
    good.unlink()
    write_inventory(good, ['name,host', 'gs-renamed,10.1.4.10'])
    directory.check()
    assert directory.name_for(address) == 'gs-renamed'
