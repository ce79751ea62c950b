# -*- coding: utf-8 -*-
# Copyright: (c) 2025, phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: csv
short_description: Grandstream phones from a CSV file
version_added: 0.1.0
author:
  - phonefleet.grandstream contributors (@phonefleet)
description:
  - Reads Grandstream IP phones from a CSV file, one phone per row, for example a spreadsheet exported from Excel.
  - The configuration is a YAML file whose name ends in C(grandstream.yml) or C(grandstream.yaml)
    (for example C(inventory/office.grandstream.yml)) with O(plugin=phonefleet.grandstream.csv) and O(path) pointing to the CSV file.
  - 'The first row that is not blank and not a comment is the header. Columns come in any order and their names are
    case-insensitive. Leading and trailing spaces are removed from every cell, except from a C(passcode) cell in double quotes
    (V(" pass word ") keeps its spaces); an empty cell means "not set".'
  - 'C(host) (required): IP address or DNS name of the phone, becomes C(ansible_host).'
  - 'C(name): inventory hostname, defaults to the value of C(host). Letters, digits, C(.), C(-), C(_), C(:) and C(@), at most
    253 characters, unique in the file. Ansible reads a host''s variables from C(host_vars/<name>) and
    C(host_vars/<name>.yml) (C(.yaml), C(.json)), so a name that starts with C(.) (C(.) and C(..) are whole directories:
    the other phones'' variables) or ends in C(.yml), C(.yaml) or C(.json) (C(gs1.yml) would get the variables of C(gs1))
    is refused. So is the name of a group - C(all), C(ungrouped), O(default_group), a group of a C(groups) cell, a group
    made by O(compose), O(groups) or O(keyed_groups), or a group of another inventory source: a phone named C(all) makes
    C(ansible-inventory --list --export), what AWX imports, lose every other phone.'
  - 'C(port): becomes C(grandstream_port), a number from 1 to 65535.'
  - 'C(scheme): becomes C(grandstream_scheme), V(http) or V(https).'
  - 'C(auth): becomes C(grandstream_auth), how the modules log in to the phone: V(passcode) (the CTI passcode in every request,
    the default when the column or the cell is empty), V(session) (a web session, as WP8xx and newer GXP21xx firmware want) or
    V(session_plain) (a web session with the password sent as is, for older GXP16xx/GXP17xx firmware). Any case, written lower-case.'
  - 'C(username): becomes C(grandstream_username), the user name of a web session, on one line (the modules use V(admin) when it is not set).'
  - 'C(passcode): becomes C(grandstream_passcode). See the notes for better places to keep passcodes.'
  - 'C(groups): extra groups the phone joins, separated by spaces, C(,), C(;) or C(|) (for example V(lobby floor2), V(lobby|floor2)
    or, in double quotes, V("lobby, floor2")). Group names are letters, digits and underscores, do not start with a digit and are
    not Python keywords.'
  - Every other column (C(site), C(model), C(mac), ...) becomes a host variable of the same (lower-case) name, as a string.
    A column name must be a valid variable name and must not be a name Ansible reserves (C(inventory_hostname), C(hostvars),
    C(ansible_host), Python keywords, ...).
  - Only a regular file (or a symbolic link to one) of at most 64 MiB is read. A directory, a named pipe, a device such as
    C(/dev/zero), a socket or a larger file is refused at once, without being read.
  - The file is UTF-8, with or without the byte order mark Excel writes (UTF-16, Excel's "Unicode Text", is refused).
    Cells are separated by commas, semicolons, tabs or C(|), detected from the header row (see O(delimiter)).
    Cells in double quotes may contain the delimiter and line breaks. A row with more cells than the header row is an error,
    even if the extra cells are empty, because it usually means an unquoted cell with the delimiter in it (a passcode, say).
    Blank lines, rows whose cells are all empty and lines starting with C(#) are ignored.
  - 'Values from the CSV file are data, never templates. A cell containing C({{ ... }}) stays literally that.
    Only a value with a brace (C({) or C(})) can be a template, so only such values are marked as data (C(ansible-inventory --list)
    shows them as C({"__ansible_unsafe": ...})); every other value is a plain string, which is what AWX expects when it imports
    the inventory.'
  - Every phone joins the group O(default_group) and gets C(ansible_connection) from O(connection)
    (V(local), because phones are not SSH targets and the modules run on the controller), unless a C(ansible_connection) column sets it.
  - A CSV file encrypted with C(ansible-vault) is decrypted with the vault secrets given to Ansible.
  - Problems in the file are reported as C(file:line) with the physical line number in the CSV file, all at once.
    With O(on_error=warn) bad rows are skipped with a warning each and the other phones are loaded.
    Problems with the header row (a missing C(host) column, an invalid or reserved column name) always stop the load.
  - A file with a header row but no phone rows, or whose every row was skipped with O(on_error=warn), loads no phone
    and gets a warning.
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: Marks this YAML file as a configuration for this plugin.
    required: true
    type: str
    choices: ['phonefleet.grandstream.csv']
  path:
    description:
      - Path of the CSV file. C(~) is expanded.
      - A relative path is resolved against the directory of this configuration file, not the current working directory,
        so the same file works from the command line, from cron and from an AWX project checkout.
    required: true
    type: str
  delimiter:
    description:
      - The character between cells.
      - V(auto) detects it from the header row; V(tab) is a tab character.
    type: str
    default: auto
    choices: ['auto', ',', ';', 'tab', '|']
  default_group:
    description:
      - Every phone of the file joins this group, in addition to the groups of its C(groups) cell.
      - Set to an empty string to add no group.
    type: str
    default: grandstream
    env:
      - name: GRANDSTREAM_INVENTORY_DEFAULT_GROUP
    ini:
      - section: grandstream_inventory
        key: default_group
  connection:
    description:
      - Value of C(ansible_connection) for every phone that has no C(ansible_connection) cell.
      - V(local) because the collection's modules talk to the phone's HTTP API from the controller.
      - Set to an empty string to leave C(ansible_connection) unset. O(compose) can also override it.
    type: str
    default: local
    env:
      - name: GRANDSTREAM_INVENTORY_CONNECTION
    ini:
      - section: grandstream_inventory
        key: connection
  on_error:
    description:
      - What to do with rows that have problems (empty or invalid C(host), invalid C(port), C(scheme) or C(auth), duplicate C(name), bad group name, ...).
      - V(fail) stops with one error that lists every problem of the file, each as C(file:line).
      - V(warn) skips each bad row with a warning and loads the other rows.
      - Problems with the file itself or its header row always stop the load.
    type: str
    default: fail
    choices: ['fail', 'warn']
    env:
      - name: GRANDSTREAM_INVENTORY_ON_ERROR
    ini:
      - section: grandstream_inventory
        key: on_error
notes:
  - >-
    Passcodes in the CSV file are fine for a small site, but anyone who can read the file or run C(ansible-inventory --list) sees them.
    Better places, from the most common, are
    a C(grandstream_passcode) variable in an C(ansible-vault) encrypted C(group_vars/grandstream/vault.yml) file;
    the E(GRANDSTREAM_PASSCODE) environment variable, which the modules read when no passcode variable is set;
    on AWX or Automation Controller, a custom credential that injects E(GRANDSTREAM_PASSCODE) (see the examples).
    This plugin never prints a passcode, in error messages included: messages show C(********) for any value of the
    C(passcode) column and any C(grandstream_passcode), and never echo a cell that spans lines (an unclosed quote).
  - >-
    Error messages name the CSV file and the physical line, counting blank lines, comment lines and the lines
    inside quoted multi-line cells.
  - >-
    Two rows with the same C(name) are an error, because Ansible would silently merge them into one host.
    Two phones with the same C(host) and C(port) get a warning, and so does a phone whose name is already in the inventory
    from another source (another C(-i)).
  - >-
    O(compose), O(groups) and O(keyed_groups) see the final variables of each phone (the CSV columns, C(ansible_connection),
    C(inventory_hostname), ...). A phone with an empty C(site) cell has no C(site) variable; to group such phones too, give the
    O(keyed_groups) entry a C(default_value) and apply the C(default) filter in its C(key), as in the examples.
  - >-
    Keep the CSV file out of every directory given to C(-i) (for example C(phones/office.csv) beside C(inventory/), with
    O(path=../phones/office.csv)). C(ansible-inventory -i inventory/) hands every file of the directory to every enabled
    inventory plugin, and the C(ini) plugin reads a CSV file as hosts named after whole rows, passcodes included. If the CSV file
    has to stay in the directory, add C(.csv) to C(inventory_ignore_extensions) in the C([defaults]) section of C(ansible.cfg);
    it replaces Ansible's list, so repeat that list (C(ansible-config dump | grep INVENTORY_IGNORE_EXTS)).
    Setting C(enable_plugins = phonefleet.grandstream.csv, ...) in the C([inventory]) section stops the junk hosts too,
    but Ansible then warns that it cannot parse the CSV file, and fails with C(any_unparsed_is_failed).
  - >-
    AWX and Automation Controller fail an inventory update when its source cannot be parsed. The command line only warns
    by default and goes on without the phones; set E(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true)
    (C(any_unparsed_is_failed = true) in the C([inventory]) section of C(ansible.cfg)) so that cron jobs stop instead.
  - >-
    Ansible prints the failed attempt of every enabled inventory plugin after this plugin's error (30 lines for one bad
    row with the default plugins). C(enable_plugins = phonefleet.grandstream.csv, host_list) in the C([inventory])
    section of C(ansible.cfg) leaves this plugin's message alone (12 lines); add C(yaml), C(ini) or C(auto) only if other
    inventories need them.
seealso:
  - name: Constructed inventory plugin
    description: The options O(compose), O(groups) and O(keyed_groups) work as in ansible.builtin.constructed.
    link: https://docs.ansible.com/ansible/latest/collections/ansible/builtin/constructed_inventory.html
"""

EXAMPLES = r"""
# inventory/office.grandstream.yml -- the smallest configuration. The CSV file is phones/office.csv, beside the
# inventory/ directory, not in it: "ansible-inventory -i inventory/" reads every file of the directory with every
# enabled plugin, and the ini plugin would turn the rows of a CSV file there into hosts (see the notes).
# A relative path is resolved against the directory of this file.
#
#   phones/office.csv:
#   name,host,site,model,groups
#   # lines starting with '#' are comments; an empty cell means "not set"
#   gs-reception,10.1.4.10,hq,GRP2614,lobby
#   gs-lab-1,gs-lab-1.voice.example.net,lab,GRP2612,
#   gs-lab-2,10.9.0.12,lab,GRP2612,lab|beta
#
#   Phones that log in with a web session (WP8xx, newer GXP21xx firmware) get an 'auth' column, and a 'username'
#   column when their user is not admin; an empty cell keeps the default (passcode, admin):
#   name,host,auth,username
#   gs-wp-1,10.1.4.20,session,
#   gs-old-1,10.1.4.21,session_plain,operator
#   gs-reception,10.1.4.10,,
#
# ansible-inventory -i inventory/office.grandstream.yml --graph   (or -i inventory/)
plugin: phonefleet.grandstream.csv
path: ../phones/office.csv

---
# inventory/all.grandstream.yml -- groups per site and per model, derived variables,
# a semicolon-separated Excel export and bad rows skipped instead of stopping the load.
plugin: phonefleet.grandstream.csv
path: /srv/phonefleet/phones.csv
delimiter: ';'
on_error: warn
default_group: phones
keyed_groups:
  # site_hq, site_lab, ...; phones with an empty site cell go to site_unknown
  - key: site | default('')
    prefix: site
    default_value: unknown
  # model_grp2614, ...
  - key: model | default('') | lower
    prefix: model
groups:
  # phones whose name starts with "lab-" also join the group "lab_phones"
  lab_phones: inventory_hostname.startswith('lab-')
compose:
  # HTTPS for every phone that has no scheme cell
  grandstream_scheme: grandstream_scheme | default('https')

---
# Passcodes outside the CSV file (the better way):
#   inventory/group_vars/grandstream/vault.yml, encrypted with "ansible-vault encrypt":
#     grandstream_passcode: "s3cret"
#   or, for a cron job, in the environment of ansible-playbook:
#     GRANDSTREAM_PASSCODE=s3cret ansible-playbook -i inventory/office.grandstream.yml playbooks/registration_audit.yml
plugin: phonefleet.grandstream.csv
path: ../phones/office.csv

---
# inventory/office.grandstream.yml with the CSV file beside it, in inventory/ after all: then ansible.cfg must make
# Ansible skip the CSV file when it reads the directory (-i inventory/).
#   [defaults]
#   # Ansible's own list (ansible-config dump | grep INVENTORY_IGNORE_EXTS), plus .csv
#   inventory_ignore_extensions = .pyc, .pyo, .swp, .bak, ~, .rpm, .md, .txt, .rst, .orig, .cfg, .retry, .csv
plugin: phonefleet.grandstream.csv
path: office.csv

---
# AWX / Automation Controller.
# 1. Commit inventory/office.grandstream.yml (this file) and phones/office.csv to the project's repository,
#    and the collection to collections/requirements.yml:
#      collections:
#        - name: phonefleet.grandstream
# 2. Inventories > Add inventory > Sources > Add source:
#      Source: Sourced from a Project
#      Project: <the project>
#      Inventory file: inventory/office.grandstream.yml
#      Update on launch / Overwrite: as you like
# 3. Administration > Credential Types > Add, "Grandstream passcode":
#      Input configuration:
#        fields:
#          - id: passcode
#            type: string
#            label: Phone admin passcode
#            secret: true
#        required: [passcode]
#      Injector configuration:
#        env:
#          GRANDSTREAM_PASSCODE: '{{ passcode }}'
#    Create a credential of that type and attach it to the job templates that run the playbooks;
#    the modules read GRANDSTREAM_PASSCODE when no passcode variable is set, so the CSV needs no passcode column.
plugin: phonefleet.grandstream.csv
path: ../phones/office.csv
"""

import os

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseFileInventoryPlugin, Constructable

from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import Redactor
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.csv_table import (
    RESERVED_GROUPS,
    CsvInventoryError,
    PhoneTable,
    as_value,
    decode_csv,
    is_identifier,
    read_csv_bytes,
)

CONFIG_SUFFIXES = ('grandstream.yml', 'grandstream.yaml')

# Identifiers that an expression never reads as a variable, whatever the host's variables say.
JINJA_LITERALS = frozenset(('true', 'false', 'none', 'True', 'False', 'None'))
# The variables Host.get_vars() adds to Host.vars: a key naming one of them needs get_vars().
MAGIC_HOST_VARIABLES = frozenset(('inventory_hostname', 'inventory_hostname_short', 'group_names'))


def as_composed_value(value):
    """A result of compose or keyed_groups: its strings follow the rule of as_value, in lists and dicts too."""
    if isinstance(value, str):
        return as_value(value)
    if isinstance(value, list):
        return [as_composed_value(item) for item in value]
    if isinstance(value, dict):
        return {key: as_composed_value(item) for key, item in value.items()}
    return value


def is_variable_name(template):
    """True for a template that is a bare variable name (key: site), which reads that one variable and nothing else."""
    return isinstance(template, str) and template.isidentifier() and template not in JINJA_LITERALS


class InventoryModule(BaseFileInventoryPlugin, Constructable):

    NAME = 'phonefleet.grandstream.csv'

    # set from the use_extra_vars option in parse(); extra vars may shadow any host variable
    _use_extra_vars = True

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        if path.endswith(CONFIG_SUFFIXES):
            return True
        self.display.vvv("Skipping %s: the %s inventory plugin only reads configuration files whose names end in %s"
                         % (path, self.NAME, ' or '.join(CONFIG_SUFFIXES)))
        return False

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        config = self._read_config_data(path)
        unknown = sorted(str(key) for key in set(config) - set(self._options))
        if unknown:
            self.display.warning("%s: ignoring unknown option%s %s (see: ansible-doc -t inventory %s)"
                                 % (path, '' if len(unknown) == 1 else 's', ', '.join(unknown), self.NAME))

        default_group = self._default_group(path)
        csv_path = self._csv_path(path)
        on_error = self.get_option('on_error')
        try:
            table = PhoneTable(self._read_text(csv_path), csv_path, delimiter=self.get_option('delimiter'),
                               connection=self.get_option('connection') or '', default_group=default_group)
        except CsvInventoryError as exc:
            raise AnsibleParserError(str(exc)) from None

        for line, message in table.warnings:
            self.display.warning('%s:%d: %s' % (csv_path, line, message))
        if table.problems:
            self._report_problems(table, on_error)
        if not table.phones:
            self._warn_about_no_phone(table)
        # what was there before, so that a failing construct step can take this source's phones and groups out again
        hosts_before, groups_before = set(self.inventory.hosts), set(self.inventory.groups)
        self._populate(table, default_group, hosts_before)
        self._skip_or_fail(table, on_error, self._construct(table), hosts_before, groups_before,
                           'failed compose, groups or keyed_groups with strict: true')
        self._skip_or_fail(table, on_error, self._group_name_problems(table), hosts_before, groups_before,
                           'named like a group')

    def _default_group(self, config_path):
        default_group = self.get_option('default_group') or ''
        if default_group in RESERVED_GROUPS:
            raise AnsibleParserError("%s: default_group %r is a name Ansible reserves for its own group: use another name, "
                                     "or an empty string for no extra group" % (config_path, default_group))
        if default_group and not is_identifier(default_group):
            raise AnsibleParserError("%s: default_group %r is not a valid group name: use letters, digits and underscores, "
                                     "not starting with a digit" % (config_path, default_group))
        return default_group

    def _csv_path(self, config_path):
        csv_path = os.path.expanduser(self.get_option('path') or '')
        if not csv_path:
            raise AnsibleParserError("%s: the 'path' option (the CSV file) is empty" % config_path)
        return os.path.join(os.path.dirname(config_path), csv_path)

    def _read_text(self, csv_path):
        data = read_csv_bytes(csv_path)
        if data.startswith(b'$ANSIBLE_VAULT;'):
            data = self._decrypt(csv_path)
        return decode_csv(data, csv_path)

    def _decrypt(self, csv_path):
        real_path = None
        try:
            real_path = self.loader.get_real_file(csv_path, decrypt=True)
            with open(real_path, 'rb') as csv_file:
                return csv_file.read()
        except (AnsibleError, OSError) as exc:
            message = exc.message if isinstance(exc, AnsibleError) else exc
            raise CsvInventoryError("%s: cannot decrypt the vault-encrypted CSV file: %s" % (csv_path, to_native(message))) from None
        finally:
            if real_path:
                self.loader.cleanup_tmp_file(real_path)

    def _report_problems(self, table, on_error):
        if on_error == 'warn':
            by_line = {}
            for line, message in table.problems:
                by_line.setdefault(line, []).append(message)
            for line in table.bad_rows:
                self.display.warning('%s:%d: skipped this row: %s' % (table.source, line, '; '.join(by_line[line])))
            return
        count, rows = len(table.problems), len(table.bad_rows)
        raise AnsibleParserError('%s: %d problem%s in %d row%s, no phone loaded (on_error: warn would skip the bad rows):\n%s' % (
            table.source, count, '' if count == 1 else 's', rows, '' if rows == 1 else 's',
            '\n'.join('%s:%d: %s' % (table.source, line, message) for line, message in table.problems),
        ))

    def _warn_about_no_phone(self, table):
        # a cron job or an AWX sync would otherwise go on with an inventory that silently lost every phone
        if table.rows:
            self.display.warning('%s: every phone row of the CSV file was skipped (on_error: warn), no phone loaded' % table.source)
        else:
            self.display.warning('%s: the CSV file has a header but no phone rows' % table.source)

    def _populate(self, table, default_group, hosts_before):
        inventory = self.inventory
        if default_group:
            inventory.add_group(default_group)
        known_groups = set()
        hosts = inventory.hosts  # on ansible-core 2.19+ inventory is a proxy: each attribute costs a Python call
        for phone in table.phones:
            if phone.name in hosts_before:
                # duplicates inside the file are refused; across sources Ansible merges the two hosts without a word
                self.display.warning("%s:%d: %s is already in the inventory from another source: Ansible merges the two into one host "
                                     "(the variables of this row override the other source's)" % (table.source, phone.line, table.redact(phone.name)))
            name = inventory.add_host(phone.name, group=default_group or None)
            # Straight into the host, not through inventory.set_variable(): the values are checked strings and
            # integers, marked already, and on ansible-core 2.19+ set_variable() inspects, copies and tags every
            # value once more, which was a third of the time of this plugin for 10,000 phones. For values that are
            # not mappings, Host.set_variable() is this assignment.
            hosts[name].vars.update(phone.variables)
            for group in phone.groups:
                if group not in known_groups:
                    inventory.add_group(group)
                    known_groups.add(group)
                inventory.add_child(group, name)

    def _construct(self, table):
        """compose, groups and keyed_groups for every phone: (line, host, message) for each phone that failed."""
        compose = self.get_option('compose')
        groups = self.get_option('groups')
        keyed_groups = self.get_option('keyed_groups')
        if not (compose or groups or keyed_groups):
            return []
        strict = self.get_option('strict')
        self._use_extra_vars = self.get_option('use_extra_vars')
        # The common case, keyed_groups on columns (key: site), reads one host variable per entry: Host.vars holds
        # it, so neither Host.get_vars() (a copy of every variable plus the magic ones) nor Ansible's fetch of them
        # again before each entry is needed. A parent_group that is a template could differ from phone to phone.
        columns_only = not (compose or groups) and all(
            isinstance(entry, dict) and is_variable_name(entry.get('key')) and entry['key'] not in MAGIC_HOST_VARIABLES
            and '{' not in str(entry.get('parent_group') or '')
            for entry in keyed_groups)
        group_of_value = {}  # with columns_only: (entry number, value) -> the group Ansible put a phone with it in
        problems = []
        hosts = self.inventory.hosts
        for phone in table.phones:
            host = hosts[phone.name]
            try:
                if columns_only:
                    self._add_host_to_column_groups(host, keyed_groups, group_of_value, strict)
                    continue
                variables = host.get_vars()
                self._set_composite_vars(compose, variables, phone.name, strict=strict)
                self._add_host_to_composed_groups(groups, variables, phone.name, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, variables, phone.name, strict=strict)
            except AnsibleError as exc:
                problems.append((phone.line, host, to_native(exc.message)))
        return problems

    def _group_name_problems(self, table):
        """(line, host, message) for each phone named like a group that compose, groups, keyed_groups or another
        inventory source made (the table refuses the names of Ansible's groups, default_group and 'groups' cells).
        Constructed group names cannot be paths: Ansible makes them identifiers."""
        groups, hosts = self.inventory.groups, self.inventory.hosts
        return [(phone.line, hosts[phone.name], "name %r is also the name of a group (made by compose, groups, keyed_groups or "
                 "another inventory source): a host and a group must not share a name" % phone.name)
                for phone in table.phones if phone.name in groups and phone.name in hosts]

    def _skip_or_fail(self, table, on_error, problems, hosts_before, groups_before, what):
        """Phones that failed a step after the table's checks: skipped with a warning each (on_error: warn), else the
        whole source is taken out again and one error lists them all."""
        if not problems:
            return
        problems = self._redact_construct_problems(table, problems)
        if on_error == 'warn':
            for line, host, message in problems:
                if host.name in hosts_before:  # an earlier inventory source has this phone too: keep it
                    self.display.warning('%s:%d: %s' % (table.source, line, message))
                else:
                    self.inventory.remove_host(host)
                    self.display.warning('%s:%d: skipped this row: %s' % (table.source, line, message))
            return
        self._remove_this_source(hosts_before, groups_before)
        raise AnsibleParserError('%s: %d phone%s %s, no phone loaded:\n%s' % (
            table.source, len(problems), '' if len(problems) == 1 else 's', what,
            '\n'.join('%s:%d: %s' % (table.source, line, message) for line, dummy, message in problems),
        ))

    def _add_host_to_column_groups(self, host, keyed_groups, group_of_value, strict):
        """keyed_groups entries on columns, for one phone.

        The group of an entry follows from the entry and the value alone: Ansible works it out (name, prefix,
        default_value, parent_group) for the first phone with a value, and the other phones with that value join
        the group Ansible chose, which skips most of Ansible's work per phone. Anything but a plain string, and a
        phone that was already in the group (so that the group Ansible chose cannot be told), takes Ansible's path.
        """
        for number, entry in enumerate(keyed_groups):
            value = host.vars.get(entry['key'])
            reusable = isinstance(value, str) and '{' not in value
            known_group = group_of_value.get((number, value)) if reusable else None
            if known_group is not None:
                self.inventory.add_host(host.name, group=known_group)
                continue
            groups_before = {group.name for group in host.groups if host.name in group.host_names}
            self._add_host_to_keyed_groups([entry], host.vars, host.name, strict=strict, fetch_hostvars=False)
            joined = [group.name for group in host.groups if group.name not in groups_before and host.name in group.host_names]
            if reusable and len(joined) == 1:
                group_of_value[(number, value)] = joined[0]

    def _redact_construct_problems(self, table, problems):
        """Ansible's message may quote a value, a passcode too ("'dict object' has no attribute 's3cret'"): hide the
        file's passcodes and every grandstream_passcode the phones have now (compose or an earlier source may set one)."""
        secrets = set(table.secrets)
        for phone in table.phones:
            passcode = self.inventory.get_host(phone.name).vars.get('grandstream_passcode')
            if isinstance(passcode, str) and passcode.strip():
                secrets.add(passcode)
        redactor = Redactor(secrets)
        return [(line, host, redactor.redact(message)) for line, host, message in problems]

    def _remove_this_source(self, hosts_before, groups_before):
        """A failed source must not leave its phones behind: Ansible would go on with the other sources."""
        for name in set(self.inventory.hosts) - hosts_before:
            self.inventory.remove_host(self.inventory.get_host(name))
        for name in set(self.inventory.groups) - groups_before:
            self._remove_group(name)

    def _remove_group(self, name):
        if name in self.inventory.groups:
            self.inventory.remove_group(self.inventory.groups[name])  # ansible-core 2.19+ takes the group
        if name in self.inventory.groups:
            self.inventory.remove_group(name)  # ansible-core 2.18 takes its name

    def _compose(self, template, variables, disable_lookups=...):
        # keyed_groups on a plain column name (key: site) is the common case: read the variable instead of starting
        # the template engine for every phone. Anything else, or a value that could hold a template, takes the full path.
        if not self._use_extra_vars and is_variable_name(template) and template in variables:
            value = variables[template]
            if isinstance(value, str):
                if '{' not in value:
                    return value
            elif isinstance(value, int):
                return value
        if disable_lookups is ...:
            result = super()._compose(template, variables)
        else:
            result = super()._compose(template, variables, disable_lookups=disable_lookups)
        # the template engine's strings are data on ansible-core 2.19+: the same rule as for the cells
        return as_composed_value(result)
