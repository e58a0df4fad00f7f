"""`bascule policy-pack`: the CrossGuard pack in any project, pinned to the installed Bascule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bascule import __version__
from bascule.cli.common import FormatTextJson, Quiet, TextOrJson, emit_json, fail, out, output_folder, say, writing
from bascule.policies.pack_folder import VendorError, existing, write_pack

app = typer.Typer(
    help=(
        "The CrossGuard policy pack (the same rules as `bascule check`) for `pulumi preview --policy-pack DIR` "
        "and `pulumi policy publish`, in any project."
    ),
    no_args_is_help=True,
)


@app.command("init")
def init(
    directory: Annotated[
        Path,
        typer.Argument(callback=output_folder("DIRECTORY"), help="Folder to write the pack into (created if missing)."),
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite pack files already in the folder.")] = False,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Write a policy pack folder: PulumiPolicy.yaml, __main__.py, policy-config.example.json, a wheel of this
    Bascule in wheels/, and requirements.txt naming it, so the pack installs from its folder alone; and a .gitignore
    for the venv/ Pulumi creates there, unless the folder has one.

    Then: pulumi preview --policy-pack DIR --policy-pack-config DIR/policy-config.example.json
    or publish it to a Pulumi Cloud organisation: pulumi policy publish DIR

    Examples:
      bascule policy-pack init policy-pack
      bascule policy-pack init policy-pack --force --format json | jq -r '.files[]'
    """
    found = existing(directory)
    if found and not force:
        fail([f"{directory}: {', '.join(found)} already there; nothing written (use --force to overwrite)"])
    try:
        with writing("DIRECTORY", directory):
            written, wheel = write_pack(directory)
    except VendorError as exc:
        fail([f"{directory}: could not vendor a wheel of Bascule: {exc}"])
    if output_format is TextOrJson.JSON:
        emit_json({"directory": str(directory), "files": [str(path) for path in written], "wheel": str(wheel),
                   "bascule": __version__})  # fmt: skip
    else:
        out.print(f"policy pack written to {directory} (bascule {__version__})", highlight=False)
    say(f"try: pulumi preview --policy-pack {directory} --policy-pack-config {directory}/policy-config.example.json")
