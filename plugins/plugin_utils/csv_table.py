# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phones of a CSV file, validated: what the phonefleet.grandstream.csv inventory plugin reads.

Pure text in, data out: decoding, delimiter detection, physical line numbers, records, header and row checks.
No Ansible inventory object is used here; the plugin (plugins/inventory/csv.py) turns a PhoneTable into hosts,
groups and variables.

The values of a PhoneTable are host variables ready to be set: a cell that could be a template is already marked
as data (as_value below), because that rule belongs to reading a cell, and the table is where cells are read.
"""

import csv
import io
import ipaddress
import keyword
import os
import re
import stat

from ansible_collections.phonefleet.grandstream.plugins.module_utils.host_variables import (
    ADDRESS_VARIABLE, AUTH_DIALECTS, VARIABLE_OF,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import Redactor

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


# Columns with a meaning of their own (the collection's connection variables, module_utils/host_variables.py); every
# other column becomes a host variable of the same name.
COLUMN_TO_VARIABLE = dict([('host', ADDRESS_VARIABLE)]
                          + [(column, VARIABLE_OF[column]) for column in ('port', 'scheme', 'auth', 'username', 'passcode')])
SPECIAL_COLUMNS = frozenset(COLUMN_TO_VARIABLE) | frozenset(('name', 'groups'))

# Names a column cannot take: the targets of the mapped columns (two columns would fight over one variable),
# Ansible's magic variables, and names Jinja2 resolves before any variable.
RESERVED_VARIABLES = frozenset(COLUMN_TO_VARIABLE.values()) | frozenset((
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

# The longest inventory hostname: a DNS name's (RFC 1035).
MAX_NAME_LENGTH = 253
# Ansible's host_group_vars plugin reads host_vars/<name> (a file, or every file of a directory) and then
# host_vars/<name>.yml, .yaml or .json (the same for groups and group_vars/): a name must not lead it to another file.
VARS_FILE_EXTENSIONS = ('.yml', '.yaml', '.json')
# The largest CSV file read: 64 MiB is about a million phones, and what /dev/zero or a runaway export is stopped at.
MAX_FILE_BYTES = 64 * 1024 * 1024
# How much of a cell a message quotes (passcodes hidden first).
CELL_EXCERPT = 80

SCHEMES = ('http', 'https')

DELIMITERS = {',': ',', ';': ';', 'tab': '\t', '\t': '\t', '|': '|'}
SNIFFED_DELIMITERS = (',', ';', '\t', '|')  # the first wins a tie

DNS_LABEL = re.compile(r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z')
# A dotted-quad IPv4 address as ipaddress accepts it (no leading zeros): the common host, checked without ipaddress
IPV4_ADDRESS = re.compile(r'(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\Z')
HOST_WITH_PORT = re.compile(r'[^:\[\]]+:[0-9]+\Z|\[[0-9A-Fa-f:.]+\]:[0-9]+\Z')
INVENTORY_NAME = re.compile(r'[\w.:@-]+\Z')
PORT = re.compile(r'[0-9]{1,5}\Z')
GROUP_SEPARATORS = re.compile(r'[\s|,;]+')
# Cells that hold one value: a line break in one of them means a quote that is not closed swallowed the lines after it.
SINGLE_LINE_COLUMNS = ('host', 'name', 'port', 'scheme', 'auth', 'username', 'passcode', 'groups')


class CsvInventoryError(Exception):
    """A problem with the CSV file as a whole (unreadable, not UTF-8, bad header): nothing can be loaded."""


# --- names and addresses -----------------------------------------------------------------------------------------

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
    if IPV4_ADDRESS.match(host) or is_dns_name(host) or is_ip_address(host):
        return None
    if '://' in host:
        return "host %s is not an IP address or DNS name: put the scheme in the 'scheme' column" % show(host)
    if HOST_WITH_PORT.match(host):
        return "host %s is not an IP address or DNS name: put the port in the 'port' column" % show(host)
    if host.startswith('[') and host.endswith(']') and is_ip_address(host[1:-1]):
        return "host %s is not an IP address or DNS name: drop the brackets, as in %s" % (show(host), show(host[1:-1]))
    return "host %s is neither an IP address nor a valid DNS name" % show(host)


def name_problem(name, show=repr):
    """Why name (from a 'name' cell, else the 'host' cell) is not a usable inventory hostname, or None.

    Ansible reads a host's variables from host_vars/<name> and host_vars/<name>.yml (.yaml, .json): the name must
    lead it to a file of that host's own. INVENTORY_NAME leaves out '/', '\\', NUL and spaces.
    """
    if len(name) > MAX_NAME_LENGTH:
        return "name %s is longer than %d characters (a DNS name's limit)" % (show(name), MAX_NAME_LENGTH)
    if not INVENTORY_NAME.match(name):
        return "name %s is not a usable inventory hostname: use letters, digits, '.', '-', '_', ':' or '@'" % show(name)
    if name.startswith('.'):
        return ("name %s starts with '.': Ansible would read host_vars/<name> as the phone's variables (for '.' and '..' "
                "a whole directory: the variables of other phones, passcodes included)" % show(name))
    extension = next((extension for extension in VARS_FILE_EXTENSIONS if name.lower().endswith(extension)), None)
    if extension:
        return ("name %s ends in %s: Ansible would give this phone the variables of the phone %s (host_vars/<name>%s)"
                % (show(name), extension, show(name[:-len(extension)]), extension))
    if name in RESERVED_GROUPS:
        return ("name %s is the name of one of Ansible's own groups: a phone of that name makes "
                "ansible-inventory --list --export (what AWX imports) lose the other phones" % show(name))
    return None


def group_problem(group, show=repr):
    """Why group (from a 'groups' cell) is not a usable group name, or None."""
    if group in RESERVED_GROUPS:
        return "group %s is reserved by Ansible" % show(group)
    if keyword.iskeyword(group):
        return "group %s is a reserved word (a Python keyword), not a valid group name" % show(group)
    if not is_identifier(group):
        return ("group %s is not a valid group name: use letters, digits and underscores, not starting with a digit; "
                "separate groups with spaces, ',', ';' or '|'" % show(group))
    return None


# --- the cells of the mapped columns: each gives (host variable value, None) or (None, problem) -------------------

def port_value(cell, show):
    """grandstream_port: a number from 1 to 65535, as an integer."""
    if PORT.match(cell) and 1 <= int(cell) <= 65535:
        return int(cell), None
    return None, "port %s is not a number from 1 to 65535" % show(cell)


def scheme_value(cell, show):
    """grandstream_scheme: http or https, in any case, written lower-case."""
    scheme = cell.lower()
    if scheme in SCHEMES:
        return scheme, None
    return None, "scheme %s is not 'http' or 'https'" % show(cell)


def auth_value(cell, show):
    """grandstream_auth: one of AUTH_DIALECTS, in any case, written lower-case."""
    dialect = cell.lower()
    if dialect in AUTH_DIALECTS:
        return dialect, None
    return None, "auth %s is not 'passcode', 'session' or 'session_plain'" % show(cell)


def username_value(cell, show):
    """grandstream_username: any single-line text (a cell with a line break is refused before this is called)."""
    return cell, None


# column, its host variable, the function that checks a cell of it
CHECKED_COLUMNS = tuple((column, VARIABLE_OF[column], check) for column, check in (
    ('port', port_value), ('scheme', scheme_value), ('auth', auth_value), ('username', username_value)))


# --- from a file to bytes to records ------------------------------------------------------------------------------

# O_NONBLOCK: opening a named pipe that slipped past the check waits for no writer; O_NOCTTY: a terminal stays as it is
OPEN_FLAGS = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0) | getattr(os, 'O_CLOEXEC', 0)
FILE_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a named pipe (FIFO)'), (stat.S_ISCHR, 'a character device'),
              (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


def _not_a_regular_file(path, mode):
    kind = next((name for test, name in FILE_KINDS if test(mode)), 'not a regular file')
    return CsvInventoryError("%s: is %s, not a CSV file (only a regular file is read)" % (path, kind))


def read_csv_bytes(path, limit=MAX_FILE_BYTES):
    """The bytes of the CSV file at path: a regular file (after symbolic links) of at most ``limit`` bytes.

    Anything else is refused with a sentence naming the file, without reading it: /dev/zero would be read until
    memory runs out, a named pipe would hang the read (and its open, without O_NONBLOCK) until something writes.
    """
    try:
        mode = os.stat(path).st_mode  # follows symbolic links, never blocks
        if not stat.S_ISREG(mode):
            raise _not_a_regular_file(path, mode)
        descriptor = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise CsvInventoryError("%s: the CSV file does not exist (a relative 'path' is resolved against the directory "
                                "of the configuration file)" % path) from None
    except OSError as exc:
        raise CsvInventoryError("%s: cannot read the CSV file: %s" % (path, exc.strerror or exc)) from None
    with os.fdopen(descriptor, 'rb') as csv_file:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):  # swapped since the check above
                raise _not_a_regular_file(path, status.st_mode)
            if status.st_size > limit:
                raise CsvInventoryError(_too_large(path, status.st_size, limit))
            data = csv_file.read(limit + 1)
        except OSError as exc:
            raise CsvInventoryError("%s: cannot read the CSV file: %s" % (path, exc.strerror or exc)) from None
    if len(data) > limit:  # it grew while being read
        raise CsvInventoryError(_too_large(path, len(data), limit))
    return data


def _too_large(path, size, limit):
    mebibytes, rest = divmod(limit, 1024 * 1024)
    cap = '%d MiB' % mebibytes if mebibytes and not rest else '%d bytes' % limit
    return "%s: the CSV file has %d bytes, more than the %s the plugin reads: is it the right file?" % (path, size, cap)


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


# --- the table ---------------------------------------------------------------------------------------------------

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
    for rows that were loaded but look wrong. ``rows``: how many rows with a value there were (valid or not).
    A problem with the file or its header raises CsvInventoryError.
    ``secrets``: every value of the passcode column; no message contains one (see redact()).
    ``default_group``: the group every phone joins, which no phone may be named after.
    """

    def __init__(self, text, source, delimiter='auto', connection='local', default_group=''):
        self.source = source
        self._default_group = default_group
        self._redactor = None
        self.phones = []
        self.problems = []
        self.bad_rows = []
        self.warnings = []
        self.rows = 0
        self._connection = connection
        self._text = text
        self._physical_lines = None
        if delimiter == 'auto':
            delimiter = sniff_delimiter(first_content_line(text))
        self._delimiter = DELIMITERS[delimiter]
        records = read_records(text, source, self._delimiter)
        header = next(records, None)
        if header is None:
            raise CsvInventoryError("%s: the file has no header row (it is empty, or has only blank and comment lines)" % source)
        line, dummy, header_cells = header
        columns = [cell.strip().lower() for cell in header_cells]
        # a first pass over the records finds every passcode, so that no message, whatever its row, contains one; the
        # records are read again for the checks rather than kept (10,000 rows of cells the garbage collector would walk)
        self.secrets = passcodes(records, columns)
        self._read_header(line, columns)
        self._first_line_of_name = {}     # inventory hostname -> line of its first row
        self._first_line_of_address = {}  # (host, port) -> line of the first phone there
        self._marked_values = {}          # cell text -> as_value(text): the same site or model on many rows is marked once
        rows = read_records(text, source, self._delimiter)
        next(rows)  # the header
        for line, last_line, raw_cells in rows:
            self._read_row(line, last_line, raw_cells)
        self._refuse_phones_named_like_a_group()

    def redact(self, text, limit=None):
        """text without any passcode of the file (cut after ``limit`` characters, if given)."""
        if self._redactor is None:  # prepared once, when the first message needs it: a clean file never pays for it
            self._redactor = Redactor(self.secrets)
        return self._redactor.redact(text, limit)

    def _show(self, cell):
        """A cell quoted for a message, without passcodes, at most CELL_EXCERPT characters of it."""
        return repr(self.redact(cell, CELL_EXCERPT))

    def _value(self, text):
        """as_value(text), computed once per distinct text."""
        value = self._marked_values.get(text)
        if value is None:
            value = self._marked_values[text] = as_value(text)
        return value

    # --- the header row ---

    def _read_header(self, line, columns):
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
                problems.append("column %d, %s, repeats column %d (names are case-insensitive)" % (number, self._show(column), seen[column]))
                continue
            seen[column] = number
            if column not in SPECIAL_COLUMNS:
                problem = self._column_name_problem(column)
                if problem:
                    problems.append("column %d, %s, %s" % (number, self._show(column), problem))
        if 'host' not in seen:
            problems.append("the header row has no 'host' column (the phone's IP address or DNS name); its columns are: %s"
                            % (', '.join(self._show(column) for column in columns if column) or 'none'))
        if problems:
            raise CsvInventoryError('\n'.join('%s:%d: %s' % (self.source, line, problem) for problem in problems))
        self.columns = columns
        self._width = len(columns)
        position = {column: at for at, column in enumerate(columns) if column}
        self._host_at = position['host']
        self._name_at = position.get('name')
        self._passcode_at = position.get('passcode')
        self._groups_at = position.get('groups')
        self._checked_columns = [(column, position[column], variable, check)
                                 for column, variable, check in CHECKED_COLUMNS if column in position]
        self._single_line_columns = [(column, position[column]) for column in SINGLE_LINE_COLUMNS if column in position]
        self._variable_columns = [(at, column) for at, column in enumerate(columns) if column and column not in SPECIAL_COLUMNS]
        self._unnamed_columns = [at for at, column in enumerate(columns) if not column]

    def _column_name_problem(self, column):
        """Why a column that is not a special one cannot be a host variable, or None."""
        if column in RESERVED_VARIABLES:
            mapped_from = [name for name, variable in COLUMN_TO_VARIABLE.items() if variable == column]
            if mapped_from:
                return "cannot be a host variable: use %s %r column instead" % ('an' if mapped_from[0][0] in 'aeio' else 'a', mapped_from[0])
            return "cannot be a host variable: Ansible reserves that name"
        if keyword.iskeyword(column):
            return "cannot be a host variable: it is a reserved word (a Python keyword)"
        if not is_identifier(column):
            suggestion = re.sub(r'[^a-z0-9]+', '_', column).strip('_')
            hint = ""
            if suggestion and is_identifier(suggestion) and suggestion not in RESERVED_VARIABLES:
                hint = ", for example %s" % self._show(suggestion)
            return "is not a valid variable name: use letters, digits and underscores, not starting with a digit" + hint
        return None

    # --- the phone rows ---

    def _read_row(self, line, last_line, raw_cells):
        """One record after the header: a Phone in ``phones``, or its problems in ``problems``."""
        cells = [cell.strip() for cell in raw_cells]
        if not any(cells):
            return  # Excel writes empty rows as ",,,,"
        self.rows += 1
        if len(cells) < self._width:
            cells.extend([''] * (self._width - len(cells)))
        name = (cells[self._name_at] if self._name_at is not None else '') or cells[self._host_at]
        if INVENTORY_NAME.match(name):
            # before any check of the row, so that a second row with this name is reported even if this one is bad
            self._first_line_of_name.setdefault(name, line)
        if len(cells) > self._width:
            # Usually a delimiter in an unquoted cell, often a passcode: every cell after it sits one column too far
            # right, so the other cells are neither checked nor echoed (one of them may hold a piece of a passcode).
            self._add_problems(line, last_line, [
                "the row has %d cells but the header has %d columns: put a cell that contains the delimiter %r in double quotes"
                % (len(cells), self._width, self._delimiter)])
            return
        variables, groups, problems = self._read_special_columns(line, last_line, raw_cells, cells, name)
        if problems:
            self._add_problems(line, last_line, problems)
            return
        self._warn_about_a_shared_address(cells[self._host_at], variables.get('grandstream_port'), name, line)
        for position, column in self._variable_columns:
            if cells[position]:
                variables[column] = self._value(cells[position])
        if self._connection and 'ansible_connection' not in variables:
            variables['ansible_connection'] = self._connection
        # the name is a plain str: INVENTORY_NAME leaves no room for a template, and a wrapped name would show up
        # as {"__ansible_unsafe": ...} in group host lists on ansible-core 2.18
        self.phones.append(Phone(name, line, variables, groups))

    def _read_special_columns(self, line, last_line, raw_cells, cells, name):
        """The host, name, connection, passcode and groups cells of a row: (variables, groups, problems)."""
        # named, never echoed: a quote that is not closed takes in the rows after it, passcodes included
        broken = self._cells_spanning_lines(cells) if last_line > line else ()
        problems = ["the %r cell spans several lines, which usually means an unclosed quote" % column for column in broken]
        problems.extend(self._unnamed_cell_problems(cells))
        host = cells[self._host_at]
        if 'host' not in broken:
            problems.extend(self._host_problems(host))
        if not has_line_break(name):
            problems.extend(self._name_problems(name, line))
        variables = {'ansible_host': self._value(host)}
        problems.extend(self._read_checked_columns(cells, broken, variables))
        if self._passcode_at is not None and cells[self._passcode_at]:
            variables['grandstream_passcode'] = self._value(self._passcode(line, last_line, raw_cells, cells))
        groups = self._groups(cells) if 'groups' not in broken else ()
        problems.extend(problem for problem in (group_problem(group, self._show) for group in groups) if problem)
        return variables, groups, problems

    def _cells_spanning_lines(self, cells):
        """The single-line columns whose cell has a line break."""
        return [column for column, position in self._single_line_columns if has_line_break(cells[position])]

    def _unnamed_cell_problems(self, cells):
        return ["column %d has a value but no name in the header row" % (position + 1)
                for position in self._unnamed_columns if cells[position]]

    def _host_problems(self, host):
        if not host:
            return ["the 'host' cell is empty"]
        problem = host_problem(host, self._show)
        return [problem] if problem else []

    def _name_problems(self, name, line):
        if not name:
            return []
        problem = name_problem(name, self._show)
        if problem:
            return [problem]
        if name == self._default_group:
            return ["name %s is the name of the group every phone joins (default_group): a host and a group must not "
                    "share a name" % self._show(name)]
        first_line = self._first_line_of_name[name]
        if first_line != line:
            return ["name %s is already used on line %d (Ansible would silently merge the two phones)" % (self._show(name), first_line)]
        return []

    def _read_checked_columns(self, cells, broken, variables):
        """The port, scheme, auth and username cells: their values go into variables, their problems are returned."""
        problems = []
        for column, position, variable, check in self._checked_columns:
            cell = cells[position]
            if not cell or column in broken:
                continue
            value, problem = check(cell, self._show)
            if problem:
                problems.append(problem)
            else:
                variables[variable] = self._value(value) if isinstance(value, str) else value
        return problems

    def _passcode(self, line, last_line, raw_cells, cells):
        """The passcode cell: stripped like every cell, unless it is in double quotes, which keep its spaces."""
        passcode = cells[self._passcode_at]
        if raw_cells[self._passcode_at] != passcode:
            passcode = self._quoted_passcode(line, last_line, raw_cells) or passcode
        return passcode

    def _quoted_passcode(self, line, last_line, raw_cells):
        """The passcode cell with its surrounding spaces if it is in double quotes, else None."""
        if self._physical_lines is None:
            self._physical_lines = list(io.StringIO(self._text, newline=''))
        record = ''.join(self._physical_lines[line - 1:last_line])
        flags = quoted_cells(record, self._delimiter)
        if self._passcode_at < len(flags) and flags[self._passcode_at]:
            return raw_cells[self._passcode_at]
        return None

    def _groups(self, cells):
        """The extra groups of a row, from its 'groups' cell."""
        if self._groups_at is None or not cells[self._groups_at]:
            return ()
        return [group for group in GROUP_SEPARATORS.split(cells[self._groups_at]) if group]

    def _warn_about_a_shared_address(self, host, port, name, line):
        address = (host.lower(), port)
        first_line = self._first_line_of_address.setdefault(address, line)
        if first_line != line:
            self.warnings.append((line, "%s has the same host %s and port as the phone on line %d"
                                  % (self.redact(name), self._show(host), first_line)))

    def _refuse_phones_named_like_a_group(self):
        """A phone named after a group of a 'groups' cell (of any row) is a bad row: Ansible would mix up the two."""
        line_of_group = {}
        for phone in self.phones:
            for group in phone.groups:
                line_of_group.setdefault(group, phone.line)
        clashing = [phone for phone in self.phones if phone.name in line_of_group]
        if not clashing:
            return
        for phone in clashing:
            self._add_problems(phone.line, phone.line, [
                "name %s is also the name of a group (the 'groups' cell of line %d): a host and a group must not share "
                "a name" % (self._show(phone.name), line_of_group[phone.name])])
        self.phones = [phone for phone in self.phones if phone.name not in line_of_group]
        self.problems.sort(key=lambda problem: problem[0])  # stable: a row's problems keep their order
        self.bad_rows.sort()

    def _add_problems(self, line, last_line, problems):
        if last_line > line:
            problems = ["%s (the row spans lines %d-%d: a quoted cell contains a line break, check the quotes)" % (problem, line, last_line)
                        for problem in problems]
        self.problems.extend((line, problem) for problem in problems)
        self.bad_rows.append(line)
