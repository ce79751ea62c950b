# Copyright: (c) 2025, phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one redaction (plugins/module_utils/redaction.py): raw and URL-encoded secrets, overlapping
secrets hidden whole, passcode=/password=/sid= parameters, regex metacharacters, a cut that never shows a piece of a
secret, and the same answer from the path for a few secrets as from the path for many."""

from __future__ import annotations

import random
import string

import pytest

from ansible_collections.phonefleet.grandstream.plugins.module_utils import redaction
from ansible_collections.phonefleet.grandstream.plugins.module_utils.redaction import REDACTED, Redactor, redact

R = REDACTED


@pytest.mark.parametrize('text, secrets, expected', [
    ('pw hunter2.example and hunter2', ['hunter2', 'hunter2.example'], 'pw %s and %s' % (R, R)),
    ('pw hunter2.example and hunter2', ['hunter2.example', 'hunter2'], 'pw %s and %s' % (R, R)),  # order given does not matter
    ('raw a b, quoted a%20b, plus a+b', ['a b'], 'raw %s, quoted %s, plus %s' % (R, R, R)),
    ('S3cr&t#pw S3cr%26t%23pw', ['S3cr&t#pw'], '%s %s' % (R, R)),
    ('xabcd', ['xab', 'abcd'], R),             # two secrets that overlap: one stretch, no piece of either left
    ('abcd', ['ab', 'cd'], R + R),             # side by side: each hidden
    ('aaaa', ['aa'], R),                       # overlapping occurrences of one secret
    ('nothing here', ['s3cret'], 'nothing here'),
    ('empty secrets', ['', None], 'empty secrets'),
    ('Cookie sid=abc123; x', [], 'Cookie sid=%s; x' % R),
    ('url?passcode=S3cr%26t%23pw&x=1 password=abc', [], 'url?passcode=%s&x=1 password=%s' % (R, R)),
    ('aside=1', [], 'aside=1'),
    (42, ['4'], R + '2'),
])
def test_redact(text, secrets, expected):
    assert redact(text, secrets) == expected


def test_none_stays_none():
    assert redact(None, ['x']) is None
    assert Redactor(['x']).redact(None) is None


METACHARACTERS = ['a.b', '(x|y)', '[0-9]+', 'p*q', '^start', 'end$', 'back\\slash', '{1,2}', '?+*', '\\d\\w']


@pytest.mark.parametrize('secret', METACHARACTERS)
def test_secrets_with_regex_metacharacters_are_taken_literally(secret):
    text = 'before %s after; look-alikes: aXb x y 123 pppq start end backslash 1 d w' % secret
    for secrets in ([secret], [secret] + ['filler-%d' % number for number in range(200)]):  # both paths
        cleaned = redact(text, secrets)
        assert cleaned == 'before %s after; look-alikes: aXb x y 123 pppq start end backslash 1 d w' % R


def test_limit_cuts_after_hiding_and_never_shows_a_piece_of_a_secret():
    redactor = Redactor(['secret-one', 'two'])
    assert redactor.redact('0123secret-one tail', limit=6) == '0123' + R + '...'  # starts before the cut: whole
    assert redactor.redact('012345secret-one', limit=6) == '012345...'            # starts after the cut: not shown
    assert redactor.redact('short two', limit=20) == 'short ' + R                 # not cut: no '...'
    assert redactor.redact('exactly 10', limit=10) == 'exactly 10'
    assert Redactor([]).redact('x' * 30, limit=5) == 'xxxxx...'
    assert redactor.redact('passcode=abcdefgh', limit=12) == 'passcode=%s...' % R


def test_a_long_text_with_many_secrets_is_cut_cheaply():
    """With a limit, only the start of a 128 KiB cell is searched (csv's largest field)."""
    redactor = Redactor(['pw-%06d' % number for number in range(5000)])
    cell = 'pw-000017' + 'x' * 131072
    assert redactor.redact(cell, limit=80) == R + 'x' * 71 + '...'


def random_text(rng, secrets):
    pieces = []
    for dummy in range(rng.randint(0, 12)):
        if secrets and rng.random() < 0.4:
            secret = rng.choice(secrets)
            pieces.append(rng.choice([secret, secret[:-1], redaction.quote(secret, safe='')]))
        else:
            pieces.append(''.join(rng.choice('ab%&+ #.') for dummy in range(rng.randint(0, 5))))
    return ''.join(pieces)


def test_the_many_secrets_path_gives_what_the_few_secrets_path_gives():
    rng = random.Random(20251125)
    for dummy in range(300):
        secrets = [''.join(rng.choice('ab&+ #.') for dummy in range(rng.randint(1, 6))) for dummy in range(rng.randint(1, 6))]
        text = random_text(rng, secrets)
        few = Redactor(secrets)
        many = Redactor(secrets + ['zz-filler-%d' % number for number in range(100)])  # beyond _FEW_FORMS: the other path
        assert len(few._forms) <= redaction._FEW_FORMS < len(many._forms)
        assert few.redact(text) == many.redact(text), (text, secrets)
        for limit in (0, 3, 10):
            assert few.redact(text, limit) == many.redact(text, limit), (text, secrets, limit)


def test_no_character_of_a_secret_occurrence_survives():
    """No form of any secret is left in the text, even where two occurrences overlap."""
    rng = random.Random(7)
    for dummy in range(300):
        secrets = [''.join(rng.choice(string.ascii_lowercase[:3]) for dummy in range(rng.randint(2, 5))) for dummy in range(3)]
        text = random_text(rng, secrets)
        cleaned = Redactor(secrets).redact(text)
        for secret in secrets:
            for form in redaction.secret_forms([secret]):
                assert form not in cleaned.replace(R, '|'), (text, secrets, cleaned)


def test_cost_does_not_grow_with_the_number_of_secrets():
    """A redactor of 100,000 secrets answers a message without walking them (it would take seconds per message).
    Counted, not timed: the set of forms is looked up per substring length, so a message costs the same work."""
    secrets = ['pw#%07d&k' % number for number in range(100000)]
    redactor = Redactor(secrets)
    lookups = []
    original = frozenset.intersection

    class CountingForms(frozenset):
        def intersection(self, *others):
            items = list(others[0])
            lookups.append(len(items))
            return original(self, items)

    redactor._forms = CountingForms(redactor._forms)
    message = "port '80x' is not a number from 1 to 65535 (pw#0000042&k)"
    assert redactor.redact(message) == "port '80x' is not a number from 1 to 65535 (%s)" % R
    assert sum(lookups) <= len(message) * len(redactor._lengths)
    assert len(redactor._lengths) <= 3  # 11 characters raw, 15 and 17 URL-encoded
