"""The README, pasted by a newcomer into empty directories: its blocks must work as written.

The blocks are read from README.md by heading and fence (tests/integration/readme_blocks.py), so an edit of the README
changes what runs here. Each runs with bash (``set -euo pipefail``) in a directory of its own. Substituted, and only
this, because a user substitutes it too or because a test reaches no network:

- ``git clone https://github.com/...``: a copy of this working tree (tracked and untracked-but-not-ignored files, as a
  clone plus uncommitted work) in the directory the clone would create. The URL is checked against galaxy.yml.
- the CSV heredoc's rows: the user's phones, here a simulated fleet (two sites, so ``site_hq`` has phones to reboot
  and ``site_lab`` phones that must not be touched);
- the keyboard: the passcode the ``read`` line waits for arrives on stdin;
- ansible-core: the dev venv's, first on PATH as an activated venv would be (the ``pip install`` / Galaxy block is
  checked, not run: PyPI and Galaxy are not reachable from a test).

The environment is a user's (test_packaging.isolated_env): ansible sees only the collections path the README's
``ansible-galaxy collection install`` filled, and no ANSIBLE_* setting changes what a run does. In particular nothing
here sets ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: the README's ansible.cfg has to make a bad CSV row an error.
"""

import json
import re

import yaml

from readme_blocks import (CLONE_URL, REPO, clone_line, copy_tree, csv_heredoc, files_under, only_line,
                           quick_start_blocks, replace_line, run_script, shell_blocks, shell_comments, with_csv)
from test_packaging import isolated_env

GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text())
# Typed at the prompt: a space in front, a dollar sign and a backslash, which `IFS= read -r` must keep as they are.
PASSCODE = ' Pa$$ w\\0rd!'
SITES = [{'count': 3, 'name': 'hq-{n}', 'site': 'hq'}, {'count': 2, 'name': 'lab-{n}', 'site': 'lab'}]
CSV_COLUMNS = ['name', 'host', 'port', 'scheme', 'site', 'model']  # no passcode column: the typed one is used


def user_env(tmp_path):
    """test_packaging.isolated_env for a collections path of this test, without the one setting it has for the test's
    sake: a user's ansible finds its Python itself."""
    env = isolated_env(tmp_path, tmp_path / 'collections')
    env.pop('ANSIBLE_PYTHON_INTERPRETER')
    return env


def test_install_lines_name_this_collection(tmp_path):
    blocks = quick_start_blocks()
    core = blocks['core']
    requires_ansible = yaml.safe_load((REPO / 'meta' / 'runtime.yml').read_text())['requires_ansible']
    minimum = re.match(r'^>=(\d+\.\d+)\.0$', requires_ansible)
    assert minimum, 'meta/runtime.yml requires_ansible is not >=X.Y.0'
    pip = only_line(core, r'pip install')
    assert "'ansible-core>=%s'" % minimum.group(1) in pip, 'the README installs %r, meta/runtime.yml requires %s' % (
        pip, minimum.group(0))
    only_line(core, r'^ansible-galaxy collection install %s\.%s$' % (GALAXY['namespace'], GALAXY['name']))
    readme = (REPO / 'README.md').read_text()
    assert '`ansible-galaxy collection install git+%s`' % CLONE_URL in readme
    assert 'ansible-core %s or later' % minimum.group(1) in readme
    clone_line(blocks['tarball'])
    clone_line(shell_blocks()[0])
    # Plain zsh (the macOS shell) runs a pasted "# comment" as arguments: the blocks explain themselves in the prose.
    for name, block in list(blocks.items()) + [('first', shell_blocks()[0])]:
        assert not shell_comments(block), 'shell comments in the README block %s: %s' % (name, shell_comments(block))


def test_quick_start_in_empty_directories(sim_fleet, tmp_path):
    blocks = quick_start_blocks()
    env = user_env(tmp_path)
    scripts = tmp_path / 'scripts'

    # The collection, the tarball way.
    downloads = tmp_path / 'downloads'
    line, directory = clone_line(blocks['tarball'])
    copy_tree(downloads / directory)
    proc = run_script(replace_line(blocks['tarball'], '^git clone ', []), downloads, env, scripts)
    assert proc.returncode == 0, proc.output
    installed = tmp_path / 'collections' / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    assert json.loads((installed / 'MANIFEST.json').read_text())['collection_info']['version'] == GALAXY['version']

    # The user's directory.
    fleet = sim_fleet(spec={'phones': SITES}, passcode=PASSCODE)
    fleet.write_csv(tmp_path / 'fleet.csv', columns=CSV_COLUMNS)
    work = tmp_path / 'work'
    work.mkdir()
    block = with_csv(blocks['phones'], (tmp_path / 'fleet.csv').read_text())
    proc = run_script(block, work, env, scripts, stdin=PASSCODE + '\n')
    assert proc.returncode == 0, proc.output
    hq = sorted(phone.name for phone in fleet.phones if phone.spec.site == 'hq')
    names = sorted(phone.name for phone in fleet.phones)

    # ansible-inventory --graph: the keyed group the reboot targets holds the hq phones.
    graph = proc.stdout.split('@all:', 1)[1].split('PLAY [', 1)[0]
    site_hq = re.search(r'@site_hq:\n((?:\s+\|\s+\|--[^@\n]+\n)+)', graph)
    assert site_hq, proc.output
    assert sorted(re.findall(r'\|--(\S+)', site_hq.group(1))) == hq

    audit = json.loads((work / 'reports' / 'registration_audit.json').read_text())
    assert (audit['summary']['total'], audit['summary']['registered']) == (5, 5), audit['summary']
    assert sorted(phone['name'] for phone in audit['phones']) == names
    for suffix in ('csv', 'junit.xml', 'html', 'prom'):
        assert (work / 'reports' / ('registration_audit.' + suffix)).is_file()

    # The reboot of site_hq ran over the hq phones, each rebooted once (--check sent nothing), and no other phone.
    reboot = json.loads((work / 'reports' / 'rolling_reboot.json').read_text())
    assert {phone['name']: phone['outcome'] for phone in reboot['phones']} == dict.fromkeys(hq, 'rebooted'), reboot
    assert reboot['summary']['rebooted'] == 3
    assert sorted(event['phone'] for event in fleet.events(event='reboot')) == hq
    assert 'Check mode: nothing is sent' in proc.stdout

    # The typed passcode is nowhere: not in the output, not in a file of the directory.
    assert PASSCODE.strip() not in proc.stdout + proc.stderr
    for path in files_under(work):
        assert PASSCODE.strip() not in (work / path).read_text(errors='replace'), 'the passcode is in %s' % path

    # A bad row: every ansible line of the block fails before any play, naming the file and the line, and only the
    # collection's plugin speaks (enable_plugins): no attempt of auto, yaml or ini to read the file.
    csv_path, dummy = csv_heredoc(blocks['phones'])
    with open(work / csv_path, 'a', encoding='utf-8') as handle:
        handle.write('hq-bad,127.0.0.1,70000,http,hq,GRP2614\n')
    line_number = len((work / csv_path).read_text().splitlines())
    expected = "%s:%d: port '70000' is not a number from 1 to 65535" % (csv_path, line_number)
    report = (work / 'reports' / 'registration_audit.json').read_bytes()
    ansible_lines = [line for line in blocks['phones'] if re.match(r'ansible-(inventory|playbook) ', line)]
    assert len(ansible_lines) == 4, ansible_lines
    for line in ansible_lines:
        proc = run_script([line], work, env, scripts)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, proc.output
        assert expected in output, proc.output
        assert 'Completely failed to parse inventory source' in output and 'PLAY [' not in output, proc.output
        assert not re.search(r"with '(auto|yaml|ini|toml|host_list|script)' plugin", output), proc.output
    assert (work / 'reports' / 'registration_audit.json').read_bytes() == report

    # And it is the ansible.cfg that does it: without it, Ansible only warns and lists no phone.
    (work / 'ansible.cfg').rename(tmp_path / 'ansible.cfg.aside')
    proc = run_script([ansible_lines[0]], work, env, scripts)
    assert proc.returncode == 0 and expected in proc.stderr, proc.output


def test_first_block_clones_and_runs_make_demo(readme_first_block):
    """The README's first block works pasted into an empty directory (see the fixture readme_first_block)."""
    proc, clone = readme_first_block
    assert proc.returncode == 0, proc.output
    output = proc.stdout + proc.stderr
    assert 'Audit: 46 of 50 phones registered' in output, proc.output
    assert re.search(r'Rolling reboot: 47 rebooted', output), proc.output
    html = clone / 'demo-output' / 'audit' / 'registration_audit.html'
    assert str(html) in output and html.is_file(), proc.output
    reboot = json.loads((clone / 'demo-output' / 'reboot' / 'rolling_reboot.json').read_text())
    assert reboot['summary']['rebooted'] == 47
    assert 'pip install' not in output, 'make rebuilt the venv: %s' % proc.output
    for check in ('ansible-test sanity', 'ansible-test units', 'pytest tests/integration', 'ansible-lint',
                  'antsibull-docs lint-collection-docs'):
        assert check in proc.stdout, 'make -n test does not run %s:\n%s' % (check, proc.output)
