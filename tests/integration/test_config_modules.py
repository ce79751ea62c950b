"""Settings as code through real ansible-playbook runs against the simulator: phone_config (per phone) and fleet_config
(one task for the play), on each settings wire form (form, json) with each login flavour (a passcode phone's web login,
session, session_plain).

Proved with the simulator's own events (never the collection's word): check mode writes nothing, a second run writes
nothing, a secret is written on every run with update_secrets=always and never with never, one login per phone per
task, a write the phone drops fails naming the key; and no secret in the -vvvv output, the results, the diffs or the
reports.
"""

import csv
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Each wire form x each login flavour; the model picks the wire form (tests/simulator/README.md, "Settings").
MATRIX = [
    {'name': 'json_passcode', 'model': 'GRP2614', 'auth': 'passcode'},
    {'name': 'json_session', 'model': 'WP826', 'auth': 'session', 'firmware': 'new'},
    {'name': 'json_plain', 'model': 'GRP2614', 'auth': 'session_plain'},
    {'name': 'form_passcode', 'model': 'GXP2170', 'version': '1.0.9.135', 'auth': 'passcode'},
    {'name': 'form_session', 'model': 'GXP1628', 'auth': 'session'},
    {'name': 'form_plain', 'model': 'GXP1628', 'version': '1.0.7.79', 'auth': 'session_plain'},
]
WIRE = {'json_passcode': 'json', 'json_session': 'json', 'json_plain': 'json', 'form_passcode': 'form',
        'form_session': 'form', 'form_plain': 'form'}
WRITES = ('config_update', 'api.values.post')
SIP_SECRET = 'Sip-S3cret-4711'          # P34: a SIP password, write-only
HOST_SECRET = 'Host-Only-S3cret-0815'   # P34 of one phone, from its grandstream_settings
USER_SECRET = 'User-Pw-S3cret-99'       # P196 of every phone before the runs (a value backups and reads must not show)

PHONE_CONFIG_PLAY = """
- name: Settings per phone
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Set the settings
      phonefleet.grandstream.phone_config:
        settings: "{{ wanted_settings | combine(grandstream_settings | default({})) }}"
        update_secrets: "{{ update_secrets | default('always') }}"
      register: outcome
      ignore_errors: true

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ outcome | to_nice_json }}"
        dest: "{{ results_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
      check_mode: false
"""

FLEET_CONFIG_PLAY = """
- name: Settings of the fleet
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Set the settings of every phone
      phonefleet.grandstream.fleet_config:
        settings: "{{ wanted_settings }}"
        update_secrets: "{{ update_secrets | default('always') }}"
        report_dir: "{{ report_dir }}"
      run_once: true
      register: outcome
      ignore_errors: true

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ outcome | to_nice_json }}"
        dest: "{{ results_dir }}/fleet.json"
        mode: "0600"
      delegate_to: localhost
      run_once: true
      check_mode: false
"""


def csv_inventory(fleet, directory, host_vars=None):
    directory.mkdir(parents=True, exist_ok=True)
    fleet.write_csv(directory / 'phones.csv')
    config = directory / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    for name, variables in (host_vars or {}).items():
        (directory / 'host_vars').mkdir(exist_ok=True)
        (directory / 'host_vars' / ('%s.yml' % name)).write_text(json.dumps(variables))
    return config


class Runner(object):
    """ansible-playbook runs of one play over one inventory: results, events and every text a run left."""

    def __init__(self, run_ansible, fleet, tmp_path, play, inventory):
        self.run_ansible, self.fleet, self.tmp_path, self.inventory = run_ansible, fleet, tmp_path, inventory
        self.playbook = tmp_path / 'play.yml'
        self.playbook.write_text(play)
        self.count = 0
        self.texts = []

    def __call__(self, settings, *options, **extra):
        self.count += 1
        results = self.tmp_path / ('results-%d' % self.count)
        reports = self.tmp_path / ('reports-%d' % self.count)
        results.mkdir()
        variables = dict(wanted_settings=settings, results_dir=str(results), report_dir=str(reports), **extra)
        since = self.fleet.events()[-1]['t'] if self.fleet.events() else None
        # A variables file: -vvvv echoes the command line, and a secret given there would be the test's own leak.
        variables_file = self.tmp_path / ('variables-%d.json' % self.count)
        variables_file.write_text(json.dumps(variables))
        proc = self.run_ansible('ansible-playbook', '-i', self.inventory, self.playbook, '-vvvv',
                                '-e', '@%s' % variables_file, *options)
        output = proc.stdout + proc.stderr
        assert 'Traceback' not in output, output[-3000:]
        self.texts.append(('output of run %d' % self.count, output))
        found = dict((path.stem, json.loads(path.read_text())) for path in results.iterdir())
        for path in list(results.iterdir()) + (list(reports.iterdir()) if reports.exists() else []):
            self.texts.append((str(path), path.read_text()))
        events = [event for event in self.fleet.events() if since is None or event['t'] > since]
        return proc, found, events, reports


def writes(events, phone=None):
    """{phone: [keys written]} of the settings writes the simulator saw."""
    found = {}
    for event in events:
        if event['event'] == 'settings' and event.get('function') in WRITES and (phone is None or event['phone'] == phone):
            found.setdefault(event['phone'], []).extend(event.get('written') or [])
    return found


def logins(events):
    """{phone: number of successful logins}."""
    found = {}
    for event in events:
        if event['event'] == 'login' and event.get('result') == 'ok':
            found[event['phone']] = found.get(event['phone'], 0) + 1
    return found


def assert_no_secret(texts, secrets):
    for where, text in texts:
        for secret in secrets:
            assert secret not in text, 'a secret leaked into %s' % where


def matrix_fleet(sim_fleet):
    fleet = sim_fleet(spec={'phones': [dict(phone) for phone in MATRIX]})
    for phone in fleet.phones:
        phone.set_settings(P196=USER_SECRET)
        assert phone.profile.settings_form == WIRE[phone.name], phone.name
    return fleet


def passcodes(fleet):
    return [phone.spec.passcode for phone in fleet.phones]


# -- the matrix ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('module', ['phone_config', 'fleet_config'])
def test_every_wire_form_and_login_check_mode_idempotence_and_secrets(module, sim_fleet, run_ansible, tmp_path):
    fleet = matrix_fleet(sim_fleet)
    names = [phone['name'] for phone in MATRIX]
    # One phone gets its own secret and syslog server from its host variables (fleet_config merges them; the per-phone
    # play combines them the same way).
    inventory = csv_inventory(fleet, tmp_path / 'inventory', host_vars={
        'json_session': {'grandstream_settings': {'P34': HOST_SECRET, 'P207': 'syslog.example.net'}}})
    run = Runner(run_ansible, fleet, tmp_path, PHONE_CONFIG_PLAY if module == 'phone_config' else FLEET_CONFIG_PLAY,
                 inventory)
    settings = {'P30': 'ntp.example.net', 'P34': SIP_SECRET}
    secrets = [SIP_SECRET, HOST_SECRET, USER_SECRET] + passcodes(fleet)

    def outcome_of(found):
        """{phone: (status, changed keys, unverified)} from either module's results."""
        if module == 'fleet_config':
            return dict((row['name'], (row['status'], row['changed_keys'], row['unverified'])) for row in found['fleet']['phones'])
        return dict((name, ('failed' if result.get('failed') else 'changed' if result['changed'] else 'unchanged',
                            result.get('changed_keys'), result.get('unverified'))) for name, result in found.items())

    # 1. check mode predicts, with a diff per phone, and writes nothing
    proc, found, events, reports = run(settings, '--check', '--diff')
    assert proc.returncode == 0, proc.stdout[-3000:]
    outcome = outcome_of(found)
    assert sorted(outcome) == sorted(names)
    for name in names:
        assert outcome[name][0] == 'changed', (name, outcome[name])
        assert 'P34' in outcome[name][1] and outcome[name][2] == ['P34']
    assert writes(events) == {}, 'check mode wrote to a phone'
    assert all(phone.setting('P30') == 'pool.ntp.org' for phone in fleet.phones)
    assert '-P30=pool.ntp.org' in proc.stdout and '+P30=ntp.example.net' in proc.stdout
    assert '+P207=syslog.example.net' in proc.stdout  # json_session's own setting, from its host variables
    assert 'P34=' not in proc.stdout, 'a secret key reached the diff'
    assert logins(events) == dict((name, 1) for name in names)

    # 2. the real run: every value written, read back; one login per phone
    proc, found, events, reports = run(settings, '--diff')
    assert proc.returncode == 0, proc.stdout[-3000:]
    outcome = outcome_of(found)
    for name in names:
        assert outcome[name][0] == 'changed' and outcome[name][2] == ['P34'], (name, outcome[name])
    for phone in fleet.phones:
        assert phone.setting('P30') == 'ntp.example.net', phone.name
        assert phone.setting('P34') == (HOST_SECRET if phone.name == 'json_session' else SIP_SECRET), phone.name
    assert fleet.phone('json_session').setting('P207') == 'syslog.example.net'
    assert fleet.phone('json_passcode').setting('P207') == ''
    assert dict((name, sorted(keys)) for name, keys in writes(events).items()) == dict(
        (name, sorted(['P30', 'P34'] + (['P207'] if name == 'json_session' else []))) for name in names)
    assert logins(events) == dict((name, 1) for name in names)
    # settings need the web login on every phone: the passcode phones' CTI passcode was never used for them
    assert not [event for event in events if event['event'] == 'request' and (event.get('function') or '').startswith('api-')]

    # 3. a second run with update_secrets=never writes nothing and is not changed
    proc, found, events, reports = run(settings, '--diff', update_secrets='never')
    assert proc.returncode == 0
    assert set(status for status, dummy, dummy in outcome_of(found).values()) == {'unchanged'}
    assert writes(events) == {}
    assert logins(events) == dict((name, 1) for name in names)

    # 4. with update_secrets=always the secret alone is written again, reported unverified
    proc, found, events, reports = run(settings, update_secrets='always')
    assert proc.returncode == 0
    for name, (status, changed_keys, unverified) in outcome_of(found).items():
        assert (status, changed_keys, unverified) == ('changed', ['P34'], ['P34']), name
    assert dict((name, keys) for name, keys in writes(events).items()) == dict((name, ['P34']) for name in names)

    if module == 'fleet_config':
        report = json.loads((reports / 'fleet_config.json').read_text())
        assert report['summary'] == {'total': 6, 'changed': 6, 'unchanged': 0, 'not_applied': 0, 'failed': 0}
        assert report['audit']['keys'] == ['P30', 'P34'] and report['audit']['update_secrets'] == 'always'
        rows = list(csv.DictReader((reports / 'fleet_config.csv').open(newline='')))
        assert [row['name'] for row in rows] == names and set(row['unverified'] for row in rows) == {'P34'}

    # no secret anywhere: -vvvv output, results, diffs, reports
    assert_no_secret(run.texts, secrets)


# -- writes the phone drops -------------------------------------------------------------------------------------------

DROPPING = [
    {'name': 'user_role', 'model': 'GRP2614', 'role': 'user', 'auth': 'session'},
    {'name': 'cloud', 'model': 'WP826', 'auth': 'session', 'cloud_managed': True},
    {'name': 'long_value', 'model': 'GXP1628', 'auth': 'session_plain', 'version': '1.0.7.79'},
    {'name': 'weak_admin', 'model': 'GXP2170', 'version': '1.0.9.135'},
    {'name': 'healthy', 'model': 'GRP2614'},
]
WEAK_PASSWORD = 'Weakpass'   # no digit: newer firmware drops it while answering success
DROPPED_SETTINGS = {
    'user_role': {'P30': 'ntp.example.net'},
    'cloud': {'P192': 'fw.example.net/grandstream', 'P30': 'ntp.example.net'},
    'long_value': {'P237': 'cfg.example.net/' + 'x' * 300},
    'weak_admin': {'P2': WEAK_PASSWORD, 'P30': 'ntp.example.net'},
    'healthy': {'P30': 'ntp.example.net'},
}


@pytest.mark.parametrize('module', ['phone_config', 'fleet_config'])
def test_a_dropped_write_fails_naming_the_key(module, sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [dict(phone) for phone in DROPPING]})
    inventory = csv_inventory(fleet, tmp_path / 'inventory', host_vars=dict(
        (name, {'grandstream_settings': settings}) for name, settings in DROPPED_SETTINGS.items()))
    run = Runner(run_ansible, fleet, tmp_path, PHONE_CONFIG_PLAY if module == 'phone_config' else FLEET_CONFIG_PLAY,
                 inventory)
    proc, found, events, reports = run({})
    assert proc.returncode == 0, proc.stdout[-3000:]  # ignore_errors: the outcome is in the results

    if module == 'fleet_config':
        result = found['fleet']
        assert result['failed'] is True
        rows = dict((row['name'], row) for row in result['phones'])
        messages = dict((name, row['error'] or '') for name, row in rows.items())
        not_applied = dict((name, row['not_applied']) for name, row in rows.items())
        statuses = dict((name, row['status']) for name, row in rows.items())
        assert result['summary'] == {'total': 5, 'changed': 1, 'unchanged': 0, 'not_applied': 3, 'failed': 1}
        assert sorted(result['not_applied_phones']) == ['cloud', 'long_value', 'user_role']
        assert result['failed_phones'] == ['weak_admin'] and rows['weak_admin']['reason'] == 'invalid_settings'
        assert 'Not applied' in result['msg'] and 'cloud (P192)' in result['msg']
    else:
        messages = dict((name, outcome.get('msg') or '') for name, outcome in found.items())
        not_applied = dict((name, outcome.get('not_applied', [])) for name, outcome in found.items())
        statuses = dict((name, 'failed' if outcome.get('failed') else 'changed') for name, outcome in found.items())
        assert statuses == {'user_role': 'failed', 'cloud': 'failed', 'long_value': 'failed', 'weak_admin': 'failed',
                            'healthy': 'changed'}

    assert not_applied['user_role'] == ['P30'] and 'user-role' in messages['user_role']
    assert not_applied['cloud'] == ['P192'] and 'GDMS' in messages['cloud'] and 'P192' in messages['cloud']
    assert not_applied['long_value'] == ['P237'] and 'longer than 256' in messages['long_value']
    assert 'P2' in messages['weak_admin'] and 'weak admin password' in messages['weak_admin']
    assert statuses['healthy'] == 'changed'
    # the cloud phone kept the key it owns and took the other; the weak password was never sent, nor anything with it
    assert fleet.phone('cloud').setting('P30') == 'ntp.example.net'
    assert fleet.phone('cloud').setting('P192') != 'fw.example.net/grandstream'
    assert 'weak_admin' not in writes(events)
    assert fleet.phone('weak_admin').passcode != WEAK_PASSWORD
    dropped = dict((event['phone'], event['dropped']) for event in events
                   if event['event'] == 'settings' and event.get('dropped'))
    assert dropped == {'user_role': {'P30': 'role'}, 'cloud': {'P192': 'cloud_managed'}, 'long_value': {'P237': 'too_long'}}
    assert_no_secret(run.texts, [WEAK_PASSWORD] + passcodes(fleet))


def test_fleet_config_refuses_bad_settings_before_any_phone(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=2)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    run = Runner(run_ansible, fleet, tmp_path, FLEET_CONFIG_PLAY, inventory)
    for settings, words in (({'P30 ; rm': 'x'}, "not a setting key: 'P30 ; rm'"),
                            ({'P2': 'abc'}, 'P2 is the admin password'),
                            ({'P30': {'nested': 1}}, 'the value of P30 must be text or a number'),
                            ({}, 'settings is empty and no phone has grandstream_settings')):
        proc, found, events, reports = run(settings)
        assert found['fleet']['failed'] is True and words in found['fleet']['msg'], found['fleet']['msg']
        assert 'Nothing was sent' in found['fleet']['msg']
        assert not [event for event in events if event['event'] == 'request'], 'a phone was contacted'
