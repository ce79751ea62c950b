"""pytest fixtures for the Grandstream phone fleet simulator.

Use from a test module or conftest::

    sys.path.insert(0, '<repo>/tests/simulator')
    from sim_fixtures import sim_fleet

    def test_x(sim_fleet):
        fleet = sim_fleet(count=3, firmware='new')           # started; stopped at teardown
        fleet = sim_fleet(spec={'phones': [{'name': 'a'}]})  # a spec mapping (or a YAML/JSON path)
"""

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from phonesim import Fleet  # noqa: E402  pylint: disable=wrong-import-position


def random_network():
    """A random 127.N.0.0 base (N in 100..250), so that parallel test runs rarely share addresses."""
    return '127.%d.0.0' % random.randint(100, 250)


@pytest.fixture
def sim_fleet():
    """Factory fixture: ``sim_fleet(count=None, spec=None, network=None, port=0, events_path=None, name='gs{n:04d}',
    start=True, **defaults)`` returns a Fleet (started unless start=False) and stops every fleet at teardown.

    With ``spec`` the spec's network and port are replaced by a random 127.N.0.0 network and ``port`` (0:
    ephemeral) unless given here; ``defaults`` are merged over the spec's defaults and ``count`` adds that many
    more phones. Without ``spec``, ``count`` (default 1) phones named ``name`` are created with ``defaults``.
    """
    fleets = []

    def factory(count=None, spec=None, network=None, port=0, events_path=None, name='gs{n:04d}', start=True, **defaults):
        network = network or random_network()
        if spec is not None:
            fleet = Fleet.from_spec(spec, network=network, port=port, events_path=events_path, defaults=defaults)
            if count:
                fleet.add_many(count=count, name=name)
        else:
            fleet = Fleet(network=network, port=port, defaults=defaults, events_path=events_path)
            fleet.add_many(count=1 if count is None else count, name=name)
        fleets.append(fleet)
        if start:
            fleet.start()
        return fleet

    yield factory
    for fleet in reversed(fleets):
        fleet.stop()
