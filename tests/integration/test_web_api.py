#!/usr/bin/python3
"""Integration test of `segarena serve` (the HTTP server and JSON API): a data
directory made with the command line (demo MS set, challenge, two phases, teams,
users and API tokens), a server on a free port with no workers, then:

 - the permission matrix: public / challenger of team alpha / challenger of team
   beta / organiser x every endpoint -> the expected status codes (a table below);
 - published vs unpublished leaderboards (404 that reveals nothing), publishing
   through the API (a browser session: CSRF token required);
 - logins: wrong password x6 -> 429 with Retry-After; a good one -> a session
   cookie HttpOnly + SameSite; a session write without its CSRF token -> 403;
   a log-in from another site (Origin, Sec-Fetch-Site) -> 403; behind a trusted
   proxy (--trusted-proxy) the limits count the forwarded client, and failures
   on a name do not lock out its owner's address;
 - uploads: too large (declared, and chunked without a length) -> 413; a
   client that disconnects mid-upload; quota used -> 429 with Retry-After; a file
   that is not an image archive -> 201 with intake "invalid", the archive not
   kept (its sha256 and size in its row), the same bytes again recorded again;
   the image of another team's submission -> 409 without that submission's id;
   nothing ever left half-stored in uploads/;
 - injection strings in a team name and in titles stored as they are and
   rendered escaped; malformed JSON, huge headers, bodies and paths -> 4xx, and
   the server still answers;
 - the cached board: gzip'd for clients that take it (Vary), the same for a
   token, current on the very next request after another process finished a
   run, whole and the same for a burst of requests on a stale board;
 - a hidden phase published while it takes submissions: the owner team gets
   the run's aggregate rebuilt from a whitelist, failures by base class only
   (API and pages), never the stored classes ("exit_code 7");
 - health: the status for everyone, the job and run counts for organisers;
   /metrics (Prometheus text format) for organisers only; a run's queue
   position counts runs ahead, not another run's cases as each starts;
 - SIGTERM stops the server cleanly.

Evaluated results do not need containers here: a finished run of team alpha
(cases failed with a timeout) is written into the database as a worker would
leave it, so that boards have rows and the quota is used. Then, with rootful
podman, skopeo and a static C toolchain (else that part is skipped), the MS
baseline image (examples/contestants/build.sh) is uploaded to a server started
with one worker, and the run is watched until done through the API.

Usage: test_web_api.py SEGARENA EXAMPLES_DIR WORKDIR
"""
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import sys
import tarfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, finish, remove_loaded_images, sh  # noqa: E402
from web_fixture import EVIL, WebFixture  # noqa: E402

SEGARENA, EXAMPLES, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
web = WebFixture(SEGARENA, WORK, "web_api")
DATA, UPLOADS = web.data, web.uploads
seg, spec, upload_files = web.seg, web.spec, web.upload_files

# ---- the data directory ----
web.demo_challenge()
# val: per-case feedback, uploads of 1 MiB at most, one submission a day
seg("phase", "create", "--challenge", "demo", "--spec",
    spec("val", show_case_details=True, show_logs=True, max_upload_mb=1,
         quota={"submissions": 1, "days": 1}))
# test: hidden (no per-case anything for challengers), never published here
seg("phase", "create", "--challenge", "demo", "--spec", spec("test"))
seg("team", "add", "alpha")
seg("team", "add", "beta")
seg("user", "add", "org", "--role", "organiser", "--password-stdin", stdin="organiser-pass\n")
seg("user", "add", "alice", "--role", "challenger", "--team", "alpha")
seg("user", "add", "bob", "--role", "challenger", "--team", "beta")
seg("user", "add", "carol", "--role", "challenger", "--team", "beta", "--password-stdin",
    stdin="carol-password\n")
TOKENS = {who: seg("user", "token", who).strip() for who in ("org", "alice", "bob")}
check(all(t.startswith("sa_") for t in TOKENS.values()), f"tokens: {TOKENS}")

# ---- finished runs, as a worker leaves them (no containers needed) ----
db = web.db()
db.execute("INSERT INTO teams (name, created) VALUES (?, ?)", (EVIL, time.time()))
teams = dict(db.execute("SELECT name, id FROM teams"))
phases = {n: (i, s) for i, n, s in db.execute("SELECT id, name, spec_json FROM phases")}


def fixture_run(team, phase, digest):
    return web.fixture_run(db, teams[team], *phases[phase], digest)


SUB_VAL, RUN_VAL = fixture_run("alpha", "val", "sha256:" + "a" * 64)
SUB_TEST, RUN_TEST = fixture_run("alpha", "test", "sha256:" + "b" * 64)
# case logs that are not UTF-8 text (the whole log was dropped for one bad byte),
# and one whose stored path is absolute (never read)
os.makedirs(os.path.join(DATA, "runs", "fixture"), exist_ok=True)
with open(os.path.join(DATA, "runs", "fixture", "bad.log"), "wb") as f:
    f.write(b"hello \xff\xfe\x00 <end>\n")
_, RUN_BAD_LOG = web.fixture_run(db, teams["alpha"], *phases["val"], "sha256:" + "7" * 64,
                                 c1_log="runs/fixture/bad.log")
_, RUN_ABS_LOG = web.fixture_run(db, teams["alpha"], *phases["val"], "sha256:" + "6" * 64,
                                 c1_log=os.path.join(DATA, "runs", "fixture", "bad.log"))
fixture_run(EVIL, "val", "sha256:" + "c" * 64)


def hidden_run(team, digest, run_status, cases):
    """A submission of the hidden phase "test" with one run; cases: (case_id,
    job status, error class of a failed case or None). Returns the run id."""
    now = time.time()
    sub = db.execute(
        "INSERT INTO submissions (phase_id, team_id, status, image_digest, image_name, "
        "upload_sha256, upload_bytes, created) VALUES (?, ?, 'ready', ?, 'fixture', '', 0, ?)",
        (phases["test"][0], teams[team], digest, now)).lastrowid
    run = db.execute(
        "INSERT INTO runs (submission_id, phase_id, kind, status, config_json, created, started, "
        "finished) VALUES (?, ?, 'evaluate', ?, ?, ?, ?, ?)",
        (sub, phases["test"][0], run_status, phases["test"][1], now, now,
         now if run_status == "done" else 0)).lastrowid
    for case, job, error_class in cases:
        db.execute("INSERT INTO jobs (run_id, case_id, status, attempts, finished) VALUES (?, ?, ?, ?, ?)",
                   (run, case, job, 0 if job == "queued" else 1, now if job == "done" else 0))
        if job == "done":
            db.execute(
                "INSERT INTO case_results (run_id, case_id, status, error_class, container_seconds, "
                "platform_seconds, peak_memory_bytes, exit_code, detail, log_path, metric_version, "
                "dataset_checksum, image_digest, attempts, finished) VALUES (?, ?, 'failed', ?, 3, "
                "0.5, -1, ?, NULL, NULL, 1, '', ?, 1, ?)",
                (run, case, error_class, int(error_class.split()[1]) if error_class.startswith("exit_code")
                 else -1, digest, now))
    return run


# a hidden-phase run going on (one case done, one running) and one done whose
# cases exited with codes that could carry bits of the hidden inputs
RUN_LIVE = hidden_run("alpha", "sha256:" + "e" * 64, "running",
                      [("c1", "done", "exit_code 3"), ("c2", "running", None)])
RUN_EXIT = hidden_run("alpha", "sha256:" + "f" * 64, "done",
                      [("c1", "done", "exit_code 3"), ("c2", "done", "exit_code 7"),
                       ("c3", "done", "invalid_output: wrong geometry")])
# the aggregate the worker stores with a done run (sa_run_aggregate_json): its
# "failed" holds the full classes; "probe" stands for any field a later version
# might add (what a challenger gets of it is built from a whitelist); stored under
# the current aggregation rules (an older one is computed again when shown)
EXIT_AGGREGATE = {"cases": 3, "succeeded": 0,
                  "failed": {"exit_code 3": 1, "exit_code 7": 1, "invalid_output: wrong geometry": 1},
                  "cases_without_distance_cap": 0, "aggregation_version": 2,
                  "metrics": {m: {"mean": 0.25, "median": 0.25, "std": 0.125, "ci_lo": 0.125,
                                  "ci_hi": 0.5, "n": 3} for m in ("dice", "hd95")},
                  "metric_version": 1, "probe": "exit_code 9"}
db.execute("UPDATE runs SET aggregate_json = ? WHERE id = ?", (json.dumps(EXIT_AGGREGATE), RUN_EXIT))
# a refusal stored with bytes that are not UTF-8 (as versions before the
# intake escaped them could leave it)
SUB_BAD_UTF8 = db.execute(
    "INSERT INTO submissions (phase_id, team_id, status, intake_reason, image_digest, image_name, "
    "upload_sha256, upload_bytes, created) VALUES (?, ?, 'invalid', CAST(? AS TEXT), '', '', '', 0, ?)",
    (phases["test"][0], teams["alpha"],
     b"the upload: unsafe archive: member 'a\xff\xfe/../../x' leaves the image", time.time())).lastrowid
db.commit()
db.close()

# ---- the server ----
server, log = web.start_server(0, "serve.log")
PORT = web.port
banner = server.stdout.readline().strip()
check(banner == f"SegArena on http://127.0.0.1:{PORT}/", f"banner: {banner!r}")


def request(method, path, body=None, token=None, cookie=None, csrf=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if cookie:
        h["Cookie"] = cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    except (ConnectionError, http.client.HTTPException) as e:
        return 0, {}, str(e).encode()
    finally:
        c.close()


def status(method, path, who=None, **kw):
    kw.setdefault("token", TOKENS.get(who))
    return request(method, path, **kw)[0]


def get_json(path, who=None):
    s, _, body = request("GET", path, token=TOKENS.get(who))
    try:
        return s, json.loads(body)
    except ValueError:
        return s, None


def image_archive():
    """A docker-archive that intake's inspection accepts (one amd64 image, user
    1000, an entrypoint; no engine reads it here) and its config digest."""
    def tar_of(files):
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as tf:
            for name, data in files:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime = len(data), 0
                tf.addfile(ti, io.BytesIO(data))
        return bio.getvalue()
    layer = tar_of([("prog", b"\x7fELF not really\n")])
    layer_sha = hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"User": "1000", "Entrypoint": ["/prog"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_sha]}}).encode()
    config_sha = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": config_sha + ".json", "RepoTags": ["x/y:latest"],
                 "Layers": [layer_sha + "/layer.tar"]}]
    return tar_of([(layer_sha + "/layer.tar", layer), (config_sha + ".json", config),
                   ("manifest.json", json.dumps(manifest).encode())]), "sha256:" + config_sha


# ---- the permission matrix: (method, path) -> public, alice, bob, organiser ----
V = "/api/v1/phases/demo/val"
T = "/api/v1/phases/demo/test"
MATRIX = [
    ("GET", "/api/v1/health", 200, 200, 200, 200),            # counts: organisers only (below)
    ("GET", "/metrics", 401, 403, 403, 200),                   # job counts by status
    ("GET", "/api/v1/challenges", 200, 200, 200, 200),
    ("GET", "/api/v1/challenges/demo", 200, 200, 200, 200),
    ("GET", "/api/v1/challenges/demo/phases", 200, 200, 200, 200),
    ("GET", "/api/v1/challenges/nope", 404, 404, 404, 404),
    ("GET", V + "/leaderboard", 404, 404, 404, 200),          # unpublished: not revealed
    ("GET", T + "/leaderboard", 404, 404, 404, 200),
    ("GET", V + "/leaderboard?cases=1", 404, 404, 404, 200),
    ("POST", T + "/publish", 401, 404, 404, None),           # organiser: tried below
    # another team's submission or run: 404, as a missing one (not countable)
    ("GET", f"/api/v1/submissions/{SUB_VAL}", 401, 200, 404, 200),
    ("GET", f"/api/v1/submissions/{SUB_VAL}/cases", 401, 200, 404, 200),
    ("GET", f"/api/v1/submissions/{SUB_VAL}/cases?format=csv", 401, 200, 404, 200),
    ("GET", f"/api/v1/submissions/{SUB_TEST}", 401, 200, 404, 200),
    ("GET", f"/api/v1/submissions/{SUB_TEST}/cases", 401, 403, 404, 200),  # hidden phase
    ("GET", "/api/v1/submissions/999", 401, 404, 404, 404),
    ("GET", f"/api/v1/runs/{RUN_VAL}", 401, 200, 404, 200),
    ("GET", f"/api/v1/runs/{RUN_TEST}", 401, 200, 404, 200),
    ("GET", "/api/v1/runs/999", 401, 404, 404, 404),
    ("POST", f"/api/v1/runs/{RUN_VAL}/cancel", 401, 403, 404, 409),   # already done
    ("POST", f"/api/v1/submissions/{SUB_VAL}/runs", 401, 403, 404, 409),  # has a run
    ("GET", f"/submissions/{SUB_VAL}", 303, 200, 404, 200),
    ("GET", f"/runs/{RUN_VAL}", 303, 200, 404, 200),
    ("GET", "/api/v1/datasets", 401, 403, 403, 200),
    ("GET", "/api/v1/users", 401, 403, 403, 200),
    ("GET", "/api/v1/teams", 401, 403, 403, 200),
    ("POST", V + "/submissions?team=alpha", 401, 429, 403, 429),  # alpha's quota is used
    ("POST", V + "/submissions?team=beta", 401, 403, None, None),  # bob: below
    ("GET", "/", 200, 200, 200, 200),
    ("GET", "/challenges/demo/phases/test", 404, 200, 200, 200),  # challengers: upload only
    ("GET", "/api/v1/nope", 404, 404, 404, 404),
    ("GET", "/nope", 404, 404, 404, 404),
    ("DELETE", "/api/v1/challenges", 405, 405, 405, 405),
    ("GET", "/api/v1/submissions/abc", 404, 404, 404, 404),
    ("GET", "/api/v1/submissions/0", 404, 404, 404, 404),
    ("GET", "/api/v1/challenges/..%2f..", 404, 404, 404, 404),
]
for method, path, *expected in MATRIX:
    for who, want in zip((None, "alice", "bob", "org"), expected):
        if want is None:
            continue
        body = b"x" if method == "POST" else None
        got = status(method, path, who, body=body)
        check(got == want, f"{method} {path} as {who or 'public'}: {got}, expected {want}")

s, _, page = request("GET", "/challenges/demo/phases/test", token=TOKENS["alice"])
page = page.decode()
check(s == 200 and "not published yet" in page and 'class="board"' not in page and
      "rank stability" not in page,
      "an unpublished phase shows a challenger its upload form and no results")
check(status("GET", "/api/v1/challenges", token="sa_not-a-token") == 401, "a bad token: 401")
check(request("GET", "/api/v1/challenges", cookie="segarena_session=forged")[0] == 401,
      "a forged session: 401")

# ---- what each one sees ----
s, alpha_val = get_json(f"/api/v1/submissions/{SUB_VAL}", "alice")
run = alpha_val["runs"][-1] if s == 200 else {}
check(run.get("progress", {}).get("failed") == 2 and run.get("failed_by_class") == {"timeout": 2},
      f"own submission: progress and classes: {run}")
check(len(run.get("cases", [])) == 2 and all("log" in c for c in run["cases"]),
      f"val shows case details and logs to the owner: {run}")
check(all("detail" not in c for c in run.get("cases", [])), "the classifier's detail is the organisers'")
s, bad_log = get_json(f"/api/v1/runs/{RUN_BAD_LOG}", "alice")
logs = {c["case_id"]: c.get("log") for c in (bad_log or {}).get("cases", [])}
check(s == 200 and logs.get("c1") == "hello \ufffd\ufffd\ufffd <end>\n",
      f"a log's bytes that are not UTF-8 read as U+FFFD, the rest kept: {s} {logs}")
s, abs_log = get_json(f"/api/v1/runs/{RUN_ABS_LOG}", "alice")
logs = {c["case_id"]: c.get("log", "absent") for c in (abs_log or {}).get("cases", [])}
check(s == 200 and logs.get("c1") is None, f"an absolute log path is not read: {s} {logs}")
s, alpha_test = get_json(f"/api/v1/submissions/{SUB_TEST}", "alice")
run = alpha_test["runs"][-1] if s == 200 else {}
check(run.get("failed_by_class") == {"timeout": 2} and "cases" not in run and "aggregate" not in run,
      f"hidden phase: counts per class only for the owner: {run}")
s, org_test = get_json(f"/api/v1/submissions/{SUB_TEST}", "org")
check(s == 200 and len(org_test["runs"][-1].get("cases", [])) == 2, "the organiser sees every case")
check("detail" in org_test["runs"][-1]["cases"][0], "the organiser sees the classifier's detail")
s, h, csv = request("GET", f"/api/v1/submissions/{SUB_VAL}/cases?format=csv",
                    token=TOKENS["alice"])
check(s == 200 and h.get("Content-Type", "").startswith("text/csv") and
      csv.decode().splitlines()[0].startswith("case_id,status,class") and
      len(csv.decode().splitlines()) == 3, f"cases as CSV: {csv[:200]!r}")

# a hidden phase's run going on: the owner sees its status only (a count or a
# time moving as each case ends would tell each case's class and duration)
s, live = get_json(f"/api/v1/runs/{RUN_LIVE}", "alice")
check(s == 200 and live.get("status") == "running" and live.get("progress") is None and
      live.get("failed_by_class") is None, f"hidden phase, running: the status only: {live}")
s, live_org = get_json(f"/api/v1/runs/{RUN_LIVE}", "org")
check(s == 200 and (live_org.get("progress") or {}).get("done") == 1 and
      live_org.get("failed_by_class") == {"exit_code 3": 1},
      f"the organiser follows the run live, full classes: {live_org}")
s, _, page = request("GET", f"/runs/{RUN_LIVE}", token=TOKENS["alice"])
text = page.decode()
check(s == 200 and "exit_code" not in text and "1/2" not in text and
      "shown once the run is over" in text, f"hidden phase, running: the page shows the status only")
s, _, page = request("GET", f"/runs/{RUN_LIVE}", token=TOKENS["org"])
check(s == 200 and "exit_code 3: 1" in page.decode() and "1/2" in page.decode(),
      "the organiser's run page: live progress, full classes")
# done: the counts, classes cut to their base names (no exit code, no detail)
s, done = get_json(f"/api/v1/runs/{RUN_EXIT}", "alice")
check(s == 200 and done.get("failed_by_class") == {"exit_code": 2, "invalid_output": 1} and
      (done.get("progress") or {}).get("failed") == 3,
      f"hidden phase, done: failures per base class: {done}")
s, done_org = get_json(f"/api/v1/runs/{RUN_EXIT}", "org")
check(s == 200 and done_org.get("failed_by_class") ==
      {"exit_code 3": 1, "exit_code 7": 1, "invalid_output: wrong geometry": 1},
      f"the organiser sees the full classes: {done_org}")
s, _, page = request("GET", f"/runs/{RUN_EXIT}", token=TOKENS["alice"])
text = page.decode()
check(s == 200 and "exit_code: 2" in text and "invalid_output: 1" in text and
      "exit_code 3" not in text and "wrong geometry" not in text,
      "hidden phase, done: the page counts base classes")
s, _, page = request("GET", f"/submissions/{SUB_TEST + 0}", token=TOKENS["alice"])
check(s == 200, f"submission page of the hidden phase: {s}")

# text that is not UTF-8 in a stored row: served, with U+FFFD (never a 500)
s, bad = get_json(f"/api/v1/submissions/{SUB_BAD_UTF8}", "alice")
check(s == 200 and "a\ufffd\ufffd/../../x" in (bad or {}).get("intake_reason", ""),
      f"a stored reason that is not UTF-8: 200 with U+FFFD: {s} {bad}")
s, _, page = request("GET", f"/submissions/{SUB_BAD_UTF8}", token=TOKENS["alice"])
check(s == 200 and "a\ufffd\ufffd/../../x" in page.decode("utf-8", "backslashreplace"),
      f"... and its page, valid UTF-8: {s}")
s, _, body = request("POST", V + "/submissions?team=%ff", body=b"x", token=TOKENS["bob"])
check(s == 404 and json.loads(body)["error"]["status"] == 404,
      f"?team=%ff: 404 (the echo made valid UTF-8): {s} {body[:200]!r}")
# queue position: a challenger's run in a phase with case details, queued behind
# a hidden-phase run of another team: it counts the runs ahead, and does not move
# as a case of the hidden run starts (a count of queued cases would tell when)
db = web.db()
RUN_AHEAD = hidden_run("beta", "sha256:" + "9" * 64, "running", [("c1", "running", None),
                                                               ("c2", "queued", None)])
_, RUN_QUEUED = web.fixture_run(db, teams["alpha"], *phases["val"], "sha256:" + "8" * 64,
                                status="queued")
db.commit()
positions = []
for step in range(2):
    s, queued = get_json(f"/api/v1/runs/{RUN_QUEUED}", "alice")
    positions.append((queued.get("progress") or {}).get("queue_position"))
    s, _, page = request("GET", f"/runs/{RUN_QUEUED}", token=TOKENS["alice"])
    check(s == 200 and "2 earlier runs ahead" in page.decode(), f"run page: the runs ahead ({step})")
    db.execute("UPDATE jobs SET status = 'running' WHERE run_id = ? AND case_id = 'c2'", (RUN_AHEAD,))
    db.commit()
check(positions == [2, 2], f"queue_position counts runs ahead (the hidden one and RUN_LIVE), "
      f"unmoved as a hidden case starts: {positions}")
# an organiser's rescore refused (the run is not finished): 409 with the reason;
# a rerun the platform cannot make (the phase's dataset gone): 500, the path in
# the log only (it was 409 with "DATA/datasets/ms-demo: no dataset ...")
s, _, body = request("POST", f"/api/v1/runs/{RUN_QUEUED}/rescore", token=TOKENS["org"])
check(s == 409 and b"only a finished run can be rescored" in body, f"rescore of a queued run: {s} {body!r}")
ds_dir = os.path.join(DATA, "datasets", "ms-demo")
os.rename(ds_dir, ds_dir + ".away")
s, _, body = request("POST", f"/api/v1/runs/{RUN_VAL}/rerun", token=TOKENS["org"])
os.rename(ds_dir + ".away", ds_dir)
check(s == 500 and DATA.encode() not in body and b"ms-demo" not in body,
      f"a rerun without its dataset: 500, no server path: {s} {body!r}")
for r in (RUN_AHEAD, RUN_QUEUED):
    db.execute("UPDATE jobs SET status = 'cancelled' WHERE run_id = ? AND status != 'done'", (r,))
    db.execute("UPDATE runs SET status = 'cancelled', finished = ? WHERE id = ?", (time.time(), r))
db.commit()
db.close()
# the run going on is over (cancelled): no worker started later takes its case
db = web.db()
db.execute("UPDATE jobs SET status = 'cancelled' WHERE run_id = ? AND status != 'done'", (RUN_LIVE,))
db.execute("UPDATE runs SET status = 'cancelled', finished = ? WHERE id = ?", (time.time(), RUN_LIVE))
# a challenge and a team stored with bytes that are not UTF-8 (rows of older versions)
db.execute("INSERT INTO challenges (slug, title, description, created) VALUES "
           "('old', CAST(? AS TEXT), CAST(? AS TEXT), ?)", (b"Old \xff", b"d\xfe", time.time()))
db.execute("INSERT INTO teams (name, created) VALUES (CAST(? AS TEXT), ?)", (b"t\xff", time.time()))
db.commit()
db.close()
s, listed = get_json("/api/v1/challenges")
old = [c for c in (listed or {}).get("challenges", []) if c.get("slug") == "old"]
check(s == 200 and len(old) == 1 and old[0]["title"] == "Old \ufffd" and
      old[0]["description"] == "d\ufffd", f"a title that is not UTF-8 is listed with U+FFFD: {s} {listed}")
s, one = get_json("/api/v1/challenges/old")
check(s == 200 and one.get("title") == "Old \ufffd" and one.get("phases") == [],
      f"... and its challenge answered 200 with U+FFFD: {s} {one}")
s, team_list = get_json("/api/v1/teams", "org")
check(s == 200 and "t\ufffd" in [t["name"] for t in team_list.get("teams", [])],
      f"a team name that is not UTF-8 is listed with U+FFFD: {s} {team_list}")
s, phases_public = get_json("/api/v1/challenges/demo/phases")
check(s == 200 and phases_public["phases"] == [], f"unpublished phases are not listed: {phases_public}")
s, phases_org = get_json("/api/v1/challenges/demo/phases", "org")
check(s == 200 and len(phases_org["phases"]) == 2 and "dataset" in phases_org["phases"][0],
      "the organiser sees every phase, with its dataset")
s, users = get_json("/api/v1/users", "org")
check(s == 200 and {u["name"] for u in users["users"]} == {"org", "alice", "bob", "carol"} and
      all("password_hash" not in u for u in users["users"]), f"users: {users}")
s, ds = get_json("/api/v1/datasets", "org")
check(s == 200 and ds == {"datasets": [{"name": "ms-demo"}]}, f"datasets: {ds}")
# health: the status for everyone; the job and run counts (which move as each
# case of a hidden phase's run starts and ends) for organisers only
for who in (None, "alice"):
    s, health = get_json("/api/v1/health", who)
    check(s == 200 and health == {"status": "ok"}, f"health for {who or 'the public'}: {health}")
s, health = get_json("/api/v1/health", "org")
check(s == 200 and health.get("status") == "ok" and health.get("schema_version", 0) >= 3 and
      "queued_jobs" in health and "running_runs" in health, f"health for an organiser: {health}")
# docs/api.md shows the schema version the server answers
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "api.md")) as f:
    documented = re.findall(r'"schema_version": (\d+)', f.read())
check("schema_version" not in health or documented == [str(health["schema_version"])],
      f"docs/api.md's /api/v1/health shows schema_version {documented}, the server {health}")

# ---- logins, sessions, CSRF; publishing through a session ----
for i in range(5):
    s, _, _ = request("POST", "/api/v1/login", body=json.dumps({"name": "carol", "password": "nope"}))
    check(s == 401, f"wrong password {i + 1}: {s}")
s, h, body = request("POST", "/api/v1/login", body=json.dumps({"name": "carol", "password": "nope"}))
check(s == 429 and h.get("Retry-After", "0").isdigit() and int(h["Retry-After"]) >= 1,
      f"6th wrong password: {s} {h.get('Retry-After')}")
s, _, _ = request("POST", "/api/v1/login", body=json.dumps({"name": "carol", "password": "carol-password"}))
check(s == 429, f"rate limited: even the right password waits: {s}")

s, h, body = request("POST", "/api/v1/login", body=json.dumps({"name": "org", "password": "organiser-pass"}))
cookie_header = h.get("Set-Cookie", "")
check(s == 200 and "HttpOnly" in cookie_header and "SameSite=" in cookie_header,
      f"login: {s} {cookie_header}")
COOKIE = cookie_header.split(";")[0]
CSRF = json.loads(body).get("csrf_token") if s == 200 else None
check(request("GET", V + "/leaderboard", cookie=COOKIE)[0] == 200, "a session reads like a token")
check(request("POST", V + "/publish", cookie=COOKIE)[0] == 403, "session write without CSRF: 403")
check(request("POST", V + "/publish", cookie=COOKIE, csrf="wrong")[0] == 403, "wrong CSRF: 403")
check(request("POST", V + "/publish", cookie=COOKIE, csrf=CSRF)[0] == 200, "publish with CSRF")
# logging in again (with the session's cookie) ends that session
s, h, body = request("POST", "/api/v1/login", cookie=COOKIE,
                     body=json.dumps({"name": "org", "password": "organiser-pass"}))
OLD_COOKIE, COOKIE = COOKIE, h.get("Set-Cookie", "").split(";")[0]
CSRF = json.loads(body).get("csrf_token") if s == 200 else None
check(s == 200 and COOKIE != OLD_COOKIE, f"login again: {s}")
check(request("GET", "/api/v1/health", cookie=OLD_COOKIE)[0] == 401,
      "the session of the cookie sent with the login is over")
check(request("GET", V + "/leaderboard", cookie=COOKIE)[0] == 200, "the new session reads")
# a stale cookie does not block logging in or out (the public there, as on pages)
s, h, _ = request("POST", "/api/v1/logout", cookie=OLD_COOKIE)
check(s == 200 and "Max-Age=0" in h.get("Set-Cookie", ""), f"logout with a stale cookie: {s} {h}")
s, h, body = request("POST", "/api/v1/login", cookie="segarena_session=" + "A" * 43,
                     body=json.dumps({"name": "org", "password": "organiser-pass"}))
check(s == 200 and "Max-Age=43200" in h.get("Set-Cookie", ""), f"login with a stale cookie: {s} {body!r}")
check(status("POST", "/api/v1/logout", token="sa_not-a-token") == 401, "a bad token is still a 401")

# published now: the public sees the board (aggregates, no per-case values)
s, board = get_json(V + "/leaderboard")
check(s == 200 and board.get("published") is True and len(board.get("rows", [])) == 2,
      f"published board: {s} {str(board)[:300]}")
check("case_ids" not in board and all("cases" not in r for r in board.get("rows", [])),
      "the public board has no per-case values")
check(status("GET", V + "/leaderboard?cases=1") == 401, "export: the public 401")
check(status("GET", V + "/leaderboard?cases=1", "alice") == 403, "export: a challenger 403")
s, full = get_json(V + "/leaderboard?cases=1", "org")
check(s == 200 and "case_ids" in full, "export: the organiser gets per-case values")
s, listed = get_json("/api/v1/challenges/demo/phases")
check(s == 200 and [p["name"] for p in listed["phases"]] == ["val"] and
      "dataset" not in listed["phases"][0], f"published phase listed for the public: {listed}")
check(status("POST", V + "/publish", "alice", body=b"") == 403, "a challenger cannot publish")

# pages: escaped
s, h, page = request("GET", "/challenges/demo/phases/val")
text = page.decode("utf-8", "replace")
check(s == 200 and h.get("Content-Type", "").startswith("text/html"), f"leaderboard page: {s}")
check("<script>" not in text and "&lt;script&gt;" in text, "team name and titles escaped in the page")
check("OR 1=1" in text, "the injection string is shown, as text")
s, h, page = request("GET", "/")
text = page.decode("utf-8", "replace")
check(s == 200 and "<script>" not in text and "&lt;script&gt;" in text, "index page escaped")
check("Content-Security-Policy" in h, "pages carry a Content-Security-Policy")

# unpublish through a token (no CSRF for tokens), then the public loses it again
check(status("POST", V + "/unpublish", "org", body=b"") == 200, "unpublish with a token")
check(status("GET", V + "/leaderboard") == 404, "unpublished again: 404")
check(request("GET", "/challenges/demo/phases/val")[0] == 404, "unpublished page: 404")
check(status("POST", V + "/publish", "org", body=b"") == 200, "published again")

# ---- the cached board: shared, gzip'd for clients that take it, current ----
s, h, plain_page = request("GET", "/challenges/demo/phases/val")
s2, h2, gz_page = request("GET", "/challenges/demo/phases/val", headers={"Accept-Encoding": "gzip"})
check(s == 200 and "Content-Encoding" not in h and h.get("Vary") == "Accept-Encoding, Cookie",
      f"page without Accept-Encoding: plain, Vary set (encoding and cookie): {s} {h}")
check(h.get("Cache-Control") == "no-store", "pages are not kept by browsers or proxies (no-store)")
check(s2 == 200 and h2.get("Content-Encoding") == "gzip" and gzip.decompress(gz_page) == plain_page,
      f"page with Accept-Encoding gzip: the same page gzip'd ({s2}, {h2.get('Content-Encoding')})")
s, h, plain_board = request("GET", V + "/leaderboard")
check(plain_board.startswith(b'{"') and b"\n" not in plain_board,
      f"the board JSON is compact, as every JSON answer: {plain_board[:120]!r}")
s2, h2, gz_board = request("GET", V + "/leaderboard", headers={"Accept-Encoding": "br, gzip;q=0.5"})
check(s2 == 200 and h2.get("Content-Encoding") == "gzip" and gzip.decompress(gz_board) == plain_board,
      "board JSON gzip'd for a client that takes gzip among others")
s2, h2, body = request("GET", V + "/leaderboard", headers={"Accept-Encoding": "gzip;q=0, deflate"})
check(s2 == 200 and "Content-Encoding" not in h2 and body == plain_board, "gzip;q=0: plain")
s2, h2, body = request("GET", V + "/leaderboard", token=TOKENS["org"],
                       headers={"Accept-Encoding": "gzip"})
check(s2 == 200 and json.loads(gzip.decompress(body) if h2.get("Content-Encoding") == "gzip"
                                else body) == json.loads(plain_board),
      "the organiser reads the same cached board")
s2, h2, body = request("HEAD", "/challenges/demo/phases/val")
check(s2 == 200 and body == b"", f"HEAD of the page: {s2}, {len(body)} bytes")
# a run finished by another process (a separate `segarena worker`): the very
# next request shows it, although nothing in the server changed
db = web.db()
gamma = db.execute("INSERT INTO teams (name, created) VALUES ('gamma', ?)", (time.time(),)).lastrowid
web.fixture_run(db, gamma, *phases["val"], "sha256:" + "d" * 64)
db.commit()
db.close()
s, board = get_json(V + "/leaderboard")
check(s == 200 and len(board.get("rows", [])) == 3,
      f"a run done by another process is on the next board: {len(board.get('rows', []))} rows")
# a burst of requests on a stale board: every answer whole and the same
check(status("POST", V + "/unpublish", "org", body=b"") == 200 and
      status("POST", V + "/publish", "org", body=b"") == 200, "re-published (board stale)")
burst = []


def burst_get(path):
    burst.append(request("GET", path))


threads = [threading.Thread(target=burst_get, args=(p,))
           for p in ["/challenges/demo/phases/val", V + "/leaderboard"] * 6]
for t in threads:
    t.start()
for t in threads:
    t.join()
pages = {b for st_, _, b in burst if st_ == 200 and b.startswith(b"<!DOCTYPE")}
boards = {b for st_, _, b in burst if st_ == 200 and b.startswith(b"{")}
check(len(burst) == 12 and all(st_ == 200 for st_, _, _ in burst) and len(pages) == 1 and
      len(boards) == 1, f"a burst on a stale board: {[st_ for st_, _, _ in burst]}, "
      f"{len(pages)} page(s), {len(boards)} board(s)")
# logout ends the session
check(request("POST", "/api/v1/logout", cookie=COOKIE, csrf=CSRF)[0] == 200, "logout")
check(request("GET", "/api/v1/health", cookie=COOKIE)[0] == 401, "the session is gone after logout")

# ---- uploads ----
before = upload_files()
big = b"\0" * (1024 * 1024 + 1)


def raw(request_bytes, then=None, read=True, timeout=30):
    """Sends raw bytes; returns the status line ('' when the server closed or
    said nothing within timeout seconds)."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    try:
        sock.sendall(request_bytes)
        if then:
            then(sock)
        if not read:
            return ""
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n")[0].decode("latin-1")
    except OSError:
        return ""
    finally:
        sock.close()


def head(method, path, extra=""):
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['bob']}\r\n"
            f"{extra}").encode()


def chunked(sock):
    piece = b"\1" * 65536
    for _ in range(20):  # 1.25 MiB, more than the phase's 1 MiB
        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    sock.sendall(b"0\r\n\r\n")


# a declared length over the limit is refused before the body is read (the
# client that asks "Expect: 100-continue" sends nothing)
line = raw(head("POST", V + "/submissions?team=beta",
                "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (1024 * 1024 + 1)))
check(" 413 " in line, f"declared too large: {line!r}")
check(upload_files() == before, f"nothing kept after 413: {upload_files()}")
line = raw(head("POST", V + "/submissions?team=beta", "Transfer-Encoding: chunked\r\n\r\n"), chunked)
check(" 413 " in line, f"chunked, too large while streaming: {line!r}")
check(upload_files() == before, f"nothing kept after a streamed 413: {upload_files()}")

raw(head("POST", V + "/submissions?team=beta", "Content-Length: 500000\r\n\r\n") + b"\1" * 1000,
    lambda sock: time.sleep(0.3), read=False)
# the server notices at once (at the latest after its 30 s connection timeout)
for _ in range(400):
    if upload_files() == before:
        break
    time.sleep(0.1)
check(upload_files() == before, f"an interrupted upload leaves nothing: {upload_files()}")

s, _, body = request("POST", V + "/submissions?team=beta", body=b"this is not an image archive\n",
                     token=TOKENS["bob"])
answer = json.loads(body) if s == 201 else {}
check(s == 201 and answer.get("intake", {}).get("status") == "invalid" and
      answer.get("run_id") is None, f"not a tar: 201 with intake invalid: {s} {body[:300]!r}")
check(".incoming" not in body.decode() and DATA not in body.decode(),
      f"the reason does not show server paths: {body[:300]!r}")
check(not [f for f in upload_files() if f.startswith(".")], f"no temporary file left: {upload_files()}")
s, sub = get_json(f"/api/v1/submissions/{answer.get('submission_id', 0)}", "bob")
check(s == 200 and sub.get("status") == "invalid" and sub.get("team") == "beta",
      f"the refused submission is bob's to read: {sub}")
check(".incoming" not in (sub.get("intake_reason") or "") and DATA not in (sub.get("intake_reason") or ""),
      f"the stored reason shows no server path either: {sub.get('intake_reason')}")
# a refused archive is not kept (refusals count against no quota, so kept copies
# could fill the disk); its sha256 and size stay in its row; the same bytes again
# are refused and recorded again
check(upload_files() == before, f"a refused archive is deleted: {upload_files()}")
s2, _, body2 = request("POST", V + "/submissions?team=beta", body=b"this is not an image archive\n",
                       token=TOKENS["bob"])
again = json.loads(body2) if s2 == 201 else {}
check(s2 == 201 and again.get("intake", {}).get("status") == "invalid" and
      again.get("submission_id") != answer.get("submission_id"),
      f"the same refused bytes again: recorded again: {s2} {body2[:300]!r}")
db = web.db()
rows = db.execute("SELECT upload_sha256, upload_bytes FROM submissions WHERE id IN (?, ?)",
                  (answer.get("submission_id"), again.get("submission_id"))).fetchall()
db.close()
check(rows == [(hashlib.sha256(b"this is not an image archive\n").hexdigest(), 29)] * 2,
      f"the refused uploads' sha256 and size are kept in their rows: {rows}")
check(upload_files() == before, f"nor is the second copy kept: {upload_files()}")

# the same image as another team's submission: 409 that names neither that
# submission nor its team; the same team's: 409 with its own submission's id.
# (intake accepts the archive and the duplicate is found before the engine loads it)
ARCHIVE, ARCHIVE_DIGEST = image_archive()
db = web.db()
SUB_DUP = db.execute(
    "INSERT INTO submissions (phase_id, team_id, status, image_digest, image_name, upload_sha256, "
    "upload_bytes, created) VALUES (?, ?, 'ready', ?, 'fixture', '', 0, ?)",
    (phases["test"][0], teams["alpha"], ARCHIVE_DIGEST, time.time())).lastrowid
db.commit()
db.close()
s, _, body = request("POST", T + "/submissions?team=beta", body=ARCHIVE, token=TOKENS["bob"])
message = (json.loads(body).get("error") or {}).get("message", "") if s == 409 else ""
check(s == 409 and "already submitted to this phase" in message and str(SUB_DUP) not in message and
      "alpha" not in message, f"another team's image: 409 without its id: {s} {body[:300]!r}")
s, _, body = request("POST", T + "/submissions?team=alpha", body=ARCHIVE, token=TOKENS["alice"])
check(s == 409 and f"already submission {SUB_DUP} " in body.decode(),
      f"the team's own image again: 409 with its submission id: {s} {body[:300]!r}")
check(upload_files() == before, f"a duplicate's archive is not kept: {upload_files()}")

s, h, body = request("POST", V + "/submissions?team=alpha", body=b"x", token=TOKENS["alice"])
check(s == 429 and h.get("Retry-After", "").isdigit() and int(h["Retry-After"]) > 3600 and
      b"possible from" in body, f"quota: {s} {h.get('Retry-After')} {body[:200]!r}")
check(status("POST", V + "/submissions?team=" + "%27%20OR%201%3D1%20--", "org", body=b"x") == 404,
      "an injection string as a team name is just an unknown team")
s, _, body = request("POST", V + "/submissions", body=b"x", token=TOKENS["bob"])
check(s == 201 and b'"invalid"' in body, f"no ?team=: the caller's only team: {s} {body[:200]!r}")

# ---- hostile requests ----
check(status("POST", "/api/v1/login", body=b"{not json") == 400, "malformed JSON: 400")
check(status("POST", "/api/v1/login", body=b"[1,2]") == 400, "JSON of the wrong shape: 400")
check(status("POST", "/api/v1/login", body=json.dumps({"name": "x" * 5000, "password": "y"})) == 400,
      "a huge name: 400")
line = raw(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 << 20),
           lambda sock: sock.sendall(b"{" * 65536))
check(" 413 " in line, f"a declared 2 MiB body: {line!r}")


def chunked_body(sock):
    for _ in range(40):  # 2.5 MiB without a declared length
        sock.sendall(b"10000\r\n" + b"{" * 65536 + b"\r\n")
    sock.sendall(b"0\r\n\r\n")


line = raw(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
           chunked_body)
check(" 413 " in line, f"a streamed 2.5 MiB body: {line!r}")
line = raw(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
check(line.startswith("HTTP/1.1 4") or line == "", f"huge header: {line!r}")
s = status("GET", "/api/v1/" + "a" * 5000)
check(400 <= s < 500, f"a huge path: {s}")
line = raw(b"\x00\xff garbage \r\n\r\n", timeout=2)  # MHD waits for more, then times out
check(line == "" or " 400 " in line, f"garbage request line: {line!r}")
s = status("GET", "/api/v1/submissions/99999999999999999999999")
check(s == 404, f"an id too large: {s}")
check(status("GET", "/api/v1/health") == 200, "the server still answers after all that")

# ---- a hidden phase published while it still takes submissions (a live board) ----
# the owner team sees the run's aggregate now, but classes by base name only: a
# container picks its exit code, so "exit_code 7" would carry a byte of a hidden case
s, done = get_json(f"/api/v1/runs/{RUN_EXIT}", "alice")
check(s == 200 and "aggregate" not in done, f"hidden phase, unpublished: no aggregate: {done}")
SUB_EXIT = done.get("submission_id")
check(status("POST", T + "/publish", "org", body=b"") == 200, "the hidden phase published")
# over fewer than 4 values (3 here) a median and an interval are single cases'
# values, and a std with the mean gives them away: null for the owner, as on the
# public board
WHITELISTED = {"cases": 3, "succeeded": 0, "failed": {"exit_code": 2, "invalid_output": 1},
               "metrics": {m: dict(v, median=None, std=None, ci_lo=None, ci_hi=None)
                           for m, v in EXIT_AGGREGATE["metrics"].items()},
               "metric_version": 1}
for who, want in (("alice", WHITELISTED), ("org", EXIT_AGGREGATE)):
    s, done = get_json(f"/api/v1/runs/{RUN_EXIT}", who)
    check(s == 200 and done.get("aggregate") == want,
          f"published hidden phase: {who}'s aggregate: {done.get('aggregate')}, expected {want}")
    s, sub = get_json(f"/api/v1/submissions/{SUB_EXIT}", who)
    agg = (sub or {}).get("runs", [{}])[-1].get("aggregate")
    check(s == 200 and agg == want, f"published hidden phase: {who}'s submission aggregate: {agg}")
s, done = get_json(f"/api/v1/runs/{RUN_EXIT}", "alice")
check(done.get("failed_by_class") == {"exit_code": 2, "invalid_output": 1} and "cases" not in done,
      f"published hidden phase: failures per base class, no case: {done}")
check(status("GET", f"/api/v1/submissions/{SUB_EXIT}/cases", "alice") == 403 and
      status("GET", f"/api/v1/submissions/{SUB_EXIT}/cases", "bob") == 404 and
      status("GET", f"/api/v1/runs/{RUN_EXIT}", "bob") == 404 and
      status("GET", f"/api/v1/runs/{RUN_EXIT}") == 401,
      "published hidden phase: still no cases for the owner, nothing for others")
for path in (f"/runs/{RUN_EXIT}", f"/submissions/{SUB_EXIT}"):
    s, _, page = request("GET", path, token=TOKENS["alice"])
    text = page.decode()
    check(s == 200 and "<h3>Aggregate</h3>" in text and "exit_code: 2" in text and
          "exit_code 3" not in text and "exit_code 7" not in text and "exit_code 9" not in text and
          "wrong geometry" not in text, f"published hidden phase: {path} shows base classes only")
s, _, page = request("GET", f"/runs/{RUN_EXIT}", token=TOKENS["org"])
check(s == 200 and "exit_code 7: 1" in page.decode(), "the organiser's page: full classes")
check(status("POST", T + "/unpublish", "org", body=b"") == 200, "the hidden phase unpublished")

# ---- metrics ----
check(status("GET", "/metrics") == 401 and status("GET", "/metrics", "bob") == 403,
      "metrics: organisers only (the job counts would show a hidden case's time)")
s, h, body = request("GET", "/metrics", token=TOKENS["org"])
text = body.decode()
check(s == 200 and h.get("Content-Type", "").startswith("text/plain"), f"metrics: {s} {h}")
for needle in ('segarena_http_requests_total{code="200"}', '# TYPE segarena_jobs gauge',
               # 8 + the hidden phase's fixture cases (1 + 3) and runs (1) + the two
               # log fixtures' cases (4) and runs (2)
               'segarena_jobs{status="done"} 16', 'segarena_runs{status="done"} 7',
               "segarena_submissions_total ", "segarena_uptime_seconds "):
    check(needle in text, f"metrics has {needle!r}")
check('segarena_http_requests_total{code="413"}' in text, "413s are counted")


def hold_connections(n):
    """n connections from 127.0.0.1 that each sent part of a request's head and
    wait (a slow client); one the server refuses is dropped."""
    held = []
    for _ in range(n):
        try:
            sk = socket.create_connection(("127.0.0.1", PORT), timeout=10)
            sk.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
            held.append(sk)
        except OSError:
            pass
    time.sleep(0.3)  # each started by the server
    return held


def health_answers():
    try:
        return request("GET", "/api/v1/health")[0] == 200
    except OSError:
        return False


# ---- open connections: 64 per client address ----
held = hold_connections(64)
check(not health_answers(), "a 65th connection from one address is refused")
for sk in held:
    sk.close()
time.sleep(0.5)
check(health_answers(), "once they close, that address is served again")

# ---- stop ----
rc = web.stop_server(server, log)
check(rc == 0, f"SIGTERM: exit {rc}")
serve_log = open(os.path.join(WORK, "serve.log")).read()
check("interrupted" in serve_log, f"the interrupted upload was logged: {serve_log[-500:]}")



# ---- logins from another site are refused (login CSRF) ----
def login(name, password, headers=None):
    return request("POST", "/api/v1/login", body=json.dumps({"name": name, "password": password}),
                   headers=headers)


server, log = web.start_server(0, "serve-proxy.log", extra=["--trusted-proxy", "127.0.0.1,::1"])
PORT = web.port
server.stdout.readline()
ORG_PASS = "organiser-pass"
for hdrs in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
             {"Origin": "null"}, {"Origin": f"http://127.0.0.1:{PORT + 1}"}):
    s, _, body = login("org", ORG_PASS, {**hdrs, "Host": f"127.0.0.1:{PORT}"})
    check(s == 403 and b"another site" in body, f"login with {hdrs}: 403: {s} {body[:200]!r}")
s, _, _ = login("org", ORG_PASS, {"Origin": f"http://127.0.0.1:{PORT}", "Sec-Fetch-Site": "same-origin"})
check(s == 200, f"login from the site's own page: 200: {s}")
# behind the proxy: the site is the one it forwards (host and scheme)
PROXIED = {"X-Forwarded-Host": "arena.example.org", "X-Forwarded-Proto": "https",
           "X-Forwarded-For": "198.51.100.200"}
s, _, _ = login("org", ORG_PASS, {**PROXIED, "Origin": "https://arena.example.org"})
check(s == 200, f"login through the proxy from its site: {s}")
s, _, _ = login("org", ORG_PASS, {**PROXIED, "Origin": "http://arena.example.org"})
check(s == 403, f"login through the proxy from the plain-http site: 403: {s}")
# a site on a port of its own, https://arena.example.org:8443, with the headers
# docs/api.md gives for nginx: Host $http_host (the port kept) ...
ON_8443 = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.200",
           "Origin": "https://arena.example.org:8443"}
s, _, _ = login("org", ORG_PASS, {**ON_8443, "Host": "arena.example.org:8443"})
check(s == 200, f"login through the proxy on port 8443 (Host $http_host): {s}")
# ... or $host (no port) with X-Forwarded-Port $server_port
s, _, _ = login("org", ORG_PASS, {**ON_8443, "X-Forwarded-Host": "arena.example.org",
                                  "X-Forwarded-Port": "8443"})
check(s == 200, f"login through the proxy on port 8443 (X-Forwarded-Port): {s}")
s, _, _ = login("org", ORG_PASS, {**ON_8443, "X-Forwarded-Host": "arena.example.org"})
check(s == 403, f"without the port the site is another one: 403: {s}")
s, _, _ = login("org", ORG_PASS, {**ON_8443, "X-Forwarded-Host": "arena.example.org",
                                  "X-Forwarded-Port": "8443", "X-Forwarded-For": "198.51.100.200",
                                  "Origin": "https://arena.example.org:8444"})
check(s == 403, f"another port is still another site: 403: {s}")
s, _, _ = request("POST", "/login", body="name=org&password=organiser-pass&next=/",
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
check(s == 403, f"the log-in form posted from another site: 403: {s}")

# ---- login limits behind a trusted proxy: per client, not per proxy ----
def via(client):
    return {"X-Forwarded-For": f"203.0.113.77, {client}"}  # the left one is the client's own word


for i in range(20):
    s, _, _ = login(f"nobody{i}", "wrong-password", via("198.51.100.1"))
    check(s == 401, f"failure {i + 1} from one client behind the proxy: {s}")
s, h, _ = login("org", ORG_PASS, via("198.51.100.1"))
check(s == 429 and h.get("Retry-After", "").isdigit(), f"that client is limited: {s}")
s, _, _ = login("org", ORG_PASS, {"X-Forwarded-For": "198.51.100.1, 198.51.100.9"})
check(s == 200, f"another client behind the same proxy is not (nor is the spoofed left entry): {s}")
# failures on the organiser's name do not lock the organiser out of an address
# it logged in from; addresses it never logged in from get no guess at all
s, _, _ = login("org", ORG_PASS, via("198.51.100.3"))
check(s == 200, f"the organiser logs in from 198.51.100.3: {s}")
for i in range(5):
    s, _, _ = login("org", "wrong-password", via("198.51.100.2"))
    check(s == 401, f"wrong password {i + 1} for org: {s}")
s, _, _ = login("org", ORG_PASS, via("198.51.100.2"))
check(s == 429, f"the address that failed on the name is limited, the right password too: {s}")
statuses = [login("org", "wrong-password", via(f"198.51.101.{i}"))[0] for i in range(1, 11)]
check(statuses == [429] * 10, f"ten more addresses get no guess on the closed name: {statuses}")
s, _, _ = login("org", ORG_PASS, via("198.51.100.4"))
check(s == 429, f"nor the right password from an address org never logged in from: {s}")
s, _, _ = login("org", ORG_PASS, via("198.51.100.3"))
check(s == 200, f"the organiser from its known address logs in: {s}")
# the trusted proxy's own address is not limited per address: every client of
# the proxy comes from it (64 slow clients shut the whole site out)
held = hold_connections(70)
check(health_answers(), "a connection past 64 from the trusted proxy is served")
for sk in held:
    sk.close()
check(web.stop_server(server, log) == 0, "the proxied server stops cleanly")


# ---- a real image, evaluated by the server's own worker (podman needed) ----
def real_image():
    if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
        return "needs rootful podman and skopeo"
    images = os.path.join(WORK, "images")
    r = sh("sh", os.path.join(EXAMPLES, "contestants", "build.sh"), images)
    if r.returncode != 0:
        return "build.sh failed (no static C toolchain with zlib?): " + r.stderr[-300:]
    global PORT
    server, log2 = web.start_server(1, "serve-workers.log", http_threads=4)
    PORT = web.port
    with open(os.path.join(images, "ms_flair_threshold.tar"), "rb") as f:
        archive = f.read()
    s, _, body = request("POST", T + "/submissions?team=beta", body=archive, token=TOKENS["bob"])
    answer = json.loads(body) if s == 201 else {}
    check(s == 201 and answer.get("intake", {}).get("status") == "ready" and answer.get("run_id"),
          f"a real image: {s} {body[:300]!r}")
    run_id = answer.get("run_id")
    run = {}
    for _ in range(360):
        s, run = get_json(f"/api/v1/runs/{run_id}", "bob")
        if s != 200 or run.get("status") in ("done", "cancelled"):
            break
        time.sleep(0.5)
    check(run.get("status") == "done" and run["progress"]["done"] == 2 and run["progress"]["left"] == 0,
          f"the server's worker ran it: {run}")
    check("cases" not in run and "aggregate" not in run,
          f"hidden phase: bob sees no per-case value and no aggregate before publication: {run}")
    s, org_run = get_json(f"/api/v1/runs/{run_id}", "org")
    check(s == 200 and "aggregate" in org_run and len(org_run.get("cases", [])) == 2,
          f"the organiser sees the aggregate and the cases: {org_run}")
    s, board = get_json(T + "/leaderboard", "org")
    check(s == 200 and "beta" in [r["team"] for r in board.get("rows", [])],
          f"beta's row on the board: {board}")
    check(web.stop_server(server, log2) == 0, "the server with a worker stops cleanly")
    check(remove_loaded_images(os.path.join(web.data, "segarena.db")), "the loaded image is removed")
    return None


skipped = real_image()
if skipped:
    print("skipped the real image:", skipped)
finish("web_api")
