#!/usr/bin/python3
"""End-to-end test of a whole challenge from the command line, with real podman:
demo MS and PET datasets, the example baseline images plus hostile ones, phases
with quotas and dates, concurrent workers, ranking with ties and failed cases,
the human reference, a rescore after a change of tau, and crash recovery
(kill -9 of a worker mid-run, then restart: the run finishes, every case stored
once, no container left, results equal to an uninterrupted run).

Usage: test_challenge_e2e.py SEGARENA EXAMPLES_DIR SANDBOX_PROG_C CC WORKDIR
Exit 77 (skipped) without rootful podman, skopeo or a static C toolchain with zlib.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, finish, sh  # noqa: E402

SEGARENA, EXAMPLES, PROG, CC, WORK = [os.path.abspath(a) if i != 3 else a
                                      for i, a in enumerate(sys.argv[1:6])]

if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
    print("SKIP: needs rootful podman and skopeo (the project's set-up installs them)")
    sys.exit(77)

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
probe = os.path.join(WORK, "probe.c")
with open(probe, "w") as f:
    f.write("#include <zlib.h>\nint main(void){return zlibVersion()[0]=='\\0';}\n")
if sh(CC, "-static", "-O2", probe, "-o", os.path.join(WORK, "probe"), "-lz").returncode != 0:
    print("SKIP: no static C toolchain with zlib (libz.a)")
    sys.exit(77)

DATA = os.path.join(WORK, "data")
TAG = f"localhost/segarena-e2e-{os.getpid()}"


def seg(*args, ok=True):
    r = sh(SEGARENA, *args, "--data-dir", DATA)
    if ok and r.returncode != 0:
        print(f"segarena {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def must(r, what):
    check(r.returncode == 0, f"{what}: exit {r.returncode}: {r.stderr.strip()}")
    if r.returncode != 0:
        finish("challenge_e2e")
    return r


def podman_image(name, containerfile, files=()):
    d = os.path.join(WORK, "ctx-" + name)
    os.makedirs(d)
    for src in files:
        shutil.copy(src, d)
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write(containerfile)
    ref = f"{TAG}-{name}:1"
    r = sh("podman", "build", "-q", "-t", ref, d, cwd=d)
    archive = os.path.join(WORK, f"{name}.tar")
    s = sh("podman", "save", "--format", "docker-archive", "-o", archive, ref, cwd=d)
    sh("podman", "rmi", "-f", ref)
    if r.returncode or s.returncode:
        print("FAILED: image", name, r.stderr, s.stderr)
        sys.exit(1)
    return archive


# ---- images: the two baselines, a copy of the MS one with another digest (a tie),
# and hostile ones (exit 3, hang past the wall time) ----
images = os.path.join(WORK, "images")
r = sh("sh", os.path.join(EXAMPLES, "contestants", "build.sh"), images)
if r.returncode != 0:
    print("FAILED: build.sh:", r.stdout, r.stderr)
    sys.exit(1)
ms_tar = os.path.join(images, "ms_flair_threshold.tar")
pet_tar = os.path.join(images, "pet_suvmax40.tar")
loaded = sh("podman", "load", "-q", "-i", ms_tar).stdout.strip().split()[-1]
ms_twin_tar = podman_image("ms-twin", f"FROM {loaded}\nLABEL org.segarena.test=twin\n")
sh("podman", "rmi", "-f", loaded)
prog = os.path.join(WORK, "prog")
if sh(CC, "-static", "-O2", PROG, "-o", prog).returncode != 0:
    print("SKIP: no static C toolchain")
    sys.exit(77)
exit3_tar = podman_image("exit3", 'FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT ["/prog", "exit3"]\n', [prog])
hang_tar = podman_image("hang", 'FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT ["/prog", "hang"]\n', [prog])
not_a_tar = os.path.join(WORK, "not-a-tar.tar")
with open(not_a_tar, "w") as f:
    f.write("this is not an image archive\n")

# ---- datasets ----
for kind, n, extra in (("ms", "4", ["--size", "64x64x40"]), ("pet", "2", [])):
    out = os.path.join(WORK, f"{kind}-bids")
    must(sh(SEGARENA, "dataset", "make-demo", "--kind", kind, "--cases", n, "--seed", "7", *extra,
            "--out", out), f"make-demo {kind}")
    must(seg("dataset", "import", out, "--name", f"{kind}-demo"), f"import {kind}")

must(seg("challenge", "create", "demo", "--title", "Demo challenge"), "challenge create")
for t in ("alpha", "beta", "gamma", "delta"):
    must(seg("team", "add", t), f"team add {t}")
r = seg("team", "add", "alpha", ok=False)
check(r.returncode == 2 and "alpha" in r.stderr, f"a team name is unique: {r.stderr}")


def phase_spec(name, **over):
    spec = {
        "schema": "segarena-phase/1", "name": name, "dataset": "ms-demo",
        "input_roles": ["flair", "t1", "t2", "dp", "t1gd"],
        "metrics": ["dice", "hd95", "nsd", "lesion_f1"],
        "ranking": {"rule": "mean_rank", "metrics": [{"name": "dice", "direction": "higher"},
                                                     {"name": "hd95", "direction": "lower"}]},
        "limits": {"wall_seconds": 10, "memory_mb": 512, "cpus": 1},
        "show_case_details": True, "show_logs": True,
        "bootstrap": {"resamples": 200, "seed": 7},
    }
    spec.update(over)
    path = os.path.join(WORK, f"{name}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


must(seg("phase", "create", "--challenge", "demo", "--spec",
         phase_spec("ms-val", quota={"submissions": 2, "days": 1})), "phase create ms-val")
r = seg("phase", "create", "--challenge", "demo", "--spec",
        phase_spec("bad", metrics=["dice", "nonsense"], input_roles=["flair", "pet"]), ok=False)
check(r.returncode == 2 and "nonsense" in r.stderr, f"a bad spec is refused with its problems: {r.stderr}")
r = seg("phase", "show", "demo/ms-val")
check(r.returncode == 0 and "unpublished" in r.stdout and "mean_rank" in r.stdout, f"phase show: {r.stdout}")


def submit(team, archive, phase="demo/ms-val"):
    return seg("submit", "--phase", phase, "--team", team, archive, ok=False)


# ---- submissions, quota (failed runs count, intake refusals do not), duplicates ----
r = submit("alpha", ms_tar)
check(r.returncode == 0 and "accepted" in r.stdout and "queued" in r.stdout, f"alpha submits: {r.stdout}{r.stderr}")
r = submit("beta", ms_tar)
check(r.returncode == 2 and "duplicate" in r.stderr, f"the same image twice in a phase is refused: {r.stderr}")
r = submit("beta", ms_twin_tar)
check(r.returncode == 0, f"beta submits a twin of alpha's image: {r.stderr}")
r = submit("gamma", exit3_tar)
check(r.returncode == 0, f"gamma submits a failing image: {r.stderr}")
r = submit("gamma", hang_tar)
check(r.returncode == 0, f"gamma submits a hanging image: {r.stderr}")
r = submit("gamma", pet_tar)
check(r.returncode == 2 and "quota" in r.stderr and "possible from" in r.stderr,
      f"gamma's third submission is over the quota (failed runs count): {r.stderr}")
for i in range(2):
    r = submit("delta", not_a_tar)
    check(r.returncode == 2 and "not-a-tar.tar" in r.stderr and "not_a_tar" in r.stderr,
          f"delta's upload is refused at intake: {r.stderr}")
r = submit("delta", pet_tar)
check(r.returncode == 0, f"intake refusals do not count against the quota: {r.stderr}")

# ---- two worker processes at once ----
workers = [subprocess.Popen([SEGARENA, "worker", "--until-idle", "--threads", "1", "--data-dir", DATA],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
logs = [w.communicate(timeout=600) for w in workers]
check(all(w.returncode == 0 for w in workers), f"workers ran: {[l[1][-500:] for l in logs]}")
db = sqlite3.connect(os.path.join(DATA, "segarena.db"))
jobs = db.execute("SELECT COUNT(*), SUM(attempts = 1), SUM(status = 'done') FROM jobs").fetchone()
results = db.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || '/' || case_id) FROM case_results").fetchone()
check(jobs[0] == 20 and jobs[1] == 20 and jobs[2] == 20, f"20 jobs, each claimed once and done: {jobs}")
check(results == (20, 20), f"20 case results, none twice: {results}")
classes = dict(db.execute("SELECT error_class, COUNT(*) FROM case_results GROUP BY error_class").fetchall())
check(classes.get("timeout") == 4 and classes.get("exit_code 3") == 4, f"hostile images classified: {classes}")
print("case classes:", classes)
# every result, failed ones too, keeps its case's field-of-view diagonal (of the
# scoring grid, rater 0's image), the one a scored result of that case carries in its JSON
fovs = db.execute("SELECT case_id, status, fov_diagonal_mm, result_json FROM case_results").fetchall()
per_case = {}
for case_id, status, fov, result in fovs:
    per_case.setdefault(case_id, set()).add(fov)
    if status == "succeeded":
        scored = json.loads(result)["case"]["fov_diagonal_mm"]
        check(fov is not None and fov == scored, f"{case_id}: fov {fov} vs {scored}")
check(all(None not in v and len(v) == 1 for v in per_case.values()),
      f"one recorded diagonal per case, failed cases included: {per_case}")

r = seg("results", "--phase", "demo/ms-val", "--json")
check(r.returncode == 0, f"results --json: {r.stderr}")
board = json.loads(r.stdout) if r.returncode == 0 else {"rows": [], "human_reference": []}
ranks = {row["team"]: row["rank"] for row in board["rows"]}
print("ranks:", ranks)
check(ranks.get("alpha") == 1 and ranks.get("beta") == 1, f"alpha and beta tie at rank 1: {ranks}")
check(ranks.get("gamma") == 3 and ranks.get("delta") == 3, f"the all-failed entries tie at 3: {ranks}")
check(len(board["rows"]) == 4, "one row per team")
gamma = next((row for row in board["rows"] if row["team"] == "gamma"), None)
if gamma:
    check(gamma["metrics"]["dice"]["mean"] == 0 and gamma["n_failed"] == 4,
          f"gamma's latest entry (the hanging image) failed every case: Dice 0: {gamma}")
check(len(board.get("human_reference", [])) == 7, "seven human-reference rows")
alpha = next((row for row in board["rows"] if row["team"] == "alpha"), None)
r = seg("results", "--phase", "demo/ms-val")
check(r.returncode == 0 and "alpha" in r.stdout and "rater" in r.stdout and "mean_rank" in r.stdout,
      f"results table: {r.stdout}")
r = seg("results", "--phase", "demo/ms-val", "--cases", "--csv")
check(r.returncode == 0 and len(r.stdout.splitlines()) >= 1 + 4 * 4, f"per-case CSV: {r.stdout[:300]}")

# ---- rescore after a change of tau: the old run is kept, NSD grows, Dice stays ----
must(seg("phase", "update", "demo/ms-val", "--spec",
         phase_spec("ms-val", quota={"submissions": 2, "days": 1}, tau_mm=3.0)), "phase update (tau 3)")
# what the runs saw cannot change under them: a split naming the same cases may be
# set, other input roles are refused (the board would mix outputs made from other inputs)
must(seg("phase", "update", "demo/ms-val", "--spec",
         phase_spec("ms-val", quota={"submissions": 2, "days": 1}, tau_mm=3.0, split="test")),
     "phase update (a split of the same cases)")
r = seg("phase", "update", "demo/ms-val", "--spec",
        phase_spec("ms-val", quota={"submissions": 2, "days": 1}, tau_mm=3.0,
                   input_roles=["flair", "t1"]), ok=False)
check(r.returncode == 2 and "input_roles: the phase has runs" in r.stderr
      and "create a new phase" in r.stderr and r.stderr.count("\n") == 1,
      f"other input roles refused once runs exist: {r.stderr!r}")
r = seg("phase", "show", "demo/ms-val", "--json")
check(r.returncode == 0 and json.loads(r.stdout).get("input_roles") == ["flair", "t1", "t2", "dp", "t1gd"],
      f"the refused update changed nothing: {r.stdout[:200]}")
runs_before = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
must(seg("run", "rescore", "--phase", "demo/ms-val"), "run rescore --phase")
must(seg("worker", "--until-idle", "--threads", "2"), "worker for the rescore")
runs_after = db.execute("SELECT COUNT(*), SUM(kind = 'rescore'), SUM(status = 'done') FROM runs").fetchone()
check(runs_after[0] == runs_before + 5 and runs_after[1] == 5 and runs_after[2] == runs_after[0],
      f"one rescore run per submission, all done, the old runs kept: {runs_after}")
containers_started = db.execute("SELECT SUM(container_seconds) FROM case_results c JOIN runs r "
                                "ON r.id = c.run_id WHERE r.kind = 'rescore'").fetchone()[0]
check(containers_started == 0, f"a rescore runs no container: {containers_started} s")
r = seg("results", "--phase", "demo/ms-val", "--json")
board2 = json.loads(r.stdout) if r.returncode == 0 else {"rows": []}
alpha2 = next((row for row in board2["rows"] if row["team"] == "alpha"), None)
if alpha and alpha2:
    check(alpha2["metrics"]["dice"]["mean"] == alpha["metrics"]["dice"]["mean"], "Dice unchanged by tau")
    check(alpha2["metrics"]["nsd"]["mean"] >= alpha["metrics"]["nsd"]["mean"] and
          alpha2["run_id"] != alpha["run_id"],
          f"NSD at tau 3 >= NSD at tau 1 ({alpha2['metrics']['nsd']['mean']} vs {alpha['metrics']['nsd']['mean']})")
old = db.execute("SELECT COUNT(*) FROM case_results WHERE run_id = ?", (alpha["run_id"],)).fetchone()[0] if alpha else 0
check(old == 4, "the previous run's results are kept for comparison")

# ---- dates ----
must(seg("phase", "create", "--challenge", "demo", "--spec",
         phase_spec("ms-closed", closes="2020-01-01T00:00:00Z")), "phase create (closed)")
must(seg("phase", "create", "--challenge", "demo", "--spec",
         phase_spec("ms-future", opens="2999-01-01T00:00:00Z")), "phase create (future)")
r = submit("alpha", ms_tar, "demo/ms-closed")
check(r.returncode == 2 and "closed" in r.stderr, f"a closed phase refuses: {r.stderr}")
r = submit("alpha", ms_tar, "demo/ms-future")
check(r.returncode == 2 and "opens" in r.stderr, f"a phase not yet open refuses: {r.stderr}")

# ---- crash recovery: kill -9 a worker mid-run, restart ----
must(seg("phase", "create", "--challenge", "demo", "--spec", phase_spec("ms-crash")), "phase create ms-crash")
r = must(submit("alpha", ms_tar, "demo/ms-crash"), "submit for the crash test")
crash_run = int(r.stdout.split("run ")[1].split()[0])
# container names and scratch folders hold "<instance>.<run>.<attempt>-<case>"
of_crash_run = re.compile(rf"\.{crash_run}\.\d+-").search
# the whole worker process (two threads) is killed while a container of the run runs
w = subprocess.Popen([SEGARENA, "worker", "--threads", "2", "--data-dir", DATA],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 120
running_container = False
while time.time() < deadline:  # a case's /output tmpfs is mounted while its container runs
    done = db.execute("SELECT COUNT(*) FROM case_results WHERE run_id = ?", (crash_run,)).fetchone()[0]
    with open("/proc/mounts") as f:
        in_container = any(of_crash_run(line) for line in f)
    if done >= 1 and in_container:
        running_container = True
        break
    if done == 4:
        break
    time.sleep(0.005)
os.kill(w.pid, signal.SIGKILL)
w.wait()
check(running_container, "the worker was killed while a container of the run was running")
state = db.execute("SELECT status, COUNT(*) FROM jobs WHERE run_id = ? GROUP BY status", (crash_run,)).fetchall()
print("after kill -9:", state)
check(dict(state).get("done", 0) < 4, f"the worker was killed mid-run: {state}")
must(seg("worker", "--until-idle", "--threads", "2"), "restarted worker")
rows = db.execute("SELECT case_id, result_json FROM case_results WHERE run_id = ? ORDER BY case_id",
                  (crash_run,)).fetchall()
check(len(rows) == 4, f"every case stored once after the restart: {len(rows)}")
status = db.execute("SELECT status FROM runs WHERE id = ?", (crash_run,)).fetchone()[0]
check(status == "done", f"the crashed run finished: {status}")
left = sh("podman", "ps", "-a", "--filter", "label=segarena=1", "--format", "{{.Names}}").stdout.split()
check(not any(of_crash_run(n) for n in left), f"no container left behind: {left}")
with open("/proc/mounts") as f:
    mounts = [line.split()[1] for line in f if os.path.join(DATA, "scratch") in line]
check(not mounts, f"no output tmpfs left mounted: {mounts}")
case_folders = os.path.join(DATA, "runs", str(crash_run))
attempt_folders = {c: sorted(os.listdir(os.path.join(case_folders, c))) for c in os.listdir(case_folders)}
stored = dict(db.execute("SELECT case_id, attempts FROM case_results WHERE run_id = ?", (crash_run,)).fetchall())
check(len(attempt_folders) == 4 and all(f == [str(stored.get(c))] for c, f in attempt_folders.items()),
      f"one folder a case, the stored attempt's: {attempt_folders} {stored}")
check(not [d for d in os.listdir(os.path.join(DATA, "scratch")) if of_crash_run(d)],
      "no work folder of the run left in scratch/")

# ---- a submission recorded but never queued (the process died in between) is
# queued when a worker starts ----
must(seg("phase", "create", "--challenge", "demo", "--spec", phase_spec("ms-lost")), "phase create ms-lost")
r = must(submit("beta", ms_twin_tar, "demo/ms-lost"), "submit for the lost-run test")
lost_run = int(r.stdout.split("run ")[1].split()[0])
db.execute("DELETE FROM jobs WHERE run_id = ?", (lost_run,))
db.execute("DELETE FROM runs WHERE id = ?", (lost_run,))
db.commit()
must(seg("worker", "--until-idle", "--threads", "2"), "worker after a lost run")
requeued = db.execute("SELECT r.status, COUNT(c.case_id) FROM runs r JOIN submissions s ON s.id = r.submission_id "
                      "JOIN phases p ON p.id = s.phase_id LEFT JOIN case_results c ON c.run_id = r.id "
                      "WHERE p.name = 'ms-lost' GROUP BY r.id").fetchall()
check(requeued == [("done", 4)], f"the forgotten run was queued and done: {requeued}")

# ---- a case claimed too often (its workers kept dying) is stored as failed ----
r = must(seg("run", "rerun", str(crash_run)), "a rerun whose first case will have been claimed 8 times")
loop_run = int(r.stdout.split("run ")[1].split()[0])
db.execute("UPDATE jobs SET attempts = 8 WHERE run_id = ? AND case_id = "
           "(SELECT MIN(case_id) FROM jobs WHERE run_id = ?)", (loop_run, loop_run))
db.commit()
must(seg("worker", "--until-idle", "--threads", "2"), "worker for the claim-limit run")
looped = db.execute("SELECT error_class, detail, attempts FROM case_results WHERE run_id = ? AND status = 'failed'",
                    (loop_run,)).fetchall()
status = db.execute("SELECT status FROM runs WHERE id = ?", (loop_run,)).fetchone()[0]
check(len(looped) == 1 and looped[0][0] == "engine_error: platform error" and "claimed 9 times" in looped[0][1]
      and status == "done", f"a case past the claim limit is stored as failed, the run ends: {looped} {status}")

r = must(seg("run", "rerun", str(crash_run)), "rerun of the crashed run")
rerun = int(r.stdout.split("run ")[1].split()[0])
must(seg("worker", "--until-idle", "--threads", "2"), "worker for the rerun")
again = db.execute("SELECT case_id, result_json FROM case_results WHERE run_id = ? ORDER BY case_id",
                   (rerun,)).fetchall()
same = len(again) == 4 and all(json.loads(a[1])["consensus"] == json.loads(b[1])["consensus"]
                               for a, b in zip(rows, again))
check(same, "the crashed-and-resumed run's scores equal an uninterrupted run's")

# ---- PET: score rule on pet_accuracy ----
must(seg("phase", "create", "--challenge", "demo", "--spec", phase_spec(
    "pet-test", dataset="pet-demo", input_roles=["pet"], metrics=["pet_accuracy", "dice", "hd95"],
    ranking={"rule": "score", "metrics": [{"name": "pet_accuracy"}]},
    show_case_details=False, show_logs=False)), "phase create pet-test")
must(submit("alpha", pet_tar, "demo/pet-test"), "PET submission")
must(submit("gamma", exit3_tar, "demo/pet-test"), "PET failing submission")
must(seg("worker", "--until-idle", "--threads", "2"), "worker for PET")
r = seg("results", "--phase", "demo/pet-test", "--json")
pet = json.loads(r.stdout) if r.returncode == 0 else {"rows": []}
pranks = {row["team"]: (row["rank"], row["metrics"]["pet_accuracy"]["mean"]) for row in pet["rows"]}
print("PET:", pranks)
check(pranks.get("alpha", (0, 0))[0] == 1 and pranks.get("gamma", (0, 1))[1] == 0,
      f"PET ranking by accuracy: {pranks}")

# ---- quota: a run ended by engine errors (the platform's fault) does not count ----
must(seg("phase", "create", "--challenge", "demo", "--spec",
         phase_spec("ms-quota", quota={"submissions": 1, "days": 1})), "phase create ms-quota")
r = must(submit("delta", exit3_tar, "demo/ms-quota"), "delta's first submission")
# the engine loses the image: every case ends with engine_error after its retries
lost = db.execute("SELECT image_name FROM submissions s JOIN phases p ON p.id = s.phase_id "
                  "WHERE p.name = 'ms-quota' AND s.status = 'ready'").fetchone()[0]
sh("podman", "rmi", "-f", lost)
must(seg("worker", "--until-idle", "--threads", "2", "--retry-delays", "0.2"),
     "worker for the engine-error run")
row = db.execute("SELECT s.quota_exempt, (SELECT COUNT(*) FROM case_results c JOIN runs r ON r.id = c.run_id "
                 "WHERE r.submission_id = s.id AND c.error_class LIKE 'engine_error%') FROM submissions s "
                 "JOIN phases p ON p.id = s.phase_id WHERE p.name = 'ms-quota'").fetchone()
check(row == (1, 4), f"every case an engine_error, the submission exempt from the quota: {row}")
r = submit("delta", pet_tar, "demo/ms-quota")
check(r.returncode == 0, f"the quota slot is still free after a platform failure: {r.stderr}")
must(seg("worker", "--until-idle", "--threads", "2"), "worker for the failing run")
r = submit("delta", hang_tar, "demo/ms-quota")
check(r.returncode == 2 and "quota" in r.stderr, f"a run whose container failed counts: {r.stderr}")

# ---- two uploads at once past a quota of 1: the one refused at the quota's
# second check (inside the recording transaction, after its image was loaded)
# leaves no image in the engine ----
must(seg("phase", "create", "--challenge", "demo", "--spec",
         phase_spec("ms-race", quota={"submissions": 1, "days": 1})), "phase create ms-race")
race_tars = [podman_image(f"race-{x}", f'FROM scratch\nCOPY prog /prog\nLABEL org.segarena.race={x}\n'
                          'USER 1000\nENTRYPOINT ["/prog", "exit3"]\n', [prog]) for x in "ab"]


def engine_name(archive):
    with tarfile.open(archive) as t:
        config = json.load(t.extractfile("manifest.json"))[0]["Config"]
    # each data directory has its own name of an image: sub-<instance>-<id>
    inst = db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
    return f"localhost/segarena/sub-{inst}-" + os.path.basename(config).split(".")[0].split(":")[-1][:32]


racers = [subprocess.Popen([SEGARENA, "submit", "--phase", "demo/ms-race", "--team", "alpha", tar,
                            "--data-dir", DATA], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for tar in race_tars]
outs = [p.communicate(timeout=300) for p in racers]
codes = sorted(p.returncode for p in racers)
# (an upload refused for another reason, say a load the engine failed, would be
# recorded as an invalid submission whose message also names the quota)
check(codes == [0, 2] and any("refused (quota): quota used" in e for _, e in outs),
      f"one of two racing uploads is over the quota: {codes} {outs}")
present = sh("podman", "images", "--format", "{{.Repository}}").stdout.split()
for p, tar in zip(racers, race_tars):
    name = engine_name(tar)
    if p.returncode == 0:
        check(name in present, f"the recorded racer's image {name} is in the engine")
    else:
        check(name not in present, f"the refused racer's image {name} was removed: {present}")
        sh("podman", "rmi", "-f", name)

# ---- a name of this data directory that no row names (an upload killed between
# the tag and its row): the worker's sweep untags it; the image keeps the name a
# row has; another data directory's name is not touched ----
recorded = [engine_name(t) for p, t in zip(racers, race_tars) if p.returncode == 0]
orphan = engine_name(race_tars[0]).rsplit("-", 1)[0] + "-" + "0123456789abcdef" * 2
foreign = "localhost/segarena/sub-00000000-" + "0123456789abcdef" * 2
for extra in (orphan, foreign):
    sh("podman", "tag", recorded[0] if recorded else "?", extra)

# ---- a submission recorded before schema 5 (no run user): its run works the
# numeric uid:gid out again from the kept archive and runs it as that user ----
db.execute("UPDATE submissions SET run_user = '' WHERE phase_id = (SELECT id FROM phases WHERE name = 'ms-race')")
db.commit()
must(seg("worker", "--until-idle", "--threads", "2", "--retry-delays", "0.2"), "worker for the ms-race run")
listing = sh("podman", "images", "--format", "{{.Repository}}")
present = listing.stdout.split()
check(orphan not in present and foreign in present and all(n in present for n in recorded),
      f"the sweep untagged this data directory's name no row names, only: {present} "
      f"(recorded {recorded}; podman images: {listing.returncode} {listing.stderr})")
sh("podman", "rmi", foreign)
row = db.execute("SELECT s.run_user, (SELECT group_concat(DISTINCT c.error_class) FROM case_results c "
                 "JOIN runs r ON r.id = c.run_id WHERE r.submission_id = s.id) FROM submissions s "
                 "JOIN phases p ON p.id = s.phase_id WHERE p.name = 'ms-race' AND s.status = 'ready'").fetchall()
check(row == [("1000:1000", "exit_code 3")],
      f"a submission without a run user: recovered from its archive, the container ran: {row}")

# ---- the engine failing after it copied an upload (podman tag fails every
# try): the host's trouble, not the image's: exit 1, nothing recorded, the
# archive not kept, no name left ----
must(seg("phase", "create", "--challenge", "demo", "--spec", phase_spec("ms-engine")),
     "phase create ms-engine")
failing_bin = os.path.join(WORK, "failing-podman")
os.makedirs(failing_bin)
with open(os.path.join(failing_bin, "podman"), "w") as f:
    f.write(f'#!/bin/sh\n[ "$1" = tag ] && {{ echo "Error: layer not known" >&2; exit 125; }}\n'
            f'exec "{shutil.which("podman")}" "$@"\n')
os.chmod(os.path.join(failing_bin, "podman"), 0o755)
engine_tar = podman_image("engine", 'FROM scratch\nCOPY prog /prog\nLABEL org.segarena.engine=1\n'
                          'USER 1000\nENTRYPOINT ["/prog", "exit3"]\n', [prog])
kept_before = sorted(os.listdir(os.path.join(DATA, "uploads")))
r = subprocess.run([SEGARENA, "submit", "--phase", "demo/ms-engine", "--team", "beta", engine_tar,
                    "--data-dir", DATA], capture_output=True, text=True, timeout=300,
                   env=dict(os.environ, PATH=failing_bin + ":" + os.environ["PATH"]))
check(r.returncode == 1 and r.stderr.count("\n") == 1 and "not loaded" in r.stderr
      and "the engine failed after copying the image (podman tag exit 125)" in r.stderr
      and "each of 3 tries" in r.stderr, f"an engine failure after the copy: {r.returncode} {r.stderr}")
n = db.execute("SELECT COUNT(*) FROM submissions s JOIN phases p ON p.id = s.phase_id "
               "WHERE p.name = 'ms-engine'").fetchone()[0]
check(n == 0, f"nothing recorded when the engine failed: {n} submission(s)")
check(sorted(os.listdir(os.path.join(DATA, "uploads"))) == kept_before, "the archive was not kept")
names = sh("podman", "images", "--format", "{{.Repository}}").stdout.split()
instance = db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
check(not any(f"segarena/load-{instance}-" in x or x == engine_name(engine_tar) for x in names),
      f"no name left by the failed load: {names}")
r = submit("beta", engine_tar, "demo/ms-engine")
check(r.returncode == 0, f"the same upload, the engine well again, is accepted: {r.stderr}")

# ---- publishing ----
must(seg("phase", "publish", "demo/ms-val"), "publish")
r = seg("phase", "list")
check("demo/ms-val\n" in r.stdout and "demo/ms-crash  [unpublished]" in r.stdout, f"phase list: {r.stdout}")
r = seg("run", "status", str(crash_run))
check(r.returncode == 0 and "4/4 cases done" in r.stdout, f"run status: {r.stdout}")

loaded_images = [n for (n,) in db.execute("SELECT DISTINCT image_name FROM submissions WHERE status = 'ready'")]
db.close()
if loaded_images:
    sh("podman", "rmi", "-f", *loaded_images)
finish("challenge_e2e")
