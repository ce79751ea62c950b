"""Execution environment (ansible-builder) and AWX objects as code (extensions/awx/).

- meta/execution-environment.yml tells ansible-builder the collection needs no Python or system package, and the
  plugins indeed import only the standard library and ansible.
- Both shipped EE definitions (extensions/ee/execution-environment.yml from Galaxy, extensions/ee/from-tarball/ from a
  collection tarball) go through ``ansible-builder create`` as they are, with every network connection refused; the
  generated galaxy stage is replayed (``ansible-galaxy collection install`` from ``_build/``) and
  ``ansible-builder introspect`` finds nothing to add for the collection.
  docs/execution-environment.md shows the Galaxy definition verbatim.
- extensions/awx/apply.yml passes ``ansible-playbook --syntax-check`` and ansible-lint with the real awx.awx
  collection (bundled in the pinned ``ansible`` package, requirements-dev.txt); every task option exists
  in the awx.awx module it calls; the objects keep the rules of docs/awx.md (the reboot is never sliced, the merge
  follows the audit and finds every slice's reports, ...); apply.yml runs against fake_awx.FakeAWX.
"""

import ast
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from fake_awx import FakeAWX  # tests/integration/fake_awx.py

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE_DOC = REPO / 'docs' / 'execution-environment.md'
EE_DIR = REPO / 'extensions' / 'ee'
EE_TARBALL_DIR = EE_DIR / 'from-tarball'
AWX_DIR = REPO / 'extensions' / 'awx'
TARBALL_NAME = 'phonefleet-grandstream.tar.gz'

# Imported first by every Python process of a command (through PYTHONPATH): any attempt to open a network
# connection (other than a Unix socket) fails loudly, so a command that passes needs no network.
NO_NETWORK_SITECUSTOMIZE = '''
import socket

_connect = socket.socket.connect


def _refuse(self, address, *args, **kwargs):
    if self.family == getattr(socket, 'AF_UNIX', None):
        return _connect(self, address, *args, **kwargs)
    raise OSError('test_awx_ee: network connection to %r attempted' % (address,))


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''


class _Loader(yaml.SafeLoader):
    """Reads Ansible YAML: ``!unsafe`` strings are plain strings here."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def load_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def tool(name):
    path = BIN / name
    if not path.exists():
        pytest.fail('%s is not installed next to %s: run `make venv` (requirements-dev.txt pins it)'
                    % (name, sys.executable))
    return str(path)


@pytest.fixture(scope='module')
def offline_env(tmp_path_factory):
    guard = tmp_path_factory.mktemp('no-network')
    (guard / 'sitecustomize.py').write_text(NO_NETWORK_SITECUSTOMIZE)
    env = dict(os.environ)
    env.pop('GRANDSTREAM_PASSCODE', None)
    env.update(
        PYTHONPATH=str(guard),
        PATH='%s%s%s' % (BIN, os.pathsep, os.environ.get('PATH', '')),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_LOCAL_TEMP=str(guard / 'tmp'),
        ANSIBLE_COLLECTIONS_PATH=str(guard / 'no-collections'),
        ANSIBLE_GALAXY_SERVER='http://127.0.0.1:9/',  # not used; anything that tries must fail
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        NO_COLOR='1',
    )
    # The guard really refuses: a connection attempt from a child Python process fails with our message.
    probe = subprocess.run([sys.executable, '-c', 'import socket; socket.create_connection(("127.0.0.1", 9), 1)'],
                           env=env, capture_output=True, text=True, check=False)
    assert 'network connection' in probe.stderr, probe.stderr
    return env


def run(args, env, cwd=None, timeout=300):
    proc = subprocess.run([str(arg) for arg in args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    proc.output = 'command: %s\nrc: %s\nstdout:\n%s\nstderr:\n%s' % (
        ' '.join(shlex.quote(str(arg)) for arg in args), proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope='module')
def collection_tarball(tmp_path_factory, offline_env):
    out = tmp_path_factory.mktemp('build')
    proc = run([tool('ansible-galaxy'), 'collection', 'build', REPO, '--output-path', out], offline_env)
    assert proc.returncode == 0, proc.output
    tarballs = list(out.glob('phonefleet-grandstream-*.tar.gz'))
    assert len(tarballs) == 1, proc.output
    return tarballs[0]


def create_context(tmp_path, definition, env):
    """Run ``ansible-builder create`` on an EE definition file where it lies; returns the context directory."""
    context = tmp_path / 'context'
    proc = run([tool('ansible-builder'), 'create', '--file', definition, '--context', context,
                '--output-filename', 'Containerfile', '-v3'], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    assert 'network connection' not in proc.output, proc.output
    assert 'No matches' not in proc.output, proc.output  # an additional_build_files source that is not there
    return context


def copy_definition_dir(source, target, files=()):
    """The shipped definition directory (its tracked files only), plus build inputs such as a collection tarball."""
    target.mkdir()
    for path in sorted(source.iterdir()):
        if path.is_file() and not path.name.endswith('.tar.gz'):
            (target / path.name).write_bytes(path.read_bytes())
    for name, path in files:
        (target / name).write_bytes(Path(path).read_bytes())
    return target / 'execution-environment.yml'


def galaxy_install_step(containerfile_text):
    """The ``RUN ... ansible-galaxy collection install ...`` line of the galaxy stage."""
    steps = [line for line in containerfile_text.splitlines()
             if line.startswith('RUN ') and 'ansible-galaxy collection install' in line]
    assert len(steps) == 1, containerfile_text
    return steps[0][len('RUN '):]


def replay_galaxy_stage(context, target, env):
    """Run the galaxy stage's collection install on this machine, in _build/ as the container does in /build."""
    words = shlex.split(galaxy_install_step((context / 'Containerfile').read_text()))
    step_env = dict(env)
    while '=' in words[0]:
        key, value = words.pop(0).split('=', 1)
        step_env[key] = value
    words = [word for word in words if word != '$ANSIBLE_GALAXY_CLI_COLLECTION_OPTS']
    words = [str(target) if word == '/usr/share/ansible/collections' else word for word in words]
    assert words[:3] == ['ansible-galaxy', 'collection', 'install'], words
    proc = run([tool('ansible-galaxy')] + words[1:], step_env, cwd=context / '_build')
    assert proc.returncode == 0, proc.output
    return proc


def introspect(collections_path, env):
    proc = run([tool('ansible-builder'), 'introspect', collections_path], env)
    assert proc.returncode == 0, proc.output
    return yaml.safe_load(proc.stdout[proc.stdout.index('---'):])


# ----- execution environment

def imported_top_modules(path):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split('.')[0]


def test_meta_execution_environment_says_the_collection_needs_nothing_and_it_is_true():
    meta = load_yaml(REPO / 'meta' / 'execution-environment.yml')
    assert meta == {'version': 1, 'dependencies': {}}
    assert not (REPO / 'requirements.txt').exists() and not (REPO / 'bindep.txt').exists()
    # Every module the plugins import is Python's own, ansible-core's or the collection's.
    allowed = set(sys.stdlib_module_names) | {'ansible', 'ansible_collections', '__future__'}
    for path in sorted((REPO / 'plugins').rglob('*.py')):
        foreign = set(imported_top_modules(path)) - allowed
        assert not foreign, '%s imports %s, which the execution environment would not have' % (path.relative_to(REPO),
                                                                                               ', '.join(sorted(foreign)))


def test_ee_from_galaxy_creates_a_context_offline(tmp_path, offline_env):
    definition = load_yaml(EE_DIR / 'execution-environment.yml')
    assert definition['version'] == 3
    context = create_context(tmp_path, EE_DIR / 'execution-environment.yml', offline_env)

    containerfile = (context / 'Containerfile').read_text()
    assert 'FROM base AS galaxy' in containerfile
    assert 'COPY _build /build' in containerfile
    assert 'RUN /output/scripts/check_ansible $PYCMD' in containerfile
    assert '--collections-path "/usr/share/ansible/collections"' in galaxy_install_step(containerfile)
    assert re.search(r'^ARG ANSIBLE_INSTALL_REFS=".*ansible-core>=2\.18.*ansible-runner', containerfile, re.M), containerfile
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    names = [entry['name'] for entry in requirements['collections']]
    assert names == ['phonefleet.grandstream'], requirements
    assert requirements == load_yaml(EE_DIR / 'requirements.yml')
    for script in ('assemble', 'introspect.py', 'install-from-bindep', 'check_galaxy', 'check_ansible', 'entrypoint'):
        assert (context / '_build' / 'scripts' / script).is_file(), script
    # Nothing else to install: no Python or system requirements of its own, nor from the collection.
    assert not (context / '_build' / 'requirements.txt').exists()
    assert not (context / '_build' / 'bindep.txt').exists()


def test_ee_from_a_local_tarball_installs_offline_and_needs_nothing_more(tmp_path, offline_env, collection_tarball):
    definition = copy_definition_dir(EE_TARBALL_DIR, tmp_path / 'ee', files=[(TARBALL_NAME, collection_tarball)])
    assert load_yaml(definition)['version'] == 3
    context = create_context(tmp_path, definition, offline_env)

    copied = context / '_build' / 'collections' / TARBALL_NAME
    assert copied.read_bytes() == collection_tarball.read_bytes()
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert requirements == {'collections': [{'name': 'collections/' + TARBALL_NAME, 'type': 'file'}]}

    # What the galaxy stage does in the container, here: the install needs only the tarball in the context.
    target = tmp_path / 'usr-share-ansible-collections'
    replay_galaxy_stage(context, target, offline_env)
    installed = target / 'ansible_collections' / 'phonefleet' / 'grandstream'
    manifest = json.loads((installed / 'MANIFEST.json').read_text())
    galaxy = load_yaml(REPO / 'galaxy.yml')
    assert manifest['collection_info']['version'] == galaxy['version']
    assert (installed / 'meta' / 'execution-environment.yml').is_file()
    assert (installed / 'extensions' / 'ee' / 'execution-environment.yml').is_file()

    # What the builder stage's introspection finds for the collection: nothing to install.
    found = introspect(target, offline_env)
    assert found.get('python', []) == [] and found.get('system', []) == [], found


def test_both_ee_definitions_build_the_same_image_but_for_the_collection_source():
    from_galaxy = load_yaml(EE_DIR / 'execution-environment.yml')
    from_tarball = load_yaml(EE_TARBALL_DIR / 'execution-environment.yml')
    assert from_tarball.pop('additional_build_files') == [{'src': TARBALL_NAME, 'dest': 'collections'}]
    assert from_galaxy == from_tarball
    assert from_galaxy['dependencies']['galaxy'] == 'requirements.yml'


def test_ee_docs_show_the_shipped_definition_and_how_to_build_it():
    text = EE_DOC.read_text(encoding='utf-8')
    match = re.search(r'<!-- ee-file: extensions/ee/execution-environment.yml -->\s*```yaml\n(.*?)```', text, re.S)
    assert match, '%s does not show extensions/ee/execution-environment.yml after its marker' % EE_DOC.name
    assert match.group(1) == (EE_DIR / 'execution-environment.yml').read_text(encoding='utf-8'), \
        '%s shows another version of extensions/ee/execution-environment.yml' % EE_DOC.name
    for needed in ('extensions/ee/from-tarball/', 'ansible-builder build', '--container-runtime docker', 'podman push',
                   'docker push', TARBALL_NAME):
        assert needed in text, '%s does not mention %s' % (EE_DOC.name, needed)


# ----- AWX objects as code

AWX_TASK_RE = re.compile(r'^awx\.awx\.(\w+)$')
SIMPLE_REF_RE = re.compile(r'^\{\{\s*([\w.]+)\s*(\|\s*default\(omit\)\s*)?\}\}$')


@pytest.fixture(scope='module')
def awx_collection(offline_env):
    proc = run([tool('ansible-galaxy'), 'collection', 'list', 'awx.awx', '--format', 'json'],
               dict(offline_env, ANSIBLE_COLLECTIONS_PATH=''))
    found = {}
    if proc.returncode == 0:
        for path, collections in json.loads(proc.stdout).items():
            if 'awx.awx' in collections:
                found = {'path': Path(path) / 'awx' / 'awx', 'version': collections['awx.awx']['version']}
                break
    if not found:
        pytest.fail('the awx.awx collection is not installed next to ansible-core (%s): run `make venv`; '
                    'requirements-dev.txt pins the "ansible" package, which bundles it.\n%s' % (BIN, proc.output))
    return found


def awx_module_options(awx_collection, module):
    """Options (with aliases) and their docs, from the awx.awx module's DOCUMENTATION and its auth fragment."""
    def documentation(path):
        source = path.read_text(encoding='utf-8')
        match = re.search(r"DOCUMENTATION\s*=\s*r?('''|\"\"\")(.*?)\1", source, re.S)
        assert match, path
        return yaml.safe_load(match.group(2))

    path = awx_collection['path'] / 'plugins' / 'modules' / ('%s.py' % module)
    assert path.is_file(), 'awx.awx %s has no module %s' % (awx_collection['version'], module)
    doc = documentation(path)
    options = dict(doc.get('options') or {})
    auth = documentation(awx_collection['path'] / 'plugins' / 'doc_fragments' / 'auth.py')
    options.update(auth['options'])
    names = {}
    for name, spec in options.items():
        names[name] = spec
        for alias in spec.get('aliases') or ():
            names[alias] = spec
    return names


def lookup(objects, dotted):
    value = objects
    for part in dotted.split('.'):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


TYPES = {'str': str, 'bool': bool, 'int': int, 'float': (int, float), 'dict': dict, 'list': list}


def check_value(task_name, name, value, spec, context, problems):
    match = SIMPLE_REF_RE.match(value) if isinstance(value, str) else None
    if match:
        value = lookup(context, match.group(1))
        if value is None:
            if not match.group(2):
                problems.append('%s: %s refers to %s, which objects.yml does not set' % (task_name, name, match.group(1)))
            return
    elif isinstance(value, str) and '{{' in value:
        return  # an expression: the syntax check and the injector test cover those
    expected = TYPES.get(spec.get('type', 'str'))
    if expected and not isinstance(value, expected):
        problems.append('%s: %s=%r is not of type %s' % (task_name, name, value, spec.get('type', 'str')))
    if spec.get('choices') and value not in spec['choices']:
        problems.append('%s: %s=%r is not one of %s' % (task_name, name, value, spec['choices']))


def test_apply_tasks_use_options_the_awx_modules_have(awx_collection):
    objects = load_yaml(AWX_DIR / 'objects.yml')
    play = load_yaml(AWX_DIR / 'apply.yml')[0]
    used = set()
    problems = []
    for task in play['tasks']:
        actions = [key for key in task if AWX_TASK_RE.match(key)]
        assert actions, 'task %r does not call an awx.awx module by FQCN' % task['name']
        module = AWX_TASK_RE.match(actions[0]).group(1)
        used.add(module)
        options = awx_module_options(awx_collection, module)
        contexts = [objects]
        if 'loop' in task:
            items = lookup(objects, SIMPLE_REF_RE.match(task['loop']).group(1))
            assert items, '%s: loops over nothing' % task['name']
            contexts = [dict(objects, item=item) for item in items]
        for name, value in task[actions[0]].items():
            if name not in options:
                problems.append('%s: awx.awx.%s has no option %s' % (task['name'], module, name))
                continue
            for context in contexts:
                check_value(task['name'], name, value, options[name], context, problems)
    assert not problems, '\n'.join(problems)
    assert {'credential_type', 'credential', 'project', 'inventory', 'inventory_source', 'job_template',
            'schedule'} <= used


def test_apply_playbook_passes_syntax_check(awx_collection, offline_env, tmp_path):
    env = dict(offline_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    proc = run([tool('ansible-playbook'), '--syntax-check', '-i', 'localhost,', AWX_DIR / 'apply.yml'], env)
    assert proc.returncode == 0, proc.output


def test_awx_files_pass_ansible_lint(awx_collection, offline_env):
    env = dict(offline_env)
    env.pop('PYTHONPATH')  # ansible-lint may look for a newer version of itself; --offline keeps it from installing
    env.pop('ANSIBLE_COLLECTIONS_PATH')
    proc = run([tool('ansible-lint'), '--offline', '--profile', 'production', '--nocolor',
                'extensions/awx/apply.yml', 'extensions/awx/objects.yml'], env, cwd=REPO, timeout=110)
    assert proc.returncode == 0, proc.output


def render_injectors(tmp_path, offline_env, as_extra_var):
    """Evaluate apply.yml's own injectors expression with objects.yml, the way ansible-playbook does."""
    play = load_yaml(AWX_DIR / 'apply.yml')[0]
    task = next(task for task in play['tasks'] if 'awx.awx.credential_type' in task)
    expression = task['awx.awx.credential_type']['injectors']
    playbook = tmp_path / 'render.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'Render', 'hosts': 'localhost', 'gather_facts': False,
        'vars_files': [str(AWX_DIR / 'objects.yml')],
        'tasks': [{'name': 'Injectors', 'ansible.builtin.copy': {
            'content': '{{ (%s) | to_json }}' % expression.strip()[2:-2], 'dest': str(tmp_path / 'injectors.json')}}],
    }]))
    env = dict(offline_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    proc = run([tool('ansible-playbook'), '-i', 'localhost,', '-c', 'local', playbook,
                '-e', 'grandstream_awx_passcode_as_extra_var=%s' % as_extra_var], env)
    assert proc.returncode == 0, proc.output
    return json.loads((tmp_path / 'injectors.json').read_text())


def test_credential_type_injects_the_passcode_as_awx_template(tmp_path, offline_env):
    objects = load_yaml(AWX_DIR / 'objects.yml')
    credential_type = objects['grandstream_awx_credential_type']
    fields = {field['id']: field for field in credential_type['inputs']['fields']}
    assert fields['passcode']['secret'] is True
    assert fields['passcode']['type'] == 'string'
    assert 'passcode' in credential_type['inputs']['required']
    # AWX renders '{{ passcode }}' when it launches a job: Ansible must hand it over literally.
    assert render_injectors(tmp_path, offline_env, False) == {'env': {'GRANDSTREAM_PASSCODE': '{{ passcode }}'}}
    assert render_injectors(tmp_path, offline_env, True) == {
        'env': {'GRANDSTREAM_PASSCODE': '{{ passcode }}'},
        'extra_vars': {'grandstream_passcode': '{{ passcode }}'},
    }


def test_inventory_source_is_a_csv_inventory_configuration():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    source_path = objects['grandstream_awx_inventory_source']['source_path']
    assert fnmatch.fnmatch(source_path, 'inventory/*grandstream.yml') or fnmatch.fnmatch(source_path, 'inventory/*grandstream.yaml')
    assert objects['grandstream_awx_inventory_source']['overwrite'] is True


def role_options(role):
    path = REPO / 'roles' / role / 'meta' / 'argument_specs.yml'
    assert path.is_file(), '%s is missing: the %s role is not there yet' % (path.relative_to(REPO), role)
    return load_yaml(path)['argument_specs']['main']['options']


def test_reboot_template_is_never_sliced_and_asks_the_survey():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    template = objects['grandstream_awx_reboot_template']
    assert template['job_slice_count'] == 1
    assert template['ask_job_slice_count_on_launch'] is False
    assert template['allow_simultaneous'] is False
    assert (REPO / template['playbook']).is_file(), '%s is not in the collection' % template['playbook']
    questions = {question['variable']: question for question in template['survey_spec']['spec']}
    assert set(questions) == {'rolling_reboot_batch_size', 'rolling_reboot_max_fail_percent', 'rolling_reboot_window',
                              'rolling_reboot_run_id'}
    # The ledger must outlive the job's container: an explicit state directory, as the docs ask for a mounted path.
    assert template['extra_vars']['rolling_reboot_state_dir'].startswith('/var/lib/')
    fail_percent = questions['rolling_reboot_max_fail_percent']
    assert (fail_percent['type'], fail_percent['min'], fail_percent['max']) == ('integer', 0, 100)
    options = role_options('rolling_reboot')
    for variable in questions:
        assert variable in options, 'the survey asks %s, which roles/rolling_reboot does not take' % variable

    schedules = [schedule for schedule in objects['grandstream_awx_schedules']
                 if schedule['unified_job_template'] == template['name']]
    assert schedules, 'the rolling reboot has no schedule'
    for schedule in schedules:
        assert re.match(r'^DTSTART(;TZID=[\w/]+)?:\d{8}T\d{6}Z? RRULE:', schedule['rrule']), schedule['rrule']
        for variable, value in schedule['extra_data'].items():
            question = questions[variable]
            if question['type'] == 'integer':
                assert isinstance(value, int) and question['min'] <= value <= question['max'], (variable, value)
            else:
                assert isinstance(value, str) and question['min'] <= len(value) <= question['max'], (variable, value)
        assert re.match(r'^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$', schedule['extra_data']['rolling_reboot_window'])


def test_audit_template_may_be_sliced_and_reports_per_job():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    template = objects['grandstream_awx_audit_template']
    assert template['job_slice_count'] >= 1
    assert template['ask_job_slice_count_on_launch'] is True
    assert (REPO / template['playbook']).is_file(), '%s is not in the collection' % template['playbook']
    # Every slice is a job of its own: one report directory per job keeps the slices from overwriting each other.
    assert 'awx_job_id' in template['extra_vars']['registration_audit_report_dir']
    assert 'registration_audit_report_dir' in role_options('registration_audit')


def role_default(role, variable):
    return role_options(role)[variable].get('default')


def test_firmware_template_is_never_sliced_and_asks_the_survey():
    """The rolling reboot's rules (same engine, same ledger): one job, one run at a time, dirs on the mounted path."""
    template = load_yaml(AWX_DIR / 'objects.yml')['grandstream_awx_firmware_template']
    assert (template['job_slice_count'], template['ask_job_slice_count_on_launch']) == (1, False)
    assert (template['allow_simultaneous'], template['ask_limit_on_launch']) == (False, True)
    assert template['playbook'] == 'playbooks/firmware_upgrade.yml'
    options = role_options('firmware_upgrade')
    for variable in template['extra_vars']:
        assert variable in options, 'extra_vars has %s, which roles/firmware_upgrade does not take' % variable
    for variable in ('firmware_upgrade_report_dir', 'firmware_upgrade_state_dir'):
        assert template['extra_vars'][variable].startswith('/var/lib/phonefleet/'), variable
    # The targets are a dict: an example in extra_vars (asked at launch), never a survey question.
    assert options['firmware_upgrade_targets']['type'] == 'dict' and template['ask_variables_on_launch'] is True
    targets = template['extra_vars']['firmware_upgrade_targets']
    assert isinstance(targets, dict) and targets
    for pattern, target in targets.items():
        assert set(target) == {'version', 'url'}, pattern
        assert re.match(r'^\d+(\.\d+)+$', str(target['version'])), target
        assert re.match(r'^(https?|tftp)://[^/@?#]+(/[^@?#]*)?$', target['url']), target

    questions = {question['variable']: question for question in template['survey_spec']['spec']}
    assert set(questions) == {'firmware_upgrade_batch_size', 'firmware_upgrade_canary', 'firmware_upgrade_max_fail_percent',
                              'firmware_upgrade_window', 'firmware_upgrade_run_id'}
    for variable, question in questions.items():
        assert variable in options, 'the survey asks %s, which roles/firmware_upgrade does not take' % variable
        assert variable not in template['extra_vars'], '%s is both a survey answer and an extra variable' % variable
        if variable != 'firmware_upgrade_window':  # the window is the site's (as the reboot's); the rest the role's
            assert str(question['default']) == str(role_default('firmware_upgrade', variable)), variable
        if question['type'] == 'text' and question['default'] != '':
            assert question['min'] <= len(question['default']) <= question['max'], variable
    fail_percent = questions['firmware_upgrade_max_fail_percent']
    assert (fail_percent['type'], fail_percent['min'], fail_percent['max']) == ('integer', 0, 100)
    assert re.match(r'^(([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d)?$', questions['firmware_upgrade_window']['default'])
    assert questions['firmware_upgrade_run_id']['max'] == 128  # the role's longest run id


def test_backup_template_keeps_one_directory_and_runs_daily():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    template = objects['grandstream_awx_backup_template']
    assert (template['job_slice_count'], template['ask_job_slice_count_on_launch']) == (1, False)
    assert (template['allow_simultaneous'], template['ask_limit_on_launch']) == (False, True)
    assert template['playbook'] == 'playbooks/config_backup.yml'
    assert 'survey_spec' not in template
    options = role_options('config_backup')
    assert set(template['extra_vars']) <= set(options)
    # One fixed directory on the mounted path, the same for every launch: the drift compares with the previous files.
    backup_dir = template['extra_vars']['config_backup_dir']
    assert backup_dir.startswith('/var/lib/phonefleet/') and '{' not in backup_dir, backup_dir
    schedules = [schedule for schedule in objects['grandstream_awx_schedules']
                 if schedule['unified_job_template'] == template['name']]
    assert len(schedules) == 1, 'the configuration backup has %d schedules' % len(schedules)
    assert re.search(r' RRULE:FREQ=DAILY;INTERVAL=1$', schedules[0]['rrule']), schedules[0]['rrule']
    assert schedules[0]['enabled'] is True


def test_every_playbook_named_is_an_entry_point_of_the_collection():
    """Each playbook in objects.yml is in playbooks/, and each playbook there that no other imports has a template."""
    objects = load_yaml(AWX_DIR / 'objects.yml')
    named = {key: value['playbook'] for key, value in objects.items() if isinstance(value, dict) and 'playbook' in value}
    for key, playbook in named.items():
        assert playbook.startswith('playbooks/') and (REPO / playbook).is_file(), '%s: %s is not in the collection' % (key, playbook)
    imported = set()
    for path in (REPO / 'playbooks').glob('*.yml'):
        imported.update(re.findall(r'import_playbook:\s*phonefleet\.grandstream\.(\w+)', path.read_text(encoding='utf-8')))
    entry_points = {'playbooks/%s' % path.name for path in (REPO / 'playbooks').glob('*.yml') if path.stem not in imported}
    assert set(named.values()) == entry_points
    assert {'playbooks/firmware_upgrade.yml', 'playbooks/config_backup.yml'} <= entry_points
    # apply.yml creates every one of them, and the project layout in the docs lists every one.
    apply_text = (AWX_DIR / 'apply.yml').read_text(encoding='utf-8')
    docs = (REPO / 'docs' / 'awx.md').read_text(encoding='utf-8')
    for key, playbook in named.items():
        assert 'playbook: "{{ %s.playbook }}"' % key in apply_text, 'apply.yml creates no job template from %s' % key
        assert re.search(r'^%s\s' % re.escape(playbook), docs, re.M), 'the project layout in docs/awx.md lacks %s' % playbook


def test_schedules_launch_templates_of_objects_with_answers_they_take():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    templates = {value['name']: value for value in objects.values() if isinstance(value, dict) and 'playbook' in value}
    for schedule in objects['grandstream_awx_schedules']:
        template = templates[schedule['unified_job_template']]
        assert re.match(r'^DTSTART(;TZID=[\w/]+)?:\d{8}T\d{6}Z? RRULE:', schedule['rrule']), schedule['rrule']
        questions = {question['variable'] for question in template.get('survey_spec', {}).get('spec', [])}
        for variable in schedule['extra_data']:
            # AWX refuses a schedule's extra_data that is neither a survey answer nor allowed by ask_variables_on_launch.
            assert variable in questions or template.get('ask_variables_on_launch'), (schedule['name'], variable)


def test_every_collection_object_in_the_docs():
    text = (REPO / 'docs' / 'awx.md').read_text(encoding='utf-8')
    objects = load_yaml(AWX_DIR / 'objects.yml')
    for key in ('grandstream_awx_credential_type', 'grandstream_awx_inventory_source', 'grandstream_awx_reboot_template',
                'grandstream_awx_audit_template', 'grandstream_awx_merge_template', 'grandstream_awx_audit_workflow',
                'grandstream_awx_firmware_template', 'grandstream_awx_backup_template'):
        assert objects[key]['name'] in text, '%s (%s) is not described in docs/awx.md' % (key, objects[key]['name'])
    for schedule in objects['grandstream_awx_schedules']:
        assert schedule['name'] in text, 'the schedule %s is not described in docs/awx.md' % schedule['name']
    assert 'job_slice_count' in text
    for needed in ('playbooks/registration_audit_merge.yml', 'registration_audit_merge_inputs', 'Paths to expose to isolated jobs',
                   'ReadWriteMany', 'firmware_upgrade_targets', 'firmware_upgrade_image_check', 'HEAD',
                   'firmware_upgrade_image_validate_certs', 'config_backup_dir', '/var/lib/phonefleet/config'):
        assert needed in text, 'docs/awx.md does not mention %s' % needed


def test_audit_workflow_merges_after_the_audit_whatever_its_outcome():
    objects = load_yaml(AWX_DIR / 'objects.yml')
    audit = objects['grandstream_awx_audit_template']
    merge = objects['grandstream_awx_merge_template']
    workflow = objects['grandstream_awx_audit_workflow']
    nodes = {node['identifier']: node for node in workflow['nodes']}
    assert len(nodes) == len(workflow['nodes']) == 2
    by_template = {node['unified_job_template']: node for node in workflow['nodes']}
    audit_node, merge_node = by_template[audit['name']], by_template[merge['name']]
    # The merge runs after the audit even when a slice failed its compliance threshold.
    assert audit_node['always_nodes'] == [merge_node['identifier']]
    assert not any(merge_node.get(key) for key in ('success_nodes', 'failure_nodes', 'always_nodes'))
    # apply.yml creates the nodes in list order: a node's followers must exist before it names them.
    created = []
    for node in workflow['nodes']:
        for follower in node.get('success_nodes', []) + node.get('failure_nodes', []) + node.get('always_nodes', []):
            assert follower in created, '%s names %s, which is created after it' % (node['identifier'], follower)
        created.append(node['identifier'])
    assert merge['playbook'] == 'playbooks/registration_audit_merge.yml'  # architecture.md fixes the name
    assert merge['job_slice_count'] == 1 and merge['ask_job_slice_count_on_launch'] is False
    assert merge['ask_variables_on_launch'] is True  # launched on its own, it takes registration_audit_merge_inputs
    assert 'registration_audit_merge_inputs' in merge['extra_vars']


def render_variables(tmp_path, offline_env, templates, extra_vars):
    """Render variables from objects.yml the way a job's ansible-playbook does, with AWX's extra variables given."""
    playbook = tmp_path / 'render.yml'
    result = tmp_path / 'rendered.json'
    playbook.write_text(yaml.safe_dump([{
        'name': 'Render', 'hosts': 'localhost', 'gather_facts': False, 'vars': templates,
        'tasks': [{'name': 'Rendered', 'ansible.builtin.copy': {
            'content': '{{ {%s} | to_json }}' % ', '.join("'%s': %s" % (name, name) for name in templates),
            'dest': str(result)}}],
    }]))
    (tmp_path / 'extra_vars.json').write_text(json.dumps(extra_vars))
    env = dict(offline_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    proc = run([tool('ansible-playbook'), '-i', 'localhost,', '-c', 'local', playbook, '-e', '@%s' % (tmp_path / 'extra_vars.json')],
               env)
    assert proc.returncode == 0, proc.output
    return json.loads(result.read_text())


@pytest.mark.parametrize('awx_vars, launch_dir', [
    ({'awx_job_id': 1201, 'awx_workflow_job_id': 1200}, '1200/1201'),  # a slice of the sliced job 1200
    ({'awx_job_id': 1300}, '1300/1300'),                                # an unsliced job launched on its own
    ({}, 'manual/manual'),                                              # ansible-playbook outside AWX
])
def test_audit_report_dir_is_one_directory_per_launch_and_job(tmp_path, offline_env, awx_vars, launch_dir):
    template = load_yaml(AWX_DIR / 'objects.yml')['grandstream_awx_audit_template']['extra_vars']
    rendered = render_variables(tmp_path, offline_env, template, awx_vars)
    assert rendered['registration_audit_report_dir'] == '/var/lib/phonefleet/reports/registration_audit/' + launch_dir


def test_merge_reads_the_directory_that_holds_every_slice_of_the_launch(tmp_path, offline_env):
    """The merge job gets one slice's set_stats data (AWX passes the artifacts of a sliced job on to the next node of
    the workflow; every slice publishes the key registration_audit and one of them wins): the directory above that
    slice's report directory holds the report directories of all slices of the launch, and nothing else."""
    objects = load_yaml(AWX_DIR / 'objects.yml')
    audit = objects['grandstream_awx_audit_template']['extra_vars']
    slice_dirs = [render_variables(tmp_path, offline_env, audit, {'awx_job_id': job, 'awx_workflow_job_id': 1200})
                  ['registration_audit_report_dir'] for job in (1201, 1202, 1203)]
    other_launch = render_variables(tmp_path, offline_env, audit, {'awx_job_id': 1101, 'awx_workflow_job_id': 1100})
    artifacts = {'registration_audit': {'summary': {'total': 2}, 'report_files': {
        'json': slice_dirs[1] + '/registration_audit.json', 'html': slice_dirs[1] + '/registration_audit.html'}}}

    merge = objects['grandstream_awx_merge_template']['extra_vars']
    rendered = render_variables(tmp_path, offline_env, merge, dict(artifacts, awx_job_id=1210, awx_workflow_job_id=1199))
    launch_dir = rendered['registration_audit_merge_inputs']
    assert launch_dir == '/var/lib/phonefleet/reports/registration_audit/1200'
    assert all(os.path.dirname(slice_dir) == launch_dir for slice_dir in slice_dirs)
    assert os.path.dirname(other_launch['registration_audit_report_dir']) != launch_dir
    merged_dir = rendered['registration_audit_report_dir']
    assert merged_dir == '/var/lib/phonefleet/reports/registration_audit_merged/1199'
    assert not merged_dir.startswith(launch_dir + '/')  # a merged report is never read back as a slice's

    # Launched with nothing to merge (no artifacts): an empty list, for the merge playbook to refuse.
    rendered = render_variables(tmp_path, offline_env, merge, {'awx_job_id': 1211})
    assert rendered['registration_audit_merge_inputs'] == []


def test_built_collection_carries_the_ee_metadata_and_the_awx_files(collection_tarball):
    with tarfile.open(collection_tarball) as tar:
        names = set(tar.getnames())
    for path in ('meta/execution-environment.yml', 'extensions/awx/apply.yml',
                 'extensions/awx/objects.yml', 'docs/awx.md', 'docs/execution-environment.md',
                 'extensions/ee/execution-environment.yml', 'extensions/ee/requirements.yml',
                 'extensions/ee/from-tarball/execution-environment.yml', 'extensions/ee/from-tarball/requirements.yml',
                 'extensions/eda/plugins/event_source/action_url.py', 'extensions/eda/rulebooks/phone_events.yml',
                 'docs/eda.md'):
        assert path in names, '%s is not in %s' % (path, collection_tarball.name)


# ----- apply.yml against a stand-in for the AWX API

@pytest.fixture
def fake_awx():
    awx = FakeAWX()
    awx.thread.start()
    yield awx
    awx.shutdown()
    awx.server_close()


def apply_objects(fake_awx, offline_env, tmp_path, *extra_args):
    env = {key: value for key, value in offline_env.items() if key != 'PYTHONPATH'}  # the modules talk to 127.0.0.1
    env.update(CONTROLLER_HOST=fake_awx.url, CONTROLLER_OAUTH_TOKEN=fake_awx.TOKEN, CONTROLLER_VERIFY_SSL='false',
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / 'no-collections'), ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    return run([tool('ansible-playbook'), '-i', 'localhost,', AWX_DIR / 'apply.yml'] + list(extra_args), env, timeout=110)


def recap_changed(stdout):
    match = re.search(r'localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', stdout)
    assert match, stdout
    return int(match.group(2))


def only(fake_awx, endpoint, name):
    found = fake_awx.find(endpoint, {'name': name})
    assert len(found) == 1, (endpoint, name, fake_awx.objects.get(endpoint))
    return found[0]


def test_apply_creates_the_objects_then_changes_nothing(awx_collection, fake_awx, offline_env, tmp_path):
    secret = 'Apply-Secret-4711'
    proc = apply_objects(fake_awx, offline_env, tmp_path, '-e', 'grandstream_awx_passcode=%s' % secret)
    assert proc.returncode == 0, proc.output
    assert recap_changed(proc.stdout) >= 8, proc.output
    assert secret not in proc.stdout + proc.stderr
    objects = load_yaml(AWX_DIR / 'objects.yml')

    credential_type = only(fake_awx, 'credential_types', objects['grandstream_awx_credential_type']['name'])
    assert credential_type['kind'] == 'cloud'
    assert credential_type['injectors'] == {'env': {'GRANDSTREAM_PASSCODE': '{{ passcode }}'}}
    assert credential_type['inputs']['fields'][0]['secret'] is True
    credential = only(fake_awx, 'credentials', objects['grandstream_awx_credential']['name'])
    assert credential['credential_type'] == credential_type['id']
    assert credential['inputs'] == {'passcode': secret}

    project = only(fake_awx, 'projects', objects['grandstream_awx_project']['name'])
    inventory = only(fake_awx, 'inventories', objects['grandstream_awx_inventory']['name'])
    environment = only(fake_awx, 'execution_environments', objects['grandstream_awx_execution_environment']['name'])
    source = only(fake_awx, 'inventory_sources', objects['grandstream_awx_inventory_source']['name'])
    assert (source['source'], source['source_project'], source['inventory']) == ('scm', project['id'], inventory['id'])
    assert source['source_path'] == 'inventory/office.grandstream.yml'
    assert source['execution_environment'] == environment['id']

    reboot = only(fake_awx, 'job_templates', objects['grandstream_awx_reboot_template']['name'])
    assert (reboot['job_slice_count'], reboot['allow_simultaneous'], reboot['survey_enabled']) == (1, False, True)
    assert (reboot['project'], reboot['inventory']) == (project['id'], inventory['id'])
    assert reboot['playbook'] == 'playbooks/rolling_reboot.yml'
    assert fake_awx.associated[('job_templates', reboot['id'], 'credentials')] == [credential['id']]
    survey = fake_awx.surveys[reboot['id']]
    assert [question['variable'] for question in survey['spec']] == [
        'rolling_reboot_batch_size', 'rolling_reboot_max_fail_percent', 'rolling_reboot_window', 'rolling_reboot_run_id']
    audit = only(fake_awx, 'job_templates', objects['grandstream_awx_audit_template']['name'])
    assert audit['job_slice_count'] >= 1 and audit['ask_job_slice_count_on_launch'] is True
    assert audit['playbook'] == 'playbooks/registration_audit.yml'
    assert fake_awx.associated[('job_templates', audit['id'], 'credentials')] == [credential['id']]
    assert '{{ awx_job_id' in json.dumps(audit['extra_vars'])  # left for AWX to render at launch

    firmware = only(fake_awx, 'job_templates', objects['grandstream_awx_firmware_template']['name'])
    assert (firmware['job_slice_count'], firmware['ask_job_slice_count_on_launch'], firmware['allow_simultaneous']) == (1, False, False)
    assert (firmware['ask_limit_on_launch'], firmware['ask_variables_on_launch'], firmware['survey_enabled']) == (True, True, True)
    assert (firmware['playbook'], firmware['project'], firmware['inventory']) == (
        'playbooks/firmware_upgrade.yml', project['id'], inventory['id'])
    assert firmware['execution_environment'] == environment['id']
    assert fake_awx.associated[('job_templates', firmware['id'], 'credentials')] == [credential['id']]
    assert json.loads(firmware['extra_vars']) == objects['grandstream_awx_firmware_template']['extra_vars']
    assert isinstance(json.loads(firmware['extra_vars'])['firmware_upgrade_targets'], dict)
    assert [question['variable'] for question in fake_awx.surveys[firmware['id']]['spec']] == [
        'firmware_upgrade_batch_size', 'firmware_upgrade_canary', 'firmware_upgrade_max_fail_percent',
        'firmware_upgrade_window', 'firmware_upgrade_run_id']
    backup = only(fake_awx, 'job_templates', objects['grandstream_awx_backup_template']['name'])
    assert (backup['job_slice_count'], backup['ask_job_slice_count_on_launch'], backup['allow_simultaneous']) == (1, False, False)
    assert (backup['playbook'], backup['ask_limit_on_launch']) == ('playbooks/config_backup.yml', True)
    assert backup['execution_environment'] == environment['id']
    assert fake_awx.associated[('job_templates', backup['id'], 'credentials')] == [credential['id']]
    assert json.loads(backup['extra_vars']) == {'config_backup_dir': '/var/lib/phonefleet/config'}
    assert backup['id'] not in fake_awx.surveys and not backup.get('survey_enabled')
    backup_schedule = only(fake_awx, 'schedules', 'Daily configuration backup of the phones')
    assert (backup_schedule['unified_job_template'], backup_schedule['enabled']) == (backup['id'], True)
    assert backup_schedule['rrule'].endswith('RRULE:FREQ=DAILY;INTERVAL=1')

    merge = only(fake_awx, 'job_templates', objects['grandstream_awx_merge_template']['name'])
    assert merge['playbook'] == 'playbooks/registration_audit_merge.yml'
    assert (merge['job_slice_count'], merge['ask_variables_on_launch']) == (1, True)
    assert 'registration_audit_merge_inputs' in merge['extra_vars']
    assert ('job_templates', merge['id'], 'credentials') not in fake_awx.associated  # it reads files, not phones
    workflow = only(fake_awx, 'workflow_job_templates', objects['grandstream_awx_audit_workflow']['name'])
    nodes = {node['identifier']: node for node in fake_awx.objects['workflow_job_template_nodes'].values()}
    assert set(nodes) == {'registration-audit', 'merge-reports'}
    assert {node['workflow_job_template'] for node in nodes.values()} == {workflow['id']}
    assert nodes['registration-audit']['unified_job_template'] == audit['id']
    assert nodes['merge-reports']['unified_job_template'] == merge['id']
    links = {(key[1], key[2]): ids for key, ids in fake_awx.associated.items() if key[0] == 'workflow_job_template_nodes'}
    assert links.get((nodes['registration-audit']['id'], 'always_nodes')) == [nodes['merge-reports']['id']]
    assert not any(ids for (node_id, kind), ids in links.items() if (node_id, kind) != (nodes['registration-audit']['id'], 'always_nodes'))

    schedules = fake_awx.objects['schedules'].values()
    assert {(schedule['name'], schedule['unified_job_template']) for schedule in schedules} == {
        (entry['name'], only(fake_awx, 'job_templates', entry['unified_job_template'])['id'])
        for entry in objects['grandstream_awx_schedules']}

    # A second run, without the passcode: everything is as wanted already, the stored passcode stays.
    first_run_requests = len(fake_awx.requests)
    proc = apply_objects(fake_awx, offline_env, tmp_path)
    assert proc.returncode == 0, proc.output
    assert recap_changed(proc.stdout) == 0, proc.output
    writes = [request for request in fake_awx.requests[first_run_requests:] if request[0] != 'GET']
    assert not writes, 'the second run wrote %s' % writes
    assert only(fake_awx, 'credentials', objects['grandstream_awx_credential']['name'])['inputs'] == {'passcode': secret}


def test_apply_fails_on_a_schedule_answer_its_template_does_not_take(awx_collection, fake_awx, offline_env, tmp_path):
    """The stand-in refuses what AWX refuses, so the run above proves that AWX takes every schedule's extra_data."""
    objects = load_yaml(AWX_DIR / 'objects.yml')
    schedules = [dict(schedule, extra_data={'config_backup_formats': ['json']})
                 if schedule['unified_job_template'] == objects['grandstream_awx_backup_template']['name'] else schedule
                 for schedule in objects['grandstream_awx_schedules']]
    (tmp_path / 'site.yml').write_text(json.dumps({'grandstream_awx_schedules': schedules}))
    proc = apply_objects(fake_awx, offline_env, tmp_path, '-e', '@%s' % (tmp_path / 'site.yml'))
    assert proc.returncode != 0, proc.output
    assert 'Variables config_backup_formats are not allowed on launch' in proc.stdout, proc.output
    assert 'Daily configuration backup of the phones' not in {schedule['name'] for schedule in fake_awx.objects['schedules'].values()}
