"""A bad host variable is named as the user wrote it, with the phone: per-phone modules and the fleet audit."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('in_process', ['true', 'false'])
@pytest.mark.parametrize('variable, value, words', [
    ('grandstream_auth', 'sesion', "grandstream_auth must be one of passcode, session, session_plain, not 'sesion'"),
    ('grandstream_port', 'eighty', "grandstream_port must be a whole number, not 'eighty'"),
    ('grandstream_timeout', '-1', 'grandstream_timeout must be a positive number of seconds'),
])
def test_a_per_phone_module_names_the_variable_and_the_phone(sim_fleet, run_adhoc, tmp_path, variable, value, words,
                                                             in_process):
    fleet = sim_fleet(count=1)
    inventory = fleet.write_ini(tmp_path / 'phones.ini')
    name = fleet.phones[0].spec.name
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info', '-e', '%s=%s' % (variable, value),
                              '-e', 'grandstream_in_process=%s' % in_process)
    result = results[name]
    assert proc.returncode != 0
    assert result['msg'].startswith(name + ': ') and words in result['msg'], result['msg']
    assert '_AnsibleTagged' not in result['msg'] and fleet.phones[0].spec.passcode not in json.dumps(result)
    assert fleet.events(phone=name, event='request') == [], 'nothing is sent with a bad variable'


def test_the_audit_names_the_variable_of_a_phone_it_could_not_contact(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=2)
    inventory = fleet.write_ini(tmp_path / 'phones.ini')
    bad = fleet.phones[0].spec.name
    (tmp_path / 'host_vars').mkdir()
    (tmp_path / 'host_vars' / ('%s.yml' % bad)).write_text('grandstream_auth: sesion\n')
    proc = run_ansible('ansible-playbook', REPO / 'playbooks' / 'registration_audit.yml', '-i', inventory,
                       '-e', 'registration_audit_report_dir=%s' % (tmp_path / 'reports'), '-e', 'registration_audit_fail_under=0')
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads((tmp_path / 'reports' / 'registration_audit.json').read_text())
    phone = next(item for item in report['phones'] if item['name'] == bad)
    assert "grandstream_auth must be one of passcode, session, session_plain, not 'sesion'" in phone['error']
