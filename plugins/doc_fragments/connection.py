# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    """Connection options shared by every module that speaks CTI."""

    DOCUMENTATION = r"""
options:
  host:
    description:
      - Address (IP or DNS name) of the phone.
      - When omitted, the action plugin uses the host variable C(ansible_host), else C(inventory_hostname).
    type: str
  port:
    description:
      - TCP port of the phone web server.
      - When omitted, the host variable C(grandstream_port), else 80 for http and 443 for https.
    type: int
  scheme:
    description:
      - Protocol used to reach the phone.
      - When omitted, the host variable C(grandstream_scheme), else C(http).
    type: str
    choices: [http, https]
  passcode:
    description:
      - The phone admin (or user) password, sent as the C(passcode) CTI parameter, or with O(auth=session) or
        O(auth=session_plain) used for the web-session login of O(username).
      - When omitted, the host variable C(grandstream_passcode), else the environment variable
        E(GRANDSTREAM_PASSCODE) on the controller.
      - Keep it in Ansible Vault or an AWX credential. It never appears in results, errors or logs.
      - An authentication failure is never retried, because five wrong passcodes lock the phone.
    type: str
  validate_certs:
    description:
      - Verify the phone TLS certificate when O(scheme=https).
      - Grandstream phones carry per-device certificates signed by a Grandstream private CA;
        set O(ca_path) to that CA, or V(false) on a trusted network.
      - When omitted, the host variable C(grandstream_validate_certs), else V(true).
    type: bool
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the phone certificates.
      - When omitted, the host variable C(grandstream_ca_path).
    type: path
  timeout:
    description:
      - Seconds one request may take, from the connection to the last byte of the answer.
      - When omitted, the host variable C(grandstream_timeout), else 10.
    type: float
  auth:
    description:
      - How the phone authenticates CTI requests.
      - V(passcode) sends the password as the C(passcode) parameter of every request (the CTI guide; GRP26xx, GXP16xx/17xx).
      - V(session) logs in to the web interface first (C(/cgi-bin/access) and C(/cgi-bin/dologin) with the SHA-256 of the
        password and a nonce) and sends the session id with every request (WP8xx, newer GXP21xx firmware); one login per
        phone and task, a logout at the end.
      - V(session_plain) is the same login with the plain password (older GXP16xx/17xx firmware).
      - When omitted, the host variable C(grandstream_auth), else V(passcode).
    type: str
    choices: [passcode, session, session_plain]
    version_added: 0.2.0
  username:
    description:
      - The user of the web-session login (O(auth=session) or O(auth=session_plain)).
      - When omitted, the host variable C(grandstream_username), else V(admin).
    type: str
    version_added: 0.2.0
  retry_refused:
    description:
      - Try the password once more on a phone that refused it in an earlier task or run.
      - A password a phone refused is remembered per user (in C(~/.local/state/phonefleet.grandstream/refused_passwords.json),
        or under C(GRANDSTREAM_STATE_DIR) / C(XDG_STATE_HOME)) as a salted hash, never the password, and is not sent to that
        phone again until it changes: five wrong passwords lock a phone, and a cron job runs every hour. Such a phone fails
        with C(auth_failed) and C(not tried: this password was refused at <time>).
      - Set V(true) after fixing the phone side (for example after a factory reset) to try the same password again once.
      - When omitted, the host variable C(grandstream_retry_refused), else V(false).
    type: bool
    version_added: 0.3.0
  phone_name:
    description:
      - How messages and results name the phone, for example V(gs0042).
      - When omitted, the action plugin uses C(inventory_hostname); without it messages use the address.
    type: str
notes:
  - Reads retry a quick transport failure (refused, reset) once; commands, logins, authentication failures and a phone
    that used up the whole O(timeout) are never retried. A request that carried the password is not sent again when its
    answer was lost before the phone had accepted the password once (the phone may have counted a wrong attempt).
  - Everything a phone sends is cleaned before it reaches a result, a report or a terminal (secrets redacted first,
    control characters and lone surrogates replaced, strings cut to 256 characters, at most 64 accounts or lines); a
    result lists in C(cut) what was cut.
  - Every request has a total deadline of O(timeout) seconds (connect, headers and body together) and a body cap of 1 MiB,
    so a phone that answers one byte at a time cannot hold a task.
  - CTI must be enabled on the phone (Action URI Support, the controller IP in the Action URI Allowed IP List).
  - When the task connection is local (the default for phones from the P(phonefleet.grandstream.csv#inventory)
    inventory), the action plugin runs the request inside the Ansible worker, without starting a module process.
    With C(delegate_to) a jump host the module runs there instead and gives the same result.
"""
