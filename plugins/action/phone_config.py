# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Runs the module in-process when the connection is local; see plugin_utils/cti_action.py.

from ansible_collections.phonefleet.grandstream.plugins.modules import phone_config
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.cti_action import CTIActionModule


class ActionModule(CTIActionModule):
    MODULE = phone_config
