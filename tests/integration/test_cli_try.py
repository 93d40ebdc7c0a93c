#!/usr/bin/python3
"""End-to-end test of `segarena try` with real podman: a well-behaved image
succeeds and its mask is kept (--keep-output creating its folder); a mask that
cannot be kept makes the run exit 1, not 0; a failing one is classified; a root
image is refused at intake with exit status 2; nothing is left in the engine.
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

left = sh("podman", "images", "--format", "{{.Repository}}").stdout
check("segarena/sub-try" not in left and tag not in left, f"nothing left in the engine: {left}")
check(sh("podman", "ps", "-a", "--filter", "label=segarena", "-q").stdout.strip() == "", "no container left")

finish("test_cli_try")
