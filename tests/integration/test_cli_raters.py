#!/usr/bin/python3
"""End-to-end tests of several raters: `segarena score --ref R1 --ref R2 ... PRED`
and `segarena consensus`, on masks written by nibabel, checked against numpy
(majority votes, Dice) and for the JSON shape of the spec's Names section.

Usage: test_cli_raters.py PATH/TO/segarena WORKDIR
"""
import csv
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
except ImportError as e:
    print(f"SKIP: {e} (Debian packages python3-nibabel, python3-numpy)")
    sys.exit(77)

SEGARENA, WORK = sys.argv[1], sys.argv[2]


def run(*args):
    p = subprocess.run([SEGARENA, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def save(name, data, spacing=(1.0, 1.0, 1.0)):
    path = os.path.join(WORK, name)
    nib.save(nib.Nifti1Image(data, np.diag([*spacing, 1.0])), path)
    return path


def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * (a & b).sum() / s


def close(a, b, tol=1e-9):
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
rng = np.random.default_rng(11)
shape = (40, 36, 24)
x, y, z = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
truth = np.zeros(shape, bool)
for c in [(10, 10, 8), (25, 20, 12), (30, 8, 16), (12, 28, 18)]:  # four separate lesions, radius 4
    truth |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= 16
raters = []
for k in range(3):
    m = truth.copy()
    grow = (x - 10) ** 2 + (y - 10) ** 2 + (z - 8) ** 2 <= (4.5 + 0.5 * k) ** 2  # rater k draws one lesion wider
    m |= grow
    m &= rng.random(shape) > 0.02 * k
    raters.append(m)
pred = truth.copy()
pred[20:24, 30:33, 2:5] = True  # a false positive lesion
paths = [save(f"r{k + 1}.nii.gz", m.astype(np.uint8)) for k, m in enumerate(raters)]
pp = save("pred.nii.gz", pred.astype(np.uint8))
votes = sum(m.astype(int) for m in raters)
majority = votes >= 2

# --- majority consensus, per-rater scores, mean, human reference, lesions ---
args = sum((["--ref", p] for p in paths), []) + [pp]
rc, out, err = run("score", *args, "--json", "--consensus", "majority", "--human-reference", "--lesions")
check(rc == 0, f"multi-rater run: {rc} {err}")
res = json.loads(out)
for key in ("consensus", "raters", "rater_mean", "consensus_run", "human_reference", "conventions", "inputs", "engine"):
    check(key in res, f"key {key}")
check("metrics" not in res and "staple" not in res, "no single-rater metrics, no staple block with majority")
check(sorted(res["raters"]) == ["r1", "r2", "r3"], f"rater ids {sorted(res['raters'])}")
check(close(res["consensus"]["dice"], dice(majority, pred)), "dice against the majority consensus")
for k in range(3):
    check(close(res["raters"][f"r{k + 1}"]["dice"], dice(raters[k], pred)), f"dice against rater {k + 1}")
mean_dice = np.mean([dice(m, pred) for m in raters])
check(close(res["rater_mean"]["dice"], mean_dice), "rater_mean dice")
for k in range(3):
    others = [raters[i] for i in range(3) if i != k]
    loo = others[0] & others[1]  # majority of two raters: both
    check(close(res["human_reference"][f"r{k + 1}"]["dice"], dice(raters[k], loo)), f"human reference r{k + 1}")
cons = res["consensus"]
check(cons["lesions_ref"] == 4 and cons["lesions_pred"] == 5 and cons["lesions_fp"] == 1, f"lesion counts {cons}")
check(close(cons["lesion_sensitivity"], 1.0) and close(cons["lesion_ppv"], 0.8), "lesion sensitivity and ppv")
check(res["conventions"]["consensus"]["method"] == "majority" and res["conventions"]["lesions"]["connectivity"] == 6,
      "conventions record consensus and lesion settings")
check(sorted(res["inputs"]["raters"]) == ["r1", "r2", "r3"], "inputs list the raters")

# --- STAPLE (default): estimates per rater; text and CSV outputs ---
rc, out, err = run("score", *args, "--json")
res = json.loads(out)
check(rc == 0 and sorted(res["staple"]) == ["r1", "r2", "r3"], f"staple block: {err}")
st = res["staple"]["r1"]
check(0 < st["sensitivity"] <= 1 and 0 < st["specificity"] <= 1, "staple estimates in (0, 1]")
check(res["consensus_run"]["method"] == "staple" and res["consensus_run"]["region"] == "dilated_union", "consensus_run")
rc, out, err = run("score", *args)
check(rc == 0 and "sensitivity" in out and "rater_mean" in out and "r3" in out, "text report of several raters")
rc, out, err = run("score", *args, "--csv", "--human-reference")
rows = list(csv.DictReader(out.splitlines()))
kinds = [r["compared_to"] for r in rows]
check(kinds == ["consensus", "rater:r1", "rater:r2", "rater:r3", "rater_mean", "human:r1", "human:r2", "human:r3"],
      f"csv rows {kinds}")

# --- a mean over fewer raters than all says so in every output, never silently ---
empty_rater = save("r_empty.nii.gz", np.zeros(shape, np.uint8))
partial = ["--ref", paths[0], "--ref", paths[1], "--ref", empty_rater, pp]
rc, out, err = run("score", *partial, "--json", "--consensus", "majority")
mean = json.loads(out)["rater_mean"] if rc == 0 else {}
check(rc == 0 and mean.get("hd_raters") == 2 and "dice_raters" not in mean, f"json: hd over 2 raters: {err}")
rc, out, err = run("score", *partial, "--csv", "--consensus", "majority")
rows = {r["compared_to"]: r for r in csv.DictReader(out.splitlines())}
und = rows.get("rater_mean", {}).get("undefined", "").split()
check(rc == 0 and "hd=mean_of_2_of_3_raters" in und and "nsd=mean_of_2_of_3_raters" not in und
      and close(float(rows["rater_mean"]["hd"]), mean["hd"]), f"csv: partial mean noted: {und}")
check(not any(u.startswith("dice=") for u in und), "csv: dice, defined for every rater, carries no note")
rc, out, err = run("score", *partial, "--consensus", "majority")
hd_row = next((l for l in out.splitlines() if l.split()[:1] == ["hd"]), "")
dice_row = next((l for l in out.splitlines() if l.split()[:1] == ["dice"]), "")
check(rc == 0 and hd_row.rstrip().endswith("(2/3)") and "(" not in dice_row, f"text: partial mean marked: {hd_row!r}")
check("of 3 raters" in out, "text: the mark is explained")

# --- segarena consensus ---
out_path = os.path.join(WORK, "majority.nii.gz")
prob_path = os.path.join(WORK, "votes.nii.gz")
rc, out, err = run("consensus", *paths, "--method", "majority", "-o", out_path, "--probability", prob_path)
check(rc == 0, f"consensus majority: {err}")
got = np.asarray(nib.load(out_path).dataobj)
check(got.dtype == np.uint8 and np.array_equal(got.astype(bool), majority), "majority consensus written")
prob = np.asarray(nib.load(prob_path).dataobj)
check(np.allclose(prob, votes / 3.0, atol=1e-6), "vote fraction written")
check(np.allclose(nib.load(out_path).affine, nib.load(paths[0]).affine), "raters' geometry kept")
rc, out, err = run("consensus", *paths, "-o", os.path.join(WORK, "staple.nii.gz"), "--json")
res = json.loads(out) if rc == 0 else {}
check(rc == 0 and sorted(res.get("raters", {})) == ["r1", "r2", "r3"], f"consensus staple json: {err}")
# raters sharing a file name (rater1/case01.nii.gz, rater2/case01.nii.gz): unique
# keys, the later one numbered; a file literally named case01#2 takes the next number
for d in ("rater1", "rater2", "rater3"):
    os.makedirs(os.path.join(WORK, d), exist_ok=True)
same_name = [save(os.path.join(d, "case01.nii.gz"), m.astype(np.uint8))
             for d, m in zip(("rater1", "rater2"), raters)] + [save(os.path.join("rater3", "case01#2.nii.gz"),
                                                                   raters[2].astype(np.uint8))]
def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    check(len(keys) == len(set(keys)), f"duplicate JSON keys {keys}")
    return dict(pairs)
rc, out, err = run("consensus", *same_name, "-o", os.path.join(WORK, "same_name.nii.gz"), "--json")
res = json.loads(out, object_pairs_hook=no_duplicates) if rc == 0 else {}
check(rc == 0 and list(res.get("raters", {})) == ["case01", "case01#2", "case01#2#2"]
      and [v["path"] for v in res["raters"].values()] == same_name, f"consensus: same file names: {out} {err}")
rc, out, err = run("consensus", *same_name, "-o", os.path.join(WORK, "same_name.nii.gz"))
check(rc == 0 and [l.split()[0] for l in out.splitlines()[-3:]] == ["case01", "case01#2", "case01#2#2"],
      f"consensus text: same file names: {out}")
# segarena score names its raters the same way (it renamed every rater 1..K)
three_names = same_name[:2] + [paths[2]]
rc, out, err = run("score", *sum((["--ref", p] for p in three_names), []), pp, "--json", "--human-reference")
res = json.loads(out, object_pairs_hook=no_duplicates) if rc == 0 else {}
want = ["case01", "case01#2", "r3"]
check(rc == 0 and list(res.get("raters", {})) == want and list(res.get("staple", {})) == want
      and list(res.get("human_reference", {})) == want and res["inputs"]["raters"] == dict(zip(want, three_names)),
      f"score: two raters share a file name: {list(res.get('raters', {}))} {err}")
rc, out, err = run("score", *sum((["--ref", p] for p in same_name), []), pp, "--csv")
rows = [r["compared_to"] for r in csv.DictReader(out.splitlines())]
check(rc == 0 and rows == ["consensus", "rater:case01", "rater:case01#2", "rater:case01#2#2", "rater_mean"],
      f"score csv: the consensus' scheme: {rows}")
rc, out, err = run("consensus", *three_names, "-o", os.path.join(WORK, "three.nii.gz"), "--json")
check(rc == 0 and list(json.loads(out)["raters"]) == want, "consensus and score: one scheme")
# the text report's table: long names that differ only at the end are shown whole
# (the columns were cut at 11 characters: "annotator_a annotator_a")
long_names = [save(os.path.join(d, "annotator_alice.nii.gz"), m.astype(np.uint8))
              for d, m in zip(("rater1", "rater2"), raters)]
rc, out, err = run("score", *sum((["--ref", p] for p in long_names), []), pp)
header = next((l for l in out.splitlines() if l.split()[:2] == ["metric", "consensus"]), "")
dice = next((l for l in out.splitlines() if l.split()[:1] == ["dice"]), "")
check(rc == 0 and header.split()[2:] == ["annotator_alice", "annotator_alice#2", "rater_mean"]
      and header.index("annotator_alice#2") == dice.index(dice.split()[3]),
      f"score text: long rater names whole, values under them: {header!r} {dice!r}")
identical = [save(f"same{k}.nii.gz", truth.astype(np.uint8)) for k in range(2)]
rc, out, err = run("consensus", *identical, "-o", os.path.join(WORK, "same.nii.gz"), "--json")
res = json.loads(out)
check(all(abs(v["sensitivity"] - 1) < 1e-9 and abs(v["specificity"] - 1) < 1e-9 for v in res["raters"].values()),
      "identical raters: sensitivity = specificity = 1")

# --- bad input: one line naming the file, exit status 2 ---
def bad(args, needle, name):
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 2 and len(lines) == 1 and needle in lines[0], f"{name}: rc {rc}, stderr {err!r}")

# a rater's mask is read as the one REF is (the spec: value > 0, or == L): the
# many-rater form accepts what the one-rater form accepts, and refuses what it refuses
os.makedirs(os.path.join(WORK, "w255"), exist_ok=True)
paths255 = [save(os.path.join("w255", f"r{k + 1}.nii.gz"), (m * 255).astype(np.uint8)) for k, m in enumerate(raters)]
for n in (2, 3):
    for extra in (["--consensus", "majority", "--human-reference", "--lesions"], ["--human-reference"]):
        got = {}
        for name, ps in (("0/1", paths), ("0/255", paths255)):
            rc, out, err = run("score", *sum((["--ref", p] for p in ps[:n]), []), pp, "--json", *extra)
            check(rc == 0, f"{n} raters {name} {extra}: rc {rc} {err!r}")
            res = json.loads(out) if rc == 0 else {}
            got[name] = {k: res.get(k) for k in ("consensus", "raters", "rater_mean", "staple", "human_reference",
                                                  "consensus_run")}
        check(got["0/1"] == got["0/255"] and got["0/1"]["consensus"] is not None,
              f"{n} raters {extra}: 0/255 raters score as 0/1 raters")
for method in ("majority", "staple"):
    outs = []
    for name, ps in (("01", paths), ("255", paths255)):
        o = os.path.join(WORK, f"cons_{method}_{name}.nii.gz")
        rc, out, err = run("consensus", *ps, "--method", method, "-o", o, "--json")
        check(rc == 0, f"consensus {method} {name}: {err!r}")
        outs.append((np.asarray(nib.load(o).dataobj) if rc == 0 else None,
                     {k: v["sensitivity"] for k, v in json.loads(out)["raters"].items()} if rc == 0 and
                     method == "staple" else None))
    check(outs[0][0] is not None and np.array_equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1],
          f"consensus {method}: 0/255 raters give the 0/1 raters' consensus")
two = truth.astype(np.uint8)
two[5, 5, 5] = 2
p2 = save("two.nii.gz", two)
one = truth.astype(np.uint8)
one[5, 5, 5] = 1
p1 = save("two_as_one.nii.gz", one)
rc2, out2, err2 = run("score", "--ref", paths[0], "--ref", p2, pp, "--json")
rc1, out1, err1 = run("score", "--ref", paths[0], "--ref", p1, pp, "--json")
check(rc2 == 0 and rc1 == 0 and json.loads(out2)["consensus"] == json.loads(out1)["consensus"],
      f"a rater's value 2 is inside, as in the one-rater form: {err2!r}")
neg = truth.astype(np.int16)
neg[1, 2, 3] = -1
pn = save("neg.nii.gz", neg)
frac = truth.astype(np.float32)
frac[1, 2, 3] = 0.5
pf = save("frac.nii.gz", frac)
nan = truth.astype(np.float32)
nan[1, 2, 3] = np.nan
pnan = save("nan.nii.gz", nan)
for pbad, needle in ((pn, "negative"), (pf, "non-integer"), (pnan, "NaN")):
    name = os.path.basename(pbad)
    bad(["score", "--ref", paths[0], "--ref", pbad, pp], f"{name}: voxel (1,2,3) holds", f"rater {name}")
    bad(["score", "--ref", paths[0], "--ref", paths[1], "--ref", pbad, pp], needle, f"third rater {name}")
    bad(["consensus", paths[0], pbad, "-o", os.path.join(WORK, "x.nii.gz")], f"{name}: voxel (1,2,3) holds",
        f"consensus rater {name}")
    bad(["score", pbad, pp], f"{name}: voxel (1,2,3) holds", f"one-rater form, {name}")
# every bad rater gets its own line
miss = [os.path.join(WORK, f"missing{k}.nii.gz") for k in (1, 2)]
rc, out, err = run("consensus", miss[0], paths[0], miss[1], pn, pf, "-o", os.path.join(WORK, "x.nii.gz"))
lines = [l for l in err.splitlines() if l.strip()]
check(rc == 2 and len(lines) == 4 and miss[0] in lines[0] and miss[1] in lines[1] and pn in lines[2] and pf in lines[3],
      f"consensus: two missing raters, a negative and a fractional one: four lines: {rc} {lines}")
small = save("small.nii.gz", np.zeros((40, 36, 23), np.uint8))
bad(["score", "--ref", paths[0], "--ref", small, pp], "small.nii.gz", "rater geometry")
rc, out, err = run("consensus", paths[0], small, pn, small, "-o", os.path.join(WORK, "x.nii.gz"))
lines = [l for l in err.splitlines() if l.strip()]
check(rc == 2 and len(lines) == 3 and "geometry" in lines[0] and pn in lines[1] and "geometry" in lines[2],
      f"consensus: two raters of another size and a negative one: three lines: {rc} {lines}")
bad(["consensus", paths[0], "-o", os.path.join(WORK, "x.nii.gz")], "at least 2", "one rater")
# an output that cannot be written is refused before any work (it was exit 1, after it)
bad(["consensus", *paths, "-o", os.path.join(WORK, "co.txt")], "co.txt: unsupported output format",
    "consensus -o with an unknown extension")
bad(["consensus", *paths, "-o", os.path.join(WORK, "co.nii.gz"), "--probability", os.path.join(WORK, "p.txt")],
    "p.txt: unsupported output format", "consensus --probability with an unknown extension")
check(not os.path.exists(os.path.join(WORK, "co.nii.gz")), "nothing written when --probability is refused")
bad(["consensus", *paths, "-o", os.path.join(WORK, "nodir", "co.nii.gz")], "does not exist",
    "consensus -o into a folder that does not exist")
# a MetaImage DimSize MetaIO reads otherwise than the data check ("6e3": 6000 to
# MetaIO, 6 to strtoll): consensus wrote a 6x6x6000 zero-filled image, exit 0
e_mha = os.path.join(WORK, "e.mha")
with open(e_mha, "wb") as f:
    f.write(b"ObjectType = Image\nNDims = 3\nDimSize = 6 6 6e3\nElementType = MET_UCHAR\n"
            b"ElementDataFile = LOCAL\n" + bytes([1]) * 216)
rc, out, err = run("consensus", e_mha, e_mha, "-o", os.path.join(WORK, "e_out.nii.gz"))
lines = [l for l in err.splitlines() if l.strip()]
check(rc == 2 and len(lines) == 2 and all("e.mha: DimSize value 3 is '6e3'; every size must be a plain "
                                          "decimal integer" in l for l in lines)
      and not os.path.exists(os.path.join(WORK, "e_out.nii.gz")), f"consensus: DimSize 6e3: rc {rc} {err!r}")
bad(["score", "--ref", paths[0], pp, "--human-reference"], "two raters", "human reference with one rater")
rc, out, err = run("score", "--ref", paths[0], "--ref", p2, pp, "--label", "2")
check(rc == 0, "with --label, multi-label raters are accepted")

# --- where it runs: --device auto|cpu|gpu ---
rc, out, err = run("consensus", *paths, "-o", os.path.join(WORK, "dev.nii.gz"), "--json", "--device", "cpu")
eng = json.loads(out)["engine"] if rc == 0 else {}
check(eng.get("device") == "cpu" and eng.get("device_requested") == "cpu", f"consensus --device cpu: {err}")
rc, out, err = run("consensus", *paths, "-o", os.path.join(WORK, "dev.nii.gz"), "--json")
eng = json.loads(out)["engine"] if rc == 0 else {}
check(eng.get("device") == "cpu" and eng.get("device_requested") == "auto", "consensus auto on a small image: cpu")
check(np.array_equal(np.asarray(nib.load(os.path.join(WORK, "dev.nii.gz")).dataobj),
                     np.asarray(nib.load(os.path.join(WORK, "staple.nii.gz")).dataobj)), "same consensus")
for cmd in (["consensus", *paths, "-o", os.path.join(WORK, "gpu.nii.gz")], ["score", "--ref", paths[0], pp]):
    rc, out, err = run(*cmd, "--json", "--device", "gpu")
    if rc == 0:  # a machine with a usable GPU
        check(json.loads(out)["engine"]["device"] == "gpu", f"{cmd[0]} --device gpu ran on the GPU")
    else:  # none: one line saying why, exit status 2
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 2 and len(lines) == 1 and "--device gpu: no usable GPU" in lines[0],
              f"{cmd[0]} --device gpu without a GPU: rc {rc}, stderr {err!r}")
bad(["consensus", *paths, "-o", os.path.join(WORK, "x.nii.gz"), "--device", "tpu"], "--device takes", "bad device")

# an interrupted consensus leaves no <dir>/.tmp-XXXXXX of its output's write: the
# folder and the file inside are noted for removal (newest first). The signal is
# sent as the folder appears (a busy watch); writing 192^3 float votes takes long
# after.
import signal  # noqa: E402
rng = np.random.default_rng(3)
big = [save(f"big{i}.nii.gz", (rng.random((192, 192, 192)) < 0.5).astype(np.uint8)) for i in range(3)]
left = []
for sig in (signal.SIGTERM, signal.SIGINT):
    for attempt in range(3):
        out_dir = os.path.join(WORK, f"cons-{sig.name}-{attempt}")
        os.makedirs(out_dir)
        p = subprocess.Popen([SEGARENA, "consensus", *big, "--method", "majority", "-o",
                              os.path.join(out_dir, "m.nii.gz"), "--probability",
                              os.path.join(out_dir, "p.nii.gz")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             restore_signals=True)
        while p.poll() is None and not any(n.startswith(".tmp-") for n in os.listdir(out_dir)):
            pass
        p.send_signal(sig)
        p.wait(timeout=60)
        left += [f"{out_dir}/{n}" for n in os.listdir(out_dir) if n.startswith(".tmp-")]
check(not left, f"an interrupted consensus leaves no temporary folder: {left}")

finish("test_cli_raters")
