"""A stand-in for the AWX REST API (/api/v2/) on 127.0.0.1, for running extensions/awx/apply.yml in tests."""

import http.server
import itertools
import json
import threading
from urllib.parse import parse_qsl, urlsplit


class FakeAWX(http.server.ThreadingHTTPServer):
    """Just enough of the AWX REST API (/api/v2/) for the awx.awx modules that apply.yml uses.

    Objects live in memory per endpoint; list views filter on the query parameters, creation answers 201, updates
    PATCH the object, associations (credentials of a job template) and survey specs are sub-resources, and project
    updates finish at once. It stores what the modules send, so a test reads exactly what AWX would be given.
    As AWX does, it refuses a schedule whose extra_data its job template would not take at launch.
    """

    TOKEN = 'fake-awx-token'
    ASSOCIATIONS = ('credentials', 'labels', 'instance_groups', 'notification_templates_started',
                    'notification_templates_success', 'notification_templates_error', 'galaxy_credentials',
                    'success_nodes', 'failure_nodes', 'always_nodes')
    UNIFIED = ('job_templates', 'workflow_job_templates', 'projects', 'inventory_sources')

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _FakeAWXHandler)
        self.ids = itertools.count(1)
        self.objects = {}       # endpoint -> {id: object}
        self.associated = {}    # (endpoint, id, association) -> [ids]
        self.surveys = {}       # job template id -> survey spec
        self.requests = []      # (method, path) of every request
        self.create('organizations', {'name': 'Default'})
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server_address[1]

    def create(self, endpoint, fields):
        object_id = next(self.ids)
        url = '/api/v2/%s/%d/' % (endpoint, object_id)
        item = dict(fields, id=object_id, type=endpoint[:-1], url=url, summary_fields={},
                    related={name: url + name + '/' for name in self.ASSOCIATIONS + ('survey_spec', 'update')})
        if endpoint == 'projects':
            update = self.create('project_updates', {'status': 'successful', 'finished': '2025-01-01T00:00:00Z',
                                                     'failed': False, 'scm_revision': 'f00d'})
            item.update(scm_revision='f00d', summary_fields={'current_update': {'id': update['id']}})
        self.objects.setdefault(endpoint, {})[object_id] = item
        return item

    def refused_extra_data(self, schedule):
        """Why AWX would refuse a schedule's extra_data (None when it would not): a variable must be a question of the
        template's enabled survey, unless the template asks for variables at launch."""
        variables = set(schedule.get('extra_data') or {})
        template = next((self.objects.get(endpoint, {}).get(schedule.get('unified_job_template'))
                         for endpoint in self.UNIFIED if schedule.get('unified_job_template') in self.objects.get(endpoint, {})),
                        None)
        if not variables or template is None or template.get('ask_variables_on_launch'):
            return None
        survey = self.surveys.get(template['id'], {}) if template.get('survey_enabled') else {}
        refused = variables - {question['variable'] for question in survey.get('spec', [])}
        if refused:
            return ('Variables %s are not allowed on launch. Check the Prompt on Launch setting on the %s to include '
                    'the Extra Variables.' % (', '.join(sorted(refused)), template['type']))
        return None

    def find(self, endpoint, query):
        endpoints = self.UNIFIED if endpoint == 'unified_job_templates' else (endpoint,)
        found = []
        for name in endpoints:
            for item in self.objects.get(name, {}).values():
                either = [(key[4:], value) for key, value in query.items() if key.startswith('or__')]
                plain = [(key, value) for key, value in query.items()
                         if not key.startswith('or__') and key not in ('page_size', 'page')]
                if all(str(item.get(key)) == value for key, value in plain) \
                        and (not either or any(str(item.get(key)) == value for key, value in either)):
                    found.append(item)
        return found


class _FakeAWXHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def answer(self, status, body=None):
        data = b'' if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.send_header('X-API-Product-Name', 'AWX')
        self.send_header('X-API-Product-Version', '24.6.1')
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        awx = self.server
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        awx.requests.append((method, parts.path))
        if self.headers.get('Authorization') != 'Bearer %s' % awx.TOKEN:
            return self.answer(401, {'detail': 'Authentication credentials were not provided.'})
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length) or b'{}') if length else {}
        path = [part for part in parts.path.split('/') if part]
        if path[:2] != ['api', 'v2'] or len(path) < 3:
            return self.answer(404, {'detail': 'Not found.'})
        endpoint, rest = path[2], path[3:]
        if not rest:
            if method == 'GET':
                results = awx.find(endpoint, query)
                return self.answer(200, {'count': len(results), 'next': None, 'previous': None, 'results': results})
            if method == 'POST':
                refused = awx.refused_extra_data(body) if endpoint == 'schedules' else None
                if refused:
                    return self.answer(400, {'extra_data': [refused]})
                return self.answer(201, awx.create(endpoint, body))
        item = awx.objects.get(endpoint, {}).get(int(rest[0])) if rest[0].isdigit() else None
        if item is None:
            return self.answer(404, {'detail': 'Not found.'})
        if len(rest) == 1:
            if method == 'GET':
                return self.answer(200, item)
            if method == 'PATCH':
                refused = awx.refused_extra_data(dict(item, **body)) if endpoint == 'schedules' else None
                if refused:
                    return self.answer(400, {'extra_data': [refused]})
                item.update(body)
                return self.answer(200, item)
            if method == 'DELETE':
                del awx.objects[endpoint][item['id']]
                return self.answer(204)
        elif rest[1] == 'survey_spec':
            if method == 'GET':
                return self.answer(200, awx.surveys.get(item['id'], {}))
            if method == 'POST':
                awx.surveys[item['id']] = body
                return self.answer(200, {})
        elif rest[1] in awx.ASSOCIATIONS:
            key = (endpoint, item['id'], rest[1])
            ids = awx.associated.setdefault(key, [])
            if method == 'GET':
                results = [{'id': object_id} for object_id in ids]
                return self.answer(200, {'count': len(results), 'next': None, 'results': results})
            if method == 'POST':
                if body.get('disassociate'):
                    ids.remove(body['id'])
                else:
                    ids.append(body['id'])
                return self.answer(204)
        return self.answer(405, {'detail': 'Method "%s" not allowed.' % method})

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.handle_any('GET')

    def do_POST(self):  # noqa: N802
        self.handle_any('POST')

    def do_PATCH(self):  # noqa: N802
        self.handle_any('PATCH')

    def do_DELETE(self):  # noqa: N802
        self.handle_any('DELETE')
