#!/usr/bin/python3
"""Writes the bundled example pair examples/masks/{reference,prediction}.nii.gz.

A 96x96x64 volume at 1 x 1 x 1.5 mm (oblique-free, RAS+ affine) with a dozen
MS-lesion-like blobs in the reference; the prediction misses two small lesions,
adds a false positive, and draws the others one voxel wider or tighter.
Deterministic (seed 2016). Needs Debian's python3-nibabel and python3-numpy.
"""
import os

import nibabel as nib
import numpy as np

rng = np.random.default_rng(2016)
shape = (96, 96, 64)
spacing = (1.0, 1.0, 1.5)
x, y, z = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")

ref = np.zeros(shape, np.uint8)
pred = np.zeros(shape, np.uint8)
for i in range(12):
    c = rng.uniform([20, 20, 12], [76, 76, 52])
    r = rng.uniform(1.5, 6.0, size=3)
    d = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) * spacing[2] / r[2]) ** 2
    ref[d <= 1] = 1
    if i in (3, 7):  # missed by the method
        continue
    grow = rng.choice([-0.25, 0.0, 0.35])
    shift = rng.integers(-1, 2, size=3)
    dp = (((x - c[0] - shift[0]) / r[0]) ** 2 + ((y - c[1] - shift[1]) / r[1]) ** 2
          + ((z - c[2] - shift[2]) * spacing[2] / r[2]) ** 2)
    pred[dp <= 1 + grow] = 1
# a false positive
pred[((x - 30) ** 2 + (y - 70) ** 2 + ((z - 40) * 1.5) ** 2) <= 9] = 1

affine = np.diag([*spacing, 1.0])
affine[:3, 3] = [-48.0, -60.0, -30.0]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "masks")
os.makedirs(out, exist_ok=True)
for name, data in (("reference", ref), ("prediction", pred)):
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, os.path.join(out, name + ".nii.gz"))
print("wrote", out)
