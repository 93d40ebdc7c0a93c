#!/usr/bin/python3
"""End-to-end test of `segarena try` with real podman: a well-behaved image
succeeds and its mask is kept (--keep-output creating its folder); a mask that
cannot be kept makes the run exit 1, not 0; a failing one is classified; a root
image is refused at intake with exit status 2; a try killed -9 while its
container runs leaves its name, container and /output tmpfs until the next try
removes them (a live try's and a --keep-image name are kept); nothing is left in
the engine.
First, without an engine: a --keep-output folder that cannot be made (no parent
folder, or a file) is refused with exit status 2 before the intake.

Usage: test_cli_try.py PATH/TO/segarena PATH/TO/test_sandbox_prog.c CC WORKDIR
Exit 77 (skipped, once the checks without an engine passed) without podman,
skopeo or a static C toolchain.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, failed_count, finish, sh  # noqa: E402

SEGARENA, PROG, CC, WORK = sys.argv[1:5]


def skip(why):
    """Exit 77, unless a check without an engine failed already."""
    if failed_count():
        finish("test_cli_try")
    print("SKIP: " + why)
    sys.exit(77)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)

# --keep-output is checked before the intake (no engine involved): the inputs are
# listed by name only, and the archive is never reached
listed = os.path.join(WORK, "listed")
os.makedirs(listed)
open(os.path.join(listed, "flair.nii"), "w").close()
no_parent = os.path.join(WORK, "no-parent", "kept")
r = sh(SEGARENA, "try", os.path.join(WORK, "missing.tar"), "--inputs", listed, "--keep-output", no_parent)
lines = r.stderr.splitlines()
check(r.returncode == 2 and len(lines) == 1 and no_parent in lines[0] and "missing.tar" not in r.stderr,
      f"--keep-output without its parent folder: refused first, one line: {r.returncode} {r.stderr}")
check(not os.path.exists(os.path.join(WORK, "no-parent")), "no parent folder created")
a_file = os.path.join(WORK, "a-file")
open(a_file, "w").close()
r = sh(SEGARENA, "try", os.path.join(WORK, "missing.tar"), "--inputs", listed, "--keep-output", a_file)
check(r.returncode == 2 and "not a folder" in r.stderr and a_file in r.stderr,
      f"--keep-output naming a file: {r.returncode} {r.stderr}")
# a folder that cannot be made where its parent exists (/proc takes no new
# folders, not even root's), and an empty name: refused before the run too
for unmakeable in ("/proc/segarena-kept", ""):
    r = sh(SEGARENA, "try", os.path.join(WORK, "missing.tar"), "--inputs", listed, "--keep-output", unmakeable)
    lines = r.stderr.splitlines()
    check(r.returncode == 2 and len(lines) == 1 and "--keep-output" in lines[0] and "missing.tar" not in r.stderr,
          f"--keep-output {unmakeable!r}: refused first, one line: {r.returncode} {r.stderr}")

if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
    skip("needs rootful podman and skopeo (the project's set-up installs them)")
try:
    import nibabel as nib
    import numpy as np
except ImportError as e:
    skip(str(e))

prog = os.path.join(WORK, "prog")
if sh(CC, "-static", "-O2", PROG, "-o", prog).returncode != 0:
    skip("no static C toolchain")
tag = f"localhost/segarena-try-test-{os.getpid()}"


def image(name, entry, user="1000"):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    shutil.copy(prog, d)
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write(f'FROM scratch\nCOPY prog /prog\nUSER {user}\nENTRYPOINT ["/prog", "{entry}"]\n')
    ref = f"{tag}-{name}:1"
    r = sh("podman", "build", "-q", "-t", ref, d, cwd=d)
    archive = os.path.join(WORK, f"{name}.tar")
    s = sh("podman", "save", "--format", "docker-archive", "-o", archive, ref, cwd=d)
    sh("podman", "rmi", ref)
    if r.returncode or s.returncode:
        print(r.stderr, s.stderr)
    return archive


inputs = os.path.join(WORK, "case")
os.makedirs(inputs)
nib.save(nib.Nifti1Image(np.random.default_rng(1).random((16, 12, 8)).astype(np.float32), np.eye(4)),
         os.path.join(inputs, "flair.nii"))
kept = os.path.join(WORK, "kept")  # missing: --keep-output creates it

good = image("good", "good")
r = sh(SEGARENA, "try", good, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128", "--keep-output", kept)
check(r.returncode == 0 and "class       succeeded" in r.stdout, f"good image: {r.returncode} {r.stdout} {r.stderr}")
mask = os.path.join(kept, "segmentation.nii")
check(os.path.exists(mask) and nib.load(mask).shape == (16, 12, 8), "the accepted mask is kept, on the input grid")

# a mask that cannot be kept (a folder in the way of DIR/segmentation.nii): the case
# succeeded, but the run exits 1 with one line saying so
blocked = os.path.join(WORK, "blocked")
os.makedirs(os.path.join(blocked, "segmentation.nii"))
r = sh(SEGARENA, "try", good, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128",
       "--keep-output", blocked)
lines = [l for l in r.stderr.splitlines() if l.strip()]
check(r.returncode == 1 and "class       succeeded" in r.stdout and len(lines) == 1
      and "cannot write" in lines[0] and os.path.join(blocked, "segmentation.nii") in lines[0],
      f"a mask not kept exits 1: {r.returncode} {r.stdout} {r.stderr}")

bad = image("bad", "exit3")
r = sh(SEGARENA, "try", bad, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128")
check(r.returncode == 1 and "class       exit_code 3" in r.stdout, f"failing image: {r.returncode} {r.stdout} {r.stderr}")

root = image("root", "good", user="0")
r = sh(SEGARENA, "try", root, "--inputs", inputs)
lines = [l for l in r.stderr.splitlines() if l.strip()]
check(r.returncode == 2 and len(lines) == 1 and "root" in lines[0] and "root.tar" in lines[0], f"root image: {r.stderr}")

r = sh(SEGARENA, "try", os.path.join(WORK, "missing.tar"), "--inputs", inputs)
check(r.returncode == 2 and "missing.tar" in r.stderr, "missing archive")

# A try killed (-9) while its container runs left its image name, its running
# container and its work folder with a mounted /output tmpfs for good. Now the
# next try removes them (its lock file under
# /tmp/segarena-try-<euid> held by no process), but never a live try's, nor a
# name kept with --keep-image; tries at once have containers of their own.
lock_dir = f"/tmp/segarena-try-{os.geteuid()}"


def try_names():
    out = sh("podman", "images", "--format", "{{.Repository}}").stdout.split()
    return {n for n in out if n.startswith("localhost/segarena/sub-try-")}


def try_containers():
    out = sh("podman", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    return {n for n in out if n.startswith("segarena-try-")}


hang = image("hang", "hang")
names0, containers0 = try_names(), try_containers()
live = subprocess.Popen([SEGARENA, "try", hang, "--inputs", inputs, "--wall-seconds", "300", "--memory-mb", "128"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 120
while time.time() < deadline and not (try_names() - names0 and try_containers() - containers0):
    time.sleep(0.2)
hung_names, hung_containers = try_names() - names0, try_containers() - containers0
check(len(hung_names) == 1 and len(hung_containers) == 1,
      f"the hanging try has its own name and container: {hung_names} {hung_containers}")
hung_name = next(iter(hung_names), "?")
hung_lock = os.path.join(lock_dir, "try-" + hung_name.rsplit("-", 1)[-1] + ".lock")
check(os.path.exists(hung_lock), f"its lock file {hung_lock}")
# another try meanwhile: runs in its own container, keeps the live try's name and container
r = sh(SEGARENA, "try", good, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128")
check(r.returncode == 0 and "class       succeeded" in r.stdout, f"a try beside a live one: {r.returncode} {r.stdout} {r.stderr}")
check(hung_names <= try_names() and hung_containers <= try_containers() and live.poll() is None,
      "a live try's name and container are kept")
# --keep-image: a name kept on purpose is never swept
r = sh(SEGARENA, "try", good, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128", "--keep-image")
kept_names = try_names() - names0 - hung_names
check(r.returncode == 0 and len(kept_names) == 1, f"--keep-image keeps its name: {kept_names}")
live.kill()
live.wait()
check(hung_names <= try_names() and hung_containers <= try_containers(), "the killed try left its name and container")
hung_work = f"/try-{hung_name.rsplit('-', 1)[-1]}-case/output "
with open("/proc/self/mountinfo") as f:
    check(hung_work in f.read(), "the killed try left its /output tmpfs mounted")
r = sh(SEGARENA, "try", good, "--inputs", inputs, "--wall-seconds", "30", "--memory-mb", "128")
check(r.returncode == 0, f"the next try: {r.returncode} {r.stderr}")
check(not (hung_names & try_names()) and not (hung_containers & try_containers()) and not os.path.exists(hung_lock),
      f"the next try removed the killed one's name, container and lock file: {try_names()} {try_containers()}")
check(kept_names <= try_names(), "the --keep-image name is still there")
with open("/proc/self/mountinfo") as f:
    check(hung_work not in f.read(), "the next try unmounted the killed one's /output tmpfs")
for n in kept_names:
    sh("podman", "rmi", n)
for n in hung_containers:
    sh("podman", "rm", "-f", "-v", n)
for n in hung_names:
    sh("podman", "rmi", n)

left = sh("podman", "images", "--format", "{{.Repository}}").stdout
check("segarena/sub-try" not in left and tag not in left, f"nothing left in the engine: {left}")
check(sh("podman", "ps", "-a", "--filter", "label=segarena", "-q").stdout.strip() == "", "no container left")

finish("test_cli_try")
