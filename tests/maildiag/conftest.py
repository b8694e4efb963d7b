"""Fixtures for the sink's access and masking tests: the lab's keys and zone, made once a
session, and the lab's sink on port 0 (not judging) with a database of its own per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from maildiag.lab.kit import LabKey, prepare_lab
from tests.maildiag.sink_lab import Lab, lab_sink

LabFiles = tuple[Path, list[LabKey], Any]


@pytest.fixture(scope="session")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    data = tmp_path_factory.mktemp("lab-files")
    keys, zone = prepare_lab(data)
    return data, keys, zone


@pytest.fixture
async def plain_lab(lab_files: LabFiles, tmp_path: Path) -> AsyncIterator[Lab]:
    data, keys, zone = lab_files
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as running:
        yield running
