"""The reports page's charting library is served from our static files: the package must carry them."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ventanilla"


def test_package_data_carries_every_static_file_and_the_vendored_library() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ventanilla"]
    packaged = {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}
    static = {path for path in (PACKAGE / "web" / "static").rglob("*") if path.is_file()}
    assert static - packaged == set()
    uplot = PACKAGE / "web" / "static" / "vendor" / "uplot"
    assert {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "VERSION"} <= {path.name for path in uplot.iterdir()}
    assert "1.6.32" in (uplot / "VERSION").read_text()
