"""What hostile phones cost the controller: 40 phones that each answer 29,000 accounts (just under the 1 MiB body cap)
and 40 that answer with every string 250 KB long, audited by the registration_audit playbook.

Prints the controller's peak memory (ansible-playbook and its workers) and the size of each report. Before the client
bounded what one phone can put in memory and in a report (0.2.0), 40 such phones cost about 1.9 GB and 291 MB of
reports; the audit now keeps at most 64 accounts and 256 characters a string per phone, and says what it cut.
Nothing is asserted."""

import csv
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'integration'))

from benchlib import REPO, ansible_env  # noqa: E402
from hostile_phones import HostilePhone, cti_json  # noqa: E402

PHONES = 40
ACCOUNTS = '{"response":"success","body":[%s]}' % ','.join('{"id":%d,"reg":1,"sip_id":"1"}' % n for n in range(29000))
LONG = '{"response":"success","body":[{"id":1,"reg":1,"sip_id":"%s","name":"%s"}]}' % ('1' * 250000, 'n' * 250000)


def answer_with(accounts):
    def answer(request):
        if request['path'].endswith('/api-get_accounts'):
            return cti_json(accounts)
        return cti_json({'response': 'success', 'body': 'available', 'misc': '0'})
    return answer


def main():
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        phones = [HostilePhone('127.66.1.%d' % (index + 1), answer_with(ACCOUNTS if index % 2 == 0 else LONG))
                  for index in range(PHONES)]
        try:
            with (work / 'phones.csv').open('w', newline='') as stream:
                writer = csv.writer(stream)
                writer.writerow(['name', 'host', 'port', 'passcode'])
                for index, phone in enumerate(phones):
                    writer.writerow(['hostile%02d' % index, phone.host, phone.port, 'Bench-S3cret-%d' % index])
            (work / 'phones.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(work / 'phones.grandstream.yml'),
                                   str(REPO / 'playbooks' / 'registration_audit.yml'),
                                   '-e', 'registration_audit_report_dir=%s' % (work / 'reports'),
                                   '-e', 'registration_audit_fail_under=0', '-e', 'registration_audit_device_info=false'],
                                  env=ansible_env(work), capture_output=True, text=True, check=False)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        finally:
            for phone in phones:
                phone.stop()
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            sys.exit('the audit failed')
        report = json.loads((work / 'reports' / 'registration_audit.json').read_text())
        kept = max(len(phone['accounts']) for phone in report['phones'])
        print('%d hostile phones (half 29,000 accounts, half 250 KB strings): peak RSS of one child %.0f MB '
              '(before the run: %.0f MB); at most %d accounts kept per phone' % (PHONES, peak / 1024.0, before / 1024.0, kept))
        for path in sorted((work / 'reports').iterdir()):
            print('  %-32s %8.1f KB' % (path.name, path.stat().st_size / 1024.0))


if __name__ == '__main__':
    main()
