"""The policy pack folder `bascule policy-pack init` writes, installable from that folder alone.

Bascule is not on a public index yet, so `bascule==<version>` in a pack's requirements.txt cannot be installed by
Pulumi. `policy-pack init` vendors a wheel instead and names it by relative path. Two cases:
- installed from a wheel: the wheel is rebuilt from the installed files its RECORD lists (no build tools, no
  network), with a RECORD of fresh hashes; scripts are left out, their entry points stay in the metadata;
- an editable install or a source checkout: `pip wheel --no-deps` builds it from the source tree.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

import bascule

DIST = "bascule"
WHEEL_TAG = "py3-none-any"
SKIPPED = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
"""Written by the installer about this installation, not part of the wheel (PEP 376, PEP 610)."""


PACK_FILES = ("PulumiPolicy.yaml", "__main__.py", "policy-config.example.json")
"""Copied as the installed package ships them: one source for the pack in this repository and elsewhere."""
WHEELS = "wheels"
"""The pack's subfolder holding the vendored wheel."""
IGNORED = "venv/"
"""The virtualenv Pulumi creates in the pack folder (PulumiPolicy.yaml: `virtualenv: venv`): the folder is committed,
the virtualenv must not be."""


class VendorError(Exception):
    pass


def _installed_wheel_files() -> tuple[importlib.metadata.Distribution, list[Path]] | None:
    """The distribution and its files when the imported `bascule` is the one a wheel installed, else None."""
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.read_text("WHEEL") is None or dist.read_text("RECORD") is None:
        return None  # not installed from a wheel: e.g. the egg-info a source build leaves in a checkout
    files = [f for f in dist.files or [] if not str(f).startswith("..")]
    here = Path(bascule.__file__).resolve()
    if not any(Path(str(dist.locate_file(f))).resolve() == here for f in files):
        return None  # an editable install, or another copy on sys.path: the running code is not those files
    return dist, [Path(str(f)) for f in files]


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _rebuild(dist: importlib.metadata.Distribution, files: list[Path], folder: Path) -> Path:
    wheel = folder / f"{DIST}-{dist.version}-{WHEEL_TAG}.whl"
    record_name = f"{DIST}-{dist.version}.dist-info/RECORD"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(str(f) for f in files):
            path = Path(name)
            if (
                "__pycache__" in path.parts
                or path.suffix == ".pyc"
                or (path.parent.name.endswith(".dist-info") and path.name in SKIPPED)
            ):
                continue
            data = Path(str(dist.locate_file(name))).read_bytes()
            archive.writestr(name, data)
            rows.append(f"{name},{_digest(data)},{len(data)}")
        rows.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(rows) + "\n")
    return wheel


def _source_root() -> Path:
    root = Path(bascule.__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if not project.is_file() or 'name = "bascule"' not in project.read_text(encoding="utf-8"):
        raise VendorError(f"{root}: Bascule is neither installed from a wheel nor run from its source tree")
    return root


def build_wheel(folder: Path) -> Path:
    """A wheel of the running Bascule in `folder` (created); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    installed = _installed_wheel_files()
    if installed is not None:
        return _rebuild(*installed, folder)
    root = _source_root()
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", scratch, str(root)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise VendorError(f"pip wheel {root} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        (built,) = Path(scratch).glob(f"{DIST}-*.whl")
        target = folder / built.name
        target.write_bytes(built.read_bytes())
    return target


def existing(directory: Path) -> list[str]:
    """Pack files already in `directory`: `init` overwrites them only when asked."""
    return [name for name in (*PACK_FILES, "requirements.txt", WHEELS) if (directory / name).exists()]


def write_pack(directory: Path) -> tuple[list[Path], Path]:
    """The pack files, a wheel of this Bascule in `wheels/`, and requirements.txt naming it by relative path (pip
    reads it from the folder it runs in: Pulumi installs a pack's requirements in the pack folder), and a `.gitignore`
    for the pack's virtualenv unless one is there. Returns what the folder holds of the pack (the same list every
    time, the `.gitignore` whether written now or the team's) and the wheel."""
    directory.mkdir(parents=True, exist_ok=True)
    source = resources.files("bascule.policies")
    written = []
    for name in PACK_FILES:
        (directory / name).write_bytes(source.joinpath(name).read_bytes())
        written.append(directory / name)
    for old in (directory / WHEELS).glob(f"{DIST}-*.whl"):
        old.unlink()  # --force: one wheel, the current one
    wheel = build_wheel(directory / WHEELS)
    (directory / "requirements.txt").write_text(
        "# The pack runs Bascule's rules; Pulumi installs this into the pack's own virtualenv, from this folder.\n"
        "# Bascule is not on a public index yet: this is a wheel of the Bascule that wrote the pack.\n"
        f"./{WHEELS}/{wheel.name}\n",
        encoding="utf-8",
    )
    ignore = directory / ".gitignore"
    if not ignore.exists():  # a team's own .gitignore there is theirs: never overwritten, even with --force
        ignore.write_text(f"# Pulumi creates the pack's virtualenv here; it is not part of the pack.\n{IGNORED}\n")
    return [*written, ignore, directory / WHEELS, directory / "requirements.txt"], wheel
