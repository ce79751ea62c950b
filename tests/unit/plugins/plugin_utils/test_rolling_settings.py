# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling options: one table of defaults (module_utils/rolling_options) that the module's argument spec, its
documentation, the role's defaults and the role's argument specs all agree with; parsed once into a frozen object."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import REPORT_FORMATS
from ansible_collections.phonefleet.grandstream.plugins.modules import fleet_reboot
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import RebootChange
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import ROLLING_REPORTS
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_settings import RollingSettings
from ansible_collections.phonefleet.grandstream.tests.unit.plugins.plugin_utils.fake_fleet import task_args

ROOT = Path(fleet_reboot.__file__).resolve().parents[2]
ROLE = ROOT / 'roles' / 'rolling_reboot'
PREFIX = RebootChange.role_prefix
# Role variables with no module option (the role's own policy), module options the role does not offer.
ROLE_ONLY = {'rolling_reboot_fail_on_problems', 'rolling_reboot_stats_max_names'}
MODULE_ONLY = {'hosts', 'return_phones'}
# The role writes its reports into a directory by default; the module writes none unless told.
ROLE_CHOICES = {'report_dir': 'rolling_reboot_reports'}


def same(one, other):
    """Defaults compare as values: 120 == 120.0, "" (a role's "none") == None."""
    if one in ('', None) and other in ('', None):
        return True
    return one == other


def role_defaults():
    return yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())


def role_specs():
    return yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']


def module_doc_options():
    return yaml.safe_load(fleet_reboot.DOCUMENTATION)['options']


def test_the_role_offers_every_option_of_the_module_with_the_same_default():
    defaults, specs = role_defaults(), role_specs()
    assert set(defaults) == set(specs), 'defaults/main.yml and meta/argument_specs.yml name the same variables'
    options = dict((name[len(PREFIX):], name) for name in defaults if name not in ROLE_ONLY)
    assert set(options) == set(fleet_reboot.ARGUMENT_SPEC) - MODULE_ONLY
    for option, variable in options.items():
        module_default = ROLE_CHOICES.get(option, fleet_reboot.ARGUMENT_SPEC[option].get('default'))
        assert same(defaults[variable], module_default), (variable, defaults[variable], module_default)
        assert same(specs[variable].get('default'), defaults[variable]), variable
        assert specs[variable].get('choices') == fleet_reboot.ARGUMENT_SPEC[option].get('choices'), variable


def test_the_module_documents_its_argument_spec():
    documented = module_doc_options()
    assert set(documented) == set(fleet_reboot.ARGUMENT_SPEC)
    for name, spec in fleet_reboot.ARGUMENT_SPEC.items():
        assert same(documented[name].get('default'), spec.get('default')), name
        assert documented[name]['type'] == spec['type'] and documented[name].get('choices') == spec.get('choices'), name
    assert 'required' not in fleet_reboot.ARGUMENT_SPEC['state_dir'], 'the per-user state directory is the default'


def test_the_report_formats_are_the_registered_ones():
    assert list(REPORT_FORMATS) == list(ROLLING_REPORTS) == role_defaults()['rolling_reboot_report_formats']


def test_options_are_parsed_once_into_a_frozen_object():
    settings = RollingSettings.from_args(task_args(batch_size='25%', canary='1', window='01:00-05:00', run_id='w1'))
    assert settings.batch_count(20) == 5 and settings.canary_count(20) == 1 and settings.window.text == '01:00-05:00'
    assert settings.run_id == 'w1' and settings.state_dir is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 4


@pytest.mark.parametrize('options, words', [
    ({'batch_size': 'ten'}, 'batch_size must be a positive count'),
    ({'canary': '0.5%x'}, 'canary must be a positive count'),
    ({'window': '1-5'}, 'window must look like'),
    ({'run_id': 'a/b'}, 'run id must be'),
    ({'run_id': 'night\n'}, 'run id must be'),
    ({'max_fail_percent': 101}, 'max_fail_percent must be from 0 to 100'),
    ({'batch_pause': -1}, 'batch_pause must be a number of seconds'),
    ({'poll_interval': 0}, 'poll_interval must be a positive number'),
    ({'busy_timeout': -1}, 'busy_timeout must be a non-negative number'),
])
def test_bad_options_are_sentences(options, words):
    with pytest.raises(ValueError) as caught:
        RollingSettings.from_args(task_args(**options))
    assert words in str(caught.value)


@pytest.mark.parametrize('options, words', [({'down_timeout': -1}, 'down_timeout must be a non-negative'),
                                            ({'connect_timeout': 0}, 'connect_timeout must be a positive')])
def test_bad_reboot_options_are_refused_by_the_change(options, words):
    with pytest.raises(ValueError) as caught:
        RebootChange.from_args(task_args(**options))
    assert words in str(caught.value)
