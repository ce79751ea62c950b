# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's variables as a newcomer types them: names the role does not know, and numbers written as people write them.

Ansible validates the variables a role declares (meta/argument_specs.yml) and ignores every other one: a misspelt
``registration_audit_fail_undr=0`` is silently a no-op, and the run fails for a threshold the user thought was off.
:func:`unknown_variables` finds the names with the role's prefix that no entry point of the role declares, with the
closest declared name (difflib).  :func:`number_value` reads a number variable (``95``, ``"95"``, ``"95%"`` for a
percentage) or says in one sentence, naming the variable, what it must be.
"""

import difflib
import math
import re

_PERCENT = re.compile(r'^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$')
_NUMBER = re.compile(r'^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*$')


def declared_options(argument_specs):
    """Every option name of every entry point of a role's ``argument_specs`` (the file's top-level key's value)."""
    names = set()
    for entry_point in (argument_specs or {}).values():
        if isinstance(entry_point, dict):
            names.update((entry_point.get('options') or {}).keys())
    return names


def unknown_variables(variable_names, prefix, known):
    """``[(name, closest known name or None)]`` for each name that starts with ``prefix`` and is not ``known``."""
    known = sorted(set(known))
    # Compared without the prefix they all share, which would make any two names look alike.
    suffixes = dict((name[len(prefix):], name) for name in known if name.startswith(prefix))
    unknown = []
    for name in sorted(set(str(name) for name in variable_names)):
        if name.startswith(prefix) and name not in known:
            close = difflib.get_close_matches(name[len(prefix):], sorted(suffixes), n=1, cutoff=0.6)
            unknown.append((name, suffixes[close[0]] if close else None))
    return unknown


def unknown_sentence(name, closest, role):
    """The warning for one unknown name."""
    if closest:
        return ('%s is not a variable of the role %s, so it is ignored: did you mean %s?' % (name, role, closest))
    return ('%s is not a variable of the role %s, so it is ignored (ansible-doc -t role %s lists its variables).'
            % (name, role, role))


def number_value(name, value, minimum=None, maximum=None, percent=False):
    """The float ``value`` of the variable ``name``; ValueError with one sentence naming it when it is not a number in
    [minimum, maximum].  With ``percent``, ``"95%"`` is 95 (a percentage written with its sign)."""
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = str(value).strip()
        match = _PERCENT.match(text) if percent else None
        try:
            number = float(match.group(1) if match else text)
        except ValueError:
            number = None
    if number is not None and not math.isfinite(number):
        number = None
    if number is None or (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError('%s must be %s, not %s%s' % (
            name, _what(minimum, maximum), _shown(value), ' (a percentage: 95 and 95% are the same)' if percent else ''))
    return number


def _what(minimum, maximum):
    if minimum is not None and maximum is not None:
        text = 'a number from %s to %s' % (_number_text(minimum), _number_text(maximum))
    elif minimum is not None:
        text = 'a number of at least %s' % _number_text(minimum)
    elif maximum is not None:
        text = 'a number of at most %s' % _number_text(maximum)
    else:
        text = 'a number'
    return text


def _number_text(number):
    return ('%g' % number)


def _shown(value):
    """The value as the user wrote it, in plain Python types (never the templating engine's own classes)."""
    if value is None:
        return 'empty'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return '%g' % value
    if isinstance(value, str):
        text = str(value)
        if _NUMBER.match(text):
            return text.strip()  # -e name=150 arrives as text; it reads as the number it is
        return repr(text if len(text) <= 60 else text[:57] + '...')
    return 'a %s' % {'dict': 'mapping', 'list': 'list'}.get(type(value).__name__, 'value of another kind')
