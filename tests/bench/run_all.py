"""Run every benchmark (tests/bench/bench_*.py) in turn; each prints its own figures."""

import subprocess
import sys
from pathlib import Path


def main():
    failed = []
    for script in sorted(Path(__file__).resolve().parent.glob('bench_*.py')):
        print('== %s' % script.name, flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.name)
    if failed:
        sys.exit('benchmarks that did not finish: %s' % ', '.join(failed))


if __name__ == '__main__':
    main()
