"""`make demo` end to end: what the demo shows, from the README's first block run in an empty directory (the fixture
readme_first_block in conftest.py: a copy of the tree, then `make demo`, once for this test and test_quick_start.py)."""

import csv
import json
import re


def test_demo_runs_the_audit_and_the_rolling_reboot(readme_first_block):
    proc, clone = readme_first_block
    output = clone / 'demo-output'
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]

    audit = json.loads((output / 'audit' / 'registration_audit.json').read_text())
    statuses = {phone['name']: phone['status'] for phone in audit['phones']}
    assert len(statuses) == 50
    assert {name: status for name, status in statuses.items() if status != 'registered'} == {
        'hq-lobby': 'unregistered', 'hq-kitchen': 'unregistered', 'branch-storage': 'unreachable',
        'hq-training': 'auth_failed'}

    outdated = [phone['name'] for phone in audit['phones'] if phone['firmware_status'] == 'outdated']
    assert outdated == ['branch-gxp01', 'branch-gxp02']
    assert (audit['summary']['firmware_outdated'], audit['summary']['default_password']) == (2, 1)
    assert {phone['name']: phone['auth'] for phone in audit['phones']}['branch-wp01'] == 'session'
    assert 'Firmware (minimums GXP16* 1.0.7.81, WP8* 1.0.3.35): 2 below the minimum' in text

    reboot = json.loads((output / 'reboot' / 'rolling_reboot.json').read_text())
    phones = {phone['name']: phone for phone in reboot['phones']}
    assert {name: phone['outcome'] for name, phone in phones.items() if phone['outcome'] != 'rebooted'} == {
        'branch-ceo': 'skipped_busy', 'branch-storage': 'unreachable', 'hq-training': 'auth_failed'}
    assert phones['hq-reception']['timings']['busy_wait'] > 0, 'the call that ends was waited for, then rebooted'
    assert reboot['summary']['rebooted'] == 47

    # What the demo prints: the summary of both runs and where the reports are.
    assert 'Audit: 46 of 50 phones registered' in text
    assert 'Rolling reboot: 47 rebooted, 1 skipped_busy, 1 unreachable, 1 auth_failed' in text
    assert str(output / 'audit' / 'registration_audit.html') in text
    # The phones' own pushes reached the EDA source during the reboot: every rebooted phone said so.
    assert re.search(r'the action_url source received \d+ events pushed by 47 phones \(47 reboot, 45 registered, '
                     r'47 setup_completed\)', text), text[-2000:]
    # The security posture the audit read in the same visit: per check its counts and the failing phones, by name.
    posture = audit['summary']['posture']
    assert (posture['factory_password']['fail'], posture['firmware_cve']['fail']) == (1, 2)
    assert re.search(r'factory_password +1 fail, +%d pass, +%d unknown: branch-wp01\n' % (
        posture['factory_password']['pass'], posture['factory_password']['unknown']), text), text[-3000:]
    assert re.search(r'firmware_cve +2 fail, .*: branch-gxp01, branch-gxp02\n', text), text[-3000:]
    for name in ('registration_audit.json', 'registration_audit.html', 'rolling_reboot.json', 'rolling_reboot.junit.xml'):
        assert name in text

    # The audit found two outdated phones; the rollout upgraded exactly those, proven by their version; the audit after
    # it finds none.
    upgrade = json.loads((output / 'firmware' / 'firmware_upgrade.json').read_text())
    upgraded = sorted(phone['name'] for phone in upgrade['phones'] if phone['outcome'] == 'upgraded')
    assert upgraded == outdated
    assert {phone['name']: (phone['from_version'], phone['version']) for phone in upgrade['phones']
            if phone['outcome'] == 'upgraded'} == {name: ('1.0.7.70', '1.0.7.81') for name in outdated}
    assert 'Firmware upgrade (GXP16* to 1.0.7.81): 2 upgraded' in text
    after = json.loads((output / 'audit-after-upgrade' / 'registration_audit.json').read_text())
    assert after['summary']['firmware_outdated'] == 0
    assert 'After: the audit finds 0 phones below the minimum firmware.' in text

    with open(output / 'inventory' / 'phones.csv', newline='', encoding='utf-8') as handle:
        passcodes = {row['passcode'] for row in csv.DictReader(handle) if row['passcode']}
    assert passcodes
    for path in [None] + sorted((output / 'audit').iterdir()) + sorted((output / 'reboot').glob('*.*')) \
            + sorted((output / 'firmware').glob('*.*')):
        content = text if path is None else path.read_text(encoding='utf-8')
        for passcode in passcodes:
            assert passcode not in content, 'a passcode leaked into %s' % (path or 'the demo output')
