"""Fixtures for the single profile's YARN (`make test-yarn`: a ResourceManager and one NodeManager on the single
stack's HDFS, started for the run). The tests fail (never skip) when it is down."""

from __future__ import annotations

import pytest

from devstack.engine import Stack

pytestmark = pytest.mark.yarn


@pytest.fixture(scope="session")
def single_yarn(stack):
    """The single profile's YARN, up and whole; its Stack."""
    single = Stack("single")
    try:
        healthy = single.profile.whole["yarn"].probe()
    except OSError as exc:
        healthy = f"{exc}"
    if healthy is not True:
        pytest.fail(f"the single profile's YARN is not up ({healthy}) - run the tests through 'make test-yarn'")
    return single
