#!/usr/bin/python3
"""Good uploads built with podman, validated and loaded by SegArena's intake.

Usage: test_intake_load.py TEST_ARCHIVE WORKDIR

Builds a FROM-scratch image around a static binary (gcc -static), saves it as a
docker-archive (.tar, .tar.gz, .tar.xz) and an oci-archive, removes the built image,
then runs `test_archive intake ... NAME` on each and checks with `podman image
inspect` that NAME exists with the config digest as its id and that the name inside
the archive was not created. With skopeo or podman wrappers that fail for a while,
checks that a load is tried again (3 tries) and how a lasting failure is reported. Every image it made is removed at the end. Exit 77
(skip) where podman, skopeo or a static gcc is missing.
"""
import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

DRIVER = sys.argv[1]
WORK_ROOT = sys.argv[2]


def sh(argv, cwd, check=True):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError(f"{argv}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    return r


def wrapper(bindir, tool, fail_when, times, counter):
    """tool on PATH in bindir: counts its calls in counter; the first `times` calls
    whose arguments contain fail_when exit 1 with a containers/storage message, the
    others run the real tool."""
    real = shutil.which(tool)
    with open(os.path.join(bindir, tool), "w") as f:
        f.write(f"""#!/bin/sh
case " $* " in *" {fail_when} "*)
  echo x >> "{counter}"
  if [ "$(wc -l < "{counter}")" -le {times} ]; then
    echo 'Error: creating image: layer not known' >&2; exit 1
  fi;;
esac
exec "{real}" "$@"
""")
    os.chmod(os.path.join(bindir, tool), 0o755)


def engine_failures(work, archive, want_id, tag, loaded):
    failed = []
    cases = [  # tool, the argument its failing calls hold, failures, load_rc, calls, message
        ("skopeo", "copy", 1, 0, 2, ""),
        ("skopeo", "copy", 99, -1, 3, "engine refused the image (skopeo exit 1): Error: creating image: "
                                      "layer not known (each of 3 tries)"),
        ("podman", "tag", 2, 0, 3, ""),
        ("podman", "tag", 99, -2, 3, "the engine failed after copying the image (podman tag exit 1)"),
    ]
    for i, (tool, arg, times, want_rc, want_calls, want_msg) in enumerate(cases):
        bindir = tempfile.mkdtemp(prefix="bin-", dir=work)
        counter = os.path.join(bindir, "calls")
        open(counter, "w").close()
        wrapper(bindir, tool, arg, times, counter)
        target = f"localhost/segarena/sub-test-{tag}-retry{i}"
        loaded.append(target)
        lock_dir = tempfile.mkdtemp(prefix="locks-", dir=work)
        load_tag = uuid.uuid4().hex[:8]
        scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
        r = subprocess.run([DRIVER, "intake", archive, scratch, "0", "0", "0", target, lock_dir, load_tag],
                           cwd=work, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "")))
        res = json.loads(r.stdout)
        with open(counter) as f:
            calls = len(f.read().split())
        what = f"{tool} {arg} failing {times} time(s)"
        problems = []
        if res["load_rc"] != want_rc or want_msg not in res["load_error"]:
            problems.append(f"load_rc {res['load_rc']} ({res['load_error']}), expected {want_rc} ({want_msg})")
        if calls != want_calls:
            problems.append(f"{tool} {arg} ran {calls} times, expected {want_calls}")
        got = sh(["podman", "image", "inspect", "--format", "{{.Id}}", target], work, check=False)
        if want_rc == 0 and (got.returncode != 0 or got.stdout.strip() != want_id):
            problems.append(f"not loaded as {target}: {got.stderr.strip()[-200:]}")
        if want_rc != 0 and got.returncode == 0:
            problems.append(f"a failed load made {target}")
        names = sh(["podman", "images", "--format", "{{.Repository}}"], work).stdout
        if f"segarena/load-{load_tag}-" in names:
            problems.append(f"a try's temporary name was left: {names}")
        if problems:
            failed.append(f"{what}: " + "; ".join(problems))
        else:
            print(f"ok {what}: load_rc {want_rc} after {calls} call(s)")
    return failed


def docker_load(work, archive, want_id, tag):
    """The load into docker's store, with stand-in skopeo and docker clients that
    log their argv (no docker daemon here): skopeo copies to docker-daemon:NAME:latest,
    docker's "sha256:<id>" is taken for the id, then docker tag and docker image rm
    of the temporary name."""
    bindir = tempfile.mkdtemp(prefix="docker-bin-", dir=work)
    calls = os.path.join(bindir, "calls")
    for tool, body in (("skopeo", ""),
                       ("docker", f'[ "$1 $2" = "image inspect" ] && echo "sha256:{want_id}"\n')):
        with open(os.path.join(bindir, tool), "w") as f:
            f.write(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n{body}exit 0\n')
        os.chmod(os.path.join(bindir, tool), 0o755)
    target = f"localhost/segarena/sub-test-{tag}-docker"
    scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
    r = subprocess.run([DRIVER, "intake", archive, scratch, "0", "0", "0", target], cwd=work,
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SA_TEST_ENGINE="docker",
                                PATH=bindir + ":" + os.environ.get("PATH", "")))
    res = json.loads(r.stdout)
    with open(calls) as f:
        lines = f.read().splitlines()
    m = re.fullmatch(r"skopeo --tmpdir \S+ copy --quiet docker-archive:\S+ "
                     r"docker-daemon:(localhost/segarena/load-[0-9a-f]{24}):latest", lines[0] if lines else "")
    tmp = m.group(1) if m else "?"
    want = [f"docker image inspect --format {{{{.Id}}}} {tmp}", f"docker tag {tmp} {target}",
            f"docker image rm {tmp}"]
    if res["load_rc"] != 0 or not m or lines[1:] != want:
        return [f"docker load: load_rc {res['load_rc']} ({res['load_error']}), calls {lines}"]
    print(f"ok docker load: {len(lines)} calls, the id taken from docker's sha256:<id>")
    return []


def main():
    for tool in ("podman", "skopeo", "gcc"):
        if not shutil.which(tool):
            print(f"skip: {tool} not found")
            return 77
    if os.geteuid() != 0:
        print("skip: needs rootful podman (as the other container tests: run as root)")
        return 77
    os.makedirs(WORK_ROOT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="load-", dir=WORK_ROOT)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    built = f"localhost/segarena-intake-test-{tag}:1"
    built2 = f"localhost/segarena-intake-test-{tag}:2"
    loaded = []
    failed = []
    try:
        with open(os.path.join(work, "prog.c"), "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        r = sh(["gcc", "-static", "-O1", "-o", "prog", "prog.c"], work, check=False)
        if r.returncode != 0:
            print("skip: no static libc:", r.stderr.strip()[-200:])
            return 77
        with open(os.path.join(work, "Containerfile"), "w") as f:
            f.write('FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT ["/prog"]\n')
        sh(["podman", "build", "-q", "--pull=never", "-t", built, "-f", "Containerfile", "."], work)
        want_id = sh(["podman", "image", "inspect", "--format", "{{.Id}}", built], work).stdout.strip()
        sh(["podman", "save", "--format", "docker-archive", "-o", "img.tar", built], work)
        sh(["podman", "save", "--format", "oci-archive", "-o", "img-oci.tar", built], work)
        # Remove the built image so that the loads below really load.
        sh(["podman", "image", "rm", "--force", built], work, check=False)
        with open(os.path.join(work, "img.tar"), "rb") as f:
            raw = f.read()
        with open(os.path.join(work, "img.tar.gz"), "wb") as f:
            f.write(gzip.compress(raw, compresslevel=1))
        with open(os.path.join(work, "img.tar.xz"), "wb") as f:
            f.write(lzma.compress(raw, preset=0))

        for i, (name, fmt) in enumerate([("img.tar", "docker-archive"), ("img.tar.gz", "docker-archive"),
                                         ("img.tar.xz", "docker-archive"), ("img-oci.tar", "oci-archive")]):
            target = f"localhost/segarena/sub-test-{tag}-{i}"
            loaded.append(target)
            scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
            out = sh([DRIVER, "intake", os.path.join(work, name), scratch, "0", "0", "0", target], work)
            res = json.loads(out.stdout)
            problems = []
            if res["rc"] != 0 or res["load_rc"] != 0:
                problems.append(f"refused: {res['error']} {res['load_error']}")
            if res["format"] != fmt:
                problems.append(f"format {res['format']}")
            if res["digest"] != "sha256:" + want_id:
                problems.append(f"digest {res['digest']} != sha256:{want_id}")
            if res["uid"] != 1000 or res["arch"] != "amd64":
                problems.append(f"uid {res['uid']} arch {res['arch']}")
            got = sh(["podman", "image", "inspect", "--format", "{{.Id}}", target], work, check=False)
            if got.returncode != 0 or got.stdout.strip() != want_id:
                problems.append(f"podman image inspect {target}: {got.stdout.strip()} {got.stderr.strip()[-200:]}")
            if os.path.exists("/var/tmp/oom") or os.path.exists(os.path.join(work, "oom")):
                problems.append("an oom file appeared")
            if problems:
                failed.append(f"{name}: " + "; ".join(problems))
            else:
                print(f"ok {name}: loaded as {target} ({res['digest'][:19]}...)")
        # An engine that commits another image than the one inspected (the id check
        # fails): the shared final name, here a ready image's, must not be touched,
        # and nothing of the failed load is left.
        with open(os.path.join(work, "Containerfile2"), "w") as f:
            f.write('FROM scratch\nCOPY prog /prog\nUSER 1000\nENV OTHER=1\nENTRYPOINT ["/prog"]\n')
        sh(["podman", "build", "-q", "--pull=never", "-t", built2, "-f", "Containerfile2", "."], work)
        other_id = sh(["podman", "image", "inspect", "--format", "{{.Id}}", built2], work).stdout.strip()
        sh(["podman", "save", "--format", "docker-archive", "-o", "other.tar", built2], work)
        sh(["podman", "image", "rm", "--force", built2], work, check=False)
        scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
        # as a data directory's load (a lock dir and a tag of this test only), so that
        # the check below sees this load's temporary names, not a concurrent test's
        lock_dir = tempfile.mkdtemp(prefix="locks-", dir=work)
        load_tag = uuid.uuid4().hex[:8]
        r = subprocess.run([DRIVER, "intake", os.path.join(work, "img.tar"), scratch, "0", "0", "0", loaded[0],
                            lock_dir, load_tag],
                           cwd=work, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, SA_TEST_LOAD_TAR=os.path.join(work, "other.tar")))
        res = json.loads(r.stdout)
        if res["load_rc"] == 0 or "is not the config digest" not in res["load_error"]:
            failed.append(f"mismatched load accepted: {res}")
        got = sh(["podman", "image", "inspect", "--format", "{{.Id}}", loaded[0]], work, check=False)
        if got.returncode != 0 or got.stdout.strip() != want_id:
            failed.append(f"a refused load changed {loaded[0]}: {got.stdout.strip()} {got.stderr.strip()[-200:]}")
        else:
            print(f"ok mismatch: {loaded[0]} kept")
        if sh(["podman", "image", "exists", other_id], work, check=False).returncode == 0:
            failed.append("the refused load's image was left")
        names = sh(["podman", "images", "--format", "{{.Repository}}"], work).stdout
        if f"segarena/load-{load_tag}-" in names:
            failed.append(f"a load's temporary name was left: {names}")
        if os.listdir(lock_dir):
            failed.append(f"a load's lock file was left: {os.listdir(lock_dir)}")
        # The engine failing for a while (containers/storage races between clients
        # that share layers: "layer not known"): the load is tried again before the
        # image is blamed; the host's trouble after a copy is not the image's fault.
        failed += engine_failures(work, os.path.join(work, "img.tar"), want_id, tag, loaded)
        failed += docker_load(work, os.path.join(work, "img.tar"), want_id, tag)
        # The name inside the archive must not have been created.
        if sh(["podman", "image", "exists", built], work, check=False).returncode == 0:
            failed.append(f"the archive's own name {built} was created")
        # A name outside localhost/segarena/ is refused before skopeo runs.
        scratch = tempfile.mkdtemp(prefix="scratch-", dir=work)
        out = sh([DRIVER, "intake", os.path.join(work, "img.tar"), scratch, "0", "0", "0",
                  "docker.io/library/evil"], work)
        res = json.loads(out.stdout)
        if res["load_rc"] == 0 or "localhost/segarena/" not in res["load_error"]:
            failed.append(f"foreign name accepted: {res}")
    finally:
        for name in loaded + [built, built2]:
            sh(["podman", "image", "rm", "--force", name], work, check=False)
        shutil.rmtree(work, ignore_errors=True)
    for f in failed:
        print("FAIL", f)
    if not failed:
        print("test_intake_load: all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
