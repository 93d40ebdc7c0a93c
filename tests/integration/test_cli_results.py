#!/usr/bin/env python3
"""`segarena results` on the store that test_board fills (phases demo/val,
demo/test, demo/rescore and demo/empty; numbers worked out in tests/unit/test_board.c):
the table, --cases, --csv, --json, --all-entries, submissions that need
rescoring and the exit statuses.

usage: test_cli_results.py SEGARENA TEST_BOARD WORK_DIR
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAILED: {what}", file=sys.stderr)


def run(*args):
    p = subprocess.run([SEGARENA, "results", "--data-dir", DATA, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


SEGARENA, TEST_BOARD, WORK = sys.argv[1:4]
DATA = WORK + "/data"
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
p = subprocess.run([TEST_BOARD, DATA], capture_output=True, text=True)
check(p.returncode == 0, f"test_board filled the store ({p.stdout}{p.stderr})")

# demo/val ends with: rule score on dice, one row per team (latest):
# gamma .8, beta 1.6/3 (c3 missing), alpha 1.1/3 (c2 timeout).
rc, out, err = run("--phase", "demo/val", "--json", "--cases")
check(rc == 0, f"--json exit 0 ({err})")
board = json.loads(out)
check(board["rule"] == "score" and board["published"] is False, "rule and published")
check([r["team"] for r in board["rows"]] == ["gamma", "beta", "alpha"], "row order")
check([r["rank"] for r in board["rows"]] == [1, 2, 3], "ranks")
check(abs(board["rows"][1]["key"] - 1.6 / 3) < 1e-12, "beta's score is its dice mean")
check(board["case_ids"] == ["c1", "c2", "c3"], "case ids")
check(board["rows"][1]["cases"]["c3"]["class"] == "missing", "beta's c3 is missing")
check(board["rows"][1]["cases"]["c3"]["hd95"] == 300, "a missing case's hd95 is the cap")
check(board["rows"][2]["cases"]["c2"]["volume_pred_ml"] is None, "a failed case's volume is left out")
check("NaN" not in out, "no NaN in the JSON")

rc, out, err = run("--phase", "demo/val")
check(rc == 0, "table exit 0")
lines = out.splitlines()
check(lines[0] == "demo/val: Test phase val (unpublished)", f"header: {lines[0]!r}")
check(any(l.startswith("   1  gamma") for l in lines), "gamma ranked first in the table")
check(any(l.startswith("missing cases: A failed or missing case counts as 0") for l in lines), "policy line")
check(any(l.startswith("ranking: score on dice (higher is better)") for l in lines), "rule line")

rc, out, err = run("--phase", "demo/val", "--cases")
check(rc == 0 and "rank 2  beta (submission 4, run 5)" in out, "--cases block of beta")
check(any(l.split()[:2] == ["c3", "missing"] for l in out.splitlines()), "--cases shows the missing case")

rc, out, err = run("--phase", "demo/test", "--csv")
check(rc == 0, "--csv exit 0")
rows = list(csv.DictReader(io.StringIO(out)))
check(len(rows) == 3, "one team row and two rater rows")
check(rows[0]["team"] == "delta" and rows[0]["rank"] == "1", "team row")
check(abs(float(rows[0]["hd95_mean"]) - 64 / 3) < 1e-12, "hd95 with the 50 mm cap")
check([r["team"] for r in rows[1:]] == ["rater r1", "rater r2"] and rows[1]["rank"] == "", "rater rows")
check(rows[2]["dice_n"] == "2" and abs(float(rows[2]["dice_mean"]) - 0.65) < 1e-12, "rater r2 over 2 cases")

rc, out, err = run("--phase", "demo/test")
check(rc == 0 and "(unpublished)" not in out.splitlines()[0], "published phase header")
check("human reference" in out and "rater r1" in out, "human reference block")

rc, out, err = run("--phase", "demo/val", "--csv", "--cases", "--all-entries")
rows = list(csv.DictReader(io.StringIO(out)))
check(rc == 0 and len(rows) == 15, "--all-entries --cases: 5 entries x 3 cases")
check(sum(r["class"] == "timeout" for r in rows) == 1, "one timeout")

# demo/rescore ends with eps (rescored), zeta, theta (its stale clean run gave way
# to its current rescore with a platform failure) and iota (a platform failure with
# no dataset checksum; tied with theta, after it by submission time) ranked; eta's
# run was scored before `phase update` changed tau: not ranked, listed as needing
# a rescore.
rc, out, err = run("--phase", "demo/rescore", "--json")
board = json.loads(out) if rc == 0 else {}
check([r["team"] for r in board.get("rows", [])] == ["eps", "zeta", "theta", "iota"], "rescore: ranked rows")
stale = board.get("needs_rescoring", [])
check([s["team"] for s in stale] == ["eta"] and len(board.get("scoring_hash", "")) == 64
      and stale[0]["scoring_hash"] != board["scoring_hash"], f"rescore: needs_rescoring {stale}")
rc, out, err = run("--phase", "demo/rescore")
check(rc == 0 and "needs rescoring" in out and "segarena run rescore --phase demo/rescore" in out
      and any(l.startswith("  eta  submission ") for l in out.splitlines()), f"rescore: text block {out}")
rc, out, err = run("--phase", "demo/rescore", "--csv")
check(rc == 0 and [r["team"] for r in csv.DictReader(io.StringIO(out))] == ["eps", "zeta", "theta", "iota"]
      and "1 submission needs rescoring" in err, f"rescore: csv rows and note {err!r}")
rc, out, err = run("--phase", "demo/val")
check("needs rescoring" not in out, "no rescoring block when every entry is current")

rc, out, err = run("--phase", "demo/empty")
check(rc == 0 and "(no evaluated submission yet)" in out, "empty phase")

for args, why in [((), "no --phase"), (("--phase", "demo/nope"), "unknown phase"),
                  (("--phase", "demo"), "malformed reference"), (("--phase", "999"), "unknown id"),
                  (("--phase", "demo/val", "--csv", "--json"), "--csv with --json"),
                  (("--phase", "demo/val", "--bogus"), "unknown option")]:
    rc, out, err = run(*args)
    check(rc == 2 and err.count("\n") == 1 and out == "", f"{why}: exit 2 with one line ({rc}, {err!r})")
p = subprocess.run([SEGARENA, "results", "--data-dir", WORK + "/none", "--phase", "demo/val"],
                   capture_output=True, text=True)
check(p.returncode == 2, "no data directory: exit 2")
p = subprocess.run([SEGARENA, "results", "--help"], capture_output=True, text=True)
check(p.returncode == 0 and "--all-entries" in p.stdout and "exit status" in p.stdout, "--help")

# the exit statuses and help texts of run and phase say the same (an unknown run
# waited for, or a malformed phase name, were exit 1, the code of internal errors)
def organiser(*args):
    p = subprocess.run([SEGARENA, *args, "--data-dir", DATA], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr
for args, why in [(("run", "wait", "999"), "run wait of an unknown run"),
                  (("run", "status", "999"), "run status of an unknown run"),
                  (("run", "list"), "run list without --phase"),
                  (("run", "list", "--phase", "demo"), "run list of a malformed phase"),
                  (("phase", "show", "nothing"), "phase show of a malformed name"),
                  (("phase", "show", "demo/nothing"), "phase show of an unknown phase"),
                  (("phase", "publish", "0"), "phase publish of id 0"),
                  (("submission", "list", "--phase", "demo"), "submission list of a malformed phase")]:
    rc, out, err = organiser(*args)
    check(rc == 2 and err.count("\n") == 1 and out == "", f"{why}: exit 2 with one line ({rc}, {err!r})")
rc, out, err = organiser("run", "wait", "999")
check("no run 999" in err, f"run wait names the run: {err!r}")
rc, out, err = organiser("phase", "show", "nothing")
check("a phase is named CHALLENGE/PHASE" in err, f"phase show says how phases are named: {err!r}")
rc, out, err = organiser("run", "list", "--phase", "demo/val")
check(rc == 0 and out.split()[:2] == ["run", "submission"], f"run list --phase: {rc} {out[:80]!r}")
p = subprocess.run([SEGARENA, "run", "--help"], capture_output=True, text=True)
check(p.returncode == 0 and "segarena run list --phase" in p.stdout and "\n  list " in p.stdout
      and "unknown run" in p.stdout, "run --help lists run list")
p = subprocess.run([SEGARENA, "phase", "--help"], capture_output=True, text=True)
check(p.returncode == 0 and "phase show CHALLENGE/PHASE [--json]" in p.stdout and "exit status" in p.stdout,
      "phase --help lists show --json and the exit statuses")
rc, out, err = organiser("phase", "show", "demo/val", "--json")
check(rc == 0 and json.loads(out)["name"] == "val", f"phase show --json prints the spec: {rc} {err}")

# every organiser command given only --data-dir (no subcommand, no argument):
# usage, exit 2, never a crash (`dataset --data-dir DIR` read past its arguments)
for command in ("challenge", "team", "phase", "submit", "submission", "run", "results", "user",
                "dataset"):
    p = subprocess.run([SEGARENA, command, "--data-dir", DATA], capture_output=True, text=True)
    check(p.returncode == 2 and f"segarena {command}" in (p.stderr.splitlines() or [""])[0] and p.stdout == "",
          f"{command} --data-dir alone: exit 2 with usage ({p.returncode}, {p.stderr!r})")

# every organiser command's help ends with its exit statuses, and lists the
# options and forms the command accepts
for command in ("challenge", "team", "phase", "submit", "submission", "run", "worker", "results"):
    p = subprocess.run([SEGARENA, command, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "\nexit status: 0 " in p.stdout, f"{command} --help gives the exit statuses")
p = subprocess.run([SEGARENA, "--help"], capture_output=True, text=True)
check(any(l.startswith("  run ") and " list," in l for l in p.stdout.splitlines()),
      "segarena --help's run line names list")
p = subprocess.run([SEGARENA, "phase", "--help"], capture_output=True, text=True)
forms = [l for l in p.stdout.splitlines() if "segarena phase " in l and l.lstrip().startswith(("usage:", "segarena"))]
check(len(forms) == 5 and all("[--data-dir DIR]" in l for l in forms),
      f"every phase form lists --data-dir: {forms}")
p = subprocess.run([SEGARENA, "worker", "--help"], capture_output=True, text=True)
check(p.stdout.count("--quiet") >= 2, "worker --help says what --quiet does")
p = subprocess.run([SEGARENA, "dataset", "--help"], capture_output=True, text=True)
check("\n  --copy " in p.stdout, "dataset --help lists --copy")
p = subprocess.run([SEGARENA, "dataset", "make-demo", "--help"], capture_output=True, text=True)
check("\n  -o DIR " in p.stdout, "make-demo --help lists -o")

# a refused submission is one line on stderr (refusal, reason, the invalid
# submission it was recorded as); last here: it adds a row to demo/val
not_a_tar = os.path.join(WORK, "not-a-tar.tar")
with open(not_a_tar, "w") as f:
    f.write("hello\n")
rc, out, err = organiser("submit", "--phase", "demo/val", "--team", "alpha", not_a_tar)
lines = err.splitlines()
check(rc == 2 and out == "" and len(lines) == 1 and "refused (invalid)" in lines[0] and not_a_tar in lines[0]
      and "recorded as invalid submission" in lines[0], f"a refused submission is one line: {rc} {err!r}")

print(f"test_cli_results: {failures} failed")
sys.exit(1 if failures else 0)
