"""No phone can hold the fleet: a phone that drips its answer or sends 100 MB is cut off on time, classified, and the
others finish; against the simulator's drip, drip_headers and huge_body faults, through real ansible runs."""

import json
import resource
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 3
# What a busy 2-core machine adds to a bounded run: ansible-playbook's start-up, the inventory, the fan-out of the rest.
MARGIN = 25


@pytest.mark.parametrize('fault, words', [('drip', 'answered too slowly: no complete answer to api-get_accounts within 3 s'),
                                          ('drip_headers', 'did not answer api-get_accounts within 3 s')])
def test_a_dripping_phone_fails_the_module_on_time(sim_fleet, run_adhoc, tmp_path, fault, words):
    fleet = sim_fleet(count=1, fault=fault, drip_interval=0.5)
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    started = time.monotonic()
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info',
                              '-e', 'grandstream_timeout=%d' % TIMEOUT)
    elapsed = time.monotonic() - started
    result = results[fleet.phones[0].spec.name]
    assert result['error_class'] == 'unreachable', result
    assert words in result['msg'] and 'Traceback' not in proc.stdout + proc.stderr
    assert elapsed < TIMEOUT + MARGIN, 'bounded by the timeout, not by the phone'
    # The module path (a jump host) is bounded the same way.
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info',
                              '-e', 'grandstream_timeout=%d' % TIMEOUT, '-e', 'grandstream_in_process=false')
    result = results[fleet.phones[0].spec.name]
    assert words in result['msg'], result


def test_a_huge_answer_is_an_error_read_no_further_and_memory_stays_small(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=1, fault='huge_body')
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info')
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = results[fleet.phones[0].spec.name]
    assert result['error_class'] == 'error', result
    assert 'larger than 1024 KiB, which no CTI answer is; it was not read further' in result['msg']
    # The largest process that ever ran as a child of this test: far below the 100 MB the phone offered.
    assert max(before, peak_kb) < 200 * 1024, 'peak RSS %d kB' % peak_kb


def test_an_audit_with_wedged_phones_finishes_on_time_and_writes_its_reports(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=6)
    fleet.phones[0].set_fault('drip')
    fleet.phones[1].set_fault('drip_headers')
    fleet.phones[2].set_fault('huge_body')
    fleet.phones[3].set_fault('hang')
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\ncompose:\n  grandstream_timeout: %d\n' % TIMEOUT)
    reports = tmp_path / 'reports'
    started = time.monotonic()
    proc = run_ansible('ansible-playbook', '-i', config, REPO / 'playbooks' / 'registration_audit.yml',
                       '-e', 'registration_audit_report_dir=%s' % reports, '-e', 'registration_audit_fail_under=0')
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < TIMEOUT + MARGIN, 'one wedged phone must not hold the audit (%.1f s)' % elapsed
    report = json.loads((reports / 'registration_audit.json').read_text())
    statuses = dict((phone['name'], phone['status']) for phone in report['phones'])
    names = [phone.spec.name for phone in fleet.phones]
    assert [statuses[name] for name in names] == ['unreachable', 'unreachable', 'error', 'unreachable', 'registered',
                                                  'registered']
    errors = dict((phone['name'], phone['error']) for phone in report['phones'])
    assert 'answered too slowly' in errors[names[0]] and 'larger than 1024 KiB' in errors[names[2]]
    assert 'Traceback' not in proc.stdout + proc.stderr
