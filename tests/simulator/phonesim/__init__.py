"""Grandstream CTI phone fleet simulator.

One process, one asyncio event loop, N simulated phones. Each phone listens on its own loopback address
(127.0.0.0/8 only: nothing else is ever bound or contacted) and answers the CTI HTTP API described in
``cti-api.md``: ``/cgi-bin/api-<function>?passcode=...``.

Python API (pytest)::

    sys.path.insert(0, 'tests/simulator')
    from phonesim import Fleet, PhoneSpec
    with Fleet(network='127.77.0.0', port=0) as fleet:     # port 0: one ephemeral port per phone
        ...

``Fleet.start()`` runs the event loop in a background thread; the CLI (``python tests/simulator/phonesim --help``)
runs it in the main thread until SIGTERM/SIGINT. Every duration is in seconds (float). See README.md beside the
package.

Modules: ``spec`` (PhoneSpec, names), ``events`` (EventLog), ``http_io`` (HTTP framing), ``auth`` (credentials),
``telephony`` (accounts, lines, calls, CTI functions), ``profiles`` (what the recordings in tests/fixtures say about a
model and firmware), ``settings`` (P-values and their endpoints), ``firmware`` (images, the check at boot),
``firmware_server`` (a loopback HTTP server for images; not imported here, so that ``python -m
phonesim.firmware_server`` runs it cleanly), ``phone`` (power, reboot, serving), ``fleet`` (Fleet),
``inventory`` (CSV/INI), ``cli`` (command line).
"""

from .cli import main
from .events import EventLog
from .firmware import make_firmware_image, write_firmware_image
from .fleet import Fleet
from .phone import Phone
from .spec import FAULTS, PhoneSpec

__all__ = ['EventLog', 'FAULTS', 'Fleet', 'Phone', 'PhoneSpec', 'main', 'make_firmware_image',
           'write_firmware_image']
