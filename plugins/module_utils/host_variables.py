# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of the host variables the collection reads when a task leaves a connection option out.

The action plugins (per phone and fleet), the CSV inventory plugin (its columns become these variables)
and the docs follow this table.  Its own small file: the inventory plugin reads it without importing the
CTI client.

Python 3.8 syntax: module_utils may run on a jump host.
"""

# The phone's address: ``ansible_host``, else the inventory name.
ADDRESS_VARIABLE = 'ansible_host'

# Connection option -> host variable.
HOST_VARIABLES = (
    ('port', 'grandstream_port'),
    ('scheme', 'grandstream_scheme'),
    ('passcode', 'grandstream_passcode'),
    ('validate_certs', 'grandstream_validate_certs'),
    ('ca_path', 'grandstream_ca_path'),
    ('timeout', 'grandstream_timeout'),
    ('auth', 'grandstream_auth'),
    ('username', 'grandstream_username'),
    ('retry_refused', 'grandstream_retry_refused'),
)
VARIABLE_OF = dict(HOST_VARIABLES)

# The values of grandstream_auth (the option auth): the CTI guide's passcode, the web-session login with the sha256 of
# password and nonce, the web-session login with the plain password.  The first is the default.
AUTH_DIALECTS = ('passcode', 'session', 'session_plain')

# Read on the controller when neither the task nor the host variables give a passcode.
PASSCODE_ENV = 'GRANDSTREAM_PASSCODE'

# Set to false to force the module path even when the connection is local (debugging, benchmarks).
IN_PROCESS_VARIABLE = 'grandstream_in_process'
