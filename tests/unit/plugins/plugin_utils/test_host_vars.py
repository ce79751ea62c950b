# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host variables to connection options (plugin_utils/host_vars.py) with a fake hostvars: what goes through templating,
what does not, and how a bad value is named."""

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import host_vars
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.host_vars import (
    check_options, connection_args_from_vars, fleet_targets,
)

PASSCODE = 'Vau1ted-S3cret'


class Vaulted(object):
    """What a vault value looks like to the plugin: not a str (ansible-core's EncryptedString is not one)."""

    def __init__(self, ciphertext):
        self.ciphertext = ciphertext


class FakeHostvars(object):
    """raw_get(name): the variables as written; hostvars[name]: rendered in the host's own context (counted)."""

    def __init__(self, hosts):
        self.raw = hosts
        self.rendered_for = []

    def __contains__(self, name):
        return name in self.raw

    def raw_get(self, name):
        return self.raw[name]

    def __getitem__(self, name):
        self.rendered_for.append(name)
        rendered = {}
        for key, value in self.raw[name].items():
            if isinstance(value, Vaulted):
                value = PASSCODE
            elif isinstance(value, str) and '{{ inventory_hostname }}' in value:
                value = value.replace('{{ inventory_hostname }}', name)
            elif isinstance(value, str) and '{{ site_pw }}' in value:
                value = value.replace('{{ site_pw }}', self.raw[name]['site_pw'])
            rendered[key] = value
        return rendered


def test_a_vault_value_is_rendered():
    hostvars = FakeHostvars({'gs1': {'ansible_host': '10.1.4.1', 'grandstream_passcode': Vaulted('$ANSIBLE_VAULT;...')}})
    target = fleet_targets(['gs1'], hostvars)[0]
    assert target.problem is None and target.connection.passcode == PASSCODE
    assert hostvars.rendered_for == ['gs1']


def test_a_template_is_rendered_in_the_hosts_own_context():
    hostvars = FakeHostvars({
        'gs1': {'ansible_host': 'phone-{{ inventory_hostname }}.example.net', 'grandstream_passcode': '{{ site_pw }}',
                'site_pw': 'hq-secret'},
        'gs2': {'ansible_host': 'phone-{{ inventory_hostname }}.example.net', 'grandstream_passcode': '{{ site_pw }}',
                'site_pw': 'lab-secret'},
    })
    first, second = fleet_targets(['gs1', 'gs2'], hostvars)
    assert (first.connection.host, first.connection.passcode) == ('phone-gs1.example.net', 'hq-secret')
    assert (second.connection.host, second.connection.passcode) == ('phone-gs2.example.net', 'lab-secret')


def test_plain_values_are_never_templated():
    hostvars = FakeHostvars({'gs1': {'ansible_host': '10.1.4.1', 'grandstream_passcode': 'plain-pw', 'grandstream_port': 8080,
                                     'grandstream_scheme': 'https', 'grandstream_validate_certs': False, 'site': 'hq'}})
    target = fleet_targets(['gs1'], hostvars)[0]
    assert hostvars.rendered_for == [], 'plain values need no templating engine'
    assert (target.connection.port, target.connection.scheme, target.connection.validate_certs) == (8080, 'https', False)
    assert target.variables['site'] == 'hq'


@pytest.mark.parametrize('variables, words', [
    ({'grandstream_port': 'eighty'}, "grandstream_port must be a whole number, not 'eighty'"),
    ({'grandstream_port': 70000}, 'grandstream_port must be between 1 and 65535'),
    ({'grandstream_auth': 'sesion'}, "grandstream_auth must be one of passcode, session, session_plain, not 'sesion'"),
    ({'grandstream_scheme': 'ftp'}, "grandstream_scheme must be one of http, https, not 'ftp'"),
    ({'grandstream_timeout': 'soon'}, "grandstream_timeout must be a number, not 'soon'"),
    ({'grandstream_validate_certs': 'maybe'}, "grandstream_validate_certs must be true or false, not 'maybe'"),
])
def test_a_bad_value_names_its_variable_and_never_the_passcode(variables, words):
    raw = dict({'ansible_host': '10.1.4.1', 'grandstream_passcode': PASSCODE}, **variables)
    target = fleet_targets(['gs1'], FakeHostvars({'gs1': raw}))[0]
    assert target.connection is None and target.problem_reason == 'bad_variables'
    assert words in target.problem, target.problem
    assert PASSCODE not in target.problem


def test_a_bad_passcode_value_is_never_shown():
    text = host_vars._bad_value('passcode', 'S3cret', 'grandstream_passcode')  # pylint: disable=protected-access
    assert text.startswith('grandstream_passcode must be text') and 'S3cret' not in text


def test_a_missing_passcode_is_its_own_reason(monkeypatch):
    monkeypatch.delenv('GRANDSTREAM_PASSCODE', raising=False)
    target = fleet_targets(['gs1'], FakeHostvars({'gs1': {'ansible_host': '10.1.4.1'}}))[0]
    assert target.problem_reason == 'no_passcode' and 'GRANDSTREAM_PASSCODE' in target.problem
    monkeypatch.setenv('GRANDSTREAM_PASSCODE', 'from-env')
    target = fleet_targets(['gs1'], FakeHostvars({'gs1': {'ansible_host': '10.1.4.1'}}))[0]
    assert target.connection.passcode == 'from-env'


def test_a_host_missing_from_the_inventory_is_a_problem_not_a_crash():
    target = fleet_targets(['ghost'], FakeHostvars({}))[0]
    assert target.problem and 'not in the inventory' in target.problem


def test_sources_say_where_each_option_came_from(monkeypatch):
    monkeypatch.setenv('GRANDSTREAM_PASSCODE', 'from-env')
    args, sources = connection_args_from_vars({'port': 8080}, {'inventory_hostname': 'gs1', 'grandstream_auth': 'session'},
                                              lambda value: value)
    assert args['host'] == 'gs1' and sources['host'] == 'inventory_hostname'
    assert sources['auth'] == 'grandstream_auth' and sources['passcode'] == 'GRANDSTREAM_PASSCODE'
    assert 'port' not in sources, 'the task set it'
    with pytest.raises(ValueError) as caught:
        check_options(dict(args, auth='sesion'), sources, options=['auth'])
    assert str(caught.value).startswith('grandstream_auth must be one of')


def test_a_tagged_string_is_shown_as_the_user_wrote_it():
    class Tagged(str):
        """Stands for ansible-core 2.19's tagged strings, whose type name means nothing to a user."""

        def __repr__(self):
            return "_AnsibleTaggedStr('%s')" % str.__str__(self)

    with pytest.raises(ValueError) as caught:
        check_options({'auth': Tagged('sesion')}, {'auth': 'grandstream_auth'}, options=['auth'])
    assert "not 'sesion'" in str(caught.value) and 'Tagged' not in str(caught.value)


def test_host_vars_module_has_no_template_marker_false_positive():
    assert host_vars.HostVariables(FakeHostvars({'gs1': {'x': 'a { b } c'}}), 'gs1').get('x') == 'a { b } c'
