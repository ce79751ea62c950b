"""The README's shell blocks as the tests run them: found by heading and fence, so editing the README changes the tests.

A user pastes a block into bash or zsh; a test writes it to a script with ``set -euo pipefail`` in front and runs it
with bash in a directory of its own. What a test may substitute is what a user must substitute (their phones, the
passcode they type) or what a test cannot reach (GitHub, PyPI, Galaxy); every substitution is made here, by name,
and fails when the README no longer has the line it replaces.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLONE_URL = yaml.safe_load((REPO / 'galaxy.yml').read_text())['repository'] + '.git'
README = REPO / 'README.md'
QUICK_START = 'Quick start with your phones'

FENCE = re.compile(r'^(\s*)```(\w*)\s*$')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*$')
HEREDOC = re.compile(r"^cat > (?P<path>\S+) <<'(?P<tag>\w+)'$")


def shell_blocks(heading=None, text=None):
    """The ```sh blocks of the README section ``heading`` (its subsections included), as lists of lines.
    ``heading=None``: the blocks before the first ``##`` heading (the README's first block)."""
    text = README.read_text(encoding='utf-8') if text is None else text
    blocks, current, fence_indent, inside = [], None, None, heading is None
    level = 1
    for line in text.splitlines():
        fence = FENCE.match(line)
        if current is not None:
            if fence and fence.group(1) == fence_indent and not fence.group(2):
                blocks.append(current)
                current = None
            else:
                current.append(line[len(fence_indent):])
            continue
        if fence:
            if inside and fence.group(2) == 'sh':
                current, fence_indent = [], fence.group(1)
            continue
        match = HEADING.match(line)
        if match:
            depth = len(match.group(1))
            if heading is None:
                inside = inside and depth < 2
            elif match.group(2) == heading:
                inside, level = True, depth
            elif depth <= level:
                inside = False
    assert current is None, 'an unclosed ```sh fence in README.md'
    return blocks


def quick_start_blocks():
    """The quick start's blocks by their job: ``core`` (ansible-core + Galaxy), ``tarball`` (build and install from a
    clone), ``phones`` (the user's directory). Every ```sh block of the section must be one of them."""
    found = {}
    for block in shell_blocks(QUICK_START):
        text = '\n'.join(block)
        kind = ('tarball' if 'ansible-galaxy collection build' in text else 'phones' if 'ansible-playbook' in text
                else 'core' if 'pip install' in text else None)
        assert kind, 'a ```sh block of "%s" that no test knows (teach tests/integration/readme_blocks.py):\n%s' % (
            QUICK_START, text)
        assert kind not in found, 'two %s blocks in "%s"' % (kind, QUICK_START)
        found[kind] = block
    missing = {'core', 'tarball', 'phones'} - set(found)
    assert not missing, '"%s" has no %s block' % (QUICK_START, ', '.join(sorted(missing)))
    return found


def only_line(block, pattern):
    """The one line of ``block`` that matches the regular expression ``pattern`` (re.search)."""
    lines = [line for line in block if re.search(pattern, line)]
    assert len(lines) == 1, 'expected one line matching %r in the README block, found %d:\n%s' % (
        pattern, len(lines), '\n'.join(block))
    return lines[0]


def replace_line(block, pattern, replacement):
    """``block`` with its one line matching ``pattern`` replaced by ``replacement`` (a list of lines)."""
    line = only_line(block, pattern)
    index = block.index(line)
    return block[:index] + list(replacement) + block[index + 1:]


def heredocs(block):
    """{path: (start, end)} of every ``cat > PATH <<'TAG'`` heredoc: the indexes of the cat line and the TAG line."""
    found, index = {}, 0
    while index < len(block):
        match = HEREDOC.match(block[index])
        if match:
            end = block.index(match.group('tag'), index + 1)
            found[match.group('path')] = (index, end)
            index = end
        index += 1
    return found


def csv_heredoc(block):
    """The path and the rows (lines) of the block's one CSV heredoc: the user's phones."""
    paths = [path for path in heredocs(block) if path.endswith('.csv')]
    assert len(paths) == 1, 'expected one CSV heredoc (cat > x.csv <<\'CSV\') in the block, found %s' % paths
    start, end = heredocs(block)[paths[0]]
    return paths[0], block[start + 1:end]


def with_csv(block, csv_text):
    """``block`` with the rows of its CSV heredoc replaced by ``csv_text``: the user pastes their phones there."""
    path, dummy = csv_heredoc(block)
    start, end = heredocs(block)[path]
    return block[:start + 1] + csv_text.splitlines() + block[end:]


def shell_comments(block):
    """Lines that hold a shell comment outside heredocs. Plain zsh (macOS) runs ``# ...`` pasted at its prompt as
    arguments unless interactivecomments is set, so the blocks a user pastes explain themselves in the prose."""
    inside = set()
    for start, end in heredocs(block).values():
        inside.update(range(start + 1, end))
    return [line for index, line in enumerate(block) if index not in inside and re.search(r'(^|\s)#', line)]


def copy_tree(dest):
    """A copy of this working tree as a clone would hold it (git's tracked and untracked-but-not-ignored files, so
    uncommitted work is tested too), modification times kept. Stands in for ``git clone``: tests reach no network."""
    listing = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                             capture_output=True, check=True).stdout.decode('utf-8')
    dest = Path(dest)
    for name in filter(None, listing.split('\0')):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in git
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def run_script(lines, cwd, env, script_dir, stdin='', timeout=300):
    """Run ``lines`` with bash (``set -euo pipefail``, each command traced on stderr) in ``cwd``. The script lives in
    ``script_dir``, so that ``cwd`` holds only what the lines create. Returns CompletedProcess with ``.output``."""
    script_dir = Path(script_dir)
    script_dir.mkdir(parents=True, exist_ok=True)
    script = script_dir / ('block-%d.sh' % len(list(script_dir.glob('block-*.sh'))))
    script.write_text('set -euo pipefail -x\n' + '\n'.join(lines) + '\n', encoding='utf-8')
    proc = subprocess.run(['bash', str(script)], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)
    proc.output = 'script %s (in %s), rc %s\nstdout:\n%s\nstderr:\n%s' % (
        script, cwd, proc.returncode, proc.stdout[-10000:], proc.stderr[-10000:])
    return proc


def files_under(root):
    """Every file under ``root``, as paths relative to it."""
    root = Path(root)
    return sorted(str(Path(dirpath, name).relative_to(root)) for dirpath, dummy, names in os.walk(root)
                  for name in names)


def clone_line(block):
    """The block's ``git clone URL`` line (optionally ``&& cd DIR``): (the line, the directory the clone creates)."""
    line = only_line(block, r'^git clone ')
    match = re.match(r'^git clone (\S+)( && cd (\S+))?$', line)
    assert match, 'a clone line the test does not understand: %r' % line
    assert match.group(1) == CLONE_URL, 'the README clones %s, galaxy.yml says %s' % (match.group(1), CLONE_URL)
    directory = Path(match.group(1)).stem
    assert match.group(3) in (None, directory), '`git clone %s` creates %s/, not %s/' % (
        CLONE_URL, directory, match.group(3))
    return line, directory
