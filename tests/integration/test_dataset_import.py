#!/usr/bin/python3
"""test_dataset_import.py: end-to-end tests of `segarena dataset import|verify|show|list`
on small NIfTI fixtures written with nibabel (and a DICOM series written with dcmtk's
dump2dcm when it is installed).

Usage: /usr/bin/python3 test_dataset_import.py SEGARENA WORKDIR [FAULT_FS_SO]
(FAULT_FS_SO: tests/integration/fault_fs.c built, to fail a rename; without it those
checks are skipped.) Exits 77 (ctest: skipped) when nibabel/numpy are missing.
"""
import gzip
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys

try:
    import nibabel as nib
    import numpy as np
except ImportError:
    print("SKIP: nibabel/numpy not available")
    sys.exit(77)

SEGARENA = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2])
FAULT_FS = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


def run(*args, data_dir=None, prefix=(), env=None):
    cmd = list(prefix) + [SEGARENA, "dataset"] + list(args)
    if data_dir:
        cmd += ["--data-dir", data_dir]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="backslashreplace", env=env)
    return p.returncode, p.stdout, p.stderr


def make_writable(path):
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):
                os.chmod(fp, 0o644)


def rmtree(path):
    if os.path.exists(path):
        make_writable(path)
        shutil.rmtree(path)


AFFINE = np.diag([1.0, 1.0, 1.5, 1.0])
N = 16


def save(path, data, affine=AFFINE, dtype=np.uint8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    img.header.set_data_dtype(dtype)
    nib.save(img, path)


def cubes(centres, size=2, shape=(N, N, N)):
    m = np.zeros(shape, np.uint8)
    for (x, y, z) in centres:
        m[x:x + size, y:y + size, z:z + size] = 1
    return m


# rater masks per case: lists of cube corners (2x2x2 voxels = 12 mm^3 > 3 mm^3)
RATERS = {
    "alice": [[(1, 1, 1), (6, 6, 6), (11, 11, 11)], [(2, 2, 2)], [(3, 3, 3), (9, 9, 9)]],
    "bob": [[(1, 1, 1), (6, 6, 7)], [(2, 2, 2), (10, 10, 10)], [(3, 3, 3), (9, 9, 9)]],
}
CASES = ["c01", "c02", "c03"]


def image(seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1000, size=(N, N, N)).astype(np.int16)


def expected_summary():
    """lesion counts (every cube is one lesion) and mean pairwise Dice per case"""
    out = []
    for c in range(len(CASES)):
        a = cubes(RATERS["alice"][c]).astype(bool)
        b = cubes(RATERS["bob"][c]).astype(bool)
        tp = int((a & b).sum())
        dice = 2.0 * tp / (int(a.sum()) + int(b.sum()))
        out.append(({"alice": len(RATERS["alice"][c]), "bob": len(RATERS["bob"][c])}, dice))
    return out


def make_plain(root):
    rmtree(root)
    for i, case in enumerate(CASES):
        save(os.path.join(root, case, "flair.nii.gz"), image(i), dtype=np.int16)
        save(os.path.join(root, case, "t1.nii.gz"), image(i + 10), dtype=np.int16)
        for r, lists in RATERS.items():
            save(os.path.join(root, case, "raters", r + ".nii.gz"), cubes(lists[i]))
    with open(os.path.join(root, "splits.tsv"), "w") as f:
        f.write("case\tsplit\nc01\tvalidation\n")


def make_bids(root, sessions):
    rmtree(root)
    os.makedirs(root)
    with open(os.path.join(root, "dataset_description.json"), "w") as f:
        json.dump({"Name": "test", "BIDSVersion": "1.8.0"}, f)
    with open(os.path.join(root, "participants.tsv"), "w") as f:
        f.write("participant_id\tage\tsplit\nsub-01\t30\tvalidation\nsub-02\t40\ttest\n")
    subs = ["01", "02"]
    k = 0
    for s in subs:
        for ses in (["a", "b"] if sessions else [None]):
            prefix = f"sub-{s}" + (f"_ses-{ses}" if ses else "")
            rel = os.path.join(f"sub-{s}", f"ses-{ses}" if ses else "", "anat")
            save(os.path.join(root, rel, prefix + "_FLAIR.nii.gz"), image(k), dtype=np.int16)
            save(os.path.join(root, rel, prefix + "_ce-gadolinium_T1w.nii.gz"), image(k + 20), dtype=np.int16)
            with open(os.path.join(root, rel, prefix + "_FLAIR.json"), "w") as f:
                f.write("{}\n")
            save(os.path.join(root, rel, prefix + "_T2starw.nii.gz"), image(k + 40), dtype=np.int16)
            for r, lists in RATERS.items():
                save(os.path.join(root, "derivatives", r, rel, prefix + "_desc-lesion_mask.nii.gz"),
                     cubes(lists[k % 3]))
            save(os.path.join(root, "derivatives", "truth", rel, prefix + "_desc-truth_mask.nii.gz"),
                 cubes(RATERS["alice"][k % 3]))
            k += 1


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def datasets_entries(data):
    d = os.path.join(data, "datasets")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def all_read_only(path):
    for root, dirs, files in os.walk(path):
        if os.stat(root).st_mode & 0o222:
            return False
        for f in files:
            if os.stat(os.path.join(root, f)).st_mode & 0o222:
                return False
    return True


rmtree(WORK)
os.makedirs(WORK)
DATA = os.path.join(WORK, "data")

# ---- plain layout round trip ------------------------------------------------
plain = os.path.join(WORK, "plain")
make_plain(plain)
rc, out, err = run("import", plain, "--name", "plain1", "--copy", data_dir=DATA)
check(rc == 0, f"plain import: rc {rc}, {err}")
stored = os.path.join(DATA, "datasets", "plain1")
m = json.load(open(os.path.join(stored, "dataset.json")))
check(m["schema"] == "segarena-dataset/1" and m["name"] == "plain1", "plain manifest header")
check(m["kind"] == "ms", f"plain kind guessed ms: {m['kind']}")
check(m["roles"] == ["flair", "t1"] and m["raters"] == ["alice", "bob"], "plain roles and raters")
check(m["source"]["layout"] == "plain", "plain layout recorded")
check([c["id"] for c in m["cases"]] == CASES, "plain case ids")
check([c["split"] for c in m["cases"]] == ["validation", "test", "test"], "plain splits from splits.tsv")
c0 = m["cases"][0]
check(c0["geometry"]["size"] == [16, 16, 16] and c0["geometry"]["spacing"] == [1, 1, 1.5],
      f"plain geometry {c0['geometry']}")
ok = True
for c in m["cases"]:
    for role, f in c["inputs"].items():
        p = os.path.join(stored, f["path"])
        ok &= f["path"] == f"cases/{c['id']}/{role}.nii.gz"
        ok &= same_bytes(p, os.path.join(plain, c["id"], role + ".nii.gz"))
        ok &= f["sha256"] == sha(p) and f["bytes"] == os.path.getsize(p)
    for r, f in c["raters"].items():
        p = os.path.join(stored, f["path"])
        ok &= f["path"] == f"cases/{c['id']}/raters/{r}.nii.gz"
        ok &= same_bytes(p, os.path.join(plain, c["id"], "raters", r + ".nii.gz"))
        ok &= f["sha256"] == sha(p)
check(ok, "plain: stored files equal the sources, paths and sha256 recorded")
check(all_read_only(stored), "plain: stored dataset read-only")
rc, out, err = run("verify", "plain1", data_dir=DATA)
check(rc == 0, f"verify after import: rc {rc} {err}")
rc, out, err = run("list", data_dir=DATA)
check(rc == 0 and "plain1" in out, f"list: {out}")

# ---- show: numbers on a known dataset ---------------------------------------------
rc, out, err = run("show", "plain1", "--json", data_dir=DATA)
check(rc == 0, f"show rc {rc} {err}")
s = json.loads(out) if rc == 0 else {}
exp = expected_summary()
check(s.get("cases") == 3 and s.get("splits") == {"validation": 1, "test": 2}, f"show splits {s.get('splits')}")
check(s.get("voxel_sizes") == [{"spacing": [1, 1, 1.5], "cases": 3}], f"show voxel sizes {s.get('voxel_sizes')}")
for i, pc in enumerate(s.get("per_case", [])):
    check(pc["lesions"] == exp[i][0], f"show lesions case {i}: {pc['lesions']} vs {exp[i][0]}")
    check(abs(pc["inter_rater_dice"] - exp[i][1]) < 1e-9, f"show dice case {i}: {pc['inter_rater_dice']} vs {exp[i][1]}")
mean = sum(e[1] for e in exp) / 3
check(abs(s.get("mean_inter_rater_dice", -1) - mean) < 1e-9, "show mean dice")
rc, out, err = run("show", "plain1", data_dir=DATA)
check(rc == 0 and "alice" in out and "1 x 1 x 1.5 mm (3 cases)" in out, f"show text: {out}")

# a source path that is not UTF-8 (a file name may hold any byte): the dataset is
# stored with the path's other bytes as U+FFFD, and opens (the key was dropped: a
# read-only dataset no command could open, its name taken); a --description that is
# not UTF-8 is refused in one line
nonutf = os.fsdecode(os.path.join(os.fsencode(WORK), b"src\xff"))
shutil.copytree(plain, nonutf)
rc, out, err = run("import", nonutf, "--name", "nonutf8", data_dir=DATA)
check(rc == 0 and "the source path is not valid UTF-8" in err, f"non-UTF-8 source path: {rc} {err}")
rc, out, err = run("show", "nonutf8", data_dir=DATA)
check(rc == 0 and "from " + os.path.join(WORK, "src\ufffd") + " (plain layout)" in out, f"show nonutf8: {rc} {out} {err}")
rc, out, err = run("verify", "nonutf8", data_dir=DATA)
check(rc == 0, f"verify nonutf8: {rc} {err}")
if rc == 0:
    mn = json.load(open(os.path.join(DATA, "datasets", "nonutf8", "dataset.json"), encoding="utf-8"))
    check(mn["source"]["path"] == os.path.join(WORK, "src\ufffd"), f"source path stored lossily: {mn['source']}")
rmtree(nonutf)
rc, out, err = run("import", plain, "--name", "baddesc", "--description", os.fsdecode(b"caf\xe9"), data_dir=DATA)
check(rc == 2 and err == "segarena dataset import: --description is not valid UTF-8 (byte 4)\n",
      f"non-UTF-8 --description: {rc} {err!r}")
check(not os.path.exists(os.path.join(DATA, "datasets", "baddesc")), "non-UTF-8 --description: nothing stored")
rc, out, err = run("import", plain, "--name", "gooddesc", "--description", "caf\u00e9 \u2013 MS", data_dir=DATA)
check(rc == 0, f"UTF-8 --description: {rc} {err}")
if rc == 0:
    md = json.load(open(os.path.join(DATA, "datasets", "gooddesc", "dataset.json"), encoding="utf-8"))
    check(md["description"] == "caf\u00e9 \u2013 MS", f"UTF-8 description kept: {md['description']!r}")

# a file name may hold a newline: each problem is one escaped line (a case folder
# "c<newline>2" printed its problem over two lines), and so is show's source path
nlsrc = os.path.join(WORK, "nl\nsrc")
make_plain(nlsrc)
shutil.copytree(os.path.join(nlsrc, "c02"), os.path.join(nlsrc, "c\n2"))
rc, out, err = run("import", nlsrc, "--name", "newline", data_dir=DATA)
problem_lines = [l for l in err.splitlines() if not l.startswith("note:")]
want = os.path.join(WORK, "nl\\x0asrc", "c\\x0a2") + ': case id "c\\x0a2" is not a valid id'
check(rc == 2 and problem_lines == [want, "segarena dataset import: 1 problem; nothing imported"],
      f"a problem naming a file with a newline is one line: {rc} {problem_lines}")
shutil.rmtree(os.path.join(nlsrc, "c\n2"))
rc, out, err = run("import", nlsrc, "--name", "newline", data_dir=DATA)
check(rc == 0, f"import from a folder with a newline in its name: {rc} {err}")
rc, out, err = run("show", "newline", data_dir=DATA)
created = [l for l in out.splitlines() if l.startswith("created")]
check(rc == 0 and len(created) == 1 and created[0].endswith(" from " + os.path.join(WORK, "nl\\x0asrc") + " (plain layout)")
      and not any(l.startswith("src") for l in out.splitlines()), f"show: the source path on one line: {out!r}")
rmtree(nlsrc)

# ---- import from a manifest folder (the stored dataset) ---------------------------
rc, out, err = run("import", stored, "--name", "frommanifest", data_dir=DATA)
check(rc == 0, f"manifest import: rc {rc} {err}")
if rc == 0:
    m2 = json.load(open(os.path.join(DATA, "datasets", "frommanifest", "dataset.json")))
    check(m2["source"]["layout"] == "manifest", "manifest layout recorded")
    check([c["inputs"]["flair"]["sha256"] for c in m2["cases"]] == [c["inputs"]["flair"]["sha256"] for c in m["cases"]],
          "manifest import keeps the files")
    check([c["split"] for c in m2["cases"]] == [c["split"] for c in m["cases"]], "manifest import keeps splits")

# ---- a manifest naming MetaImage (.mha, .mhd + .raw) and NRRD files: converted to NIfTI ----
def write_meta(path, arr, spacing, origin, data_file=None):
    """MetaImage: one .mha file, or a .mhd header beside data_file (raw, x fastest)"""
    etype = {np.dtype(np.uint8): "MET_UCHAR", np.dtype(np.int16): "MET_SHORT"}[arr.dtype]
    head = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
            "CompressedData = False\nTransformMatrix = 1 0 0 0 1 0 0 0 1\n"
            f"Offset = {origin[0]} {origin[1]} {origin[2]}\n"
            f"ElementSpacing = {spacing[0]} {spacing[1]} {spacing[2]}\n"
            f"DimSize = {arr.shape[0]} {arr.shape[1]} {arr.shape[2]}\nElementType = {etype}\n"
            f"ElementDataFile = {os.path.basename(data_file) if data_file else 'LOCAL'}\n")
    raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes(order="F")
    with open(path, "wb") as f:
        f.write(head.encode() + (b"" if data_file else raw))
    if data_file:
        with open(data_file, "wb") as f:
            f.write(raw)


def write_nrrd(path, arr, spacing, origin):
    head = ("NRRD0004\ntype: uint8\ndimension: 3\n"
            f"sizes: {arr.shape[0]} {arr.shape[1]} {arr.shape[2]}\n"
            "kinds: domain domain domain\nencoding: raw\nspace: left-posterior-superior\n"
            f"space directions: ({spacing[0]},0,0) (0,{spacing[1]},0) (0,0,{spacing[2]})\n"
            f"space origin: ({origin[0]},{origin[1]},{origin[2]})\n\n")
    with open(path, "wb") as f:
        f.write(head.encode() + arr.astype(np.uint8).tobytes(order="F"))


meta = os.path.join(WORK, "metasrc")
rmtree(meta)
os.makedirs(os.path.join(meta, "c1"))
sp, org = (0.8, 1.0, 1.5), (10.0, -5.0, 3.0)
flair = image(7)
ma, mb = cubes([(1, 2, 3), (8, 8, 8)]), cubes([(1, 2, 3)])
write_meta(os.path.join(meta, "c1", "flair.mha"), flair, sp, org)
write_meta(os.path.join(meta, "c1", "ref.mhd"), ma, sp, org, data_file=os.path.join(meta, "c1", "ref.raw"))
write_nrrd(os.path.join(meta, "c1", "r2.nrrd"), mb, sp, org)


def entry(rel):
    p = os.path.join(meta, rel)
    return {"path": rel, "sha256": sha(p), "bytes": os.path.getsize(p)}


json.dump({"schema": "segarena-dataset/1", "name": "metatest", "kind": "ms", "description": "",
           "roles": ["flair"], "raters": ["alice", "bob"], "created": "2024-05-01T12:00:00Z",
           "source": {"layout": "manifest", "path": "x"},
           "cases": [{"id": "c1", "split": "test",
                      "geometry": {"size": [N, N, N], "spacing": list(sp), "origin": list(org),
                                   "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1]},
                      "inputs": {"flair": entry("c1/flair.mha")},
                      "raters": {"alice": entry("c1/ref.mhd"), "bob": entry("c1/r2.nrrd")}}]},
          open(os.path.join(meta, "dataset.json"), "w"), indent=1)
rc, out, err = run("import", meta, "--name", "metatest", data_dir=DATA)
check(rc == 0 and "3 converted to NIfTI" in out, f"non-NIfTI manifest import: rc {rc} {out} {err}")
if rc == 0:
    sm = os.path.join(DATA, "datasets", "metatest")
    mm = json.load(open(os.path.join(sm, "dataset.json")))
    files = {**mm["cases"][0]["inputs"], **mm["cases"][0]["raters"]}
    check({k: f["path"] for k, f in files.items()} ==
          {"flair": "cases/c1/flair.nii.gz", "alice": "cases/c1/raters/alice.nii.gz",
           "bob": "cases/c1/raters/bob.nii.gz"}, f"converted paths {files}")
    # RAS affine of the LPS geometry: x and y flip
    aff = np.array([[-sp[0], 0, 0, -org[0]], [0, -sp[1], 0, -org[1]], [0, 0, sp[2], org[2]], [0, 0, 0, 1]])
    for key, want in (("flair", flair), ("alice", ma), ("bob", mb)):
        p = os.path.join(sm, files[key]["path"])
        with open(p, "rb") as f:
            check(f.read(2) == b"\x1f\x8b", f"{key}: stored gzip-compressed")
        img = nib.load(p)
        check(img.shape == want.shape and np.array_equal(np.asarray(img.dataobj), want),
              f"{key}: converted voxels equal the source's")
        check(np.allclose(img.affine, aff, atol=1e-4), f"{key}: converted affine {img.affine}")
        check(files[key]["sha256"] == sha(p) and files[key]["bytes"] == os.path.getsize(p), f"{key}: sha256 recorded")
    check(not os.path.exists(os.path.join(sm, "cases", "c1", "raters", "alice.raw")), "no stray data file")
    rc, out, err = run("verify", "metatest", data_dir=DATA)
    check(rc == 0, f"verify metatest: {err}")
    rc, out, err = run("show", "metatest", "--json", data_dir=DATA)
    check(rc == 0 and json.loads(out)["per_case"][0]["lesions"] == {"alice": 2, "bob": 1},
          f"show reads the converted masks: {rc} {out} {err}")

# without --name the manifest's name is used, and the summary line says which
DATA2 = os.path.join(WORK, "data2")
rc, out, err = run("import", meta, data_dir=DATA2)
check(rc == 0 and out.startswith("imported metatest (manifest layout) into "), f"manifest import without --name: {out!r} {err}")
# the kind stored is an id, whether --kind gives it or the manifest ("two words/../x"
# was stored as it was)
rc, out, err = run("import", meta, "--name", "kind1", "--kind", "two words/../x", data_dir=DATA2)
check(rc == 2 and err.count("\n") == 1 and "--kind 'two words/../x' may hold only letters" in err,
      f"--kind not an id: {rc} {err!r}")
mk = json.load(open(os.path.join(meta, "dataset.json")))
mk["kind"] = "two words"
json.dump(mk, open(os.path.join(meta, "dataset.json"), "w"))
rc, out, err = run("import", meta, "--name", "kind2", data_dir=DATA2)
check(rc == 2 and 'kind "two words" may hold only letters' in err, f"a manifest's kind not an id: {rc} {err!r}")
mk["kind"] = "ms"
json.dump(mk, open(os.path.join(meta, "dataset.json"), "w"))
rmtree(DATA2)

# ---- BIDS with sessions ---------------------------------------------------------------
bids = os.path.join(WORK, "bids")
make_bids(bids, sessions=True)
rc, out, err = run("import", bids, "--name", "bids1", data_dir=DATA)
check(rc == 0, f"bids import: rc {rc} {err}")
if rc == 0:
    stored_b = os.path.join(DATA, "datasets", "bids1")
    mb = json.load(open(os.path.join(stored_b, "dataset.json")))
    check([c["id"] for c in mb["cases"]] == ["01-a", "01-b", "02-a", "02-b"], f"bids case ids {[c['id'] for c in mb['cases']]}")
    check(mb["roles"] == ["flair", "t1gd"], f"bids roles {mb['roles']}")
    check(mb["raters"] == ["alice", "bob"], f"bids raters {mb['raters']}")
    check([c["split"] for c in mb["cases"]] == ["validation", "validation", "test", "test"], "bids splits")
    src = os.path.join(bids, "sub-01", "ses-b", "anat", "sub-01_ses-b_ce-gadolinium_T1w.nii.gz")
    check(same_bytes(os.path.join(stored_b, "cases", "01-b", "t1gd.nii.gz"), src), "bids: t1gd stored byte for byte")
    srcm = os.path.join(bids, "derivatives", "bob", "sub-02", "ses-a", "anat", "sub-02_ses-a_desc-lesion_mask.nii.gz")
    check(same_bytes(os.path.join(stored_b, "cases", "02-a", "raters", "bob.nii.gz"), srcm), "bids: mask byte for byte")
    check("truth" in err and "not a rater" in err, f"bids: derivatives/truth reported: {err}")
    check("T2starw" in err, "bids: unmapped suffix reported")
    check(all_read_only(stored_b), "bids: read-only")
# --role maps the ignored suffix
rc, out, err = run("import", bids, "--name", "bids-role", "--role", "T2starw=t2s", "--split", "val2", data_dir=DATA)
check(rc == 0, f"bids --role: {err}")
if rc == 0:
    mr = json.load(open(os.path.join(DATA, "datasets", "bids-role", "dataset.json")))
    check(mr["roles"] == ["flair", "t1gd", "t2s"], f"--role mapped: {mr['roles']}")

# ---- BIDS without sessions, no split column ----------------------------------------------
bids2 = os.path.join(WORK, "bids2")
make_bids(bids2, sessions=False)
with open(os.path.join(bids2, "participants.tsv"), "w") as f:
    f.write("participant_id\tage\nsub-01\t30\n")
rc, out, err = run("import", bids2, "--name", "bids2", "--split", "phase1", "--kind", "custom", data_dir=DATA)
check(rc == 0, f"bids2 import: {err}")
if rc == 0:
    m3 = json.load(open(os.path.join(DATA, "datasets", "bids2", "dataset.json")))
    check([c["id"] for c in m3["cases"]] == ["01", "02"], "bids2 ids")
    check({c["split"] for c in m3["cases"]} == {"phase1"} and m3["kind"] == "custom", "bids2 split and kind")

# ---- DICOM series as an input image --------------------------------------------------------
DUMP2DCM = shutil.which("dump2dcm")
if DUMP2DCM:
    pet = os.path.join(WORK, "petbids")
    rmtree(pet)
    cols, rows, slices = 8, 6, 4
    sx, sy, sz = 0.8, 0.6, 2.5
    org = [-40.0, 12.5, 101.25]
    uid = "1.2.826.0.1.3680043.2.1125.88.7"
    folder = os.path.join(pet, "sub-01", "pet", "sub-01_pet")
    os.makedirs(folder)
    for k in range(slices):
        words = ["%04x" % ((x + 10 * y + 100 * k) & 0xFFFF) for y in range(rows) for x in range(cols)]
        pixels = "\\".join(words)
        dump = f"""(0002,0002) UI =PositronEmissionTomographyImageStorage
(0002,0003) UI [{uid}.{k + 1}]
(0002,0010) UI =LittleEndianExplicit
(0008,0016) UI =PositronEmissionTomographyImageStorage
(0008,0018) UI [{uid}.{k + 1}]
(0008,0060) CS [PT]
(0010,0010) PN [Phantom^SegArena]
(0010,0020) LO [SA0002]
(0020,000d) UI [1.2.826.0.1.3680043.2.1125.88.1]
(0020,000e) UI [{uid}]
(0020,0011) IS [1]
(0020,0013) IS [{k + 1}]
(0020,0032) DS [{org[0]}\\{org[1]}\\{org[2] + k * sz}]
(0020,0037) DS [1\\0\\0\\0\\1\\0]
(0018,0050) DS [{sz}]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0010) US {rows}
(0028,0011) US {cols}
(0028,0030) DS [{sy}\\{sx}]
(0028,0100) US 16
(0028,0101) US 16
(0028,0102) US 15
(0028,0103) US 0
(7fe0,0010) OW {pixels}
"""
        dp = os.path.join(WORK, f"slice{k}.txt")
        with open(dp, "w") as f:
            f.write(dump)
        subprocess.run([DUMP2DCM, "--write-xfer-little", dp, os.path.join(folder, f"IM{k}.dcm")], check=True)
    # masks in the series' geometry (NIfTI is RAS: LPS x and y flip)
    aff = np.array([[-sx, 0, 0, -org[0]], [0, -sy, 0, -org[1]], [0, 0, sz, org[2]], [0, 0, 0, 1]])
    for r in ("alice", "bob"):
        mk = np.zeros((cols, rows, slices), np.uint8)
        mk[2:5, 2:4, 1:3] = 1
        save(os.path.join(pet, "derivatives", r, "sub-01", "pet", "sub-01_desc-lesion_mask.nii.gz"), mk, affine=aff)
    rc, out, err = run("import", pet, "--name", "pet1", data_dir=DATA)
    check(rc == 0, f"dicom import: {err}")
    if rc == 0:
        mp = json.load(open(os.path.join(DATA, "datasets", "pet1", "dataset.json")))
        check(mp["kind"] == "pet" and mp["roles"] == ["pet"], "pet kind and role")
        inp = mp["cases"][0]["inputs"]["pet"]
        check(inp.get("dicom_series_uid") == uid, f"series uid recorded: {inp}")
        check(inp["path"] == "cases/01/pet.nii.gz", "converted path")
        img = nib.load(os.path.join(DATA, "datasets", "pet1", inp["path"]))
        check(img.shape == (cols, rows, slices), f"converted shape {img.shape}")
        check(np.allclose(img.affine, aff, atol=1e-4), f"converted affine {img.affine}")
        data = np.asarray(img.dataobj)
        check(int(data[3, 2, 1]) == 3 + 20 + 100, "converted voxel values")
        g = mp["cases"][0]["geometry"]
        check(np.allclose(g["spacing"], [sx, sy, sz]) and np.allclose(g["origin"], org), f"geometry kept {g}")
        rc, out, err = run("verify", "pet1", data_dir=DATA)
        check(rc == 0, "verify pet1")
else:
    print("note: dump2dcm missing, DICOM import not tested")

# ---- refusals: every problem listed, nothing left behind ---------------------------------------
def refuse(label, source, expect, name="bad", min_lines=1, extra=()):
    before = datasets_entries(DATA)
    rc, out, err = run("import", source, "--name", name, *extra, data_dir=DATA)
    lines = [l for l in err.splitlines() if not l.startswith("note:") and not l.startswith("segarena dataset import:")]
    check(rc == 2, f"{label}: exit {rc}, expected 2")
    for e in expect:
        check(any(e in l for l in lines), f"{label}: no line with '{e}' in {lines}")
    check(len(lines) >= min_lines, f"{label}: {len(lines)} problem lines, expected >= {min_lines}")
    check(f"{len(lines)} problem" in err, f"{label}: count line in {err}")
    check(datasets_entries(DATA) == before, f"{label}: something left behind: {datasets_entries(DATA)}")
    return lines


src = os.path.join(WORK, "src")
make_plain(src)
os.remove(os.path.join(src, "c02", "t1.nii.gz"))
refuse("missing role", src, ["c02", "no image for role t1"])

make_plain(src)
os.remove(os.path.join(src, "c03", "raters", "bob.nii.gz"))
refuse("missing rater", src, ["c03", "no mask of rater bob"])

make_plain(src)
save(os.path.join(src, "c01", "raters", "alice.nii.gz"), np.zeros((N, N, N - 1), np.uint8))
refuse("geometry", src, ["alice.nii.gz"])

make_plain(src)
mk = cubes(RATERS["bob"][1])
mk[0, 0, 0] = 2
save(os.path.join(src, "c02", "raters", "bob.nii.gz"), mk)
lines = refuse("non-binary", src, ["bob.nii.gz", "0 and 1", "convert this one to 0 and 1 first"])
check(not any("--label" in l for l in lines), f"import suggests no --label (it has none): {lines}")

make_plain(src)
outside = os.path.join(WORK, "outside.nii.gz")
shutil.copy(os.path.join(src, "c01", "t1.nii.gz"), outside)
os.remove(os.path.join(src, "c01", "t1.nii.gz"))
os.symlink(outside, os.path.join(src, "c01", "t1.nii.gz"))
refuse("symlink outside", src, ["t1.nii.gz", "outside the dataset folder"])
# a symlink inside the source is fine
os.remove(os.path.join(src, "c01", "t1.nii.gz"))
os.symlink(os.path.join(src, "c02", "t1.nii.gz"), os.path.join(src, "c01", "t1.nii.gz"))
rc, out, err = run("import", src, "--name", "inner-link", "--copy", data_dir=DATA)
check(rc == 0, f"symlink inside accepted: {err}")

# a NIfTI-1 header whose sizeof_hdr says 540 (NIfTI-2's) with an Inf sform: ITK read
# it as NIfTI-1 past SegArena's checks and aborted the import (exit 134), leaving
# its .tmp- folder; now one line naming the file, nothing left
make_plain(src)
t1 = os.path.join(src, "c01", "t1.nii.gz")
raw = bytearray(gzip.decompress(open(t1, "rb").read()))
raw[0:4] = struct.pack("<i", 540)
raw[254:256] = struct.pack("<h", 1)
raw[312:316] = struct.pack("<f", float("inf"))
with open(t1, "wb") as f:
    f.write(gzip.compress(bytes(raw)))
refuse("sizeof_hdr 540 with a NIfTI-1 magic", src,
       ["t1.nii.gz: sizeof_hdr 540 does not match its NIfTI-1 magic 'n+1'"])

# symlinks out of SOURCE behind a listed path: a .mhd's data file, the files of a
# DICOM series folder (the scan checked the listed path only, and the readers
# followed the rest anywhere); a dangling link in a series folder is named (GDCM
# stopped listing at it: "folder holds no DICOM series")
ref_raw = os.path.join(meta, "c1", "ref.raw")
outside_raw = os.path.join(WORK, "outside_ref.raw")
shutil.copy(ref_raw, outside_raw)
os.remove(ref_raw)
os.symlink(outside_raw, ref_raw)
refuse("mhd data file symlinked outside", meta, [f"ref.raw: symlink pointing outside {os.path.realpath(meta)} "
                                                 f"(to {os.path.realpath(outside_raw)})"], name="metalink")
os.remove(ref_raw)
os.symlink(os.path.join(meta, "c1", "inner.raw"), ref_raw)
shutil.copy(outside_raw, os.path.join(meta, "c1", "inner.raw"))
rc, out, err = run("import", meta, "--name", "metainner", data_dir=DATA)
check(rc == 0, f"mhd data file symlinked inside SOURCE: accepted: {err}")
os.remove(ref_raw)
shutil.copy(outside_raw, ref_raw)
if DUMP2DCM:
    series = sorted(os.listdir(folder))
    outside_dcm = os.path.join(WORK, "outside_dcm")
    rmtree(outside_dcm)
    os.makedirs(outside_dcm)
    for f in series:
        os.rename(os.path.join(folder, f), os.path.join(outside_dcm, f))
        os.symlink(os.path.join(outside_dcm, f), os.path.join(folder, f))
    lines = refuse("DICOM files symlinked outside", pet,
                   [f"{series[0]}: symlink pointing outside {os.path.realpath(pet)}"], name="petlink")
    check(len(lines) == 1, f"one line for the series folder: {lines}")
    inner_dcm = os.path.join(pet, "sourcedata", "dcm")
    os.makedirs(inner_dcm)
    for f in series:
        os.remove(os.path.join(folder, f))
        shutil.copy(os.path.join(outside_dcm, f), os.path.join(inner_dcm, f))
        os.symlink(os.path.join(inner_dcm, f), os.path.join(folder, f))
    rc, out, err = run("import", pet, "--name", "petinner", data_dir=DATA)
    check(rc == 0, f"DICOM files symlinked inside SOURCE: accepted: {err}")
    for f in series:
        os.remove(os.path.join(folder, f))
        shutil.copy(os.path.join(inner_dcm, f), os.path.join(folder, f))
    rmtree(os.path.join(pet, "sourcedata"))
    broken = os.path.join(folder, "broken.dcm")
    os.symlink(os.path.join(WORK, "nothere.dcm"), broken)
    refuse("dangling symlink in a series folder", pet, [f"{broken}: dangling symlink"], name="petdangling")
    os.remove(broken)
    rc, out, err = run("import", pet, "--name", "petrestored", data_dir=DATA)
    check(rc == 0, f"the restored DICOM source imports: {err}")

# two problems in one import: two lines
make_plain(src)
os.remove(os.path.join(src, "c02", "t1.nii.gz"))
os.remove(os.path.join(src, "c03", "raters", "alice.nii.gz"))
lines = refuse("two problems", src, ["no image for role t1", "no mask of rater alice"])
check(len(lines) == 2, f"two problems give two lines: {lines}")

# duplicate case ids (sub-01/ses-a and sub-01-a)
dup = os.path.join(WORK, "dup")
make_bids(dup, sessions=True)
shutil.copytree(os.path.join(dup, "sub-01", "ses-a", "anat"), os.path.join(dup, "sub-01-a", "anat"))
for f in os.listdir(os.path.join(dup, "sub-01-a", "anat")):
    os.rename(os.path.join(dup, "sub-01-a", "anat", f),
              os.path.join(dup, "sub-01-a", "anat", f.replace("sub-01_ses-a", "sub-01-a")))
refuse("duplicate ids", dup, ["duplicate case id 01-a"])

# a case listed twice in splits.tsv / participants.tsv refuses the import, whatever the
# splits (the last line won: a held-out case could land in an open split); lines are
# the file's, blank ones counted
make_plain(src)
with open(os.path.join(src, "splits.tsv"), "w") as f:
    f.write("case\tsplit\nc01\tvalidation\n\nc02\ttest\nc02\tvalidation\nc01\tvalidation\n")
lines = refuse("splits.tsv lists a case twice", src,
               ["splits.tsv: line 5: c02 is listed again (first on line 4)",
                "splits.tsv: line 6: c01 is listed again (first on line 2)"])
check(len(lines) == 2, f"one line per repeated case: {lines}")
dupsplit = os.path.join(WORK, "dupsplit")
make_bids(dupsplit, sessions=True)
with open(os.path.join(dupsplit, "participants.tsv"), "w") as f:
    f.write("participant_id\tage\tsplit\nsub-01\t30\tvalidation\nsub-02\t40\ttest\n02\t40\tvalidation\n")
lines = refuse("participants.tsv lists a participant twice", dupsplit, name="dupsplit", expect=
               ["participants.tsv: line 4: 02 is listed again (first on line 3)"])
check(len(lines) == 1, f"one line for a participant with two sessions: {lines}")

# a malformed line of splits.tsv / participants.tsv, a line naming no case, or a
# split column not named exactly "split" refuses the import, naming file and line
# (such lines were skipped: c01, meant for test, landed in the --split given); a
# UTF-8 BOM is not part of the first cell
def splits_refused(label, root, text, expect, name="badsplit", tsv="splits.tsv"):
    with open(os.path.join(root, tsv), "w", encoding="utf-8") as f:
        f.write(text)
    lines = refuse(label, root, expect, name=name, extra=("--split", "validation"))
    check(len(lines) == len(expect), f"{label}: one line per problem: {lines}")


make_plain(src)
splits_refused("splits.tsv: a line with a space", src, "case\tsplit\nc01 test\nc02\ttest\n",
               ["splits.tsv: line 2: 1 column, 2 needed (columns are separated by tabs)"])
splits_refused("splits.tsv: a misspelt case", src, "case\tsplit\nc01\ttest\nc2\ttest\n",
               ["splits.tsv: line 3: c2 is not a case of the dataset"])
splits_refused("splits.tsv: a misspelt first case, no header", src, "c1\ttest\nc02\ttest\n",
               ["splits.tsv: line 1: c1 is not a case of the dataset"])
splits_refused("splits.tsv: an empty case cell", src, "case\tsplit\n\ttest\n", ["splits.tsv: line 2: no case"])
with open(os.path.join(src, "splits.tsv"), "w", encoding="utf-8") as f:
    f.write("\ufeffc01\ttest\nc02\ttest\n")
rc, out, err = run("import", src, "--name", "bomsplit", "--split", "validation", data_dir=DATA)
check(rc == 0, f"splits.tsv with a BOM and no header: {rc} {err}")
if rc == 0:
    mbom = json.load(open(os.path.join(DATA, "datasets", "bomsplit", "dataset.json")))
    check([c["split"] for c in mbom["cases"]] == ["test", "test", "validation"], f"BOM: c01 read: {[c['split'] for c in mbom['cases']]}")
tsvsrc = os.path.join(WORK, "tsvsrc")
make_bids(tsvsrc, sessions=False)
splits_refused("participants.tsv: a short row", tsvsrc,
               "participant_id\tage\tsplit\nsub-01\t30\nsub-02\t40\ttest\n",
               ["participants.tsv: line 2: 2 columns, 3 needed"], tsv="participants.tsv")
splits_refused("participants.tsv: a misspelt participant", tsvsrc,
               "participant_id\tsplit\nsub-01\ttest\nsub-2\ttest\n",
               ["participants.tsv: line 3: sub-2: no such participant"], tsv="participants.tsv")
splits_refused("participants.tsv: Split", tsvsrc, "participant_id\tSplit\nsub-01\ttest\n",
               ['participants.tsv: line 1: column "Split" is not named "split"'], tsv="participants.tsv")
splits_refused("participants.tsv: a header with spaces", tsvsrc, "participant_id age split\nsub-01 30 test\n",
               ['participants.tsv: line 1: column "participant_id age split" is not named "split" '
                "(columns are separated by tabs)"], tsv="participants.tsv")
splits_refused("participants.tsv: no participant_id", tsvsrc, "id\tsplit\nsub-01\ttest\n",
               ["participants.tsv: line 1: a split column but no participant_id column"], tsv="participants.tsv")
with open(os.path.join(tsvsrc, "participants.tsv"), "w", encoding="utf-8") as f:
    f.write("\ufeffsplit\tparticipant_id\ntest\tsub-01\n")
rc, out, err = run("import", tsvsrc, "--name", "bomsplit2", "--split", "validation", data_dir=DATA)
check(rc == 0, f"participants.tsv with a BOM before split: {rc} {err}")
if rc == 0:
    mbom = json.load(open(os.path.join(DATA, "datasets", "bomsplit2", "dataset.json")))
    check([c["split"] for c in mbom["cases"]] == ["test", "validation"], f"BOM: split column read: {[c['split'] for c in mbom['cases']]}")

# a folder the import cannot read is a problem naming it (an unreadable subject or
# rater folder was skipped: 2 of 3 cases, or 1 rater of 2, with a note calling the
# rater "not a rater"). chmod means nothing to root: as root, the import runs as nobody
def unprivileged():
    """the command prefix that runs the import without root's rights, or None (printed why)"""
    if os.getuid() != 0:
        return []
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    try:
        p = subprocess.run(prefix + [SEGARENA, "dataset", "--help"], capture_output=True)
    except OSError as e:
        print(f"SKIP (unreadable folders): setpriv cannot run: {e}")
        return None
    if p.returncode != 0:
        print(f"SKIP (unreadable folders): setpriv --reuid=nobody fails: {p.stderr!r}")
        return None
    return prefix


AS_USER = unprivileged()
if AS_USER is not None:
    nob = os.path.join(WORK, "asuser")
    os.makedirs(nob)
    os.chmod(nob, 0o777)  # nobody makes its data directory here
    NDATA = os.path.join(nob, "data")

    def refused_as_user(label, source, expect):
        rc, out, err = run("import", source, "--name", "unreadable", data_dir=NDATA, prefix=AS_USER)
        lines = [l for l in err.splitlines() if not l.startswith("note:") and not l.startswith("segarena dataset import:")]
        check(rc == 2, f"{label}: exit {rc}, expected 2 ({err})")
        for e in expect:
            check(any(e in l for l in lines), f"{label}: no line with '{e}' in {lines}")
        check(not os.path.exists(os.path.join(NDATA, "datasets", "unreadable")), f"{label}: stored")
        return err

    u = os.path.join(nob, "u")
    make_bids(u, sessions=False)
    rc, out, err = run("import", u, "--name", "readable", data_dir=NDATA, prefix=AS_USER)
    check(rc == 0, f"as another user, a readable source imports: {rc} {err}")
    os.chmod(os.path.join(u, "derivatives", "bob"), 0)
    err = refused_as_user("unreadable rater folder", u, [os.path.join(u, "derivatives", "bob") + ": cannot read the folder"])
    check("bob: no *_desc" not in err, f"an unreadable rater is not called no rater: {err}")
    make_bids(u, sessions=False)
    for d in (u, os.path.join(u, "derivatives", "alice"), os.path.join(u, "derivatives", "bob")):
        os.chmod(os.path.join(d, "sub-02"), 0)
    refused_as_user("unreadable subject folder", u, [os.path.join(u, "sub-02") + ": cannot read the folder",
                                                     os.path.join(u, "derivatives", "bob", "sub-02") + ": cannot read"])
    make_bids(u, sessions=True)
    os.chmod(os.path.join(u, "sub-02"), 0o444)  # listed, not searchable
    refused_as_user("subject folder not searchable", u, [os.path.join(u, "sub-02", "ses-a") + ": cannot read"])
    make_bids(u, sessions=False)
    os.chmod(os.path.join(u, "derivatives", "alice", "sub-01", "anat"), 0o444)
    refused_as_user("rater anat folder not searchable", u,
                    [os.path.join(u, "derivatives", "alice", "sub-01", "anat", "sub-01_desc-lesion_mask.nii.gz") + ": cannot read"])
    make_bids(u, sessions=False)
    os.chmod(os.path.join(u, "derivatives"), 0)
    refused_as_user("unreadable derivatives folder", u, [os.path.join(u, "derivatives") + ": cannot read the folder"])
    make_bids(u, sessions=False)
    os.chmod(os.path.join(u, "participants.tsv"), 0)
    refused_as_user("unreadable participants.tsv", u, [os.path.join(u, "participants.tsv") + ": cannot open"])
    make_bids(u, sessions=False)
    os.chmod(u, 0o111)  # searchable, not listable
    refused_as_user("unreadable BIDS root", u, [u + ": cannot read the folder"])
    up = os.path.join(nob, "up")
    make_plain(up)
    os.chmod(os.path.join(up, "c02"), 0o444)
    refused_as_user("plain case folder not searchable", up, [os.path.join(up, "c02", "flair.nii.gz") + ": cannot read"])
    make_plain(up)
    os.chmod(os.path.join(up, "c02"), 0)
    refused_as_user("unreadable plain case folder", up, [os.path.join(up, "c02") + ": cannot read the folder"])
    make_plain(up)
    os.chmod(up, 0o111)
    refused_as_user("unreadable plain root", up, [up + ": cannot read the folder"])
    rmtree(nob)

# BIDS labels that are not ids: a case id names a folder of the store, and a
# dataset holding an invalid one could never be opened ('sub-..' wrote into the
# dataset's root)
def relabel(root, old, new, ses=None, new_ses=None):
    """copies subject old (raw and derivatives) to subject new (and session ses to new_ses)"""
    for base in [root] + [os.path.join(root, "derivatives", r) for r in RATERS]:
        top = os.path.join(base, f"sub-{old}")
        found = [(d, f) for d, _, files in os.walk(top) for f in files]
        for dirpath, f in found:
            rel = os.path.join(os.path.relpath(dirpath, top), f).replace(f"sub-{old}", f"sub-{new}")
            if new_ses:
                if f"ses-{ses}" not in rel:
                    continue
                rel = rel.replace(f"ses-{ses}", f"ses-{new_ses}")
            target = os.path.join(base, f"sub-{new}", rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(os.path.join(dirpath, f), target)


badlabel = os.path.join(WORK, "badlabel")
make_bids(badlabel, sessions=False)
relabel(badlabel, "02", "a b")
lines = refuse("participant label with a space", badlabel, name="badlabel1", expect=["sub-a b: participant label \"a b\" is not a valid id"])
check(len(lines) == 3, f"one line per sub-a b folder (raw and two raters): {lines}")
make_bids(badlabel, sessions=False)
relabel(badlabel, "02", "..")
refuse("participant label ..", badlabel, name="badlabel2", expect=["participant label \"..\" is not a valid id"])
check(not os.path.exists(os.path.join(DATA, "datasets", "badlabel2")), "sub-..: not imported")
make_bids(badlabel, sessions=True)
relabel(badlabel, "02", "02", ses="b", new_ses="x y")
refuse("session label with a space", badlabel, name="badlabel3", expect=["ses-x y: session label \"x y\" is not a valid id"])
make_bids(badlabel, sessions=True)
relabel(badlabel, "02", "p" * 40, ses="b", new_ses="s" * 30)
refuse("participant-session id too long", badlabel, name="badlabel4", expect=["is not a valid id"])

# a manifest that fails the schema: several violations at once
bad = os.path.join(WORK, "badmanifest")
rmtree(bad)
shutil.copytree(stored, bad)
make_writable(bad)
bm = json.load(open(os.path.join(bad, "dataset.json")))
bm["schema"] = "segarena-dataset/9"
del bm["kind"]
bm["cases"][0]["inputs"]["flair"]["sha256"] = "xyz"
bm["cases"][1]["raters"]["bob"]["path"] = "../escape.nii.gz"
bm["cases"][2]["id"] = "c01"
bm["extra"] = 1
json.dump(bm, open(os.path.join(bad, "dataset.json"), "w"), indent=2)
lines = refuse("bad manifest", bad, ["\"schema\" must be", "missing \"kind\"", "\"sha256\" must be",
                                     "\"path\" must be relative", "duplicate case id", "unknown key \"extra\""],
               min_lines=6)

# a name that exists
refuse("existing name", plain, ["already exists"], name="plain1")
# empty source
empty = os.path.join(WORK, "empty")
os.makedirs(empty, exist_ok=True)
refuse("empty", empty, ["no cases found"])

# ---- crash safety ------------------------------------------------------------------------------
# a refused import into a data directory that did not exist leaves no folder at all
# (it left an empty datasets/ behind): the mask is refused while files are stored
fresh = os.path.join(WORK, "fresh-data")
make_plain(src)
mk = cubes(RATERS["bob"][2])
mk[0, 0, 0] = 3
save(os.path.join(src, "c03", "raters", "bob.nii.gz"), mk)
rc, out, err = run("import", src, "--name", "fresh", data_dir=fresh)
check(rc == 2 and "0 and 1" in err, f"fresh data dir: refused ({rc} {err})")
check(not os.path.exists(fresh), f"fresh data dir: nothing left ({os.listdir(fresh) if os.path.isdir(fresh) else ''})")

# a killed import's temporary folder (the flock on its lock file released by the
# kernel at the kill) is reported by list and removed by the next import, with its
# lock file; one whose lock a live process holds (an import running now) is
# reported and never touched; a folder without a lock file (an older version's) is
# a killed import's
HOLD = """import fcntl, os, sys, time
path = sys.argv[1]
fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.makedirs(os.path.join(path, "cases", "c01"))
open(os.path.join(path, "cases", "c01", "flair.nii.gz"), "wb").write(b"partial")
print("locked", flush=True)
time.sleep(600)
"""
def holder(path):
    h = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    check(h.stdout.readline().strip() == "locked", f"holder locked {path}")
    return h
ghost = os.path.join(DATA, "datasets", ".tmp-ghost-Ab12Cd")
busy = os.path.join(DATA, "datasets", ".tmp-busy-Ef34Gh")
older = os.path.join(DATA, "datasets", ".tmp-older-Ij56Kl")
killed = holder(ghost)
killed.kill()  # SIGKILL, as kill -9 would stop an import
killed.wait()
os.makedirs(os.path.join(older, "cases"))
live = holder(busy)
try:
    rc, out, err = run("list", data_dir=DATA)
    check(rc == 0 and f"note: {ghost}: the partial copy of an import that was interrupted" in err
          and f"note: {busy}: the temporary folder of an import in progress" in err, f"list reports them: {err}")
    check(".tmp-" not in out, f"list's table has no temporary folder: {out}")
    rc, out, err = run("import", plain, "--name", "after-crash", data_dir=DATA)
    check(rc == 0 and f"note: {ghost}: removed" in err and f"note: {older}: removed" in err,
          f"import removes the killed imports' folders: {rc} {err}")
    check(not os.path.exists(ghost) and not os.path.exists(ghost + ".lock") and not os.path.exists(older),
          "the killed imports' folders and lock file are gone")
    check(os.path.isfile(os.path.join(busy, "cases", "c01", "flair.nii.gz")) and os.path.exists(busy + ".lock"),
          "a running import's folder and lock file are kept")
    check(not [n for n in os.listdir(os.path.join(DATA, "datasets")) if n.startswith(".tmp-after")],
          "the import's own lock file is gone once it is stored")
finally:
    live.kill()
    live.wait()
rc, out, err = run("import", plain, "--name", "after-crash2", data_dir=DATA)
check(rc == 0 and not os.path.exists(busy), f"once its holder died, the next import removes it: {err}")

# a stored dataset whose folder name this version would not give (64 characters,
# from an older version) is listed with the reason it cannot be opened
long_name = "a" * 64
shutil.copytree(os.path.join(DATA, "datasets", "after-crash2"), os.path.join(DATA, "datasets", long_name))
rc, out, err = run("list", data_dir=DATA)
check(rc == 0 and any(l.startswith(long_name) and "63 characters" in l for l in out.splitlines()),
      f"list names a folder it cannot open, and why: {out}")
rmtree(os.path.join(DATA, "datasets", long_name))
# a stored folder whose name holds a newline is one escaped line; a folder that holds
# no dataset.json (lost+found) is not listed
odd = os.path.join(DATA, "datasets", "evil\nname")
shutil.copytree(os.path.join(DATA, "datasets", "after-crash2"), odd)
os.makedirs(os.path.join(DATA, "datasets", "lost+found"))
rc, out, err = run("list", data_dir=DATA)
check(rc == 0 and any(l.startswith("evil\\x0aname") and "cannot be opened" in l for l in out.splitlines())
      and "lost+found" not in out, f"list escapes names and skips folders without a manifest: {out!r}")
rmtree(odd)
os.rmdir(os.path.join(DATA, "datasets", "lost+found"))

# a dataset under its final name is read-only from its first moment (the folder
# was made read-only only after the rename): a watcher sees it appear and looks
big = os.path.join(WORK, "bigplain")
rmtree(big)
for i in range(80):
    for role in ("flair", "t1"):
        save(os.path.join(big, f"b{i:02d}", role + ".nii.gz"), image(i), dtype=np.int16)
    for r in RATERS:
        save(os.path.join(big, f"b{i:02d}", "raters", r + ".nii.gz"), cubes([(1, 1, 1)]))
WATCH = """import os, sys
final = sys.argv[1]
while not os.path.exists(os.path.join(final, "dataset.json")):
    pass
writable = []
for root, dirs, files in os.walk(final):
    for p in [root] + [os.path.join(root, f) for f in files]:
        if os.lstat(p).st_mode & 0o222:
            writable.append(p)
print(len(writable), writable[:3], flush=True)
"""
final = os.path.join(DATA, "datasets", "watched")
w = subprocess.Popen([sys.executable, "-c", WATCH, final], stdout=subprocess.PIPE, text=True)
rc, out, err = run("import", big, "--name", "watched", data_dir=DATA)
try:
    seen = w.communicate(timeout=60)[0]
except subprocess.TimeoutExpired:
    w.kill()
    seen = w.communicate()[0]
check(rc == 0 and seen.startswith("0 "), f"the dataset appeared read-only: {seen!r} {err}")

# ---- --link: a refused import gives the source files their modes back -----------------------
# hard links are the source's own inodes, made read-only with the store; an import
# refused after that (the name stored meanwhile by a concurrent import: its rename
# into place fails, here through fault_fs) left the organiser's files -r--r--r--
def source_modes(root):
    return {os.path.relpath(os.path.join(d, f), root): stat.S_IMODE(os.lstat(os.path.join(d, f)).st_mode)
            for d, _, files in os.walk(root) for f in files}


linksrc = os.path.join(WORK, "linksrc")
make_plain(linksrc)
os.chmod(os.path.join(linksrc, "c02", "t1.nii.gz"), 0o640)
modes = source_modes(linksrc)
if FAULT_FS:
    faults = os.path.join(WORK, "faults")
    with open(faults, "w") as f:
        f.write("rename 39 /datasets/lnkfail\n")
    env = dict(os.environ, SA_FAULT_FILE=faults, LD_PRELOAD=FAULT_FS, ASAN_OPTIONS="verify_asan_link_order=0")
    before = datasets_entries(DATA)
    rc, out, err = run("import", linksrc, "--name", "lnkfail", "--link", data_dir=DATA, env=env)
    check(rc == 2 and "a dataset of that name was stored meanwhile" in err, f"--link, rename refused: {rc} {err}")
    check(datasets_entries(DATA) == before, f"--link refused: nothing left: {datasets_entries(DATA)}")
    now = source_modes(linksrc)
    check(now == modes, f"--link refused: source modes restored: {[(k, oct(v)) for k, v in now.items() if modes[k] != v]}")
    # ... but never an inode another stored dataset links too (a concurrent --link
    # import of the same source that won the name: the loser gave its stored files
    # their writable modes back, and `verify` of the winner failed). Here a third
    # link stands for the winner's.
    third = os.path.join(WORK, "third-link.nii.gz")
    os.link(os.path.join(linksrc, "c01", "flair.nii.gz"), third)
    rc, out, err = run("import", linksrc, "--name", "lnkfail", "--link", data_dir=DATA, env=env)
    check(rc == 2 and "stays read-only: another stored dataset links it" in err,
          f"--link refused, an inode with a third link: {rc} {err}")
    check(stat.S_IMODE(os.stat(third).st_mode) == 0o444,
          f"the other link's file stays read-only: {oct(stat.S_IMODE(os.stat(third).st_mode))}")
    os.chmod(third, 0o644)
    os.remove(third)
    check(source_modes(linksrc) == modes, "the other linked source files' modes restored")
    os.remove(faults)
    # a folder listing cut short by a read error (EIO after its first entries) is a
    # problem naming the folder: the raters after that point were dropped silently
    rdsrc = os.path.join(WORK, "readdir-src")
    make_bids(rdsrc, sessions=False)
    with open(faults, "w") as f:
        f.write(f"readdir 5 {rdsrc}/derivatives\n")
    rc, out, err = run("import", rdsrc, "--name", "cutshort", data_dir=DATA, env=env)
    check(rc == 2 and f"{rdsrc}/derivatives" in err and "cannot read the folder (Input/output error)" in err,
          f"a listing cut short by EIO: {rc} {err}")
    check(not os.path.exists(os.path.join(DATA, "datasets", "cutshort")), "cut-short listing: nothing stored")
    os.remove(faults)
    rmtree(rdsrc)
else:
    print("SKIP (--link refused): no fault_fs library given")
# a --link import that is stored: the linked source files keep the store's
# read-only mode (documented)
rc, out, err = run("import", linksrc, "--name", "lnkok", "--link", data_dir=DATA)
check(rc == 0 and "12 files hard-linked" in out, f"--link import: {rc} {out} {err}")
check(all(m == (0o440 if k == "c02/t1.nii.gz" else 0o444) for k, m in source_modes(linksrc).items() if k.endswith(".nii.gz")),
      "--link: the linked source files share the store's read-only mode (documented)")
make_writable(linksrc)
rmtree(linksrc)

# ---- verify catches a changed byte and a removed file ------------------------------------------
rc, out, err = run("import", plain, "--name", "tamper", "--copy", data_dir=DATA)
check(rc == 0, "import for tamper test")
td = os.path.join(DATA, "datasets", "tamper")
victim = os.path.join(td, "cases", "c02", "flair.nii.gz")
os.chmod(victim, 0o644)
with open(victim, "r+b") as f:
    f.seek(40)
    b = f.read(1)
    f.seek(40)
    f.write(bytes([b[0] ^ 0xFF]))
rc, out, err = run("verify", "tamper", data_dir=DATA)
check(rc == 2 and "c02/flair.nii.gz: sha256 is" in err, f"verify catches a changed byte: {rc} {err}")
check("writable" in err, "verify reports the writable file")
os.chmod(victim, 0o444)
os.chmod(os.path.join(td, "cases", "c03"), 0o755)
os.remove(os.path.join(td, "cases", "c03", "t1.nii.gz"))
os.chmod(os.path.join(td, "cases", "c03"), 0o555)
rc, out, err = run("verify", "tamper", data_dir=DATA)
check(rc == 2 and "c03/t1.nii.gz: missing" in err, f"verify catches a removed file: {err}")
check("c02/flair.nii.gz: sha256 is" in err, "verify lists every mismatch")
# a file replaced by a symlink: one line, "a symlink" (it was also "writable", the
# mode bits of a symlink, and "not a regular file")
os.chmod(os.path.join(td, "cases", "c01"), 0o755)
linked = os.path.join(td, "cases", "c01", "t1.nii.gz")
shutil.copy(linked, os.path.join(WORK, "t1-copy.nii.gz"))
os.remove(linked)
os.symlink(os.path.join(WORK, "t1-copy.nii.gz"), linked)
os.chmod(os.path.join(td, "cases", "c01"), 0o555)
rc, out, err = run("verify", "tamper", data_dir=DATA)
about = [l for l in err.splitlines() if l.startswith(linked + ":")]
check(rc == 2 and about == [f"{linked}: a symlink in a stored dataset"], f"verify: a symlink, one line: {about}")
rc, out, err = run("verify", "nosuch", data_dir=DATA)
check(rc == 2, "verify of an unknown dataset")

# usage errors
rc, out, err = run("import", plain, data_dir=DATA)
check(rc == 2 and "name" in err, "import without --name")
# a 64-character name: refused before anything is read (it imported, and then no
# phase could use the dataset); 63 characters work
rc, out, err = run("import", plain, "--name", "d" * 64, data_dir=DATA)
check(rc == 2 and err.count("\n") == 1 and f"--name '{'d' * 64}' is longer than 63 characters" in err,
      f"import --name of 64 characters: {rc} {err!r}")
rc, out, err = run("import", plain, "--name", "d" * 63, data_dir=DATA)
check(rc == 0, f"import --name of 63 characters: {rc} {err!r}")
# a phase can use it (a 64-character dataset could never be), and phase create names
# the phase it made (it printed the spec file's path)
def organiser(*args):
    p = subprocess.run([SEGARENA, *args, "--data-dir", DATA], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr
rc, out, err = organiser("challenge", "create", "ch")
check(rc == 0, f"challenge create: {err}")
spec = os.path.join(WORK, "phase-spec.json")
json.dump({"schema": "segarena-phase/1", "name": "long", "dataset": "d" * 63, "input_roles": ["flair"]},
          open(spec, "w"))
rc, out, err = organiser("phase", "create", "--challenge", "ch", "--spec", spec)
check(rc == 0 and out == "phase ch/long created (id 1), unpublished\n", f"phase create: {rc} {out!r} {err}")
rc, out, err = run("verify", "d" * 64, data_dir=DATA)
check(rc == 2 and "longer than 63 characters" in err, f"verify of a 64-character name: {rc} {err!r}")
rc, out, err = run(data_dir=DATA)
check(rc == 2 and "which command?" in err and err.count("\n") == 1, f"--data-dir without a command: {rc} {err!r}")
p = subprocess.run([SEGARENA, "dataset", "make-demo", "--kind", "ms", "--out", ""], capture_output=True, text=True)
check(p.returncode == 2 and p.stderr.count("\n") == 1 and "--out" in p.stderr,
      f"make-demo --out '': usage ({p.returncode} {p.stderr!r})")
rc, out, err = run("frobnicate", data_dir=DATA)
check(rc == 2, "unknown subcommand")
rc, out, err = run("--help")
check(rc == 0 and "import" in out, "help")

rmtree(WORK)
print(f"test_dataset_import: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
