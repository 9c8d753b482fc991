"""The project installs as a plain wheel: the shipped diagrams, forms, migrations and templates travel with the
code, and an installed copy run from another directory keeps its instance there, not beside the code."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [built] = out.glob("baozhuang-*.whl")
    return built


def test_the_wheel_carries_what_the_engine_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p.relative_to(REPO).as_posix() for p in (REPO / "processes").rglob("*")
               if p.suffix in (".bpmn", ".json") and "__pycache__" not in p.parts]
    migrations = [p.relative_to(REPO).as_posix() for p in (REPO / "engine/store/migrations").rglob("*.py")]
    templates = [p.relative_to(REPO).as_posix() for p in (REPO / "webui/templates").rglob("*.html")]
    contracts = [p.relative_to(REPO).as_posix() for p in (REPO / "handlers/contracts/templates").glob("*.j2")]
    for group in (shipped, migrations, templates, contracts):
        assert group and not [n for n in group if n not in names]
    assert "engine/store/migrations/script.py.mako" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "node_modules/"))]


def test_an_installed_copy_initialises_its_instance_in_the_working_directory(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "office"
    elsewhere.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BAOZHUANG_")}, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", "import engine, cli, sys; print(engine.__file__); "
                          "sys.argv = ['baozhuang', 'init']; cli.main()"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr + run.stdout
    assert run.stdout.splitlines()[0].startswith(str(site))  # the installed copy ran, not the checkout
    assert "已部署 hv 第 1 版" in run.stdout and "已部署 pv 第 1 版" in run.stdout
    assert (elsewhere / "instance" / "baozhuang.db").is_file()
    assert not (site / "instance").exists()
