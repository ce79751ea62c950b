# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proof of a firmware upgrade (:class:`FirmwareProof`): the phone went down, came back, **reports the target
version**, and registered again the accounts registered before.

An answer to REBOOT proves nothing, and neither does a phone that came back: when the server, the file or the checksum
fails, the phone boots its old image and says nothing (cti-api.md section 8).  The only proof is the version the phone
reports afterwards (``ver`` in the web login's answer, else ``P68``).  A phone may go down twice (the reboot, then the
reboot into the new image after the flash) and may answer on its old version in between, so the version step reads
until ``upgrade_timeout`` after the command, and a phone that answers in between on its old version is only
``kept_old_version`` once that time has passed.

The steps are links of a ``change_proof.ChainProof``: a ``RebootWatch`` without its registration poll (down, back),
:class:`VersionCheck`, :class:`RegistrationCheck`.  After an interruption :class:`ResumedFirmwareWatch` replaces the
watch: it never sends anything, and a phone found on the target version is proven by its version.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import CTIClient, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import (
    DOWN, FAST_POLL_PERIOD, FAST_POLL_WAIT, NEVER_UP, UNREGISTERED, UP, registered_ids,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import PhoneSettings
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_proof import FATAL_CLASSES, ChainProof, ReadCheck
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import ResumedWatch
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import compare_versions, parse_version
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_plan import REASON_UNVERIFIED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import short_number

# Why the version step failed (the phone's ``reason``); OLD_VERSION has its own outcome, kept_old_version.
OLD_VERSION = 'old_version'          # it answers on the version it ran before
OTHER_VERSION = 'other_version'      # it answers on a version that is neither its old one nor the target
VERSION_UNKNOWN = 'version_unknown'  # it answers but reports no version
VERSION_TIMING = 'version_after'
REGISTERED_TIMING = 'registered_after'
VERSION_SHOWN = 40


def version_text(value):
    """A version from a phone, fit for a sentence: a dotted version as it is, anything else quoted and cut."""
    if value is None:
        return 'none'
    if parse_version(value) is not None:
        return value
    text = ''.join(char if char.isprintable() else '?' for char in str(value))
    return repr(text if len(text) <= VERSION_SHOWN else text[:VERSION_SHOWN] + '...')


def same_version(left, right):
    """Whether two version texts are the same dotted version (``1.0.7.81`` == ``1.0.7.81.0``); False when either is not."""
    left, right = parse_version(left), parse_version(right)
    return left is not None and right is not None and compare_versions(left, right) == 0


def read_version(client, settings=None):
    """The firmware version the phone reports: ``ver`` in its web login's answer, else ``P68``; None when neither tells.
    Raises CTIError."""
    version = client.web_login().get('ver')
    if not isinstance(version, str) or not version.strip():
        version = (settings or PhoneSettings(client)).read(['P68']).get('P68')
    return version.strip() if isinstance(version, str) and version.strip() else None


class VersionReader(object):
    """One read of a phone's version with a client of its own (a new web login: a session that lived through the
    reboot is gone, and the new firmware may speak another settings form).  ``transport()``: the client's transport
    (tests), else the network."""

    def __init__(self, connection, timeout, transport=None):
        self.connection = connection.copy(timeout=timeout)
        self._transport = transport

    def __call__(self):
        # proven: the phone accepted this password right before its command; a refusal still ends the step at once.
        client = CTIClient(self.connection, transport=self._transport() if self._transport else None, read_retries=0,
                           proven=True)
        try:
            return read_version(client)
        finally:
            client.close()


class AccountsReader(object):
    """The registered account ids of a phone, with one client for the whole step (a session-dialect phone logs in once
    after its reboot)."""

    def __init__(self, connection, timeout, transport=None):
        self._client = CTIClient(connection.copy(timeout=timeout), transport=transport() if transport else None,
                                 read_retries=0, proven=True)

    def __call__(self):
        return registered_ids(self._client.get_accounts())

    def close(self):
        self._client.close()


def kept_old_advice(image):
    """What to check when a phone came back on its old firmware; ``image``: where it fetched (a URL, or words)."""
    return ('A phone boots its old image and says nothing when the download, the file or its checksum fails. Check that '
            '%s is there and is the image for its model (a failed checksum means a damaged or wrong file), that the phone '
            'can reach the server from its own network (not only the controller), and that DHCP option 66/43 does not '
            'send it elsewhere (P145).' % image)


class VersionCheck(ReadCheck):
    """The step "the phone reports the target version": a read every ``interval`` seconds (phones that do not answer
    are read again: the flash and the second reboot), until ``timeout`` seconds **after the command** (the chain's start:
    the download, the flash and a second reboot).  ``before``: the version it ran before (None: unknown); ``image``:
    where it fetched the image (a URL, or words), for the sentences.  ``value``: the last version the phone reported."""

    def __init__(self, label, read, target, before, timeout, interval, clock, image='the image'):
        self.target = target
        self.before = before
        self.image = image
        super(VersionCheck, self).__init__(
            label, VERSION_TIMING, read=read, accept=lambda version: same_version(version, target), describe=None,
            reason=OLD_VERSION, timeout=timeout, interval=interval, clock=clock, from_change=True)

    def give_up(self):
        waited = short_number(self.timeout)
        if not self.last_answered:
            self.fail(NEVER_UP, 'the phone stopped answering after the reboot (to flash the image and reboot into it?) and '
                      'did not answer again within upgrade_timeout (%s s after the command). Check its power and network; '
                      'it may still be flashing: do not switch it off.' % waited)
        elif self.value is None:
            self.fail(VERSION_UNKNOWN, 'the phone answers but reports no firmware version (neither its login answer nor '
                      'P68), so its upgrade to %s cannot be proven.' % self.target)
        elif same_version(self.value, self.before) or (self.before is None and not self._above_target(self.value)):
            self.fail(OLD_VERSION, 'the phone came back on its old firmware %s, not %s (still %s s after the command). %s'
                      % (version_text(self.value), self.target, waited, kept_old_advice(self.image)))
        else:
            self.fail(OTHER_VERSION, 'the phone came back on firmware %s, neither its old %s nor the target %s (%s s after '
                      'the command). Check which version %s is.'
                      % (version_text(self.value), version_text(self.before), self.target, waited, self.image))

    def _above_target(self, value):
        parsed, target = parse_version(value), parse_version(self.target)
        return parsed is not None and target is not None and compare_versions(parsed, target) > 0


def _nothing_registered_before():
    """The registration read of a phone that had no account registered before: nothing to wait for, nothing sent."""
    return []


class RegistrationCheck(ReadCheck):
    """The step "the accounts registered before registered again", on the new firmware: a read at once, then every
    second, and after ten seconds without registration backing off (x2) up to ``poll_interval`` (the reboot watch's
    pace).  With no account registered before, it passes without a read."""

    def __init__(self, label, reader, expected, timeout, poll_interval, clock):
        self.expected = sorted(set(expected or ()))
        self.poll_interval = float(poll_interval)
        self._begun = None
        super(RegistrationCheck, self).__init__(
            label, REGISTERED_TIMING, read=reader if self.expected else _nothing_registered_before,
            accept=lambda ids: set(self.expected) <= set(ids or ()), describe=self._describe, reason=UNREGISTERED,
            timeout=timeout, interval=min(FAST_POLL_WAIT, self.poll_interval), clock=clock, close=reader.close)

    def begin(self, started):
        super(RegistrationCheck, self).begin(started)
        self._begun = self._clock()

    def step(self):
        if self._begun is not None and self.reads and self._clock() - self._begun >= FAST_POLL_PERIOD:
            self.interval = min(self.interval * 2, self.poll_interval)
        super(RegistrationCheck, self).step()

    def _describe(self, value):
        if value is None:
            return 'the phone runs the new firmware, but its registration could not be read within registration_timeout'
        missing = sorted(set(self.expected) - set(value))
        return ('the phone runs the new firmware, but account%s %s did not register again within registration_timeout. '
                'Check the SIP server and the phone network'
                % ('s' if len(missing) > 1 else '', ', '.join(str(item) for item in missing)))


class ResumedFirmwareWatch(ResumedWatch):
    """The first link of the proof of a phone whose reboot went out (or may have) before an interruption; sends
    nothing.  As ``change_reboot.ResumedWatch`` (every timeout counts from the command; seen down before: it must come
    back), except for a phone that answers when ``down_timeout`` has passed without anybody seeing it restart: its
    version decides.  On the target version, its upgrade is proven by the version (``found_on_target``); on any other,
    nobody can tell whether its reboot went out: ``unverified``, never a second reboot."""

    def __init__(self, connection, options, read_version_now, target, **kwargs):
        super(ResumedFirmwareWatch, self).__init__(connection, [], options, **kwargs)
        self._read_version = read_version_now
        self.target = target
        self.found_on_target = False
        self.version_seen = None

    def _after_sent(self, seen, since):
        if not seen.reachable:
            self._advance(DOWN, 'down_after', since)
            self._after_down(seen, since)
            return
        if since < min(self.down_timeout, self.reboot_timeout):
            return
        try:
            self.version_seen = self._read_version()
        except CTIError as error:
            if error.error_class in FATAL_CLASSES:
                self.fail(error.error_class, str(error))
            elif since >= self.reboot_timeout:
                self.fail(REASON_UNVERIFIED, self._unverified('its version could not be read'))
            return
        if same_version(self.version_seen, self.target):
            self.found_on_target = True
            self.state = UP
            self.done = True
        else:
            found = 'it runs %s, not %s' % (version_text(self.version_seen), self.target)
            self.fail(REASON_UNVERIFIED, self._unverified(found))

    def _unverified(self, found):
        return ('its reboot %s before the run was interrupted; the phone answers (%s), but nobody saw it restart, so its '
                'upgrade cannot be proven (it was not rebooted again). Check it by hand, or upgrade it with a new run id.'
                % ('went out' if self.command_sent else 'was being sent (it may have gone out)', found))


class FirmwareProof(ChainProof):
    """The chain watch -> version -> registration, with what the notes and the report rows need: ``dropped`` (the phone
    closed the connection instead of answering REBOOT), ``changed_settings`` (``(key, before, after)`` written before
    the reboot), ``resumed``."""

    def __init__(self, links, resumed=False):
        super(FirmwareProof, self).__init__(links)
        self.resumed = resumed
        self.dropped = False
        self.changed_settings = []

    @property
    def version_check(self):
        return self.links[1]

    @property
    def version(self):
        """The version the phone reported last (None: not read)."""
        return self.version_check.value if self.version_check.value is not None else getattr(self.first, 'version_seen', None)

    @property
    def registration_check(self):
        return self.links[2]
