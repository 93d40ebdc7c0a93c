#!/usr/bin/python3
"""SegArena's browser test (issue 7): the leaderboard in real headless Chromium.

Debian's /usr/bin/chromium driven by playwright-core (npm, pinned in
package-lock.json) from a plain Node script, leaderboard.spec.mjs. This script:

 1. checks for /usr/bin/chromium, node, npm, rootful podman, skopeo and a static C
    toolchain (examples/contestants/build.sh); without one it exits 77 (ctest: skipped)
    and says which;
 2. installs playwright-core with `npm ci` into WORKDIR (package*.json copied there;
    skipped when the pinned version is installed already, so that a re-run works
    offline);
 3. builds the example images and prepares a data directory with the command line:
    the demo MS set (2 cases, 64x64x40), a challenge, a published phase with
    show_case_details, three teams, two evaluated entries (team "baseline": the MS
    baseline, relabelled so that its digest differs from the image uploaded below;
    team "weak": the PET baseline, which fails every MS case), and a challenger
    "alice" of team "lab-a" with a password;
 4. starts `segarena serve --port 0 --port-file F --workers 1` and runs the spec:
    leaderboard ranks and plots, a screenshot, login form, upload form, the
    submission and run pages until the run is done, the new row, a screenshot.

The screenshots stay in WORKDIR/artefacts (their paths are printed). Output is
ASCII only and ends with "browser: N passed, M failed"; exit 0, 1 or 77.

Usage: run_browser_test.py SEGARENA EXAMPLES_DIR WORKDIR
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = "/usr/bin/chromium"
SEGARENA, EXAMPLES, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
DATA = os.path.join(WORK, "data")
ARTEFACTS = os.path.join(WORK, "artefacts")
CHALLENGE, PHASE = "browser-demo", "validation"
ALICE_PASSWORD = "alice-browser-pw"
TAG = f"localhost/segarena-browser-{os.getpid()}"

counts = {"passed": 0, "failed": 0}


def ascii_only(text):
    return "".join(c if (" " <= c <= "~") or c in "\n\t" else "?" for c in str(text))


def say(*parts):
    print(ascii_only(" ".join(str(p) for p in parts)), flush=True)


def check(cond, what):
    counts["passed" if cond else "failed"] += 1
    say(("ok: " if cond else "FAILED: ") + what)
    return cond


def finish(code=None):
    say(f"browser: {counts['passed']} passed, {counts['failed']} failed")
    if code is None:
        code = 1 if counts["failed"] or not counts["passed"] else 0
    sys.exit(code)


def skip(reason):
    say(f"SKIP: {reason}")
    sys.exit(77)


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def remove_loaded_images():
    """The images that intake loaded for this data directory's submissions."""
    try:
        db = sqlite3.connect(f"file:{os.path.join(DATA, 'segarena.db')}?mode=ro", uri=True)
        names = [n for (n,) in db.execute(
            "SELECT DISTINCT image_name FROM submissions WHERE status = 'ready'")]
        db.close()
    except sqlite3.Error:
        names = []
    if names:
        sh("podman", "rmi", "-f", *names)


def must(r, what):
    if not check(r.returncode == 0, what):
        say(f"  exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        remove_loaded_images()
        finish()
    return r


def seg(*args, stdin=None):
    return sh(SEGARENA, *args, "--data-dir", DATA, input=stdin)


# ---- 1. what the test needs ----
if not os.access(CHROMIUM, os.X_OK):
    skip(f"no {CHROMIUM} (Debian package chromium: apt-get install chromium)")
for tool in ("node", "npm"):
    if not shutil.which(tool):
        skip(f"no {tool} on PATH (Node.js 18 or later and npm drive the browser)")
if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
    skip("needs rootful podman and skopeo (the upload is evaluated in a container)")
node_version = sh("node", "-p", "process.versions.node").stdout.strip()
if not node_version or int(node_version.split(".")[0]) < 18:
    skip(f"node {node_version or '?'} is too old (playwright-core needs 18 or later)")

# The data directory and screenshots of the last run are replaced; node_modules is kept.
for sub in ("data", "artefacts", "images", "ctx", "bids"):
    shutil.rmtree(os.path.join(WORK, sub), ignore_errors=True)
os.makedirs(ARTEFACTS)

# ---- 2. playwright-core into WORKDIR ----
lock_src = os.path.join(HERE, "package-lock.json")
with open(lock_src) as f:
    pinned = json.load(f)["packages"]["node_modules/playwright-core"]["version"]
installed = os.path.join(WORK, "node_modules", "playwright-core", "package.json")


def installed_version():
    try:
        with open(installed) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


same_lock = False
try:
    with open(lock_src) as a, open(os.path.join(WORK, "package-lock.json")) as b:
        same_lock = a.read() == b.read()
except OSError:
    pass
if not (same_lock and installed_version() == pinned):
    for name in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(HERE, name), os.path.join(WORK, name))
    r = sh("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1",
           "--fetch-timeout=20000", cwd=WORK)
    if r.returncode != 0:
        say(r.stdout[-1500:], r.stderr[-1500:])
        # npm's own code (ENOTFOUND, SELF_SIGNED_CERT_IN_CHAIN: a proxy that re-signs
        # TLS, whose CA npm must trust) in the one skip line CI shows
        why = [l.strip() for l in r.stderr.splitlines() if " code " in l or "reason:" in l][:2]
        skip("npm ci failed (" + ("; ".join(why) or "no access to the npm registry?") +
             "); playwright-core " + pinned + " is needed")
check(installed_version() == pinned, f"playwright-core {pinned} installed in {WORK}")
shutil.copy(os.path.join(HERE, "leaderboard.spec.mjs"), os.path.join(WORK, "leaderboard.spec.mjs"))

# ---- 3. images and the data directory ----
images = os.path.join(WORK, "images")
r = sh("sh", os.path.join(EXAMPLES, "contestants", "build.sh"), images)
if r.returncode != 0:
    say(r.stderr[-800:])
    skip("examples/contestants/build.sh failed (no static C toolchain with zlib?)")
ms_tar = os.path.join(images, "ms_flair_threshold.tar")
pet_tar = os.path.join(images, "pet_suvmax40.tar")

# Team baseline's copy of the MS baseline: another label, so another digest (the
# same image twice in a phase is refused), and alice can upload the example itself.
loaded = sh("podman", "load", "-q", "-i", ms_tar).stdout.strip().split()[-1]
ctx = os.path.join(WORK, "ctx")
os.makedirs(ctx)
with open(os.path.join(ctx, "Containerfile"), "w") as f:
    f.write(f"FROM {loaded}\nLABEL org.segarena.test=browser-baseline\n")
baseline_tar = os.path.join(images, "ms_baseline_copy.tar")
b = sh("podman", "build", "-q", "-t", f"{TAG}-copy:1", ctx)
s = sh("podman", "save", "-q", "--format", "docker-archive", "-o", baseline_tar, f"{TAG}-copy:1")
sh("podman", "rmi", "-f", f"{TAG}-copy:1", loaded)
must(b if b.returncode else s, "a relabelled copy of the MS baseline image")

bids = os.path.join(WORK, "bids")
must(sh(SEGARENA, "dataset", "make-demo", "--kind", "ms", "--cases", "2", "--size", "64x64x40",
        "--seed", "11", "--out", bids), "make-demo ms (2 cases, 64x64x40)")
must(seg("dataset", "import", bids, "--name", "ms-demo"), "dataset import")
must(seg("challenge", "create", CHALLENGE, "--title", "Browser test challenge"), "challenge create")
spec = {
    "schema": "segarena-phase/1", "name": PHASE, "title": "MS lesions: validation",
    "dataset": "ms-demo", "split": "", "input_roles": ["flair", "t1", "t2", "dp", "t1gd"],
    "metrics": ["dice", "hd95", "lesion_f1"],
    "ranking": {"rule": "mean_rank", "metrics": [{"name": "dice", "direction": "higher"},
                                                 {"name": "hd95", "direction": "lower"},
                                                 {"name": "lesion_f1", "direction": "higher"}]},
    "limits": {"wall_seconds": 60, "memory_mb": 1024, "cpus": 1},
    "quota": {"submissions": 5, "days": 1},
    "show_case_details": True, "show_logs": True,
    "bootstrap": {"resamples": 100, "seed": 7},
}
spec_path = os.path.join(WORK, "phase.json")
with open(spec_path, "w") as f:
    json.dump(spec, f)
must(seg("phase", "create", "--challenge", CHALLENGE, "--spec", spec_path), "phase create")
for team in ("baseline", "weak", "lab-a"):
    must(seg("team", "add", team), f"team add {team}")
must(seg("submit", "--phase", f"{CHALLENGE}/{PHASE}", "--team", "baseline", baseline_tar),
     "submit the MS baseline for team baseline")
must(seg("submit", "--phase", f"{CHALLENGE}/{PHASE}", "--team", "weak", pet_tar),
     "submit the PET baseline (fails on MS) for team weak")
must(seg("worker", "--until-idle", "--threads", "2"), "worker --until-idle")
must(seg("phase", "publish", f"{CHALLENGE}/{PHASE}"), "phase publish")
must(seg("user", "add", "alice", "--role", "challenger", "--team", "lab-a", "--password-stdin",
         stdin=ALICE_PASSWORD + "\n"), "user add alice (challenger, team lab-a, password)")

# ---- 4. the server and the browser ----
port_file = os.path.join(WORK, "port")
if os.path.exists(port_file):
    os.unlink(port_file)
log = open(os.path.join(WORK, "serve.log"), "w")
server = subprocess.Popen([SEGARENA, "serve", "--data-dir", DATA, "--port", "0", "--port-file",
                           port_file, "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)


def stop_server():
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log.close()


def cleanup():
    stop_server()
    remove_loaded_images()


port = None
for _ in range(200):
    if server.poll() is not None:
        break
    try:
        with open(port_file) as f:
            port = int(f.read().strip())
        break
    except (OSError, ValueError):
        time.sleep(0.1)
if not check(port is not None, "segarena serve is listening (--port-file)"):
    cleanup()
    with open(os.path.join(WORK, "serve.log")) as f:
        say(f.read()[-2000:])
    finish()
base = f"http://127.0.0.1:{port}"
try:
    with urllib.request.urlopen(base + "/api/v1/health", timeout=10) as resp:
        check(resp.status == 200, "GET /api/v1/health")
except OSError as e:
    check(False, f"GET /api/v1/health: {e}")

env = dict(os.environ, SEGARENA_URL=base, SEGARENA_CHALLENGE=CHALLENGE, SEGARENA_PHASE=PHASE,
           SEGARENA_USER="alice", SEGARENA_PASSWORD=ALICE_PASSWORD, SEGARENA_TEAM="lab-a",
           SEGARENA_IMAGE=ms_tar, SEGARENA_ARTEFACTS=ARTEFACTS, SEGARENA_CHROMIUM=CHROMIUM,
           SEGARENA_RANKED_TEAMS="baseline,weak")
try:
    spec_run = subprocess.run(["node", os.path.join(WORK, "leaderboard.spec.mjs")], cwd=WORK, env=env,
                              capture_output=True, text=True, timeout=420)
    out = spec_run.stdout + spec_run.stderr
    rc = spec_run.returncode
except subprocess.TimeoutExpired as e:
    out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    rc = -1
    out += "\n(the spec ran past 420 s and was stopped)"
finally:
    cleanup()

spec_passed = spec_failed = 0
for line in out.splitlines():
    if line.startswith("spec: ") and " passed, " in line:
        words = line.split()
        spec_passed, spec_failed = int(words[1]), int(words[3])
    else:
        say(line)
counts["passed"] += spec_passed
counts["failed"] += spec_failed
if not check(rc == 0 and spec_passed > 0, f"leaderboard.spec.mjs exit {rc}"):
    with open(os.path.join(WORK, "serve.log")) as f:
        say("serve.log (tail):\n" + f.read()[-3000:])
for shot in sorted(os.listdir(ARTEFACTS)):
    say("artefact:", os.path.join(ARTEFACTS, shot))
finish()
