"""Both playbooks through ``ansible-runner run``, with a private data directory laid out as AWX lays it out.

    <private data dir>/
      env/envvars        what an AWX credential injects: GRANDSTREAM_PASSCODE (plus where the collection is)
      env/extravars      job template extra vars and survey answers
      env/settings       runner settings (a job timeout)
      inventory/         the CSV inventory configuration and its CSV file, as in the project
      project/playbooks/ copies of the collection's playbooks (an AWX project holds its own copies)
      artifacts/<ident>/ written by ansible-runner: job_events/*.json, stdout, status, rc

The simulated phones share one passcode, which only env/envvars carries (the CSV has no passcode column, and
GRANDSTREAM_PASSCODE is removed from the environment the runner starts in). Assertions are on what AWX reads:
the job events (runner_on_ok of the fleet task, playbook_on_stats), the ``set_stats`` data (``artifact_data`` of
the playbook_on_stats event, which AWX stores as the job's artifacts), the status, and the report files.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSCODE = 'Runner-Fleet-Secret-7'
AWX_OBJECTS = REPO / 'extensions' / 'awx' / 'objects.yml'
AWX_REPORT_ROOT = '/var/lib/phonefleet/reports'
CSV_COLUMNS = ('name', 'host', 'port', 'scheme', 'site', 'model')  # no passcode: the credential gives it


def ansible_runner():
    path = BIN / 'ansible-runner'
    if not path.exists():
        pytest.fail('ansible-runner is not installed next to %s: run `make venv` (requirements-dev.txt pins it)'
                    % sys.executable)
    return path


class _Loader(yaml.SafeLoader):
    """Reads Ansible YAML: ``!unsafe`` strings are plain strings here."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def awx_extravars(template_key, report_root, job_id, **answers):
    """What AWX writes to env/extravars for a job of that template (extensions/awx/objects.yml): the template's
    extra vars (report paths moved under ``report_root``), AWX's own awx_* variables and the survey answers."""
    with open(AWX_OBJECTS, encoding='utf-8') as handle:
        template = yaml.load(handle, Loader=_Loader)[template_key]  # noqa: S506 - a SafeLoader subclass
    extravars = {key: value.replace(AWX_REPORT_ROOT, str(report_root)) if isinstance(value, str) else value
                 for key, value in template.get('extra_vars', {}).items()}
    extravars.update(awx_job_id=job_id, awx_job_template_name=template['name'], tower_job_id=job_id)
    extravars.update(answers)
    return extravars


def collection_playbook(name):
    path = REPO / 'playbooks' / name
    assert path.is_file(), 'playbooks/%s is missing: this test waits for it' % name
    return path


@pytest.fixture
def private_data_dir(tmp_path):
    """Returns make(fleet, playbook names, extravars) -> the private data directory."""

    def make(fleet, playbooks, extravars):
        pdd = tmp_path / 'pdd'
        for sub in ('env', 'inventory', 'project/playbooks'):
            (pdd / sub).mkdir(parents=True, exist_ok=True)
        collections = tmp_path / 'collections'
        (collections / 'ansible_collections' / 'phonefleet').mkdir(parents=True)
        (collections / 'ansible_collections' / 'phonefleet' / 'grandstream').symlink_to(REPO)

        fleet.write_csv(pdd / 'inventory' / 'office.csv', columns=CSV_COLUMNS)
        (pdd / 'inventory' / 'office.grandstream.yml').write_text(
            'plugin: phonefleet.grandstream.csv\npath: office.csv\n', encoding='utf-8')
        for name in playbooks:
            shutil.copy(collection_playbook(name), pdd / 'project' / 'playbooks' / name)

        envvars = {
            'GRANDSTREAM_PASSCODE': PASSCODE,
            'ANSIBLE_COLLECTIONS_PATH': str(collections),
            'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED': 'true',
            'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
            'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'ansible-tmp'),
            'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        }
        (pdd / 'env' / 'envvars').write_text(yaml.safe_dump(envvars), encoding='utf-8')
        (pdd / 'env' / 'extravars').write_text(yaml.safe_dump(extravars), encoding='utf-8')
        (pdd / 'env' / 'settings').write_text(yaml.safe_dump({'job_timeout': 100}), encoding='utf-8')
        return pdd

    return make


class RunnerJob:
    def __init__(self, pdd, ident, proc):
        self.pdd = pdd
        self.ident = ident
        self.proc = proc
        self.artifacts = pdd / 'artifacts' / ident
        self.events = [json.loads(path.read_text()) for path in (self.artifacts / 'job_events').glob('*.json')]
        self.events.sort(key=lambda event: event['counter'])

    @property
    def status(self):
        return (self.artifacts / 'status').read_text().strip()

    @property
    def stdout(self):
        return (self.artifacts / 'stdout').read_text()

    def describe(self):
        return 'ansible-runner rc %s\n%s\n%s\nartifact stdout:\n%s' % (
            self.proc.returncode, self.proc.stdout[-5000:], self.proc.stderr[-5000:],
            self.stdout[-8000:] if (self.artifacts / 'stdout').exists() else '(none)')

    def of(self, event_name, **match):
        return [event for event in self.events if event['event'] == event_name
                and all(event['event_data'].get(key) == value for key, value in match.items())]

    def stats(self):
        stats = self.of('playbook_on_stats')
        assert len(stats) == 1, self.describe()
        return stats[0]['event_data']

    def assert_no_passcode(self):
        """Nothing that AWX stores or shows (job events, stdout) holds the passcode.

        ``artifacts/<ident>/command`` is ansible-runner's own record of the environment it started
        ansible-playbook with, so it holds what env/envvars holds; like env/envvars it is private to its owner.
        """
        checked = 0
        for path in self.artifacts.rglob('*'):
            if not path.is_file():
                continue
            if path.name == 'command':
                assert path.stat().st_mode & 0o077 == 0, '%s is readable by others' % path
                continue
            assert PASSCODE not in path.read_text(errors='replace'), 'the passcode leaked into %s' % path
            checked += 1
        assert checked > len(self.events)


def runner_run(pdd, playbook, ident):
    env = dict(os.environ)
    env.pop('GRANDSTREAM_PASSCODE', None)
    env['PATH'] = '%s%s%s' % (BIN, os.pathsep, env.get('PATH', ''))
    # AWX hands ansible-playbook one inventory source; the directory would also feed the CSV to the ini plugin.
    args = [str(ansible_runner()), 'run', str(pdd), '--playbook', 'playbooks/%s' % playbook, '--ident', ident,
            '--inventory', str(pdd / 'inventory' / 'office.grandstream.yml')]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=110, check=False)
    job = RunnerJob(pdd, ident, proc)
    assert job.events, job.describe()
    return job


def test_registration_audit_through_ansible_runner(sim_fleet, private_data_dir, tmp_path):
    fleet = sim_fleet(count=5, passcode=PASSCODE)
    fleet.phones[3].set_fault('unregistered')
    unregistered = fleet.phones[3].spec.name
    # The job template's extra vars put the reports of each job into <launch>/<job>: a job launched on its own (no
    # awx_workflow_job_id, which the slices of a sliced job share) is its own launch.
    extravars = awx_extravars('grandstream_awx_audit_template', tmp_path / 'reports', 4242,
                              registration_audit_fail_under=50)
    report_dir = tmp_path / 'reports' / 'registration_audit' / '4242' / '4242'
    pdd = private_data_dir(fleet, ['registration_audit.yml'], extravars)

    job = runner_run(pdd, 'registration_audit.yml', 'audit')

    assert job.proc.returncode == 0, job.describe()
    assert job.status == 'successful', job.describe()
    assert (job.artifacts / 'rc').read_text().strip() == '0'
    names = sorted(phone.spec.name for phone in fleet.phones)

    # The fleet task ran once (run_once: it fans out over the play's phones from one task).
    fleet_tasks = job.of('runner_on_ok', task_action='phonefleet.grandstream.fleet_registration_info')
    assert len(fleet_tasks) == 1, job.describe()
    assert fleet_tasks[0]['event_data']['res']['changed'] is False
    assert not job.of('runner_on_failed') and not job.of('runner_on_unreachable'), job.describe()

    stats = job.stats()
    assert not stats['failures'] and not stats['dark'], stats
    # set_stats: what AWX keeps as the job's artifacts and hands to the next workflow node.
    audit = stats['artifact_data']['registration_audit']
    summary = audit['summary']
    assert summary['total'] == 5
    assert summary['registered'] == 4
    assert summary['unregistered'] == 1
    assert summary['compliance_percent'] == 80
    assert audit['non_compliant'] == [unregistered]
    assert int(audit['non_compliant_count']) == 1

    report = json.loads((report_dir / 'registration_audit.json').read_text())
    assert report['summary'] == summary
    assert sorted(phone['name'] for phone in report['phones']) == names
    statuses = {phone['name']: phone['status'] for phone in report['phones']}
    assert statuses.pop(unregistered) == 'unregistered'
    assert set(statuses.values()) == {'registered'}

    # Only env/envvars carried the passcode, and the phones accepted it; it appears in no artifact.
    assert not fleet.events(event='auth_failed')
    job.assert_no_passcode()


def test_registration_audit_below_threshold_fails_the_job_after_the_report(sim_fleet, private_data_dir, tmp_path):
    fleet = sim_fleet(count=2, passcode=PASSCODE)
    fleet.phones[0].set_fault('unregistered')
    report_dir = tmp_path / 'reports' / 'audit'
    pdd = private_data_dir(fleet, ['registration_audit.yml'], {'registration_audit_report_dir': str(report_dir)})

    job = runner_run(pdd, 'registration_audit.yml', 'audit-fail')

    assert job.status == 'failed', job.describe()
    assert job.proc.returncode != 0
    assert job.of('runner_on_failed'), job.describe()
    stats = job.stats()
    assert stats['artifact_data']['registration_audit']['summary']['compliance_percent'] == 50
    assert json.loads((report_dir / 'registration_audit.json').read_text())['summary']['unregistered'] == 1
    job.assert_no_passcode()


def open_window():
    """A maintenance window around now (controller local time), as the survey's rolling_reboot_window asks it."""
    now = datetime.datetime.now()
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=2)
    return '%s-%s' % (start.strftime('%H:%M'), end.strftime('%H:%M'))


def most_phones_down_at_once(fleet):
    down = 0
    most = 0
    for event in sorted(fleet.events(event=('down', 'up')), key=lambda event: event['t']):
        down += 1 if event['event'] == 'down' else -1
        most = max(most, down)
    return most


def test_rolling_reboot_through_ansible_runner(sim_fleet, private_data_dir, tmp_path):
    fleet = sim_fleet(count=4, passcode=PASSCODE, down_time=0.5, register_delay=0.2, save_delay=0.1)
    # The survey's three answers (extensions/awx/objects.yml) arrive as extra vars, with the template's own.
    extravars = awx_extravars('grandstream_awx_reboot_template', tmp_path / 'reports', 4243,
                              rolling_reboot_batch_size='2', rolling_reboot_max_fail_percent=0,
                              rolling_reboot_window=open_window())
    report_dir = Path(extravars['rolling_reboot_report_dir'])
    assert report_dir.is_relative_to(tmp_path)
    pdd = private_data_dir(fleet, ['rolling_reboot.yml'], extravars)

    job = runner_run(pdd, 'rolling_reboot.yml', 'reboot')

    assert job.proc.returncode == 0, job.describe()
    assert job.status == 'successful', job.describe()
    names = sorted(phone.spec.name for phone in fleet.phones)
    assert sorted(event['phone'] for event in fleet.events(event='reboot')) == names
    assert most_phones_down_at_once(fleet) <= 2

    stats = job.stats()
    assert not stats['failures'] and not stats['dark'], stats
    reboot = stats['artifact_data']['rolling_reboot']
    assert reboot['summary']['rebooted'] == 4, reboot

    report = json.loads((report_dir / 'rolling_reboot.json').read_text())
    assert sorted(phone['name'] for phone in report['phones']) == names
    assert {phone['outcome'] for phone in report['phones']} == {'rebooted'}
    assert len({phone['batch'] for phone in report['phones']}) == 2  # 4 phones in batches of 2
    job.assert_no_passcode()
