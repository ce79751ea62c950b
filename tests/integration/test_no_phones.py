"""Never green on nothing: both playbooks fail with one sentence when no phone matches, with default Ansible settings.

A CSV with a bad row makes the inventory plugin raise a good file:line error, but ansible-core by default only warns
that the source did not parse and goes on with an empty inventory; an empty CSV, a mistyped target or a --limit outside
target give no phones either. A cron job or an AWX schedule must see a red run, not a green one that did nothing.
"""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = {'registration_audit': ('audited', []),
             'rolling_reboot': ('rebooted', ['-e', 'rolling_reboot_state_dir={state}'])}
SENTENCE = "No phones matched target '%s'"


def inventory(tmp_path, csv_text, name='phones'):
    (tmp_path / ('%s.csv' % name)).write_text(csv_text)
    config = tmp_path / ('%s.grandstream.yml' % name)
    config.write_text('plugin: phonefleet.grandstream.csv\npath: %s.csv\n' % name)
    return config


def run_playbook(run_ansible, tmp_path, playbook, config, *extra, env=None):
    work, options = PLAYBOOKS[playbook]
    options = [option.format(state=tmp_path / 'state') for option in options]
    # Default settings: the environment sets no ANSIBLE_INVENTORY_* option (unless env does).
    proc = run_ansible('ansible-playbook', '-i', config, REPO / 'playbooks' / ('%s.yml' % playbook),
                       '-e', '%s_report_dir=%s' % (playbook, tmp_path / 'reports'), *(options + list(extra)), env=env)
    return proc, work


@pytest.mark.parametrize('playbook', sorted(PLAYBOOKS))
def test_an_inventory_that_does_not_parse_fails_the_run_with_a_sentence(run_ansible, tmp_path, playbook):
    config = inventory(tmp_path, 'name,host,port\ngs1,127.0.0.1,70000\n')
    proc, work = run_playbook(run_ansible, tmp_path, playbook, config)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "phones.csv:2: port '70000' is not a number" in output, 'the plugin names the bad cell (file:line)'
    assert SENTENCE % 'grandstream' in output and 'so nothing was %s' % work in output
    # The advice names settings that exist (ansible-config), and following it makes the bad inventory an error.
    assert 'any_unparsed_is_failed = true' in output and 'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true' in output
    assert 'inventory_unparsed_failed' not in output and 'ANSIBLE_INVENTORY_UNPARSED_FAILED=' not in output
    assert not (tmp_path / 'reports').exists(), 'no report claims an audit of nothing'
    strict, dummy = run_playbook(run_ansible, tmp_path, playbook, config, env={'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED': 'true'})
    assert strict.returncode != 0 and SENTENCE % 'grandstream' not in strict.stdout, 'the inventory itself stops the run'
    assert "phones.csv:2: port '70000' is not a number" in strict.stdout + strict.stderr


def test_the_advised_settings_exist(run_ansible):
    proc = run_ansible('ansible-config', 'dump', '--format', 'json')
    names = set(setting.get('name') for setting in proc.json() if isinstance(setting, dict))
    assert 'INVENTORY_ANY_UNPARSED_IS_FAILED' in names, 'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED / any_unparsed_is_failed'


@pytest.mark.parametrize('playbook', sorted(PLAYBOOKS))
def test_an_empty_csv_fails_the_run(run_ansible, tmp_path, playbook):
    config = inventory(tmp_path, 'name,host,passcode\n')
    proc, work = run_playbook(run_ansible, tmp_path, playbook, config)
    assert proc.returncode != 0, proc.stdout
    assert SENTENCE % 'grandstream' in proc.stdout and 'so nothing was %s' % work in proc.stdout


def test_a_target_or_limit_outside_the_phones_fails_the_run(run_ansible, tmp_path, sim_fleet):
    fleet = sim_fleet(count=2)
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    first, second = fleet.phones
    # A mistyped target.
    proc, dummy = run_playbook(run_ansible, tmp_path, 'registration_audit', config, '-e', 'target=grandstrem')
    assert proc.returncode != 0 and SENTENCE % 'grandstrem' in proc.stdout, proc.stdout
    # A --limit that has hosts, none of them in target.
    proc, dummy = run_playbook(run_ansible, tmp_path, 'registration_audit', config, '-e', 'target=%s' % first.name,
                               '--limit', second.name)
    assert proc.returncode != 0 and (SENTENCE % first.name) + ' within --limit %s' % second.name in proc.stdout, proc.stdout
    # A --limit that matches nothing at all: ansible-playbook itself refuses.
    proc, dummy = run_playbook(run_ansible, tmp_path, 'registration_audit', config, '--limit', 'nosuchphone')
    assert proc.returncode != 0
    # And the good case still runs: target and limit overlap.
    proc, dummy = run_playbook(run_ansible, tmp_path, 'registration_audit', config, '--limit', first.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Registration audit: 1 of 1 phone registered' in proc.stdout
    assert len(fleet.events(event='request', function='api-get_accounts')) == 1, 'only the phone of the limit'


def test_a_fleet_task_with_no_phones_fails(run_ansible, tmp_path):
    playbook = tmp_path / 'empty.yml'
    playbook.write_text('''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Audit nobody
      phonefleet.grandstream.fleet_registration_info:
        hosts: []
''')
    proc = run_ansible('ansible-playbook', playbook)
    assert proc.returncode != 0 and 'No phones to work on: the hosts option is empty. Nothing was sent.' in proc.stdout
