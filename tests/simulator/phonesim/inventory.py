"""CSV and INI inventories of a simulated fleet, as the collection's inventory plugins and ansible read them."""

import csv
import json
import re
import shlex

DEFAULT_CSV_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model')
BUILTIN_COLUMNS = ('name', 'host', 'port', 'scheme', 'passcode', 'site', 'model', 'firmware', 'mac')


def check_ports(phones):
    if any(not phone.port for phone in phones):
        raise RuntimeError('phones with port 0 get their port at start(): start the fleet first')


def inventory_passcode(phone):
    """The passcode the inventory holds: the spec's, or a wrong one for the ``wrong_passcode`` fault."""
    if 'wrong_passcode' in phone.faults:
        return 'wrong-%s' % phone.spec.passcode
    return phone.spec.passcode


def inventory_row(phone):
    mac = '00:0b:82:%02x:%02x:%02x' % ((phone.index >> 16) & 0xff, (phone.index >> 8) & 0xff, phone.index & 0xff)
    row = {'name': phone.name, 'host': phone.host, 'port': phone.port, 'scheme': phone.scheme,
           'passcode': inventory_passcode(phone), 'site': phone.spec.site, 'model': phone.spec.model,
           'firmware': phone.spec.firmware, 'mac': mac}
    row.update(phone.spec.inventory_vars)
    return row


def write_csv(phones, path, columns=DEFAULT_CSV_COLUMNS):
    """Write a CSV inventory (header + one row per phone). Columns: BUILTIN_COLUMNS or inventory_vars keys."""
    check_ports(phones)
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
