# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firmware upgrade as a rolling change (:class:`FirmwareChange`), the documented "point and reboot" (cti-api.md
section 8), run by the rolling engine: batches, canary, fail limit, window, calls, ledger, resume, reports.

- Preflight (read-only, one web login): model, firmware version, lines and accounts, and the firmware settings: server
  path ``P192``, protocol ``P6767`` (``P212`` on older GXP21xx), prefix/postfix ``P232``/``P233``, the check at boot
  ``P238``, the DHCP override ``P145``, the confirmation ``P8375``.
- A phone at or above its target is ``already_current`` and never touched.  Settings that would stall the upgrade are
  written right when ``fix_settings`` (else the phone is ``blocked``, with each one named).
- Before anything is sent to any phone, every image the phones will fetch must answer on its server
  (``firmware_image_check``); a missing one stops the run naming its URL.
- The change: the settings written and **read back** (a value that did not stick fails the phone, naming the key, and it
  is never rebooted), then REBOOT.  The proof (``firmware_proof``): down, back, the target version reported, registered.
"""

from ansible_collections.phonefleet.grandstream.plugins.module_utils.config_tasks import apply_settings
from ansible_collections.phonefleet.grandstream.plugins.module_utils.cti import ERROR, CTIError
from ansible_collections.phonefleet.grandstream.plugins.module_utils.phone_models import (
    firmware_image_name, firmware_protocol_key, settings_wire,
)
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot import preflight as read_before_reboot
from ansible_collections.phonefleet.grandstream.plugins.module_utils.reboot_watch import RebootWatch, WatchOptions
from ansible_collections.phonefleet.grandstream.plugins.module_utils.rolling_options import FIRMWARE_OPTIONS
from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import PhoneSettings
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.change_reboot import DROPPED_NOTE, NO_ACCOUNT_NOTE
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.fanout import NOT_ATTEMPTED
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import parse_version
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_image_check import check_images
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_proof import (
    OLD_VERSION, AccountsReader, FirmwareProof, RegistrationCheck, ResumedFirmwareWatch, VersionCheck, VersionReader,
    read_version, version_text,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_settings import (
    SETTINGS_NOT_APPLIED, STALLING_KEYS, changed_settings_note, point_settings, stalling_settings, stalling_text,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware_targets import FirmwareTargets
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_change import (
    Change, ChangeRefused, Preflight, RunRefused, Skip,
)
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.rolling_reports import rolling_reports
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.text import name_list, short_number

# The firmware upgrade's outcome words (the engine's: rolling_plan, fanout, cti).
UPGRADED = 'upgraded'
ALREADY_CURRENT = 'already_current'
KEPT_OLD_VERSION = 'kept_old_version'
BLOCKED = 'blocked'

# Why a phone was not touched (its ``reason``), besides the engine's.
REASON_MODEL_UNKNOWN = 'model_unknown'
REASON_VERSION_UNKNOWN = 'version_unknown'
REASON_NO_TARGET = 'no_target'
REASON_SETTINGS_UNKNOWN = 'settings_unknown'
REASON_STALLING = 'stalling_settings'

FOUND_ON_TARGET_NOTE = ('checked after the interruption: found on the target version, which proves its upgrade (nobody '
                        'saw it restart); it was not rebooted again.')


def _is_text(value):
    return isinstance(value, str)


class FirmwarePreflight(Preflight):
    """What the preflight read of the phone ``label`` names: ``registered`` (account ids), ``model``, ``version`` (the running firmware, None when the
    phone does not tell), ``target`` (a FirmwareTarget, or None), ``image_name`` (None: not documented for the model),
    ``protocol_key`` (``P6767``/``P212``), ``wire`` (its settings form) and ``settings`` (``{pkey: value}``)."""

    __slots__ = ('label', 'registered', 'model', 'version', 'target', 'image_name', 'protocol_key', 'wire', 'settings')

    def __init__(self, label, in_use, registered, model, version, target, protocol_key=None, wire=None, settings=None):
        super(FirmwarePreflight, self).__init__(in_use)
        self.label = label
        self.registered = list(registered)
        self.model, self.version, self.target = model, version, target
        self.image_name = firmware_image_name(model)
        self.protocol_key, self.wire = protocol_key, wire
        self.settings = dict(settings or {})

    def image(self):
        """Where the phone will fetch its image: the URL, or words when its name is not documented."""
        if self.image_name is not None:
            return self.target.image_url(self.image_name)
        return 'the image for %s in %s' % (self.model, self.target.url)


class FirmwareChange(Change):
    """Point each phone at its target's image and reboot it; proven by the version it reports afterwards.

    ``options``: the module's validated options (FIRMWARE_OPTIONS plus ``poll_interval`` and ``connect_timeout``);
    ``world(connection)``: ``{'port_check': callable, 'transport': callable}`` for the proof's looks at a phone (tests),
    or None for the network; ``image_checker(urls, timeout, validate_certs)``: ``{url: ImageCheck}`` (tests).
    ``warnings``: sentences for the task's warnings (images that could not be checked).
    """

    kind = 'firmware'
    title = 'Firmware upgrade'
    verb = 'upgrade'
    report_name = 'firmware_upgrade'
    lock_name = 'firmware_upgrade.lock'
    role_prefix = 'firmware_upgrade_'
    done = UPGRADED
    done_earlier = ALREADY_CURRENT  # upgraded and proven by an earlier attempt of the run id: current, not contacted
    own_outcomes = (ALREADY_CURRENT, KEPT_OLD_VERSION, BLOCKED)
    own_problem_outcomes = (KEPT_OLD_VERSION, BLOCKED)
    failure_outcomes = {OLD_VERSION: KEPT_OLD_VERSION}
    proof_steps = (('down', 'down_after'), ('back', 'up_after'), ('on the target version', 'version_after'),
                   ('registered', 'registered_after'))
    batch_bound = 'upgrade_timeout + registration_timeout'
    ledger_field_checks = (
        ('expected', lambda value: isinstance(value, list) and all(
            isinstance(item, (int, str)) and not isinstance(item, bool) for item in value), 'a list of account ids'),
        ('from_version', _is_text, 'a version (a string)'),
        ('target_version', lambda value: _is_text(value) and parse_version(value) is not None, 'a dotted version'),
        ('model', _is_text, 'a model (a string)'),
        ('image', _is_text, 'a URL or words (a string)'),
    )
    row_columns = ('model', 'from_version', 'version', 'target_version')

    def __init__(self, options, world=None, image_checker=None):
        self.options = dict(options)
        self.targets = FirmwareTargets(options['targets'])
        self.fix_settings = bool(options['fix_settings'])
        self.watch_options = WatchOptions(operation='reboot', wait=False, down_timeout=options['down_timeout'],
                                          reboot_timeout=options['reboot_timeout'],
                                          registration_timeout=options['registration_timeout'],
                                          connect_timeout=options['connect_timeout'], poll_interval=options['poll_interval'])
        self._world = world or (lambda connection: {})
        self._check_images = image_checker or check_images
        self.warnings = []

    @classmethod
    def from_args(cls, args, world=None, image_checker=None):
        """From the module's validated options; raises ValueError with a sentence."""
        options = dict((name, args[name]) for name, dummy in FIRMWARE_OPTIONS)
        options.update(poll_interval=args['poll_interval'], connect_timeout=args['connect_timeout'])
        for name in ('down_timeout', 'reboot_timeout', 'upgrade_timeout', 'registration_timeout', 'image_check_timeout'):
            if not options[name] > 0:
                raise ValueError('%s must be a positive number of seconds, not %s' % (name, options[name]))
        if options['upgrade_timeout'] < options['reboot_timeout']:
            raise ValueError('upgrade_timeout (%s s) must be at least reboot_timeout (%s s): both count from the reboot '
                             'command, and the phone must answer again before it can report its new version'
                             % (short_number(options['upgrade_timeout']), short_number(options['reboot_timeout'])))
        return cls(options, world, image_checker)

    # -- before anything is sent ----------------------------------------------------------------

    def preflight(self, client):
        """Read-only, and only as much as the phone's case needs: a phone no target applies to is asked its model only,
        a current one its model and version; the others their lines, accounts and firmware settings too."""
        label = client.connection.label
        try:
            model = client.get_model()
        except CTIError as error:
            if error.error_class != ERROR:
                raise
            model = None
        target = self.targets.rule_for(model)
        if target is None:
            return FirmwarePreflight(label, False, [], model, None, None)
        login_version = client.web_login().get('ver')
        version = login_version.strip() if isinstance(login_version, str) and login_version.strip() else None
        wire = settings_wire(model, version)
        settings = PhoneSettings(client, wire)
        if version is None:
            version = read_version(client, settings)
        preflight = FirmwarePreflight(label, False, [], model, version, target, wire=wire)
        if target.reached_by(version) is not False:
            return preflight  # current, or a version that cannot be compared: never changed
        facts = read_before_reboot(client)
        preflight.in_use, preflight.registered = facts['in_use'], list(facts['registered'])
        preflight.protocol_key = firmware_protocol_key(model, version)
        if preflight.protocol_key is not None:
            preflight.settings = settings.read(list(point_settings(preflight, target)) + list(STALLING_KEYS))
        return preflight

    def skip_reason(self, preflight):
        if preflight.target is None:
            if preflight.model is None:
                return Skip(BLOCKED, REASON_MODEL_UNKNOWN, error=(
                    '%s: the phone does not tell its model (it has no /json/configs/model.define.js), so no target can be '
                    'chosen for it: not touched. Upgrade it by hand.' % preflight.label))
            return Skip(NOT_ATTEMPTED, REASON_NO_TARGET, note='no target pattern matches its model %s: not touched.'
                        % preflight.model)
        target = preflight.target
        if preflight.version is None or parse_version(preflight.version) is None:
            return Skip(BLOCKED, REASON_VERSION_UNKNOWN, error=(
                '%s: the phone reports no firmware version that can be compared (%s), so an upgrade to %s could not be '
                'proven: not touched.' % (preflight.label, version_text(preflight.version), target.version)))
        if target.reached_by(preflight.version):
            return Skip(ALREADY_CURRENT, None, note='runs %s, at or above the target %s for %s: not touched.'
                        % (preflight.version, target.version, target.pattern))
        unknown = [key for key in point_settings(preflight, target) if preflight.settings.get(key) is None]
        if preflight.protocol_key is None or unknown:
            return Skip(BLOCKED, REASON_SETTINGS_UNKNOWN, error=(
                '%s: the phone has no setting %s, so it cannot be pointed at its firmware server: not touched.'
                % (preflight.label, ', '.join(unknown or ['for the firmware protocol']))))
        stalls = stalling_settings(preflight.settings)
        if stalls and not self.fix_settings:
            return Skip(BLOCKED, REASON_STALLING, error=(
                '%s: its settings would stall the upgrade: %s. Set them right, or let the rollout do it (fix_settings, '
                'firmware_upgrade_fix_settings with the role): not touched.' % (preflight.label, stalling_text(stalls))))
        return None

    def before_batches(self, preflights):
        """Every image the phones will fetch must answer on its server, before anything is sent to any phone."""
        fetched, unknown, tftp = {}, {}, set()
        for preflight in preflights:
            target = preflight.target
            if preflight.image_name is None:
                unknown.setdefault(target.pattern, set()).add(preflight.model)
            elif target.scheme == 'tftp':
                tftp.add(target.pattern)
            else:
                fetched.setdefault(target.image_url(preflight.image_name), set()).add((preflight.model, target.pattern))
        for pattern, models in sorted(unknown.items()):
            self.warnings.append('The firmware image name of %s is not documented, so the image at %s could not be '
                                 'checked before the rollout: make sure the directory holds the image for each of these '
                                 'models (target %s).' % (name_list(sorted(models)), self.targets_url(pattern), pattern))
        for pattern in sorted(tftp):
            self.warnings.append('The url of target %s is TFTP (%s), which the rollout cannot check: make sure the images '
                                 'are on the TFTP server.' % (pattern, self.targets_url(pattern)))
        if not fetched:
            return
        if not self.options['image_check']:
            self.warnings.append('The firmware images were not checked (image_check is off): %s.'
                                 % name_list(sorted(fetched), 5))
            return
        checks = self._check_images(sorted(fetched), self.options['image_check_timeout'],
                                    self.options['image_validate_certs'])
        missing = [url for url in sorted(fetched) if not checks[url].ok]
        if missing:
            raise RunRefused('The firmware upgrade did not start: %s. Put each image there, or fix the url of its target.'
                             % '; '.join('%s (for %s) answered %s' % (url, ', '.join(
                                 sorted('%s, target %s' % item for item in fetched[url])), checks[url].problem)
                                 for url in missing))

    def targets_url(self, pattern):
        return next(rule.url for rule in self.targets.rules if rule.pattern == pattern)

    def ledger_fields(self, preflight):
        return {'expected': list(preflight.registered), 'from_version': preflight.version,
                'target_version': preflight.target.version, 'model': preflight.model, 'image': preflight.image()}

    # -- the change -----------------------------------------------------------------------------

    def apply(self, client, preflight, clock):
        label = client.connection.label
        wanted = point_settings(preflight, preflight.target)
        wanted.update(stalling_settings(preflight.settings).fixes())
        try:
            result = apply_settings(client, wanted, check_mode=False, update_secrets='never',
                                    settings=PhoneSettings(client, preflight.wire))
        except ValueError as exc:
            raise ChangeRefused(SETTINGS_NOT_APPLIED, '%s: %s; it was not rebooted.' % (label, str(exc).rstrip('.')))
        if result.get('failed'):
            raise ChangeRefused(SETTINGS_NOT_APPLIED, '%s It was not rebooted.' % result['msg'].rstrip())
        sent = client.sys_operation('REBOOT')
        world = self._world(client.connection)
        watch = RebootWatch(client.connection, [], self.watch_options, clock=clock.monotonic,
                            port_check=world.get('port_check'))
        proof = self._proof(watch, client.connection, preflight.registered, preflight.version,
                            preflight.target.version, preflight.image(), clock)
        proof.dropped = bool(sent.get('dropped'))
        proof.changed_settings = [(key, result['before'][key], result['after'][key]) for key in result['changed_keys']]
        return proof

    def resume(self, target, entry, clock):
        fields = entry.fields
        connection = target.connection
        world = self._world(connection)
        reader = VersionReader(connection, self.options['connect_timeout'], world.get('transport'))
        watch = ResumedFirmwareWatch(connection, self.watch_options, reader, fields.get('target_version'),
                                     sent_ago=entry.sent_ago, down_after=entry.down_after, sent=entry.surely_sent,
                                     clock=clock.monotonic, port_check=world.get('port_check'))
        return self._proof(watch, connection, fields.get('expected') or [], fields.get('from_version'),
                           fields.get('target_version'), fields.get('image') or 'the image', clock, resumed=True)

    def _proof(self, watch, connection, registered, before, target_version, image, clock, resumed=False):
        world = self._world(connection)
        timeout = self.options['connect_timeout']
        version = VersionCheck(connection.label, VersionReader(connection, timeout, world.get('transport')), target_version,
                               before, self.options['upgrade_timeout'], max(1.0, self.options['poll_interval']),
                               clock.monotonic, image=image)
        registration = RegistrationCheck(connection.label, AccountsReader(connection, timeout, world.get('transport')),
                                         registered, self.options['registration_timeout'], self.options['poll_interval'],
                                         clock.monotonic)
        return FirmwareProof([watch, version, registration], resumed=resumed)

    def sent_note(self, proof):
        notes = []
        if proof.changed_settings:
            notes.append(changed_settings_note(proof.changed_settings))
        if proof.dropped:
            notes.append(DROPPED_NOTE)
        return ' '.join(notes) or None

    def finished_notes(self, proof):
        if not proof.ok:
            return []
        notes = []
        if proof.resumed:
            notes.append(FOUND_ON_TARGET_NOTE if proof.first.found_on_target else
                         'checked after the interruption: %s, back on the target version and registered; it was not '
                         'rebooted again.' % ('seen going down before it' if proof.first.seen_down_before else 'found down'))
        if not proof.registration_check.expected:
            notes.append(NO_ACCOUNT_NOTE.replace('the reboot', 'the upgrade'))
        return notes

    def row_fields(self, phone):
        preflight, fields, proof = phone.preflight, phone.resume_fields, phone.proof
        if preflight is not None:
            row = {'model': preflight.model, 'from_version': preflight.version,
                   'target_version': preflight.target.version if preflight.target else None, 'version': preflight.version}
        else:
            row = {'model': fields.get('model'), 'from_version': fields.get('from_version'),
                   'target_version': fields.get('target_version'), 'version': None}
            if phone.outcome == ALREADY_CURRENT:
                row['version'] = fields.get('target_version')  # proven by the earlier attempt that upgraded it
        if isinstance(proof, FirmwareProof):
            row['version'] = proof.version
        return row

    def max_seconds(self):
        return self.options['upgrade_timeout'] + self.options['registration_timeout']

    def settings_record(self):
        record = dict((name, self.options[name]) for name, dummy in FIRMWARE_OPTIONS if name != 'targets')
        record['targets'] = self.targets.record()
        return record


# The firmware upgrade's report files (firmware_upgrade.json, .junit.xml, .csv, .html).
FIRMWARE_REPORTS = rolling_reports(FirmwareChange)
