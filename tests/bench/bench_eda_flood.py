"""Events per second the EDA source (extensions/eda/plugins/event_source/action_url.py) takes from phones while
others misbehave.

The source runs in a child process, as ansible-rulebook runs it (``main(queue, args)`` on an asyncio loop), on
127.88.0.1; its queue only counts. Phones (threads of this process, each on its own 127.88.1.x address) push
Action URL GETs one after the other for a few seconds; meanwhile, in another child process, either nothing, or one
stranger (127.99.0.7, outside allowed_networks) opens 300 connections a second, or slow senders inside
allowed_networks open connections and never finish their request (slowloris). Printed per case: the phones' pushes
answered 200 per second, the share of their pushes that failed (503 or anything else), and the source's log lines.
Nothing is asserted. Phones do not retry: a failed push is a lost event.

    .venv/bin/python tests/bench/bench_eda_flood.py [--seconds 10] [--phones 20] [--flood-rate 300]
"""

import argparse
import asyncio
import json
import logging
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SOURCE_FILE = Path(__file__).resolve().parents[2] / 'extensions' / 'eda' / 'plugins' / 'event_source' / 'action_url.py'
SERVER = '127.88.0.1'
STRANGER = '127.99.0.7'
ALLOWED = ['127.88.0.0/16']


def serve(port, seconds):
    """Child: the source for ``seconds``, then print the number of events and of log lines as JSON."""
    source = runpy.run_path(str(SOURCE_FILE))
    lines = []

    class Count(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:  # refusals; not the INFO line of each event
                lines.append(record.levelno)

    logger = logging.getLogger('phonefleet.grandstream.action_url')
    logger.addHandler(Count())
    logger.setLevel(logging.INFO)
    logger.propagate = False

    class CountingQueue:  # pylint: disable=too-few-public-methods
        events = 0

        async def put(self, _event):
            CountingQueue.events += 1

    async def run():
        task = asyncio.ensure_future(source['main'](CountingQueue(), {
            'host': SERVER, 'port': port, 'allowed_networks': ALLOWED, 'rate_limit': 10 ** 7, 'rate_burst': 10 ** 6}))
        await asyncio.sleep(seconds)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    print(json.dumps({'events': CountingQueue.events, 'log_lines': len(lines)}), flush=True)


def connect(source_address, port, timeout=10.0):
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(timeout)
    client.bind((source_address, 0))
    client.connect((SERVER, port))
    return client


def push(source_address, port, number):
    """One Action URL GET; the status, or 0 when the connection failed."""
    try:
        with connect(source_address, port) as client:
            client.sendall(('GET /grandstream/registered?n=%d HTTP/1.1\r\nHost: eda\r\n\r\n' % number).encode())
            answer = b''
            while len(answer) < 12:
                chunk = client.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return int(answer[9:12]) if answer.startswith(b'HTTP/1.1 ') else 0
    except (OSError, ValueError):
        return 0


async def hold(source_address, port, data, seconds, until_closed=True):
    """A connection that sends ``data`` and then sends nothing more for ``seconds`` (or until the source closes it,
    with until_closed), reading nothing else."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(SERVER, port, local_addr=(source_address, 0)), 5)
    except (OSError, asyncio.TimeoutError):
        return
    try:
        writer.write(data)
        if until_closed:
            await asyncio.wait_for(reader.read(), seconds)
        else:
            await asyncio.sleep(seconds)
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.transport.abort()


async def misbehave_async(kind, port, seconds, rate):
    deadline = time.monotonic() + seconds
    tasks = set()
    if kind == 'stranger':
        # one address outside allowed_networks, ``rate`` connections a second, each kept open for 3 s whatever the
        # source answers
        interval, next_at = 1.0 / rate, time.monotonic()
        while time.monotonic() < deadline:
            task = asyncio.ensure_future(hold(STRANGER, port, b'GET /grandstream/x?', 3.0, until_closed=False))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    elif kind == 'slowloris':
        # 20 senders inside allowed_networks, 10 new connections a second each, none finishing its request line
        while time.monotonic() < deadline:
            for index in range(1, 21):
                task = asyncio.ensure_future(hold('127.88.2.%d' % index, port, b'GET /grandstream/x', 30.0))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.1)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def misbehave(kind, port, seconds, rate):
    """Child: the stranger's flood or the slow senders, for ``seconds``."""
    asyncio.run(misbehave_async(kind, port, seconds, rate))


def free_port():
    with socket.socket() as probe:
        probe.bind((SERVER, 0))
        return probe.getsockname()[1]


def wait_listening(port):
    for _attempt in range(200):
        try:
            connect('127.88.0.254', port).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit('the source did not listen')


def run_case(kind, seconds, phones, rate):
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, '--serve', str(port), str(seconds + 3)], stdout=subprocess.PIPE, text=True)
    wait_listening(port)
    other = None
    if kind != 'alone':
        other = subprocess.Popen([sys.executable, __file__, '--misbehave', kind, str(port), str(seconds), str(rate)])
        time.sleep(0.5)  # the misbehaviour is under way when the phones start
    statuses = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def phone(index):
        number = 0
        while time.monotonic() < deadline:
            status = push('127.88.1.%d' % index, port, number)
            number += 1
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=phone, args=(index,)) for index in range(1, phones + 1)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if other:
        other.wait()
    counts = json.loads(server.communicate()[0])
    total = sum(statuses.values())
    failed = total - statuses.get(200, 0)
    print('  %-34s %7.0f events/s from the phones, %5.1f%% of their pushes failed %s, %d warning lines'
          % ({'alone': 'phones alone', 'stranger': 'one stranger, %d connections/s' % rate,
              'slowloris': '20 slowloris senders in the networks'}[kind],
             statuses.get(200, 0) / elapsed, 100.0 * failed / max(total, 1),
             dict(sorted((status, count) for status, count in statuses.items() if status != 200)) or '', counts['log_lines']))


def main():
    if sys.argv[1:2] == ['--serve']:
        serve(int(sys.argv[2]), float(sys.argv[3]))
        return
    if sys.argv[1:2] == ['--misbehave']:
        misbehave(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=10)
    parser.add_argument('--phones', type=int, default=20)
    parser.add_argument('--flood-rate', type=float, default=300)
    args = parser.parse_args()
    print('EDA source, %d phones pushing back to back for %g s (failed: status or 0 for no answer):' % (args.phones, args.seconds))
    for kind in ('alone', 'stranger', 'slowloris'):
        run_case(kind, args.seconds, args.phones, args.flood_rate)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONDONTWRITEBYTECODE', '1')
    main()
