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
    case-insensitive. Leading and trailing spaces are removed from every cell; an empty cell means "not set".'
  - 'C(host) (required): IP address or DNS name of the phone, becomes C(ansible_host).'
  - 'C(name): inventory hostname, defaults to the value of C(host).'
  - 'C(port): becomes C(grandstream_port), a number from 1 to 65535.'
  - 'C(scheme): becomes C(grandstream_scheme), V(http) or V(https).'
  - 'C(passcode): becomes C(grandstream_passcode). See the notes for better places to keep passcodes.'
  - 'C(groups): extra groups the phone joins, separated by spaces or C(|) (for example V(lobby floor2) or V(lobby|floor2)).
    Group names are letters, digits and underscores and do not start with a digit.'
  - Every other column (C(site), C(model), C(mac), ...) becomes a host variable of the same (lower-case) name, as a string.
    A column name must be a valid variable name and must not be a name Ansible reserves (C(inventory_hostname), C(hostvars),
    C(ansible_host), Python keywords, ...).
  - The file is UTF-8, with or without the byte order mark Excel writes. Cells are separated by commas, semicolons, tabs or C(|),
    detected from the header row (see O(delimiter)). Cells in double quotes may contain the delimiter and line breaks.
    Blank lines, rows whose cells are all empty and lines starting with C(#) are ignored.
  - Values from the CSV file are data, never templates. A cell containing C({{ ... }}) stays literally that.
  - Every phone joins the group O(default_group) and gets C(ansible_connection) from O(connection)
    (V(local), because phones are not SSH targets and the modules run on the controller), unless a C(ansible_connection) column sets it.
  - A CSV file encrypted with C(ansible-vault) is decrypted with the vault secrets given to Ansible.
  - Problems in the file are reported as C(file:line) with the physical line number in the CSV file, all at once.
    With O(on_error=warn) bad rows are skipped with a warning each and the other phones are loaded.
    Problems with the header row (a missing C(host) column, an invalid or reserved column name) always stop the load.
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
      - What to do with rows that have problems (empty or invalid C(host), invalid C(port) or C(scheme), duplicate C(name), bad group name, ...).
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
    This plugin never prints a passcode, in error messages included.
  - >-
    Error messages name the CSV file and the physical line, counting blank lines, comment lines and the lines
    inside quoted multi-line cells.
  - >-
    Two rows with the same C(name) are an error, because Ansible would silently merge them into one host.
    Two phones with the same C(host) and C(port) get a warning.
  - >-
    O(compose), O(groups) and O(keyed_groups) see the final variables of each phone (the CSV columns, C(ansible_connection),
    C(inventory_hostname), ...). A phone with an empty C(site) cell has no C(site) variable; to group such phones too, give the
    O(keyed_groups) entry a C(default_value) and apply the C(default) filter in its C(key), as in the examples.
  - >-
    AWX and Automation Controller fail an inventory update when its source cannot be parsed. The command line only warns
    by default and goes on without the phones; set E(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true)
    (C(any_unparsed_is_failed = true) in the C([inventory]) section of C(ansible.cfg)) so that cron jobs stop instead.
seealso:
  - name: Constructed inventory plugin
    description: The options O(compose), O(groups) and O(keyed_groups) work as in ansible.builtin.constructed.
    link: https://docs.ansible.com/ansible/latest/collections/ansible/builtin/constructed_inventory.html
"""

EXAMPLES = r"""
# inventory/office.grandstream.yml -- the smallest configuration.
# office.csv sits next to it (relative paths are resolved against this file's directory):
#
#   name,host,site,model,groups
#   # lines starting with '#' are comments; an empty cell means "not set"
#   gs-reception,10.1.4.10,hq,GRP2614,lobby
#   gs-lab-1,gs-lab-1.voice.example.net,lab,GRP2612,
#   gs-lab-2,10.9.0.12,lab,GRP2612,lab|beta
#
# ansible-inventory -i inventory/office.grandstream.yml --graph
plugin: phonefleet.grandstream.csv
path: office.csv

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
#   group_vars/grandstream/vault.yml, encrypted with "ansible-vault encrypt":
#     grandstream_passcode: "s3cret"
#   or, for a cron job, in the environment of ansible-playbook:
#     GRANDSTREAM_PASSCODE=s3cret ansible-playbook -i inventory/office.grandstream.yml playbooks/registration_audit.yml
plugin: phonefleet.grandstream.csv
path: office.csv

---
# AWX / Automation Controller.
# 1. Commit inventory/office.grandstream.yml (this file) and inventory/office.csv to the project's repository,
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
path: office.csv
"""

import csv
import io
import ipaddress
import keyword
import os
import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseFileInventoryPlugin, Constructable

try:
    # ansible-core 2.19+: strings are data unless something tags them as trusted templates, and nothing here does.
    from ansible.template import trust_as_template  # pylint: disable=unused-import # noqa: F401
except ImportError:  # ansible-core 2.18: mark every value from the file as unsafe explicitly
    from ansible.utils.unsafe_proxy import wrap_var as as_data
else:
    def as_data(value):
        return value


CONFIG_SUFFIXES = ('grandstream.yml', 'grandstream.yaml')

# Columns with a meaning of their own; every other column becomes a host variable of the same name.
COLUMN_TO_VARIABLE = {
    'host': 'ansible_host',
    'port': 'grandstream_port',
    'scheme': 'grandstream_scheme',
    'passcode': 'grandstream_passcode',
}
SPECIAL_COLUMNS = frozenset(COLUMN_TO_VARIABLE) | frozenset(('name', 'groups'))

# Names a column cannot take: the targets of the mapped columns (two columns would fight over one variable),
# Ansible's magic variables, and names Jinja2 resolves before any variable.
RESERVED_VARIABLES = frozenset((
    'ansible_host', 'grandstream_port', 'grandstream_scheme', 'grandstream_passcode',
    'inventory_hostname', 'inventory_hostname_short', 'inventory_dir', 'inventory_file',
    'hostvars', 'group_names', 'groups', 'omit', 'vars', 'environment',
    'playbook_dir', 'play_hosts', 'role_name', 'role_names', 'role_path',
    'ansible_play_hosts', 'ansible_play_hosts_all', 'ansible_play_batch', 'ansible_play_name', 'ansible_play_role_names',
    'ansible_role_names', 'ansible_role_name', 'ansible_dependent_role_names', 'ansible_parent_role_names',
    'ansible_parent_role_paths', 'ansible_collection_name', 'ansible_version', 'ansible_check_mode', 'ansible_diff_mode',
    'ansible_forks', 'ansible_facts', 'ansible_local', 'ansible_run_tags', 'ansible_skip_tags', 'ansible_limit',
    'ansible_loop', 'ansible_loop_var', 'ansible_index_var', 'ansible_search_path', 'ansible_config_file',
    'ansible_inventory_sources', 'ansible_verbosity', 'ansible_playbook_python',
    'lookup', 'query', 'q', 'now', 'undef', 'range', 'dict', 'lipsum', 'cycler', 'joiner', 'namespace',
    'true', 'false', 'none',
))
RESERVED_GROUPS = frozenset(('all', 'ungrouped'))

DELIMITERS = {',': ',', ';': ';', 'tab': '\t', '\t': '\t', '|': '|'}
SNIFFED_DELIMITERS = (',', ';', '\t', '|')  # the first wins a tie

DNS_LABEL = re.compile(r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z')
HOST_WITH_PORT = re.compile(r'[^:\[\]]+:[0-9]+\Z|\[[0-9A-Fa-f:.]+\]:[0-9]+\Z')
INVENTORY_NAME = re.compile(r'[\w.:@-]+\Z')
PORT = re.compile(r'[0-9]{1,5}\Z')
GROUP_SEPARATORS = re.compile(r'[\s|]+')

# Identifiers that an expression never reads as a variable, whatever the host's variables say.
JINJA_LITERALS = frozenset(('true', 'false', 'none', 'True', 'False', 'None'))


class CsvInventoryError(Exception):
    """A problem with the CSV file as a whole (unreadable, not UTF-8, bad header): nothing can be loaded."""


def is_identifier(name):
    """True for an ASCII Python identifier that is not a keyword: the rule for Ansible variable and group names."""
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


def is_dns_name(name):
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens; the last label is not all digits."""
    if name.endswith('.'):
        name = name[:-1]
    if not name or len(name) > 253:
        return False
    labels = name.split('.')
    return all(DNS_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def is_ip_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_problem(host):
    """Why host is not a usable phone address, or None."""
    if is_dns_name(host) or is_ip_address(host):
        return None
    if '://' in host:
        return "host %r is not an IP address or DNS name: put the scheme in the 'scheme' column" % host
    if HOST_WITH_PORT.match(host):
        return "host %r is not an IP address or DNS name: put the port in the 'port' column" % host
    return "host %r is neither an IP address nor a valid DNS name" % host


def decode_csv(data, source):
    """Text of the file, without the byte order mark Excel writes; a clear error for anything that is not UTF-8."""
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        line = data.count(b'\n', 0, exc.start) + 1
        raise CsvInventoryError(
            "%s:%d: the file is not UTF-8 text. Save it from Excel as 'CSV UTF-8', or convert it, "
            "for example with: iconv -f WINDOWS-1252 -t UTF-8" % (source, line)
        ) from None


def first_content_line(text):
    """The first line that is neither blank nor a comment: the header row."""
    for line in io.StringIO(text, newline=''):
        stripped = line.strip()
        if stripped and stripped[0] != '#':
            return line
    return ''


def sniff_delimiter(header_line):
    """The delimiter of a header row: the candidate found most often outside double quotes (',' when none is).

    Column names are identifiers, so whatever separates them in the header row is the delimiter.
    """
    unquoted = ''.join(header_line.split('"')[::2])
    counts = [(unquoted.count(candidate), candidate) for candidate in SNIFFED_DELIMITERS]
    best = max(count for count, dummy in counts)
    if not best:
        return ','
    return next(candidate for count, candidate in counts if count == best)


class PhysicalLines:
    """Feeds csv.reader one physical line at a time.

    Blank and comment lines are skipped only between records, so that a '#' or an empty line inside a quoted
    multi-line cell stays part of the cell; the physical line where each record starts is remembered.
    """

    def __init__(self, text):
        self._lines = iter(io.StringIO(text, newline=''))
        self.line_number = 0
        self.record_start = 0
        self.at_record_start = True

    def __iter__(self):
        return self

    def __next__(self):
        for line in self._lines:
            self.line_number += 1
            if self.at_record_start:
                stripped = line.strip()
                if not stripped or stripped[0] == '#':
                    continue
                self.record_start = self.line_number
                self.at_record_start = False
            return line
        raise StopIteration


def read_records(text, source, delimiter='auto'):
    """Yield (first physical line, last physical line, cells) for each record of the CSV text.

    Blank and comment lines are skipped. ``delimiter`` is 'auto' (sniffed from the header row) or a DELIMITERS key.
    """
    if delimiter == 'auto':
        delimiter = sniff_delimiter(first_content_line(text))
    lines = PhysicalLines(text)
    reader = csv.reader(lines, delimiter=DELIMITERS[delimiter], skipinitialspace=True)
    while True:
        lines.at_record_start = True
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvInventoryError('%s:%d: the file is not valid CSV (%s)' % (source, lines.record_start, exc)) from None
        yield lines.record_start, lines.line_number, cells


class Phone:
    """One valid row: its inventory hostname, host variables and extra groups."""

    __slots__ = ('name', 'line', 'variables', 'groups')

    def __init__(self, name, line, variables, groups):
        self.name = name
        self.line = line
        self.variables = variables
        self.groups = groups


class PhoneTable:
    """The phones of a CSV text, validated.

    ``phones``: the valid rows, as Phone. ``problems``: (line, message) for each problem of an invalid row (a row
    can have several); ``bad_rows``: the lines of those rows, which are not in ``phones``. ``warnings``: (line, message)
    for rows that were loaded but look wrong. A problem with the file or its header raises CsvInventoryError.
    Messages never contain a passcode.
    """

    def __init__(self, text, source, delimiter='auto', connection='local'):
        self.source = source
        self.phones = []
        self.problems = []
        self.bad_rows = []
        self.warnings = []
        self._connection = connection
        records = read_records(text, source, delimiter)
        header = next(records, None)
        if header is None:
            raise CsvInventoryError("%s: the file has no header row (it is empty, or has only blank and comment lines)" % source)
        self._read_header(header[0], header[2])
        self._read_rows(records)

    def _read_header(self, line, cells):
        columns = [cell.strip().lower() for cell in cells]
        problems = []
        seen = {}
        for number, column in enumerate(columns, 1):
            if not column:
                continue
            if column in seen:
                problems.append("column %d, %r, repeats column %d (names are case-insensitive)" % (number, column, seen[column]))
                continue
            seen[column] = number
            if column in SPECIAL_COLUMNS:
                continue
            if column in RESERVED_VARIABLES:
                mapped_from = [name for name, variable in COLUMN_TO_VARIABLE.items() if variable == column]
                hint = "use a %r column instead" % mapped_from[0] if mapped_from else "Ansible reserves that name"
                problems.append("column %d, %r, cannot be a host variable: %s" % (number, column, hint))
            elif not is_identifier(column):
                suggestion = re.sub(r'[^a-z0-9]+', '_', column).strip('_')
                hint = ", for example %r" % suggestion if suggestion and is_identifier(suggestion) and suggestion not in RESERVED_VARIABLES else ""
                problems.append("column %d, %r, is not a valid variable name: use letters, digits and underscores, not starting with a digit%s"
                                % (number, column, hint))
        if 'host' not in seen:
            problems.append("the header row has no 'host' column (the phone's IP address or DNS name); its columns are: %s"
                            % (', '.join(repr(column) for column in columns if column) or 'none'))
        if problems:
            raise CsvInventoryError('\n'.join('%s:%d: %s' % (self.source, line, problem) for problem in problems))
        self.columns = columns
        self._position = {column: position for position, column in enumerate(columns) if column}
        self._variable_columns = [(position, column) for position, column in enumerate(columns) if column and column not in SPECIAL_COLUMNS]
        self._unnamed_columns = [position for position, column in enumerate(columns) if not column]

    def _read_rows(self, records):
        names = {}
        addresses = {}
        width = len(self.columns)
        host_at = self._position['host']
        name_at = self._position.get('name')
        port_at = self._position.get('port')
        scheme_at = self._position.get('scheme')
        passcode_at = self._position.get('passcode')
        groups_at = self._position.get('groups')
        variable_columns = self._variable_columns
        connection = self._connection

        for line, last_line, raw_cells in records:
            cells = [cell.strip() for cell in raw_cells]
            if not any(cells):
                continue  # Excel writes empty rows as ",,,,"
            if len(cells) < width:
                cells.extend([''] * (width - len(cells)))
            problems = []
            if len(cells) > width and any(cells[width:]):
                problems.append("the row has %d cells but the header has %d columns (quote cells that contain the delimiter)"
                                % (len(cells), width))
            for position in self._unnamed_columns:
                if cells[position]:
                    problems.append("column %d has a value but no name in the header row" % (position + 1))

            host = cells[host_at]
            if host:
                problem = host_problem(host)
                if problem:
                    problems.append(problem)
            else:
                problems.append("the 'host' cell is empty")

            name = (cells[name_at] if name_at is not None else '') or host
            if name:
                if not INVENTORY_NAME.match(name):
                    problems.append("name %r is not a usable inventory hostname: use letters, digits, '.', '-', '_', ':' or '@'" % name)
                elif name in names:
                    problems.append("name %r is already used on line %d (Ansible would silently merge the two phones)" % (name, names[name]))

            variables = {'ansible_host': as_data(host)}
            if port_at is not None and cells[port_at]:
                port = cells[port_at]
                if PORT.match(port) and 1 <= int(port) <= 65535:
                    variables['grandstream_port'] = int(port)
                else:
                    problems.append("port %r is not a number from 1 to 65535" % port)
            if scheme_at is not None and cells[scheme_at]:
                scheme = cells[scheme_at].lower()
                if scheme in ('http', 'https'):
                    variables['grandstream_scheme'] = scheme
                else:
                    problems.append("scheme %r is not 'http' or 'https'" % cells[scheme_at])
            if passcode_at is not None and cells[passcode_at]:
                variables['grandstream_passcode'] = as_data(cells[passcode_at])

            groups = ()
            if groups_at is not None and cells[groups_at]:
                groups = [group for group in GROUP_SEPARATORS.split(cells[groups_at]) if group]
                for group in groups:
                    if group in RESERVED_GROUPS:
                        problems.append("group %r is reserved by Ansible" % group)
                    elif not is_identifier(group):
                        problems.append("group %r is not a valid group name: use letters, digits and underscores, not starting with a digit; "
                                        "separate groups with spaces or '|'" % group)

            if problems:
                if last_line > line:
                    problems = ["%s (the row spans lines %d-%d: a quoted cell contains a line break, check the quotes)" % (problem, line, last_line)
                                for problem in problems]
                self.problems.extend((line, problem) for problem in problems)
                self.bad_rows.append(line)
                continue

            names[name] = line
            address = (host.lower(), variables.get('grandstream_port'))
            if address in addresses:
                self.warnings.append((line, "%s has the same host %r and port as the phone on line %d" % (name, host, addresses[address])))
            else:
                addresses[address] = line

            for position, column in variable_columns:
                value = cells[position]
                if value:
                    variables[column] = as_data(value)
            if connection and 'ansible_connection' not in variables:
                variables['ansible_connection'] = connection
            # the name is not wrapped: INVENTORY_NAME leaves no room for a template, and a wrapped name would show up
            # as {"__ansible_unsafe": ...} in group host lists on ansible-core 2.18
            self.phones.append(Phone(name, line, variables, groups))


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

        default_group = self.get_option('default_group') or ''
        if default_group and (not is_identifier(default_group) or default_group in RESERVED_GROUPS):
            raise AnsibleParserError("%s: default_group %r is not a valid group name: use letters, digits and underscores, "
                                     "not starting with a digit" % (path, default_group))
        csv_path = self._csv_path(path)
        on_error = self.get_option('on_error')
        try:
            table = PhoneTable(self._read_text(csv_path), csv_path, delimiter=self.get_option('delimiter'),
                               connection=self.get_option('connection') or '')
        except CsvInventoryError as exc:
            raise AnsibleParserError(str(exc)) from None

        for line, message in table.warnings:
            self.display.warning('%s:%d: %s' % (csv_path, line, message))
        if table.problems:
            self._report_problems(table, on_error)
        # what was there before, so that a failing construct step can take this source's phones and groups out again
        hosts_before, groups_before = set(self.inventory.hosts), set(self.inventory.groups)
        self._populate(table, default_group)
        self._construct(table, on_error, hosts_before, groups_before)

    def _csv_path(self, config_path):
        csv_path = os.path.expanduser(self.get_option('path') or '')
        if not csv_path:
            raise AnsibleParserError("%s: the 'path' option (the CSV file) is empty" % config_path)
        return os.path.join(os.path.dirname(config_path), csv_path)

    def _read_text(self, csv_path):
        try:
            with open(csv_path, 'rb') as csv_file:
                data = csv_file.read()
        except FileNotFoundError:
            raise CsvInventoryError("%s: the CSV file does not exist (a relative 'path' is resolved against the directory "
                                    "of the configuration file)" % csv_path) from None
        except IsADirectoryError:
            raise CsvInventoryError("%s: is a directory, not a CSV file" % csv_path) from None
        except OSError as exc:
            raise CsvInventoryError("%s: cannot read the CSV file: %s" % (csv_path, exc.strerror or exc)) from None
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

    def _populate(self, table, default_group):
        inventory = self.inventory
        if default_group:
            inventory.add_group(default_group)
        known_groups = set()
        for phone in table.phones:
            name = inventory.add_host(phone.name, group=default_group or None)
            for variable, value in phone.variables.items():
                inventory.set_variable(name, variable, value)
            for group in phone.groups:
                if group not in known_groups:
                    inventory.add_group(group)
                    known_groups.add(group)
                inventory.add_child(group, name)

    def _construct(self, table, on_error, hosts_before, groups_before):
        compose = self.get_option('compose')
        groups = self.get_option('groups')
        keyed_groups = self.get_option('keyed_groups')
        if not (compose or groups or keyed_groups):
            return
        strict = self.get_option('strict')
        self._use_extra_vars = self.get_option('use_extra_vars')
        problems = []
        for phone in table.phones:
            host = self.inventory.get_host(phone.name)
            try:
                variables = host.get_vars()
                self._set_composite_vars(compose, variables, phone.name, strict=strict)
                self._add_host_to_composed_groups(groups, variables, phone.name, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, variables, phone.name, strict=strict)
            except AnsibleError as exc:
                problems.append((phone.line, host, to_native(exc.message)))
        if not problems:
            return
        if on_error == 'warn':
            for line, host, message in problems:
                if host.name in hosts_before:  # an earlier inventory source has this phone too: keep it
                    self.display.warning('%s:%d: %s' % (table.source, line, message))
                else:
                    self.inventory.remove_host(host)
                    self.display.warning('%s:%d: skipped this row: %s' % (table.source, line, message))
            return
        # a failed source must not leave its phones behind: Ansible would go on with the other sources
        for name in set(self.inventory.hosts) - hosts_before:
            self.inventory.remove_host(self.inventory.get_host(name))
        for name in set(self.inventory.groups) - groups_before:
            self.inventory.remove_group(self.inventory.groups[name])  # ansible-core 2.19+ takes the group
            if name in self.inventory.groups:
                self.inventory.remove_group(name)  # ansible-core 2.18 takes its name
        raise AnsibleParserError('%s: %d phone%s failed compose, groups or keyed_groups with strict: true, no phone loaded:\n%s' % (
            table.source, len(problems), '' if len(problems) == 1 else 's',
            '\n'.join('%s:%d: %s' % (table.source, line, message) for line, dummy, message in problems),
        ))

    def _compose(self, template, variables, disable_lookups=...):
        # keyed_groups on a plain column name (key: site) is the common case: read the variable instead of starting
        # the template engine for every phone. Anything else, or a value that could hold a template, takes the full path.
        if (isinstance(template, str) and not self._use_extra_vars and template in variables
                and template.isidentifier() and template not in JINJA_LITERALS):
            value = variables[template]
            if isinstance(value, str):
                if '{' not in value:
                    return value
            elif isinstance(value, int):
                return value
        if disable_lookups is ...:
            return super()._compose(template, variables)
        return super()._compose(template, variables, disable_lookups=disable_lookups)
