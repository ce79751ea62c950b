"""playbooks/config_backup.yml (the config_backup role, the fleet_config_backup module) through real ansible-playbook
runs against the simulator: files that equal the phones' values and hold no secret, drift that names exactly the
phones and keys that changed, files rewritten only when their content changed, a failing phone that keeps its last good
file, nothing left in the directory but the files, check mode that writes nothing, and a restore with phone_config."""

import json
import os
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'config_backup.yml'
REPORTS = ('config_backup.json', 'config_backup.csv', 'config_backup.html')

PHONES = [
    {'name': 'json_passcode', 'model': 'GRP2614', 'auth': 'passcode'},
    {'name': 'json_session', 'model': 'WP826', 'auth': 'session', 'firmware': 'new'},
    {'name': 'json_plain', 'model': 'GXP2170', 'version': '1.0.11.3', 'auth': 'session_plain'},
    {'name': 'form_passcode', 'model': 'GXP2170', 'version': '1.0.9.135', 'auth': 'passcode'},
    {'name': 'form_session', 'model': 'GXP1628', 'auth': 'session'},
    {'name': 'form_plain', 'model': 'GXP1628', 'version': '1.0.7.79', 'auth': 'session_plain'},
    {'name': 'flaky', 'model': 'GRP2614'},
]
SOURCES = {'json_passcode': 'catalogue', 'json_session': 'catalogue', 'json_plain': 'catalogue',
           'form_passcode': 'download_cfg', 'form_session': 'known_keys', 'form_plain': 'known_keys', 'flaky': 'catalogue'}
SECRETS = {'P34': 'Sip-S3cret-4711', 'P196': 'User-Pw-S3cret-99', 'P4505': 'Acs-S3cret-0042'}
# Text from a phone that the file format must carry on one line and give back exactly (the phones' own download_cfg
# has no escapes, so these go to phones read through config_get / api.values.get).
# Control characters other than a newline and a tab never get that far: the client cleans them where they enter.
HOSTILE = {'json_passcode': 'syslog\\host\nsecond é€ line ', 'form_session': 'tab\there \\n not a newline'}

RESTORE_PLAY = """
- name: Restore phones from their backups
  hosts: grandstream
  gather_facts: false
  tasks:
    - name: Put the backed-up settings back, every write read back
      phonefleet.grandstream.phone_config:
        settings: "{{ lookup('ansible.builtin.file', restore_dir ~ '/' ~ inventory_hostname ~ '.txt', rstrip=false)
                      | phonefleet.grandstream.config_backup_settings }}"
        update_secrets: never
"""


def csv_inventory(fleet, directory):
    directory.mkdir(parents=True, exist_ok=True)
    fleet.write_csv(directory / 'phones.csv')
    config = directory / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    return config


def read_file(text):
    """An independent reader of the backup format: Python's own unicode_escape on every value."""
    values = {}
    for line in text.split('\n'):
        if line:
            key, dummy, raw = line.partition('=')
            assert key not in values
            values[key] = raw.encode('latin-1', 'backslashreplace').decode('unicode_escape')
    return values


def phone_values(phone):
    """Every value the simulated phone holds, secrets left out: what its file must be."""
    def read():
        store = phone.settings_store
        return dict(('P' + number, store.value_of(number)) for number in store.numbers() if number not in store.secrets)
    return phone.fleet.call(read)


def snapshot(directory):
    """{file name: (inode, mtime_ns, bytes)} of a directory."""
    return dict((path.name, (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes()))
                for path in sorted(directory.iterdir()))


def logins(events):
    found = {}
    for event in events:
        if event['event'] == 'login' and event.get('result') == 'ok':
            found[event['phone']] = found.get(event['phone'], 0) + 1
    return found


def test_backup_files_drift_unchanged_files_failures_check_mode_and_restore(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [dict(phone) for phone in PHONES]})
    for phone in fleet.phones:
        phone.set_settings(**SECRETS)
    for name, value in HOSTILE.items():
        fleet.phone(name).set_settings(P207=value)
    inventory = csv_inventory(fleet, tmp_path / 'inventory')
    backup = tmp_path / 'backup'
    secrets = list(SECRETS.values()) + [phone.spec.passcode for phone in fleet.phones]
    texts = []

    def run(*options, playbook=PLAYBOOK, directory=backup):
        since = fleet.events()[-1]['t']
        proc = run_ansible('ansible-playbook', '-i', inventory, playbook, '-vvvv', '-e', 'config_backup_dir=%s' % directory,
                           *options)
        output = proc.stdout + proc.stderr
        assert 'Traceback' not in output, output[-3000:]
        texts.append(('output', output))
        if directory.exists():
            texts.extend((path.name, path.read_text()) for path in directory.iterdir())
        return proc, output, [event for event in fleet.events() if event['t'] > since]

    def report():
        return json.loads((backup / 'config_backup.json').read_text())

    def check_files():
        for phone in fleet.phones:
            values = read_file((backup / ('%s.txt' % phone.name)).read_text())
            assert values == phone_values(phone), phone.name
            keys = list(values)
            assert keys == sorted(keys, key=lambda key: int(key[1:])), phone.name

    # 1. the first backup: every phone saved, files equal to the phones' values, no secret anywhere
    proc, output, events = run()
    assert proc.returncode == 0, output[-3000:]
    assert sorted(path.name for path in backup.iterdir()) == sorted(['%s.txt' % phone['name'] for phone in PHONES] + list(REPORTS))
    check_files()
    first = report()
    rows = dict((row['name'], row) for row in first['phones'])
    assert [row['name'] for row in first['phones']] == sorted(rows)
    assert first['summary'] == {'total': 7, 'saved': 7, 'unchanged': 0, 'failed': 0, 'first_backup': 7, 'drifted': 0}
    assert dict((name, row['source']) for name, row in rows.items()) == SOURCES
    for name, row in rows.items():
        assert row['first_backup'] is True and row['drift'] == {} and row['file'] == '%s.txt' % name
        assert {'P2', 'P34', 'P196', 'P4505'} <= set(row['secrets_left_out']), name
    assert read_file((backup / 'json_passcode.txt').read_text())['P207'] == HOSTILE['json_passcode']
    assert 'P207=syslog\\\\host\\nsecond é€ line\\x20\n' in (backup / 'json_passcode.txt').read_text()
    assert 'P207=tab\\there \\\\n not a newline\n' in (backup / 'form_session.txt').read_text()
    assert logins(events) == dict((phone['name'], 1) for phone in PHONES)
    restore_from = tmp_path / 'first-backup'
    shutil.copytree(backup, restore_from)

    # 2. three phones change (one read through download_cfg), a killed run's temporary file is left behind
    fleet.phone('json_session').set_settings(P30='ntp.changed.net')
    fleet.phone('form_plain').set_settings(P64='UTC0', P208='7')
    fleet.phone('form_passcode').set_settings(P207='syslog.new')
    fleet.phone('json_passcode').set_settings(P207='plain now')
    stale = backup / '.json_session.txt.abcd1234.tmp'
    stale.write_text('half a file')
    old = time.time() - 300
    os.utime(stale, (old, old))
    before = snapshot(backup)

    # 3. check mode says what would be saved and writes nothing
    proc, output, events = run('--check')
    assert proc.returncode == 0, output[-3000:]
    assert '4 would be saved' in output
    assert snapshot(backup) == before

    # 4. the second backup: drift names exactly the phones and keys that changed; other files are not rewritten
    proc, output, events = run()
    assert proc.returncode == 0, output[-3000:]
    second = report()
    drift = dict((row['name'], row['drift']) for row in second['phones'] if row['drift'])
    assert drift == {
        'json_passcode': {'P207': {'before': HOSTILE['json_passcode'], 'after': 'plain now'}},
        'json_session': {'P30': {'before': 'pool.ntp.org', 'after': 'ntp.changed.net'}},
        'form_plain': {'P64': {'before': 'EST5EDT,M3.2.0,M11.1.0', 'after': 'UTC0'}, 'P208': {'before': '0', 'after': '7'}},
        'form_passcode': {'P207': {'before': '', 'after': 'syslog.new'}},
    }
    assert second['summary'] == {'total': 7, 'saved': 4, 'unchanged': 3, 'failed': 0, 'first_backup': 0, 'drifted': 4}
    after = snapshot(backup)
    assert not stale.exists(), 'the temporary file a killed run left is still there'
    for name in ('json_plain', 'form_session', 'flaky'):
        assert after['%s.txt' % name] == before['%s.txt' % name], '%s was rewritten without a change' % name
    for name in drift:
        assert after['%s.txt' % name][2] != before['%s.txt' % name][2]
    check_files()
    assert 'Changed since the previous backup' in output

    # 5. a failing phone keeps its last good file; the play fails naming it, on the fleet's own host
    flaky = fleet.phone('flaky')
    flaky.set_settings(P30='never.backed.up')
    flaky.set_fault('down')
    before = snapshot(backup)
    proc, output, events = run()
    assert proc.returncode == 2, output[-3000:]
    assert 'fatal: [grandstream-fleet]' in output and 'flaky unreachable' in output
    third = report()
    rows = dict((row['name'], row) for row in third['phones'])
    assert rows['flaky']['status'] == 'failed' and rows['flaky']['error_class'] == 'unreachable'
    assert rows['flaky']['file'] == 'flaky.txt' and rows['flaky']['drift'] == {}
    assert snapshot(backup)['flaky.txt'] == before['flaky.txt']
    assert all(row['status'] == 'unchanged' for name, row in rows.items() if name != 'flaky')
    assert sorted(path.name for path in backup.iterdir()) == sorted(['%s.txt' % phone['name'] for phone in PHONES] + list(REPORTS))
    flaky.set_fault(None)

    # 6. a restore from the first backup with phone_config puts the first values back, the hostile one exactly
    restore = tmp_path / 'restore.yml'
    restore.write_text(RESTORE_PLAY)
    proc, output, events = run('--limit', '!flaky', '-e', 'restore_dir=%s' % restore_from, playbook=restore)
    assert proc.returncode == 0, output[-3000:]
    first_values = dict((phone.name, read_file((restore_from / ('%s.txt' % phone.name)).read_text())) for phone in fleet.phones)
    for phone in fleet.phones:
        if phone.name != 'flaky':
            assert phone_values(phone) == first_values[phone.name], phone.name
    assert fleet.phone('json_passcode').setting('P207') == HOSTILE['json_passcode']
    written = dict((event['phone'], sorted(event['written'])) for event in events
                   if event['event'] == 'settings' and event.get('written'))
    assert written == {'json_passcode': ['P207'], 'json_session': ['P30'], 'form_plain': ['P208', 'P64'],
                       'form_passcode': ['P207']}
    # the secrets stayed as they were: a backup has none to restore
    assert all(phone.setting('P34') == SECRETS['P34'] for phone in fleet.phones)

    for where, text in texts:
        for secret in secrets:
            assert secret not in text, 'a secret leaked into %s' % where
