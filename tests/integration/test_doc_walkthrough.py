#!/usr/bin/env python3
"""test_doc_walkthrough.py: the organiser walkthroughs of README.md and docs/evaluator.md
run as written, so that their dataset, challenge, phase and team names cannot drift
from examples/phases/ms-test.json again.

Each document's first ```sh block that holds `dataset make-demo` is read; its segarena
lines from `dataset make-demo` on are run in order in a scratch directory (the default
data directory ./segarena-data, `examples/` linked there so that the spec path
resolves), except those that need podman or a submission (`try`, `submit`, `worker`,
`run`): each of those must name, in `--phase` and `--team`, a phase and a team the run
lines created. Every line run must exit 0. The one liberty taken: `make-demo --cases N`
is run with one case (the count changes no name, and each case costs seconds).

usage: test_doc_walkthrough.py SEGARENA SOURCE_DIR WORK_DIR
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

SEGARENA, SOURCE, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
NOT_RUN = {"try", "submit", "worker", "run"}
failures = []


def check(cond, what, *details):
    if not cond:
        failures.append(what)
        print("FAILED:", what, *details, file=sys.stderr)


def walkthrough(doc, prefix):
    """The argument lists (without the program) of the block's segarena lines from
    `dataset make-demo` on."""
    text = open(os.path.join(SOURCE, doc), encoding="utf-8").read()
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        if "dataset make-demo" not in block:
            continue
        lines = []
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == prefix:
                lines.append(words[1:])
        start = next(i for i, w in enumerate(lines) if w[:2] == ["dataset", "make-demo"])
        return lines[start:]
    return []


def option(words, name):
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == name]


def run_walkthrough(doc, prefix):
    lines = walkthrough(doc, prefix)
    check(len(lines) >= 6, doc + ": a walkthrough block from dataset make-demo on", lines)
    if not lines:
        return
    for verb in ("import", "create", "add", "results"):
        check(any(verb in w for w in lines), doc + ": the walkthrough has a line with " + verb)
    work = os.path.join(WORK, os.path.basename(doc).replace(".", "_"))
    os.makedirs(work)
    os.symlink(os.path.join(SOURCE, "examples"), os.path.join(work, "examples"))
    not_run = []
    for words in lines:
        if words[0] in NOT_RUN:
            not_run.append(words)
            continue
        if words[:2] == ["dataset", "make-demo"] and "--cases" in words:
            i = words.index("--cases") + 1
            words = words[:i] + ["1"] + words[i + 1:]
        p = subprocess.run([SEGARENA, *words], cwd=work, capture_output=True, text=True,
                           timeout=240)
        check(p.returncode == 0, doc + ": segarena " + " ".join(words), p.returncode,
              p.stdout[-500:], p.stderr[-500:])
        if p.returncode != 0:
            return
    check(os.path.isdir(os.path.join(work, "segarena-data")),
          doc + ": the walkthrough's data went to ./segarena-data")
    phases = subprocess.run([SEGARENA, "phase", "list"], cwd=work, capture_output=True,
                            text=True, timeout=60).stdout.split()
    teams = subprocess.run([SEGARENA, "team", "list"], cwd=work, capture_output=True,
                           text=True, timeout=60).stdout.split()
    check(len(not_run) >= 2, doc + ": lines not run (submit, worker) were found", not_run)
    for words in not_run:
        for phase in option(words, "--phase"):
            check(phase in phases, doc + ": " + " ".join(words) + ": phase " + phase +
                  " was created", phases)
        for team in option(words, "--team"):
            check(team in teams, doc + ": " + " ".join(words) + ": team " + team +
                  " was added", teams)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
run_walkthrough("README.md", "build/segarena")
run_walkthrough("docs/evaluator.md", "segarena")

if failures:
    print("%d check(s) failed" % len(failures), file=sys.stderr)
    sys.exit(1)
print("the README and docs/evaluator.md walkthroughs run")
