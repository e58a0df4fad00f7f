"""The newcomer's map matches the tree: every path the docs name exists, and every package is on the map.

A moved module leaves a stale path in prose that nothing else would catch; these tests do, for
docs/architecture.md (which must also name every package of `bascule/`) and for the README and every docs page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A repository path as the docs write it: `bascule/io/`, `components/program.py`, `policies/PulumiPolicy.yaml`.
# Not part of a longer path or URL (`<org>/bascule@main`), and not a pattern with a placeholder (`Pulumi.<stack>`).
_PATH = re.compile(
    r"(?<![\w./<>@:-])((?:bascule|components|policies|tests|benchmarks|examples|docs|scripts)/[\w./-]*+)(?![<{*])"
)


def named_paths(text: str) -> set[str]:
    """Every repository path the text names, without a sentence's closing full stop."""
    return {match.group(1).rstrip(".") for match in _PATH.finditer(text)}


def test_the_path_pattern_reads_prose_as_intended() -> None:
    text = "see `bascule/io/` and components/program.py. Not <org>/bascule@main nor `stacks/Pulumi.<stack>.yaml`"
    assert named_paths(text) == {"bascule/io/", "components/program.py"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page: Path) -> None:
    paths = named_paths(page.read_text(encoding="utf-8"))
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


def test_the_architecture_page_names_the_three_roots_and_many_modules() -> None:
    paths = named_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    assert {"bascule/cli/", "components/", "policies/"} <= paths
    assert sum(1 for p in paths if p.endswith(".py")) >= 30  # a map, not a list of folders


def test_every_package_of_bascule_is_on_the_map() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = sorted(
        f"bascule/{d.name}/"
        for d in (ROOT / "bascule").iterdir()
        if d.is_dir() and not d.is_symlink() and (d / "__init__.py").exists()
    )
    assert len(packages) >= 10
    assert [p for p in packages if p not in text] == []
    # The two top-level packages imported through the links bascule/components and bascule/policies.
    assert all((ROOT / "bascule" / name).is_symlink() for name in ("components", "policies"))
    assert "components/" in named_paths(text) and "policies/" in named_paths(text)


def test_the_readme_links_every_docs_page_and_the_map_near_its_top() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [name for name in pages if f"](docs/{name}" not in readme] == []
    top = readme.split("\n## ", 2)[:2]  # the introduction and the first section
    assert "](docs/architecture.md)" in "\n## ".join(top)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (hyphens kept), spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_its_page_and_heading(page: Path) -> None:
    """The README and the docs pages link each other; a moved section must not leave a dead link behind."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert broken == []
