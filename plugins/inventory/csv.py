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
  - 'C(name): inventory hostname, defaults to the value of C(host).'
  - 'C(port): becomes C(grandstream_port), a number from 1 to 65535.'
  - 'C(scheme): becomes C(grandstream_scheme), V(http) or V(https).'
  - 'C(passcode): becomes C(grandstream_passcode). See the notes for better places to keep passcodes.'
  - 'C(groups): extra groups the phone joins, separated by spaces, C(,), C(;) or C(|) (for example V(lobby floor2), V(lobby|floor2)
    or, in double quotes, V("lobby, floor2")). Group names are letters, digits and underscores, do not start with a digit and are
    not Python keywords.'
  - Every other column (C(site), C(model), C(mac), ...) becomes a host variable of the same (lower-case) name, as a string.
    A column name must be a valid variable name and must not be a name Ansible reserves (C(inventory_hostname), C(hostvars),
    C(ansible_host), Python keywords, ...).
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

import csv
import io
import ipaddress
import keyword
import os
import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseFileInventoryPlugin, Constructable

from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import redact

# A CSV cell is data, never a template. Only a string with a brace can hold a Jinja2 expression, statement or
# comment ({{ }}, {% %}, {# #}), so only those are marked as data; every other string is marked as a plain string,
# because AWX imports `ansible-inventory --list --export` and would get {"__ansible_unsafe": "10.1.4.10"}, a dict,
# where it expects a string.
try:
    # ansible-core 2.19+: a string a plugin sets is untrusted (data) unless tagged as a trusted template, and
    # ansible-inventory --list prints every untrusted string as {"__ansible_unsafe": ...}.
    from ansible.template import trust_as_template
except ImportError:  # ansible-core 2.18: a plain str may be rendered as a template, an AnsibleUnsafeText never is
    from ansible.utils.unsafe_proxy import wrap_var

    def as_value(text):
        """A string from the CSV file as a host variable: data if it could be a template, else a plain string."""
        return wrap_var(text) if '{' in text or '}' in text else text
else:
    def as_value(text):
        """A string from the CSV file as a host variable: data if it could be a template, else a plain string."""
        return text if '{' in text or '}' in text else trust_as_template(text)


def as_composed_value(value):
    """A result of compose or keyed_groups: its strings follow the rule of as_value, in lists and dicts too."""
    if isinstance(value, str):
        return as_value(value)
    if isinstance(value, list):
        return [as_composed_value(item) for item in value]
    if isinstance(value, dict):
        return {key: as_composed_value(item) for key, item in value.items()}
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
GROUP_SEPARATORS = re.compile(r'[\s|,;]+')
# Cells that hold one value: a line break in one of them means a quote that is not closed swallowed the lines after it.
SINGLE_LINE_COLUMNS = ('host', 'name', 'port', 'scheme', 'passcode', 'groups')

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


def looks_like_an_address(text):
    """An IP address or a DNS name with a dot: what a 'host' cell holds, and a column name never does."""
    return is_ip_address(text) or ('.' in text and is_dns_name(text))


def has_line_break(text):
    return '\n' in text or '\r' in text


def host_problem(host, show=repr):
    """Why host is not a usable phone address, or None. ``show`` quotes a cell for a message."""
    if is_dns_name(host) or is_ip_address(host):
        return None
    if '://' in host:
        return "host %s is not an IP address or DNS name: put the scheme in the 'scheme' column" % show(host)
    if HOST_WITH_PORT.match(host):
        return "host %s is not an IP address or DNS name: put the port in the 'port' column" % show(host)
    if host.startswith('[') and host.endswith(']') and is_ip_address(host[1:-1]):
        return "host %s is not an IP address or DNS name: drop the brackets, as in %s" % (show(host), show(host[1:-1]))
    return "host %s is neither an IP address nor a valid DNS name" % show(host)


def decode_csv(data, source):
    """Text of the file, without the byte order mark Excel writes; a clear error for anything that is not UTF-8."""
    if data.startswith((b'\xff\xfe', b'\xfe\xff')):
        # Excel's "Unicode Text" and some other tools write UTF-16, which the WINDOWS-1252 hint below would not fix
        raise CsvInventoryError(
            "%s: the file is UTF-16 text (it starts with a UTF-16 byte order mark). Save it from Excel as 'CSV UTF-8', "
            "or convert it, for example with: iconv -f UTF-16 -t UTF-8" % source
        )
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


def quoted_cells(record, delimiter):
    """For each cell of one raw CSV record, whether it is in double quotes, read the way csv.reader reads it here.

    csv.reader does not tell, and a quoted passcode keeps the spaces around it, so this walks the record once more.
    Spaces before the opening quote are skipped (skipinitialspace); after the closing quote, csv.reader adds what
    follows up to the delimiter to the cell.
    """
    flags = []
    index, end = 0, len(record)
    while True:
        while index < end and record[index] == ' ':
            index += 1
        quoted = index < end and record[index] == '"'
        if quoted:
            index += 1
            while index < end:
                if record[index] == '"':
                    if record.startswith('""', index):
                        index += 2
                        continue
                    index += 1
                    break
                index += 1
        while index < end and record[index] not in (delimiter, '\r', '\n'):
            index += 1
        flags.append(quoted)
        if index >= end or record[index] != delimiter:
            return flags
        index += 1


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
    ``secrets``: every value of the passcode column; no message contains one (see redact()).
    """

    def __init__(self, text, source, delimiter='auto', connection='local'):
        self.source = source
        self.phones = []
        self.problems = []
        self.bad_rows = []
        self.warnings = []
        self._connection = connection
        self._text = text
        self._physical_lines = None
        if delimiter == 'auto':
            delimiter = sniff_delimiter(first_content_line(text))
        self._delimiter = DELIMITERS[delimiter]
        # every record is read before the first check, so that no message, whatever its row, contains the passcode of any row
        records = list(read_records(text, source, self._delimiter))
        if not records:
            raise CsvInventoryError("%s: the file has no header row (it is empty, or has only blank and comment lines)" % source)
        (line, dummy, header_cells), rows = records[0], records[1:]
        columns = [cell.strip().lower() for cell in header_cells]
        self.secrets = passcodes(rows, columns)
        self._read_header(line, columns)
        self._read_rows(rows)

    def redact(self, text):
        """text without any passcode of the file."""
        return redact(text, self.secrets)

    def _show(self, cell):
        """A cell quoted for a message, without passcodes."""
        return repr(self.redact(cell))

    def _read_header(self, line, columns):
        show = self._show
        if 'host' not in columns and any(looks_like_an_address(column) for column in columns):
            # no header row: the first phone was read as one, and its cells (its passcode too) must not be echoed
            raise CsvInventoryError("%s:%d: line %d looks like a phone, not a header row: the file needs a header such as "
                                    "name,host,passcode,site" % (self.source, line, line))
        problems = []
        seen = {}
        for number, column in enumerate(columns, 1):
            if not column:
                continue
            if column in seen:
                problems.append("column %d, %s, repeats column %d (names are case-insensitive)" % (number, show(column), seen[column]))
                continue
            seen[column] = number
            if column in SPECIAL_COLUMNS:
                continue
            if column in RESERVED_VARIABLES:
                mapped_from = [name for name, variable in COLUMN_TO_VARIABLE.items() if variable == column]
                hint = "use a %r column instead" % mapped_from[0] if mapped_from else "Ansible reserves that name"
                problems.append("column %d, %s, cannot be a host variable: %s" % (number, show(column), hint))
            elif keyword.iskeyword(column):
                problems.append("column %d, %s, cannot be a host variable: it is a reserved word (a Python keyword)" % (number, show(column)))
            elif not is_identifier(column):
                suggestion = re.sub(r'[^a-z0-9]+', '_', column).strip('_')
                hint = ", for example %s" % show(suggestion) if suggestion and is_identifier(suggestion) and suggestion not in RESERVED_VARIABLES else ""
                problems.append("column %d, %s, is not a valid variable name: use letters, digits and underscores, not starting with a digit%s"
                                % (number, show(column), hint))
        if 'host' not in seen:
            problems.append("the header row has no 'host' column (the phone's IP address or DNS name); its columns are: %s"
                            % (', '.join(show(column) for column in columns if column) or 'none'))
        if problems:
            raise CsvInventoryError('\n'.join('%s:%d: %s' % (self.source, line, problem) for problem in problems))
        self.columns = columns
        self._position = {column: position for position, column in enumerate(columns) if column}
        self._variable_columns = [(position, column) for position, column in enumerate(columns) if column and column not in SPECIAL_COLUMNS]
        self._unnamed_columns = [position for position, column in enumerate(columns) if not column]

    def _quoted_passcode(self, line, last_line, raw_cells):
        """The passcode cell with its surrounding spaces if it is in double quotes, else None."""
        if self._physical_lines is None:
            self._physical_lines = list(io.StringIO(self._text, newline=''))
        record = ''.join(self._physical_lines[line - 1:last_line])
        passcode_at = self._position['passcode']
        flags = quoted_cells(record, self._delimiter)
        if passcode_at < len(flags) and flags[passcode_at]:
            return raw_cells[passcode_at]
        return None

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
        single_line_columns = [(column, self._position[column]) for column in SINGLE_LINE_COLUMNS if column in self._position]
        variable_columns = self._variable_columns
        connection = self._connection
        show = self._show

        for line, last_line, raw_cells in records:
            cells = [cell.strip() for cell in raw_cells]
            if not any(cells):
                continue  # Excel writes empty rows as ",,,,"
            if len(cells) < width:
                cells.extend([''] * (width - len(cells)))
            name = (cells[name_at] if name_at is not None else '') or cells[host_at]
            valid_name = bool(name) and INVENTORY_NAME.match(name)
            if valid_name:
                # before any check of the row, so that a second row with this name is reported even if this one is bad
                names.setdefault(name, line)
            if len(cells) > width:
                # Usually a delimiter in an unquoted cell, often a passcode: every cell after it sits one column too far
                # right, so the other cells are neither checked nor echoed (one of them may hold a piece of a passcode).
                self._add_problems(line, last_line, [
                    "the row has %d cells but the header has %d columns: put a cell that contains the delimiter %r in double quotes"
                    % (len(cells), width, self._delimiter)])
                continue
            problems = []
            multiline = ()
            if last_line > line:
                # named, never echoed: a quote that is not closed takes in the rows after it, passcodes included
                multiline = [column for column, position in single_line_columns if has_line_break(cells[position])]
                problems.extend("the %r cell spans several lines, which usually means an unclosed quote" % column for column in multiline)
            for position in self._unnamed_columns:
                if cells[position]:
                    problems.append("column %d has a value but no name in the header row" % (position + 1))

            host = cells[host_at]
            if not host:
                problems.append("the 'host' cell is empty")
            elif 'host' not in multiline:
                problem = host_problem(host, show)
                if problem:
                    problems.append(problem)

            if name and not has_line_break(name):
                if not valid_name:
                    problems.append("name %s is not a usable inventory hostname: use letters, digits, '.', '-', '_', ':' or '@'" % show(name))
                elif names[name] != line:
                    problems.append("name %s is already used on line %d (Ansible would silently merge the two phones)" % (show(name), names[name]))

            variables = {'ansible_host': as_value(host)}
            if port_at is not None and cells[port_at] and 'port' not in multiline:
                port = cells[port_at]
                if PORT.match(port) and 1 <= int(port) <= 65535:
                    variables['grandstream_port'] = int(port)
                else:
                    problems.append("port %s is not a number from 1 to 65535" % show(port))
            if scheme_at is not None and cells[scheme_at] and 'scheme' not in multiline:
                scheme = cells[scheme_at].lower()
                if scheme in ('http', 'https'):
                    variables['grandstream_scheme'] = as_value(scheme)
                else:
                    problems.append("scheme %s is not 'http' or 'https'" % show(cells[scheme_at]))
            if passcode_at is not None and cells[passcode_at]:
                passcode = cells[passcode_at]
                if raw_cells[passcode_at] != passcode:
                    passcode = self._quoted_passcode(line, last_line, raw_cells) or passcode
                variables['grandstream_passcode'] = as_value(passcode)

            groups = ()
            if groups_at is not None and cells[groups_at] and 'groups' not in multiline:
                groups = [group for group in GROUP_SEPARATORS.split(cells[groups_at]) if group]
                for group in groups:
                    if group in RESERVED_GROUPS:
                        problems.append("group %s is reserved by Ansible" % show(group))
                    elif keyword.iskeyword(group):
                        problems.append("group %s is a reserved word (a Python keyword), not a valid group name" % show(group))
                    elif not is_identifier(group):
                        problems.append("group %s is not a valid group name: use letters, digits and underscores, not starting with a digit; "
                                        "separate groups with spaces, ',', ';' or '|'" % show(group))

            if problems:
                self._add_problems(line, last_line, problems)
                continue

            address = (host.lower(), variables.get('grandstream_port'))
            if address in addresses:
                self.warnings.append((line, "%s has the same host %s and port as the phone on line %d"
                                      % (self.redact(name), show(host), addresses[address])))
            else:
                addresses[address] = line

            for position, column in variable_columns:
                value = cells[position]
                if value:
                    variables[column] = as_value(value)
            if connection and 'ansible_connection' not in variables:
                variables['ansible_connection'] = connection
            # the name is a plain str: INVENTORY_NAME leaves no room for a template, and a wrapped name would show up
            # as {"__ansible_unsafe": ...} in group host lists on ansible-core 2.18
            self.phones.append(Phone(name, line, variables, groups))

    def _add_problems(self, line, last_line, problems):
        if last_line > line:
            problems = ["%s (the row spans lines %d-%d: a quoted cell contains a line break, check the quotes)" % (problem, line, last_line)
                        for problem in problems]
        self.problems.extend((line, problem) for problem in problems)
        self.bad_rows.append(line)


def passcodes(rows, columns):
    """Every value of the passcode column(s), as read and without surrounding spaces, the longest first (so that a
    passcode that contains another one is hidden whole)."""
    positions = [position for position, column in enumerate(columns) if column == 'passcode']
    found = set()
    for dummy, dummy, cells in rows:
        for position in positions:
            if position < len(cells) and cells[position].strip():
                found.update((cells[position], cells[position].strip()))
    return sorted(found, key=lambda secret: (-len(secret), secret))


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
        if default_group in RESERVED_GROUPS:
            raise AnsibleParserError("%s: default_group %r is a name Ansible reserves for its own group: use another name, "
                                     "or an empty string for no extra group" % (path, default_group))
        if default_group and not is_identifier(default_group):
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
        self._populate(table, default_group, hosts_before)
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

    def _populate(self, table, default_group, hosts_before):
        inventory = self.inventory
        if default_group:
            inventory.add_group(default_group)
        known_groups = set()
        for phone in table.phones:
            if phone.name in hosts_before:
                # duplicates inside the file are refused; across sources Ansible merges the two hosts without a word
                self.display.warning("%s:%d: %s is already in the inventory from another source: Ansible merges the two into one host "
                                     "(the variables of this row override the other source's)" % (table.source, phone.line, table.redact(phone.name)))
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
        # Ansible's message may quote a value, a passcode too ("'dict object' has no attribute 's3cret'"): hide the
        # file's passcodes and every grandstream_passcode the phones have now (compose or an earlier source may set one)
        secrets = set(table.secrets)
        for phone in table.phones:
            passcode = self.inventory.get_host(phone.name).vars.get('grandstream_passcode')
            if isinstance(passcode, str) and passcode.strip():
                secrets.add(passcode)
        secrets = sorted(secrets, key=lambda secret: (-len(secret), secret))
        problems = [(line, host, redact(message, secrets)) for line, host, message in problems]
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
            result = super()._compose(template, variables)
        else:
            result = super()._compose(template, variables, disable_lookups=disable_lookups)
        # the template engine's strings are data on ansible-core 2.19+: the same rule as for the cells
        return as_composed_value(result)
