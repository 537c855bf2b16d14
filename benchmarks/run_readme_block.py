"""Run the README's ImageNet command block as written, with plain text substitutions (paths, counts, sizes).

Every command of the block between ``<!-- imagenet-block -->`` markers runs in order under bash;
for each one the wall time and the peak resident set size of its largest process (torchrun's
workers included: ``wait4`` folds in every waited-for descendant) are recorded.

    .venv/bin/python benchmarks/run_readme_block.py --json-out runs/block.json \\
        --sub "--nproc_per_node 8" "--nproc_per_node 2" --sub /data/imagenet /tmp/f20x60 \\
        --sub runs/in /tmp/in --sub "--batch-size 256" "--batch-size 8" --sub "--epochs 250" "--epochs 0.05" ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_block(readme: Path = ROOT / "README.md") -> list[str]:
    """The commands of the marked block (continuation lines joined)."""
    text = readme.read_text()
    match = re.search(r"<!-- imagenet-block -->\s*```bash\n(.*?)```", text, re.S)
    if match is None:
        raise SystemExit(f"no <!-- imagenet-block --> code block in {readme}")
    return [c.strip() for c in match.group(1).replace("\\\n", " ").splitlines() if c.strip()]


def substitute(commands: list[str], subs: list[tuple[str, str]]) -> list[str]:
    out = []
    for command in commands:
        for old, new in subs:
            command = command.replace(old, new)
        out.append(re.sub(r"\s+", " ", command))
    return out


def run(commands: list[str], env: dict[str, str], log=sys.stderr) -> list[dict]:
    """Run each command; stop at the first failure. Returns one record per command run."""
    records = []
    for command in commands:
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(["bash", "-c", command], env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)  # rusage of the command and every descendant it waited for
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            err.seek(0)
            tail = err.read()[-3000:]
        record = {"command": command, "rc": rc, "seconds": round(time.perf_counter() - t0, 1),
                  "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
        records.append(record)
        print(json.dumps(record), file=log, flush=True)
        if rc != 0:
            record["stderr_tail"] = tail
            break
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sub", nargs=2, action="append", default=[], metavar=("OLD", "NEW"))
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--port", type=int, default=29631, help="torchrun rendezvous port (PET_MASTER_PORT)")
    args = ap.parse_args()
    commands = substitute(readme_block(), [tuple(s) for s in args.sub])
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ, OMP_NUM_THREADS="1", PET_MASTER_PORT=str(args.port),
               PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    records = run(commands, env)
    doc = {"commands": records, "ok": all(r["rc"] == 0 for r in records) and len(records) == len(commands)}
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))
    sys.exit(0 if doc["ok"] else 1)


if __name__ == "__main__":
    main()
