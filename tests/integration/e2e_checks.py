"""e2e_checks.py: what the Python end-to-end tests share: counted checks, a
closing "N passed, N failed" line (ctest reads the exit status), and running a
command with its output captured."""
import sqlite3
import subprocess
import sys

_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    """Counts a check; prints what failed."""
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("FAILED:", what)


def failed_count():
    """The checks failed so far (a test that then skips must not hide them)."""
    return _counts["failed"]


def sh(*args, **kw):
    """Runs a command (argv, never a shell) and captures its output."""
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def remove_loaded_images(db_path):
    """Removes the images a test's own data directory loaded (its submissions'
    localhost/segarena/sub-* names), so that test runs do not pile images up in the
    engine's store. Only names from this test's database: never another test's.
    True when there were some and podman removed them all."""
    db = sqlite3.connect(db_path)
    names = [n for (n,) in db.execute("SELECT DISTINCT image_name FROM submissions "
                                      "WHERE image_name LIKE 'localhost/segarena/sub-%'")]
    db.close()
    if not names:
        return False
    return sh("podman", "rmi", *names).returncode == 0


def finish(name):
    """Prints the closing line and exits: 0 only when something passed and nothing failed."""
    print(f"{name}: {_counts['passed']} passed, {_counts['failed']} failed")
    sys.exit(1 if _counts["failed"] or not _counts["passed"] else 0)
