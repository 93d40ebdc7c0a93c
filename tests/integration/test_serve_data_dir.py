#!/usr/bin/env python3
"""test_serve_data_dir.py: `segarena serve` never sets up a data directory, so that
a mistyped --data-dir is refused instead of serving an empty platform: a missing
folder and an empty one each give exit status 2 and one line naming DIR/segarena.db
and the command that creates a database, and nothing is created; once `team add`
(the documented way) has created the database, the same command serves, and stops
cleanly on SIGTERM. The help says so.

usage: test_serve_data_dir.py SEGARENA WORK_DIR
"""
import os
import shutil
import signal
import subprocess
import sys
import time

SEGARENA, WORK = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what, *details):
    if not cond:
        failures.append(what)
        print("FAILED:", what, *details, file=sys.stderr)


def serve(data_dir, port_file):
    """serve on a free port, without workers; (process, exit status or None while
    it still runs after a few seconds)."""
    if os.path.exists(port_file):
        os.unlink(port_file)
    proc = subprocess.Popen([SEGARENA, "serve", "--data-dir", data_dir, "--port", "0",
                             "--port-file", port_file, "--workers", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if proc.poll() is not None or os.path.exists(port_file):
            break
        time.sleep(0.05)
    return proc, proc.poll()


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
port_file = os.path.join(WORK, "port")

p = subprocess.run([SEGARENA, "serve", "--help"], capture_output=True, text=True)
check(p.returncode == 0 and "never sets one" in p.stdout and "challenge" in p.stdout,
      "serve --help says it needs a database and how to create one", p.stdout)

empty = os.path.join(WORK, "empty")
os.makedirs(empty)
for data_dir in (os.path.join(WORK, "typo", "x"), empty):
    db = os.path.join(data_dir, "segarena.db")
    proc, rc = serve(data_dir, port_file)
    if rc is None:
        stop(proc)
    out, err = proc.communicate()
    lines = err.splitlines()
    check(rc == 2, data_dir + ": exit status 2", rc, err)
    check(len(lines) == 1 and db in lines[0] and "challenge create" in lines[0],
          data_dir + ": one line naming the database and how to create one", err)
    check(out == "" and not os.path.exists(port_file), data_dir + ": nothing served", out)
    check(not os.path.exists(db), data_dir + ": no database created")
check(not os.path.exists(os.path.join(WORK, "typo")), "the missing folder is not created")

data = os.path.join(WORK, "data")
p = subprocess.run([SEGARENA, "team", "add", "lab-a", "--data-dir", data], capture_output=True,
                   text=True)
check(p.returncode == 0, "team add creates the data directory", p.stderr)
proc, rc = serve(data, port_file)
check(rc is None and os.path.exists(port_file), "serve starts on a data directory with a database",
      rc)
rc = stop(proc)
out, err = proc.communicate()
check(rc == 0 and out.startswith("SegArena on http://127.0.0.1:"), "serve stopped cleanly", rc, out,
      err)

if failures:
    print("%d check(s) failed" % len(failures), file=sys.stderr)
    sys.exit(1)
print("serve refuses a data directory without a database and serves one with it")
