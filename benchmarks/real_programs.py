"""`bascule check --program` over real Pulumi Python programs: how many get a verdict, and why the others do not.

    # the corpus: github.com/pulumi/examples, extracted anywhere outside this repository
    git clone --depth 1 https://github.com/pulumi/examples /work/corpus/examples
    .venv/bin/python benchmarks/real_programs.py /work/corpus/examples
    .venv/bin/python benchmarks/real_programs.py DIR --semantics up --semantics preview --semantics auto
    # with the SDKs the programs import (a separate venv, set up once; see benchmarks/corpus_venv.py)
    .venv/bin/python benchmarks/corpus_venv.py DIR /work/corpus-venv
    .venv/bin/python benchmarks/real_programs.py DIR --python /work/corpus-venv/bin/python

Every folder with a Python `Pulumi.yaml` is one program. Each runs in its own process, exactly as a
user runs it (`python -m bascule.cli check --program DIR --format json`), with the config its README
tells the user to set (benchmarks/corpus_config.yaml; keys only, values are examples) and the example's
own `Pulumi.<stack>.yaml` when it ships one. A program gets a verdict when the check exits 0 or 1;
otherwise the failure class comes from the JSON result the check writes on failure. Printed per
semantics: ran/total, failure classes, resources registered, wall time and peak memory (max RSS of the
children). The programs import SDKs a team would have installed: `--python` runs them with a venv that
has them (benchmarks/corpus_venv.py); run without it, a missing SDK is a failure class of its own
("sdk-not-installed"), not an engine failure.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pwd
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("corpus_config.yaml")
STACK_OUTPUTS = Path(__file__).with_name("corpus_stack_outputs.yaml")
TIMEOUT = 180


def programs(corpus: Path) -> list[Path]:
    found = []
    for project in sorted(corpus.rglob("Pulumi.yaml")):
        doc = yaml.safe_load(project.read_text(encoding="utf-8")) or {}
        runtime = doc.get("runtime")
        if (runtime.get("name") if isinstance(runtime, dict) else runtime) == "python":
            found.append(project.parent)
    return found


def keypair(scratch: Path) -> Path:
    """An SSH key pair made as the READMEs tell the user (`ssh-keygen -f NAME`), for configs naming key files."""
    path = scratch / "keypair"
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-f", str(path)], check=True)
    return path


def stack_file(program: Path, corpus: Path, extra: dict[str, Any], scratch: Path) -> Path:
    """The config the program's README asks for, over the example's own stack file if it has one."""
    project = (yaml.safe_load((program / "Pulumi.yaml").read_text(encoding="utf-8")) or {}).get("name", program.name)
    config: dict[str, Any] = {}
    shipped = sorted(program.glob("Pulumi.*.yaml"))
    if shipped:
        config.update((yaml.safe_load(shipped[0].read_text(encoding="utf-8")) or {}).get("config") or {})
    for key, value in (extra.get(str(program.relative_to(corpus))) or {}).items():
        if isinstance(value, str) and "{keypair}" in value:
            value = value.replace("{keypair}", str(keypair(scratch)))
        config[key if ":" in key else f"{project}:{key}"] = value
    path = scratch / f"Pulumi.{program.relative_to(corpus).as_posix().replace('/', '--')}.yaml"
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return path


def stack_references(program: Path, corpus: Path, outputs: dict[str, Any], scratch: Path) -> list[str]:
    """`--stack-reference NAME=FILE` for each stack the program references (benchmarks/corpus_stack_outputs.yaml)."""
    arguments = []
    for i, (name, values) in enumerate((outputs.get(str(program.relative_to(corpus))) or {}).items()):
        path = scratch / f"outputs-{program.name}-{i}.json"
        path.write_text(json.dumps(values), encoding="utf-8")
        arguments += ["--stack-reference", f"{name}={path}"]
    return arguments


def run_one(
    program: Path, stack: Path, references: list[str], semantics: str, cache: str, python: Path
) -> dict[str, Any]:
    command = [str(python), "-m", "bascule.cli", "check", "--program", str(program), "--stack-config", str(stack),
               *references, "--format", "json", "--semantics", semantics]  # fmt: skip
    # A login shell sets USER (gcp-py-network-component reads it); this sandbox's environment may not.
    env = {"USER": pwd.getpwuid(os.getuid()).pw_name, **os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": cache}
    started = time.perf_counter()
    try:
        # In a scratch folder: a program's `apply` may write files relative to where it runs (libvirt-py-vm's key).
        proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cache, check=False)
    except subprocess.TimeoutExpired:
        return {"kind": "timeout", "seconds": TIMEOUT, "message": f"killed after {TIMEOUT} s"}
    seconds = time.perf_counter() - started
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"kind": "no-json-result", "seconds": seconds, "message": proc.stderr.strip()[-300:]}
    if proc.returncode in (0, 1):
        return {"kind": "verdict", "seconds": seconds, "resources": doc["summary"]["resources"],
                "exit": proc.returncode, "warnings": proc.stderr.count("warning:")}  # fmt: skip
    error = doc.get("error") or {}
    return {"kind": error.get("kind", "other"), "seconds": seconds, "message": error.get("message", ""),
            "location": error.get("location")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, nargs="?", help="Folder holding the extracted pulumi/examples")
    parser.add_argument("--semantics", action="append", choices=("up", "preview", "auto"))
    parser.add_argument("--only", help="Run programs whose path contains this text")
    parser.add_argument("--json", type=Path, help="Also write every program's result here")
    parser.add_argument("--python", type=Path, default=Path(sys.executable),
                        help="Interpreter of a venv holding bascule and the programs' SDKs "
                             "(set it up once with benchmarks/corpus_venv.py); default: this one")  # fmt: skip
    args = parser.parse_args()
    if args.corpus is None or not args.corpus.is_dir():
        print(f"skipped: corpus folder {args.corpus} not found; get it with "
              "`git clone --depth 1 https://github.com/pulumi/examples DIR` and pass DIR")  # fmt: skip
        return
    corpus = args.corpus.resolve()
    extra = yaml.safe_load(CONFIG.read_text(encoding="utf-8")) or {}
    outputs = yaml.safe_load(STACK_OUTPUTS.read_text(encoding="utf-8")) or {}
    found = [p for p in programs(corpus) if not args.only or args.only in str(p)]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as cache:
        for semantics in args.semantics or ["auto"]:
            started = time.perf_counter()
            rows = {}
            for program in found:
                name = str(program.relative_to(corpus))
                stack = stack_file(program, corpus, extra, Path(scratch))
                references = stack_references(program, corpus, outputs, Path(scratch))
                rows[name] = run_one(program, stack, references, semantics, cache, args.python)
            wall = time.perf_counter() - started
            results[semantics] = rows
            report(semantics, rows, wall)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def report(semantics: str, rows: dict[str, dict[str, Any]], wall: float) -> None:
    ran = [r for r in rows.values() if r["kind"] == "verdict"]
    classes = collections.Counter(r["kind"] for r in rows.values() if r["kind"] != "verdict")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\n== semantics {semantics}: {len(ran)}/{len(rows)} programs got a verdict "
          f"({sum(r['exit'] == 1 for r in ran)} FAIL, {sum(r['exit'] == 0 for r in ran)} PASS); "
          f"{sum(r['resources'] for r in ran)} resources; {wall:.1f} s wall; peak RSS {peak:.0f} MiB")  # fmt: skip
    for kind, count in classes.most_common():
        print(f"  {kind:26} {count}")
    for name, r in sorted(rows.items()):
        if r["kind"] == "verdict":
            print(f"  ok   {name:55} {r['resources']:4} resources {r['seconds']:5.1f} s")
        else:
            where = f" at {r['location']}" if r.get("location") else ""
            print(f"  --   {name:55} {r['kind']}: {r.get('message', '')[:110]}{where}")


if __name__ == "__main__":
    main()
