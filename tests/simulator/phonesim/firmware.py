"""Firmware upgrades of a simulated phone (cti-api.md section 8): the simulated image format, the fetch at boot (only
ever to a loopback address), the checks an image must pass, the confirmation a person may have to give, the flash and
the reboot into the new version.

Image format (simulator-only; nothing about real images is implied)::

    GSFW1 <image name> <version> <payload length> <sha256 hex of the payload>\\n<payload>

The phone flashes an image whose name is its own (``grp2610fw.bin`` ...), whose payload matches length and checksum,
and whose version is newer than the running one (older only with ``allow_downgrade``). Anything else: it boots its
old image and says nothing (an event for the tests).
"""

import asyncio
import hashlib
import os
import ssl
from urllib.parse import quote, urlsplit

from .profiles import image_name, recorded
from .spec import check_loopback

MAGIC = b'GSFW1'
MAX_IMAGE = 16 * 1024 * 1024
PROTOCOLS = {'1': 'http', '2': 'https'}     # 0 is TFTP: a real phone speaks it, the simulator does not


def _image_file_name(base):
    """``gxp1600`` or ``gxp1600fw.bin`` -> ``gxp1600fw.bin``."""
    return base if base.endswith('.bin') else base + 'fw.bin'


def make_firmware_image(base, version, corrupt=False, payload_size=4096):
    """A simulated firmware image for ``base`` (``gxp1600``, ``grp2610fw.bin``, or a model: ``GRP2614``) at ``version``.
    ``corrupt``: one payload byte flipped after the checksum was taken (the phone rejects it)."""
    name = image_name(base) if not base.islower() else _image_file_name(base)
    seed = ('%s %s ' % (name, version)).encode('ascii')
    payload = bytearray((seed * (payload_size // len(seed) + 1))[:payload_size])
    checksum = hashlib.sha256(bytes(payload)).hexdigest().encode('ascii')
    header = b'%s %s %s %d %s\n' % (MAGIC, name.encode('ascii'), version.encode('ascii'), len(payload), checksum)
    if corrupt:
        payload[len(payload) // 2] ^= 0xff
    return header + bytes(payload)


def write_firmware_image(directory, base, version, prefix='', postfix='', corrupt=False):
    """Write an image where a phone with these P232/P233 looks for it; returns the path."""
    name = image_name(base) if not base.islower() else _image_file_name(base)
    path = os.path.join(os.fspath(directory), prefix + name + postfix)
    with open(path, 'wb') as handle:
        handle.write(make_firmware_image(base, version, corrupt=corrupt))
    return path


def check_image(data, expected_name):
    """(verdict, version): ``ok`` with the image's version, or ``not_an_image``, ``wrong_model``, ``bad_checksum``."""
    head, sep, payload = data.partition(b'\n')
    words = head.split(b' ')
    if not sep or len(words) != 5 or words[0] != MAGIC or not words[3].isdigit():
        return 'not_an_image', None
    name, version = words[1].decode('ascii', 'replace'), words[2].decode('ascii', 'replace')
    if name != expected_name:
        return 'wrong_model', version
    if len(payload) != int(words[3]) or hashlib.sha256(payload).hexdigest().encode('ascii') != words[4]:
        return 'bad_checksum', version
    return 'ok', version


def user_agent(phone):
    """What a Grandstream phone sends when it fetches firmware (peer)."""
    return 'Grandstream Model HW %s SW %s DevId %s' % (phone.spec.model, phone.version, phone.mac.replace(':', '').lower())


def firmware_url(phone):
    """(url, source, problem): where the phone looks at this boot, or the reason it cannot look (no server, TFTP...)."""
    store = phone.settings_store
    source, path = 'P192', store.get('192') or ''
    if phone.spec.dhcp_firmware_path and store.get('145') == '1':
        source, path = 'dhcp', phone.spec.dhcp_firmware_path
    if not path.strip():
        return None, source, 'no_server'
    protocol = store.get(phone.profile.protocol_key.lstrip('P'))
    if '://' in path:
        scheme, path = path.split('://', 1)
    elif protocol == '0':
        return 'tftp://%s' % path, source, 'tftp_unsupported'
    else:
        scheme = PROTOCOLS.get(protocol)
        if scheme is None:
            return None, source, 'bad_protocol'
    name = (store.get('232') or '') + phone.profile.image_name + (store.get('233') or '')
    return '%s://%s/%s' % (scheme, path.strip().rstrip('/'), quote(name)), source, None


async def fetch(phone, url):
    """GET ``url`` from the phone's own address; (outcome, HTTP status, body). Loopback targets only: any other host
    fails here, before anything is sent or resolved."""
    parts = urlsplit(url)
    if parts.scheme not in ('http', 'https'):
        return 'bad_protocol', None, b''
    host = '127.0.0.1' if parts.hostname == 'localhost' else (parts.hostname or '')
    try:
        check_loopback(host)
        port = parts.port or (443 if parts.scheme == 'https' else 80)
    except ValueError:
        return 'not_loopback', None, b''
    context = None
    if parts.scheme == 'https':
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE   # the simulated phone does not check the server (unknown on real ones)
    request = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n'
               % ((parts.path or '/') + ('?' + parts.query if parts.query else ''), parts.netloc, user_agent(phone)))
    writer = None
    try:
        async with asyncio.timeout(float(phone.spec.firmware_timeout)):
            reader, writer = await asyncio.open_connection(host, port, ssl=context, local_addr=(phone.host, 0))
            writer.write(request.encode('latin-1', 'replace'))
            await writer.drain()
            return await _read_answer(reader)
    except TimeoutError:
        return 'timeout', None, b''
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
        return 'unreachable', None, b''
    finally:
        if writer is not None:
            writer.close()


async def _read_answer(reader):
    words = (await reader.readline()).decode('latin-1').split()
    if len(words) < 2 or not words[0].startswith('HTTP/') or not words[1].isdigit():
        return 'bad_answer', None, b''
    status, length = int(words[1]), None
    while True:
        line = await reader.readline()
        if line in (b'\r\n', b'\n', b''):
            break
        name, _sep, value = line.decode('latin-1').partition(':')
        if name.strip().lower() == 'content-length' and value.strip().isdigit():
            length = int(value.strip())
    if status == 404:
        return 'not_found', status, b''
    if status != 200:
        return 'http_status', status, b''
    if length is not None and length > MAX_IMAGE:
        return 'too_big', status, b''
    body = await (reader.readexactly(length) if length is not None else reader.read(MAX_IMAGE + 1))
    if len(body) > MAX_IMAGE:
        return 'too_big', status, b''
    return 'ok', status, body


class FirmwareBoot:
    """The firmware side of ``Phone``: what happens at each boot, and an upgrade waiting for a person. Event loop
    thread, except confirm_upgrade()."""

    def _firmware_init(self):
        store = self.settings_store
        self._fw_affixes = (store.value_of('232'), store.value_of('233'))   # what P238 = 1 compares with
        self._fw_pending = None      # (version, image) waiting for a person (P8375 = 1)
        self._fw_confirmed = False   # a person said yes before the image came

    def confirm_upgrade(self):
        """A person confirms the upgrade on the phone's screen: a waiting one starts now (True); else the next one
        goes ahead without waiting (False)."""
        return self.fleet.call(self._confirm_upgrade)

    def _confirm_upgrade(self):
        if self._fw_pending is None or self._power != 'up':
            self._fw_confirmed = True
            return False
        if self._cycle is not None:
            self._cycle.cancel()   # still registering after the boot: the upgrade's reboot starts that again
        version, self._fw_pending = self._fw_pending[0], None
        self._cycle = self.fleet.loop.create_task(self._confirmed_cycle(version))
        return True

    async def _confirmed_cycle(self, version):
        try:
            self._go_down('UPGRADE')
            await self._flash(version)
            await self._come_up('UPGRADE')
        finally:
            if self._cycle is asyncio.current_task():
                self._cycle = None

    async def _boot_firmware(self):
        """At boot, before the web server listens: check for firmware as P238, P192, P6767 (or P212), P232/P233, P145
        and P8375 say; flash a good newer image and reboot into it. Never fails the boot."""
        store = self.settings_store
        check, affixes = store.get('238'), (store.get('232'), store.get('233'))
        if check == '2':
            self._emit('firmware_skipped', reason='check_disabled')
            return
        if check == '1' and affixes == self._fw_affixes:
            self._emit('firmware_skipped', reason='affixes_unchanged')
            return
        self._fw_affixes = affixes
        url, source, problem = firmware_url(self)
        if problem == 'no_server':
            self._emit('firmware_skipped', reason='no_server')
            return
        agent = user_agent(self)
        if problem is not None:
            self._emit('firmware_fetch', url=url, source=source, outcome=problem, status=None, bytes=0, user_agent=agent)
            return
        outcome, status, data = await fetch(self, url)
        self._emit('firmware_fetch', url=url, source=source, outcome=outcome, status=status, bytes=len(data), user_agent=agent)
        if outcome != 'ok':
            return
        verdict, version = check_image(data, self.profile.image_name)
        if verdict == 'ok':
            verdict = self._compare_version(version)
        if verdict != 'ok':
            self._emit('firmware_rejected', reason=verdict, version=version, running=self.version)
            return
        if store.get('8375') == '1' and not self._fw_confirmed:
            self._fw_pending = (version, data)
            self._emit('firmware_waiting', version=version, running=self.version)
            return
        await self._flash(version)

    def _compare_version(self, version):
        if recorded.version_tuple(version) is None:
            return 'not_an_image'
        if version == self.version or not (recorded.version_below(self.version, version) or recorded.version_below(version, self.version)):
            return 'same_version'
        if recorded.version_below(version, self.version) and not self.spec.allow_downgrade:
            return 'downgrade'
        return 'ok'

    async def _flash(self, version):
        """Write the flash for flash_time, then reboot once more into ``version`` (the phone stays dark meanwhile)."""
        self._fw_confirmed = False
        self._fw_pending = None
        previous = self.version
        self._emit('firmware_flash', version=version, running=previous)
        await asyncio.sleep(float(self.spec.flash_time))
        self.version = version
        self._upgrade_profile()
        self._emit('firmware_upgraded', version=version, previous=previous)
        await asyncio.sleep(float(self.spec.down_time))
