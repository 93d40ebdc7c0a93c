#!/usr/bin/python3
"""Checks sa_percentile bit for bit against numpy.percentile (default "linear").

Usage: percentile_vs_numpy.py PATH/TO/test_percentile
Exit 77 (ctest: skipped) when numpy is not installed.
"""
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed (Debian package python3-numpy)")
    sys.exit(77)

out = subprocess.run([sys.argv[1], "--emit"], check=True, capture_output=True, text=True).stdout
passed = failed = 0
for line in out.splitlines():
    fields = line.split()
    n, q, got = int(fields[0]), float.fromhex(fields[1]), float.fromhex(fields[2])
    values = np.array([float.fromhex(f) for f in fields[3:]], dtype=np.float64)
    assert len(values) == n
    want = float(np.percentile(values, q))
    if want == got:
        passed += 1
    else:
        failed += 1
        print(f"n={n} q={q}: segarena {got!r} numpy {want!r}")
print(f"numpy {np.__version__}: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
