#!/usr/bin/python3
"""End-to-end test of the baseline contestants in examples/contestants/: builds both
images with build.sh (static C, podman, FROM scratch), runs each with `segarena try`
on small demo data, scores its masks against the raters and checks it is an honest
baseline: mean consensus Dice > 0.2 and below the raters' own leave-one-out mean Dice.

Usage: test_baselines.py SEGARENA_BINARY EXAMPLES_DIR WORKDIR
Exit 77 (skipped) without rootful podman, skopeo or a static zlib.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, finish, sh  # noqa: E402

SEGARENA, EXAMPLES, WORK = sys.argv[1:4]
SEGARENA = os.path.abspath(SEGARENA)
EXAMPLES = os.path.abspath(EXAMPLES)
WORK = os.path.abspath(WORK)
CONTESTANTS = os.path.join(EXAMPLES, "contestants") \
    if os.path.isdir(os.path.join(EXAMPLES, "contestants")) else EXAMPLES


if not shutil.which("podman") or not shutil.which("skopeo") or os.geteuid() != 0:
    print("SKIP: needs rootful podman and skopeo (the project's set-up installs them)")
    sys.exit(77)
cc = os.environ.get("CC", "cc")
if not shutil.which(cc):
    print(f"SKIP: no C compiler ({cc})")
    sys.exit(77)

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
probe = os.path.join(WORK, "probe.c")
with open(probe, "w") as f:
    f.write("#include <zlib.h>\nint main(void){return zlibVersion()[0]=='\\0';}\n")
if sh(cc, "-static", "-O2", probe, "-o", os.path.join(WORK, "probe"), "-lz").returncode != 0:
    print("SKIP: no static C toolchain with zlib (libz.a)")
    sys.exit(77)

images = os.path.join(WORK, "images")
r = sh("sh", os.path.join(CONTESTANTS, "build.sh"), images)
if r.returncode != 0:
    print("FAILED: build.sh:", r.stdout, r.stderr)
    sys.exit(1)
ms_tar = os.path.join(images, "ms_flair_threshold.tar")
pet_tar = os.path.join(images, "pet_suvmax40.tar")
check(os.path.getsize(ms_tar) > 0 and os.path.getsize(pet_tar) > 0, "build.sh wrote both archives")

ms_set, pet_set = os.path.join(WORK, "ms"), os.path.join(WORK, "pet")
for args in (["--kind", "ms", "--cases", "2", "--size", "96x96x80", "--seed", "5", "--out", ms_set],
             ["--kind", "pet", "--cases", "2", "--seed", "5", "--out", pet_set]):
    r = sh(SEGARENA, "dataset", "make-demo", *args)
    if r.returncode != 0:
        print("FAILED: make-demo", args, r.stderr)
        sys.exit(1)

MS_ROLES = {"flair": "FLAIR", "t1": "T1w", "t2": "T2w", "dp": "PDw", "t1gd": "ce-gadolinium_T1w"}


def case_inputs(kind, sub):
    d = os.path.join(WORK, "cases", sub)
    os.makedirs(d)
    if kind == "ms":
        for role, suffix in MS_ROLES.items():
            shutil.copy(os.path.join(ms_set, sub, "anat", f"{sub}_{suffix}.nii.gz"),
                        os.path.join(d, f"{role}.nii.gz"))
    else:
        shutil.copy(os.path.join(pet_set, sub, "pet", f"{sub}_pet.nii.gz"), os.path.join(d, "pet.nii.gz"))
    return d


def run_and_score(name, archive, kind, dataset, sub):
    inputs = case_inputs(kind, sub)
    out = os.path.join(WORK, "out", name, sub)
    os.makedirs(out)
    r = sh(SEGARENA, "try", archive, "--inputs", inputs, "--keep-output", out,
           "--wall-seconds", "60", "--memory-mb", "512")
    ok = r.returncode == 0 and "succeeded" in r.stdout
    check(ok, f"{name} on {sub}: segarena try exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    mask = os.path.join(out, "segmentation.nii.gz")
    check(os.path.exists(mask), f"{name} on {sub}: the mask is kept")
    if not ok or not os.path.exists(mask):
        return None
    refs = sorted(glob.glob(os.path.join(dataset, "derivatives", "rater*", sub, "*",
                                         f"{sub}_desc-lesion_mask.nii.gz")))
    check(len(refs) == (7 if kind == "ms" else 3), f"{sub}: raters found ({len(refs)})")
    args = []
    for ref in refs:
        args += ["--ref", ref]
    r = sh(SEGARENA, "score", *args, mask, "--json", "--human-reference")
    check(r.returncode == 0, f"{name} on {sub}: score exit {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    hr = d["human_reference"]
    loo = sum(v["dice"] for v in hr.values()) / len(hr)
    dice = d["consensus"]["dice"]
    print(f"{name} {sub}: consensus Dice {dice:.3f}, raters' leave-one-out mean Dice {loo:.3f}")
    return dice, loo


for name, archive, kind, dataset, subs in (
        ("ms_flair_threshold", ms_tar, "ms", ms_set, ["sub-ms01", "sub-ms02"]),
        ("pet_suvmax40", pet_tar, "pet", pet_set, ["sub-pet01", "sub-pet02"])):
    res = [run_and_score(name, archive, kind, dataset, s) for s in subs]
    if any(x is None for x in res):
        check(False, f"{name}: every case ran and was scored")
        continue
    dice = sum(x[0] for x in res) / len(res)
    loo = sum(x[1] for x in res) / len(res)
    print(f"{name}: mean consensus Dice {dice:.3f}, mean raters' leave-one-out Dice {loo:.3f}")
    check(dice > 0.2, f"{name}: mean consensus Dice {dice:.3f} > 0.2")
    check(dice < loo, f"{name}: mean consensus Dice {dice:.3f} < raters' leave-one-out mean {loo:.3f}")

# Bad input: a valid but all-zero FLAIR must fail the case with a message (exit_code 1).
def zero_nifti(path, n=16):
    import gzip
    import struct
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, n, n, n, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, 4, 16)              # int16
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<ff", h, 108, 352.0, 1.0)        # vox_offset, scl_slope
    struct.pack_into("<b", h, 123, 2)                  # xyzt_units mm
    h[344:348] = b"n+1\0"
    with gzip.open(path, "wb") as f:
        f.write(bytes(h) + bytes(4) + bytes(2 * n ** 3))


empty = os.path.join(WORK, "cases", "zero")
os.makedirs(empty)
zero_nifti(os.path.join(empty, "flair.nii.gz"))
r = sh(SEGARENA, "try", ms_tar, "--inputs", empty, "--wall-seconds", "60", "--memory-mb", "512")
check(r.returncode != 0 and "exit_code 1" in r.stdout and "empty" in r.stdout + r.stderr,
      f"ms_flair_threshold on an all-zero FLAIR fails with a message: {r.returncode} {r.stdout} {r.stderr}")
zero_pet = os.path.join(WORK, "cases", "zero_pet")
os.makedirs(zero_pet)
zero_nifti(os.path.join(zero_pet, "pet.nii.gz"))
r = sh(SEGARENA, "try", pet_tar, "--inputs", zero_pet, "--wall-seconds", "60", "--memory-mb", "512")
check(r.returncode != 0 and "exit_code 1" in r.stdout and "no uptake" in r.stdout + r.stderr,
      f"pet_suvmax40 on an all-zero PET fails with a message: {r.returncode} {r.stdout} {r.stderr}")

left = sh("podman", "images", "--format", "{{.Repository}}").stdout
check("segarena-example-" not in left and "sub-try-" not in left, f"no image left in the engine: {left}")
finish("test_baselines")
