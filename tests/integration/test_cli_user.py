#!/usr/bin/env python3
"""test_cli_user.py: `segarena user` end to end on a scratch data directory:
add (roles, teams, password from stdin), the exit statuses of bad input (unknown
team, duplicate user, bad role, short password), token (alone on stdout, stored
only as a hash), tokens, revoke-token (by token, by id, from stdin), password,
list, --help.

usage: test_cli_user.py SEGARENA WORK_DIR
"""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys

SEGARENA, WORK = sys.argv[1], sys.argv[2]
DATA = os.path.join(WORK, "data")
failures = []


def run(*args, stdin=None):
    p = subprocess.run([SEGARENA, *args, "--data-dir", DATA], input=stdin, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what, *details):
    if not cond:
        failures.append(what)
        print("FAILED:", what, *details, file=sys.stderr)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)

# help documents the roles
p = subprocess.run([SEGARENA, "user", "--help"], capture_output=True, text=True)
check(p.returncode == 0, "help exits 0")
for word in ("organiser", "challenger", "show_case_details", "show_logs", "--password-stdin",
             "Bearer"):
    check(word in p.stdout, "help mentions " + word)
p = subprocess.run([SEGARENA, "--help"], capture_output=True, text=True)
check("user" in p.stdout, "segarena --help lists user")

rc, out, err = run("team", "add", "lab-a")
check(rc == 0, "team add lab-a", err)
rc, out, err = run("team", "add", "lab-b")
check(rc == 0, "team add lab-b", err)

# add: organiser with a password, challenger in two teams, token-only challenger
rc, out, err = run("user", "add", "olga", "--role", "organiser", "--password-stdin",
                   stdin="olga-secret-1\n")
check(rc == 0 and out == "user olga added (role organiser)\n", "add olga", rc, out, err)
check("olga-secret" not in out + err, "the password is not echoed")
rc, out, err = run("user", "add", "ann", "--role", "challenger", "--team", "lab-a",
                   "--team", "lab-b")
check(rc == 0 and out == "user ann added (role challenger)\n", "add ann", rc, out, err)

# bad input: exit 2, nothing added
rc, out, err = run("user", "add", "bob", "--role", "challenger", "--team", "no-such-team")
check(rc == 2 and "no-such-team" in err, "unknown team is exit 2", rc, err)
rc, out, err = run("user", "add", "ann", "--role", "challenger")
check(rc == 2 and "exists" in err, "duplicate user is exit 2", rc, err)
rc, out, err = run("user", "add", "carl", "--role", "admin")
check(rc == 2, "bad role is exit 2", rc, err)
rc, out, err = run("user", "add", "carl", "--role", "challenger", "--password-stdin",
                   stdin="short\n")
check(rc == 2 and "too short" in err, "short password is exit 2", rc, err)
rc, out, err = run("user", "add", "carl", "--role", "challenger", "--password-stdin", stdin="")
check(rc == 2, "no password on stdin is exit 2", rc, err)
rc, out, err = run("user", "add", "bad name", "--role", "challenger")
check(rc == 2, "bad user name is exit 2", rc, err)
# names: at most 63 characters everywhere (a 64-character one was an internal error,
# exit 1, from the store); 63 characters work
for cmd, what in ((("user", "add"), "user name"), (("team", "add"), "team name"),
                  (("challenge", "create"), "slug")):
    extra = ("--role", "challenger") if cmd[0] == "user" else ()
    rc, out, err = run(*cmd, "n" * 64, *extra)
    check(rc == 2 and err.count("\n") == 1 and f"{what} '{'n' * 64}' is longer than 63 characters" in err,
          f"{' '.join(cmd)} with 64 characters is exit 2 with one line", rc, err)
    rc, out, err = run(*cmd, "n" * 63, *extra)
    check(rc == 0, f"{' '.join(cmd)} with 63 characters", rc, err)
rc, out, err = run("user", "frobnicate", "x")
check(rc == 2, "unknown subcommand is exit 2", rc, err)
rc, out, err = run("user", "token", "nobody")
check(rc == 2 and "nobody" in err, "token for an unknown user is exit 2", rc, err)

# list
rc, out, err = run("user", "list")
check(rc == 0, "list", err)
lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
check(set(lines) == {"ann", "olga", "n" * 63}, "list has exactly ann, olga and nnn...", out)
if "ann" in lines:
    check(lines["ann"][1:] == ["challenger", "no", "0", "lab-a,lab-b"], "ann's list line",
          lines["ann"])
if "olga" in lines:
    check(lines["olga"][1:] == ["organiser", "yes", "0", "-"], "olga's list line", lines["olga"])

# token: only the token on stdout; the database keeps its hash only
rc, out, err = run("user", "token", "ann", "--label", "laptop")
check(rc == 0, "token", err)
token = out.strip()
check(out.count("\n") == 1 and token.startswith("sa_") and len(token) == 46,
      "stdout is the token alone", repr(out))
check("once" in err and token not in err, "stderr says it is shown once", err)
db = sqlite3.connect(os.path.join(DATA, "segarena.db"))
stored = [r[0] for r in db.execute("SELECT token_hash FROM api_tokens")]
check(stored == [hashlib.sha256(token.encode()).hexdigest()], "only the hash is stored",
      stored)
passwords = [r[0] for r in db.execute("SELECT password_hash FROM users WHERE name = 'olga'")]
check(passwords and passwords[0].startswith("$argon2id$"), "password stored as argon2id")
db.close()

rc, out2, err = run("user", "token", "ann")
second = out2.strip()
check(rc == 0 and second != token, "a second token differs")
rc, out, err = run("user", "list")
check(any(l.split()[:4] == ["ann", "challenger", "no", "2"] for l in out.splitlines()),
      "list counts live tokens", out)
rc, out, err = run("user", "tokens", "ann")
rows = out.splitlines()[1:]
check(rc == 0 and len(rows) == 2 and "laptop" in rows[0] and rows[0].endswith("live"),
      "tokens lists them", out)
first_id = rows[0].split()[0] if rows else "0"

# revoke: by token, by id, from stdin; unknown is exit 2
rc, out, err = run("user", "revoke-token", token)
check(rc == 0, "revoke by token", err)
rc, out, err = run("user", "revoke-token", token)
check(rc == 2, "revoking again is exit 2", rc, err)
rc, out, err = run("user", "tokens", "ann")
check(out.splitlines()[1].endswith("revoked"), "revoked shows", out)
rc, out, err = run("user", "revoke-token", "-", stdin=second + "\n")
check(rc == 0, "revoke from stdin", err)
rc, out, err = run("user", "revoke-token", first_id)
check(rc == 2, "revoked id again is exit 2", rc, err)
rc, out, err = run("user", "revoke-token", "999")
check(rc == 2, "unknown id is exit 2", rc, err)
rc, out, err = run("user", "token", "olga")
rc, out, err = run("user", "tokens", "olga")
olga_id = out.splitlines()[1].split()[0]
rc, out, err = run("user", "revoke-token", olga_id)
check(rc == 0 and olga_id in out, "revoke by id", rc, out, err)

# password: set and change
rc, out, err = run("user", "password", "ann", "--password-stdin", stdin="ann-secret-22\n")
check(rc == 0, "password set", err)
rc, out, err = run("user", "password", "ann")
check(rc == 2, "password without --password-stdin is exit 2", rc)
rc, out, err = run("user", "password", "nobody", "--password-stdin", stdin="whatever-1\n")
check(rc == 2, "password of an unknown user is exit 2", rc)
rc, out, err = run("user", "list")
check(any(l.split()[:3] == ["ann", "challenger", "yes"] for l in out.splitlines()),
      "ann has a password now", out)

if failures:
    print(f"test_cli_user: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
shutil.rmtree(WORK, ignore_errors=True)
print("test_cli_user: all passed")
