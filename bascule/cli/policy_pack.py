"""`bascule policy-pack`: the CrossGuard pack in any project, pinned to the installed Bascule."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from bascule import __version__
from bascule.cli.common import FormatTextJson, Quiet, TextOrJson, emit_json, fail, out, say

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
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Write a policy pack folder: PulumiPolicy.yaml, __main__.py, policy-config.example.json, and
    requirements.txt pinned to this Bascule.

    Then: pulumi preview --policy-pack DIR --policy-pack-config DIR/policy-config.example.json
    or publish it to a Pulumi Cloud organisation: pulumi policy publish DIR

    Examples:
      bascule policy-pack init policy-pack
      bascule policy-pack init policy-pack --force --format json | jq -r '.files[]'
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
    if output_format is TextOrJson.JSON:
        emit_json({"directory": str(directory), "files": [str(directory / name) for name in names],
                   "bascule": __version__})  # fmt: skip
    else:
        out.print(f"policy pack written to {directory} (bascule {__version__})", highlight=False)
    say(f"try: pulumi preview --policy-pack {directory} --policy-pack-config {directory}/policy-config.example.json")
