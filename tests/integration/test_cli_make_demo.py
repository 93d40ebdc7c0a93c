#!/usr/bin/python3
"""`segarena dataset make-demo --out DIR` with a DIR it cannot use: refused before
any case is generated, with one line naming DIR and exit status 2 (bad usage), and
nothing changed or left beside it. (A dangling symlink was found only when the
finished set was renamed onto it, exit 1; a folder above DIR that is a file, or
one that cannot be written in, was exit 1 too.)

Usage: test_cli_make_demo.py PATH/TO/segarena WORKDIR
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, finish, sh  # noqa: E402

SEGARENA, WORK = sys.argv[1], sys.argv[2]
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)


def make_demo(out):
    return sh(SEGARENA, "dataset", "make-demo", "--kind", "ms", "--cases", "2", "--size", "48x48x48",
              "--threads", "1", "--out", out)


def refused(out, needle, what):
    before = sorted(os.listdir(WORK))
    p = make_demo(out)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode == 2 and p.stdout == "" and len(lines) == 1 and out in lines[0] and needle in lines[0],
          f"{what}: exit 2, one line naming it with {needle!r} ({p.returncode} {p.stderr!r})")
    check(sorted(os.listdir(WORK)) == before, f"{what}: nothing made or left ({sorted(os.listdir(WORK))})")


a_file = os.path.join(WORK, "a_file")
open(a_file, "w").write("keep me\n")
refused(a_file, "is a file, not a folder", "DIR an existing file")
check(open(a_file).read() == "keep me\n", "the file is unchanged")

dangling = os.path.join(WORK, "dangling")
os.symlink(os.path.join(WORK, "nowhere"), dangling)
refused(dangling, "dangling symbolic link", "DIR a dangling symlink")
refused(dangling + "/", "dangling symbolic link", "DIR/ a dangling symlink")
check(os.path.islink(dangling) and not os.path.exists(os.path.join(WORK, "nowhere")), "the link is unchanged")

empty = os.path.join(WORK, "empty")
os.makedirs(empty)
to_empty = os.path.join(WORK, "to_empty")
os.symlink(empty, to_empty)
refused(to_empty, "is a symbolic link", "DIR a symlink to an empty folder")
check(os.path.islink(to_empty) and os.listdir(empty) == [], "the link and its folder are unchanged")

full = os.path.join(WORK, "full")
os.makedirs(full)
open(os.path.join(full, "x"), "w").write("x")
refused(full, "not an empty folder", "DIR a folder that is not empty")

refused(os.path.join(a_file, "demo"), "is not a folder", "a folder above DIR that is a file")
refused(os.path.join(a_file, "sub", "demo"), "is not a folder", "a folder further above DIR that is a file")

if os.geteuid() != 0:  # root writes anywhere
    ro = os.path.join(WORK, "read_only")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    refused(os.path.join(ro, "demo"), "Permission denied", "DIR in a folder that cannot be written")
    refused(os.path.join(ro, "sub", "demo"), "Permission denied", "DIR below a folder that cannot be written")
    os.chmod(ro, 0o755)
else:  # a read-only file system stands in: /proc cannot be written by root either
    p = make_demo("/proc/segarena-demo")
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode == 2 and len(lines) == 1 and "/proc/segarena-demo" in lines[0],
          f"DIR in a folder that cannot be written (/proc): exit 2, one line ({p.returncode} {p.stderr!r})")

# a DIR it can use: missing (its folders made), or an empty folder
for out in (os.path.join(WORK, "new", "demo"), empty):
    p = make_demo(out)
    check(p.returncode == 0 and os.path.isdir(os.path.join(out, "derivatives")), f"{out}: written ({p.stderr!r})")

shutil.rmtree(WORK)
finish("test_cli_make_demo")
