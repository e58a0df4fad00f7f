"""One-time set-up for `real_programs.py --python`: a separate venv holding bascule and the corpus's SDKs.

    .venv/bin/python benchmarks/corpus_venv.py /work/corpus/examples /work/corpus-venv
    .venv/bin/python benchmarks/real_programs.py /work/corpus/examples --python /work/corpus-venv/bin/python

A team checking its program has the SDKs its requirements.txt names installed; the project's own venv and
CI must not carry twenty providers for a benchmark. This creates VENV (outside the repository), installs
bascule editable from this checkout with its cloud extras, then every requirement the corpus's Python
programs list in their requirements.txt, from PyPI.

One venv holds one version of a package, so each package gets the intersection of what the programs ask
for. Where that excludes the major bascule itself pins (`pulumi-azure-native>=3`, `pulumi-gcp>=10`...),
bascule's pin wins: bascule's facts and inventory are written for that major, so a program written for
an older one is run against the newer one and, where the API changed, reported `sdk-incompatible-major`.
The script prints every program whose requirement the installed version does not satisfy.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from real_programs import ROOT, programs

EXTRAS = "all"
"""bascule's extra naming every SDK it needs (aws, azure, gcp and the data standby's)."""


def bascule_pins() -> dict[str, SpecifierSet]:
    """The SDK versions bascule's own extras pin: these win over a program's older major."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    pins: dict[str, SpecifierSet] = {}
    pending, seen = [EXTRAS], set()
    while pending:
        extra = pending.pop()
        seen.add(extra)
        for line in extras[extra]:
            requirement = Requirement(line)
            if requirement.name == "bascule":
                pending.extend(e for e in requirement.extras if e not in seen)
            else:
                pins[canonicalize_name(requirement.name)] = requirement.specifier
    for line in project["dependencies"]:
        requirement = Requirement(line)
        pins[canonicalize_name(requirement.name)] = requirement.specifier
    return pins


def corpus_requirements(corpus: Path) -> dict[str, dict[str, SpecifierSet]]:
    """Package -> program -> what that program's requirements.txt asks for."""
    wanted: dict[str, dict[str, SpecifierSet]] = collections.defaultdict(dict)
    for program in programs(corpus):
        listing = program / "requirements.txt"
        if not listing.is_file():
            continue
        for line in listing.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                print(f"  skipped {program.relative_to(corpus)}/requirements.txt: {line!r}: {exc}")
                continue
            wanted[canonicalize_name(requirement.name)][str(program.relative_to(corpus))] = requirement.specifier
    return wanted


def install_lines(
    wanted: dict[str, dict[str, SpecifierSet]], pins: dict[str, SpecifierSet], relaxed: set[str]
) -> list[str]:
    """What pip installs besides bascule: the programs' joint specifier for every package bascule does not pin
    (only the name for a relaxed one, whose asked versions need another major of an SDK bascule pins)."""
    lines = []
    for name, asks in sorted(wanted.items()):
        if name in pins:
            continue
        joint = SpecifierSet()
        for specifier in () if name in relaxed else asks.values():
            joint &= specifier
        lines.append(f"{name}{joint}")
    return lines


def install(python: Path, wanted: dict[str, dict[str, SpecifierSet]], pins: dict[str, SpecifierSet]) -> None:
    """pip install bascule and the corpus's requirements, relaxing the packages pip names in a conflict.

    `pulumi-awsx<3` needs `pulumi-aws<7` while bascule (and the same programs) ask `pulumi-aws>=7`: such a
    package gets its newest version that fits, and `unmet` reports the programs that asked for another.
    """
    relaxed: set[str] = set()
    while True:
        lines = install_lines(wanted, pins, relaxed)
        print(f"installing bascule[{EXTRAS}] (editable, {ROOT}) and: {' '.join(lines)}", flush=True)
        # One requirement asks `pulumi>=3.0.0a1`, which lets pip take a pre-release of Pulumi itself: hold
        # Pulumi at the release this (the project's) venv runs, so both venvs run the same engine SDK.
        pulumi = f"pulumi=={metadata.version('pulumi')}"
        command = [str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{EXTRAS}]", pulumi, *lines]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return
        conflict = re.search(r"Cannot install (.+?) because", proc.stderr)
        named = {canonicalize_name(re.split(r"[=<>!~\[ ]", part.strip())[0])
                 for part in re.split(r",| and ", conflict.group(1))} if conflict else set()  # fmt: skip
        fresh = (named & set(wanted)) - set(pins) - relaxed
        if not fresh:
            sys.exit(f"error: pip failed:\n{proc.stderr.strip()[-2000:]}")
        print(f"  conflict with bascule's pins; relaxing {', '.join(sorted(fresh))}")
        relaxed |= fresh


def unmet(python: Path, wanted: dict[str, dict[str, SpecifierSet]]) -> list[str]:
    """Every program requirement the venv's installed version does not satisfy."""
    names = sorted(wanted)
    script = "import sys, importlib.metadata as m\nfor n in sys.argv[1:]:\n    try: print(n, m.version(n))\n" \
             "    except m.PackageNotFoundError: print(n, '-')"  # fmt: skip
    out = subprocess.run([str(python), "-c", script, *names], capture_output=True, text=True, check=True).stdout
    installed = dict(line.split() for line in out.splitlines())
    lines = []
    for name in names:
        for program, specifier in sorted(wanted[name].items()):
            version = installed.get(name, "-")
            if version == "-" or not specifier.contains(version, prereleases=True):
                lines.append(f"  {program}: asks {name}{specifier}, venv has {version}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="Folder holding the extracted pulumi/examples")
    parser.add_argument("venv", type=Path, help="Where to create the benchmark venv (outside this repository)")
    args = parser.parse_args()
    venv = args.venv.resolve()
    if venv.is_relative_to(ROOT):
        sys.exit(f"error: venv {venv} is inside the repository; give a path outside it")
    pins = bascule_pins()
    wanted = corpus_requirements(args.corpus.resolve())
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install(python, wanted, pins)
    gaps = unmet(python, wanted)
    print(f"{len(gaps)} program requirements the venv does not meet (bascule's pin wins, or programs disagree):")
    print("\n".join(gaps))


if __name__ == "__main__":
    main()
