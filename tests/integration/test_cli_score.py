#!/usr/bin/python3
"""End-to-end tests of `segarena score` on files written by nibabel.

Checks the numbers against an independent numpy brute force (surfaces from the
definition, distances as minima over all surface voxels, numpy.percentile), the
JSON shape of the spec, the text/CSV outputs, folder mode, and that every kind of
bad input gives exit status 2 and one line naming the file.

Usage: test_cli_score.py PATH/TO/segarena WORKDIR
"""
import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_checks import check, finish, sh  # noqa: E402

try:
    import nibabel as nib
    import numpy as np
except ImportError as e:  # the project's set-up installs both
    print(f"SKIP: {e} (Debian packages python3-nibabel, python3-numpy)")
    sys.exit(77)

SEGARENA, WORK = sys.argv[1], sys.argv[2]


def run(*args):
    p = subprocess.run([SEGARENA, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def save(name, data, spacing=(1.0, 1.0, 1.0), affine=None):
    if affine is None:
        affine = np.diag([*spacing, 1.0])
    path = os.path.join(WORK, name)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def surface(m):
    """Inner boundary, 6-connectivity, outside the image is background."""
    p = np.pad(m, 1)
    inner = np.ones_like(m, dtype=bool)
    for axis in range(3):
        for shift in (-1, 1):
            inner &= np.roll(p, shift, axis=axis)[1:-1, 1:-1, 1:-1]
    return m & ~inner


def directed(a, b, spacing):
    pa = np.argwhere(a) * spacing
    pb = np.argwhere(b) * spacing
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return d.min(axis=1)


def close(a, b, tol=1e-9):
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
rng = np.random.default_rng(7)

# --- numbers against numpy, anisotropic spacing, object on the border ---
spacing = np.array([0.8, 1.25, 2.0])
ref = np.zeros((14, 12, 9), bool)
pred = np.zeros_like(ref)
ref[2:9, 3:10, 1:7] = True
ref[0:3, 0:2, 5:9] = True  # touches the image border
pred[3:10, 2:9, 2:8] = True
pred[11:13, 10:12, 0:2] = True  # a false positive far away
pred |= rng.random(ref.shape) < 0.02
a = save("ref.nii.gz", ref.astype(np.uint8), spacing)
b = save("pred.nii.gz", pred.astype(np.int16), spacing)
rc, out, err = run("score", a, b, "--json", "--tau", "1.5")
check(rc == 0, f"json run: rc {rc} {err}")
res = json.loads(out)
check(set(res) == {"metrics", "details", "conventions", "inputs", "engine"}, f"json keys {sorted(res)}")
m = res["metrics"]
names = ("dice jaccard sensitivity specificity ppv volume_ref_ml volume_pred_ml abs_volume_diff_ml "
         "rve_percent pet_accuracy hd hd95 hd95_pooled hd95_mean assd masd nsd").split()
check(all(n in m for n in names), "every spec name present")
sr, st = surface(ref), surface(pred)
stored = np.float32(spacing).astype(np.float64)  # NIfTI keeps spacing as float32
d_tr, d_rt = directed(st, sr, stored), directed(sr, st, stored)
tp, fp, fn = (ref & pred).sum(), (~ref & pred).sum(), (ref & ~pred).sum()
check(close(m["dice"], 2 * tp / (2 * tp + fp + fn)), "dice")
check(close(m["jaccard"], tp / (tp + fp + fn)), "jaccard")
check(close(m["hd"], max(d_tr.max(), d_rt.max())), "hd")
check(close(m["hd95"], max(np.percentile(d_tr, 95), np.percentile(d_rt, 95))), "hd95")
check(close(m["hd95_pooled"], np.percentile(np.concatenate([d_tr, d_rt]), 95)), "hd95_pooled")
check(close(m["hd95_mean"], (np.percentile(d_tr, 95) + np.percentile(d_rt, 95)) / 2), "hd95_mean")
check(close(m["assd"], (d_tr.sum() + d_rt.sum()) / (len(d_tr) + len(d_rt))), "assd")
check(close(m["masd"], (d_tr.mean() + d_rt.mean()) / 2), "masd")
check(close(m["nsd"], ((d_tr <= 1.5).sum() + (d_rt <= 1.5).sum()) / (len(d_tr) + len(d_rt))), "nsd")
voxel_ml = float(np.prod(np.float32(spacing))) / 1000  # NIfTI stores spacing as float32
check(close(m["volume_ref_ml"], ref.sum() * voxel_ml, 1e-6), "volume_ref_ml")
check(res["details"]["ref_surface_voxels"] == sr.sum(), "surface count")
check(res["conventions"]["definition_version"] == 1 and res["conventions"]["tau_mm"] == 1.5, "conventions")
check(res["inputs"]["size"] == [14, 12, 9], "inputs size")
check(res["engine"]["device"] == "cpu", "engine device")

# the same pair as a report and as CSV
rc, out, err = run("score", a, b)
check(rc == 0 and "hd95" in out and "pred->ref" in out, "text report")
rc, out, err = run("score", a, b, "--csv", "--threads", "1")
rows = list(csv.DictReader(out.splitlines()))
check(rc == 0 and len(rows) == 1 and close(float(rows[0]["dice"]), m["dice"]), "csv row")

# --- the reference's spacing is the scoring grid's: a prediction whose header
# differs within the geometry tolerance (1e-4 relative) changes no number ---
sp_r = np.zeros((12, 12, 12), np.uint8)
sp_r[3:6, 3:6, 3:6] = 1
sp_t = np.roll(sp_r, 1, axis=0)  # one voxel along x: every distance is 1 voxel
sp_ref = save("sp_ref.nii.gz", sp_r)
sp_pred = save("sp_pred_hi.nii.gz", sp_t, (1.00009, 1.00009, 1.00009))
hi = float(np.float32(1.00009))
rc, out, err = run("score", sp_ref, sp_pred, "--json", "--tau", "1", "--lesions", "--min-lesion-volume", "27")
res = json.loads(out) if rc == 0 else {}
m = res.get("metrics", {})
check(rc == 0 and res["inputs"]["spacing_mm"] == [1, 1, 1], f"spacing within the tolerance: {rc} {err}")
check(m.get("hd") == 1 and m.get("nsd") == 1, f"distances on the reference's spacing: hd {m.get('hd')} nsd {m.get('nsd')}")
check(m.get("volume_ref_ml") == 0.027 and m.get("volume_pred_ml") == 0.027, "volumes on the reference's spacing")
check(m.get("lesions_ref") == 0 and m.get("lesions_pred") == 0, "lesion volume filter on the reference's spacing")
rc, out, err = run("score", sp_pred, sp_ref, "--json", "--tau", "1")  # roles swapped: the other spacing
m = json.loads(out)["metrics"] if rc == 0 else {}
check(close(m.get("hd"), hi, 1e-15) and m.get("nsd", 1) < 1, f"the reference decides, swapped: {m.get('hd')}")
rc, out, err = run("score", "--ref", sp_ref, "--ref", sp_ref, sp_pred, "--json", "--tau", "1")
res = json.loads(out) if rc == 0 else {}
rater1 = os.path.basename(sp_ref).split(".")[0]  # the same file twice: its name, then name#2
check(rc == 0 and res["consensus"]["hd"] == 1 and res["raters"].get(rater1, {}).get("hd") == 1
      and res["raters"].get(rater1 + "#2", {}).get("hd") == 1,
      f"several raters: the first rater's spacing: {err} {res.get('consensus', {}).get('hd')}")

# --- empty masks: null with a reason, never NaN ---
empty = save("empty.nii.gz", np.zeros((6, 6, 6), np.uint8))
one = np.zeros((6, 6, 6), np.uint8)
one[2, 2, 2] = 1
onep = save("one.nii.gz", one)
rc, out, err = run("score", onep, empty, "--json")
m = json.loads(out)["metrics"]
check(rc == 0 and m["hd"] is None and m["hd_reason"] == "empty_prediction", "empty prediction -> null hd")
check(m["dice"] == 0 and m["ppv"] is None and m["ppv_reason"] == "empty_prediction", "empty prediction overlap")
check("NaN" not in out, "no NaN in JSON")
rc, out, err = run("score", empty, empty, "--json")
m = json.loads(out)["metrics"]
check(m["dice"] == 1 and m["hd"] == 0 and m["nsd"] == 1 and m["both_empty"] is True, "both empty")

# --- labels ---
lab_r = np.zeros((10, 10, 10), np.uint16)
lab_p = np.zeros_like(lab_r)
lab_r[1:5, 1:5, 1:5] = 1
lab_r[6:9, 6:9, 6:9] = 3
lab_p[1:5, 1:6, 1:5] = 1
lab_p[6:9, 6:9, 5:9] = 3
la, lb = save("lab_r.nii.gz", lab_r), save("lab_p.nii.gz", lab_p)
rc, out, err = run("score", la, lb, "--json", "--label", "all")
res = json.loads(out)
check(rc == 0 and sorted(res["labels"]) == ["1", "3"], f"labels all: {err}")
rc, out, err = run("score", la, lb, "--json", "--label", "3")
m3 = json.loads(out)["labels"]["3"]["metrics"]
check(close(m3["dice"], 2 * 27 / (27 + 36)), "label 3 dice")

# --label all on two empty images: one both-empty block, not an empty result
rc, out, err = run("score", empty, empty, "--json", "--label", "all")
res = json.loads(out)
check(rc == 0 and res["metrics"]["both_empty"] is True and res["metrics"]["dice"] == 1, "label all, both empty")
# a repeated --label gives one block; engine.threads says what really ran (small images: 1)
rc, out, err = run("score", la, lb, "--json", "--label", "3", "--label", "3", "--threads", "2")
res = json.loads(out)
check(rc == 0 and list(res["labels"]) == ["3"] and res["engine"]["threads"] == 1, "repeated label, threads used")
# spacing beyond what squared distances can hold is refused, naming the files
huge = nib.Nifti1Image(one, np.diag([1e7, 1.0, 1.0, 1.0]))  # fits NIfTI's float32, not the engine
huge_path = os.path.join(WORK, "huge_spacing.nii")
nib.save(huge, huge_path)
rc, out, err = run("score", huge_path, huge_path)
check(rc == 2 and "huge_spacing.nii" in err and "spacing" in err, f"huge spacing: {err!r}")

# --- folder mode ---
rd, pd = os.path.join(WORK, "refs"), os.path.join(WORK, "preds")
os.makedirs(rd), os.makedirs(pd)
for i in range(4):
    r = np.zeros((12, 12, 12), np.uint8)
    r[2:8, 2:8, 2 + i:8] = 1
    p = np.roll(r, i % 2, axis=0)
    nib.save(nib.Nifti1Image(r, np.eye(4)), os.path.join(rd, f"case{i}.nii.gz"))
    if i != 3:
        nib.save(nib.Nifti1Image(p, np.eye(4)), os.path.join(pd, f"case{i}.nii.gz"))
open(os.path.join(pd, "notes.txt"), "w").write("not an image")
csv_out = os.path.join(WORK, "results.csv")
rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", csv_out)
check(rc == 2, f"folder mode with a missing prediction exits 2 (got {rc})")
check("no prediction for case case3" in err and "notes.txt: ignored" in err, f"folder messages: {err}")
check("summary" in out and "case0" in out and "3 scored, 1 failed" in out, "folder table and summary")
rows = list(csv.DictReader(open(csv_out)))
check(len(rows) == 4 and rows[0]["case"] == "case0" and rows[3]["error"], "results.csv")
check(rows[0]["dice"] == "1", "identical case dice 1")
# a failed case is counted in the summary: n + undefined + failed = cases
rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "--json")
dsum = json.loads(out)["summary"][">0"]["dice"] if out else {}
check(rc == 2 and dsum.get("failed") == 1 and dsum["n"] + dsum["undefined"] + dsum["failed"] == 4,
      f"json summary counts the failed case: {dsum}")
rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd)
lines = out.splitlines()
head = next((l.split() for l in lines if l.startswith("metric ")), [])
dice_row = next((l.split() for l in lines if l.startswith("dice ")), [])
check(head[-1:] == ["failed"] and dice_row[-3:] == ["3", "0", "1"], f"text summary counts the failed case: {dice_row}")
json_out = os.path.join(WORK, "results.json")
os.remove(os.path.join(rd, "case3.nii.gz"))
rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", json_out, "--csv")
res = json.load(open(json_out))
check(rc == 0 and len(res["cases"]) == 3 and res["summary"][">0"]["dice"]["n"] == 3, "results.json summary")
check(res["summary"][">0"]["hd"]["std"] is not None, "summary std over three cases")
check(out.startswith("case,label,compared_to,dice"), "folder CSV on stdout")
check(not [f for f in os.listdir(WORK) if ".tmp" in f], f"no temporary file left: {os.listdir(WORK)}")
# stdout a pipe whose reader is gone (`| true`, `| head` done early): the printing
# dies of SIGPIPE, and -o was written and renamed before it (the table was printed
# first, and FILE.tmp-XXXXXX was left with no results file)
# (enough cases that the table outgrows stdout's buffer)
many_r, many_p = os.path.join(WORK, "many", "ref"), os.path.join(WORK, "many", "pred")
os.makedirs(many_r)
os.makedirs(many_p)
for i in range(200):
    m = np.zeros((4, 4, 4), np.uint8)
    m[1:3, 1:3, 1:1 + i % 3] = 1
    nib.save(nib.Nifti1Image(m, np.eye(4)), os.path.join(many_r, f"case{i:03d}.nii.gz"))
    nib.save(nib.Nifti1Image(m, np.eye(4)), os.path.join(many_p, f"case{i:03d}.nii.gz"))
pipe_out = os.path.join(WORK, "many", "piped.csv")
r_end, w_end = os.pipe()
os.close(r_end)
p = subprocess.run([SEGARENA, "score", "--ref-dir", many_r, "--pred-dir", many_p, "-o", pipe_out],
                   stdout=w_end, stderr=subprocess.PIPE, restore_signals=True)
os.close(w_end)
left = [f for f in os.listdir(os.path.join(WORK, "many")) if ".tmp" in f]
check(os.path.exists(pipe_out) and len(list(csv.DictReader(open(pipe_out)))) == 200 and not left,
      f"-o with stdout's reader gone: rc {p.returncode}, results file "
      f"{os.path.exists(pipe_out)}, left {left}")
# -o inside the scored folder: its own temporary file is no case and no warning
# (it was "res.csv.tmp-XXXXXX: ignored, not an image file name")
rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", os.path.join(pd, "res.csv"))
check(rc == 0 and ".tmp-" not in err and "notes.txt: ignored" in err
      and len(list(csv.DictReader(open(os.path.join(pd, "res.csv"))))) == 3,
      f"-o inside --pred-dir: rc {rc}, {err!r}")
os.remove(os.path.join(pd, "res.csv"))
# an -o that cannot be written is bad input, said before any case is scored (it was
# exit 1, "internal error", after all of them): one line naming the path, nothing on stdout
os.makedirs(os.path.join(WORK, "a_folder"), exist_ok=True)
for target, needle in ((os.path.join(WORK, "no_such_folder", "r.csv"), "does not exist"),
                       (os.path.join(WORK, "a_folder"), "is a folder"),
                       (os.path.join(WORK, "a_folder") + "/", "names a folder"),
                       (os.path.join(rd, "case0.nii.gz", "r.csv"), "is not a folder"),
                       ("", "no file name")):
    rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", target)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 2 and out == "" and len(lines) == 1 and needle in lines[0]
          and (target in lines[0] if target else "-o ''" in lines[0]),
          f"-o {target!r}: rc {rc}, stdout {out[:60]!r}, stderr {lines}")
check(not [f for f in os.listdir(WORK) if ".tmp" in f] and os.listdir(os.path.join(WORK, "a_folder")) == [],
      "a refused -o leaves no temporary file")
# -o through a symbolic link writes the file the link names, as '>' does, and keeps
# the link (the rename put a regular file in the link's place); a dangling link, a
# device are refused in one line, nothing written
links = os.path.join(WORK, "links")
os.makedirs(os.path.join(links, "real"))
real = os.path.join(links, "real", "results.csv")
open(real, "w").write("old\n")
os.symlink(os.path.join("real", "results.csv"), os.path.join(links, "rel.csv"))  # relative to the link
os.symlink(os.path.join(links, "rel.csv"), os.path.join(links, "chain.csv"))  # a link to a link
for name in ("rel.csv", "chain.csv"):
    link = os.path.join(links, name)
    open(real, "w").write("old\n")
    rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", link)
    rows = list(csv.DictReader(open(real)))
    check(rc == 0 and os.path.islink(link) and len(rows) == 3 and rows[0]["case"] == "case0"
          and sorted(os.listdir(links)) == ["chain.csv", "real", "rel.csv"]
          and os.listdir(os.path.join(links, "real")) == ["results.csv"],
          f"-o {name} (a symlink): the file it names written, the link kept: rc {rc} {err!r} "
          f"{sorted(os.listdir(links))} {os.listdir(os.path.join(links, 'real'))}")
dangling = os.path.join(links, "dangling.csv")
os.symlink(os.path.join(links, "real", "missing.csv"), dangling)
fifo = os.path.join(links, "fifo")  # never /dev/null: a regression would replace it (run as root)
os.mkfifo(fifo)
for target, needle in ((dangling, "dangling symbolic link"), (fifo, "not a regular file")):
    rc, out, err = run("score", "--ref-dir", rd, "--pred-dir", pd, "-o", target)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 2 and out == "" and len(lines) == 1 and needle in lines[0] and target in lines[0],
          f"-o {target}: refused in one line: rc {rc} {lines}")
import stat  # noqa: E402
check(os.path.islink(dangling) and os.listdir(os.path.join(links, "real")) == ["results.csv"]
      and stat.S_ISFIFO(os.lstat(fifo).st_mode)
      and sorted(os.listdir(links)) == ["chain.csv", "dangling.csv", "fifo", "real", "rel.csv"],
      f"a refused -o: the link and the pipe kept, nothing made ({sorted(os.listdir(links))})")

# folder mode with --label all: a label missing from a case is a both-empty block there
ld, lp = os.path.join(WORK, "lrefs"), os.path.join(WORK, "lpreds")
os.makedirs(ld), os.makedirs(lp)
for i in range(2):
    r = np.zeros((8, 8, 8), np.uint8)
    r[1:4, 1:4, 1:4] = 1
    if i == 0:
        r[5:7, 5:7, 5:7] = 2
    nib.save(nib.Nifti1Image(r, np.eye(4)), os.path.join(ld, f"c{i}.nii.gz"))
    nib.save(nib.Nifti1Image(r, np.eye(4)), os.path.join(lp, f"c{i}.nii.gz"))
json_out = os.path.join(WORK, "labels.json")
rc, out, err = run("score", "--ref-dir", ld, "--pred-dir", lp, "--label", "all", "-o", json_out)
res = json.load(open(json_out))
c1 = res["cases"][1]["labels"]
check(rc == 0 and sorted(c1) == ["1", "2"] and c1["2"]["metrics"]["both_empty"] is True, "absent label is both-empty")
check(res["summary"]["2"]["dice"]["n"] == 2 and res["summary"]["2"]["dice"]["mean"] == 1, "no silent gap in the mean")
# a case empty in both folders adds both-empty blocks for the labels the others
# have, never a '>0' block (which neither a labelled case nor the summary gets)
empty_case = np.zeros((8, 8, 8), np.uint8)
for d in (ld, lp):
    nib.save(nib.Nifti1Image(empty_case, np.eye(4)), os.path.join(d, "c2.nii.gz"))
rc, out, err = run("score", "--ref-dir", ld, "--pred-dir", lp, "--label", "all", "--csv")
blocks = [(r["case"], r["label"], r["both_empty"]) for r in csv.DictReader(io.StringIO(out))]
check(rc == 0 and blocks == [("c0", "1", "0"), ("c0", "2", "0"), ("c1", "1", "0"), ("c1", "2", "1"),
                             ("c2", "1", "1"), ("c2", "2", "1")], f"all-empty case in label mode: {blocks}")
rc, out, err = run("score", "--ref-dir", ld, "--pred-dir", lp, "--label", "all", "-o", json_out)
res = json.load(open(json_out))
check(rc == 0 and sorted(res["summary"]) == ["1", "2"] and res["summary"]["1"]["dice"]["n"] == 3,
      f"label summaries without '>0': {sorted(res['summary'])}")
# --label all over cases: at most 256 labels in all, never truncated silently
md, mp = os.path.join(WORK, "mrefs"), os.path.join(WORK, "mpreds")
os.makedirs(md), os.makedirs(mp)


def labelled_case(name, first, last):
    m = np.zeros((8, 8, 8), np.uint16)
    m.flat[: last - first + 1] = np.arange(first, last + 1)
    for d in (md, mp):
        nib.save(nib.Nifti1Image(m, np.eye(4)), os.path.join(d, f"{name}.nii.gz"))


labelled_case("a", 1, 200)
labelled_case("b", 57, 256)  # 256 labels over both cases: the limit, allowed
rc, out, err = run("score", "--ref-dir", md, "--pred-dir", mp, "--label", "all", "--json")
res = json.loads(out) if rc == 0 else {"cases": [], "summary": {}}
check(rc == 0 and [len(c["labels"]) for c in res["cases"]] == [256, 256] and len(res["summary"]) == 256
      and res["summary"]["256"]["dice"]["n"] == 2, f"256 labels over the cases: {rc} {err}")
labelled_case("b", 101, 300)  # 300 labels over both cases
rc, out, err = run("score", "--ref-dir", md, "--pred-dir", mp, "--label", "all", "--csv")
lines = [l for l in err.splitlines() if l.strip()]
check(rc == 2 and out == "" and len(lines) == 1 and "case b" in lines[0] and os.path.join(md, "b.nii.gz") in lines[0]
      and "more than 256 labels" in lines[0], f"more than 256 labels over the cases: rc {rc} {err!r}")
# no label in any case: each case keeps its one '>0' both-empty block
ed, ep = os.path.join(WORK, "erefs"), os.path.join(WORK, "epreds")
os.makedirs(ed), os.makedirs(ep)
for d in (ed, ep):
    for i in range(2):
        nib.save(nib.Nifti1Image(empty_case, np.eye(4)), os.path.join(d, f"e{i}.nii.gz"))
rc, out, err = run("score", "--ref-dir", ed, "--pred-dir", ep, "--label", "all", "--csv")
blocks = [(r["case"], r["label"], r["both_empty"]) for r in csv.DictReader(io.StringIO(out))]
check(rc == 0 and blocks == [("e0", ">0", "1"), ("e1", ">0", "1")], f"no label anywhere: {blocks}")
os.remove(os.path.join(ld, "c2.nii.gz")), os.remove(os.path.join(lp, "c2.nii.gz"))
one = os.path.join(WORK, "one_case.json")
os.remove(os.path.join(ld, "c1.nii.gz"))
rc, out, err = run("score", "--ref-dir", ld, "--pred-dir", lp, "-o", one)
res = json.load(open(one))
check(res["summary"][">0"]["dice"]["std"] is None and res["summary"][">0"]["dice"]["std_reason"] == "fewer_than_two_values",
      "std of one value is null with a reason")

# --- bad input: exit 2 and one line naming the file ---
def bad(path, other, needle, label=None):
    args = ["score", other, path] + (["--label", label] if label else [])
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == 2 and len(lines) == 1 and path in lines[0] and needle in lines[0].lower() and out == ""
    check(ok, f"bad input {os.path.basename(path)}: rc {rc}, stderr {err!r}")

small = np.zeros((6, 6, 6), np.uint8)
small[1:4, 1:4, 1:4] = 1
good = save("good.nii.gz", small)
bad(os.path.join(WORK, "missing.nii.gz"), good, "no such file")
txt = os.path.join(WORK, "mask.txt")
open(txt, "w").write("hello")
bad(txt, good, "format")
raw = gzip.compress(open(save("full.nii", small), "rb").read())
trunc = os.path.join(WORK, "truncated.nii.gz")
open(trunc, "wb").write(raw[: len(raw) // 2])
bad(trunc, good, "truncated")
bad(save("other_size.nii.gz", np.zeros((6, 6, 7), np.uint8)), good, "geometry")
bad(save("other_spacing.nii.gz", small, (1.0, 1.0, 1.5)), good, "geometry")
half = small.astype(np.float32)
half[2, 2, 2] = 0.5
bad(save("fractional.nii.gz", half), good, "non-integer")
neg = small.astype(np.int16)
neg[0, 0, 0] = -1
bad(save("negative.nii.gz", neg), good, "negative")
bad(save("four_d.nii.gz", np.zeros((6, 6, 6, 2), np.uint8)), good, "4")
nan_img = nib.Nifti1Image(small, np.eye(4))
nan_img.header["pixdim"][2] = np.nan
nan_path = os.path.join(WORK, "nan_spacing.nii.gz")
nib.save(nan_img, nan_path)
bad(nan_path, good, "spacing")

many = np.zeros((8, 8, 8), np.uint16)
many.flat[:300] = np.arange(1, 301)
many_path = save("many_labels.nii.gz", many)
few = np.zeros((8, 8, 8), np.uint16)
few[1:4, 1:4, 1:4] = 1
few_path = save("few_labels.nii.gz", few)
bad(many_path, few_path, "more than 256 labels", label="all")
rc, out, err = run("score", many_path, few_path, "--label", "all")  # the reference pushes the union over
check(rc == 2 and err.count("\n") == 1 and err.startswith(f"segarena score: {many_path}: more than 256 labels"),
      f"too many labels in the reference: {err!r}")
rc, out, err = run("score", good)
check(rc == 2 and "needs REF and PRED" in err, "usage error")
rc, out, err = run("score", "--help")
check(rc == 0 and all(w in out for w in ("6 face", "numpy", "empty_reference", "tau")), "help states conventions")
check("0.30000000000000004" in out and "0.35" in out, "help warns of the rounding of a distance equal to tau")

# --- every bad input file gets its own line (it was the first one only) ---
def problem_lines(*args):
    rc, out, err = run(*args)
    return rc, out, [l for l in err.splitlines() if l.strip()]

pfrac = save("both_frac.nii.gz", half)
pneg = save("both_neg.nii.gz", neg)
rc, out, lines = problem_lines("score", pfrac, pneg)
check(rc == 2 and out == "" and len(lines) == 2 and pfrac in lines[0] and "non-integer" in lines[0]
      and pneg in lines[1] and "negative" in lines[1], f"both inputs bad: two lines: {rc} {lines}")
m1, m2 = os.path.join(WORK, "missing1.nii.gz"), os.path.join(WORK, "missing2.nii.gz")
rc, out, lines = problem_lines("score", "--ref", m1, "--ref", m2, good)
check(rc == 2 and len(lines) == 2 and m1 in lines[0] and m2 in lines[1] and all("no such file" in l for l in lines),
      f"two missing --ref: two lines: {rc} {lines}")
rc, out, lines = problem_lines("score", m1, pfrac)
check(rc == 2 and len(lines) == 2 and m1 in lines[0] and pfrac in lines[1],
      f"a missing REF and a bad PRED: two lines: {rc} {lines}")
other = save("both_other_size.nii.gz", np.zeros((6, 6, 7), np.uint8))
rc, out, lines = problem_lines("score", "--ref", good, "--ref", other, "--ref", pfrac, pneg)
check(rc == 2 and len(lines) == 3 and "geometry" in lines[0] and other in lines[0]
      and any(pfrac in l for l in lines[1:]) and any(pneg in l for l in lines[1:]),
      f"a rater of another size, a fractional rater, a negative prediction: three lines: {rc} {lines}")
rc, out, lines = problem_lines("score", pfrac, pneg, "--label", "all")
check(rc == 2 and len(lines) == 2 and pfrac in lines[0] and pneg in lines[1], f"--label all: two lines: {lines}")
# more problems than fit: the last line says how many were left out, none is lost silently
longdir = os.path.join(WORK, "l" * 200)
os.makedirs(longdir, exist_ok=True)
many = [os.path.join(longdir, f"{'m' * 40}{k:02d}.nii.gz") for k in range(32)]
rc, out, lines = problem_lines("score", *sum((["--ref", p] for p in many), []), os.path.join(longdir, "pred.nii.gz"))
left = lines[-1] if lines else ""
shown = len(lines) - 1
check(rc == 2 and left.startswith("segarena score: (problems not shown: ") and left.endswith(" more)")
      and shown + int(left.rsplit(": ", 1)[1].split()[0]) == 33 and all("no such file" in l for l in lines[:-1]),
      f"33 missing files: {shown} lines shown, then {left!r}")
fr, fp = os.path.join(WORK, "bad_ref_dir"), os.path.join(WORK, "bad_pred_dir")
os.makedirs(fr), os.makedirs(fp)
shutil.copy(pfrac, os.path.join(fr, "c1.nii.gz")), shutil.copy(pneg, os.path.join(fp, "c1.nii.gz"))
rc, out, lines = problem_lines("score", "--ref-dir", fr, "--pred-dir", fp, "--json")
res = json.loads(out) if out else {}
err_field = res.get("cases", [{}])[0].get("error", "") if res.get("cases") else ""
check(rc == 2 and len(lines) == 2 and err_field.count("\n") == 1, f"folder mode: a case's two bad files: {lines} {err_field!r}")

# --- cosmetic: no negative zeros in geometry messages; --json with --csv is refused ---
rc, out, lines = problem_lines("score", good, other)
check(rc == 2 and len(lines) == 1 and "origin (0, 0, 0)" in lines[0] and "-0" not in lines[0]
      and "direction (-1 0 0; 0 -1 0; 0 0 1)" in lines[0], f"geometry message without -0: {lines}")
for pair in (("--json", "--csv"), ("--csv", "--json")):
    rc, out, lines = problem_lines("score", good, good, *pair)
    check(rc == 2 and out == "" and len(lines) == 1 and "--csv and --json exclude each other" in lines[0],
          f"{pair}: refused: {rc} {lines}")
rc, out, err = run("score", good, good, "--json", "--json")
check(rc == 0 and json.loads(out)["metrics"]["dice"] == 1, "--json twice is --json")

# --- the file named is the file read: a stale X.nii beside X.nii.gz is never read
# in its place (ITK's niftilib looks files up by base name; a 2D file goes to ITK) ---
twin = os.path.join(WORK, "twin")
os.makedirs(twin)
sq = np.zeros((10, 10), np.uint8)
sq[2:6, 2:6] = 1
stale = np.zeros((10, 10), np.uint8)
stale[2:4, 2:4] = 1
nib.save(nib.Nifti1Image(sq, np.eye(4)), os.path.join(twin, "ref2d.nii.gz"))
nib.save(nib.Nifti1Image(sq, np.eye(4)), os.path.join(twin, "pred2d.nii.gz"))
nib.save(nib.Nifti1Image(stale, np.eye(4)), os.path.join(twin, "pred2d.nii"))
for reader in ("auto", "itk"):
    rc, out, err = run("score", os.path.join(twin, "ref2d.nii.gz"), os.path.join(twin, "pred2d.nii.gz"),
                       "--json", "--reader", reader)
    dice = json.loads(out)["metrics"]["dice"] if rc == 0 else None
    check(rc == 0 and dice == 1, f"2D pred2d.nii.gz beside a stale pred2d.nii ({reader}): rc {rc} dice {dice} {err!r}")

# an interrupted folder run (Ctrl-C, a kill) leaves no temporary -o file: the
# handler removes it and the process dies of the signal. The run is made slow
# enough (one thread, 40 cases of 96^3 speckle) that the signal comes while it
# scores; the temporary file exists from before the first case.
import signal  # noqa: E402
import time  # noqa: E402
slow_r, slow_p = os.path.join(WORK, "slow", "ref"), os.path.join(WORK, "slow", "pred")
os.makedirs(slow_r)
os.makedirs(slow_p)
rng = np.random.default_rng(7)
for i in range(40):
    nib.save(nib.Nifti1Image((rng.random((96, 96, 96)) < 0.2).astype(np.uint8), np.eye(4)),
             os.path.join(slow_r, f"c{i:02d}.nii.gz"))
    nib.save(nib.Nifti1Image((rng.random((96, 96, 96)) < 0.2).astype(np.uint8), np.eye(4)),
             os.path.join(slow_p, f"c{i:02d}.nii.gz"))
for sig in (signal.SIGINT, signal.SIGTERM):
    out_dir = os.path.join(WORK, "slow", f"out-{sig.name}")
    os.makedirs(out_dir)
    target = os.path.join(out_dir, "res.csv")
    p = subprocess.Popen([SEGARENA, "score", "--ref-dir", slow_r, "--pred-dir", slow_p, "-o", target,
                          "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         restore_signals=True)
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None and not any(
            n.startswith("res.csv.tmp-") for n in os.listdir(out_dir)):
        time.sleep(0.01)
    had_tmp = any(n.startswith("res.csv.tmp-") for n in os.listdir(out_dir))
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    left = os.listdir(out_dir)
    check(had_tmp and rc == -sig and left == [],
          f"{sig.name} during a folder run: dies of it (rc {rc}), its temporary file removed ({left})")
# the signal at the moment the temporary file appears (a busy watch, signalled at
# once): it came, 2 times in 100, before its handler was in place and the file
# was left; the signals are now held from before the file exists
left_behind = 0
for i in range(600):
    out_dir = os.path.join(WORK, "slow", f"early-{i}")
    os.makedirs(out_dir)
    p = subprocess.Popen([SEGARENA, "score", "--ref-dir", slow_r, "--pred-dir", slow_p, "-o",
                          os.path.join(out_dir, "res.csv"), "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, restore_signals=True)
    while p.poll() is None and not os.listdir(out_dir):
        pass
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    left_behind += len(os.listdir(out_dir)) > 0
    shutil.rmtree(out_dir)
check(left_behind == 0, f"SIGTERM as the temporary file appears: left behind {left_behind} times in 600")

# an interrupted score leaves no private folder of an ITK NIfTI read: ITK reads a
# link to the file in a segarena-itk-XXXXXX folder made in $TMPDIR (image.c), and a
# SIGINT or SIGTERM while it exists left it there. The signal is sent as the folder
# appears (a busy watch), the read of a 320^3 speckle pair lasting long after.
itk_dir = os.path.join(WORK, "itk_interrupt")
os.makedirs(itk_dir)
for name in ("ref", "pred"):
    nib.save(nib.Nifti1Image((rng.random((320, 320, 320)) < 0.5).astype(np.uint8), np.eye(4)),
             os.path.join(itk_dir, f"{name}.nii.gz"))
for sig in (signal.SIGINT, signal.SIGTERM):
    tmpdir = os.path.join(WORK, f"itk_tmp-{sig.name}")
    os.makedirs(tmpdir)
    p = subprocess.Popen([SEGARENA, "score", os.path.join(itk_dir, "ref.nii.gz"),
                          os.path.join(itk_dir, "pred.nii.gz"), "--reader", "itk"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, restore_signals=True,
                         env=dict(os.environ, TMPDIR=tmpdir))
    while p.poll() is None and not os.listdir(tmpdir):
        pass
    seen = os.listdir(tmpdir)
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    left = os.listdir(tmpdir)
    check(seen and seen[0].startswith("segarena-itk-") and rc == -sig and left == [],
          f"{sig.name} during an ITK read: dies of it (rc {rc}), its folder {seen} removed ({left})")

finish("test_cli_score")
