#!/usr/bin/python3
"""test_phantoms_nibabel.py: Debian's nibabel reads what `segarena dataset
make-demo` writes (native NIfTI writer), with the expected affine, codes, types,
and the BIDS layout's JSON files parse.

Usage: /usr/bin/python3 test_phantoms_nibabel.py TEST_PHANTOMS_BINARY OUT_DIR
(the binary's `make-demo` mode runs the command). Exit 77 without nibabel.
"""
import json
import os
import subprocess
import sys

try:
    import nibabel as nib
    import numpy as np
except ImportError:
    sys.exit(77)

binary, out = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


os.makedirs(out, exist_ok=True)
ms, pet = os.path.join(out, "ms"), os.path.join(out, "pet")
for d, args in ((ms, ["--kind", "ms", "--size", "48x56x40"]), (pet, ["--kind", "pet", "--anisotropic", "--ct"])):
    r = subprocess.run([binary, "make-demo", *args, "--cases", "2", "--seed", "5", "--out", d],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"make-demo {args}: {r.stderr}")

desc = json.load(open(os.path.join(ms, "dataset_description.json")))
check(desc["BIDSVersion"] == "1.8.0" and desc["DatasetType"] == "raw", "dataset_description")
check(desc["GeneratedBy"][0]["Name"] == "SegArena" and desc["GeneratedBy"][0]["Seed"] == 5, "GeneratedBy")
for k in range(1, 8):
    d = json.load(open(os.path.join(ms, "derivatives", f"rater{k}", "dataset_description.json")))
    check(d["DatasetType"] == "derivative", f"rater{k} description")
rows = open(os.path.join(ms, "participants.tsv")).read().splitlines()
check(rows == ["participant_id\tsplit", "sub-ms01\ttest", "sub-ms02\ttest"], f"participants.tsv {rows}")
side = json.load(open(os.path.join(pet, "sub-pet01", "pet", "sub-pet01_pet.json")))
check(side["Units"] == "SUV" and side["TracerName"] == "FDG", "PET sidecar")

flair = nib.load(os.path.join(ms, "sub-ms01", "anat", "sub-ms01_FLAIR.nii.gz"))
check(flair.shape == (48, 56, 40), f"shape {flair.shape}")
check(flair.get_data_dtype() == np.int16, "FLAIR int16")
check(int(flair.header["qform_code"]) == 1 and int(flair.header["sform_code"]) == 1, "codes")
check(np.allclose(flair.header.get_qform(), flair.header.get_sform(), atol=1e-5), "qform == sform")
exp = np.diag([1.0, 1.0, 1.0, 1.0])
exp[:3, 3] = [-23.0, -27.0, -19.0]  # RAS, centred on the grid
check(np.allclose(flair.affine, exp), f"affine {flair.affine}")
check(flair.header.get_xyzt_units()[0] == "mm", "units mm")
data = np.asanyarray(flair.dataobj)
check(data.min() >= 0 and data.max() > 300, "FLAIR range")
truth = nib.load(os.path.join(ms, "derivatives", "truth", "sub-ms01", "anat", "sub-ms01_desc-truth_mask.nii.gz"))
t = np.asanyarray(truth.dataobj)
check(t.dtype == np.uint8 and set(np.unique(t)) <= {0, 1} and t.sum() > 0, "truth mask 0/1 uint8")
for k in range(1, 8):
    m = nib.load(os.path.join(ms, "derivatives", f"rater{k}", "sub-ms01", "anat", "sub-ms01_desc-lesion_mask.nii.gz"))
    check(np.allclose(m.affine, flair.affine) and m.shape == flair.shape, f"rater{k} geometry")

p = nib.load(os.path.join(pet, "sub-pet02", "pet", "sub-pet02_pet.nii.gz"))
check(p.get_data_dtype() == np.float32, "PET float32")
check(np.allclose(p.header.get_zooms(), (4.0, 4.0, 2.0)), f"PET zooms {p.header.get_zooms()}")
suv = np.asanyarray(p.dataobj)
check(suv.min() >= 0 and 0.3 < np.median(suv[suv > 0.5]) < 3, "SUV range")
ct = nib.load(os.path.join(pet, "sub-pet02", "anat", "sub-pet02_ct.nii.gz"))
check(ct.get_data_dtype() == np.int16 and np.allclose(ct.affine, p.affine), "CT int16, PET geometry")
c = np.asanyarray(ct.dataobj)
check(c.min() <= -900 and c.max() >= 300, "CT HU range")

print(f"test_phantoms_nibabel: {'ok' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)
