"""CSV and INI inventories of a simulated fleet, as the collection's inventory plugins and ansible read them."""

import csv
import json
import re
import shlex

DEFAULT_CSV_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model')
# Written after the default columns when a fleet has a session phone and the caller did not choose the columns.
SESSION_CSV_COLUMNS = ('auth', 'username')
BUILTIN_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model', 'firmware', 'mac', 'version', 'auth',
                   'username', 'grandstream_auth', 'grandstream_username')


def check_ports(phones):
    if any(not phone.port for phone in phones):
        raise RuntimeError('phones with port 0 get their port at start(): start the fleet first')


def inventory_passcode(phone):
    """The passcode the inventory holds: the spec's, or a wrong one for the ``wrong_passcode`` fault."""
    if 'wrong_passcode' in phone.faults:
        return 'wrong-%s' % phone.spec.passcode
    return phone.spec.passcode


def inventory_row(phone):
    """Every builtin column's value for a phone; ``passcode`` is the password of a session phone."""
    row = {'name': phone.name, 'host': phone.host, 'port': phone.port, 'scheme': phone.scheme,
           'passcode': inventory_passcode(phone), 'site': phone.spec.site, 'model': phone.spec.model,
           'firmware': phone.spec.firmware, 'mac': phone.mac, 'version': phone.version, 'auth': phone.spec.auth,
           'username': phone.spec.username}
    row.update(grandstream_auth=row['auth'], grandstream_username=row['username'])
    row.update(phone.spec.inventory_vars)
    return row


def write_csv(phones, path, columns=None):
    """Write a CSV inventory (header + one row per phone). Columns: BUILTIN_COLUMNS or inventory_vars keys; None:
    DEFAULT_CSV_COLUMNS, plus SESSION_CSV_COLUMNS when a phone speaks the session dialect."""
    check_ports(phones)
    if columns is None:
        columns = DEFAULT_CSV_COLUMNS
        if any(phone.spec.session_dialect for phone in phones):
            columns += SESSION_CSV_COLUMNS
    known = set(BUILTIN_COLUMNS).union(*(phone.spec.inventory_vars for phone in phones))
    unknown = [column for column in columns if column not in known]
    if unknown:
        raise ValueError('unknown CSV column(s): %s' % ', '.join(unknown))
    with open(path, 'w', encoding='utf-8', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for phone in phones:
            row = inventory_row(phone)
            writer.writerow(['' if row.get(column) is None else row.get(column) for column in columns])
    return path


def write_ini(phones, path):
    """Write an INI inventory: group [grandstream] with connection vars, plus one group site_<site> per site."""
    check_ports(phones)
    sites = {}
    lines = ['# simulated Grandstream fleet (phonesim)', '[grandstream]']
    for phone in phones:
        row = inventory_row(phone)
        hostvars = [('ansible_host', phone.host), ('grandstream_port', phone.port), ('grandstream_scheme', phone.scheme),
                    ('grandstream_passcode', row['passcode']), ('site', row['site']), ('model', row['model'])]
        if phone.spec.session_dialect:
            hostvars += [('grandstream_auth', row['auth']), ('grandstream_username', row['username'])]
        hostvars += sorted(phone.spec.inventory_vars.items())
        lines.append(phone.name + ''.join(' %s=%s' % (key, ini_value(value)) for key, value in hostvars))
        if phone.spec.site:
            sites.setdefault('site_' + re.sub(r'\W', '_', phone.spec.site), []).append(phone.name)
    lines += ['', '[grandstream:vars]', 'ansible_connection=local']
    for group, names in sorted(sites.items()):
        lines += ['', '[%s]' % group] + names
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')
    return path


def ini_value(value):
    """INI host variables go through shlex and then literal_eval: quote strings so '123' stays a string."""
    if isinstance(value, (bool, int, float)):
        return str(value)
    return shlex.quote(json.dumps(str(value)))
