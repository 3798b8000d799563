# SPDX-License-Identifier: MIT
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mamori_testlib import Agent, UsbBed  # noqa: E402


@pytest.fixture
def bed():
    return UsbBed()


@pytest.fixture
def make_agent(bed):
    agents = []

    def make(**kw):
        a = Agent(bed, **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.cleanup()
