# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the variables of the role that runs this task: warn about names it does not know, read its numbers.

Glue only: find the role and its meta/argument_specs.yml, then plugin_utils/role_variables does the work.
"""

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.phonefleet.grandstream.plugins.modules.role_variables_check import ARGUMENT_SPEC
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.role_variables import (
    declared_options, number_value, unknown_sentence, unknown_variables,
)

COLLECTION = 'phonefleet.grandstream'
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        role_name, role_path = self._role(args['role'])
        try:
            specs = self._loader.load_from_file(os.path.join(role_path, 'meta', 'argument_specs.yml'))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise AnsibleActionFail('The argument specification of the role %s cannot be read: %s' % (role_name, exc))
        declared = declared_options((specs or {}).get('argument_specs'))
        prefix = args['prefix'] if args['prefix'] is not None else '%s_' % role_name.split('.')[-1]

        unknown = unknown_variables(task_vars.keys(), prefix, declared | set(args['known']))
        warnings = [unknown_sentence(name, closest, role_name) for name, closest in unknown]
        values, errors = {}, []
        for name, rule in args['numbers'].items():
            if name not in task_vars:
                continue
            try:
                values[name] = number_value(name, self._templar.template(task_vars[name]), rule.get('minimum'),
                                            rule.get('maximum'), bool(rule.get('percent')))
            except ValueError as exc:
                errors.append(str(exc))
        if warnings:
            result.setdefault('warnings', []).extend(warnings)
        result.update(changed=False, unknown=[name for name, dummy in unknown], numbers=values)
        if errors:
            result.update(failed=True, msg='%s.' % '; '.join(errors))
        else:
            result['msg'] = 'The variables of %s are known%s.' % (
                role_name, '' if not unknown else ', but for %d ignored (see the warnings)' % len(unknown))
        return result

    def _role(self, name):
        """(FQCN, path) of the role to check: ``name`` (a role of this collection), else the task's own role."""
        if name:
            short = name[len(COLLECTION) + 1:] if name.startswith(COLLECTION + '.') else name
            path = os.path.join(ROLES_DIR, short)
            if '.' in short or '/' in short or not os.path.isdir(path):
                raise AnsibleActionFail('role must name a role of %s (%s), not %s.' % (
                    COLLECTION, ', '.join(sorted(entry for entry in os.listdir(ROLES_DIR) if not entry.startswith('.'))), name))
            return '%s.%s' % (COLLECTION, short), path
        role = getattr(self._task, '_role', None)
        if role is None:
            raise AnsibleActionFail('This task is not part of a role: name the role to check with the role option.')
        return role.get_name(include_role_fqcn=True), role._role_path  # pylint: disable=protected-access
