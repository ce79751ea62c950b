# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canned phone answers behind fake transports, for the fan-out and audit tests (no network)."""

import time

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIConnection
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import audit
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import FleetTarget, fan_out
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.fake_http import FakeResponse, FakeTransportBase

PASSCODE = 'S3cr&t#pw'

ACCOUNT_OK = {'id': 1, 'sip_server': 'pbx.example.net', 'sip_id': '1001', 'name': 'office', 'reg': 1}
ACCOUNT_DOWN = {'id': 2, 'sip_server': 'pbx.example.net', 'sip_id': '1002', 'name': 'lab', 'reg': 0}
ACCOUNT_EMPTY = {'id': 3, 'sip_server': '', 'sip_id': '', 'name': '', 'reg': 0}


def success(body, **extra):
    return FakeResponse(body=dict({'response': 'success', 'body': body}, **extra))


class FakePhone(FakeTransportBase):
    """A session for one phone: answers per CTI function (a FakeResponse, an exception, or a list of them in turn)."""

    def __init__(self, answers, delay=0.0):
        self.answers = dict(answers)
        self.delay = delay
        self.calls = []
        self.closed = False

    def get(self, url, params=None, timeout=None, verify=None, allow_redirects=None):
        function = url.rsplit('/', 1)[-1]
        self.calls.append(function)
        if self.delay:
            time.sleep(self.delay)
        if function not in self.answers:  # what the phone does not know: 404 (model.define.js of older firmware...)
            return FakeResponse(404, raw=b'<html>404 Not Found</html>', content_type='text/html')
        answer = self.answers[function]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self):
        self.closed = True


def healthy(accounts=None, status='available'):
    return {'api-get_accounts': success([ACCOUNT_OK, ACCOUNT_EMPTY] if accounts is None else accounts),
            'api-get_phone_status': success(status, misc='0')}


def make_targets(count, prefix='gs'):
    return [FleetTarget('%s%04d' % (prefix, number), CTIConnection('10.1.4.%d' % number, passcode=PASSCODE, name='%s%04d' % (prefix, number)),
                        {'site': 'hq', 'model': 'GRP2614'}) for number in range(1, count + 1)]


def run_audit(phones, required=None, **kwargs):
    """phones: {name: FakePhone}; returns (records by name, fan-out results by name)."""
    targets = [FleetTarget(name, CTIConnection('10.1.4.%d' % index, passcode=PASSCODE, port=8080, name=name),
                           {'site': 'hq', 'model': 'GRP2614'})
               for index, name in enumerate(sorted(phones), 1)]
    results = fan_out(targets, audit.audit_registration(required), transport_factory=lambda target: phones[target.name], **kwargs)
    records = [audit.registration_record(result, target) for result, target in zip(results, targets)]
    return dict((record['name'], record) for record in records), dict((result['name'], result) for result in results)
