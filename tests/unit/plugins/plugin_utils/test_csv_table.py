# Copyright: (c) 2025, phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the CSV table validator of the csv inventory plugin (plugins/plugin_utils/csv_table.py): decoding,
delimiter sniffing, physical line numbers, header and row checks, redaction of passcodes in messages.

Everything runs in-process against small CSV texts; no inventory object is involved.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading

import pytest

from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.csv_table import (
    IPV4_ADDRESS,
    MAX_FILE_BYTES,
    CsvInventoryError,
    PhoneTable,
    decode_csv,
    host_problem,
    is_ip_address,
    quoted_cells,
    read_csv_bytes,
    read_records,
    sniff_delimiter,
)

try:
    from ansible.template import is_trusted_as_template
except ImportError:  # ansible-core 2.18
    from ansible.utils.unsafe_proxy import AnsibleUnsafe

    def is_trusted_as_template(value):
        return not isinstance(value, AnsibleUnsafe)

SOURCE = 'phones.csv'


def table(text, **kwargs):
    return PhoneTable(textwrap.dedent(text).lstrip('\n'), SOURCE, **kwargs)


def phones_by_name(phone_table):
    return {phone.name: phone for phone in phone_table.phones}


# --- delimiter sniffing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('header, expected', [
    ('name,host,site\n', ','),
    ('name;host;site\r\n', ';'),
    ('name\thost\tsite\n', '\t'),
    ('name|host|site\n', '|'),
    ('host\n', ','),                        # a single column: nothing to detect, comma is as good as any
    ('"name;x",host,site\n', ','),          # a quoted ';' does not count
    ('name, host; site; model\n', ';'),     # the most frequent wins
    ('name,host;site\n', ','),              # a tie goes to the comma
])
def test_sniff_delimiter(header, expected):
    assert sniff_delimiter(header) == expected


@pytest.mark.parametrize('text, delimiter, expected', [
    ('host;name\n10.0.0.1;a\n', 'auto', ['10.0.0.1', 'a']),
    ('host\tname\n10.0.0.1\ta\n', 'auto', ['10.0.0.1', 'a']),
    ('host|name\n10.0.0.1|a\n', 'auto', ['10.0.0.1', 'a']),
    ('host;name\n10.0.0.1;a,b\n', ';', ['10.0.0.1', 'a,b']),
    ('host\tname\n10.0.0.1\ta;b\n', 'tab', ['10.0.0.1', 'a;b']),
    ('# a comment; with, delimiters|\n\nhost;name\n10.0.0.1;a\n', 'auto', ['10.0.0.1', 'a']),
])
def test_read_records_delimiters(text, delimiter, expected):
    records = list(read_records(text, SOURCE, delimiter))
    assert records[1][2] == expected


# --- physical line numbers ---------------------------------------------------------------------------------------

def test_line_numbers_count_blank_comment_and_multiline_lines():
    text = (
        '# phones of the office\n'            # 1
        '\n'                                  # 2
        'name,host,note\n'                    # 3  header
        'a,10.0.0.1,"two\n'                   # 4  record starts
        'lines"\n'                            # 5  ... ends
        '   \n'                               # 6  blank (spaces only)
        '# gone\n'                            # 7
        'b,10.0.0.2,"keeps\n'                 # 8  record starts
        '# not a comment\n'                   # 9  inside quotes: part of the cell
        '\n'                                  # 10 inside quotes: part of the cell
        'end"\n'                              # 11
        'c,10.0.0.3,plain\n'                  # 12
    )
    records = list(read_records(text, SOURCE))
    assert [(first, last) for first, last, cells in records] == [(3, 3), (4, 5), (8, 11), (12, 12)]
    assert records[2][2] == ['b', '10.0.0.2', 'keeps\n# not a comment\n\nend']


@pytest.mark.parametrize('newline', ['\n', '\r\n', '\r'])
def test_line_numbers_with_any_line_ending(newline):
    text = newline.join(['host', '', '10.0.0.1', '# c', '10.0.0.2', ''])
    assert [first for first, last, cells in read_records(text, SOURCE)] == [1, 3, 5]


def test_problem_line_numbers_after_multiline_cell():
    phone_table = table('''
        name,host,note
        a,10.0.0.1,"one
        two
        three"
        b,not a host,x
    ''')
    assert phone_table.problems == [(5, "host 'not a host' is neither an IP address nor a valid DNS name")]


# --- encoding ----------------------------------------------------------------------------------------------------

def test_decode_strips_the_excel_byte_order_mark():
    assert decode_csv(b'\xef\xbb\xbfhost\n10.0.0.1\n', SOURCE) == 'host\n10.0.0.1\n'
    assert decode_csv('host,site\n10.0.0.1,Zürich\n'.encode('utf-8'), SOURCE) == 'host,site\n10.0.0.1,Zürich\n'


def test_decode_names_the_line_of_the_first_byte_that_is_not_utf8():
    data = 'host,site\n10.0.0.1,Bern\n10.0.0.2,Zürich\n'.encode('latin-1')
    with pytest.raises(CsvInventoryError) as error:
        decode_csv(data, SOURCE)
    assert str(error.value).startswith("phones.csv:3: the file is not UTF-8 text.")


def test_bom_header_is_not_part_of_the_first_column_name():
    phone_table = table(decode_csv(b'\xef\xbb\xbfHost;Name\n10.0.0.1;a\n', SOURCE))
    assert [phone.name for phone in phone_table.phones] == ['a']


# --- columns -----------------------------------------------------------------------------------------------------

def test_columns_map_to_variables_in_any_order_and_case():
    phone_table = table('''
        Site, PASSCODE ,Scheme,Port,Host,Name,Groups,mac
        hq,s3cret,HTTPS,8443,10.1.4.10,gs-reception,lobby|floor2 floor3,00:0b:82:01:02:03
    ''')
    phone = phone_table.phones[0]
    assert phone.name == 'gs-reception'
    assert phone.variables == {
        'ansible_host': '10.1.4.10',
        'grandstream_port': 8443,
        'grandstream_scheme': 'https',
        'grandstream_passcode': 's3cret',
        'site': 'hq',
        'mac': '00:0b:82:01:02:03',
        'ansible_connection': 'local',
    }
    assert phone.groups == ['lobby', 'floor2', 'floor3']
    assert phone.line == 2


def test_empty_cells_are_not_set_and_name_defaults_to_host():
    phone_table = table('''
        host,name,port,scheme,passcode,site,groups
        10.0.0.1,,,,,,
        gs2.example.net,  ,  ,,,  ,
        fd00::12,,,,,lab,
    ''')
    phones = phones_by_name(phone_table)
    assert sorted(phones) == ['10.0.0.1', 'fd00::12', 'gs2.example.net']
    assert phones['10.0.0.1'].variables == {'ansible_host': '10.0.0.1', 'ansible_connection': 'local'}
    assert phones['10.0.0.1'].groups == ()
    assert phones['fd00::12'].variables['site'] == 'lab'


def test_rows_of_empty_cells_and_short_rows():
    phone_table = table('''
        host,name,site
        ,,,
        , ,
        10.0.0.1,a
    ''')
    assert [(phone.name, phone.variables.get('site')) for phone in phone_table.phones] == [('a', None)]
    assert phone_table.problems == []


def test_quoted_cells_keep_delimiters_and_quotes():
    phone_table = table('''
        host;name;note
        10.0.0.1;a;"desk 4; ""north"" wing"
    ''')
    assert phone_table.phones[0].variables['note'] == 'desk 4; "north" wing'


def test_connection_default_option_and_column():
    text = '''
        host,name,ansible_connection
        10.0.0.1,a,
        10.0.0.2,b,ssh
    '''
    assert {p.name: p.variables['ansible_connection'] for p in table(text).phones} == {'a': 'local', 'b': 'ssh'}
    assert {p.name: p.variables.get('ansible_connection') for p in table(text, connection='').phones} == {'a': None, 'b': 'ssh'}
    assert {p.name: p.variables['ansible_connection'] for p in table(text, connection='httpapi').phones} == {'a': 'httpapi', 'b': 'ssh'}


def test_values_are_data_not_templates():
    phone_table = table('''
        host,name,model,passcode,note
        10.0.0.1,a,"{{ lookup('pipe', 'id') }}",{{ x }},}
    ''')
    variables = phone_table.phones[0].variables
    assert variables['model'] == "{{ lookup('pipe', 'id') }}"
    assert variables['grandstream_passcode'] == '{{ x }}'
    for name in ('model', 'grandstream_passcode', 'note'):
        assert not is_trusted_as_template(variables[name])


def test_values_without_a_brace_are_plain_strings():
    """ansible-inventory --list prints a value marked as data as {"__ansible_unsafe": ...}, which AWX cannot import:
    a value that cannot be a template is a plain string (2.19+: trusted as a template, 2.18: a str, not wrapped)."""
    phone_table = table('''
        host,name,scheme,passcode,site
        10.0.0.1,a,HTTPS,s3cret,hq
    ''')
    variables = phone_table.phones[0].variables
    for name in ('ansible_host', 'grandstream_scheme', 'grandstream_passcode', 'site'):
        assert is_trusted_as_template(variables[name]), name


def test_a_quoted_passcode_keeps_its_spaces():
    phone_table = table('''
        host,name,passcode,site
        10.0.0.1,a," two words ", hq
        10.0.0.2,b, s3cret ,"  lab  "
        10.0.0.3,c,"x""y "  ,
    ''')
    passcodes = [phone.variables['grandstream_passcode'] for phone in phone_table.phones]
    assert passcodes == [' two words ', 's3cret', 'x"y   ']  # csv.reader keeps what follows a closing quote
    assert [phone.variables.get('site') for phone in phone_table.phones] == ['hq', 'lab', None]


@pytest.mark.parametrize('record, delimiter, expected', [
    ('a,"b",c\n', ',', [False, True, False]),
    ('  "a" ;b\r\n', ';', [True, False]),
    ('"a,""b"",\nc",d\n', ',', [True, False]),
    ('a"b",c', ',', [False, False]),
    ('', ',', [False]),
])
def test_quoted_cells(record, delimiter, expected):
    assert quoted_cells(record, delimiter) == expected


# --- header problems ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('header, message', [
    ('name,site', "phones.csv:1: the header row has no 'host' column (the phone's IP address or DNS name); its columns are: 'name', 'site'"),
    ('host,ansible_host', "phones.csv:1: column 2, 'ansible_host', cannot be a host variable: use a 'host' column instead"),
    ('host,grandstream_passcode', "phones.csv:1: column 2, 'grandstream_passcode', cannot be a host variable: use a 'passcode' column instead"),
    ('host,inventory_hostname', "phones.csv:1: column 2, 'inventory_hostname', cannot be a host variable: Ansible reserves that name"),
    ('host,hostvars', "phones.csv:1: column 2, 'hostvars', cannot be a host variable: Ansible reserves that name"),
    ('host,lookup', "phones.csv:1: column 2, 'lookup', cannot be a host variable: Ansible reserves that name"),
    ('host,class', "phones.csv:1: column 2, 'class', cannot be a host variable: it is a reserved word (a Python keyword)"),
    ('host,Lambda', "phones.csv:1: column 2, 'lambda', cannot be a host variable: it is a reserved word (a Python keyword)"),
    ('host,MAC Address', "phones.csv:1: column 2, 'mac address', is not a valid variable name: use letters, digits and underscores, "
                         "not starting with a digit, for example 'mac_address'"),
    ('host,2nd_line', "phones.csv:1: column 2, '2nd_line', is not a valid variable name: use letters, digits and underscores, "
                      "not starting with a digit"),
    ('host,Site,SITE', "phones.csv:1: column 3, 'site', repeats column 2 (names are case-insensitive)"),
    ('host,grandstream_auth', "phones.csv:1: column 2, 'grandstream_auth', cannot be a host variable: use an 'auth' column instead"),
    ('host,Grandstream_Username', "phones.csv:1: column 2, 'grandstream_username', cannot be a host variable: use a 'username' column instead"),
])
def test_header_problems(header, message):
    with pytest.raises(CsvInventoryError) as error:
        table(header + '\n10.0.0.1,a,b\n')
    assert str(error.value) == message


def test_every_header_problem_is_listed_with_the_header_line():
    with pytest.raises(CsvInventoryError) as error:
        table('# exported 2025-01-01\n\nname,ansible_host,class\n')
    assert str(error.value).splitlines() == [
        "phones.csv:3: column 2, 'ansible_host', cannot be a host variable: use a 'host' column instead",
        "phones.csv:3: column 3, 'class', cannot be a host variable: it is a reserved word (a Python keyword)",
        "phones.csv:3: the header row has no 'host' column (the phone's IP address or DNS name); its columns are: 'name', 'ansible_host', 'class'",
    ]


@pytest.mark.parametrize('first_line', [
    'gs1,10.0.0.1,s3cret',
    'gs1;gs1.voice.example.net;s3cret',
    'fd00::1,s3cret',
    '# no header\n10.0.0.1',
])
def test_a_phone_as_header_row_is_named_without_its_cells(first_line):
    with pytest.raises(CsvInventoryError) as error:
        table(first_line + '\ngs2,10.0.0.2,s3cret\n')
    line = first_line.count('\n') + 1
    assert str(error.value) == ("phones.csv:%d: line %d looks like a phone, not a header row: the file needs a header such as "
                                "name,host,passcode,site" % (line, line))


def test_header_messages_hide_passcodes():
    with pytest.raises(CsvInventoryError) as error:
        table('name,passcode,hunter2\ngs1,hunter2,\n')
    assert str(error.value) == ("phones.csv:1: the header row has no 'host' column (the phone's IP address or DNS name); "
                                "its columns are: 'name', 'passcode', '********'")


@pytest.mark.parametrize('text', ['', '\n\n', '# only a comment\n\n'])
def test_a_file_without_header(text):
    with pytest.raises(CsvInventoryError, match='phones.csv: the file has no header row'):
        PhoneTable(text, SOURCE)


def test_header_only_is_an_empty_inventory():
    assert table('host,name\n').phones == []


@pytest.mark.parametrize('text, rows, phones', [
    ('host,name\n', 0, 0),
    ('host,name\n,\n , \n# gone\n\n', 0, 0),  # empty rows, comments and blank lines are no phone rows
    ('host,name\n,a\n10.0.0.300,b\n', 2, 0),  # every row bad
    ('host,name\n,a\n10.0.0.2,b\n', 2, 1),
])
def test_rows_counts_the_phone_rows_valid_or_not(text, rows, phones):
    phone_table = table(text)
    assert (phone_table.rows, len(phone_table.phones)) == (rows, phones)


def test_unnamed_columns_are_ignored_unless_they_hold_values():
    phone_table = table('''
        host,name,,
        10.0.0.1,a,,
        10.0.0.2,b,,x
    ''')
    assert [phone.name for phone in phone_table.phones] == ['a']
    assert phone_table.problems == [(3, 'column 4 has a value but no name in the header row')]


# --- row problems ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('host', [
    '10.0.0.1', '192.168.100.254', 'fd00::1', '::1', 'gs1', 'gs-1.voice.example.net', 'GS1.Example.NET.', 'a' * 63 + '.example',
])
def test_valid_hosts(host):
    assert host_problem(host) is None


@pytest.mark.parametrize('host, is_ipv4', [
    ('0.0.0.0', True), ('255.255.255.255', True), ('10.199.249.9', True), ('1.2.3.4', True),
    ('256.0.0.1', False), ('010.0.0.1', False), ('1.2.3', False), ('1.2.3.4.5', False), ('1.2.3.4\n', False),
    ('1.2.3.\u0664', False),  # an Arabic-Indic digit: ipaddress refuses it, and so must the shortcut
])
def test_the_ipv4_shortcut_agrees_with_ipaddress(host, is_ipv4):
    assert bool(IPV4_ADDRESS.match(host)) is is_ipv4
    assert is_ip_address(host) is is_ipv4


@pytest.mark.parametrize('host, message', [
    ('999.1.1.1', "host '999.1.1.1' is neither an IP address nor a valid DNS name"),
    ('10.0.0', "host '10.0.0' is neither an IP address nor a valid DNS name"),
    ('bad_host', "host 'bad_host' is neither an IP address nor a valid DNS name"),
    ('-gs1.example.net', "host '-gs1.example.net' is neither an IP address nor a valid DNS name"),
    ('gs 1', "host 'gs 1' is neither an IP address nor a valid DNS name"),
    ('a' * 64 + '.example', "host '%s.example' is neither an IP address nor a valid DNS name" % ('a' * 64)),
    ('gs..example', "host 'gs..example' is neither an IP address nor a valid DNS name"),
    ('http://10.0.0.1', "host 'http://10.0.0.1' is not an IP address or DNS name: put the scheme in the 'scheme' column"),
    ('10.0.0.1:8080', "host '10.0.0.1:8080' is not an IP address or DNS name: put the port in the 'port' column"),
    ('[2001:db8::11]', "host '[2001:db8::11]' is not an IP address or DNS name: drop the brackets, as in '2001:db8::11'"),
    ('[gs1]', "host '[gs1]' is neither an IP address nor a valid DNS name"),
    ('[fd00::1]:443', "host '[fd00::1]:443' is not an IP address or DNS name: put the port in the 'port' column"),
])
def test_invalid_hosts(host, message):
    assert host_problem(host) == message


@pytest.mark.parametrize('row, message', [
    (',a,,,', "the 'host' cell is empty"),
    ('10.0.0.1,a,0,,', "port '0' is not a number from 1 to 65535"),
    ('10.0.0.1,a,65536,,', "port '65536' is not a number from 1 to 65535"),
    ('10.0.0.1,a,http,,', "port 'http' is not a number from 1 to 65535"),
    ('10.0.0.1,a,80.0,,', "port '80.0' is not a number from 1 to 65535"),
    ('10.0.0.1,a,-1,,', "port '-1' is not a number from 1 to 65535"),
    ('10.0.0.1,a,,ftp,', "scheme 'ftp' is not 'http' or 'https'"),
    ('10.0.0.1,a,,,1floor', "group '1floor' is not a valid group name: use letters, digits and underscores, not starting with a digit; "
                            "separate groups with spaces, ',', ';' or '|'"),
    ('10.0.0.1,a,,,floor-2', "group 'floor-2' is not a valid group name: use letters, digits and underscores, not starting with a digit; "
                             "separate groups with spaces, ',', ';' or '|'"),
    ('10.0.0.1,a,,,class', "group 'class' is a reserved word (a Python keyword), not a valid group name"),
    ('10.0.0.1,a,,,all', "group 'all' is reserved by Ansible"),
    ('10.0.0.1,a,,,"ungrouped"', "group 'ungrouped' is reserved by Ansible"),
    ('10.0.0.1,a b,,,', "name 'a b' is not a usable inventory hostname: use letters, digits, '.', '-', '_', ':' or '@'"),
    ('10.0.0.1,{{x}},,,', "name '{{x}}' is not a usable inventory hostname: use letters, digits, '.', '-', '_', ':' or '@'"),
    ('10.0.0.1,a,,,,extra', "the row has 6 cells but the header has 5 columns: put a cell that contains the delimiter ',' in double quotes"),
    # extra cells count even when empty; the other cells are not checked (they may be shifted pieces of a passcode)
    ('10.0.0.1,a,,,lobby,', "the row has 6 cells but the header has 5 columns: put a cell that contains the delimiter ',' in double quotes"),
    ('10.0.0.1,a,0,ftp,S3cr#t!,', "the row has 6 cells but the header has 5 columns: put a cell that contains the delimiter ',' in double quotes"),
])
def test_row_problems(row, message):
    phone_table = table('host,name,port,scheme,groups\n' + row + '\n')
    assert phone_table.problems == [(2, message)]
    assert phone_table.bad_rows == [2]
    assert phone_table.phones == []


def test_trailing_unnamed_header_columns_with_rows_as_wide():
    phone_table = table('''
        host,name,,
        10.0.0.1,a,,
        10.0.0.2,b
    ''')
    assert [phone.name for phone in phone_table.phones] == ['a', 'b']
    assert phone_table.problems == []


def test_groups_separated_by_spaces_bars_commas_and_semicolons():
    phone_table = table('''
        host,name,groups
        10.0.0.1,a,"lobby, floor2;beta | lab  x"
    ''')
    assert phone_table.phones[0].groups == ['lobby', 'floor2', 'beta', 'lab', 'x']


def test_valid_ports_and_schemes():
    phone_table = table('''
        host,name,port,scheme
        10.0.0.1,a,1,http
        10.0.0.2,b,65535,HTTPS
    ''')
    assert [(p.variables['grandstream_port'], p.variables['grandstream_scheme']) for p in phone_table.phones] == [(1, 'http'), (65535, 'https')]


def test_duplicate_names_name_the_first_line():
    phone_table = table('''
        name,host
        gs1,10.0.0.1
        gs2,10.0.0.2

        gs1,10.0.0.3
        10.0.0.4,10.0.0.4
        ,10.0.0.4
    ''')
    assert phone_table.problems == [
        (5, "name 'gs1' is already used on line 2 (Ansible would silently merge the two phones)"),
        (7, "name '10.0.0.4' is already used on line 6 (Ansible would silently merge the two phones)"),
    ]
    assert [phone.name for phone in phone_table.phones] == ['gs1', 'gs2', '10.0.0.4']


def test_a_duplicate_of_a_bad_row_is_reported_too():
    phone_table = table('''
        name,host
        gs1,10.0.0.300
        gs1,10.0.0.2
        gs2,10.0.0.3,,
        gs2,10.0.0.4
    ''')
    assert phone_table.problems == [
        (2, "host '10.0.0.300' is neither an IP address nor a valid DNS name"),
        (3, "name 'gs1' is already used on line 2 (Ansible would silently merge the two phones)"),
        (4, "the row has 4 cells but the header has 2 columns: put a cell that contains the delimiter ',' in double quotes"),
        (5, "name 'gs2' is already used on line 4 (Ansible would silently merge the two phones)"),
    ]
    assert phone_table.phones == []


def test_same_address_and_port_is_a_warning():
    phone_table = table('''
        name,host,port
        gs1,10.0.0.1,
        gs2,10.0.0.1,
        gs3,10.0.0.1,8080
        gs4,GS.example.net,
        gs5,gs.example.net,
    ''')
    assert phone_table.problems == []
    assert phone_table.warnings == [
        (3, "gs2 has the same host '10.0.0.1' and port as the phone on line 2"),
        (6, "gs5 has the same host 'gs.example.net' and port as the phone on line 5"),
    ]


def test_every_problem_of_every_row_is_listed_without_the_passcode():
    phone_table = table('''
        name,host,port,scheme,passcode
        gs1,10.0.0.1,80,http,hunter2
        gs1,10.0.0.256,0,ftp,hunter2
        gs3,,,,hunter2
        gs4,10.0.0.4,,,hunter2
    ''')
    assert phone_table.problems == [
        (3, "host '10.0.0.256' is neither an IP address nor a valid DNS name"),
        (3, "name 'gs1' is already used on line 2 (Ansible would silently merge the two phones)"),
        (3, "port '0' is not a number from 1 to 65535"),
        (3, "scheme 'ftp' is not 'http' or 'https'"),
        (4, "the 'host' cell is empty"),
    ]
    assert phone_table.bad_rows == [3, 4]
    assert [phone.name for phone in phone_table.phones] == ['gs1', 'gs4']
    assert 'hunter2' not in repr(phone_table.problems)


def test_a_cell_that_spans_lines_is_never_echoed():
    """An unclosed quote takes in the rows after it, passcodes included: such a cell is named, not shown."""
    phone_table = table('name,host,note\n"gs1,10.0.0.1,x\ngs2,10.0.0.2,y\n')
    assert phone_table.problems == [
        (2, "the 'name' cell spans several lines, which usually means an unclosed quote "
            "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"),
        (2, "the 'host' cell is empty (the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"),
    ]
    phone_table = table('host,passcode,name,port\n"10.0.0.1,pw-1,gs1,80\n10.0.0.2,pw-2,gs2,x\n')
    assert phone_table.problems == [
        (2, "the 'host' cell spans several lines, which usually means an unclosed quote "
            "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"),
    ]
    phone_table = table('name,host,passcode,groups,port\ngs1,10.0.0.1,"pw-1,lobby,80\ngs2,10.0.0.2,pw-2,lab,x\n')
    assert phone_table.problems == [
        (2, "the 'passcode' cell spans several lines, which usually means an unclosed quote "
            "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)"),
    ]
    assert 'pw-' not in repr(phone_table.problems)


def test_messages_hide_every_passcode_of_the_file():
    """A passcode in another cell (a name that is also a passcode, a group typed with a passcode in it) is hidden, whatever the row."""
    phone_table = table('''
        name,host,passcode,groups
        gs1,10.0.0.1,gs-lab-1,
        gs-lab-1,10.0.0.2,Top,x-Top
        gs3,10.0.0.1,hunter2,
        gs4,hunter2.example.net,hunter2.example,
    ''')
    assert phone_table.problems == [
        (3, "group 'x-********' is not a valid group name: use letters, digits and underscores, not starting with a digit; "
            "separate groups with spaces, ',', ';' or '|'"),
    ]
    assert phone_table.warnings == [(4, "gs3 has the same host '10.0.0.1' and port as the phone on line 2")]
    assert phone_table.redact('gs-lab-1 hunter2.example.net Top,Secret') == '******** ********.net ********,Secret'
    assert phone_table.secrets == ['hunter2.example', 'gs-lab-1', 'hunter2', 'Top']


def test_decode_refuses_utf16_with_its_own_hint():
    for data in ('host\n10.0.0.1\n'.encode('utf-16'), b'\xfe\xff' + 'host\n'.encode('utf-16-be')):
        with pytest.raises(CsvInventoryError) as error:
            decode_csv(data, SOURCE)
        assert str(error.value) == ("phones.csv: the file is UTF-16 text (it starts with a UTF-16 byte order mark). Save it from Excel as "
                                    "'CSV UTF-8', or convert it, for example with: iconv -f UTF-16 -t UTF-8")


# --- the web-session columns: auth and username -------------------------------------------------------------------

def test_auth_and_username_columns():
    phone_table = table('''
        name,host,Auth,USERNAME,passcode
        gs1,10.0.0.1,session,operator,pw-1
        gs2,10.0.0.2,SESSION_PLAIN,,pw-2
        gs3,10.0.0.3,Passcode, admin ,pw-3
        gs4,10.0.0.4,,,pw-4
    ''')
    assert phone_table.problems == []
    assert [(phone.variables.get('grandstream_auth'), phone.variables.get('grandstream_username')) for phone in phone_table.phones] == [
        ('session', 'operator'), ('session_plain', None), ('passcode', 'admin'), (None, None)]
    for phone in phone_table.phones[:3]:
        assert is_trusted_as_template(phone.variables['grandstream_auth'])
    assert is_trusted_as_template(phone_table.phones[0].variables['grandstream_username'])


def test_a_username_that_could_be_a_template_is_data():
    variables = table('host,username\n10.0.0.1,"{{ lookup(\'env\', \'HOME\') }}"\n').phones[0].variables
    assert variables['grandstream_username'] == "{{ lookup('env', 'HOME') }}"
    assert not is_trusted_as_template(variables['grandstream_username'])


@pytest.mark.parametrize('cell, message', [
    ('basic', "auth 'basic' is not 'passcode', 'session' or 'session_plain'"),
    ('session plain', "auth 'session plain' is not 'passcode', 'session' or 'session_plain'"),
    ('sessions', "auth 'sessions' is not 'passcode', 'session' or 'session_plain'"),
    # a cell that happens to be a passcode of the file is hidden, like in every other message
    ('pw-secret', "auth '********' is not 'passcode', 'session' or 'session_plain'"),
])
def test_a_bad_auth_is_a_row_problem(cell, message):
    phone_table = table('name,host,auth,passcode\ngs0,10.0.0.9,session,pw-secret\ngs1,10.0.0.1,%s,pw-1\n' % cell)
    assert phone_table.problems == [(3, message)]
    assert phone_table.bad_rows == [3]
    assert [phone.name for phone in phone_table.phones] == ['gs0']


def test_every_problem_of_a_row_with_a_bad_auth_is_listed_in_column_order():
    phone_table = table('name,host,port,scheme,auth,groups\ngs1,10.0.0.256,0,ftp,digest,floor-2\n')
    assert [message.split(' ', 1)[0] for line, message in phone_table.problems] == ['host', 'port', 'scheme', 'auth', 'group']


@pytest.mark.parametrize('column', ['username', 'auth'])
def test_a_web_session_cell_that_spans_lines_is_named_never_echoed(column):
    """An unclosed quote in the username (or auth) cell takes in the next row, passcode included."""
    phone_table = table('name,host,%s,passcode\ngs1,10.0.0.1,"admin,pw-1\ngs2,10.0.0.2,admin,pw-2\n' % column)
    assert phone_table.problems == [
        (2, "the %r cell spans several lines, which usually means an unclosed quote "
            "(the row spans lines 2-3: a quoted cell contains a line break, check the quotes)" % column),
    ]
    assert 'pw-' not in repr(phone_table.problems)
    assert 'admin' not in repr(phone_table.problems)


# --- names Ansible would read as other paths or mix up with groups (issue 18) ------------------------------------

HOST_VARS_HINT = "(for '.' and '..' a whole directory: the variables of other phones, passcodes included)"


@pytest.mark.parametrize('name, message', [
    ('.', "name '.' starts with '.': Ansible would read host_vars/<name> as the phone's variables " + HOST_VARS_HINT),
    ('..', "name '..' starts with '.': Ansible would read host_vars/<name> as the phone's variables " + HOST_VARS_HINT),
    ('...', "name '...' starts with '.'"),
    ('.gs1', "name '.gs1' starts with '.'"),
    ('gs-ceo.yml', "name 'gs-ceo.yml' ends in .yml: Ansible would give this phone the variables of the phone 'gs-ceo' "
                   "(host_vars/<name>.yml)"),
    ('gs-ceo.YAML', "name 'gs-ceo.YAML' ends in .yaml"),
    ('gs-ceo.json', "name 'gs-ceo.json' ends in .json"),
    ('all', "name 'all' is the name of one of Ansible's own groups: a phone of that name makes ansible-inventory --list "
            "--export (what AWX imports) lose the other phones"),
    ('ungrouped', "name 'ungrouped' is the name of one of Ansible's own groups"),
    ('grandstream', "name 'grandstream' is the name of the group every phone joins (default_group): a host and a group "
                    "must not share a name"),
    ('"a/b"', "name 'a/b' is not a usable inventory hostname"),
    ('"../../etc"', "name '../../etc' is not a usable inventory hostname"),
    ('"a\\b"', "name 'a\\\\b' is not a usable inventory hostname"),
    ('"a\x00b"', "name 'a\\x00b' is not a usable inventory hostname"),
    ('"a\tb"', "name 'a\\tb' is not a usable inventory hostname"),
    ('"a\u2028b"', "name 'a\\u2028b' is not a usable inventory hostname"),
    ('x' * 254, "name '%s' is longer than 253 characters (a DNS name's limit)" % ('x' * 80 + '...')),
])
def test_names_ansible_would_read_as_other_paths_or_groups(name, message):
    phone_table = table('name,host\ngs0,10.0.0.9\n%s,10.0.0.1\ngs2,10.0.0.2\n' % name, default_group='grandstream')
    assert [line for line, dummy in phone_table.problems] == [3], phone_table.problems
    assert phone_table.problems[0][1].startswith(message), phone_table.problems
    assert sorted(phones_by_name(phone_table)) == ['gs0', 'gs2']


def test_ordinary_names_stay_valid():
    names = ['gs1', 'gs-1.voice.example.net', 'x' * 253, 'gs1.', 'gs.yml1', 'yml', '2001:db8::5', 'gs@hq', 'Zürich-1',
             'grandstream_1', 'gs1.yml.bak']
    phone_table = table('name,host\n' + ''.join('%s,10.0.0.%d\n' % (name, number) for number, name in enumerate(names, 1)),
                        default_group='grandstream')
    assert phone_table.problems == []
    assert [phone.name for phone in phone_table.phones] == names


def test_a_host_cell_as_name_gets_both_problems():
    phone_table = table('host\n..\n')
    assert [message.split(':')[0] for dummy, message in phone_table.problems] == [
        "host '..' is neither an IP address nor a valid DNS name", "name '..' starts with '.'"]


def test_a_phone_named_after_a_group_of_any_row_is_a_bad_row():
    phone_table = table('''
        name,host,groups,passcode
        lobby,10.0.0.1,,pw-1
        gs2,10.0.0.2,lobby floor2,pw-2
        gs3,10.0.0.3,,pw-3
        floor2,10.0.0.4,floor2,pw-4
        gs5,10.0.0.5,"lab,gs3",pw-5
    ''', default_group='phones')
    assert phone_table.problems == [
        (2, "name 'lobby' is also the name of a group (the 'groups' cell of line 3): a host and a group must not share a name"),
        (4, "name 'gs3' is also the name of a group (the 'groups' cell of line 6): a host and a group must not share a name"),
        (5, "name 'floor2' is also the name of a group (the 'groups' cell of line 3): a host and a group must not share a name"),
    ]
    assert phone_table.bad_rows == [2, 4, 5]
    assert sorted(phones_by_name(phone_table)) == ['gs2', 'gs5']
    assert table('name,host\nphones,10.0.0.1\n').problems == []  # default_group '' here: no such group


def test_problems_stay_in_line_order_with_group_clashes():
    phone_table = table('''
        name,host,port,groups
        lobby,10.0.0.1,,
        gs2,10.0.0.2,x,
        gs3,10.0.0.3,,lobby
    ''')
    assert [line for line, dummy in phone_table.problems] == [2, 3]


def test_a_long_cell_is_cut_in_messages_after_its_passcodes_are_hidden():
    passcode = 'pw-hidden-%d' % 42
    host = 'x' * 70 + passcode + 'y' * 1000
    phone_table = table('name,host,passcode\ngs1,%s,%s\n' % (host, passcode))
    (line, message), = phone_table.problems
    assert message == "host '%s' is neither an IP address nor a valid DNS name" % ('x' * 70 + '********...')


# --- reading the file: regular files only, bounded ---------------------------------------------------------------

def test_read_csv_bytes_reads_a_regular_file_and_follows_symlinks(tmp_path):
    (tmp_path / 'phones.csv').write_bytes(b'host\n10.0.0.1\n')
    (tmp_path / 'link.csv').symlink_to(tmp_path / 'phones.csv')
    assert read_csv_bytes(str(tmp_path / 'phones.csv')) == b'host\n10.0.0.1\n'
    assert read_csv_bytes(str(tmp_path / 'link.csv')) == b'host\n10.0.0.1\n'


def run_with_deadline(function, *args):
    """function(*args) in a thread; a hang fails the test instead of holding it."""
    outcome = {}

    def target():
        try:
            outcome['value'] = function(*args)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # handed to the test
            outcome['error'] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), 'hangs'
    return outcome


def special_file(tmp_path, kind, keep):
    """The path of a file of the given kind; what must stay open while it is used goes into keep."""
    path = tmp_path / 'phones.csv'
    if kind == 'fifo':
        os.mkfifo(str(path))
    elif kind == 'fifo_behind_a_symlink':
        os.mkfifo(str(tmp_path / 'pipe'))
        path.symlink_to(tmp_path / 'pipe')
    elif kind == 'dev_zero_symlink':
        path.symlink_to('/dev/zero')
    elif kind == 'dev_zero':
        path = '/dev/zero'
    elif kind == 'dev_urandom':
        path = '/dev/urandom'
    elif kind == 'directory':
        path.mkdir()
    elif kind == 'socket':
        server = socket.socket(socket.AF_UNIX)
        keep.append(server)
        server.bind(str(path))
    return str(path)


@pytest.mark.parametrize('kind, what', [
    ('fifo', 'a named pipe (FIFO)'),
    ('fifo_behind_a_symlink', 'a named pipe (FIFO)'),
    ('dev_zero', 'a character device'),
    ('dev_zero_symlink', 'a character device'),
    ('dev_urandom', 'a character device'),
    ('directory', 'a directory'),
    ('socket', 'a socket'),
])
def test_read_csv_bytes_refuses_what_is_not_a_regular_file_without_reading_it(tmp_path, kind, what):
    keep = []
    path = special_file(tmp_path, kind, keep)
    outcome = run_with_deadline(read_csv_bytes, path)
    for item in keep:
        item.close()
    assert isinstance(outcome.get('error'), CsvInventoryError), outcome
    assert str(outcome['error']) == '%s: is %s, not a CSV file (only a regular file is read)' % (path, what)


def test_read_csv_bytes_refuses_a_file_above_the_cap(tmp_path):
    path = tmp_path / 'phones.csv'
    with open(str(path), 'wb') as sparse:  # sparse: no disk space, no time
        sparse.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(CsvInventoryError) as error:
        read_csv_bytes(str(path))
    assert str(error.value) == ('%s: the CSV file has %d bytes, more than the 64 MiB the plugin reads: is it the right file?'
                                % (path, MAX_FILE_BYTES + 1))
    path.write_bytes(b'x' * 100)
    assert len(read_csv_bytes(str(path), limit=100)) == 100
    with pytest.raises(CsvInventoryError, match='has 100 bytes, more than the 99 bytes the plugin reads'):
        read_csv_bytes(str(path), limit=99)


def test_read_csv_bytes_names_a_missing_file(tmp_path):
    with pytest.raises(CsvInventoryError) as error:
        read_csv_bytes(str(tmp_path / 'gone.csv'))
    assert str(error.value).startswith('%s: the CSV file does not exist' % (tmp_path / 'gone.csv'))
