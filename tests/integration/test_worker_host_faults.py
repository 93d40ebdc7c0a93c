#!/usr/bin/env python3
"""The worker when the host, not the contestant, fails: evaluate runs of a
submission on a stand-in `podman` (no containers), with fault_fs.c preloaded to
fail chosen calls on chosen paths. A host failure is never stored as the
contestant's failed case: it is a platform error, retried (--retry-delays) and,
if it lasts, stored after the last claim as `engine_error: platform error` with
the reason (errno) in the organisers' detail.

1. podman that cannot be executed (PATH holds only a `podman` without the x
   bit): not `exit_code 127`.
2. The scratch folder's disk full (ENOSPC on write) while a valid mask is
   copied out of /output: not `invalid_output: not a regular file`.
3. The kept mask that cannot be opened for scoring (EIO, EMFILE, EACCES from
   fopen): not `invalid_output: not an image`.
4. The copy of the output that the image reader's helper cannot open (EIO):
   `engine_error: image reader not run` (retried), not `invalid_output`.
5. /output/segmentation.* that SegArena cannot look at (EIO from fstatat): a
   platform error, not the contestant's no_output.
6. The kept mask that cannot be synced to disk (EIO from fsync): a platform
   error (it was never synced: a power cut could lose a stored result's mask).

usage: test_worker_host_faults.py SEGARENA FAULT_FS_SO EXAMPLES WORK_DIR
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAILED: {what}", file=sys.stderr)


SEGARENA, FAULT_FS, EXAMPLES, WORK = sys.argv[1:5]
DATA = WORK + "/data"
FAULTS = WORK + "/faults"
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK + "/bin")
os.makedirs(WORK + "/noexec")
# podman run: the case's first rater mask (case.json names the case) into /output
with open(WORK + "/bin/podman", "w") as f:
    f.write('#!/bin/sh\n[ "$1" = run ] || exit 0\nin=; out=\nfor a in "$@"; do case "$a" in\n'
            '  type=bind,source=*,target=/input*) in=${a#type=bind,source=}; in=${in%%,target=*} ;;\n'
            '  type=bind,source=*,target=/output*) out=${a#type=bind,source=}; out=${out%%,target=*} ;;\n'
            'esac; done\n'
            'case=$(sed -n \'s/.*"case_id": "\\(.*\\)".*/\\1/p\' "$in/case.json")\n'
            'cp "%s/datasets/ms-demo/cases/$case/raters/rater1.nii.gz" "$out/segmentation.nii.gz"\n'
            'exit 0\n' % DATA)
os.chmod(WORK + "/bin/podman", 0o755)
with open(WORK + "/noexec/podman", "w") as f:
    f.write("#!/bin/sh\nexit 0\n")
os.chmod(WORK + "/noexec/podman", 0o644)
PATH = WORK + "/bin:" + os.environ.get("PATH", "")
ENV = dict(os.environ, PATH=PATH, SA_FAULT_FILE=FAULTS, LD_PRELOAD=FAULT_FS,
           ASAN_OPTIONS="verify_asan_link_order=0")
DELAYS = "0.2,0.2,0.2,0.2"


def sa(*args, env=None):
    p = subprocess.run([SEGARENA, *args, "--data-dir", DATA], capture_output=True, text=True,
                       env=env or ENV, timeout=300)
    return p.returncode, p.stdout, p.stderr


def must(*args):
    rc, out, err = sa(*args)
    if rc != 0:
        print(f"segarena {' '.join(args)}: {rc} {out} {err}", file=sys.stderr)
        sys.exit(1)
    return out


def faults(text):
    with open(FAULTS, "w") as f:
        f.write(text)


def db():
    return sqlite3.connect(DATA + "/segarena.db", timeout=30)


p = subprocess.run([SEGARENA, "dataset", "make-demo", "--kind", "ms", "--cases", "3", "--size",
                    "32x32x32", "--seed", "3", "--out", WORK + "/bids"], capture_output=True, text=True)
check(p.returncode == 0, f"make-demo {p.stderr}")
must("dataset", "import", WORK + "/bids", "--name", "ms-demo")
must("challenge", "create", "c")
spec = json.load(open(EXAMPLES + "/phases/ms-test.json"))
spec.update(name="p", bootstrap={"resamples": 20, "seed": 1}, quota={"submissions": 100, "days": 1})
json.dump(spec, open(WORK + "/spec.json", "w"))
must("phase", "create", "--challenge", "c", "--spec", WORK + "/spec.json")
must("team", "add", "t")
con = db()
team = con.execute("SELECT id FROM teams WHERE name = 't'").fetchone()[0]
sub = con.execute("INSERT INTO submissions (phase_id, team_id, status, image_digest, image_name, "
                  "upload_sha256, upload_bytes, created, run_user) VALUES (1, ?, 'ready', 'sha256:f', "
                  "'localhost/segarena/sub-f', '', 0, ?, '1000:1000')", (team, time.time())).lastrowid
con.commit()
con.close()
cases = sorted(os.listdir(DATA + "/datasets/ms-demo/cases"))


first_run = []


def evaluate(env=None, fault_text=None):
    """A new evaluate run of the submission, carried out to the end (the faults
    fault_text(run id) set once it is queued); its id, the worker's stderr, and
    {case: (error_class, attempts, detail)}."""
    if first_run:
        must("run", "rerun", str(first_run[0]))
    else:
        must("run", "start", str(sub))
    con = db()
    rid = con.execute("SELECT max(id) FROM runs").fetchone()[0]
    con.close()
    if fault_text:
        faults(fault_text(rid))
    rc, out, err = sa("worker", "--until-idle", "--retry-delays", DELAYS, env=env)
    check(rc == 0, f"run {rid}: worker exit 0 ({err})")
    con = db()
    got = {c: (k, a, d or "") for c, k, a, d in con.execute(
        "SELECT case_id, error_class, attempts, detail FROM case_results WHERE run_id = ?", (rid,))}
    status = con.execute("SELECT status FROM runs WHERE id = ?", (rid,)).fetchone()[0]
    con.close()
    check(status == "done" and sorted(got) == cases, f"run {rid} done with every case: {status} {got}")
    if not first_run:
        first_run.append(rid)
    return rid, err, got


# a clean run first: the stand-in's masks are accepted and scored
faults("")
rid, err, got = evaluate()
check(all(got[c][0] == "succeeded" and got[c][1] == 1 for c in cases), f"clean run: {got}")

# ---- 1. podman that cannot be executed ----
rid, err, got = evaluate(dict(ENV, PATH=WORK + "/noexec"))
for c in cases:
    k, a, d = got.get(c, ("", 0, ""))
    check(k == "engine_error: platform error" and a == 5,
          f"non-executable podman, case {c}: a platform error after 5 claims, not the "
          f"contestant's ({k}, {a} claims)")
    check("cannot run 'podman': Permission denied" in d, f"the reason in the detail: {d}")
check("retried in" in err, f"retried: {err}")

# ---- 2. ENOSPC while the mask is copied out of /output ----
faults(f"write 28 -{cases[0]}/segmentation\n")
rid, err, got = evaluate()
k, a, d = got[cases[0]]
check(k == "engine_error: platform error" and a == 5,
      f"copy-out ENOSPC: a platform error after 5 claims, not invalid_output ({k}, {a} claims)")
check("could not be copied out" in d and "No space left on device" in d, f"the errno in the detail: {d}")
check(all(got[c][0] == "succeeded" and got[c][1] == 1 for c in cases[1:]), f"other cases scored: {got}")
faults("")

# ---- 3. the kept mask cannot be opened for scoring ----
errnos = {cases[0]: (5, "Input/output error"), cases[1]: (24, "Too many open files"),
          cases[2]: (13, "Permission denied")}
rid, err, got = evaluate(fault_text=lambda rid: "".join(
    f"fopen {e} /runs/{rid}/{c}/\n" for c, (e, _) in errnos.items()))
for c, (e, text) in errnos.items():
    k, a, d = got[c]
    check(k == "engine_error: platform error" and a == 5,
          f"kept mask unreadable ({text}), case {c}: a platform error after 5 claims, not "
          f"invalid_output ({k}, {a} claims)")
    check(text in d, f"the errno in the detail: {d}")
faults("")

# ---- 4. the helper cannot open the copy of the output ----
faults(f"fopen 5 -{cases[0]}/segmentation\n")
rid, err, got = evaluate()
k, a, d = got[cases[0]]
check(k == "engine_error: image reader not run" and a == 3,
      f"copied output unreadable: an engine error after 3 attempts, not invalid_output ({k}, {a})")
check("Input/output error" in d, f"the errno in the detail: {d}")
check(all(got[c][0] == "succeeded" for c in cases[1:]), f"other cases scored: {got}")
faults("")

# ---- 5. /output/segmentation.* cannot be looked at (EIO from fstatat): SegArena's
# failure, not the contestant's no_output ----
faults(f"fstatat 5 -{cases[0]}/output/segmentation.nii.gz\n")
rid, err, got = evaluate()
k, a, d = got[cases[0]]
check(k == "engine_error: platform error" and a == 5,
      f"/output unreadable by SegArena: a platform error after 5 claims, not no_output ({k}, {a})")
check("cannot look at it: Input/output error" in d, f"the errno in the detail: {d}")
faults("")

# ---- 6. the kept mask cannot be synced to disk (EIO from fsync): it was moved
# into runs/ unsynced and its row committed, so a power cut could leave a stored
# result naming a lost mask; now synced (with its folder) before the row ----
faults(f"fsync 5 -{cases[0]}/segmentation\n")
rid, err, got = evaluate()
k, a, d = got[cases[0]]
check(k == "engine_error: platform error" and a == 5,
      f"kept mask not synced: a platform error after 5 claims ({k}, {a})")
check("Input/output error" in d, f"the errno in the detail: {d}")
check(all(got[c][0] == "succeeded" for c in cases[1:]), f"other cases scored: {got}")
faults("")

if failures:
    print(f"test_worker_host_faults: {failures} failed", file=sys.stderr)
    sys.exit(1)
print("test_worker_host_faults: ok")
