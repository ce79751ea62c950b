# Copyright (c) phonefleet.grandstream contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small pieces of the sentences people read in task output and reports."""


def name_list(names, limit=10):
    """``a, b, c and 7 more``: the first ``limit`` names, so a message stays short for 10,000 phones."""
    names = list(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += ' and %d more' % (len(names) - limit)
    return shown


def join_words(items):
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return '%s and %s' % (', '.join(items[:-1]), items[-1])


def short_number(value):
    """``99.5``, ``100``, ``4.25``: a number (a percentage, seconds) with at most two decimals and no trailing zeros."""
    return ('%.2f' % value).rstrip('0').rstrip('.')


def duration_text(seconds):
    """``45s``, ``3m05s``, ``2h04m``."""
    seconds = int(round(max(0.0, float(seconds))))
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % (seconds // 60, seconds % 60)
    return '%dh%02dm' % (seconds // 3600, (seconds % 3600) // 60)


def plural(count, word, words=None):
    """``1 phone``, ``2 phones``."""
    return '%d %s' % (count, word if count == 1 else (words or word + 's'))
