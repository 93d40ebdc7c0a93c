#!/usr/bin/python3
"""bench_evaluator.py: evaluation throughput of a whole run, as an organiser sees it.

Generates the demo MS dataset (16 cases at the default size, 7 raters) and, with
--pet, the demo PET one; builds the example baseline images; creates a phase per
dataset; submits the baselines; runs `segarena worker` and reads from the store,
per case, the container's wall time and the platform's time (staging /input,
checking /output, reading the mask and the raters, consensus and every score,
storing). Prints per-case rows, the means, and the target:
platform time per case (excluding the container) < 0.5 s for 7 raters on the MS grid.

The numbers are only given for a run that went through: every case must have
succeeded (a failed case, with little or no scoring time, would pull the mean down)
and every MS case must have been scored against 7 raters, as the target says;
otherwise the run is reported as failed and the exit status is 1.

Usage: bench_evaluator.py [--segarena PATH] [--cases N] [--threads N] [--pet]
                          [--size XxYxZ] [--workdir DIR] [--keep] [--strict]
Needs root, podman, skopeo and a static C toolchain with zlib (as the examples do).
Exit status: 0 measured (3 with --strict when the target is missed), 1 a step or
a case failed or an MS case had other than 7 raters, 77 skipped (no root, podman,
skopeo, C compiler or static zlib).
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--segarena", default=None)
ap.add_argument("--cases", type=int, default=16)
ap.add_argument("--threads", type=int, default=1, help="worker threads (default 1: per-case times undisturbed)")
ap.add_argument("--size", default=None, help="MS volume size (default: make-demo's)")
ap.add_argument("--pet", action="store_true", help="also a PET phase with the PET baseline")
ap.add_argument("--workdir", default=None)
ap.add_argument("--keep", action="store_true")
ap.add_argument("--strict", action="store_true")
args = ap.parse_args()

segarena = args.segarena
if segarena is None:
    for cand in (os.path.join(top, "build", "segarena"), shutil.which("segarena")):
        if cand and os.path.exists(cand):
            segarena = cand
            break
if not segarena:
    sys.exit("bench_evaluator: no segarena binary (build it, or give --segarena)")
if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
    print("SKIP: needs root, podman and skopeo")
    sys.exit(77)
# The examples are static C programs with zlib (examples/contestants/build.sh): without
# a static libz the build would fail halfway through, as if the benchmark had.
cc = os.environ.get("CC", "cc")
if not shutil.which(cc):
    print(f"SKIP: no C compiler ({cc})")
    sys.exit(77)
with tempfile.TemporaryDirectory(prefix="segarena-bench-eval-probe.") as probe_dir:
    probe = os.path.join(probe_dir, "probe.c")
    with open(probe, "w") as f:
        f.write("#include <zlib.h>\nint main(void){return zlibVersion()[0]=='\\0';}\n")
    if subprocess.run([cc, "-static", "-O2", probe, "-o", os.path.join(probe_dir, "probe"), "-lz"],
                      capture_output=True).returncode != 0:
        print("SKIP: no static C toolchain with zlib (libz.a)")
        sys.exit(77)

work = args.workdir or tempfile.mkdtemp(prefix="segarena-bench-eval.")
os.makedirs(work, exist_ok=True)
data = os.path.join(work, "data")


def run(*cmd, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench_evaluator: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def seg(*a):
    return run(segarena, *a, "--data-dir", data)


t0 = time.time()
images = os.path.join(work, "images")
run("sh", os.path.join(top, "examples", "contestants", "build.sh"), images)
kinds = [("ms", args.cases, ["flair", "t1", "t2", "dp", "t1gd"], "ms_flair_threshold.tar")]
if args.pet:
    kinds.append(("pet", args.cases, ["pet"], "pet_suvmax40.tar"))
for kind, n, roles, _ in kinds:
    out = os.path.join(work, f"{kind}-bids")
    extra = ["--size", args.size] if (args.size and kind == "ms") else []
    run(segarena, "dataset", "make-demo", "--kind", kind, "--cases", str(n), "--seed", "11",
        *extra, "--out", out)
    seg("dataset", "import", out, "--name", f"{kind}-demo")
print(f"set-up (images, datasets): {time.time() - t0:.1f} s")

seg("challenge", "create", "bench")
seg("team", "add", "baseline")
run_ids = {}
for kind, n, roles, tar in kinds:
    spec = {"schema": "segarena-phase/1", "name": f"{kind}-test", "dataset": f"{kind}-demo",
            "input_roles": roles, "limits": {"wall_seconds": 600, "memory_mb": 2048, "cpus": 1}}
    if kind == "ms":
        spec["metrics"] = ["dice", "hd95", "assd", "nsd", "lesion_f1"]
    else:
        spec["metrics"] = ["pet_accuracy", "dice", "hd95"]
        spec["ranking"] = {"rule": "score", "metrics": [{"name": "pet_accuracy"}]}
    path = os.path.join(work, f"{kind}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    tp = time.time()
    seg("phase", "create", "--challenge", "bench", "--spec", path)
    print(f"phase {kind}-test set-up (dataset verify, human reference of {n} cases, computed "
          f"once per dataset and scoring configuration): {time.time() - tp:.1f} s")
    r = seg("submit", "--phase", f"bench/{kind}-test", "--team", "baseline", os.path.join(images, tar))
    run_ids[kind] = int(r.stdout.split("run ")[1].split()[0])

t1 = time.time()
seg("worker", "--until-idle", "--threads", str(args.threads), "--quiet")
wall = time.time() - t1

db = sqlite3.connect(os.path.join(data, "segarena.db"))
exit_status = 0
for kind, n, roles, _ in kinds:
    rows = db.execute("SELECT case_id, status, error_class, container_seconds, platform_seconds, result_json "
                      "FROM case_results WHERE run_id = ? ORDER BY case_id", (run_ids[kind],)).fetchall()
    raters = {case: json.loads(res)["case"]["raters"] for case, _, _, _, _, res in rows if res}
    counts = sorted(set(raters.values()))
    print(f"\n{kind.upper()}: {len(rows)} cases, {'/'.join(map(str, counts)) or 'no'} raters, "
          f"worker threads {args.threads}")
    print(f"{'case':<12} {'status':<10} {'class':<14} {'container s':>12} {'platform s':>11} {'raters':>7}")
    for case, status, cls, c, p, _ in rows:
        print(f"{case:<12} {status:<10} {cls:<14} {c:12.3f} {p:11.3f} {raters.get(case, '-'):>7}")
    # Judged only when the run went through: every case scored (a failed case, with
    # little scoring time, would pull the mean down), and with 7 raters on MS.
    problems = []
    failed = [case for case, status, *_ in rows if status != "succeeded"]
    if len(rows) != n:
        problems.append(f"{len(rows)} case results stored for {n} cases")
    if failed:
        problems.append(f"{len(failed)} case(s) failed: {', '.join(failed)}")
    if kind == "ms":
        other = [case for case, status, *_ in rows if status == "succeeded" and raters.get(case) != 7]
        if other:
            problems.append(f"{len(other)} case(s) not scored against 7 raters: {', '.join(other)}")
    if problems:
        print(f"FAILED: {kind.upper()}: " + "; ".join(problems) + ": no mean or target is given")
        exit_status = 1
        continue
    mc = sum(r[3] for r in rows) / len(rows)
    mp = sum(r[4] for r in rows) / len(rows)
    xp = max(r[4] for r in rows)
    print(f"{'mean':<38} {mc:12.3f} {mp:11.3f}   (max platform {xp:.3f} s)")
    print(f"wall time per case: {mc + mp:.3f} s mean, of which platform {100 * mp / (mc + mp):.0f} %")
    if kind == "ms":
        ok = mp < 0.5
        print(f"target: MS platform time per case < 0.5 s with 7 raters: {mp:.3f} s -> "
              f"{'met' if ok else 'MISSED'}")
        if not ok and args.strict and exit_status == 0:
            exit_status = 3
print(f"\nall runs: {wall:.1f} s of worker wall time")
loaded = [n for (n,) in db.execute("SELECT DISTINCT image_name FROM submissions WHERE status = 'ready'")]
db.close()
if loaded:
    subprocess.run(["podman", "rmi", "-f", *loaded], capture_output=True)
if not args.keep:
    subprocess.run(["chmod", "-R", "u+w", work])
    shutil.rmtree(work, ignore_errors=True)
sys.exit(exit_status)
