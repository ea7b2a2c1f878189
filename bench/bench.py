#!/usr/bin/env python3
"""bench.py -- measures migc side by side with the floors and its peers.

Run through bench/run.sh, which installs and builds first.  This script:

1. starts a throwaway PostgreSQL (initdb/pg_ctl; as the postgres OS user
   when run as root) on 127.0.0.1, default settings except that
   checkpoints and autovacuum are kept out of the measurements
   (max_wal_size 16GB, checkpoint_timeout 1h, autovacuum off; a CHECKPOINT
   before every timed apply), and max_locks_per_transaction 1024: creating
   10,000 tables in one transaction (the floors, --grouped) takes more
   locks than the default table holds;
2. for N = 100, 1,000, 10,000 writes the same N migrations in every tool's
   format (bench/peers/gen.py) and builds the embedded service that
   carries them (bench/programs/bench_service.c + migc compile);
3. times, with hyperfine, in interleaved rounds, each command against its
   own database:
   - apply from empty: the floors (psql -1 -f of all the SQL; one PQexec of
     it), migc (one transaction per migration), migc --grouped, and the
     peers (bench/peers/command.sh);
   - the no-op start with all N applied (whole process: start, connect,
     check, exit) against the floor (a C program: connect, SELECT 1), and
     status;
4. counts statements per migration and per no-op start on the server
   (log_statement = all) and migc's round trips (strace of its sends);
5. reports sizes (size(1) of the runtime, the example service over the SQL
   it carries) and peak memory (/usr/bin/time -v);
6. runs bench/compile.sh for the compiler;
7. writes everything, with the goals checked, to bench/results/benchmarks.md.
"""
import argparse
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# An apply slower than SLOW_APPLY seconds, or slower than SLOW_SECONDS and
# than SLOW_FACTOR times the psql floor, is timed once, not in every
# round: one run ranks it.
SLOW_APPLY = 20.0
SLOW_SECONDS = 2.0
SLOW_FACTOR = 5.0
# Apply rounds of a peer: their distance to migc is far larger than the
# spread of their runs, so fewer rounds than the floors and migc get.
PEER_ROUNDS = 3
SLOW_REPEAT = 2.0
# Seconds: a no-op start or status slower than this is stopped and
# reported as such (alembic's `current` is quadratic in the history).
STOP_AFTER = 20

# The peer tools, by the names bench/peers/command.sh takes.
PEERS = ["dbmate", "node-pg-migrate", "postgrator", "sqitch", "alembic"]

MIGC_GOALS = """\
- apply 1,000: migc at most 1.10x the psql -1 floor, and faster than every peer
- grouped apply (all pending in one transaction): at most 1.02x the floor
- no-op start: at most 1.2x the C SELECT 1 floor; 10,000 applied no more than
  5% slower than 10
- runtime: under 48 KiB of text without libpq"""


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, capture=False, env=None, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=False,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None,
                       text=True, env=env, **kw)
    if check and r.returncode != 0:
        if capture:
            sys.stderr.write(r.stdout or "")
            sys.stderr.write(r.stderr or "")
        raise SystemExit(f"bench: command failed ({r.returncode}): {cmd}")
    return r


# ---- the PostgreSQL cluster ------------------------------------------------

def pg_bindir():
    r = run("pg_config --bindir", check=False, capture=True)
    if r.returncode == 0 and os.path.exists(os.path.join(r.stdout.strip(), "initdb")):
        return r.stdout.strip()
    base = "/usr/lib/postgresql"
    versions = sorted((d for d in os.listdir(base) if d.isdigit()), key=int) if os.path.isdir(base) else []
    for v in reversed(versions):
        d = os.path.join(base, v, "bin")
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise SystemExit("bench: no PostgreSQL server found (apt-get install postgresql)")


class Cluster:
    """A throwaway cluster in a fresh temporary directory."""

    def __init__(self, port):
        self.bindir = pg_bindir()
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="migc-bench-pg-")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def pg(self, tool, *args, **kw):
        return run(self.as_user + [os.path.join(self.bindir, tool), *args], **kw)

    def start(self):
        self.pg("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--no-sync", capture=True)
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c max_wal_size=16GB -c checkpoint_timeout=1h "
                "-c autovacuum=off -c max_connections=100 "
                "-c max_locks_per_transaction=1024")
        self.pg("pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts,
                "-w", "start", capture=True)
        self.psql = os.path.join(self.bindir, "psql")

    def stop(self):
        self.pg("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop",
                check=False, capture=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, db, *statements):
        args = [self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url(db)]
        for s in statements:
            args += ["-c", s]
        return run(args, capture=True).stdout.strip()

    def reset_command(self, db):
        """Shell command: an empty database db, WAL checkpointed."""
        return (f"{shlex.quote(self.psql)} -X -q -v ON_ERROR_STOP=1 "
                f"{shlex.quote(self.url('postgres'))} "
                f"-c 'DROP DATABASE IF EXISTS {db} WITH (FORCE)' "
                f"-c 'CREATE DATABASE {db}' -c CHECKPOINT")

    def version(self):
        return self.sql("postgres", "SHOW server_version")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- hyperfine ---------------------------------------------------------------

def hyperfine(commands, runs, warmup=0, prepare=None, out_json=None,
              exit_codes=None):
    """Times commands (name -> shell command); returns name -> [seconds].
    With a dict as exit_codes, failing commands do not stop hyperfine and
    their exit statuses are stored there (name -> [status])."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    args = ["hyperfine", "--style", "none", "--runs", str(runs),
            "--warmup", str(warmup), "--export-json", path]
    if prepare:
        args += ["--prepare", prepare]
    if exit_codes is not None:
        args += ["--ignore-failure"]
    for name, cmd in commands.items():
        args += ["--command-name", name, cmd]
    r = run(args, check=False, capture=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit("bench: hyperfine failed: " + " | ".join(commands))
    with open(path) as f:
        data = json.load(f)
    os.unlink(path)
    if out_json:
        with open(out_json, "a") as f:
            f.write(json.dumps(data) + "\n")
    if exit_codes is not None:
        exit_codes.update({res["command"]: res["exit_codes"] for res in data["results"]})
    return {res["command"]: res["times"] for res in data["results"]}


# ---- the benchmark ---------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.repo = args.repo
        self.build = args.build
        self.work = tempfile.mkdtemp(prefix="migc-bench-")
        self.out = args.out
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        self.raw = os.path.splitext(self.out)[0] + ".hyperfine.jsonl"
        if os.path.exists(self.raw):
            os.unlink(self.raw)
        self.migc = os.path.join(self.build, "tools", "migc", "migc")
        self.include = os.path.join(self.repo, "include")
        self.results = {}      # (section, N, tool) -> [seconds]
        self.notes = []
        self.facts = {}
        self.started = time.time()

    # -- preparation
    def compile_programs(self):
        pq_inc = run("pg_config --includedir", capture=True).stdout.strip()
        self.pq_inc = pq_inc
        progs = os.path.join(self.repo, "bench", "programs")
        for prog in ("select1", "exec_file"):
            run(["gcc", "-std=c11", "-O2", "-I", pq_inc, "-o",
                 os.path.join(self.work, prog), os.path.join(progs, prog + ".c"), "-lpq"])

    def generate(self, n):
        d = os.path.join(self.work, f"n{n}")
        run([sys.executable, os.path.join(self.repo, "bench", "peers", "gen.py"),
             "--n", str(n), "--out", d], capture=True)
        catalog = os.path.join(d, "catalog.c")
        run([self.migc, "compile", os.path.join(d, "golang"), "-o", catalog,
             "--name", "bench_catalog"], capture=True)
        run(["gcc", "-std=c11", "-O2", "-I", self.include, "-I", self.pq_inc,
             "-o", os.path.join(d, "service"),
             os.path.join(self.repo, "bench", "programs", "bench_service.c"),
             catalog, os.path.join(self.build, "runtime", "libmigc.a"), "-lpq"])
        return d

    def db(self, tool, n):
        return "b_" + re.sub(r"[^a-z0-9]+", "_", tool.lower()).strip("_") + f"_{n}"

    def peer_command(self, tool, action, d, db):
        return run([os.path.join(self.repo, "bench", "peers", "command.sh"),
                    tool, action, d, self.pg.url(db)], capture=True).stdout.strip()

    def apply_commands(self, n, d):
        q = shlex.quote
        allsql = os.path.join(d, "all.sql")
        cmds = {
            "psql -1 -f (floor)": lambda db: f"{q(self.pg.psql)} -X -q -v ON_ERROR_STOP=1 -1 -f {q(allsql)} {q(self.pg.url(db))} >/dev/null",
            "one PQexec (floor)": lambda db: f"DATABASE_URL={q(self.pg.url(db))} {q(os.path.join(self.work, 'exec_file'))} {q(allsql)}",
            "migc": lambda db: f"DATABASE_URL={q(self.pg.url(db))} {q(os.path.join(d, 'service'))}",
            "migc --grouped": lambda db: f"DATABASE_URL={q(self.pg.url(db))} {q(os.path.join(d, 'service'))} --grouped",
        }
        for tool in self.peers:
            cmds[tool] = (lambda t: lambda db: self.peer_command(t, "apply", d, db))(tool)
        return cmds

    # -- apply
    def bench_apply(self, n, d, rounds):
        cmds = self.apply_commands(n, d)
        names = list(cmds)
        if rounds > 1:
            # an untimed apply first: the first large apply of a new N ran
            # at half speed, whichever command it was
            db = self.db("warm-up", n)
            run(self.pg.reset_command(db), capture=True)
            t0 = time.time()
            run(cmds[names[0]](db), capture=True)
            log(f"apply N={n} warm-up ({names[0]}, untimed): {time.time() - t0:.2f} s")
            self.pg.sql("postgres", f"DROP DATABASE {db} WITH (FORCE)")
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                if (n, name) in self.skipped or (name in self.peers and r >= PEER_ROUNDS):
                    continue
                done = self.results.get(("apply", n, name))
                floor = self.results.get(("apply", n, names[0]))
                if done and (done[0] > SLOW_APPLY or
                             (floor and done[0] > SLOW_SECONDS and
                              done[0] > SLOW_FACTOR * min(floor))):
                    continue  # one run is enough to rank a command this slow
                db = self.db(name, n)
                t0 = time.time()
                times = hyperfine({name: cmds[name](db)}, runs=1,
                                  prepare=self.pg.reset_command(db), out_json=self.raw)
                self.results.setdefault(("apply", n, name), []).extend(times[name])
                log(f"apply N={n} round {r + 1}/{rounds}: {name}: {times[name][0]:.2f} s "
                    f"({time.time() - t0:.0f} s with the reset)")
        # every tool really applied all N: count the tables
        for name in names:
            if (n, name) in self.skipped:
                continue
            count = int(self.pg.sql(self.db(name, n),
                                    "SELECT count(*) FROM pg_catalog.pg_tables "
                                    "WHERE schemaname = 'public' AND tablename ~ '^t_[0-9]+$'"))
            if count != n:
                raise SystemExit(f"bench: {name} left {count} tables, not {n}")

    # -- no-op and status
    def noop_commands(self, n, d, action):
        q = shlex.quote
        cmds = {}
        if action == "noop":
            cmds["SELECT 1 (floor)"] = f"DATABASE_URL={q(self.pg.url(self.db('migc', n)))} {q(os.path.join(self.work, 'select1'))}"
            cmds["migc"] = f"DATABASE_URL={q(self.pg.url(self.db('migc', n)))} {q(os.path.join(d, 'service'))}"
        else:
            cmds["migc"] = f"DATABASE_URL={q(self.pg.url(self.db('migc', n)))} {q(os.path.join(d, 'service'))} --migrate-status >/dev/null"
        for tool in self.peers:
            if (n, tool) in self.skipped:
                continue
            c = self.peer_command(tool, action, d, self.db(tool, n))
            cmds[tool] = c + " >/dev/null 2>&1"
        return cmds

    def bench_repeat(self, section, n, cmds, rounds, runs, warmup):
        # a first run of each sorts out the slow ones, which are timed once,
        # and stops the very slow ones
        codes = {}
        first = hyperfine({k: f"timeout {STOP_AFTER} sh -c {shlex.quote(v)}"
                           for k, v in cmds.items()},
                          runs=1, out_json=self.raw, exit_codes=codes)
        for name, t in list(first.items()):
            if codes[name][0] == 124:
                self.notes.append(f"{name}'s {section} at N = {n:,} was stopped "
                                  f"after {STOP_AFTER} s")
                log(f"{section} N={n}: {name} stopped after {STOP_AFTER} s")
                del first[name]
            elif codes[name][0] != 0:
                raise SystemExit(f"bench: {section} N={n}: {name} failed "
                                 f"(exit status {codes[name][0]}): {cmds[name]}")
        for name, t in first.items():
            if t[0] > SLOW_REPEAT:
                self.results[(section, n, name)] = t
                log(f"{section} N={n}: {name} {t[0]:.2f} s, timed once")
        cmds = {k: v for k, v in cmds.items() if k in first and first[k][0] <= SLOW_REPEAT}
        for r in range(rounds):
            names = list(cmds)
            k = r % len(names)
            order = {name: cmds[name] for name in names[k:] + names[:k]}
            times = hyperfine(order, runs=runs, warmup=warmup, out_json=self.raw)
            for name, t in times.items():
                self.results.setdefault((section, n, name), []).extend(t)
            log(f"{section} N={n} round {r + 1}/{rounds}: " + ", ".join(
                f"{name} {statistics.median(t) * 1000:.1f} ms" for name, t in times.items()))

    # -- statements and round trips
    def count_statements(self, n, d):
        """Statements the server ran per migration (apply) and per no-op
        start, for every tool, from log_statement = all."""
        cmds_apply = self.apply_commands(n, d)
        counts = {}
        for name in cmds_apply:
            if "floor" in name or (n, name) in self.skipped:
                continue
            db = self.db(name, n) + "_log"
            run(self.pg.reset_command(db), capture=True)
            self.pg.sql("postgres", f"ALTER DATABASE {db} SET log_statement = 'all'")
            before = os.path.getsize(self.pg.logfile)
            run(cmds_apply[name](db), capture=True)
            mid = os.path.getsize(self.pg.logfile)
            if name == "migc --grouped":
                noop = None
            elif name == "migc":
                run(f"DATABASE_URL={shlex.quote(self.pg.url(db))} {shlex.quote(os.path.join(d, 'service'))}", capture=True)
            else:
                run(self.peer_command(name, "noop", d, db), capture=True)
            end = os.path.getsize(self.pg.logfile)
            with open(self.pg.logfile, "rb") as f:
                f.seek(before)
                text = f.read(end - before).decode("utf-8", "replace")
            apply_part, noop_part = text[:mid - before], text[mid - before:]
            pat = re.compile(r"LOG:  (?:statement|execute [^:]*): ")
            a = len(pat.findall(apply_part))
            counts[name] = (a / n, None if name == "migc --grouped" else len(pat.findall(noop_part)))
            run(f"{shlex.quote(self.pg.psql)} -X -q {shlex.quote(self.pg.url('postgres'))} -c 'DROP DATABASE {db} WITH (FORCE)'", capture=True)
        self.statements = counts

    def count_round_trips(self, n, d):
        """migc's sends to the server (strace): apply N and a no-op start."""
        if not shutil.which("strace"):
            self.notes.append("strace is missing: round trips not counted")
            return
        db = self.db("migc", n) + "_rt"
        run(self.pg.reset_command(db), capture=True)
        svc = os.path.join(d, "service")
        env = dict(os.environ, DATABASE_URL=self.pg.url(db))
        out = {}
        for what in ("apply", "noop"):
            trace = os.path.join(self.work, f"strace.{what}")
            run(["strace", "-f", "-qq", "-e", "trace=sendto,send,write,writev", "-o", trace, svc],
                env=env, capture=True)
            with open(trace) as f:
                sends = sum(1 for line in f if re.search(r"\b(sendto|send)\(", line))
            out[what] = sends
        run(f"{shlex.quote(self.pg.psql)} -X -q {shlex.quote(self.pg.url('postgres'))} -c 'DROP DATABASE {db} WITH (FORCE)'", capture=True)
        self.round_trips = (n, out)

    # -- sizes and memory
    def sizes(self):
        lib = os.path.join(self.build, "runtime", "libmigc.a")
        r = run(["size", "-t", lib], capture=True).stdout.strip().splitlines()
        total = r[-1].split()
        self.facts["runtime_text"] = int(total[0])
        self.facts["runtime_data"] = int(total[1]) + int(total[2])
        self.facts["runtime_objects"] = "\n".join(r)
        svc = os.path.join(self.build, "examples", "docservice")
        if os.path.exists(svc):
            st = run(["size", svc], capture=True).stdout.strip().splitlines()[-1].split()
            self.facts["docservice_file"] = os.path.getsize(svc)
            self.facts["docservice_text"] = int(st[0])
            self.facts["docservice_data"] = int(st[1])
            mig = os.path.join(self.repo, "migrations")
            self.facts["docservice_sql"] = sum(os.path.getsize(os.path.join(mig, f))
                                               for f in os.listdir(mig) if f.endswith(".sql"))
            self.facts["docservice_migrations"] = sum(1 for f in os.listdir(mig) if f.endswith(".up.sql"))

    def peak_rss(self, n, d):
        """Peak RSS (KiB) of the service: apply N from empty, no-op, status."""
        db = self.db("migc", n) + "_rss"
        run(self.pg.reset_command(db), capture=True)
        svc = os.path.join(d, "service")
        env = dict(os.environ, DATABASE_URL=self.pg.url(db))
        rss = {}
        for what, extra in (("apply", []), ("noop", []), ("status", ["--migrate-status"])):
            r = run(["/usr/bin/time", "-f", "%M", svc, *extra], env=env, capture=True)
            rss[what] = int(r.stderr.strip().splitlines()[-1])
        sel = run(["/usr/bin/time", "-f", "%M", os.path.join(self.work, "select1")], env=env, capture=True)
        rss["select1"] = int(sel.stderr.strip().splitlines()[-1])
        run(f"{shlex.quote(self.pg.psql)} -X -q {shlex.quote(self.pg.url('postgres'))} -c 'DROP DATABASE {db} WITH (FORCE)'", capture=True)
        return rss

    # -- the whole run
    def main(self):
        a = self.args
        self.peers = PEERS
        self.peer_versions = a.peer_versions
        self.skipped = set()
        ns = a.ns
        log(f"work folder {self.work}")
        self.compile_programs()
        self.pg = Cluster(free_port())
        self.pg.start()
        try:
            self.run_all(ns)
        finally:
            self.pg.stop()
        if not a.skip_compiler:
            self.compiler()
        self.facts["wall"] = time.time() - self.started
        self.write()
        shutil.rmtree(self.work, ignore_errors=True)

    def run_all(self, ns):
        a = self.args
        self.facts["server"] = self.pg.version()
        rounds = {10: 1, 100: 5, 1000: 5, 10000: 1}
        if a.quick:
            rounds = {n: 1 for n in ns}
        dirs = {}
        # the flatness reference: migc's no-op start with 10 applied
        d10 = self.generate(10)
        run(self.pg.reset_command(self.db("migc", 10)), capture=True)
        run(f"DATABASE_URL={shlex.quote(self.pg.url(self.db('migc', 10)))} {shlex.quote(os.path.join(d10, 'service'))}", capture=True)
        for n in ns:
            log(f"== N = {n}")
            d = dirs[n] = self.generate(n)
            # the files just written and the service just built are still
            # dirty in the page cache: flushed now, they would otherwise
            # slow down the WAL flushes of the first command timed
            run("sync", capture=True)
            self.bench_apply(n, d, rounds.get(n, 1))
            # apply times at 1,000 decide which peers are run at 10,000
            if n == 1000:
                for tool in self.peers:
                    t = statistics.median(self.results[("apply", 1000, tool)])
                    if t * 10 > a.max_apply_10k:
                        self.skipped.add((10000, tool))
                        self.notes.append(
                            f"{tool} was not run at N = 10,000: it took {t:.1f} s at 1,000, "
                            f"so about {t * 10 / 60:.0f} minutes or more at 10,000 "
                            f"(the limit per command is {a.max_apply_10k / 60:.0f} minutes)")
            noop = self.noop_commands(n, d, "noop")
            # short rounds, many of them: the order rotates often, so a
            # drift of the machine's speed falls on every command alike.
            # The floor and migc, whose ratio is a goal, alternate in
            # blocks of 3 runs, on their own: not next to a peer's heavier
            # process
            pair = {k: v for k, v in noop.items() if k in ("SELECT 1 (floor)", "migc")}
            self.bench_repeat("noop", n, pair, rounds=20 if not a.quick else 1, runs=3, warmup=1)
            peers = {k: v for k, v in noop.items() if k not in pair}
            runs = 5 if n < 10000 else 3
            self.bench_repeat("noop", n, peers, rounds=6 if not a.quick else 1, runs=runs, warmup=2)
            status = self.noop_commands(n, d, "status")
            self.bench_repeat("status", n, status, rounds=2 if not a.quick else 1, runs=2 * runs, warmup=1)
            if n == 100:
                self.count_statements(n, d)
                self.count_round_trips(n, d)
            # free the disk: the peers' databases of this N are done
            for tool in self.peers + ["psql -1 -f (floor)", "one PQexec (floor)", "migc --grouped"]:
                db = self.db(tool, n)
                self.pg.sql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        # flatness: migc's no-op start with 10 and with the largest N applied,
        # in the same hyperfine runs
        q = shlex.quote
        flat = {"SELECT 1 (floor)": f"DATABASE_URL={q(self.pg.url(self.db('migc', 10)))} {q(os.path.join(self.work, 'select1'))}"}
        for n in [10] + ns:
            flat[f"migc, {n:,} applied"] = f"DATABASE_URL={q(self.pg.url(self.db('migc', n)))} {q(os.path.join(dirs.get(n, d10), 'service'))}"
        self.bench_repeat("flat", 0, flat, rounds=6 if not a.quick else 1, runs=10, warmup=3)
        big = max(ns)
        self.rss = (big, self.peak_rss(big, dirs[big]))
        self.sizes()
        self.facts["service_size"] = {n: os.path.getsize(os.path.join(dirs[n], "service")) for n in ns}
        self.facts["sql_size"] = {n: sum(os.path.getsize(os.path.join(dirs[n], "golang", f))
                                         for f in os.listdir(os.path.join(dirs[n], "golang"))) for n in ns}

    def compiler(self):
        out = os.path.join(os.path.dirname(self.out), "compile.md")
        env = dict(os.environ, BENCH_OUT=out, RUNS="5", GCC_RUNS="2")
        log("compiler: bench/compile.sh")
        r = run([os.path.join(self.repo, "bench", "compile.sh"), self.migc], env=env,
                check=False, capture=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr[-4000:])
            self.notes.append("bench/compile.sh failed; see its output")
            self.compile_md = None
            return
        with open(out) as f:
            self.compile_md = f.read()

    # -- the report
    def med(self, section, n, tool):
        t = self.results.get((section, n, tool))
        return statistics.median(t) if t else None

    def write(self):
        f = self.facts
        lines = []
        w = lines.append
        cpu = ""
        try:
            with open("/proc/cpuinfo") as c:
                m = re.search(r"model name\s*:\s*(.*)", c.read())
                cpu = m.group(1) if m else ""
        except OSError:
            pass
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        git = run(["git", "-C", self.repo, "rev-parse", "--short", "HEAD"], capture=True, check=False).stdout.strip()
        gcc = run("gcc --version", capture=True).stdout.splitlines()[0]
        node = run("node --version", capture=True, check=False).stdout.strip()
        w("# Benchmark results\n")
        w(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores "
          f"({cpu}), {mem:.0f} GiB; {platform.platform()}; migc at {git}; "
          f"PostgreSQL {f['server']} (127.0.0.1, checkpoints and autovacuum kept out, "
          f"fsync on); {run('hyperfine --version', capture=True).stdout.strip()}; {gcc}; node {node}.\n")
        w("Peers: " + "; ".join(self.peer_versions.strip().splitlines()) + ".\n")
        w(f"Wall time of the benchmark: {f['wall'] / 60:.1f} minutes.\n")
        w("Each migration i is `CREATE TABLE t_i (id bigint GENERATED ALWAYS AS IDENTITY "
          "PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())` "
          "and `CREATE INDEX t_i_name_idx ON t_i (name)`, its down `DROP TABLE t_i`, the same "
          "SQL in every tool's format (bench/peers/gen.py).\n")

        w("## Apply all from empty\n")
        w("One transaction per migration with the history recorded, except the floors "
          "(one transaction, nothing recorded) and `migc --grouped` (all in one transaction, "
          "history recorded). Every command runs against its own freshly created database, "
          "after a CHECKPOINT; rounds are interleaved (the order rotates).\n")
        ns = sorted({k[1] for k in self.results if k[0] == "apply"})
        w("| tool | N | median | runs | ratio to psql -1 |")
        w("| --- | --- | --- | --- | --- |")
        for n in ns:
            floor = self.med("apply", n, "psql -1 -f (floor)")
            names = [k[2] for k in self.results if k[0] == "apply" and k[1] == n]
            for name in sorted(set(names), key=names.index):
                m = self.med("apply", n, name)
                runs = len(self.results[("apply", n, name)])
                w(f"| {name} | {n:,} | {fmt_s(m)} | {runs} | {m / floor:.3f}x |")
        w("")

        w("## No-op start (all N applied): the whole process\n")
        w("`SELECT 1` and migc alternate on their own: 20 hyperfine invocations "
          "of both, 3 runs each (warmup 1), the order swapped each time. The "
          "peers run in 6 invocations of their own.\n")
        w("| tool | N | median | runs | ratio to SELECT 1 |")
        w("| --- | --- | --- | --- | --- |")
        for n in sorted({k[1] for k in self.results if k[0] == "noop"}):
            floor = self.med("noop", n, "SELECT 1 (floor)")
            names = [k[2] for k in self.results if k[0] == "noop" and k[1] == n]
            for name in sorted(set(names), key=names.index):
                m = self.med("noop", n, name)
                w(f"| {name} | {n:,} | {fmt_s(m)} | {len(self.results[('noop', n, name)])} | {m / floor:.3f}x |")
        w("")
        w("Flatness, in the same hyperfine runs:\n")
        w("| command | median | runs | ratio to SELECT 1 |")
        w("| --- | --- | --- | --- |")
        floor = self.med("flat", 0, "SELECT 1 (floor)")
        for name in [k[2] for k in self.results if k[0] == "flat"]:
            m = self.med("flat", 0, name)
            w(f"| {name} | {fmt_s(m)} | {len(self.results[('flat', 0, name)])} | {m / floor:.3f}x |")
        w("")

        w("## Status\n")
        w("| tool | N | median | runs |")
        w("| --- | --- | --- | --- |")
        for n in sorted({k[1] for k in self.results if k[0] == "status"}):
            names = [k[2] for k in self.results if k[0] == "status" and k[1] == n]
            for name in sorted(set(names), key=names.index):
                w(f"| {name} | {n:,} | {fmt_s(self.med('status', n, name))} | {len(self.results[('status', n, name)])} |")
        w("")

        if getattr(self, "statements", None):
            w("## Statements on the server (log_statement = all), N = 100\n")
            w("| tool | statements per migration | statements per no-op start |")
            w("| --- | --- | --- |")
            for name, (per, noop) in self.statements.items():
                w(f"| {name} | {per:.2f} | {'-' if noop is None else noop} |")
            w("")
        if getattr(self, "round_trips", None):
            n, rt = self.round_trips
            w(f"migc's round trips (strace: sends to the server), N = {n}: apply from empty "
              f"{rt['apply']} sends ({rt['apply'] / n:.2f} per migration), no-op start {rt['noop']}.\n")

        w("## Size and memory\n")
        w("| figure | value |")
        w("| --- | --- |")
        w(f"| runtime text (size -t libmigc.a, without libpq) | {f['runtime_text']:,} bytes ({f['runtime_text'] / 1024:.1f} KiB) |")
        w(f"| runtime data + bss | {f['runtime_data']:,} bytes |")
        if "docservice_file" in f:
            w(f"| example service (docservice): file / text / data | {f['docservice_file']:,} / {f['docservice_text']:,} / {f['docservice_data']:,} bytes |")
            w(f"| SQL it carries ({f['docservice_migrations']} migrations, up and down) | {f['docservice_sql']:,} bytes |")
        for n, size in f["service_size"].items():
            w(f"| bench service with {n:,} migrations: file size / SQL carried | {size:,} / {f['sql_size'][n]:,} bytes |")
        big, rss = self.rss
        w(f"| peak RSS: SELECT 1 floor | {rss['select1'] / 1024:.1f} MiB |")
        w(f"| peak RSS: service applying {big:,} from empty | {rss['apply'] / 1024:.1f} MiB |")
        w(f"| peak RSS: service no-op start, {big:,} applied | {rss['noop'] / 1024:.1f} MiB |")
        w(f"| peak RSS: service --migrate-status, {big:,} applied | {rss['status'] / 1024:.1f} MiB |")
        w("")
        w("```\n" + f["runtime_objects"] + "\n```\n")

        w("## Goals\n")
        w(MIGC_GOALS + "\n")
        for line in self.goals():
            w(f"- {line}")
        w("")
        if self.notes:
            w("## Notes\n")
            for n in self.notes:
                w(f"- {n}")
            w("")
        if getattr(self, "compile_md", None):
            w("## The compiler (bench/compile.sh)\n")
            w(re.sub(r"^#", "##", self.compile_md, flags=re.M))
        with open(self.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        log(f"wrote {self.out}")
        print("\n".join(lines))

    def goals(self):
        out = []
        def verdict(ok):
            return "met" if ok else "NOT met"
        floor = self.med("apply", 1000, "psql -1 -f (floor)")
        if floor:
            m = self.med("apply", 1000, "migc")
            g = self.med("apply", 1000, "migc --grouped")
            peers = {t: self.med("apply", 1000, t) for t in self.peers if self.med("apply", 1000, t)}
            fastest = min(peers.items(), key=lambda kv: kv[1]) if peers else None
            out.append(f"apply 1,000: migc {m / floor:.3f}x the floor (goal 1.10x): {verdict(m / floor <= 1.10)}")
            if fastest:
                out.append(f"apply 1,000: fastest peer {fastest[0]} {fastest[1] / floor:.3f}x: migc faster: {verdict(m < fastest[1])}")
            out.append(f"grouped apply 1,000: {g / floor:.3f}x the floor (goal 1.02x): {verdict(g / floor <= 1.02)}")
        for n in sorted({k[1] for k in self.results if k[0] == "noop"}):
            f0 = self.med("noop", n, "SELECT 1 (floor)")
            m = self.med("noop", n, "migc")
            out.append(f"no-op start, {n:,} applied: {m / f0:.3f}x SELECT 1 (goal 1.2x): {verdict(m / f0 <= 1.2)}")
        flat = {k[2]: self.med("flat", 0, k[2]) for k in self.results if k[0] == "flat"}
        small = flat.get("migc, 10 applied")
        bigname = [k for k in flat if k.startswith("migc,")][-1]
        if small:
            out.append(f"flatness: {bigname} / 10 applied = {flat[bigname] / small:.3f} (goal 1.05): "
                       f"{verdict(flat[bigname] / small <= 1.05)}")
        t = self.facts["runtime_text"]
        out.append(f"runtime text {t / 1024:.1f} KiB (goal < 48 KiB): {verdict(t < 48 * 1024)}")
        return out


def fmt_s(sec):
    if sec is None:
        return "-"
    if sec >= 1:
        return f"{sec:.2f} s"
    return f"{sec * 1000:.1f} ms"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--build", required=True)
    p.add_argument("--peer-versions", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--max-apply-10k", type=float, default=300.0,
                   help="seconds: a peer whose 1,000 apply times 10 exceeds this is not run at 10,000")
    a = p.parse_args()
    a.out = a.out or os.environ.get("BENCH_OUT") or os.path.join(a.repo, "bench", "results", "benchmarks.md")
    env_ns = os.environ.get("BENCH_NS")
    a.ns = [int(x) for x in env_ns.split()] if env_ns else ([10, 100] if a.quick else [100, 1000, 10000])
    a.skip_compiler = a.quick or os.environ.get("BENCH_SKIP_COMPILER") == "1"
    Bench(a).main()


if __name__ == "__main__":
    main()
