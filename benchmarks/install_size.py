"""Installed size of Bascule's core against `bascule[all]`: what "install what you use" saves.

Builds the wheel, installs it into fresh venvs outside the repository (PyPI resolves the dependencies) and
prints each venv's site-packages size in MB. Run: `python benchmarks/install_size.py` (several minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("", "aws", "aws,gcp", "all")
# No PYTHONPATH: a checkout on it (and its egg-info) would count as installed.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def site_packages_mb(venv: Path) -> float:
    (site,) = venv.glob("lib/python*/site-packages")
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)], check=True
        )
        (wheel,) = work.glob("bascule-*.whl")
        for extras in EXTRAS:
            venv = work / f"venv-{extras or 'core'}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=CLEAN_ENV)
            spec = f"{wheel}[{extras}]" if extras else str(wheel)
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", spec], check=True, env=CLEAN_ENV
            )
            print(f"bascule{f'[{extras}]' if extras else ' (core)'}: {site_packages_mb(venv):.0f} MB", flush=True)


if __name__ == "__main__":
    main()
