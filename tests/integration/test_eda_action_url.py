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
import logging
import os
import re
import runpy
import socket
import subprocess
import sys
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
            # The inventory changes while the source runs: it is read again.
            write_inventory(tmp_path / 'office.csv', ['name,host', 'gs-new,%s' % UNLISTED_PHONE, 'gs-lobby,%s' % PHONE])
            assert await running.status(UNLISTED_PHONE, get('/grandstream/registered?token=%s' % TOKEN)) == 200
            (fourth,) = running.events()
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
            for name, sender, data, _status in REFUSED:
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
