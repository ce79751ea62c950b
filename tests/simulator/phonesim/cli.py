"""The command line: ``python tests/simulator/phonesim --help`` (see README.md beside the package)."""

import argparse
import asyncio
import json
import os
import signal
import sys

from .fleet import Fleet
from .spec import AUTH_DIALECTS, FIRMWARES

# Nobody reads the CLI's in-memory event log (the --events file has every event): keep it small for big fleets.
CLI_EVENTS_KEPT = 1000


def _atomic_write(path, text):
    tmp = '%s.tmp%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove(path):
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


async def _serve_cli(fleet, args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _remove(args.ready_file)
    await fleet.astart()
    try:
        if args.csv:
            fleet.write_csv(args.csv)
        if args.ini:
            fleet.write_ini(args.ini)
        if args.ready_file:
            info = fleet.ready_info()
            info.update(csv=args.csv, ini=args.ini, events=args.events)
            _atomic_write(args.ready_file, json.dumps(info, indent=1) + '\n')
        print(fleet.summary(), flush=True)
        if args.duration:
            try:
                await asyncio.wait_for(stop.wait(), args.duration)
            except TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        await fleet.astop()
        _remove(args.ready_file)
    return 0


def _action_urls(items):
    """``--action-url EVENT=URL`` options as an action_urls mapping."""
    urls = {}
    for item in items or ():
        event, sep, url = item.partition('=')
        if not sep or not url:
            raise ValueError('--action-url %r: expected EVENT=URL, for example registered=http://127.0.0.1:9000/reg?mac=$mac'
                             % item)
        urls[event.strip()] = url.strip()
    return urls


def main(argv=None):
    parser = argparse.ArgumentParser(prog='phonesim', description='Simulated fleet of Grandstream phones (CTI HTTP API) on 127.0.0.0/8.')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--spec', help='fleet spec, YAML or JSON')
    source.add_argument('--phones', type=int, help='quick form: this many healthy phones named gs0001...')
    parser.add_argument('--network', help='loopback base address (default: spec, else 127.77.0.0)')
    parser.add_argument('--port', type=int, help='port of every phone, 0 = ephemeral (default: spec, else 8080)')
    parser.add_argument('--firmware', choices=FIRMWARES, help='firmware (API shapes) of every phone')
    parser.add_argument('--auth', choices=AUTH_DIALECTS, help='dialect of every phone (default: spec, else passcode)')
    parser.add_argument('--action-url', action='append', metavar='EVENT=URL',
                        help='push EVENT to this loopback URL from every phone (repeatable; $mac, $phone_ip, ... in the URL)')
    parser.add_argument('--csv', help='write the CSV inventory here')
    parser.add_argument('--ini', help='write an INI inventory here')
    parser.add_argument('--events', help='append events as JSON lines to this file')
    parser.add_argument('--ready-file', help='write JSON (pid, phones: name/host/port) here once listening; removed at exit')
    parser.add_argument('--duration', type=float, help='stop after this many seconds (default: run until SIGTERM/SIGINT)')
    args = parser.parse_args(argv)
    try:
        defaults = {}
        if args.firmware:
            defaults['firmware'] = args.firmware
        if args.auth:
            defaults['auth'] = args.auth
        if args.action_url:
            defaults['action_urls'] = _action_urls(args.action_url)
        if args.spec:
            fleet = Fleet.from_spec(args.spec, network=args.network, port=args.port, events_path=args.events,
                                    defaults=defaults, events_kept=CLI_EVENTS_KEPT)
        else:
            fleet = Fleet(network=args.network or '127.77.0.0', port=8080 if args.port is None else args.port,
                          defaults=defaults, events_path=args.events, events_kept=CLI_EVENTS_KEPT)
            fleet.add_many(count=args.phones)
        return asyncio.run(_serve_cli(fleet, args))
    except (OSError, ValueError, TypeError) as exc:
        print('phonesim: error: %s' % exc, file=sys.stderr)
        return 1
