#!/usr/bin/python3
"""Hostile uploads against SegArena's intake (submissions/intake.c).

Usage: test_intake_hostile.py TEST_ARCHIVE WORKDIR

Crafts image archives with tarfile/gzip/lzma (no engine needed: every check happens
before podman or skopeo would read the file) and runs `test_archive intake` on each,
checking the refusal class and that the message is one line naming the archive.
"""
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

DRIVER = sys.argv[1]
WORK_ROOT = sys.argv[2]
os.makedirs(WORK_ROOT, exist_ok=True)
WORK = tempfile.mkdtemp(prefix="hostile-", dir=WORK_ROOT)
FAILED = []


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    """entries: (name, kind, data_or_target); kind in file, dir, sym, hard."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as tf:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if kind == "file":
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
                tf.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
                tf.addfile(ti)
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                tf.addfile(ti)
            elif kind == "hidden":
                # a legacy '\0' member named "x/": Go's archive/tar reads a folder
                # with no data, so the tar records in its "data" are members
                ti.type = tarfile.AREGTYPE
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
    return bio.getvalue()


def raw_header(name, typ, size, link=b""):
    """One ustar header block (name/link bytes; size is what its size field says)."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 0
    h[156:157] = typ
    h[157:157 + len(link)] = link
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def raw_member(name, typ, data=b"", link=b""):
    return raw_header(name, typ, len(data), link) + data + b"\0" * ((512 - len(data) % 512) % 512)


def pax_rec(key, value):
    body = b" %s=%s\n" % (key, value)
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def global_hidden(tar, record):
    """tar with an 'x' or 'L' record, then a global 'g' header, put before its first
    member: Go drops the record at the 'g', a reader that kept it would rename the
    member (e.g. hide /etc/passwd of a later layer, or write another outer file)."""
    return record + raw_member(b"pax_global_header", b"g", pax_rec(b"comment", b"x")) + tar


PROG = [("prog", "file", b"\x7fELF not really\n")]


def config(user="1000", arch="amd64", os_="linux", entrypoint=("/prog",), cmd=None, diff_ids=(), conf=None,
           top=None):
    c = {"architecture": arch, "os": os_, "config": dict(conf or {}),
         "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
    c.update(top or {})
    if user is not None:
        c["config"].setdefault("User", user)
    if entrypoint:
        c["config"]["Entrypoint"] = list(entrypoint)
    if cmd:
        c["config"].setdefault("Cmd", list(cmd))
    return json.dumps(c).encode()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def docker_archive(layers=(PROG,), images=1, outer_extra=(), item_extra=None, **cfg):
    layer_tars = [l if isinstance(l, bytes) else tar_bytes(l) for l in layers]
    diff_ids = ["sha256:" + sha(t) for t in layer_tars]
    cfgb = config(diff_ids=diff_ids, **cfg)
    entries, manifest = [], []
    for i, t in enumerate(layer_tars):
        entries.append((f"{sha(t)}/layer.tar", "file", t))
    entries.append((f"{sha(cfgb)}.json", "file", cfgb))
    for i in range(images):
        manifest.append({"Config": f"{sha(cfgb)}.json", "RepoTags": [f"evil/name{i}:latest"],
                         "Layers": [f"{sha(t)}/layer.tar" for t in layer_tars]})
        manifest[-1].update(item_extra or {})
    entries.append(("manifest.json", "file", json.dumps(manifest).encode()))
    entries.extend(outer_extra)
    return tar_bytes(entries), "sha256:" + sha(cfgb)


def oci_archive(layers=(PROG,), manifests=1, edit=None, index_extra=None, **cfg):
    layer_tars = [l if isinstance(l, bytes) else tar_bytes(l) for l in layers]
    diff_ids = ["sha256:" + sha(t) for t in layer_tars]
    cfgb = config(diff_ids=diff_ids, **cfg)
    mano = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": "sha256:" + sha(cfgb), "size": len(cfgb)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": "sha256:" + sha(t), "size": len(t)} for t in layer_tars]}
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json"}
    if edit:
        edit(mano, desc)  # may change the manifest and the index's descriptor
    man = json.dumps(mano).encode()
    desc.update({"digest": "sha256:" + sha(man), "size": len(man)})
    index = {"schemaVersion": 2, "manifests": [desc] * manifests}
    index.update(index_extra or {})
    entries = [("oci-layout", "file", b'{"imageLayoutVersion": "1.0.0"}'),
               ("index.json", "file", json.dumps(index).encode()),
               ("blobs/", "dir", None), ("blobs/sha256/", "dir", None),
               ("blobs/sha256/" + sha(man), "file", man), ("blobs/sha256/" + sha(cfgb), "file", cfgb)]
    for t in layer_tars:
        entries.append(("blobs/sha256/" + sha(t), "file", t))
    return tar_bytes(entries, fmt=tarfile.PAX_FORMAT), "sha256:" + sha(cfgb)


def run(name, data, refusal, contains=None, limits=(0, 0, 0), digest=None, fmt=None):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    scratch = tempfile.mkdtemp(prefix="scratch-", dir=WORK)
    out = subprocess.run([DRIVER, "intake", path, scratch] + [str(x) for x in limits],
                         capture_output=True, timeout=60)
    try:
        # the message is valid UTF-8 whatever bytes the archive's names hold
        r = json.loads(out.stdout.decode("utf-8"))
    except ValueError:
        FAILED.append(f"{name}: driver output {out.stdout!r} {out.stderr!r}")
        return None
    problems = []
    if r["refusal"] != refusal:
        problems.append(f"refusal {r['refusal']} (expected {refusal}): {r['error']}")
    if refusal != "none":
        if r["rc"] != -1 or "\n" in r["error"] or not r["error"].startswith(path + ": "):
            problems.append(f"bad error line {r['error']!r}")
        if contains and contains not in r["error"]:
            problems.append(f"error {r['error']!r} lacks {contains!r}")
        if os.listdir(scratch):
            problems.append(f"scratch not left empty: {os.listdir(scratch)}")
    else:
        if digest and r["digest"] != digest:
            problems.append(f"digest {r['digest']} != {digest}")
        if fmt and r["format"] != fmt:
            problems.append(f"format {r['format']} != {fmt}")
    if problems:
        FAILED.append(f"{name}: " + "; ".join(problems))
    else:
        print(f"ok {name}: {r['refusal']} {r['error']}")
    return r


def main():
    good, good_digest = docker_archive()
    # Good ones (inspect only; loading is test_intake_load.py).
    r = run("good.tar", good, "none", digest=good_digest, fmt="docker-archive")
    if r and (r["uid"] != 1000 or r["gid"] != 1000 or r["tar"] != os.path.join(WORK, "good.tar")):
        FAILED.append(f"good.tar: uid {r['uid']} gid {r.get('gid')} tar {r['tar']}")
    r = run("good.tar.gz", gzip.compress(good), "none", digest=good_digest)
    if r and not (r["tar"].startswith(WORK) and r["tar"].endswith(".tar") and os.path.isfile(r["tar"])):
        FAILED.append(f"good.tar.gz: decompressed tar {r['tar']} missing")
    run("good.tar.xz", lzma.compress(good), "none", digest=good_digest)
    oci, oci_digest = oci_archive()
    run("good-oci.tar", oci, "none", digest=oci_digest, fmt="oci-archive")
    named, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                              b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")]], user="app:app")
    run("named-user.tar", named, "none")
    # the run user is numeric uid:gid, gid never 0: USER's numeric group, else the
    # named user's passwd gid, else the uid
    for user, passwd, want in (("1000:1001", None, (1000, 1001)), ("app", b"app:x:1000:1002::/:/x\n", (1000, 1002)),
                               ("app:grp", b"app:x:1000:1002::/:/x\n", (1000, 1002)),
                               ("app:1003", b"app:x:1000:1002::/:/x\n", (1000, 1003))):
        layer = PROG + ([("etc/", "dir", None), ("etc/passwd", "file", passwd)] if passwd else [])
        r = run(f"run-user-{user.replace(':', '-')}.tar", docker_archive(layers=[layer], user=user)[0], "none")
        if r and (r["uid"], r["gid"]) != want:
            FAILED.append(f"run user {user}: uid {r['uid']} gid {r['gid']}, expected {want}")
    run("group-0.tar", docker_archive(user="1000:0")[0], "root_user", "group 0")
    run("group-plus0.tar", docker_archive(user="1000:+0")[0], "root_user", "malformed group")
    gid0, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file", b"app:x:1000:0::/:/x\n")]],
                             user="app")
    run("passwd-gid-0.tar", gid0, "root_user", "gid 0")
    # runc trims \v (and \f, U+0085, U+00A0) and lets the first match win: uid 0
    for n, lead in (("vt", b"\v"), ("ff", b"\f"), ("nbsp", b"\xc2\xa0")):
        ws, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                               lead + b"user:x:0:0::/:/x\nuser:x:1000:1000::/:/x\n")]], user="user")
        run(f"passwd-leading-{n}.tar", ws, "root_user", "starts with a character")
    bare, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                             b"user\nuser:x:1000:1000::/:/x\n")]], user="user")
    run("passwd-bare-name.tar", bare, "root_user", "not in the image's /etc/passwd")
    usual_links, _ = docker_archive(layers=[PROG + [("usr/", "dir", None), ("usr/bin/", "dir", None),
                                    ("bin", "sym", "usr/bin"), ("etc/", "dir", None),
                                    ("etc/localtime", "sym", "/usr/share/zoneinfo/UTC"),
                                    ("usr/lib/", "dir", None), ("usr/lib/libx", "sym", "../../lib/liby"),
                                    ("usr/bin/hard", "hard", "prog"), ("./", "dir", None)]])
    run("usual-links.tar", usual_links, "none")
    run("cmd-only.tar", docker_archive(entrypoint=(), cmd=("/prog", "--x"))[0], "none")

    # The hostile list.
    run("not-a-tar.tar", os.urandom(4096), "not_a_tar", "not a tar")
    run("text.tar", b"hello\n", "not_a_tar", "not a tar")
    run("truncated.tar", good[: len(good) // 2 + 100], "truncated", "truncated")
    run("truncated.tar.gz", gzip.compress(good)[:-40], "truncated", "truncated")
    run("empty.tar", b"", "empty", "empty")
    run("empty-members.tar", tar_bytes([]), "empty", "empty")
    run("no-manifest.tar", tar_bytes([("hello.txt", "file", b"hi")]), "invalid_image", "manifest.json")
    run("two-images.tar", docker_archive(images=2)[0], "several_images", "2 images")
    run("two-images-oci.tar", oci_archive(manifests=2)[0], "several_images", "2 images")
    run("arm64.tar", docker_archive(arch="arm64")[0], "wrong_architecture", "linux/arm64")
    run("windows.tar", docker_archive(os_="windows")[0], "wrong_architecture", "windows/amd64")
    run("root-no-user.tar", docker_archive(user=None)[0], "root_user", "USER 1000")
    run("root-uid0.tar", docker_archive(user="0")[0], "root_user", "uid 0")
    run("root-uid0-group.tar", docker_archive(user="0:1000")[0], "root_user", "uid 0")
    root_name, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                                  b"root:x:0:0:root:/root:/bin/sh\nadmin:x:0:0::/:/bin/sh\n")]], user="admin")
    run("root-by-name.tar", root_name, "root_user", "uid 0 in the image's /etc/passwd")
    # passwd added then replaced in a later layer: the last one counts.
    layered, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file", b"app:x:1000:1000::/:/x\n")],
                                        [("etc/passwd", "file", b"app:x:0:0::/:/x\n")]], user="app")
    run("root-by-name-later-layer.tar", layered, "root_user", "uid 0")
    # the later passwd hidden in a legacy folder's "data" (Go unpacks it): still seen
    hidden_members = tar_bytes([("etc/passwd", "file", b"app:x:0:0::/:/x\n")])
    hidden_members = hidden_members[:(len(hidden_members.rstrip(b"\0")) + 511) // 512 * 512]
    hidden, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file", b"app:x:1000:1000::/:/x\n")],
                                       [("pad/", "hidden", hidden_members)]], user="app")
    run("root-hidden-in-legacy-folder.tar", hidden, "root_user", "uid 0")
    whiteout, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file", b"app:x:1000:1000::/:/x\n")],
                                         [("etc/.wh.passwd", "file", b"")]], user="app")
    run("name-passwd-whited-out.tar", whiteout, "root_user", "no /etc/passwd")
    run("name-no-passwd.tar", docker_archive(user="app")[0], "root_user", "no /etc/passwd")
    run("no-entrypoint.tar", docker_archive(entrypoint=())[0], "no_entrypoint", "ENTRYPOINT")
    run("too-large-upload.tar", good, "too_large", "too large", limits=(1000, 0, 0))
    run("too-large-unpacked.tar.gz", gzip.compress(good), "too_large", "too large", limits=(0, 4096, 0))
    big_layer, _ = docker_archive(layers=[PROG + [("big", "file", b"\0" * 200000)]])
    run("too-large-image.tar", big_layer, "too_large", "too large", limits=(0, 0, 100000))
    # Gzip bomb: 64 MiB of zeros in ~64 KiB, against a 1 MiB cap.
    bomb = gzip.compress(good + b"\0" * (64 << 20), compresslevel=9)
    run("bomb.tar.gz", bomb, "too_large", "decompresses to more than", limits=(0, 1 << 20, 0))
    run("bomb.tar.xz", lzma.compress(good + b"\0" * (64 << 20)), "too_large", "decompresses to more than",
        limits=(0, 1 << 20, 0))
    # Outer archive: traversal, absolute names, links, devices, duplicates.
    run("outer-dotdot.tar", docker_archive(outer_extra=[("../../tmp/evil", "file", b"x")])[0], "unsafe_archive", "'..'")
    run("outer-absolute.tar", docker_archive(outer_extra=[("/tmp/evil", "file", b"x")])[0], "unsafe_archive", "absolute")
    run("outer-symlink.tar", docker_archive(outer_extra=[("link", "sym", "/etc")])[0], "unsafe_archive", "symbolic link")
    run("outer-symlink-oci.tar", tar_bytes([("blobs", "sym", "/etc"), ("index.json", "file", b"{}")]),
        "unsafe_archive", "symbolic link")
    run("outer-hardlink.tar", docker_archive(outer_extra=[("hl", "hard", "manifest.json")])[0], "unsafe_archive", "hard link")
    h1, h2 = "a" * 64, "b" * 64
    run("outer-legacy-link-dangling.tar", docker_archive(outer_extra=[(h1 + "/layer.tar", "sym", "../" + h2 + ".tar")])[0],
        "unsafe_archive", "does not name a file")
    run("outer-legacy-link-through.tar", docker_archive(outer_extra=[(h2 + ".tar", "file", b"x"),
        (h1 + "/layer.tar", "sym", "../" + h2 + ".tar"), (h1 + "/layer.tar/x", "file", b"x")])[0],
        "unsafe_archive", "goes through a symbolic link")
    run("outer-legacy-link-ok.tar", docker_archive(outer_extra=[(h2 + ".tar", "file", b"x"),
        (h1 + "/layer.tar", "sym", "../" + h2 + ".tar")])[0], "none")
    run("outer-device.tar", docker_archive(outer_extra=[("dev", "chr", None)])[0], "unsafe_archive", "tar type")
    run("outer-duplicate.tar", docker_archive(outer_extra=[("./manifest.json", "file", b"[]")])[0],
        "unsafe_archive", "twice")
    # Layers: traversal, absolute names, escaping links, writes through links.
    run("layer-dotdot.tar", docker_archive(layers=[PROG + [("../x", "file", b"x")]])[0], "unsafe_archive", "'..'")
    run("layer-absolute.tar", docker_archive(layers=[PROG + [("/etc/cron.d/x", "file", b"x")]])[0],
        "unsafe_archive", "absolute")
    run("layer-symlink-escape.tar", docker_archive(layers=[PROG + [("x", "sym", "../../../etc")]])[0],
        "unsafe_archive", "points outside")
    run("layer-symlink-escape-deep.tar", docker_archive(layers=[PROG + [("a/", "dir", None), ("a/x", "sym", "b/../../..")]])[0],
        "unsafe_archive", "points outside")
    run("layer-through-symlink.tar", docker_archive(layers=[PROG + [("l", "sym", "/etc"), ("l/passwd", "file", b"x")]])[0],
        "unsafe_archive", "goes through the symbolic link 'l'")
    run("layer-through-symlink-next-layer.tar",
        docker_archive(layers=[PROG + [("l", "sym", "/tmp")], [("l/x", "file", b"x")]])[0],
        "unsafe_archive", "goes through")
    run("layer-hardlink-escape.tar", docker_archive(layers=[PROG + [("h", "hard", "../../etc/shadow")]])[0],
        "unsafe_archive", "hard link")
    run("layer-hardlink-absolute.tar", docker_archive(layers=[PROG + [("h", "hard", "/etc/shadow")]])[0],
        "unsafe_archive", "hard link")
    run("layer-device.tar", docker_archive(layers=[PROG + [("null", "chr", None)]])[0], "unsafe_archive", "devices")
    # Names that are not UTF-8 (bytes ff fe): escaped as \xNN in the one-line
    # message, which stays valid UTF-8 (the web answers it as JSON); UTF-8 kept.
    run("outer-not-utf8.tar", docker_archive(outer_extra=[("a\udcff\udcfe/../../x", "file", b"x")])[0],
        "unsafe_archive", "'a\\xFF\\xFE/../../x'")
    run("outer-utf8.tar", docker_archive(outer_extra=[("caf\u00e9/../../x", "file", b"x")])[0],
        "unsafe_archive", "'caf\u00e9/../../x'")
    # A pax 'x' or GNU 'L' record before a global 'g' header: Go's archive/tar
    # (skopeo) drops it, so SegArena would check another member than is written.
    pw0 = tar_bytes([("etc/passwd", "file", b"app:x:0:0::/:/x\n")])
    pw1000 = PROG + [("etc/", "dir", None), ("etc/passwd", "file", b"app:x:1000:1000::/:/x\n")]
    for kind, rec in (("x", raw_member(b"PaxHeaders/p", b"x", pax_rec(b"path", b"etc/passwd.checked"))),
                      ("L", raw_member(b"././@LongLink", b"L", b"etc/passwd.checked\0"))):
        run(f"layer-{kind}-global.tar", docker_archive(layers=[pw1000, global_hidden(pw0, rec)], user="app")[0],
            "unsafe_archive", "global header")
        run(f"outer-{kind}-global.tar", global_hidden(docker_archive()[0], rec), "unsafe_archive", "global header")
        run(f"outer-{kind}-global-oci.tar", global_hidden(oci_archive()[0], rec), "unsafe_archive", "global header")
    # a lone global header (git archive, tarfile with pax_headers) is refused too
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}) as tf:
        ti = tarfile.TarInfo("prog")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"abc"))
    run("layer-lone-global.tar", docker_archive(layers=[bio.getvalue()])[0], "unsafe_archive", "global header")
    # OCI descriptors with urls: skopeo would fetch them from the server (SSRF).
    url = ["http://127.0.0.1:8765/ssrf-probe"]
    def layer_urls(m, d): m["layers"][0]["urls"] = url
    def config_urls(m, d): m["config"]["urls"] = url
    def index_urls(m, d): d["urls"] = url
    def foreign(m, d): m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    def odd_config(m, d): m["config"]["mediaType"] = "application/octet-stream"
    def no_type(m, d): del d["mediaType"]
    def data(m, d): m["layers"][0]["data"] = "eA=="
    def man_type(m, d): m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
    for name, edit, want in (("layer-urls", layer_urls, "'urls'"), ("config-urls", config_urls, "'urls'"),
                             ("index-urls", index_urls, "'urls'"), ("foreign-layer", foreign, "media type"),
                             ("config-type", odd_config, "media type"), ("index-no-type", no_type, "media type"),
                             ("layer-data", data, "'data'"), ("manifest-type", man_type, "media type")):
        run(f"oci-{name}.tar", oci_archive(edit=edit)[0], "invalid_image", want)
    def gz_type(m, d): m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    run("oci-gzip-type.tar", oci_archive(edit=gz_type)[0], "none")
    ls_plain, _ = docker_archive()
    man = json.loads(tarfile.open(fileobj=io.BytesIO(ls_plain)).extractfile("manifest.json").read())
    # docker save 25+ describes every layer in LayerSources: accepted, unless with urls
    for name, extra, want in (("layer-sources", {}, "none"), ("layer-sources-urls", {"urls": url}, "invalid_image")):
        d, _ = docker_archive()
        tf = tarfile.open(fileobj=io.BytesIO(d))
        entries = []
        for m in tf.getmembers():
            data = tf.extractfile(m).read()
            if m.name == "manifest.json":
                mm = json.loads(data)
                layer = mm[0]["Layers"][0]
                diff = "sha256:" + layer.split("/")[0]
                mm[0]["LayerSources"] = {diff: dict({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                                     "size": 1, "digest": diff}, **extra)}
                data = json.dumps(mm).encode()
            entries.append((m.name, "file", data))
        run(f"{name}.tar", tar_bytes(entries), want, "'urls'" if extra else None)
    # Go's encoding/json (skopeo, podman) matches keys to struct fields ignoring case,
    # U+017F for 's' and U+212A for 'k' included, the last match winning: a key that
    # folds to a field name must be spelled exactly, and no two keys fold alike.
    fold = "the engine would read"
    for name, conf in (("env-star", {"Env": ["A=b"], "env": ["*"]}), ("env-lower", {"env": ["*"]}),
                       ("env-upper", {"ENV": ["=x"]}), ("stopsignal", {"stopsignal": "SIGBOGUS"}),
                       ("workdir", {"workingDir": "bin"}), ("volumes", {"volumes": {"/data": {}}}),
                       ("user", {"User": "1000", "user": "0"}), ("entrypoint", {"entrypoint": ["/x"]}),
                       ("healthcheck-kelvin", {"Healthchec\u212a": {"Test": ["NONE"]}}),
                       ("healthcheck-test", {"Healthcheck": {"Test": ["NONE"], "test": ["CMD", "x"]}})):
        run(f"fold-config-{name}.tar", docker_archive(conf=conf)[0], "invalid_image", fold)
    for name, top in (("config", {"Config": {"Env": ["*"]}}), ("rootfs", {"RootFS": {"type": "layers"}}),
                      ("os-long-s", {"o\u017f": "windows"}),
                      ("history", {"history": [{"created_by": "x", "Created_By": "y"}]}),
                      ("container-config", {"container_config": {"env": ["*"]}})):
        run(f"fold-config-top-{name}.tar", docker_archive(top=top)[0], "invalid_image", fold)
    run("fold-config-oci-env.tar", oci_archive(conf={"Env": ["A=b"], "env": ["*"]})[0], "invalid_image", fold)
    run("fold-manifest-json-config.tar", docker_archive(item_extra={"config": "other.json"})[0], "invalid_image", fold)
    run("fold-manifest-json-layers.tar", docker_archive(item_extra={"layers": ["x/layer.tar"]})[0], "invalid_image",
        fold)
    def layer_key(k, v):
        def e(m, d): m["layers"][0][k] = v
        return e
    for name, edit in (("URLs", layer_key("URLs", url)), ("url-long-s", layer_key("url\u017f", url)),
                       ("Digest", layer_key("Digest", "sha256:" + "0" * 64)), ("Data", layer_key("DATA", "eA==")),
                       ("Layers", lambda m, d: m.update(Layers=[])), ("Config", lambda m, d: m.update(Config={})),
                       ("config-urls", lambda m, d: m["config"].update(uRlS=url)),
                       ("index-desc-urls", lambda m, d: d.update(Urls=url)),
                       ("platform", lambda m, d: d.update(platform={"os": "linux", "OS": "windows"})),
                       ("Manifests-in-manifest", lambda m, d: m.update(Manifests=[]))):
        run(f"fold-oci-{name}.tar", oci_archive(edit=edit)[0], "invalid_image", fold)
    run("fold-oci-index-Manifests.tar", oci_archive(index_extra={"Manifests": []})[0], "invalid_image", fold)
    run("fold-oci-index-mediatype.tar", oci_archive(index_extra={"mediatype": "x"})[0], "invalid_image", fold)
    ls_fold, _ = docker_archive()
    tf = tarfile.open(fileobj=io.BytesIO(ls_fold))
    entries = []
    for m in tf.getmembers():
        data = tf.extractfile(m).read()
        if m.name == "manifest.json":
            mm = json.loads(data)
            diff = "sha256:" + mm[0]["Layers"][0].split("/")[0]
            mm[0]["LayerSources"] = {diff: {"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 1,
                                            "digest": diff, "URLS": url}}
            data = json.dumps(mm).encode()
        entries.append((m.name, "file", data))
    run("fold-layer-sources-urls.tar", tar_bytes(entries), "invalid_image", fold)
    # maps whose keys are data are exact in Go: case variants there are fine, as are
    # keys no struct reads
    run("fold-labels-ok.tar", docker_archive(conf={"Labels": {"a": "1", "A": "2", "env": "x"},
                                                   "ExposedPorts": {"80/tcp": {}, "80/TCP": {}}},
                                             top={"moby.buildkit.buildinfo.v1": "e30=", "x-Env": 1})[0], "none")
    def ann(m, d):
        m["annotations"] = {"org.opencontainers.image.title": "a", "ORG.opencontainers.image.title": "b"}
        m["layers"][0]["annotations"] = {"urls": "x", "URLs": "y"}
    run("fold-annotations-ok.tar", oci_archive(edit=ann)[0], "none")
    # Symlinks with long names: their paths are kept, so they are capped in bytes
    # (64 MiB) as well as in number; 17 000 links of 4 000-byte names exceed it.
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i in range(17000):
            ti = tarfile.TarInfo(f"{i:08d}" + "x" * 3990)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "prog"
            tf.addfile(ti)
    run("symlink-bytes.tar.gz", gzip.compress(docker_archive(layers=[bio.getvalue()])[0], compresslevel=1),
        "unsafe_archive", "too many symbolic links")
    # Config fields podman refuses at run time (an engine_error, the platform's fault):
    # refused at intake. Env without '=' would copy SegArena's own environment in.
    for name, conf, want in (("stopsignal", {"StopSignal": "SIGBOGUS"}, "STOPSIGNAL"),
                             ("stopsignal-0", {"StopSignal": "0"}, "STOPSIGNAL"),
                             ("env-empty-name", {"Env": ["=x"]}, "ENV entry '=x'"),
                             ("env-star", {"Env": ["*"]}, "ENV entry '*'"),
                             ("env-pass-through", {"Env": ["SEGARENA_SECRET"]}, "ENV entry"),
                             ("env-space", {"Env": [" PATH=/x"]}, "ENV entry"),
                             ("env-nul", {"Env": ["A=b\u0000c"]}, "not valid JSON"),  # jansson refuses a NUL
                             ("env-not-list", {"Env": "A=b"}, "Env is not a list"),
                             ("workdir-relative", {"WorkingDir": "app"}, "WORKDIR 'app'"),
                             ("cmd-not-text", {"Cmd": ["/prog", 1]}, "Cmd holds")):
        run(f"config-{name}.tar", docker_archive(conf=conf)[0], "invalid_image", want)
    for name, conf in (("stopsignal-ok", {"StopSignal": "SIGTERM"}), ("stopsignal-lower", {"StopSignal": "sigint"}),
                       ("stopsignal-number", {"StopSignal": "15"}), ("workdir-ok", {"WorkingDir": "/app"}),
                       ("workdir-empty", {"WorkingDir": ""}),
                       ("env-ok", {"Env": ["PATH=/usr/bin:/bin", "EMPTY=", "A=b=c"]})):
        run(f"config-{name}.tar", docker_archive(conf=conf)[0], "none")
    # a passwd line longer than Go's bufio.Scanner reads (64 KiB), even for a numeric USER
    long_pw, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                                b"app:x:1000:1000:" + b"g" * 70000 + b":/:/x\n")]])
    run("passwd-long-line.tar", long_pw, "invalid_image", "/etc/passwd has a line of")
    ok_pw, _ = docker_archive(layers=[PROG + [("etc/", "dir", None), ("etc/passwd", "file",
                              b"app:x:1000:1000:" + b"g" * 65000 + b":/:/x\n")]])
    run("passwd-long-line-ok.tar", ok_pw, "none")
    # /etc/passwd and /etc/group are read by the engine for a numeric USER too,
    # through links: whatever they resolve to must be a regular file of short lines
    long_line = b"app:x:1000:1000:" + b"g" * 70000 + b":/:/x\n"
    etc = [("etc/", "dir", None), ("usr/", "dir", None)]
    for name, layers, want in (
            ("pw-symlink-long", [PROG + etc + [("usr/pw", "file", long_line), ("etc/passwd", "sym", "../usr/pw")]],
             "/etc/passwd has a line of"),
            ("pw-abs-symlink-long", [PROG + etc + [("usr/pw", "file", long_line), ("etc/passwd", "sym", "/usr/pw")]],
             "/etc/passwd has a line of"),
            ("pw-hardlink-long", [PROG + etc + [("usr/pw", "file", long_line), ("etc/passwd", "hard", "usr/pw")]],
             "/etc/passwd has a line of"),
            ("pw-chain-long", [PROG + etc + [("usr/pw", "file", long_line), ("usr/a", "sym", "pw"),
                                             ("etc/passwd", "sym", "/usr/a")]], "/etc/passwd has a line of"),
            ("pw-symlink-later-layer", [PROG + etc + [("usr/pw", "file", b"a:x:1:1::/:/x\n"),
                                                      ("etc/passwd", "sym", "/usr/pw")],
                                        [("usr/pw", "file", long_line)]], "/etc/passwd has a line of"),
            ("pw-dir", [PROG + etc + [("etc/passwd/", "dir", None)]], "/etc/passwd is a folder"),
            ("group-dir", [PROG + etc + [("etc/group/", "dir", None)]], "/etc/group is a folder"),
            ("group-long", [PROG + etc + [("etc/group", "file", b"g:x:5:" + b"u," * 40000 + b"u\n")]],
             "/etc/group has a line of"),
            ("group-symlink-dir", [PROG + etc + [("etc/group", "sym", "/usr")]], "/etc/group is a folder"),
            ("pw-dangling", [PROG + etc + [("etc/passwd", "sym", "/usr/nothing")]], "not in the image"),
            ("pw-huge", [PROG + etc + [("etc/passwd", "file", b"a:x:1:1::/:/x\n" * ((17 << 20) // 14 + 1))]],
             "larger than 16 MiB")):
        run(f"etc-{name}.tar", docker_archive(layers=layers)[0], "invalid_image", want)
    for name, layers in (
            ("pw-symlink-ok", [PROG + etc + [("usr/pw", "file", b"a:x:1:1::/:/x\n"), ("etc/passwd", "sym", "../usr/pw")]]),
            ("pw-hardlink-ok", [PROG + etc + [("usr/pw", "file", b"a:x:1:1::/:/x\n"), ("etc/passwd", "hard", "usr/pw")]]),
            ("pw-hardlink-then-replaced", [PROG + etc + [("usr/pw", "file", b"a:x:1:1::/:/x\n"),
                                                         ("etc/passwd", "hard", "usr/pw")],
                                           [("usr/pw", "file", long_line)]]),
            ("pw-big-short-lines", [PROG + etc + [("etc/passwd", "file", b"a:x:1:1::/:/x\n" * 100000)]]),
            ("pw-long-line-whited-out", [PROG + etc + [("etc/passwd", "file", long_line)],
                                         [("etc/.wh.passwd", "file", b"")]])):
        run(f"etc-{name}.tar", docker_archive(layers=layers)[0], "none")
    # An image VOLUME: a writable, uncapped volume on the host's disk.
    run("volume.tar", docker_archive(conf={"Volumes": {"/data": {}}})[0], "invalid_image", "VOLUME '/data'")
    run("volume-oci.tar", oci_archive(conf={"Volumes": {"/data": {}}})[0], "invalid_image", "VOLUME '/data'")
    run("volume-empty.tar", docker_archive(conf={"Volumes": {}})[0], "none")
    run("volume-null.tar", docker_archive(conf={"Volumes": None})[0], "none")
    # A layer changed after the config was written.
    d, _ = docker_archive()
    run("layer-mismatch.tar", d.replace(b"not really", b"NOT REALLY"), "invalid_image", "diff_id")

    if FAILED:
        for f in FAILED:
            print("FAIL", f)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    print("test_intake_hostile: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
