# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup text format (round trip, errors named by line), drift, the key lists, and reading a whole configuration
from the fixture phone of every recorded model (download_cfg, catalogue, known keys; secrets never read, one login)."""

import random
import re

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import settings_backup as backup
from ansible_collections.phonefleet.grandstream.plugins.module_utils.config_tasks import apply_settings
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import (
    READ_ONLY_PVALUES, SECRET_PVALUES, is_secret, weak_admin_password,
)
from ansible_collections.phonefleet.grandstream.tests.fixtures.fixture_phone import FixturePhone

FOLDERS = {
    'GRP2614_1.0.5.67': backup.CATALOGUE,
    'WP826_1.0.3.35': backup.CATALOGUE,
    'GXP2170_1.0.11.3': backup.CATALOGUE,
    'GXP2170_1.0.9.135': backup.DOWNLOAD_CFG,
    'GXP1628_1.0.7.79': backup.KNOWN_KEYS,
}
SETTINGS_FUNCTIONS = ('config_get', 'api.values.get', 'download_cfg', 'metaconfig_get', 'config_update', 'api.values.post')


# -- the text format ---------------------------------------------------------------------------------------------

HOSTILE_VALUES = [
    '', 'pool.ntp.org', 'a b', 'trailing ', '   ', ' leading', 'back\\slash', '\\', '\\\\', '\\n', '\\x20', 'line1\nline2',
    '\n', '\r\n', 'tab\tin', '\x00nul', '\x1b[31mred', '\x7f', '\x85', '\u00a0nbsp', '\u202eoverride', '\u2028sep',
    '\ud800lone', '\U0001f600 smile', 'é€ß', '{ x+ | \\+x+ | *x+ }', 'P31=1', '=', '#not a comment', 'x' * 5000,
]


@pytest.mark.parametrize('value', HOSTILE_VALUES)
def test_a_value_survives_the_file_on_one_line(value):
    line = backup.escape_value(value)
    assert '\n' not in line and '\r' not in line and not line.endswith(' ')
    assert line.isprintable()
    assert backup.unescape_value(line) == value
    assert backup.parse_backup(backup.render_backup({'P207': value})) == {'P207': value}


def test_plain_values_are_written_as_the_phone_has_them():
    for value in ('pool.ntp.org', 'CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00', 'a=b', ' x', '#1'):
        assert backup.escape_value(value) == value
    assert backup.escape_value('a\\b') == 'a\\\\b'
    assert backup.escape_value('a\nb\tc\rd') == 'a\\nb\\tc\\rd'
    assert backup.escape_value('end  ') == 'end\\x20\\x20'
    assert backup.escape_value('\x1b\u202e\U0001f600') == '\\x1b\\u202e\U0001f600'


def test_random_strings_round_trip():
    rng = random.Random(20)
    alphabet = [chr(code) for code in list(range(0, 0x250)) + [0x2028, 0x202e, 0xd800, 0xdfff, 0xfeff, 0x1f600]] + ['\\'] * 20
    values = dict(('P%d' % number, ''.join(rng.choice(alphabet) for dummy in range(rng.randint(0, 40))))
                  for number in range(1, 400))
    text = backup.render_backup(values)
    assert len(text.split('\n')) == len(values) + 1
    assert backup.parse_backup(text) == values


def test_a_file_is_sorted_by_number_and_holds_nothing_else():
    text = backup.render_backup({'P1000': 'a', 'P30': 'b', 'P2': 'c', 'P100': ''})
    assert text == 'P2=c\nP30=b\nP100=\nP1000=a\n'


def test_parse_names_the_line_of_what_is_not_a_setting():
    with pytest.raises(ValueError, match=r"^gs1\.txt:3: not a P<number>=<value> line: 'oops'"):
        backup.parse_backup('P30=a\n\noops\n', 'gs1.txt')
    with pytest.raises(ValueError, match=r'^f:2: P30 is set twice'):
        backup.parse_backup('P30=a\n30=b\nP30=c\n'.replace('30=b\n', ''), 'f')
    with pytest.raises(ValueError, match=r'^f:1: "\\q" is not an escape'):
        backup.parse_backup('P30=a\\q\n', 'f')
    with pytest.raises(ValueError, match=r'^f:1: "\\" is not an escape'):
        backup.parse_backup('P30=a\\', 'f')
    with pytest.raises(ValueError, match=r'^f:1: .*not a character'):
        backup.parse_backup('P30=\\Uffffffff\n', 'f')
    with pytest.raises(ValueError, match=r'^f:1: not a P<number>'):
        backup.parse_backup('P1234567=x\n', 'f')


def test_parse_skips_comments_and_empty_lines_a_person_added():
    assert backup.parse_backup('# gs0001, by hand\n\nP30=a\n# P31=1\nP0031=b\n') == {'P30': 'a', 'P31': 'b'}


def test_download_cfg_is_read_as_the_phone_writes_it():
    text = 'P30=pool.ntp.org\r\nP207=a\\b\r\n<html>\r\nP30=again\nnot a line\nP64=\n'
    assert backup.parse_download_cfg(text) == {'P30': 'again', 'P207': 'a\\b', 'P64': ''}
    assert backup.parse_download_cfg('<html><body>login</body></html>') == {}


def test_drift_names_exactly_the_keys_that_differ():
    before = {'P30': 'a', 'P64': 'x', 'P100': 'gone', 'P2000': 'same'}
    after = {'P30': 'b', 'P64': 'x', 'P7': 'new', 'P2000': 'same'}
    found = backup.drift(before, after)
    assert list(found) == ['P7', 'P30', 'P100']
    assert found == {'P7': {'before': None, 'after': 'new'}, 'P30': {'before': 'a', 'after': 'b'},
                     'P100': {'before': 'gone', 'after': None}}
    assert backup.drift(after, after) == {}
    assert backup.drift({'P30': ''}, {}) == {'P30': {'before': '', 'after': None}}


def test_restorable_leaves_out_read_only_keys_and_picks_keys():
    values = {'P30': 'a', 'P64': 'b', 'P67': 'mac', 'P68': '1.0', 'P89': 'GRP2614'}
    assert backup.restorable(values) == {'P30': 'a', 'P64': 'b'}
    assert backup.restorable(values, ['30', 'p68']) == {'P30': 'a'}
    assert backup.restorable(values, ['P68'], read_only=True) == {'P68': '1.0'}
    with pytest.raises(ValueError, match="'ntp' is not a P-number key"):
        backup.restorable(values, ['ntp'])


@pytest.mark.parametrize('name,problem', [
    ('gs0001', None), ('office phone 1', None), ('gs-01_a.b', None), ('téléphone', None),
    ('', 'starts with a dot'), ('.', 'starts with a dot'), ('..', 'starts with a dot'), ('.hidden', 'starts with a dot'),
    ('../etc/passwd', 'starts with a dot'), ('a/b', 'path separator'), ('a\\b', 'path separator'),
    ('a\nb', 'not printable'), ('a\x1bb', 'not printable'), ('x' * 201, 'longer than 200 bytes'),
])
def test_only_safe_names_become_file_names(name, problem):
    if problem is None:
        assert backup.backup_file_name(name) == name + '.txt'
    else:
        with pytest.raises(ValueError, match=problem):
            backup.backup_file_name(name)


# -- the key lists -----------------------------------------------------------------------------------------------

def test_known_keys_are_safe_to_send_sorted_and_cover_section_6():
    keys = backup.KNOWN_PVALUES
    assert all(re.match(r'^P\d{1,6}$', key) for key in keys)
    assert len(set(keys)) == len(keys) and list(keys) == sorted(keys, key=lambda key: int(key[1:]))
    for key in ('P30', 'P64', 'P207', 'P208', 'P192', 'P237', 'P6767', 'P212', 'P238', 'P145', 'P1650', 'P276',
                'P32050', 'P32052', 'P1409', 'P4503', 'P240', 'P8375', 'P47', 'P35', 'P270'):
        assert key in keys, key
    assert READ_ONLY_PVALUES <= set(keys)
    assert set(key for key in keys if is_secret(key)) == SECRET_PVALUES
    assert not [key for key in backup.SECTION_6_PVALUES + backup.COMMON_PVALUES if is_secret(key)]


def test_weak_admin_passwords():
    assert weak_admin_password('Str0ngpass') is None
    assert 'fewer than 8' in weak_admin_password('Ab1')
    assert 'letters and digits' in weak_admin_password('onlyletters')
    assert 'letters and digits' in weak_admin_password('1234567890')


# -- reading a whole configuration from the fixture phone ------------------------------------------------------------

def _stored(phone):
    store = phone.settings
    return dict(('P' + number, store.value_of(number)) for number in store.numbers() if number not in store.secrets)


def _read_keys(phone):
    return [key for name, event in phone.events if name == 'settings' for key in event.get('read', [])]


@pytest.mark.parametrize('folder', sorted(FOLDERS))
def test_whole_configuration_of_every_recorded_model(folder):
    phone = FixturePhone(folder, settings={'P34': 'Sip-S3cret', 'P196': 'User-S3cret', 'P207': 'log\\host\n2'})
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        whole = backup.read_whole(client)
    assert whole.source == FOLDERS[folder]
    expected = _stored(phone)
    if whole.source == backup.DOWNLOAD_CFG:
        # the phone's own file has no escapes: a value with a newline ends at the newline there
        expected['P207'] = 'log\\host'
    assert whole.values == expected
    assert {'P2', 'P34', 'P196', 'P4505'} <= set(whole.secrets_left_out)
    assert not [value for value in whole.values.values() if 'S3cret' in value]
    assert not [key for key in _read_keys(phone) if is_secret('P' + key.lstrip('P'))], 'a secret was asked for'
    assert phone.functions().count('dologin') == 1
    assert not [function for function in phone.functions() if function.startswith('api-')]
    assert 'config_update' not in phone.functions() and 'api.values.post' not in phone.functions()


def test_a_user_role_session_does_not_ask_for_the_file_and_reads_the_values():
    phone = FixturePhone('GXP2170_1.0.9.135', role='user')
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        whole = backup.read_whole(client)
    assert whole.source == backup.KNOWN_KEYS and 'download_cfg' not in phone.functions()
    assert whole.values['P30'] == 'pool.ntp.org'


def test_a_file_with_crlf_lines_has_no_trailing_spaces():
    phone = FixturePhone('GXP2170_1.0.9.135')
    phone.script('download_cfg', (200, 'text/plain', 'P30=pool.ntp.org\r\nP64=GMT0\r\nP2=pw\r\n'))
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        whole = backup.read_whole(client)
    assert whole.values == {'P30': 'pool.ntp.org', 'P64': 'GMT0'} and whole.secrets_left_out == ['P2']


def test_a_download_that_holds_no_setting_falls_back_and_a_broken_one_fails():
    phone = FixturePhone('GXP2170_1.0.9.135')
    phone.script('download_cfg', (200, 'text/html', '<html><body>Web UI</body></html>'))
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        assert backup.read_whole(client).source == backup.KNOWN_KEYS
    phone = FixturePhone('GXP2170_1.0.9.135')
    phone.script('download_cfg', (500, 'text/html', '<html>boom</html>'))
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        with pytest.raises(CTIError) as caught:
            backup.read_whole(client)
    assert caught.value.error_class == 'error' and caught.value.status == 500


def test_a_json_phone_without_a_catalogue_is_read_through_the_known_keys():
    phone = FixturePhone('GRP2614_1.0.5.67')
    phone.script('metaconfig_get', (404, 'text/html', '<html>Not Found</html>'))
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        whole = backup.read_whole(client)
    assert whole.source == backup.KNOWN_KEYS and whole.values == _stored(phone)


def test_a_weak_admin_password_is_refused_before_anything_is_written():
    phone = FixturePhone('WP826_1.0.3.35')
    with CTIClient(phone.connection(name='gs0001'), transport=phone) as client:
        with pytest.raises(ValueError, match=r'^P2: the phone drops a weak admin password.*Nothing was written'):
            apply_settings(client, {'P30': 'ntp.example.net', 'P2': 'Weakpass'})
        result = apply_settings(client, {'P2': 'Weakpass'}, update_secrets='never')
    assert not [function for function in phone.functions() if function in ('config_update', 'api.values.post')]
    assert result['changed'] is False and phone.passcode != 'Weakpass'
