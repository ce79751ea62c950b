# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a firmware rollout installs, and where the phones fetch it (cti-api.md section 8).

``targets`` maps model patterns to ``{version, url}``, for example::

    {"GXP16*": {"version": "1.0.7.81", "url": "http://fw.example.net/gxp16xx/1.0.7.81"}}

Patterns are shell-style and case-insensitive, and the first one that matches the model, in the order written, applies
(as the audit's ``firmware_minimum``).  The URL's scheme picks the protocol setting (``P6767``, or ``P212`` on older
GXP21xx firmware: 0 TFTP, 1 HTTP, 2 HTTPS); its host, port and path, without the scheme, become the firmware server
path ``P192``.  The phone then fetches ``<url>/<image name>`` (``gxp1600fw.bin``...).
"""

import fnmatch
from urllib.parse import urlsplit

from ansible_collections.phonefleet.grandstream.plugins.module_utils.settings import URL_FIELD_LIMIT
from ansible_collections.phonefleet.grandstream.plugins.plugin_utils.firmware import compare_versions, parse_version

# The URL scheme -> the value of the firmware protocol setting.
PROTOCOL_VALUES = {'tftp': '0', 'http': '1', 'https': '2'}
PROTOCOL_NAMES = dict((value, scheme.upper()) for scheme, value in PROTOCOL_VALUES.items())
TARGET_KEYS = ('version', 'url')


class FirmwareTarget(object):
    """One target: ``pattern``, ``version`` (the text, ``1.0.7.81``), ``url`` (as written, without a trailing slash),
    ``scheme`` (``http``, ``https``, ``tftp``), ``server_path`` (``P192``: host[:port]/path, no scheme) and ``protocol``
    (the protocol setting's value, ``'1'``)."""

    __slots__ = ('pattern', 'version', 'parsed_version', 'url', 'scheme', 'server_path', 'protocol')

    def __init__(self, pattern, version, url):
        self.pattern = pattern
        self.version = version
        self.parsed_version = parse_version(version)
        self.url = url
        self.scheme, self.server_path = split_url(url, pattern)
        self.protocol = PROTOCOL_VALUES[self.scheme]

    def image_url(self, image_name):
        """Where a phone with this target fetches the image ``image_name`` (no prefix or postfix: the rollout clears them)."""
        return '%s/%s' % (self.url, image_name)

    def reached_by(self, version):
        """Whether a phone running ``version`` (text) is at or above this target; None when ``version`` is not dotted."""
        parsed = parse_version(version)
        if parsed is None:
            return None
        return compare_versions(parsed, self.parsed_version) >= 0

    def is_version(self, version):
        """Whether ``version`` (text) is this target's version (``1.0.7.81`` == ``1.0.7.81.0``)."""
        parsed = parse_version(version)
        return parsed is not None and compare_versions(parsed, self.parsed_version) == 0

    def record(self):
        return {'version': self.version, 'url': self.url}


def split_url(url, pattern):
    """(scheme, server path) of a target's URL; ValueError with a sentence naming the pattern."""
    where = 'the url of %s' % pattern
    if not isinstance(url, str) or not url.strip():
        raise ValueError('%s must be a URL like http://fw.example.net/grandstream/1.0.7.81, not %r' % (where, url))
    text = url.strip()
    if any(not char.isprintable() or char.isspace() for char in text):
        raise ValueError('%s contains spaces or control characters: %r' % (where, text[:80]))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in PROTOCOL_VALUES:
        raise ValueError('%s must start with http://, https:// or tftp:// (the phone\'s firmware protocol), not %r'
                         % (where, text[:80]))
    try:
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError('%s has a bad port: %r' % (where, text[:80]))
    if not parts.hostname:
        raise ValueError('%s has no host: %r' % (where, text[:80]))
    if '@' in parts.netloc:
        raise ValueError('%s carries a user name or password, which the phone\'s firmware server path (P192) cannot '
                         'hold: give the phones a server that needs none' % where)
    if parts.query or parts.fragment or text.endswith(('?', '#')):
        raise ValueError('%s has a query or a fragment (?..., #...): the phone appends the image name to the path, so '
                         'give a plain directory URL' % where)
    server_path = (parts.netloc + parts.path).rstrip('/')
    if len(server_path) > URL_FIELD_LIMIT:
        raise ValueError('%s is too long: its host and path (%d characters) must fit the phone\'s firmware server path '
                         '(P192, at most %d)' % (where, len(server_path), URL_FIELD_LIMIT))
    return scheme, server_path


class FirmwareTargets(object):
    """The targets of a rollout, in the order written.  Raises ValueError for anything that is not a target."""

    def __init__(self, targets):
        if not isinstance(targets, dict) or not targets:
            raise ValueError('targets must map model patterns to {version, url}, for example {"GXP16*": {"version": '
                             '"1.0.7.81", "url": "http://fw.example.net/gxp16xx/1.0.7.81"}}')
        self.rules = []
        for pattern, target in targets.items():
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError('targets: a model pattern must be a non-empty string, not %r' % (pattern,))
            pattern = pattern.strip()
            if not isinstance(target, dict):
                raise ValueError('targets: %s must map to {version, url}, not %r' % (pattern, target))
            unknown = sorted(str(key) for key in target if key not in TARGET_KEYS)
            missing = [key for key in TARGET_KEYS if target.get(key) in (None, '')]
            if unknown or missing:
                raise ValueError('targets: %s must have exactly the keys version and url (%s)' % (pattern, '; '.join(
                    part for part in ('missing %s' % ', '.join(missing) if missing else '',
                                      'unknown %s' % ', '.join(unknown) if unknown else '') if part)))
            version = str(target['version']).strip()
            if parse_version(version) is None:
                raise ValueError('targets: the version for %s must be a dotted version like 1.0.7.81, not %r'
                                 % (pattern, target['version']))
            self.rules.append(FirmwareTarget(pattern, version, str(target['url']).strip().rstrip('/')))

    def rule_for(self, model):
        """The first target whose pattern matches ``model``, or None."""
        if not model:
            return None
        name = str(model).strip().upper()
        return next((rule for rule in self.rules if fnmatch.fnmatchcase(name, rule.pattern.upper())), None)

    def record(self):
        return dict((rule.pattern, rule.record()) for rule in self.rules)
