"""A prepared engine data directory (SQLite, demo practice, French prompts), copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.engine_run import clean_env, prepare_demo


@pytest.fixture(scope="package")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("faults-template") / "var"
    prepare_demo(clean_env(data_dir), data_dir)
    return data_dir


@pytest.fixture
def demo_data(demo_template: Path, tmp_path: Path) -> Callable[..., Path]:
    """A fresh copy of the prepared data directory (same keyring, prompts and flow)."""

    def copy(name: str = "var") -> Path:
        target = tmp_path / name
        shutil.copytree(demo_template, target)
        return target

    return copy
