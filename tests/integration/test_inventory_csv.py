"""Integration tests of the phonefleet.grandstream.csv inventory plugin: real ansible-inventory / ansible-playbook runs.

Successful loads are compared with golden files in tests/integration/inventory/golden/. After an intended change of
the output, regenerate them with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_inventory_csv.py

and review the diff. Bad input is a table (ERROR_CASES): each case is written to a temporary directory and loaded
with ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED, so a failure is an exit code, and its message must name file:line
for every problem, without a traceback and without the passcode.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent / 'inventory'
FIXTURES = HERE / 'fixtures'
GOLDEN = HERE / 'golden'
UPDATE_GOLDEN = os.environ.get('UPDATE_GOLDEN') == '1'


@pytest.fixture(scope='session')
def inventory_env(tmp_path_factory):
    """Environment in which ansible finds this working tree as phonefleet.grandstream, and nothing else of the user's."""
    root = tmp_path_factory.mktemp('csv-inventory-collections')
    namespace = root / 'ansible_collections' / 'phonefleet'
    namespace.mkdir(parents=True)
    (namespace / 'grandstream').symlink_to(REPO)
    env = {key: value for key, value in os.environ.items() if not key.startswith(('ANSIBLE_', 'GRANDSTREAM_'))}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(root),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_LOCAL_TEMP=str(root / 'tmp'),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        PATH='%s%s%s' % (BIN, os.pathsep, os.environ.get('PATH', '')),
    )
    return env


@pytest.fixture
def ansible(inventory_env, tmp_path):
    """Run an ansible command in an empty working directory (so relative paths cannot resolve against it)."""

    def run(command, *args, env=None, cwd=None, strict=True):
        full_env = dict(inventory_env)
        if strict:
            full_env['ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED'] = 'true'
        full_env.update(env or {})
        return subprocess.run([str(BIN / command)] + [str(arg) for arg in args], env=full_env, cwd=str(cwd or tmp_path),
                              capture_output=True, text=True, timeout=120, check=False)

    return run


def normalized_inventory(stdout):
    """The inventory as JSON, as printed: a value marked as data stays {"__ansible_unsafe": value}, so that a plain
    string that comes out wrapped (what AWX cannot import) shows up as a difference."""
    data = json.loads(stdout)
    data.get('_meta', {}).pop('profile', None)  # 2.19+ only
    return data


def assert_golden(name, actual):
    path = GOLDEN / name
    text = actual if isinstance(actual, str) else json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + '\n'
    if UPDATE_GOLDEN:
        path.write_text(text, encoding='utf-8')
    assert path.exists(), 'no golden file %s: run with UPDATE_GOLDEN=1' % path
    assert text == path.read_text(encoding='utf-8'), 'differs from %s (UPDATE_GOLDEN=1 regenerates it)' % path


def in_output(message, output):
    """message appears in output. ansible-core 2.18 wraps warnings at 80 columns, after spaces and hyphens, so compare without whitespace."""
    return ''.join(message.split()) in ''.join(output.split())


def assert_ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert '[WARNING]' not in proc.stderr, proc.stderr


# --- loads compared with golden files ----------------------------------------------------------------------------

@pytest.mark.parametrize('config', ['basic', 'constructed', 'options', 'auth'])
def test_list_matches_golden(ansible, config):
    proc = ansible('ansible-inventory', '-i', FIXTURES / ('%s.grandstream.yml' % config), '--list')
    assert_ok(proc)
    assert_golden('%s.json' % config, normalized_inventory(proc.stdout))


def test_graph_matches_golden(ansible):
    proc = ansible('ansible-inventory', '-i', FIXTURES / 'constructed.grandstream.yml', '--graph')
    assert_ok(proc)
    assert_golden('constructed.graph.txt', proc.stdout)


def test_relative_path_and_plugin_enablement(ansible, tmp_path):
    """The auto plugin (enabled by default) and an explicit ANSIBLE_INVENTORY_ENABLED give the same inventory; a relative
    `path` resolves against the config file's directory from any working directory, with a relative -i too."""
    expected = json.loads((GOLDEN / 'basic.json').read_text(encoding='utf-8'))
    explicit = ansible('ansible-inventory', '-i', FIXTURES / 'basic.grandstream.yml', '--list',
                       env={'ANSIBLE_INVENTORY_ENABLED': 'phonefleet.grandstream.csv'})
    assert_ok(explicit)
    assert normalized_inventory(explicit.stdout) == expected
    relative = ansible('ansible-inventory', '-i', os.path.relpath(FIXTURES / 'basic.grandstream.yml', REPO / 'tests'), '--list',
                       cwd=REPO / 'tests')
    assert_ok(relative)
    assert normalized_inventory(relative.stdout) == expected


def test_delimiters_bom_and_line_endings(ansible, tmp_path):
    """An Excel 'CSV UTF-8' export (byte order mark, CRLF, ';', empty rows), a tab-separated file and a '|' file, in one run."""
    excel = tmp_path / 'excel.csv'
    excel.write_bytes(b'\xef\xbb\xbf' + '\r\n'.join([
        'Name;Host;Site;Note;Groups',
        'xl-1;10.6.0.1;Z\u00fcrich;"desk 4; ""north"" wing";excel',
        ';;;;',
        'xl-2;10.6.0.2;Z\u00fcrich;;excel',
        '',
    ]).encode('utf-8'))
    (tmp_path / 'excel.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: excel.csv\n')
    proc = ansible('ansible-inventory', '-i', tmp_path / 'excel.grandstream.yml', '-i', FIXTURES / 'tabs.grandstream.yml',
                   '-i', FIXTURES / 'pipe.grandstream.yml', '--list')
    assert_ok(proc)
    assert_golden('formats.json', normalized_inventory(proc.stdout))


def test_on_error_warn_skips_bad_rows(ansible):
    proc = ansible('ansible-inventory', '-i', FIXTURES / 'warn.grandstream.yml', '--list')
    assert proc.returncode == 0, proc.stderr
    assert_golden('warn.json', normalized_inventory(proc.stdout))
    csv_path = FIXTURES / 'warn.csv'
    for expected in [
        "%s:3: skipped this row: port '70000' is not a number from 1 to 65535",
        "%s:4: skipped this row: host '10.4.0.300' is neither an IP address nor a valid DNS name; scheme 'ftp' is not 'http' or 'https'",
        "%s:6: skipped this row: name 'good-1' is already used on line 2 (Ansible would silently merge the two phones)",
        "%s:7: skipped this row: the 'host' cell is empty",
        "%s:8: skipped this row: group 'floor-2' is not a valid group name",
    ]:
        assert in_output(expected % csv_path, proc.stderr)
    assert ''.join(proc.stderr.split()).count('skippedthisrow') == 5
    assert 'pw-' not in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_warnings_for_suspicious_but_valid_input(ansible, tmp_path):
    (tmp_path / 'phones.csv').write_text('name,host\ngs1,10.7.0.1\ngs2,10.7.0.1\n')
    (tmp_path / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\ndelimeter: ";"\n')
    proc = ansible('ansible-inventory', '-i', tmp_path / 'office.grandstream.yml', '--list')
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(proc.stdout)['grandstream']['hosts']) == ['gs1', 'gs2']
    assert in_output('%s:3: gs2 has the same host \'10.7.0.1\' and port as the phone on line 2' % (tmp_path / 'phones.csv'), proc.stderr)
    assert in_output('ignoring unknown option delimeter', proc.stderr)


def test_a_phone_in_two_sources_is_a_warning(ansible, tmp_path):
    """Duplicates inside one file are refused; a name that another source has already added gets a warning."""
    (tmp_path / 'hq.csv').write_text('name,host,site\ngs1,10.7.1.1,hq\ngs2,10.7.1.2,hq\n')
    (tmp_path / 'lab.csv').write_text('name,host,site\n# moved to the lab\ngs2,10.7.2.2,lab\ngs3,10.7.2.3,lab\n')
    (tmp_path / 'hq.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: hq.csv\n')
    (tmp_path / 'lab.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: lab.csv\n')
    proc = ansible('ansible-inventory', '-i', tmp_path / 'hq.grandstream.yml', '-i', tmp_path / 'lab.grandstream.yml', '--list')
    assert proc.returncode == 0, proc.stderr
    hostvars = json.loads(proc.stdout)['_meta']['hostvars']
    assert sorted(hostvars) == ['gs1', 'gs2', 'gs3']
    assert hostvars['gs2']['site'] == 'lab'
    assert in_output('%s:3: gs2 is already in the inventory from another source: Ansible merges the two into one host'
                     % (tmp_path / 'lab.csv'), proc.stderr)
    assert ''.join(proc.stderr.split()).count('alreadyintheinventory') == 1


# --- values are data, never templates ----------------------------------------------------------------------------

def test_template_cells_stay_literal_in_inventory_output(ansible):
    proc = ansible('ansible-inventory', '-i', FIXTURES / 'unsafe.grandstream.yml', '--list')
    assert_ok(proc)
    raw = json.loads(proc.stdout)['_meta']['hostvars']['gs-unsafe']
    assert_golden('unsafe.json', normalized_inventory(proc.stdout))
    # marked as data (2.18: wrap_var, 2.19+: not trusted as a template); a plain string beside them
    assert raw['note'] == {'__ansible_unsafe': "{{ lookup('pipe', 'echo PWNED') }}"}
    assert raw['model_copy'] == {'__ansible_unsafe': "{{ 'REN' ~ 'DERED' }}"}
    assert raw['ansible_host'] == '10.5.0.1'
    assert 'RENDERED' not in proc.stdout


def test_template_cells_stay_literal_in_a_playbook(ansible):
    proc = ansible('ansible-playbook', '-i', FIXTURES / 'unsafe.grandstream.yml', FIXTURES / 'unsafe_debug.yml')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("model=[{{ 'REN' ~ 'DERED' }}] note=[{{ lookup('pipe', 'echo PWNED') }}] copy=[{{ 'REN' ~ 'DERED' }}] "
            "hostvar=[{{ lookup('pipe', 'echo PWNED') }}]") in proc.stdout
    assert 'RENDERED' not in proc.stdout
    assert '=[PWNED]' not in proc.stdout


def not_plain(value, path=()):
    """The paths of the JSON values inside value that are neither strings nor numbers, lists or dicts of them."""
    if isinstance(value, dict) and list(value) != ['__ansible_unsafe']:
        return [found for key, item in value.items() for found in not_plain(item, path + (key,))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in not_plain(item, path + (index,))]
    return [] if isinstance(value, (str, int, float)) else [path]


def test_export_prints_plain_strings_for_awx(ansible, tmp_path):
    """AWX imports `ansible-inventory --list --export`: a cell that cannot be a template must come out as a string,
    not as {"__ansible_unsafe": ...}, and compose results too. Only a cell with a brace is marked as data."""
    (tmp_path / 'phones.csv').write_text('name,host,port,scheme,passcode,site,groups,note\n'
                                         'gs1,10.1.4.10,8443,HTTPS,pw-1,hq,lobby,desk 4\n'
                                         'gs2,gs2.voice.example.net,,,pw-2,lab,,{{ not rendered }}\n'
                                         'gs3,10.1.4.12,,, " pw 3 ",  hq  ,,\n')
    (tmp_path / 'office.grandstream.yml').write_text(textwrap.dedent('''\
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        compose:
          url: "'https://' ~ ansible_host"
          labels: "[site, 'phone']"
        keyed_groups:
          - key: site
            prefix: site
    '''))
    proc = ansible('ansible-inventory', '-i', tmp_path / 'office.grandstream.yml', '--list', '--export')
    assert_ok(proc)
    data = json.loads(proc.stdout)
    hostvars = data['_meta']['hostvars']
    gs1 = hostvars['gs1']
    assert (gs1['ansible_host'], gs1['grandstream_passcode'], gs1['site'], gs1['note'], gs1['grandstream_scheme']) == (
        '10.1.4.10', 'pw-1', 'hq', 'desk 4', 'https')
    assert gs1['grandstream_port'] == 8443
    assert gs1['url'] == 'https://10.1.4.10'
    assert gs1['labels'] == ['hq', 'phone']
    assert hostvars['gs2']['note'] == {'__ansible_unsafe': '{{ not rendered }}'}
    del hostvars['gs2']['note']
    assert not_plain(hostvars) == []
    # a quoted passcode keeps its spaces; every other cell is stripped
    assert (hostvars['gs3']['grandstream_passcode'], hostvars['gs3']['site']) == (' pw 3 ', 'hq')
    assert sorted(data['site_hq']['hosts']) == ['gs1', 'gs3']


# --- a directory as inventory ---------------------------------------------------------------------------------

PHONES_CSV = 'name,host,passcode,site\ngs1,10.1.4.10,pw-dir-1,hq\ngs2,10.1.4.11,pw-dir-2,lab\n'


def all_hosts(inventory):
    return sorted({host for group in inventory.values() for host in group.get('hosts', [])} | set(inventory['_meta']['hostvars']))


@pytest.mark.parametrize('layout', ['csv_outside_the_directory', 'csv_inside_with_inventory_ignore_extensions'])
def test_a_directory_given_to_i(ansible, tmp_path, layout):
    """`-i inventory/` hands every file of the directory to every enabled plugin: the ini plugin would read a CSV
    file there as hosts named after whole rows, passcodes included. The documented layouts avoid that, and
    group_vars next to the configuration file still apply."""
    inventory = tmp_path / 'inventory'
    (inventory / 'group_vars').mkdir(parents=True)
    (inventory / 'group_vars' / 'grandstream.yml').write_text('grandstream_timeout: 7\n')
    env = {}
    if layout == 'csv_outside_the_directory':
        (tmp_path / 'phones').mkdir()
        (tmp_path / 'phones' / 'office.csv').write_text(PHONES_CSV)
        (inventory / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: ../phones/office.csv\n')
    else:
        (inventory / 'office.csv').write_text(PHONES_CSV)
        (inventory / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: office.csv\n')
        # ansible.cfg: [defaults] inventory_ignore_extensions = <Ansible's list>, .csv
        env['ANSIBLE_INVENTORY_IGNORE'] = '.pyc, .pyo, .swp, .bak, ~, .rpm, .md, .txt, .rst, .orig, .cfg, .retry, .csv'
    proc = ansible('ansible-inventory', '-i', inventory, '--list', env=env)
    assert_ok(proc)
    data = json.loads(proc.stdout)
    assert all_hosts(data) == ['gs1', 'gs2']
    assert data['_meta']['hostvars']['gs1']['grandstream_timeout'] == 7
    assert data['_meta']['hostvars']['gs2']['site'] == 'lab'


def test_a_csv_inside_a_directory_given_to_i_becomes_junk_hosts(ansible, tmp_path):
    """Why the documentation keeps the CSV file out of the directory: with Ansible's default settings the ini plugin
    parses it, and every row becomes a host whose name holds the whole row."""
    inventory = tmp_path / 'inventory'
    inventory.mkdir()
    (inventory / 'office.csv').write_text(PHONES_CSV)
    (inventory / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: office.csv\n')
    proc = ansible('ansible-inventory', '-i', inventory, '--list')
    assert proc.returncode == 0, proc.stderr
    assert 'gs1,10.1.4.10,pw-dir-1,hq' in all_hosts(json.loads(proc.stdout))


# --- verify_file, docs, vault ------------------------------------------------------------------------------------

def test_other_files_are_skipped_with_a_reason_at_vvv(ansible):
    proc = ansible('ansible-inventory', '-i', FIXTURES / 'hosts.ini', '--list', '-vvv',
                   env={'ANSIBLE_INVENTORY_ENABLED': 'phonefleet.grandstream.csv,ansible.builtin.ini'})
    assert proc.returncode == 0, proc.stderr
    assert in_output('Skipping %s: the phonefleet.grandstream.csv inventory plugin only reads configuration files whose names end in '
                     'grandstream.yml or grandstream.yaml' % (FIXTURES / 'hosts.ini'), proc.stdout + proc.stderr)
    assert 'not-a-phone' in json.loads(proc.stdout[proc.stdout.index('{'):])['_meta']['hostvars']


def test_ansible_doc_renders(ansible):
    proc = ansible('ansible-doc', '-t', 'inventory', 'phonefleet.grandstream.csv')
    assert proc.returncode == 0, proc.stderr
    for text in ('on_error', 'default_group', 'keyed_groups', 'GRANDSTREAM_PASSCODE', 'Sourced from a Project', 'Inventory file',
                 'path: ../phones/office.csv', 'inventory_ignore_extensions'):
        assert text in proc.stdout
    # the CSV file sits beside the inventory directory, not in it (only the inventory_ignore_extensions example differs)
    paths = [line for line in proc.stdout.splitlines() if line.startswith('path: ')]
    assert paths == ['path: ../phones/office.csv', 'path: /srv/phonefleet/phones.csv', 'path: ../phones/office.csv',
                     'path: office.csv', 'path: ../phones/office.csv']


def test_vault_encrypted_csv(ansible, tmp_path):
    (tmp_path / 'vault-pass').write_text('correct horse\n')
    (tmp_path / 'phones.csv').write_text('name,host,passcode\ngs1,10.8.0.1,pw-vaulted\n')
    encrypt = ansible('ansible-vault', 'encrypt', '--vault-password-file', tmp_path / 'vault-pass', tmp_path / 'phones.csv')
    assert encrypt.returncode == 0, encrypt.stderr
    (tmp_path / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    proc = ansible('ansible-inventory', '-i', tmp_path / 'office.grandstream.yml', '--list', '--vault-password-file', tmp_path / 'vault-pass')
    assert_ok(proc)
    assert normalized_inventory(proc.stdout)['_meta']['hostvars']['gs1']['grandstream_passcode'] == 'pw-vaulted'


# --- bad input ---------------------------------------------------------------------------------------------------
# id -> (CSV text or bytes or None for no file, extra config lines, expected messages; {csv}/{config} are the paths)

PASSCODE = 'pw-never-printed'

ERROR_CASES = {
    'missing_host_column': (
        '# exported from the asset sheet\nname,site,passcode\ngs1,hq,%s\n' % PASSCODE, '',
        ["{csv}:2: the header row has no 'host' column (the phone's IP address or DNS name); its columns are: 'name', 'site', 'passcode'"],
    ),
    'reserved_and_invalid_columns': (
        'host,ansible_host,inventory_hostname,hostvars,class,MAC Address,Site,site\n10.0.0.1,,,,,,,\n', '',
        ["{csv}:1: column 2, 'ansible_host', cannot be a host variable: use a 'host' column instead",
         "{csv}:1: column 3, 'inventory_hostname', cannot be a host variable: Ansible reserves that name",
         "{csv}:1: column 4, 'hostvars', cannot be a host variable: Ansible reserves that name",
         "{csv}:1: column 5, 'class', cannot be a host variable: it is a reserved word (a Python keyword)",
         "{csv}:1: column 6, 'mac address', is not a valid variable name: use letters, digits and underscores, not starting with a digit, "
         "for example 'mac_address'",
         "{csv}:1: column 8, 'site', repeats column 7 (names are case-insensitive)"],
    ),
    'empty_host': (
        'name,host,passcode\ngs1,10.0.0.1,%s\ngs2,,%s\ngs3,  ,%s\n' % ((PASSCODE,) * 3), '',
        ["{csv}: 2 problems in 2 rows, no phone loaded (on_error: warn would skip the bad rows):",
         "{csv}:3: the 'host' cell is empty",
         "{csv}:4: the 'host' cell is empty"],
    ),
    'invalid_address': (
        'name,host,passcode\na,999.1.1.1,{p}\nb,bad_host!,{p}\nc,http://10.0.0.1,{p}\nd,10.0.0.1:8080,{p}\ne,-gs.example.net,{p}\n'.format(p=PASSCODE),
        '',
        ["{csv}:2: host '999.1.1.1' is neither an IP address nor a valid DNS name",
         "{csv}:3: host 'bad_host!' is neither an IP address nor a valid DNS name",
         "{csv}:4: host 'http://10.0.0.1' is not an IP address or DNS name: put the scheme in the 'scheme' column",
         "{csv}:5: host '10.0.0.1:8080' is not an IP address or DNS name: put the port in the 'port' column",
         "{csv}:6: host '-gs.example.net' is neither an IP address nor a valid DNS name"],
    ),
    'invalid_port': (
        'name,host,port,passcode\na,10.0.0.1,0,{p}\nb,10.0.0.2,65536,{p}\nc,10.0.0.3,http,{p}\nd,10.0.0.4,80.0,{p}\ne,10.0.0.5,65535,{p}\n'.format(
            p=PASSCODE), '',
        ["{csv}:2: port '0' is not a number from 1 to 65535",
         "{csv}:3: port '65536' is not a number from 1 to 65535",
         "{csv}:4: port 'http' is not a number from 1 to 65535",
         "{csv}:5: port '80.0' is not a number from 1 to 65535"],
    ),
    'invalid_scheme': (
        'name,host,scheme,passcode\na,10.0.0.1,ftp,{p}\nb,10.0.0.2,HTTPS,{p}\n'.format(p=PASSCODE), '',
        ["{csv}:2: scheme 'ftp' is not 'http' or 'https'"],
    ),
    'duplicate_names': (
        'name,host,passcode\ngs1,10.0.0.1,{p}\n\n# a comment\ngs1,10.0.0.2,{p}\n,10.0.0.3,{p}\n10.0.0.3,10.0.0.4,{p}\n'.format(p=PASSCODE), '',
        ["{csv}:5: name 'gs1' is already used on line 2 (Ansible would silently merge the two phones)",
         "{csv}:7: name '10.0.0.3' is already used on line 6 (Ansible would silently merge the two phones)"],
    ),
    'invalid_groups': (
        'name,host,groups,passcode\na,10.0.0.1,floor-2,{p}\nb,10.0.0.2,"lobby, floor2;x",{p}\nc,10.0.0.3,all,{p}\nd,10.0.0.4,class|2nd,{p}\n'.format(
            p=PASSCODE), '',
        ["{csv}: 4 problems in 3 rows",  # line 3: ',' and ';' separate groups too
         "{csv}:2: group 'floor-2' is not a valid group name: use letters, digits and underscores, not starting with a digit; "
         "separate groups with spaces, ',', ';' or '|'",
         "{csv}:4: group 'all' is reserved by Ansible",
         "{csv}:5: group 'class' is a reserved word (a Python keyword), not a valid group name",
         "{csv}:5: group '2nd' is not a valid group name"],
    ),
    'every_problem_with_physical_lines': (
        '# phones\n'                                          # 1
        'name,host,port,scheme,passcode,note\n'               # 2
        'gs1,10.0.0.1,80,http,{p},"two\n'                     # 3
        'lines"\n'                                            # 4
        '\n'                                                  # 5
        'gs1,10.0.0.2,0,ftp,{p},\n'                           # 6
        '# skipped\n'                                         # 7
        'gs3,,,,{p},\n'                                       # 8
        'gs4,10.0.0.4,,,{p},"a\n'                             # 9
        '\n'                                                  # 10
        'b",extra\n'.format(p=PASSCODE),                      # 11
        '',
        ["{csv}: 5 problems in 3 rows, no phone loaded (on_error: warn would skip the bad rows):",
         "{csv}:6: name 'gs1' is already used on line 3 (Ansible would silently merge the two phones)",
         "{csv}:6: port '0' is not a number from 1 to 65535",
         "{csv}:6: scheme 'ftp' is not 'http' or 'https'",
         "{csv}:8: the 'host' cell is empty",
         "{csv}:9: the row has 7 cells but the header has 6 columns: put a cell that contains the delimiter ',' in double quotes "
         "(the row spans lines 9-11: a quoted cell contains a line break, check the quotes)"],
    ),
    'not_utf8': (
        'name,host,site\ngs1,10.0.0.1,Bern\ngs2,10.0.0.2,Z\u00fcrich\n'.encode('latin-1'), '',
        ["{csv}:3: the file is not UTF-8 text. Save it from Excel as 'CSV UTF-8', or convert it, for example with: iconv -f WINDOWS-1252 -t UTF-8"],
    ),
    'utf16_file': (
        'name,host\ngs1,10.0.0.1\n'.encode('utf-16'), '',  # Python writes the byte order mark FF FE first
        ["{csv}: the file is UTF-16 text (it starts with a UTF-16 byte order mark). Save it from Excel as 'CSV UTF-8', "
         "or convert it, for example with: iconv -f UTF-16 -t UTF-8"],
    ),
    'bracketed_ipv6_host': (
        'name,host\ngs1,[2001:db8::11]\n', '',
        ["{csv}:2: host '[2001:db8::11]' is not an IP address or DNS name: drop the brackets, as in '2001:db8::11'"],
    ),
    'more_cells_than_columns_even_if_empty': (
        # an unquoted ',' in the passcode 'Top,Secret': the row used to load with passcode 'Top' and a group 'Secret'
        'name,host,passcode,groups\ngs1,10.0.0.1,Top,Secret,\n', '',
        ["{csv}:2: the row has 5 cells but the header has 4 columns: put a cell that contains the delimiter ',' in double quotes"],
    ),
    'delimiter_in_an_unquoted_passcode_is_not_echoed': (
        # the second half of the passcode lands in the groups cell: no message may name it
        'name,host,passcode,groups,site\ngs1,10.0.0.1,Top,{p},lobby,hq\n'.format(p=PASSCODE), '',
        ["{csv}: 1 problem in 1 row",
         "{csv}:2: the row has 6 cells but the header has 5 columns: put a cell that contains the delimiter ',' in double quotes"],
    ),
    'unclosed_quote_swallows_the_next_rows': (
        'host,passcode,name\n"10.0.0.1,{p}1,gs1\n10.0.0.2,{p}2,gs2\n'.format(p=PASSCODE), '',
        ["{csv}: 1 problem in 1 row",
         "{csv}:2: the 'host' cell spans several lines, which usually means an unclosed quote "
         "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"],
    ),
    'unclosed_quote_in_a_passcode': (
        'name,host,passcode\ngs1,10.0.0.1,"{p}\ngs2,10.0.0.2,{p}\n'.format(p=PASSCODE), '',
        ["{csv}:2: the 'passcode' cell spans several lines, which usually means an unclosed quote "
         "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"],
    ),
    'no_header_row': (
        'gs1,10.0.0.1,{p}\ngs2,10.0.0.2,{p}\n'.format(p=PASSCODE), '',
        ["{csv}:1: line 1 looks like a phone, not a header row: the file needs a header such as name,host,passcode,site"],
    ),
    'duplicate_name_of_a_bad_row': (
        'name,host,passcode\ngs1,10.0.0.300,{p}\ngs1,10.0.0.2,{p}\n'.format(p=PASSCODE), '',
        ["{csv}: 2 problems in 2 rows",
         "{csv}:2: host '10.0.0.300' is neither an IP address nor a valid DNS name",
         "{csv}:3: name 'gs1' is already used on line 2 (Ansible would silently merge the two phones)"],
    ),
    'strict_compose_error_quoting_a_passcode': (
        'name,host,passcode\ngs1,10.0.0.1,{p}\n'.format(p=PASSCODE),
        'strict: true\ncompose:\n  site_code: "{\'hq\': 1}[grandstream_passcode]"\n',
        ["{csv}:2: Could not set site_code for host gs1: ", "has no attribute '********'"],
    ),
    'missing_file': (
        None, '',
        ["{csv}: the CSV file does not exist (a relative 'path' is resolved against the directory of the configuration file)"],
    ),
    'path_is_a_directory': (
        'directory', '',
        ["{csv}: is a directory, not a CSV file"],
    ),
    'empty_file': (
        '\n# nothing but a comment\n', '',
        ["{csv}: the file has no header row (it is empty, or has only blank and comment lines)"],
    ),
    'invalid_default_group': (
        'host\n10.0.0.1\n', 'default_group: voice-phones\n',
        ["{config}: default_group 'voice-phones' is not a valid group name"],
    ),
    'reserved_default_group': (
        'host\n10.0.0.1\n', 'default_group: all\n',
        ["{config}: default_group 'all' is a name Ansible reserves for its own group: use another name, or an empty string for no extra group"],
    ),
    'invalid_on_error': (
        'host\n10.0.0.1\n', 'on_error: ignore\n',
        ["on_error", "ignore"],
    ),
    'invalid_auth': (
        'name,host,auth,passcode\ngs1,10.0.0.1,digest,{p}\ngs2,10.0.0.2,SESSION,{p}\ngs3,10.0.0.3,{p},{p}\n'.format(p=PASSCODE), '',
        ["{csv}: 2 problems in 2 rows, no phone loaded (on_error: warn would skip the bad rows):",
         "{csv}:2: auth 'digest' is not 'passcode', 'session' or 'session_plain'",
         "{csv}:4: auth '********' is not 'passcode', 'session' or 'session_plain'"],
    ),
    'reserved_web_session_columns': (
        'host,grandstream_auth,Grandstream_Username\n10.0.0.1,session,admin\n', '',
        ["{csv}:1: column 2, 'grandstream_auth', cannot be a host variable: use an 'auth' column instead",
         "{csv}:1: column 3, 'grandstream_username', cannot be a host variable: use a 'username' column instead"],
    ),
    'unclosed_quote_in_a_username': (
        'name,host,username,passcode\ngs1,10.0.0.1,"admin,{p}\ngs2,10.0.0.2,admin,{p}\n'.format(p=PASSCODE), '',
        ["{csv}: 1 problem in 1 row",
         "{csv}:2: the 'username' cell spans several lines, which usually means an unclosed quote "
         "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"],
    ),
    'strict_keyed_groups': (
        'name,host,site,passcode\ngs1,10.0.0.1,hq,{p}\ngs2,10.0.0.2,,{p}\ngs3,10.0.0.3,,{p}\n'.format(p=PASSCODE),
        'strict: true\nkeyed_groups:\n  - key: site\n    prefix: site\n',
        ["{csv}: 2 phones failed compose, groups or keyed_groups with strict: true, no phone loaded:",
         "{csv}:3: Could not generate group for host gs2 from site entry",
         "{csv}:4: Could not generate group for host gs3 from site entry"],
    ),
    # issue 18: names Ansible would read as another path (host_vars/. is the whole directory) or mix up with a group
    'names_that_are_paths': (
        'name,host,passcode\ngs1,10.0.0.1,{p}\n.,10.0.0.2,{p}\n..,10.0.0.3,{p}\n.hidden,10.0.0.4,{p}\ngs1.yml,10.0.0.5,{p}\n'
        'gs1.JSON,10.0.0.6,{p}\n"a/b",10.0.0.7,{p}\n"a\\b",10.0.0.8,{p}\n" ../x",10.0.0.9,{p}\n'.format(p=PASSCODE), '',
        ["{csv}: 8 problems in 8 rows, no phone loaded",
         "{csv}:3: name '.' starts with '.': Ansible would read host_vars/<name> as the phone's variables (for '.' and '..' "
         "a whole directory: the variables of other phones, passcodes included)",
         "{csv}:4: name '..' starts with '.'",
         "{csv}:5: name '.hidden' starts with '.'",
         "{csv}:6: name 'gs1.yml' ends in .yml: Ansible would give this phone the variables of the phone 'gs1' (host_vars/<name>.yml)",
         "{csv}:7: name 'gs1.JSON' ends in .json",
         "{csv}:8: name 'a/b' is not a usable inventory hostname",
         "{csv}:9: name 'a\\\\b' is not a usable inventory hostname",
         "{csv}:10: name '../x' is not a usable inventory hostname"],
    ),
    'names_of_groups': (
        'name,host,groups,passcode\nall,10.0.0.1,,{p}\nungrouped,10.0.0.2,,{p}\ngrandstream,10.0.0.3,,{p}\n'
        'lobby,10.0.0.4,,{p}\ngs5,10.0.0.5,lobby,{p}\n'.format(p=PASSCODE), '',
        ["{csv}: 4 problems in 4 rows, no phone loaded",
         "{csv}:2: name 'all' is the name of one of Ansible's own groups: a phone of that name makes ansible-inventory "
         "--list --export (what AWX imports) lose the other phones",
         "{csv}:3: name 'ungrouped' is the name of one of Ansible's own groups",
         "{csv}:4: name 'grandstream' is the name of the group every phone joins (default_group): a host and a group must "
         "not share a name",
         "{csv}:5: name 'lobby' is also the name of a group (the 'groups' cell of line 6): a host and a group must not share a name"],
    ),
    'name_of_a_keyed_group': (
        'name,host,site,passcode\ngs1,10.0.0.1,hq,{p}\nsite_hq,10.0.0.2,lab,{p}\n'.format(p=PASSCODE),
        'keyed_groups:\n  - key: site\n    prefix: site\n',
        ["{csv}: 1 phone named like a group, no phone loaded:",
         "{csv}:3: name 'site_hq' is also the name of a group (made by compose, groups, keyed_groups or another inventory "
         "source): a host and a group must not share a name"],
    ),
    'name_longer_than_a_dns_name': (
        'name,host,passcode\n%s,10.0.0.1,{p}\n'.format(p=PASSCODE) % ('g' * 254), '',
        ["{csv}:2: name '%s...' is longer than 253 characters (a DNS name's limit)" % ('g' * 80)],
    ),
}


def write_case(directory, csv_content, extra_config):
    csv_path = directory / 'phones.csv'
    if csv_content == 'directory':
        csv_path.mkdir()
    elif isinstance(csv_content, bytes):
        csv_path.write_bytes(csv_content)
    elif csv_content is not None:
        csv_path.write_text(csv_content, encoding='utf-8')
    config_path = directory / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n' + textwrap.dedent(extra_config))
    return csv_path, config_path


@pytest.mark.parametrize('case', sorted(ERROR_CASES))
def test_bad_input_fails_with_every_problem_at_file_line(ansible, tmp_path, case):
    csv_content, extra_config, expected = ERROR_CASES[case]
    csv_path, config_path = write_case(tmp_path, csv_content, extra_config)
    proc = ansible('ansible-inventory', '-i', config_path, '--list')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for message in expected:
        assert in_output(message.format(csv=csv_path, config=config_path), proc.stderr)
    assert in_output('Completely failed to parse inventory source %s' % config_path, proc.stderr)
    assert 'Traceback' not in proc.stderr
    assert PASSCODE not in proc.stdout + proc.stderr


def test_bad_input_default_settings_warn_and_load_no_phone(ansible, tmp_path):
    """Without ANSIBLE_INVENTORY_*UNPARSED* settings Ansible reports the failure as a warning and goes on without the source."""
    csv_path, config_path = write_case(tmp_path, 'name,host,passcode\ngs1,,%s\n' % PASSCODE, '')
    proc = ansible('ansible-inventory', '-i', config_path, '--list', strict=False)
    assert proc.returncode == 0
    assert in_output("%s:2: the 'host' cell is empty" % csv_path, proc.stderr)
    assert in_output('Unable to parse %s as an inventory source' % config_path, proc.stderr)
    assert json.loads(proc.stdout)['_meta']['hostvars'] == {}
    assert PASSCODE not in proc.stdout + proc.stderr

    awx_like = ansible('ansible-inventory', '-i', config_path, '--list', strict=False, env={'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true'})
    assert awx_like.returncode == 1
    assert in_output("%s:2: the 'host' cell is empty" % csv_path, awx_like.stderr)


def test_unreadable_file(ansible, tmp_path):
    # A directory where the CSV should be: unreadable even for root (chmod 000 is not).
    csv_path, config_path = write_case(tmp_path, 'host\n10.0.0.1\n', '')
    csv_path.unlink()
    csv_path.mkdir()
    proc = ansible('ansible-inventory', '-i', config_path, '--list')
    assert proc.returncode == 1
    assert in_output('%s: is a directory, not a CSV file' % csv_path, proc.stderr)
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('csv_text, on_error, expected', [
    ('name,host,passcode\n', 'fail', '{csv}: the CSV file has a header but no phone rows'),
    ('# phones of the new site, to come\nname,host,passcode\n\n,,\n', 'warn', '{csv}: the CSV file has a header but no phone rows'),
    ('name,host,passcode\ngs1,,%s\ngs2,10.0.0.300,%s\n' % (PASSCODE, PASSCODE), 'warn',
     '{csv}: every phone row of the CSV file was skipped (on_error: warn), no phone loaded'),
])
def test_a_csv_without_phones_is_not_a_silent_success(ansible, tmp_path, csv_text, on_error, expected):
    """A cron job or an AWX sync must not go on without a word when a CSV file lost its phones."""
    csv_path, config_path = write_case(tmp_path, csv_text, 'on_error: %s\n' % on_error)
    proc = ansible('ansible-inventory', '-i', config_path, '--list')
    assert proc.returncode == 0, proc.stderr
    assert in_output(expected.format(csv=csv_path), proc.stderr)
    assert json.loads(proc.stdout)['_meta']['hostvars'] == {}
    assert 'Traceback' not in proc.stderr
    assert PASSCODE not in proc.stdout + proc.stderr


# --- hostile files (issue 18): the CSV path is not a regular file, or is huge --------------------------------------

def make_special(tmp_path, kind):
    """Turn tmp_path/phones.csv into a file of the given kind; returns what must stay open meanwhile (or None)."""
    csv_path = tmp_path / 'phones.csv'
    if kind == 'fifo':
        os.mkfifo(str(csv_path))
    elif kind == 'symlink_to_dev_zero':
        csv_path.symlink_to('/dev/zero')
    elif kind == 'symlink_to_a_fifo':
        os.mkfifo(str(tmp_path / 'pipe'))
        csv_path.symlink_to(tmp_path / 'pipe')
    elif kind == 'directory':
        csv_path.mkdir()
    elif kind == 'oversized':
        with open(str(csv_path), 'wb') as sparse:  # 64 MiB and one byte, sparse: neither disk space nor time
            sparse.write(b'name,host\n')
            sparse.truncate(64 * 1024 * 1024 + 1)
    elif kind == 'socket':
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(csv_path))
        return server
    return None


@pytest.mark.parametrize('kind, message', [
    ('fifo', '{csv}: is a named pipe (FIFO), not a CSV file (only a regular file is read)'),
    ('symlink_to_a_fifo', '{csv}: is a named pipe (FIFO), not a CSV file (only a regular file is read)'),
    ('symlink_to_dev_zero', '{csv}: is a character device, not a CSV file (only a regular file is read)'),
    ('dev_zero', '/dev/zero: is a character device, not a CSV file (only a regular file is read)'),
    ('directory', '{csv}: is a directory, not a CSV file (only a regular file is read)'),
    ('socket', '{csv}: is a socket, not a CSV file (only a regular file is read)'),
    ('oversized', '{csv}: the CSV file has 67108865 bytes, more than the 64 MiB the plugin reads: is it the right file?'),
])
def test_a_csv_path_that_is_not_a_regular_file_fails_at_once(ansible, tmp_path, kind, message):
    """/dev/zero used to be read until memory ran out (3.8 GB in 8.5 s), a FIFO hung the run: now each is one
    sentence naming the file, and nothing is read. subprocess.run's timeout turns a hang into a failure."""
    kept = make_special(tmp_path, kind)
    csv_path = '/dev/zero' if kind == 'dev_zero' else tmp_path / 'phones.csv'
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: %s\n' % csv_path)
    try:
        proc = ansible('ansible-inventory', '-i', config_path, '--list')
    finally:
        if kept:
            kept.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert in_output(message.format(csv=csv_path), proc.stderr), proc.stderr
    assert 'Traceback' not in proc.stderr


# --- names that would read another phone's host_vars (issue 18) --------------------------------------------------

def test_a_row_named_dot_cannot_take_the_other_phones_vaulted_passcodes(ansible, tmp_path):
    """A row named '.' made Ansible read host_vars/. (the whole directory) as that phone's variables: the passcode of
    every phone went to the address of that row. Now the row is refused (on_error: fail) or skipped (warn), and no
    phone gets another phone's variables."""
    inventory = tmp_path / 'inventory'
    (inventory / 'host_vars' / 'gs-ceo').mkdir(parents=True)
    (inventory / 'host_vars' / 'gs-ceo' / 'vault.yml').write_text('grandstream_passcode: ceo-passcode-never-leaks\n')
    (inventory / 'host_vars' / 'gs-cfo.yml').write_text('grandstream_passcode: cfo-passcode-never-leaks\n')
    (tmp_path / 'phones').mkdir()
    (tmp_path / 'phones' / 'office.csv').write_text(
        'name,host\ngs-ceo,10.1.4.10\ngs-cfo,10.1.4.11\n.,10.66.6.6\n..,10.66.6.7\ngs-cfo.yml,10.66.6.8\nall,10.66.6.9\n')
    config = inventory / 'office.grandstream.yml'
    config.write_text('plugin: phonefleet.grandstream.csv\npath: ../phones/office.csv\n')
    csv_path = inventory / '..' / 'phones' / 'office.csv'  # as the plugin names it: path resolved against the config's directory

    refused = ansible('ansible-inventory', '-i', inventory, '--list')
    assert refused.returncode == 1
    for line, name in ((4, '.'), (5, '..'), (6, 'gs-cfo.yml'), (7, 'all')):
        assert in_output("%s:%d: name '%s' " % (csv_path, line, name), refused.stderr), refused.stderr
    assert 'never-leaks' not in refused.stdout + refused.stderr

    config.write_text('plugin: phonefleet.grandstream.csv\npath: ../phones/office.csv\non_error: warn\n')
    skipped = ansible('ansible-inventory', '-i', inventory, '--list', '--export')
    assert skipped.returncode == 0, skipped.stderr
    hostvars = json.loads(skipped.stdout)['_meta']['hostvars']
    assert sorted(hostvars) == ['gs-ceo', 'gs-cfo']
    assert hostvars['gs-ceo']['grandstream_passcode'] == 'ceo-passcode-never-leaks'
    for line in (4, 5, 6, 7):
        assert in_output('%s:%d: skipped this row: name' % (csv_path, line), skipped.stderr)


# --- issue 17: ansible.cfg makes a bad row fail the run; the quick start's enable_plugins --------------------------

QUICK_START_CFG = '''[inventory]
# Only the plugins the quick start needs: an inventory error then is the CSV plugin's message alone
enable_plugins = phonefleet.grandstream.csv, host_list
# An inventory that does not parse (a bad CSV row) is an error, not a warning and a run over no phone
any_unparsed_is_failed = true
'''


def quick_start(tmp_path, csv_text):
    """The README's quick start layout: inventory/office.grandstream.yml, phones/office.csv, ansible.cfg."""
    (tmp_path / 'inventory').mkdir()
    (tmp_path / 'phones').mkdir()
    (tmp_path / 'inventory' / 'office.grandstream.yml').write_text('plugin: phonefleet.grandstream.csv\npath: ../phones/office.csv\n')
    (tmp_path / 'phones' / 'office.csv').write_text(csv_text)
    return 'inventory/../phones/office.csv'  # the end of the path the plugin names in its messages


@pytest.mark.parametrize('cfg', ['[inventory]\nany_unparsed_is_failed = true\n', QUICK_START_CFG])
def test_ansible_cfg_any_unparsed_is_failed_makes_a_bad_row_fail_the_run(ansible, tmp_path, cfg):
    csv_path = quick_start(tmp_path, 'name,host,passcode\ngs1,10.1.4.10,%s\ngs2,,%s\n' % (PASSCODE, PASSCODE))
    (tmp_path / 'ansible.cfg').write_text(cfg)
    proc = ansible('ansible-inventory', '-i', 'inventory/office.grandstream.yml', '--list', strict=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert in_output("%s:3: the 'host' cell is empty" % csv_path, proc.stderr)
    assert PASSCODE not in proc.stdout + proc.stderr
    # the key the README used to name does not exist: Ansible ignores it and only warns
    (tmp_path / 'ansible.cfg').write_text('[inventory]\ninventory_unparsed_failed = true\n')
    ignored = ansible('ansible-inventory', '-i', 'inventory/office.grandstream.yml', '--list', strict=False)
    assert ignored.returncode == 0
    assert in_output('Unable to parse', ignored.stderr)


def test_the_quick_start_enable_plugins_keeps_the_error_short_and_the_inventory_working(ansible, tmp_path):
    """With every default plugin enabled Ansible prints each one's failed attempt after the CSV error; with
    QUICK_START_CFG only the CSV plugin's message is left, and good inventories, -i inventory/ with group_vars,
    ad hoc host lists and playbooks work as before."""
    csv_path = quick_start(tmp_path, 'name,host\ngs1,10.1.4.10\ngs2,10.1.4.300\n')
    (tmp_path / 'ansible.cfg').write_text('[inventory]\nany_unparsed_is_failed = true\n')
    noisy = ansible('ansible-inventory', '-i', 'inventory/office.grandstream.yml', '--list', strict=False)
    (tmp_path / 'ansible.cfg').write_text(QUICK_START_CFG)
    short = ansible('ansible-inventory', '-i', 'inventory/office.grandstream.yml', '--list', strict=False)
    for proc in (noisy, short):
        assert proc.returncode == 1
        assert in_output("%s:3: host '10.1.4.300' is neither an IP address nor a valid DNS name" % csv_path, proc.stderr)
    assert "with 'yaml' plugin" in noisy.stderr and "with 'ini' plugin" in noisy.stderr
    assert "'yaml' plugin" not in short.stderr and "'ini' plugin" not in short.stderr and "'auto' plugin" not in short.stderr
    assert len(short.stderr.splitlines()) < len(noisy.stderr.splitlines())
    print('error lines: %d with the default plugins, %d with the quick start ansible.cfg'
          % (len(noisy.stderr.splitlines()), len(short.stderr.splitlines())))

    (tmp_path / 'phones' / 'office.csv').write_text('name,host\ngs1,10.1.4.10\ngs2,10.1.4.11\n')
    (tmp_path / 'inventory' / 'group_vars').mkdir()
    (tmp_path / 'inventory' / 'group_vars' / 'grandstream.yml').write_text('grandstream_timeout: 7\n')
    for source in ('inventory/office.grandstream.yml', 'inventory/'):
        good = ansible('ansible-inventory', '-i', source, '--list', strict=False)
        assert_ok(good)
        assert json.loads(good.stdout)['_meta']['hostvars']['gs2']['grandstream_timeout'] == 7
    ad_hoc = ansible('ansible-inventory', '-i', '10.1.4.20,10.1.4.21', '--list', strict=False)
    assert_ok(ad_hoc)
    assert all_hosts(json.loads(ad_hoc.stdout)) == ['10.1.4.20', '10.1.4.21']
    (tmp_path / 'play.yml').write_text('- name: Every phone\n  hosts: grandstream\n  gather_facts: false\n  tasks:\n'
                                       '    - name: Say its address\n      ansible.builtin.debug:\n        msg: "at {{ ansible_host }}"\n')
    play = ansible('ansible-playbook', '-i', 'inventory/', 'play.yml', strict=False)
    assert play.returncode == 0, play.stdout + play.stderr
    assert 'at 10.1.4.11' in play.stdout and '[WARNING]' not in play.stderr
