# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables as a newcomer types them: unknown names with the closest known one, numbers as people write them."""

import os

import pytest
import yaml

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils import role_variables

ROLES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles')


def role_options(role):
    with open(os.path.join(ROLES, role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        return role_variables.declared_options(yaml.safe_load(handle)['argument_specs'])


@pytest.mark.parametrize('role, typed, meant', [
    ('registration_audit', 'registration_audit_fail_undr', 'registration_audit_fail_under'),
    ('registration_audit', 'registration_audit_format', 'registration_audit_formats'),
    ('registration_audit', 'registration_audit_firmware_min', 'registration_audit_firmware_minimum'),
    ('registration_audit', 'registration_audit_merge_input', 'registration_audit_merge_inputs'),
    ('rolling_reboot', 'rolling_reboot_batchsize', 'rolling_reboot_batch_size'),
    ('rolling_reboot', 'rolling_reboot_windows', 'rolling_reboot_window'),
])
def test_a_misspelt_variable_gets_the_closest_known_name(role, typed, meant):
    known = role_options(role)
    assert meant in known
    visible = [typed, meant, 'ansible_host', 'inventory_hostname', 'registration_audit_result', '%s_result' % role]
    unknown = role_variables.unknown_variables(visible, '%s_' % role, known | {'%s_result' % role})
    assert unknown == [(typed, meant)]
    sentence = role_variables.unknown_sentence(typed, meant, 'phonefleet.grandstream.%s' % role)
    assert sentence == '%s is not a variable of the role phonefleet.grandstream.%s, so it is ignored: did you mean %s?' % (
        typed, role, meant)


def test_a_name_far_from_any_is_named_with_where_to_look():
    unknown = role_variables.unknown_variables(['registration_audit_zzzzzzzzzzzzzz'], 'registration_audit_',
                                               role_options('registration_audit'))
    assert unknown == [('registration_audit_zzzzzzzzzzzzzz', None)]
    assert 'ansible-doc -t role phonefleet.grandstream.registration_audit' in role_variables.unknown_sentence(
        'registration_audit_zzzzzzzzzzzzzz', None, 'phonefleet.grandstream.registration_audit')


def test_every_entry_point_counts():
    assert {'registration_audit_merge_inputs', 'registration_audit_concurrency'} <= role_options('registration_audit')


@pytest.mark.parametrize('value, number', [(95, 95.0), ('95', 95.0), ('95%', 95.0), (' 99.5 % ', 99.5), (0, 0.0),
                                           ('100', 100.0), (12.5, 12.5)])
def test_a_percentage_is_read_as_people_write_it(value, number):
    assert role_variables.number_value('registration_audit_fail_under', value, 0, 100, percent=True) == number


@pytest.mark.parametrize('value, shown', [
    ('ninety', "'ninety'"), ('150', '150'), (150, '150'), (-1, '-1'), ('95%%', "'95%%'"), (True, 'true'), (None, 'empty'),
    ([95], 'a list'), ({'a': 1}, 'a mapping'), ('nan', "'nan'"), (float('inf'), 'inf'), ('', "''"),
])
def test_a_bad_percentage_is_one_sentence_naming_the_variable(value, shown):
    with pytest.raises(ValueError) as caught:
        role_variables.number_value('registration_audit_fail_under', value, 0, 100, percent=True)
    assert str(caught.value) == ('registration_audit_fail_under must be a number from 0 to 100, not %s (a percentage: 95 '
                                 'and 95%% are the same)' % shown)
    assert 'Tagged' not in str(caught.value) and 'class' not in str(caught.value)


def test_other_numbers():
    assert role_variables.number_value('registration_audit_deadline', '600', minimum=0) == 600.0
    with pytest.raises(ValueError) as caught:
        role_variables.number_value('registration_audit_deadline', 'soon', minimum=0)
    assert str(caught.value) == "registration_audit_deadline must be a number of at least 0, not 'soon'"
    with pytest.raises(ValueError) as caught:
        role_variables.number_value('x', '95%', minimum=0)
    assert str(caught.value) == "x must be a number of at least 0, not '95%'", 'a % only for a percentage'
