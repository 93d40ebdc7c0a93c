#!/usr/bin/python3
"""The sweep of temporary load names (sa_intake_sweep_loads) against real podman.

Usage: test_intake_sweep.py TEST_ARCHIVE WORKDIR

A load killed with kill -9 after skopeo's copy leaves its temporary name
`localhost/segarena/load-<tag>-<hex>` in podman's store. Checked here:

1. A real load (`test_archive intake ... NAME LOCK_DIR TAG`) whose skopeo is a
   wrapper that copies, then sleeps holding what it inherited: while it lives, and
   after the loading process alone is killed (skopeo, which could still commit the
   name, holds the lock), the sweep keeps its name; once both are killed, the sweep
   removes the name and its lock file.
2. Names made by hand: of this tag with no lock file, and with a lock file no one
   holds: removed (untagged: the image keeps the submission's name); with a lock
   file that another process holds: kept; of another tag (another data directory):
   kept; the only name of an image a container uses: kept, image included (never
   forced). A lock file with no name, held by no one: removed.

Every image and container it made is removed at the end. Exit 77 (skip) where
podman, skopeo or a static gcc is missing, or not root.
"""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

DRIVER = sys.argv[1]
WORK_ROOT = sys.argv[2]


def sh(argv, cwd, check=True, env=None):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{argv}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    return r


def exists(name, cwd):
    return sh(["podman", "image", "exists", name], cwd, check=False).returncode == 0


def sweep(lock_dir, tag, cwd):
    res = json.loads(sh([DRIVER, "sweep", lock_dir, tag], cwd).stdout)
    if res["rc"] != 0:
        raise RuntimeError(f"sweep failed: {res['error']}")


def main():
    for tool in ("podman", "skopeo", "gcc"):
        if not shutil.which(tool):
            print(f"skip: {tool} not found")
            return 77
    if os.geteuid() != 0:
        print("skip: needs rootful podman (as the other container tests: run as root)")
        return 77
    os.makedirs(WORK_ROOT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sweep-", dir=WORK_ROOT)
    unique = uuid.uuid4().hex
    tag, other_tag = unique[:8], unique[8:16]  # two data directories' instance tags
    lock_dir = os.path.join(work, "locks")
    os.makedirs(lock_dir)
    submission = f"localhost/segarena/sub-sweeptest-{tag}"
    used_image = f"localhost/segarena/sweeptest-used-{tag}"
    container = f"segarena-sweeptest-{tag}"
    made = [submission, used_image]
    failed = []
    loader = holder = None

    def load_name(t):
        name = f"localhost/segarena/load-{t}-{uuid.uuid4().hex[:24]}"
        made.append(name)
        return name

    def lock_of(name):
        return os.path.join(lock_dir, name.rsplit("/", 1)[1] + ".lock")

    try:
        with open(os.path.join(work, "prog.c"), "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        r = sh(["gcc", "-static", "-O1", "-o", "prog", "prog.c"], work, check=False)
        if r.returncode != 0:
            print("skip: no static libc:", r.stderr.strip()[-200:])
            return 77
        with open(os.path.join(work, "Containerfile"), "w") as f:
            f.write('FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT ["/prog"]\n')
        sh(["podman", "build", "-q", "--pull=never", "-t", submission, "-f", "Containerfile", "."], work)
        image_id = sh(["podman", "image", "inspect", "--format", "{{.Id}}", submission], work).stdout.strip()
        sh(["podman", "save", "--format", "docker-archive", "-o", "img.tar", submission], work)

        # ---- 1. a real load, killed after skopeo's copy ----
        real_skopeo = shutil.which("skopeo")
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        copied = os.path.join(work, "copied")
        with open(os.path.join(bindir, "skopeo"), "w") as f:
            f.write(f'#!/bin/sh\n"{real_skopeo}" "$@" || exit $?\n: > "{copied}"\nexec sleep 300\n')
        os.chmod(os.path.join(bindir, "skopeo"), 0o755)
        scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
        loader = subprocess.Popen([DRIVER, "intake", os.path.join(work, "img.tar"), scratch, "0", "0", "0",
                                   f"localhost/segarena/sub-sweeptest-{tag}-final", lock_dir, tag],
                                  cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True,
                                  env=dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "")))
        made.append(f"localhost/segarena/sub-sweeptest-{tag}-final")
        deadline = time.time() + 60
        while not os.path.exists(copied) and time.time() < deadline and loader.poll() is None:
            time.sleep(0.05)
        names = sh(["podman", "images", "--format", "{{.Repository}}"], work).stdout.split()
        live = [n for n in names if n.startswith(f"localhost/segarena/load-{tag}-")]
        if not os.path.exists(copied) or len(live) != 1:
            raise RuntimeError(f"the load did not leave one temporary name: {live}, exit {loader.poll()}")
        live_name = live[0]
        made.append(live_name)
        if not os.path.exists(lock_of(live_name)):
            failed.append(f"no lock file {lock_of(live_name)} while the load runs")
        sweep(lock_dir, tag, work)
        if not exists(live_name, work):
            failed.append("the sweep removed the name of a load in progress")
        else:
            print("ok: a load in progress keeps its name")
        os.kill(loader.pid, signal.SIGKILL)  # the loading process only: skopeo lives on
        loader.wait(timeout=30)
        sweep(lock_dir, tag, work)
        if not exists(live_name, work):
            failed.append("the sweep removed the name while the load's skopeo still ran")
        else:
            print("ok: the name stays while skopeo, which inherited the lock, lives")
        os.killpg(loader.pid, signal.SIGKILL)  # the wrapper's sleep: nothing of the load is left
        time.sleep(0.2)
        sweep(lock_dir, tag, work)
        if exists(live_name, work) or os.path.exists(lock_of(live_name)):
            failed.append(f"the killed load's name or lock file was left: {exists(live_name, work)}")
        else:
            print("ok: the killed load's name and lock file are removed")

        # ---- 2. names made by hand ----
        no_lock = load_name(tag)
        stale_lock = load_name(tag)
        held_lock = load_name(tag)
        other_dir = load_name(other_tag)
        for name in (no_lock, stale_lock, held_lock, other_dir):
            sh(["podman", "tag", submission, name], work)
        open(lock_of(stale_lock), "w").close()
        orphan_lock = os.path.join(lock_dir, f"load-{tag}-{uuid.uuid4().hex[:24]}.lock")  # no name
        open(orphan_lock, "w").close()
        # a second process holds held_lock's lock, as a live load does
        holder = subprocess.Popen([sys.executable, "-c",
                                   "import fcntl, sys, time\n"
                                   "f = open(sys.argv[1], 'w')\n"
                                   "fcntl.flock(f, fcntl.LOCK_EX)\n"
                                   "print('locked', flush=True)\n"
                                   "time.sleep(120)\n", lock_of(held_lock)],
                                  stdout=subprocess.PIPE, text=True)
        if holder.stdout.readline().strip() != "locked":
            raise RuntimeError("the lock holder did not start")
        # the only name of another image, which a container uses
        with open(os.path.join(work, "Containerfile2"), "w") as f:
            f.write('FROM scratch\nCOPY prog /prog\nUSER 1000\nENV SWEEP=1\nENTRYPOINT ["/prog"]\n')
        in_use = load_name(tag)
        sh(["podman", "build", "-q", "--pull=never", "-t", in_use, "-f", "Containerfile2", "."], work)
        in_use_id = sh(["podman", "image", "inspect", "--format", "{{.Id}}", in_use], work).stdout.strip()
        sh(["podman", "create", "--pull=never", "--name", container, in_use], work)

        sweep(lock_dir, tag, work)
        holder.kill()
        holder.wait(timeout=30)
        checks = [
            (not exists(no_lock, work), "a name of this tag without a lock file is removed"),
            (not exists(stale_lock, work) and not os.path.exists(lock_of(stale_lock)),
             "a name whose lock file no one holds is removed with its lock file"),
            (exists(held_lock, work) and os.path.exists(lock_of(held_lock)),
             "a name whose lock another process holds is kept"),
            (exists(other_dir, work), "another tag's (data directory's) name is kept"),
            (exists(in_use, work) and exists(in_use_id, work),
             "the only name of an image a container uses is kept (no --force)"),
            (not os.path.exists(orphan_lock), "a lock file with no name and no holder is removed"),
            (exists(submission, work) and
             sh(["podman", "image", "inspect", "--format", "{{.Id}}", submission], work).stdout.strip() == image_id,
             "the submission's name and image are untouched (the load names only untagged)"),
        ]
        for ok, what in checks:
            if ok:
                print("ok:", what)
            else:
                failed.append(what)
    finally:
        if loader is not None:
            try:
                os.killpg(loader.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            loader.wait(timeout=30)
        if holder is not None:
            holder.kill()
            holder.wait(timeout=30)
        sh(["podman", "rm", "-f", container], work, check=False)
        for name in made:
            sh(["podman", "image", "rm", "--force", name], work, check=False)
        shutil.rmtree(work, ignore_errors=True)
    for f in failed:
        print("FAIL", f)
    if not failed:
        print("test_intake_sweep: all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
