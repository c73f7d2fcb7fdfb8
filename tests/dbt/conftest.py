"""Fixtures for the dbt tests (helpers live in dbt_lakehouse.py)."""

from __future__ import annotations

import pytest

from tests.dbt.dbt_lakehouse import Lakehouse, make_lakehouse


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """An empty raw catalog (all contract tables) private to the test module."""
    return make_lakehouse(tmp_path_factory.mktemp("lakehouse"))
