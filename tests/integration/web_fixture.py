"""web_fixture.py: what the web tests (test_web_api.py, test_web_pages.py) share:
a fresh data directory with a small demo MS dataset and a challenge whose texts
carry an injection string, phase specs, finished runs written into the store as a
worker would leave them (no containers needed), and a `segarena serve` started on
a free port and stopped with SIGTERM."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

from e2e_checks import check, finish, sh

EVIL = "<script>alert(1)</script>' OR 1=1 --"


class WebFixture:
    def __init__(self, segarena, work, name):
        self.segarena, self.work, self.name = segarena, work, name
        self.data = os.path.join(work, "data")
        self.uploads = os.path.join(self.data, "uploads")
        self.port = 0
        self.port_file = os.path.join(work, "port")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)

    def seg(self, *args, stdin=None):
        """Runs a segarena command on the data directory; a failure ends the test."""
        r = subprocess.run([self.segarena, *args, "--data-dir", self.data], input=stdin,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAILED: segarena {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
            finish(self.name)
        return r.stdout

    def demo_challenge(self):
        """A 2-case MS demo dataset (48x48x32) and challenge "demo" with hostile texts."""
        bids = os.path.join(self.work, "ms-bids")
        r = sh(self.segarena, "dataset", "make-demo", "--kind", "ms", "--cases", "2", "--size",
               "48x48x32", "--seed", "3", "--out", bids)
        check(r.returncode == 0, f"make-demo: {r.stderr}")
        self.seg("dataset", "import", bids, "--name", "ms-demo")
        self.seg("challenge", "create", "demo", "--title", "Demo " + EVIL, "--description",
                 "d " + EVIL)

    def spec(self, name, **over):
        """A phase spec file on the demo dataset (mean_rank on dice and hd95)."""
        s = {"schema": "segarena-phase/1", "name": name, "title": f"{name} " + EVIL,
             "dataset": "ms-demo", "input_roles": ["flair", "t1", "t2", "dp", "t1gd"],
             "metrics": ["dice", "hd95"],
             "ranking": {"rule": "mean_rank",
                         "metrics": [{"name": "dice", "direction": "higher"},
                                     {"name": "hd95", "direction": "lower"}]},
             "bootstrap": {"resamples": 50, "seed": 1}}
        s.update(over)
        path = os.path.join(self.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(s, f)
        return path

    def db(self):
        return sqlite3.connect(os.path.join(self.data, "segarena.db"))

    @staticmethod
    def fixture_run(db, team_id, phase_id, spec_json, digest, status="done", c1_log=None):
        """A submission with one run of cases c1, c2, both timed out, as a worker
        leaves it (status "done", each case with the phase dataset's checksum, which
        with the run's spec gives the scoring hash the board compares), or queued
        and not started. Returns (sub, run)."""
        now = time.time()
        checksum = db.execute("SELECT d.checksum FROM phases p JOIN datasets d ON d.id = p.dataset_id "
                              "WHERE p.id = ?", (phase_id,)).fetchone()[0]
        cur = db.execute(
            "INSERT INTO submissions (phase_id, team_id, status, image_digest, image_name, "
            "upload_sha256, upload_bytes, created) VALUES (?, ?, 'ready', ?, 'fixture', '', 0, ?)",
            (phase_id, team_id, digest, now))
        sub = cur.lastrowid
        done = status == "done"
        cur = db.execute(
            "INSERT INTO runs (submission_id, phase_id, kind, status, config_json, created, started, "
            "finished) VALUES (?, ?, 'evaluate', ?, ?, ?, ?, ?)",
            (sub, phase_id, status, spec_json, now, now if done else 0, now if done else 0))
        run = cur.lastrowid
        for case in ("c1", "c2"):
            db.execute("INSERT INTO jobs (run_id, case_id, status, attempts, finished) "
                       "VALUES (?, ?, ?, ?, ?)", (run, case, "done" if done else "queued",
                                                 1 if done else 0, now if done else 0))
            if not done:
                continue
            db.execute(
                "INSERT INTO case_results (run_id, case_id, status, error_class, container_seconds, "
                "platform_seconds, peak_memory_bytes, exit_code, detail, log_path, metric_version, "
                "dataset_checksum, image_digest, attempts, finished) VALUES (?, ?, 'failed', "
                "'timeout', 10, 0.5, -1, -1, 'killed at the wall time', ?, 1, ?, ?, 1, ?)",
                (run, case, c1_log if case == "c1" else None, checksum, digest, now))
        return sub, run

    def start_server(self, workers, log_name, http_threads=2, extra=()):
        """`segarena serve --port 0` (with the extra arguments) in the background;
        waits for its port. Returns (process, log file); the banner line waits on
        process.stdout."""
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        log = open(os.path.join(self.work, log_name), "w")
        proc = subprocess.Popen([self.segarena, "serve", "--data-dir", self.data, "--port", "0",
                                 "--port-file", self.port_file, "--workers", str(workers),
                                 "--http-threads", str(http_threads), *extra],
                                stdout=subprocess.PIPE, stderr=log, text=True)
        for _ in range(200):
            if os.path.exists(self.port_file) or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.port_file):
            print("FAILED: the server did not start")
            proc.kill()
            finish(self.name)
        self.port = int(open(self.port_file).read())
        return proc, log

    @staticmethod
    def stop_server(proc, log):
        """SIGTERM, then the exit status (-9 when it had to be killed)."""
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        log.close()
        return rc

    def upload_files(self):
        return sorted(os.listdir(self.uploads)) if os.path.isdir(self.uploads) else []
