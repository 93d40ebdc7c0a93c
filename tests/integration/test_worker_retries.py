#!/usr/bin/env python3
"""The worker on a platform that fails, without containers: rescores of a run whose
masks are kept (written here as a worker leaves them), a stand-in `podman` that logs
its calls, and fault_fs.c preloaded to fail file-system calls under runs/.

1. A case whose result cannot be written (EACCES) is retried after growing delays
   (--retry-delays), stored as `engine_error: platform error` after the last claim
   with no attempt folder left, and the rescore with that case does not replace an
   earlier clean rescore on the board.
2. While runs/ takes no writes (ENOSPC) the case goes back uncounted, one line says
   so, nothing is claimed; once writes work again the run completes, each case on
   its first counted claim.
3. A running worker removes the containers of a job it fails at the claim limit and
   of a cancelled run's job whose worker is gone (its periodic sweep), and the
   temporary image name of a killed upload's load of this data directory, not one
   whose lock a live load holds nor another data directory's.
4. A run whose platform-failed case looks for its field of view in the phase's
   other runs finishes though one of those results cannot be read.

usage: test_worker_retries.py SEGARENA FAULT_FS_SO EXAMPLES WORK_DIR
"""
import fcntl
import hashlib
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
PODMAN_LOG = WORK + "/podman.log"
PODMAN_PS = WORK + "/podman.ps"
PODMAN_IMAGES = WORK + "/podman.images"
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK + "/bin")
with open(WORK + "/bin/podman", "w") as f:
    # `image inspect --format {{.Id}} NAME`: an id of its own for each name (its sha256)
    f.write('#!/bin/sh\necho "$*" >> "%s"\ncase "$1" in ps) [ -f "%s" ] && cat "%s" ;;\n'
            'images) [ -f "%s" ] && cat "%s" ;;\n'
            'image) [ "$2" = inspect ] && printf %%s "$5" | sha256sum | cut -c1-64 ;; esac\nexit 0\n'
            % (PODMAN_LOG, PODMAN_PS, PODMAN_PS, PODMAN_IMAGES, PODMAN_IMAGES))
os.chmod(WORK + "/bin/podman", 0o755)
ENV = dict(os.environ, PATH=WORK + "/bin:" + os.environ.get("PATH", ""), SA_FAULT_FILE=FAULTS,
           LD_PRELOAD=FAULT_FS, ASAN_OPTIONS="verify_asan_link_order=0")


def sa(*args, env=None):
    p = subprocess.run([SEGARENA, *args, "--data-dir", DATA], capture_output=True, text=True,
                       env=env or ENV, timeout=120)
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

# a submission with a done evaluate run whose every case kept a rater's mask
con = db()
now = time.time()
team = con.execute("SELECT id FROM teams WHERE name = 't'").fetchone()[0]
spec_json, checksum = con.execute("SELECT p.spec_json, d.checksum FROM phases p "
                                  "JOIN datasets d ON d.id = p.dataset_id WHERE p.id = 1").fetchone()
sub = con.execute("INSERT INTO submissions (phase_id, team_id, status, image_digest, image_name, "
                  "upload_sha256, upload_bytes, created) VALUES (1, ?, 'ready', 'sha256:f', 'f', '', 0, ?)",
                  (team, now)).lastrowid
parent = con.execute("INSERT INTO runs (submission_id, phase_id, kind, status, config_json, created, "
                     "started, finished) VALUES (?, 1, 'evaluate', 'done', ?, ?, ?, ?)",
                     (sub, spec_json, now, now, now)).lastrowid
cases = sorted(os.listdir(DATA + "/datasets/ms-demo/cases"))
for c in cases:
    rel = f"runs/{parent}/{c}/1/output/segmentation.nii.gz"
    os.makedirs(os.path.dirname(f"{DATA}/{rel}"))
    shutil.copy(f"{DATA}/datasets/ms-demo/cases/{c}/raters/rater1.nii.gz", f"{DATA}/{rel}")
    con.execute("INSERT INTO jobs (run_id, case_id, status, attempts, finished) VALUES (?, ?, 'done', 1, ?)",
                (parent, c, now))
    con.execute("INSERT INTO case_results (run_id, case_id, status, error_class, container_seconds, "
                "platform_seconds, peak_memory_bytes, exit_code, output_path, metric_version, "
                "dataset_checksum, image_digest, attempts, finished) VALUES (?, ?, 'succeeded', "
                "'succeeded', 1, 0.1, -1, 0, ?, 1, ?, 'sha256:f', 1, ?)", (parent, c, rel, checksum, now))
con.commit()
instance = con.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
con.close()
first = cases[0]


def rescore():
    out = must("run", "rescore", str(parent))
    con = db()
    rid = con.execute("SELECT max(id) FROM runs").fetchone()[0]
    con.close()
    return rid


# a clean rescore first: the kept masks scored, the board's entry
clean = rescore()
rc, out, err = sa("worker", "--until-idle")
check(rc == 0, f"clean rescore ({err})")

# ---- 1. a result that cannot be written: delays, then a platform failure ----
rescore1 = rescore()
faults(f"rename 13 /runs/{rescore1}/{first}/\n")
delays = [0.4, 0.8, 1.2, 1.6]
started = time.time()
rc, out, err = sa("worker", "--until-idle", "--retry-delays", ",".join(map(str, delays)))
took = time.time() - started
check(rc == 0, f"worker exit 0 ({err})")
check(took >= sum(delays), f"the retries were spread over the delays ({took:.1f} s)")
check(err.count("retried in") == 4, f"four retries announced: {err}")
con = db()
job = con.execute("SELECT status, attempts FROM jobs WHERE run_id = ? AND case_id = ?", (rescore1, first)).fetchone()
check(job == ("done", 5), f"stored on the fifth claim: {job}")
classes = dict(con.execute("SELECT case_id, error_class FROM case_results WHERE run_id = ?", (rescore1,)))
check(classes[first] == "engine_error: platform error", f"platform failure stored: {classes}")
check(all(classes[c] == "succeeded" for c in cases[1:]), f"other cases scored: {classes}")
con.close()
left = os.listdir(f"{DATA}/runs/{rescore1}/{first}") if os.path.isdir(f"{DATA}/runs/{rescore1}/{first}") else []
check(left == [], f"no attempt folder left behind: {left}")
rc, out, err = sa("results", "--phase", "c/p", "--json")
board = json.loads(out) if rc == 0 else {}
rows = board.get("rows", [])
check(len(rows) == 1 and rows[0]["run_id"] == clean,
      f"the board keeps the clean run, not the platform failure: {[r.get('run_id') for r in rows]}")

# ---- 2. runs/ takes no writes: paused, uncounted, resumed ----
rescore2 = rescore()
faults("* 28 /runs/\n")
worker = subprocess.Popen([SEGARENA, "worker", "--until-idle", "--retry-delays", "0.3", "--data-dir", DATA],
                          stderr=subprocess.PIPE, text=True, env=ENV)
time.sleep(3)
con = db()
jobs = con.execute("SELECT status, attempts FROM jobs WHERE run_id = ? ORDER BY id", (rescore2,)).fetchall()
con.close()
check(all(a <= 1 and s in ("queued", "running") for s, a in jobs) and sum(a for s, a in jobs) <= 1,
      f"nothing counted or stored while runs/ takes no writes: {jobs}")
os.remove(FAULTS)
try:
    err = worker.communicate(timeout=60)[1]
except subprocess.TimeoutExpired:
    worker.kill()
    err = worker.communicate()[1]
check(worker.returncode == 0, f"worker exit 0 ({err})")
check(err.count("takes no writes") == 1 and "No space left on device" in err,
      f"one line says why claiming paused: {err}")
check("claiming resumes" in err, f"one line says it resumed: {err}")
check("platform error" not in err and "retried in" not in err, f"no attempt used up: {err}")
con = db()
jobs = con.execute("SELECT status, attempts FROM jobs WHERE run_id = ? ORDER BY id", (rescore2,)).fetchall()
check(jobs == [("done", 1)] * len(cases), f"every case done on its first counted claim: {jobs}")
classes = [r[0] for r in con.execute("SELECT error_class FROM case_results WHERE run_id = ?", (rescore2,))]
check(classes == ["succeeded"] * len(cases), f"every case scored: {classes}")
con.close()

# ---- 3. containers a running worker removes ----
worker = subprocess.Popen([SEGARENA, "worker", "--sweep", "1", "--data-dir", DATA],
                          stderr=subprocess.PIPE, text=True, env=ENV)
time.sleep(1.5)  # past its start-up sweep
limit_run = rescore()
con = db()
cancelled_run = con.execute("INSERT INTO runs (submission_id, phase_id, kind, status, parent_run_id, "
                            "config_json, created, finished) VALUES (?, 1, 'rescore', 'cancelled', ?, ?, ?, ?)",
                            (sub, parent, spec_json, now, now)).lastrowid
con.execute("INSERT INTO jobs (run_id, case_id, status, attempts, lease_owner, lease_expires) "
            "VALUES (?, ?, 'running', 3, 'gone', ?)", (cancelled_run, first, time.time() - 1))
con.execute("UPDATE jobs SET status = 'running', attempts = 8, lease_owner = 'gone', lease_expires = ? "
            "WHERE run_id = ? AND case_id = ?", (time.time() - 1, limit_run, first))
con.commit()
con.close()
names = [f"segarena-{instance}.{limit_run}.8-{first}", f"segarena-{instance}.{cancelled_run}.3-{first}"]
with open(PODMAN_PS, "w") as f:
    f.write("\n".join(names) + "\n")
# temporary load names: a killed load's (no lock file), a live load's (its lock held
# here), another data directory's, and a killed load's whose image an upload is
# loading now (its image lock held here: podman could delete the image under it)
dead_load = f"localhost/segarena/load-{instance}-{'d' * 24}"
live_load = f"localhost/segarena/load-{instance}-{'e' * 24}"
other_load = f"localhost/segarena/load-{'0' if instance[0] != '0' else '1'}{instance[1:]}-{'d' * 24}"
busy_load = f"localhost/segarena/load-{instance}-{'f' * 24}"
os.makedirs(DATA + "/locks", exist_ok=True)
live_lock = open(f"{DATA}/locks/load-{instance}-{'e' * 24}.lock", "w")
fcntl.flock(live_lock, fcntl.LOCK_EX)
busy_image_lock = open(f"{DATA}/locks/image-{hashlib.sha256(busy_load.encode()).hexdigest()[:32]}.lock", "w")
fcntl.flock(busy_image_lock, fcntl.LOCK_EX)
with open(PODMAN_IMAGES, "w") as f:
    f.write("".join(n + ":latest\n" for n in (dead_load, live_load, other_load, busy_load)))
deadline = time.time() + 30
removed = []
while time.time() < deadline:
    log = open(PODMAN_LOG).read() if os.path.exists(PODMAN_LOG) else ""
    removed = [n for n in names if f"rm -f -v {n}" in log]
    con = db()
    status = con.execute("SELECT status FROM runs WHERE id = ?", (limit_run,)).fetchone()[0]
    con.close()
    if len(removed) == 2 and status == "done" and f"image rm {dead_load}" in log:
        break
    time.sleep(0.2)
worker.terminate()
err = worker.communicate(timeout=60)[1]
live_lock.close()
busy_image_lock.close()
log = open(PODMAN_LOG).read()
check(removed == names, f"both leftover containers removed by the running worker: {removed}; {err}")
check(f"image rm {dead_load}" in log, "the killed load's temporary name removed by the worker's sweep")
check(f"image rm {live_load}" not in log and f"image rm {other_load}" not in log,
      "a live load's and another data directory's temporary names kept")
check(f"image inspect --format {{{{.Id}}}} {busy_load}" in log and f"image rm {busy_load}" not in log,
      "a killed load's name whose image an upload holds the lock of: kept for a later sweep")
check("claimed 9 times" in err, f"the claim limit was reached: {err}")

# ---- 4. another run's result that cannot be read does not keep a run from
# finishing: a case failing by the platform's fault (its rater mask gone) takes
# its field of view from the phase's other runs; one of those results is damaged
# (or stored under older metric definitions). The run stayed "running", the
# worker exiting 1 on "case result: consensus.nsd: missing". ----
con = db()
damaged = con.execute("SELECT result_json FROM case_results WHERE run_id = ? AND case_id = ?",
                      (clean, first)).fetchone()[0]
con.execute("UPDATE case_results SET result_json = ? WHERE run_id = ? AND case_id = ?",
            (damaged.replace('"nsd"', '"nsd_renamed"'), clean, first))
con.commit()
con.close()
rater = f"{DATA}/datasets/ms-demo/cases/{first}/raters/rater1.nii.gz"
os.chmod(os.path.dirname(rater), 0o755)
os.rename(rater, rater + ".away")
orphan_run = rescore()
rc, out, err = sa("worker", "--until-idle", "--retry-delays", "0.1")
os.rename(rater + ".away", rater)
con = db()
status = con.execute("SELECT status FROM runs WHERE id = ?", (orphan_run,)).fetchone()[0]
classes = dict(con.execute("SELECT case_id, error_class FROM case_results WHERE run_id = ?", (orphan_run,)))
con.close()
check(rc == 0 and status == "done", f"the run finishes beside another run's unreadable result: {status} {err}")
check(classes.get(first) == "engine_error: platform error", f"the case without its rater: {classes}")

if failures:
    print(f"test_worker_retries: {failures} failed", file=sys.stderr)
    sys.exit(1)
print("test_worker_retries: ok")
