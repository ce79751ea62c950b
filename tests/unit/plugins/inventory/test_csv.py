# Copyright: (c) 2025, phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the phonefleet.grandstream.csv inventory plugin: verify_file, parse, vault, constructed features.

The parse() tests use a real InventoryData and DataLoader with files in pytest's tmp_path. The CSV table validator
has its own tests in tests/unit/plugins/plugin_utils/test_csv_table.py.
"""

from __future__ import annotations

import os
import textwrap
from unittest import mock

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.phonefleet.grandstream.plugins.inventory.csv import InventoryModule
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.csv_table import CsvInventoryError


# --- the plugin: verify_file and parse ----------------------------------------------------------------------------

@pytest.fixture
def plugin():
    return inventory_loader.get('phonefleet.grandstream.csv')


@pytest.mark.parametrize('name, wanted', [
    ('office.grandstream.yml', True),
    ('grandstream.yaml', True),
    ('office.grandstream.json', False),
    ('office.yml', False),
    ('phones.csv', False),
])
def test_verify_file(plugin, tmp_path, name, wanted):
    path = tmp_path / name
    path.write_text('plugin: phonefleet.grandstream.csv\n')
    with mock.patch.object(plugin.display, 'vvv') as vvv:
        assert plugin.verify_file(str(path)) is wanted
    if not wanted:
        vvv.assert_called_once()
        assert 'only reads configuration files whose names end in grandstream.yml or grandstream.yaml' in vvv.call_args[0][0]


def test_verify_file_missing(plugin, tmp_path):
    assert plugin.verify_file(str(tmp_path / 'gone.grandstream.yml')) is False


def run_parse(plugin, tmp_path, config, csv_text=None, csv_name='phones.csv'):
    if csv_text is not None:
        (tmp_path / csv_name).write_bytes(csv_text.encode('utf-8') if isinstance(csv_text, str) else csv_text)
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text(textwrap.dedent(config))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    return inventory


def group_members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def test_parse_resolves_a_relative_path_against_the_config_directory(plugin, tmp_path, monkeypatch):
    monkeypatch.chdir('/')
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
    ''', 'name,host,groups\ngs1,10.0.0.1,lobby\ngs2,10.0.0.2,\n')
    assert group_members(inventory, 'grandstream') == ['gs1', 'gs2']
    assert group_members(inventory, 'lobby') == ['gs1']
    assert inventory.get_host('gs1').vars['ansible_host'] == '10.0.0.1'
    assert inventory.get_host('gs1').vars['ansible_connection'] == 'local'


def test_parse_default_group_and_connection_options(plugin, tmp_path):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        default_group: phones
        connection: ''
    ''', 'name,host\ngs1,10.0.0.1\n')
    assert 'grandstream' not in inventory.groups
    assert group_members(inventory, 'phones') == ['gs1']
    assert 'ansible_connection' not in inventory.get_host('gs1').vars


def test_parse_rejects_an_invalid_default_group(plugin, tmp_path):
    with pytest.raises(AnsibleParserError, match="default_group 'voice-phones' is not a valid group name"):
        run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            default_group: voice-phones
        ''', 'host\n10.0.0.1\n')


@pytest.mark.parametrize('group', ['all', 'ungrouped'])
def test_parse_rejects_a_reserved_default_group(plugin, tmp_path, group):
    with pytest.raises(AnsibleParserError, match="default_group '%s' is a name Ansible reserves for its own group: use another name, "
                                                 "or an empty string for no extra group" % group):
        run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            default_group: %s
        ''' % group, 'host\n10.0.0.1\n')


def test_parse_warns_about_a_phone_another_source_has_added(plugin, tmp_path):
    (tmp_path / 'phones.csv').write_text('name,host\ngs1,10.0.0.1\ngs2,10.0.0.2\n')
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    inventory = InventoryData()
    inventory.add_host('gs2')
    inventory.set_variable('gs2', 'owner', 'ini')
    with mock.patch.object(plugin.display, 'warning') as warning:
        plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    assert [call[0][0] for call in warning.call_args_list] == [
        "%s:3: gs2 is already in the inventory from another source: Ansible merges the two into one host "
        "(the variables of this row override the other source's)" % (tmp_path / 'phones.csv'),
    ]
    assert inventory.get_host('gs2').vars['owner'] == 'ini'
    assert inventory.get_host('gs2').vars['ansible_host'] == '10.0.0.2'


def test_parse_fail_lists_every_problem_and_loads_nothing(plugin, tmp_path):
    with pytest.raises(AnsibleParserError) as error:
        run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
        ''', 'name,host,port,passcode\ngs1,10.0.0.1,,pw-1\ngs2,,,pw-2\ngs3,10.0.0.3,99999,pw-3\n')
    message = error.value.message
    csv_path = str(tmp_path / 'phones.csv')
    assert message.splitlines() == [
        '%s: 2 problems in 2 rows, no phone loaded (on_error: warn would skip the bad rows):' % csv_path,
        "%s:3: the 'host' cell is empty" % csv_path,
        "%s:4: port '99999' is not a number from 1 to 65535" % csv_path,
    ]
    assert 'pw-' not in message


def test_parse_warn_skips_bad_rows(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        inventory = run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            on_error: warn
        ''', 'name,host,scheme,passcode\ngs1,10.0.0.1,,pw-1\ngs2,,ftp,pw-2\ngs3,10.0.0.3,,pw-3\n')
    assert group_members(inventory, 'grandstream') == ['gs1', 'gs3']
    csv_path = str(tmp_path / 'phones.csv')
    assert [call[0][0] for call in warning.call_args_list] == [
        "%s:3: skipped this row: the 'host' cell is empty; scheme 'ftp' is not 'http' or 'https'" % csv_path,
    ]


@pytest.mark.parametrize('csv_text, message', [
    (None, ": the CSV file does not exist (a relative 'path' is resolved against the directory of the configuration file)"),
    (b'host\n10.0.0.1\nZ\xfcrich\n', ":3: the file is not UTF-8 text."),
    (b'name,host\n', None),
])
def test_parse_file_problems(plugin, tmp_path, csv_text, message):
    config = '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
    '''
    if message is None:
        assert not run_parse(plugin, tmp_path, config, csv_text).hosts
        return
    with pytest.raises(AnsibleParserError) as error:
        run_parse(plugin, tmp_path, config, csv_text)
    assert error.value.message.startswith(str(tmp_path / 'phones.csv') + message)


def test_parse_unreadable_file(plugin, tmp_path):
    (tmp_path / 'phones.csv').write_text('host\n')
    with mock.patch('os.open', side_effect=PermissionError(13, 'Permission denied')):
        with pytest.raises(CsvInventoryError, match=r'phones.csv: cannot read the CSV file: Permission denied'):
            plugin._read_text(str(tmp_path / 'phones.csv'))


def test_parse_a_directory(plugin, tmp_path):
    (tmp_path / 'phones.csv').mkdir()
    with pytest.raises(AnsibleParserError, match='phones.csv: is a directory, not a CSV file'):
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\n')


def test_parse_warns_about_unknown_options(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\ndelimter: ";"\n', 'host\n10.0.0.1\n')
    assert 'ignoring unknown option delimter' in warning.call_args[0][0]


CONSTRUCTED_CSV = 'name,host,site,model\ngs1,10.0.0.1,hq,GRP2614\ngs2,10.0.0.2,lab,GRP2612\ngs3,10.0.0.3,,GRP2612\n'


@pytest.mark.parametrize('key', ['site', 'site | string', "site | default('')"])
def test_keyed_groups_on_a_column_name_match_the_template_engine(plugin, tmp_path, key):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        keyed_groups:
          - key: %s
            prefix: site
    ''' % key, CONSTRUCTED_CSV)
    assert group_members(inventory, 'site_hq') == ['gs1']
    assert group_members(inventory, 'site_lab') == ['gs2']


def test_compose_groups_and_keyed_groups_see_the_final_variables(plugin, tmp_path):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        leading_separator: false
        compose:
          url: "'http://' ~ ansible_host"
          ansible_connection: "'httpapi'"
        groups:
          grp2612: model == 'GRP2612'
          httpapi_phones: ansible_connection == 'httpapi'
        keyed_groups:
          - key: model | lower
          - key: site | default('')
            prefix: site
            default_value: unknown
            parent_group: sites
    ''', CONSTRUCTED_CSV)
    assert inventory.get_host('gs1').vars['url'] == 'http://10.0.0.1'
    assert inventory.get_host('gs1').vars['ansible_connection'] == 'httpapi'
    assert group_members(inventory, 'grp2612') == ['gs2', 'gs3']
    assert group_members(inventory, 'httpapi_phones') == ['gs1', 'gs2', 'gs3']  # groups see what compose set
    assert group_members(inventory, 'grp2614') == ['gs1']
    assert group_members(inventory, 'site_unknown') == ['gs3']
    assert sorted(group.name for group in inventory.groups['sites'].child_groups) == ['site_hq', 'site_lab', 'site_unknown']


def test_compose_does_not_render_csv_values(plugin, tmp_path):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        compose:
          label: model ~ '!'
        keyed_groups:
          - key: model
    ''', 'host,model\n10.0.0.1,"{{ 7 * 6 }}"\n')
    variables = inventory.get_host('10.0.0.1').vars
    assert variables['model'] == '{{ 7 * 6 }}'
    assert variables['label'] == '{{ 7 * 6 }}!'


def test_strict_failures_list_every_phone_and_leave_nothing_behind(plugin, tmp_path):
    with pytest.raises(AnsibleParserError) as error:
        run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            strict: true
            keyed_groups:
              - key: site
                prefix: site
        ''', CONSTRUCTED_CSV + 'gs4,10.0.0.4,,x\n')
    lines = error.value.message.splitlines()
    csv_path = str(tmp_path / 'phones.csv')
    assert lines[0] == '%s: 2 phones failed compose, groups or keyed_groups with strict: true, no phone loaded:' % csv_path
    assert lines[1].startswith('%s:4: ' % csv_path) and 'gs3' in lines[1]
    assert lines[2].startswith('%s:5: ' % csv_path) and 'gs4' in lines[2]


@pytest.mark.parametrize('on_error', ['fail', 'warn'])
def test_strict_failure_messages_hide_passcodes(plugin, tmp_path, on_error):
    """Jinja2's message for a missing key quotes the key: a passcode here, from the CSV file or from compose."""
    config = '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        on_error: %s
        strict: true
        compose:
          grandstream_passcode: "grandstream_passcode | default('composed-pw')"
        groups:
          # groups see what compose set
          hq_code: "{'hq': 1}[grandstream_passcode] == 1"
    ''' % on_error
    csv_text = 'name,host,passcode\ngs1,10.0.0.1,csv-pw\ngs2,10.0.0.2,\n'
    with mock.patch.object(plugin.display, 'warning') as warning:
        if on_error == 'fail':
            with pytest.raises(AnsibleParserError) as error:
                run_parse(plugin, tmp_path, config, csv_text)
            messages = error.value.message.splitlines()[1:]
        else:
            run_parse(plugin, tmp_path, config, csv_text)
            messages = [call[0][0] for call in warning.call_args_list]
    assert len(messages) == 2
    for message in messages:
        assert "has no attribute '********'" in message
        assert 'csv-pw' not in message and 'composed-pw' not in message


def test_strict_failure_rollback_keeps_other_sources(plugin, tmp_path):
    (tmp_path / 'phones.csv').write_text(CONSTRUCTED_CSV)
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\nstrict: true\ncompose:\n  x: nope + 1\n')
    inventory = InventoryData()
    inventory.add_group('earlier')
    inventory.add_host('gs1', group='earlier')
    with pytest.raises(AnsibleParserError):
        plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    assert sorted(inventory.hosts) == ['gs1']
    assert sorted(inventory.groups) == ['all', 'earlier', 'ungrouped']


def test_strict_failure_in_warn_mode_skips_the_phone(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        inventory = run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            on_error: warn
            strict: true
            keyed_groups:
              - key: site
        ''', CONSTRUCTED_CSV)
    assert sorted(inventory.hosts) == ['gs1', 'gs2']
    assert warning.call_args[0][0].startswith(str(tmp_path / 'phones.csv') + ':4: skipped this row: ')


def test_vault_encrypted_csv(plugin, tmp_path):
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(b'correct horse')
    encrypted = VaultLib([('default', secret)]).encrypt('name,host\ngs1,10.0.0.1\n', secret)
    (tmp_path / 'phones.csv').write_bytes(encrypted)
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')

    loader = DataLoader()
    loader.set_vault_secrets([('default', secret)])
    inventory = InventoryData()
    plugin.parse(inventory, loader, str(config_path), cache=False)
    assert sorted(inventory.hosts) == ['gs1']

    with pytest.raises(AnsibleParserError, match='cannot decrypt the vault-encrypted CSV file'):
        plugin.parse(InventoryData(), DataLoader(), str(config_path), cache=False)


def test_the_plugin_class_is_the_loaded_one(plugin):
    assert isinstance(plugin, InventoryModule)
    assert plugin.NAME == 'phonefleet.grandstream.csv'


def test_strict_failure_in_warn_mode_keeps_a_phone_of_an_earlier_source(plugin, tmp_path):
    (tmp_path / 'phones.csv').write_text(CONSTRUCTED_CSV)
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\non_error: warn\nstrict: true\nkeyed_groups:\n  - key: site\n')
    inventory = InventoryData()
    inventory.add_host('gs3')
    with mock.patch.object(plugin.display, 'warning') as warning:
        plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    assert sorted(inventory.hosts) == ['gs1', 'gs2', 'gs3']
    message = warning.call_args[0][0]
    assert message.startswith(str(tmp_path / 'phones.csv') + ':4: ') and 'skipped' not in message


# --- the web-session columns, a file without phones ---------------------------------------------------------------

def test_parse_sets_the_web_session_variables(plugin, tmp_path):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
    ''', 'name,host,auth,username\ngs1,10.0.0.1,Session,operator\ngs2,10.0.0.2,,\n')
    assert (inventory.get_host('gs1').vars['grandstream_auth'], inventory.get_host('gs1').vars['grandstream_username']) == ('session', 'operator')
    assert 'grandstream_auth' not in inventory.get_host('gs2').vars
    assert 'grandstream_username' not in inventory.get_host('gs2').vars


@pytest.mark.parametrize('csv_text', ['name,host\n', '# the office\nname,host\n\n,\n , \n# nothing yet\n'])
def test_parse_warns_about_a_file_without_phone_rows(plugin, tmp_path, csv_text):
    with mock.patch.object(plugin.display, 'warning') as warning:
        inventory = run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\n', csv_text)
    assert not inventory.hosts
    assert [call[0][0] for call in warning.call_args_list] == [
        '%s: the CSV file has a header but no phone rows' % (tmp_path / 'phones.csv')]
    assert sorted(inventory.groups) == ['all', 'grandstream', 'ungrouped']


def test_parse_warns_when_on_error_warn_skipped_every_row(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        inventory = run_parse(plugin, tmp_path, '''
            plugin: phonefleet.grandstream.csv
            path: phones.csv
            on_error: warn
        ''', 'name,host,auth,passcode\ngs1,,,pw-1\ngs2,10.0.0.2,kerberos,pw-2\n')
    assert not inventory.hosts
    csv_path = str(tmp_path / 'phones.csv')
    assert [call[0][0] for call in warning.call_args_list] == [
        "%s:2: skipped this row: the 'host' cell is empty" % csv_path,
        "%s:3: skipped this row: auth 'kerberos' is not 'passcode', 'session' or 'session_plain'" % csv_path,
        '%s: every phone row of the CSV file was skipped (on_error: warn), no phone loaded' % csv_path,
    ]


def test_parse_says_nothing_more_when_some_rows_load(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\non_error: warn\n',
                  'name,host\ngs1,\ngs2,10.0.0.2\n')
    assert [call[0][0].split(': ', 1)[1] for call in warning.call_args_list] == ["skipped this row: the 'host' cell is empty"]


# --- keyed_groups on columns read Host.vars; anything else sees every variable ----------------------------------

def test_keyed_groups_on_columns_read_what_another_source_set(plugin, tmp_path):
    """An empty cell leaves an earlier source's value in place; a value that is not a plain string takes the template path."""
    (tmp_path / 'phones.csv').write_text('name,host,site\ngs1,10.0.0.1,\ngs2,10.0.0.2,lab\ngs3,10.0.0.3,\n')
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text(textwrap.dedent('''\
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        keyed_groups:
          - key: site
            prefix: site
            parent_group: sites
          - key: floor
            prefix: floor
    '''))
    inventory = InventoryData()
    inventory.add_host('gs1')
    inventory.set_variable('gs1', 'site', 'hq')
    inventory.add_host('gs3')
    inventory.set_variable('gs3', 'floor', ['2', '3'])
    plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    assert group_members(inventory, 'site_hq') == ['gs1']
    assert group_members(inventory, 'site_lab') == ['gs2']
    assert sorted(group.name for group in inventory.groups['sites'].child_groups) == ['site_hq', 'site_lab']
    assert group_members(inventory, 'floor_2') == ['gs3']
    assert group_members(inventory, 'floor_3') == ['gs3']
    assert [name for name in inventory.groups if name.startswith('floor')] == ['floor_2', 'floor_3']


def test_keyed_groups_on_magic_variables_see_them(plugin, tmp_path):
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        keyed_groups:
          - key: inventory_hostname
            prefix: host
          - key: group_names
            prefix: in
    ''', 'name,host,groups\ngs1,10.0.0.1,lobby\ngs2,10.0.0.2,\n')
    assert group_members(inventory, 'host_gs1') == ['gs1']
    assert group_members(inventory, 'in_lobby') == ['gs1']
    assert group_members(inventory, 'in_grandstream') == ['gs1', 'gs2']
    # Ansible reads the variables again before each entry: group_names already holds the group of the entry before
    assert group_members(inventory, 'in_host_gs2') == ['gs2']


@pytest.mark.parametrize('key', ['site', 'site | string'])
def test_keyed_groups_on_columns_give_what_the_template_engine_gives(plugin, tmp_path, key):
    """'site' takes the shortcut (Ansible names the group of the first phone with a value, the others join it),
    the expression takes Ansible's path for every phone: the same groups, members, order and parents. gs1 is in
    site_lab already (its groups cell), which must not keep gs2 out of it; phones without a site join no site group."""
    csv_text = ('name,host,site,groups\ngs1,10.0.0.1,lab,site_lab\ngs2,10.0.0.2,lab,\ngs3,10.0.0.3,hq,\n'
                'gs4,10.0.0.4,,\ngs5,10.0.0.5,hq,\ngs6,10.0.0.6,,\n')
    inventory = run_parse(plugin, tmp_path, '''
        plugin: phonefleet.grandstream.csv
        path: phones.csv
        keyed_groups:
          - key: %s
            prefix: site
            parent_group: sites
          - key: %s
            prefix: place
            separator: ''
    ''' % (key, key), csv_text)
    members = {name: group_members(inventory, name) for name in inventory.groups if name.startswith(('site', 'place'))}
    assert members == {
        'site_lab': ['gs1', 'gs2'], 'site_hq': ['gs3', 'gs5'], 'sites': ['gs1', 'gs2', 'gs3', 'gs5'],
        'placelab': ['gs1', 'gs2'], 'placehq': ['gs3', 'gs5'],
    }
    assert [name for name in inventory.groups if name.startswith(('site', 'place'))] == ['site_lab', 'sites', 'placelab', 'site_hq', 'placehq']
    assert [host.name for host in inventory.groups['site_hq'].hosts] == ['gs3', 'gs5']
    assert sorted(group.name for group in inventory.groups['sites'].child_groups) == ['site_hq', 'site_lab']
    assert inventory.groups['sites'].hosts == []  # members through their site_* groups only


# --- names that clash with groups, files that are not regular (issue 18) ------------------------------------------

KEYED_BY_SITE = '''
    plugin: phonefleet.grandstream.csv
    path: phones.csv
    on_error: %s
    keyed_groups:
      - key: site
        prefix: site
'''


def test_a_phone_named_like_a_keyed_group_fails_the_source(plugin, tmp_path):
    with pytest.raises(AnsibleParserError) as error:
        run_parse(plugin, tmp_path, KEYED_BY_SITE % 'fail', 'name,host,site,passcode\ngs1,10.0.0.1,hq,pw-1\nsite_hq,10.0.0.2,lab,pw-2\n')
    csv_path = str(tmp_path / 'phones.csv')
    assert error.value.message.splitlines() == [
        '%s: 1 phone named like a group, no phone loaded:' % csv_path,
        "%s:3: name 'site_hq' is also the name of a group (made by compose, groups, keyed_groups or another inventory "
        "source): a host and a group must not share a name" % csv_path,
    ]


def test_a_phone_named_like_a_keyed_group_is_skipped_with_on_error_warn(plugin, tmp_path):
    with mock.patch.object(plugin.display, 'warning') as warning:
        inventory = run_parse(plugin, tmp_path, KEYED_BY_SITE % 'warn',
                              'name,host,site\ngs1,10.0.0.1,hq\nsite_hq,10.0.0.2,lab\nsite_lab,10.0.0.3,lab\n')
    assert sorted(inventory.hosts) == ['gs1']
    assert [call[0][0].split(': name')[0] for call in warning.call_args_list] == [
        '%s:3: skipped this row' % (tmp_path / 'phones.csv'), '%s:4: skipped this row' % (tmp_path / 'phones.csv')]
    assert group_members(inventory, 'site_hq') == ['gs1']


def test_a_phone_named_like_a_group_of_an_earlier_source(plugin, tmp_path):
    (tmp_path / 'phones.csv').write_text('name,host,passcode\nlab,10.0.0.1,pw-1\ngs2,10.0.0.2,pw-2\n')
    config_path = tmp_path / 'office.grandstream.yml'
    config_path.write_text('plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
    inventory = InventoryData()
    inventory.add_group('lab')
    inventory.add_host('other', group='lab')
    with pytest.raises(AnsibleParserError, match=r"phones.csv:2: name 'lab' is also the name of a group"):
        plugin.parse(inventory, DataLoader(), str(config_path), cache=False)
    assert sorted(inventory.hosts) == ['other']
    assert sorted(inventory.groups) == ['all', 'lab', 'ungrouped']


@pytest.mark.parametrize('name', ['.', '..', 'all', 'ungrouped', 'phones', 'gs1.yml'])
def test_parse_refuses_names_that_are_paths_or_groups(plugin, tmp_path, name):
    with pytest.raises(AnsibleParserError) as error:
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\ndefault_group: phones\n',
                  'name,host,passcode\ngs1,10.0.0.1,pw-1\n%s,10.0.0.2,pw-2\n' % name)
    assert error.value.message.splitlines()[1].startswith("%s:3: name '%s' " % (tmp_path / 'phones.csv', name))
    assert 'pw-' not in error.value.message


def test_parse_refuses_a_fifo_without_waiting_for_a_writer(plugin, tmp_path):
    os.mkfifo(str(tmp_path / 'phones.csv'))
    with pytest.raises(AnsibleParserError, match=r'phones.csv: is a named pipe \(FIFO\), not a CSV file'):
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\n')


def test_parse_refuses_a_symlink_to_dev_zero(plugin, tmp_path):
    (tmp_path / 'phones.csv').symlink_to('/dev/zero')
    with pytest.raises(AnsibleParserError, match=r'phones.csv: is a character device, not a CSV file'):
        run_parse(plugin, tmp_path, 'plugin: phonefleet.grandstream.csv\npath: phones.csv\n')
