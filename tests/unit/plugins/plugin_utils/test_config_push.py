# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_config on the fleet-check skeleton, with fixture phones: per-phone settings merged over the task's, statuses,
check mode, diffs without secrets, the report."""

import csv
import io
import json

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import config_push
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone

SECRET = 'Sip-S3cret-7'
WRITES = ('config_update', 'api.values.post')


def test_host_settings_win_key_by_key_and_numbers_compare_by_number():
    task = {'P30': 'task.ntp', 'P64': 'GMT0', 'date.ntp.server': 'alias'}
    merged = config_push.merged_settings(task, {'30': 'host.ntp', 'P207': 'log'})
    assert merged == {'P64': 'GMT0', 'date.ntp.server': 'alias', '30': 'host.ntp', 'P207': 'log'}
    assert config_push.merged_settings(task, None) == task
    with pytest.raises(ValueError, match='grandstream_settings must be a mapping of setting keys to values, not list'):
        config_push.merged_settings(task, ['P30'])


def run(phones, settings, check_mode=False, diff=False, host_settings=None, update_secrets='always'):
    targets = []
    for name, phone in phones.items():
        variables = {}
        if host_settings and name in host_settings:
            variables[config_push.HOST_SETTINGS_VARIABLE] = host_settings[name]
        targets.append(FleetTarget(name, phone.connection(name=name), variables))
    check = config_push.config_check(settings, update_secrets, check_mode=check_mode, diff=diff)
    report = check.run(targets, {}, concurrency=4, check_mode=check_mode, transport_factory=lambda target: phones[target.name])
    return check, report


def rows(report):
    return dict((row['name'], row) for row in report['phones'])


def test_statuses_secrets_and_diffs():
    phones = {'ok': FixturePhone.of_model('GRP2614', host='10.1.4.1'),
              'same': FixturePhone.of_model('WP826', host='10.1.4.2', settings={'P30': 'ntp.example.net'}),
              'cloud': FixturePhone.of_model('GXP1628', host='10.1.4.3', cloud_managed=True),
              'down': FixturePhone.of_model('GRP2614', host='10.1.4.4'),
              'bad': FixturePhone.of_model('GRP2614', host='10.1.4.5')}
    phones['down'].set_fault('refused')
    check, report = run(phones, {'P30': 'ntp.example.net'}, diff=True, update_secrets='never',
                        host_settings={'cloud': {'P192': 'fw.example.net/gs'}, 'ok': {'P34': SECRET},
                                       'bad': {'P99999': 'x'}})
    found = rows(report)
    assert dict((name, row['status']) for name, row in found.items()) == {
        'ok': 'changed', 'same': 'unchanged', 'cloud': 'not_applied', 'down': 'failed', 'bad': 'failed'}
    assert report['summary'] == {'total': 5, 'changed': 1, 'unchanged': 1, 'not_applied': 1, 'failed': 2}
    assert found['ok']['changed_keys'] == ['P30'] and found['ok']['unverified'] == []  # update_secrets=never
    assert found['cloud']['not_applied'] == ['P192'] and found['cloud']['changed_keys'] == ['P30']
    assert 'kept the old value' in found['cloud']['error'] and not found['cloud']['error'].startswith('cloud')
    assert found['down']['error_class'] == 'unreachable'
    assert found['bad']['reason'] == 'invalid_settings' and 'has no setting P99999' in found['bad']['error']
    assert phones['bad'].settings.get('P30') == 'pool.ntp.org', 'a phone with an invalid setting was written'
    assert check.problems(report) == {'changed_phones': ['ok'], 'not_applied_phones': ['cloud'], 'failed_phones': ['down', 'bad']}
    message = check.message(report)
    assert message.startswith('Settings of 5 phones: 1 changed, 1 unchanged, 1 not applied, 2 failed.')
    assert 'cloud (P192)' in message and 'down unreachable' in message and 'bad invalid_settings (the phone has no setting P99999' in message
    headers = [entry['before_header'] for entry in check.parts[0].diffs]
    assert headers == ['ok (10.1.4.1)', 'cloud (10.1.4.3)']
    assert check.parts[0].diffs[0]['before'] == 'P30=pool.ntp.org\n' and check.parts[0].diffs[0]['after'] == 'P30=ntp.example.net\n'
    assert report['audit']['keys'] == ['P30']
    for kind, (dummy, render) in config_push.CONFIG_REPORTS.items():
        text = render(report)
        assert SECRET not in text
    assert SECRET not in json.dumps(check.parts[0].diffs)


def test_check_mode_predicts_and_writes_nothing():
    phones = {'gs1': FixturePhone.of_model('GRP2614'), 'gs2': FixturePhone.of_model('GXP1628')}
    check, report = run(phones, {'P30': 'ntp.example.net', 'P34': SECRET}, check_mode=True)
    assert [row['status'] for row in report['phones']] == ['changed', 'changed']
    assert [row['unverified'] for row in report['phones']] == [['P34'], ['P34']]
    for phone in phones.values():
        assert not [function for function in phone.functions() if function in WRITES]
        assert phone.functions().count('dologin') == 1
    assert '2 would change' in check.message(report) and 'check mode: nothing was written' in check.message(report)


def test_the_csv_report_lists_keys_never_values():
    phones = {'gs1': FixturePhone.of_model('WP826')}
    check, report = run(phones, {'P30': 'ntp.example.net', 'P34': SECRET})
    table = list(csv.DictReader(io.StringIO(config_push.CONFIG_REPORTS['csv'][1](report))))
    assert [(row['name'], row['status'], row['changed_keys'], row['unverified']) for row in table] == [
        ('gs1', 'changed', 'P30 P34', 'P34')]
    assert 'ntp.example.net' not in config_push.CONFIG_REPORTS['json'][1](report)
    assert phones['gs1'].settings.get('P34') == SECRET
