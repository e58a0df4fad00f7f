"""`bascule policy-pack`: the CrossGuard pack in any project, pinned to the installed Bascule."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from bascule import __version__
from bascule.cli.common import fail, out

app = typer.Typer(
    help=(
        "The CrossGuard policy pack (the same rules as `bascule check`) for `pulumi preview --policy-pack DIR` "
        "and `pulumi policy publish`, in any project."
    ),
    no_args_is_help=True,
)

PACK_FILES = ("PulumiPolicy.yaml", "__main__.py", "policy-config.example.json")
"""Copied as the installed package ships them: one source for the pack in this repository and elsewhere."""


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write the pack into (created if missing).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite pack files already in the folder.")] = False,
) -> None:
    """Write a policy pack folder: PulumiPolicy.yaml, __main__.py, requirements.txt pinned to this Bascule.

    Then: pulumi preview --policy-pack DIR --policy-pack-config DIR/policy-config.example.json
    or publish it to a Pulumi Cloud organisation: pulumi policy publish DIR
    """
    names = [*PACK_FILES, "requirements.txt"]
    existing = [name for name in names if (directory / name).exists()]
    if existing and not force:
        fail([f"{directory}: {', '.join(existing)} already there; nothing written (use --force to overwrite)"])
    directory.mkdir(parents=True, exist_ok=True)
    source = resources.files("bascule.policies")
    for name in PACK_FILES:
        (directory / name).write_bytes(source.joinpath(name).read_bytes())
    (directory / "requirements.txt").write_text(
        "# The pack runs Bascule's rules; Pulumi installs this into the pack's own virtualenv.\n"
        f"bascule=={__version__}\n",
        encoding="utf-8",
    )
    out.print(f"policy pack written to {directory} (bascule {__version__})", highlight=False, markup=False)
    out.print(
        f"try: pulumi preview --policy-pack {directory} --policy-pack-config {directory}/policy-config.example.json",
        highlight=False,
        markup=False,
    )
