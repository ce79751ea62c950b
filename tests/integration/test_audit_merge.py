"""Sliced audits give one fleet report: real --limit slices against the simulator, merged by
playbooks/registration_audit_merge.yml, compared with one unsliced run of the same fleet."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AUDIT = REPO / 'playbooks' / 'registration_audit.yml'
MERGE = REPO / 'playbooks' / 'registration_audit_merge.yml'
# What differs between two runs of the same fleet by nature: timings.
VOLATILE = ('seconds',)
FIRMWARE = json.dumps({'registration_audit_firmware_minimum': {'GXP16*': '1.0.7.81'}, 'registration_audit_fail_under': 0})


def stable(phone):
    return dict((key, value) for key, value in phone.items() if key not in VOLATILE)


def run_slices(run_ansible, config, directory, slices):
    for number, limit in enumerate(slices, 1):
        proc = run_ansible('ansible-playbook', '-i', config, AUDIT, '--limit', limit, '-e', FIRMWARE,
                           '-e', 'registration_audit_report_dir=%s' % (directory / ('job%d' % number)))
        assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_merge_of_sliced_runs_equals_one_unsliced_run(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(spec={'phones': [
        {'count': 5, 'name': 'hq{n:02d}', 'site': 'hq'},
        {'name': 'gxp-old', 'auth': 'session_plain', 'model': 'GXP1628', 'version': '1.0.7.70', 'site': 'lab'},
        {'name': 'lab-down', 'fault': 'down', 'site': 'lab'},
        {'name': 'lab-unreg', 'fault': 'unregistered', 'site': 'lab'}]})
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\nkeyed_groups:\n  - key: site\n    prefix: site\n')

    whole = tmp_path / 'whole'
    proc = run_ansible('ansible-playbook', '-i', config, AUDIT, '-e', FIRMWARE, '-e', 'registration_audit_report_dir=%s' % whole)
    assert proc.returncode == 0, proc.stdout[-3000:]
    # Three slices, as AWX job slicing or a cron job per site would make them; one directory per job, as the AWX
    # template in extensions/awx/objects.yml lays them out (<launch>/<job>/registration_audit.json).
    launch = tmp_path / 'launch'
    run_slices(run_ansible, config, launch, ['site_hq[0:2]', 'site_hq[3:4]', 'site_lab'])
    merged = tmp_path / 'merged'
    proc = run_ansible('ansible-playbook', MERGE, '-e', 'registration_audit_merge_inputs=%s' % launch,
                       '-e', 'registration_audit_report_dir=%s' % merged, '-e', 'registration_audit_fail_under=0')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'Merged from 3 slices.' in proc.stdout

    one = json.loads((whole / 'registration_audit.json').read_text())
    sliced = json.loads((merged / 'registration_audit.json').read_text())
    assert sliced['summary'] == one['summary']
    by_name = dict((phone['name'], stable(phone)) for phone in one['phones'])
    assert sorted(phone['name'] for phone in sliced['phones']) == sorted(by_name)
    for phone in sliced['phones']:
        assert stable(phone) == by_name[phone['name']], phone['name']
    assert sliced['audit']['slices'] == 3 and sliced['audit']['firmware_minimum'] == {'GXP16*': '1.0.7.81'}
    assert one['summary']['firmware_outdated'] == 1 and one['summary']['unreachable'] == 1
    for name in ('registration_audit.csv', 'registration_audit.junit.xml', 'registration_audit.html', 'registration_audit.prom'):
        assert (merged / name).is_file(), name
    assert 'grandstream_audit_phones{status="unreachable"} 1' in (merged / 'registration_audit.prom').read_text()

    # The merged reports sit outside the slices' directory, and a second merge gives the same report.
    proc = run_ansible('ansible-playbook', MERGE, '-e', 'registration_audit_merge_inputs=%s' % launch,
                       '-e', 'registration_audit_report_dir=%s' % merged, '-e', 'registration_audit_fail_under=0')
    assert proc.returncode == 0 and json.loads((merged / 'registration_audit.json').read_text())['summary'] == one['summary']

    # The merged summary is what the threshold and set_stats see: 7 of 8 registered... is below 100.
    proc = run_ansible('ansible-playbook', MERGE, '-e', 'registration_audit_merge_inputs=%s' % launch,
                       '-e', 'registration_audit_report_dir=%s' % merged)
    assert proc.returncode != 0 and 'is below the required 100' in ' '.join(proc.stdout.split())


def test_overlapping_slices_other_reports_and_nothing_are_refused(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=3)
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    first, second, third = (phone.spec.name for phone in fleet.phones)
    launch = tmp_path / 'launch'
    run_slices(run_ansible, config, launch, ['%s,%s' % (first, second), '%s,%s' % (second, third)])

    def merge(inputs):
        return run_ansible('ansible-playbook', MERGE, '-e', json.dumps({'registration_audit_merge_inputs': inputs,
                                                                        'registration_audit_report_dir': str(tmp_path / 'm')}))

    proc = merge(str(launch))
    text = ' '.join(proc.stdout.split())
    assert proc.returncode != 0 and '%s is in %s' % (second, launch / 'job1' / 'registration_audit.json') in text
    assert 'the slices overlap' in text and not (tmp_path / 'm').exists(), 'nothing is written'

    other = tmp_path / 'other.json'
    other.write_text(json.dumps({'schema': {'name': 'someone.else', 'version': 1}, 'summary': {}, 'phones': []}))
    proc = merge([str(launch / 'job1' / 'registration_audit.json'), str(other)])
    assert proc.returncode != 0 and '%s: a report of another kind' % other in ' '.join(proc.stdout.split())

    proc = merge([])
    assert proc.returncode != 0 and 'no slice report to merge' in proc.stdout

    proc = merge([str(tmp_path / 'nowhere')])
    assert proc.returncode != 0 and 'no such file or directory' in proc.stdout


def test_a_malformed_slice_is_refused_by_name_and_nothing_is_written(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=2)
    fleet.write_csv(tmp_path / 'phones.csv')
    config = tmp_path / 'phones.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    first, second = (phone.spec.name for phone in fleet.phones)
    launch = tmp_path / 'launch'
    run_slices(run_ansible, config, launch, [first, second])
    good = json.loads((launch / 'job2' / 'registration_audit.json').read_text())
    merged = tmp_path / 'merged'
    merged.mkdir()
    (merged / 'registration_audit.prom').write_text('# the previous merge\n')

    variants = {
        'deep': '{"phones": ' + '[' * 50000 + ']' * 50000 + ', "summary": {}}',
        'type': json.dumps(dict(good, phones=[dict(good['phones'][0], accounts={'id': 1})])),
        'status': json.dumps(dict(good, phones=[dict(good['phones'][0], status='fine')])),
        'settings': json.dumps(dict(good, audit=dict(good['audit'], required_accounts='1'))),
    }
    for variant, content in variants.items():
        (launch / 'job2' / 'registration_audit.json').write_text(content)
        proc = run_ansible('ansible-playbook', MERGE, '-e', 'registration_audit_merge_inputs=%s' % launch,
                           '-e', 'registration_audit_report_dir=%s' % merged)
        text = ' '.join(proc.stdout.split())
        assert proc.returncode != 0, variant
        assert 'Nothing was merged: %s' % (launch / 'job2' / 'registration_audit.json') in text, (variant, text[-2000:])
        assert 'Traceback' not in proc.stdout + proc.stderr
        assert sorted(path.name for path in merged.iterdir()) == ['registration_audit.prom'], 'nothing is written'
        assert (merged / 'registration_audit.prom').read_text() == '# the previous merge\n'

    # A slice whose phone told a lone surrogate (valid JSON) is no malformed slice: every report of the merge is written.
    good['phones'][0]['phone_status'] = '\ud800\x1b[2J'
    (launch / 'job2' / 'registration_audit.json').write_text(json.dumps(good))
    proc = run_ansible('ansible-playbook', MERGE, '-e', 'registration_audit_merge_inputs=%s' % launch,
                       '-e', 'registration_audit_report_dir=%s' % merged)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert len(list(merged.iterdir())) == 5
    assert json.loads((merged / 'registration_audit.json').read_text())['phones'][1]['phone_status'] == '\ud800\x1b[2J'
    assert (merged / 'registration_audit.prom').read_text() != '# the previous merge\n'
