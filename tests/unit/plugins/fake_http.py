# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of a requests session and response that the CTI client's transport (module_utils/cti_http.py) uses,
for the unit tests' fake phones: ``session.request(...)`` and ``response.iter_content()``."""

import json


class FakeResponse(object):
    def __init__(self, status=200, body=None, raw=None, content_type='text/plain;charset=UTF-8'):
        self.status_code = status
        self.headers = {'Content-Type': content_type}
        self.content = raw if raw is not None else json.dumps(body).encode()
        self.closed = False

    def iter_content(self, chunk_size=1):
        for start in range(0, len(self.content), chunk_size):
            yield self.content[start:start + chunk_size]

    def close(self):
        self.closed = True


class FakeSessionBase(object):
    """A subclass answers ``get(url, params, ...)`` (and ``post(url, data, headers, ...)`` for the session dialect)."""

    trust_env = True

    def request(self, method, url, params=None, data=None, headers=None, timeout=None, verify=None,
                allow_redirects=None, stream=None):
        if method == 'GET':
            return self.get(url, params=params, timeout=timeout, verify=verify, allow_redirects=allow_redirects)
        return self.post(url, params=params, data=data, headers=headers, timeout=timeout, verify=verify)

    def post(self, url, params=None, data=None, headers=None, timeout=None, verify=None):
        raise AssertionError('this fake phone speaks the passcode dialect only (POST %s)' % url)

    def close(self):
        pass
