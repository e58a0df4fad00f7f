"""What `bascule` loads to start: no command module for --help, no Pulumi or cloud SDK for `check --export`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
sys.argv = ["bascule", *json.loads(sys.argv[1])]
from bascule.cli.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("bascule", "pulumi")))), file=sys.stderr)
"""


def loaded(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          cwd=ROOT, check=True)  # fmt: skip
    return list(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_and_version_import_no_command() -> None:
    assert loaded("--help") == ["bascule", "bascule.cli", "bascule.cli.app"]
    assert loaded("--version") == ["bascule", "bascule.cli", "bascule.cli.app"]


def test_check_export_imports_no_pulumi_and_no_drill_machinery(tmp_path: Path) -> None:
    export = tmp_path / "state.json"
    export.write_text(json.dumps({"version": 3, "deployment": {"resources": []}}))
    modules = loaded("check", "--export", str(export))
    assert "bascule.check.verdicts" in modules
    heavy = [
        m
        for m in modules
        if m == "bascule.offline.engine" or m.startswith(("pulumi", "bascule.drills", "bascule.sandbox"))
    ]
    assert heavy == []
