"""The read-only modules through real `ansible` runs against the simulator."""

import json


def passcodes(fleet):
    return [phone.spec.passcode for phone in fleet.phones]


def assert_no_passcode(text, fleet):
    for secret in passcodes(fleet):
        assert secret not in text


def test_accounts_info_from_inventory_variables(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=3)
    fleet.phones[1].spec.firmware = 'new'
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(results) == sorted(phone.spec.name for phone in fleet.phones)
    for phone in fleet.phones:
        result = results[phone.spec.name]
        assert result['changed'] is False
        assert result['summary']['registered'] == result['summary']['configured'] >= 1
        assert all(account['registered'] for account in result['accounts'] if account['configured'])
    assert_no_passcode(proc.stdout + proc.stderr, fleet)


def test_phone_and_line_status(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=2)
    fleet.phones[0].start_call(line=1, state='connected', remotenumber='2001')
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    proc, lines = run_adhoc(inventory, 'all', 'phonefleet.grandstream.line_status_info')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    busy, idle = fleet.phones[0].spec.name, fleet.phones[1].spec.name
    assert lines[busy]['in_use'] is True
    assert lines[busy]['lines'][0]['state'] == 'connected'
    assert lines[busy]['lines'][0]['remote_number'] == '2001'
    assert lines[idle]['in_use'] is False
    proc, status = run_adhoc(inventory, 'all', 'phonefleet.grandstream.phone_status_info')
    assert status[busy]['status'] == 'busy'
    assert status[idle]['status'] == 'available'
    assert status[idle]['misc'] == '0'


def test_wrong_passcode_fails_once_and_never_shows_it(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=1)
    phone = fleet.phones[0]
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    wrong = 'Wr0ng-Secret-42'
    text = inventory.read_text().replace(phone.spec.passcode, wrong)
    inventory.write_text(text)
    assert wrong in text
    proc = run_ansible('ansible', '-i', inventory, 'all', '-m', 'phonefleet.grandstream.accounts_info', '-vvvv')
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'auth_failed' in output
    assert phone.spec.name in output
    assert wrong not in output
    assert 'Traceback' not in output
    requests_seen = fleet.events(phone=phone.spec.name, event='request')
    assert len(requests_seen) == 1, 'an authentication failure must never be retried'


def test_passcode_from_environment(sim_fleet, run_ansible, tmp_path):
    fleet = sim_fleet(count=1, passcode='Shared-Secret-1')
    phone = fleet.phones[0]
    inventory = tmp_path / 'phones.ini'
    inventory.write_text('%s ansible_host=%s grandstream_port=%d ansible_connection=local\n' % (phone.name, phone.host, phone.port))
    proc = run_ansible('ansible', '-i', inventory, 'all', '-m', 'phonefleet.grandstream.phone_status_info',
                       env={'GRANDSTREAM_PASSCODE': 'Shared-Secret-1'})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Shared-Secret-1' not in proc.stdout + proc.stderr


FAULTS = [
    ('down', 'unreachable', 'could not be reached'),
    ('hang', 'unreachable', 'did not answer'),
    ('reset', 'unreachable', 'dropped the connection'),
    ('http500', 'error', 'HTTP 500'),
    ('html', 'error', 'not CTI JSON'),
    ('garbage', 'error', 'not CTI JSON'),
    ('wrong_shape', 'error', 'is not'),
    ('not_found', 'error', 'HTTP 404'),
    ('forbidden_403', 'forbidden', 'HTTP 403'),
    ('forbidden_body', 'forbidden', 'forbidden'),
    ('unauthorized_body', 'auth_failed', 'unauthorized'),
]


def test_every_error_class_from_its_fault(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=len(FAULTS) + 1)
    for phone, fault in zip(fleet.phones, [row[0] for row in FAULTS]):
        phone.set_fault(fault)
    locked = fleet.phones[-1]
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    # unauthorized_body makes a wrong passcode answer 200 "unauthorized" instead of HTTP 401.
    body_auth = fleet.phones[[row[0] for row in FAULTS].index('unauthorized_body')]
    inventory.write_text(inventory.read_text().replace(locked.spec.passcode, 'not-the-passcode')
                         .replace(body_auth.spec.passcode, 'also-not-the-passcode'))
    # Four wrong passcodes before the run: the run's own attempt is the fifth and locks the phone. (Each run says to try
    # the refused password again: by default a refused password is remembered and never sent twice.)
    for attempt in range(4):  # pylint: disable=unused-variable
        run_adhoc(inventory, locked.spec.name, 'phonefleet.grandstream.phone_status_info', '-e', 'grandstream_retry_refused=true')
    proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.phone_status_info', '-e', 'grandstream_timeout=1',
                              '-e', 'grandstream_retry_refused=true')
    for phone, (fault, error_class, words) in zip(fleet.phones, FAULTS):
        result = results[phone.spec.name]
        assert result['error_class'] == error_class, (fault, result)
        assert words in result['msg'], (fault, result['msg'])
        assert result['msg'].startswith(phone.spec.name), result['msg']
        assert 'Traceback' not in json.dumps(result)
    assert results[locked.spec.name]['error_class'] == 'locked'
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stdout + proc.stderr
    assert_no_passcode(proc.stdout + proc.stderr, fleet)


def test_in_process_and_module_paths_agree(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=2)
    fleet.phones[1].set_fault('forbidden_403')
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    for module in ('accounts_info', 'phone_status_info', 'line_status_info'):
        by_path = {}
        for in_process in ('true', 'false'):
            results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.%s' % module,
                                '-e', 'grandstream_in_process=%s' % in_process)[1]
            for result in results.values():
                for volatile in ('invocation', 'ansible_facts', '_ansible_no_log', 'warnings', 'deprecations', 'exception'):
                    result.pop(volatile, None)
            by_path[in_process] = results
        assert by_path['true'] == by_path['false'], module
    requests_seen = fleet.events(phone=fleet.phones[0].spec.name, event='request')
    assert len(requests_seen) == 6


def test_wrong_shaped_bodies_are_protocol_errors_for_every_read(sim_fleet, run_adhoc, tmp_path):
    # A success envelope around something else must not read as "no account configured" or "every line idle".
    fleet = sim_fleet(count=2)
    fleet.phones[0].set_fault('wrong_body')
    fleet.phones[1].set_fault('wrong_shape_list')
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    for module in ('accounts_info', 'line_status_info', 'phone_status_info'):
        results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.%s' % module)[1]
        for phone in fleet.phones:
            result = results[phone.spec.name]
            assert result['error_class'] == 'error', (module, result)
            assert 'is not' in result['msg'], result['msg']


def test_https_to_a_phone_that_speaks_http_is_a_tls_error_on_both_paths(sim_fleet, run_adhoc, tmp_path):
    # ssl.SSLError carries a string where urllib3 errors carry an exception: this once crashed the error mapper.
    fleet = sim_fleet(count=1)
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    messages = {}
    for in_process in ('true', 'false'):
        proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info', '-e', 'grandstream_scheme=https',
                                  '-e', 'grandstream_in_process=%s' % in_process)
        result = results[fleet.phones[0].spec.name]
        assert result['error_class'] == 'error', result
        assert 'TLS handshake failed' in result['msg'] and 'validate_certs: false or ca_path' in result['msg'], result['msg']
        assert 'Traceback' not in proc.stdout + proc.stderr
        messages[in_process] = result['msg']
    assert messages['true'] == messages['false']
    assert_no_passcode(proc.stdout + proc.stderr, fleet)


def test_no_passcode_fails_before_anything_is_sent(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=1)
    phone = fleet.phones[0]
    inventory = tmp_path / 'phones.ini'
    inventory.write_text('%s ansible_host=%s grandstream_port=%d ansible_connection=local\n' % (phone.name, phone.host, phone.port))
    for in_process in ('true', 'false'):
        result = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info', '-e', 'grandstream_in_process=%s' % in_process)[1]
        assert 'no passcode' in result[phone.name]['msg'] and 'GRANDSTREAM_PASSCODE' in result[phone.name]['msg']
    assert fleet.events(phone=phone.name, event='request') == [], 'a request without a passcode counts towards the lockout'


def test_bad_options_give_the_same_message_on_both_paths(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=1)
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    for args in ('bogus=1', 'scheme=ftp', 'timeout=soon'):
        messages = {}
        for in_process in ('true', 'false'):
            results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info', '-a', args,
                                '-e', 'grandstream_in_process=%s' % in_process)[1]
            messages[in_process] = results[fleet.phones[0].spec.name]['msg']
        assert messages['true'] == messages['false'], messages
    assert messages['true'].startswith("argument 'timeout' is of type"), messages
    assert fleet.events(phone=fleet.phones[0].spec.name, event='request') == []


def self_signed_ca_and_phone_certificate(directory, addresses):
    """A private CA (as Grandstream's) and a phone certificate for ``addresses``; returns (ca.pem, server context).

    Made with cryptography, which ansible-core itself depends on.
    """
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=2)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, phone_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Test Grandstream CA')])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True)])
    phone = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'phone')]), ca_name, phone_key.public_key(), ca_key,
                        [(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), False)])
    ca_pem, cert_pem, key_pem = directory / 'ca.pem', directory / 'phone.pem', directory / 'phone.key'
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(phone.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(phone_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_pem), str(key_pem))
    return ca_pem, context


def test_https_phone_with_a_private_ca(sim_fleet, run_adhoc, tmp_path):
    fleet = sim_fleet(count=1, tls=True, start=False)
    phone = fleet.phones[0]
    ca_pem, fleet.tls_context = self_signed_ca_and_phone_certificate(tmp_path, [phone.host])
    fleet.start()
    inventory = tmp_path / 'phones.ini'
    fleet.write_ini(inventory)
    assert 'grandstream_scheme=\'"https"\'' in inventory.read_text()

    # The default verifies the certificate: a phone's private CA is not trusted, and the message says what to set.
    result = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info')[1][phone.name]
    assert result['error_class'] == 'error' and 'TLS handshake failed' in result['msg'], result
    assert 'validate_certs: false or ca_path' in result['msg']
    for extra in ('grandstream_validate_certs=false', 'grandstream_ca_path=%s' % ca_pem):
        for in_process in ('true', 'false'):
            proc, results = run_adhoc(inventory, 'all', 'phonefleet.grandstream.accounts_info', '-e', extra,
                                      '-e', 'grandstream_in_process=%s' % in_process)
            assert results[phone.name]['summary']['registered'] >= 1, (extra, in_process, results[phone.name])
    assert_no_passcode(proc.stdout + proc.stderr, fleet)
