#!/usr/bin/env python3
"""Deterministic generator of the same N migrations for migc and its peers.

usage:
  gen.py --n N --out DIR

Migration i (1..N) is, for every tool:
  up:   CREATE TABLE t_<i> (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
        CREATE INDEX t_<i>_name_idx ON t_<i> (name);
  down: DROP TABLE t_<i>;

DIR receives (each part is removed and written anew on every run, nothing
else in DIR is touched):
  golang/           golang-migrate format, 000001_t_1.up.sql / .down.sql
                    (what migc reads)
  all.sql           every up script, concatenated in order (psql -1 -f floor)
  dbmate/           20200101000001_t_1.sql with -- migrate:up / -- migrate:down
  node-pg-migrate/  000001_t_1.sql with -- Up Migration / -- Down Migration
  postgrator/       000001.do.t_1.sql / 000001.undo.t_1.sql
  sqitch/           sqitch.conf (engine pg), sqitch.plan, deploy/ revert/
                    verify/ scripts in the shape of sqitch's own templates
  alembic/          alembic.ini, env.py (URL from $DATABASE_URL, one
                    transaction per migration), versions/ with N revisions
                    chained by down_revision

The output depends only on N: no clock, no randomness.
"""
import argparse
import os
import shutil
import sys

PARTS = ["golang", "dbmate", "node-pg-migrate", "postgrator", "sqitch",
         "alembic", "all.sql"]

# Fixed identity and timestamp for the sqitch plan, so that the plan is the
# same bytes on every run.
SQITCH_PLANNER = "migc bench <bench@migc.invalid>"
SQITCH_PLANNED_AT = "2020-01-01T00:00:00Z"


def up_sql(i):
    return ("CREATE TABLE t_%d (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n"
            "CREATE INDEX t_%d_name_idx ON t_%d (name);\n" % (i, i, i))


def down_sql(i):
    return "DROP TABLE t_%d;\n" % i


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def gen_golang(d, n):
    for i in range(1, n + 1):
        base = os.path.join(d, "%06d_t_%d" % (i, i))
        write(base + ".up.sql", up_sql(i))
        write(base + ".down.sql", down_sql(i))


def gen_all_sql(path, n):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i in range(1, n + 1):
            f.write(up_sql(i))


def gen_dbmate(d, n):
    # A 14-digit version: 20200101000000 + i keeps name order == number order
    # for any N below 10^6.
    for i in range(1, n + 1):
        write(os.path.join(d, "%d_t_%d.sql" % (20200101000000 + i, i)),
              "-- migrate:up\n" + up_sql(i) + "\n-- migrate:down\n" + down_sql(i))


def gen_node_pg_migrate(d, n):
    # node-pg-migrate orders by the numeric prefix of the file name.
    for i in range(1, n + 1):
        write(os.path.join(d, "%06d_t_%d.sql" % (i, i)),
              "-- Up Migration\n" + up_sql(i) + "\n-- Down Migration\n" + down_sql(i))


def gen_postgrator(d, n):
    for i in range(1, n + 1):
        write(os.path.join(d, "%06d.do.t_%d.sql" % (i, i)), up_sql(i))
        write(os.path.join(d, "%06d.undo.t_%d.sql" % (i, i)), down_sql(i))


def gen_sqitch(d, n):
    for sub in ("deploy", "revert", "verify"):
        os.mkdir(os.path.join(d, sub))
    write(os.path.join(d, "sqitch.conf"),
          "[core]\n"
          "\tengine = pg\n"
          "\tplan_file = sqitch.plan\n"
          "\ttop_dir = .\n")
    plan = ["%syntax-version=1.0.0", "%project=migc_bench", ""]
    for i in range(1, n + 1):
        name = "t_%d" % i
        plan.append("%s %s %s # create table %s"
                    % (name, SQITCH_PLANNED_AT, SQITCH_PLANNER, name))
        # sqitch's pg templates wrap each script in BEGIN/COMMIT: sqitch runs
        # the script with psql and does not add a transaction of its own.
        write(os.path.join(d, "deploy", name + ".sql"),
              "-- Deploy migc_bench:%s to pg\n\nBEGIN;\n\n%s\nCOMMIT;\n"
              % (name, up_sql(i)))
        write(os.path.join(d, "revert", name + ".sql"),
              "-- Revert migc_bench:%s from pg\n\nBEGIN;\n\n%s\nCOMMIT;\n"
              % (name, down_sql(i)))
        write(os.path.join(d, "verify", name + ".sql"),
              "-- Verify migc_bench:%s on pg\n\nBEGIN;\n\n"
              "SELECT id, name, created_at FROM t_%d WHERE false;\n\nROLLBACK;\n"
              % (name, i))
    write(os.path.join(d, "sqitch.plan"), "\n".join(plan) + "\n")


ALEMBIC_INI = """\
# Alembic project of the migc peer benchmark (written by bench/peers/gen.py).
# The database URL comes from $DATABASE_URL (see env.py).
[alembic]
script_location = %(here)s

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

ALEMBIC_ENV = '''\
"""Alembic environment of the migc peer benchmark: online mode only.

The URL comes from $DATABASE_URL; a postgres:// URL is accepted and handed
to SQLAlchemy as postgresql+psycopg2://.  Each revision runs in its own
transaction (transaction_per_migration=True), like the other tools.
"""
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def run_migrations_online():
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None,
                          transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline mode is not used by the benchmark")
run_migrations_online()
'''

ALEMBIC_REVISION = '''\
"""create table t_%(i)d

Revision ID: %(rev)s
Revises: %(down_doc)s
"""
from alembic import op

revision = %(rev)r
down_revision = %(down)r
branch_labels = None
depends_on = None

UP = %(up)r

DOWN = %(downsql)r


def upgrade():
    op.execute(UP)


def downgrade():
    op.execute(DOWN)
'''


def gen_alembic(d, n):
    versions = os.path.join(d, "versions")
    os.mkdir(versions)
    write(os.path.join(d, "alembic.ini"), ALEMBIC_INI)
    write(os.path.join(d, "env.py"), ALEMBIC_ENV)
    for i in range(1, n + 1):
        rev = "%06d" % i
        down = "%06d" % (i - 1) if i > 1 else None
        write(os.path.join(versions, "%s_t_%d.py" % (rev, i)),
              ALEMBIC_REVISION % {
                  "i": i, "rev": rev, "down": down,
                  "down_doc": down if down else "",
                  "up": up_sql(i), "downsql": down_sql(i)})


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, required=True, help="number of migrations")
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args(argv)
    if not 1 <= a.n <= 999999:
        p.error("--n must be between 1 and 999999")
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    for part in PARTS:
        path = os.path.join(out, part)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
    gens = {
        "golang": gen_golang, "dbmate": gen_dbmate,
        "node-pg-migrate": gen_node_pg_migrate, "postgrator": gen_postgrator,
        "sqitch": gen_sqitch, "alembic": gen_alembic,
    }
    for part, fn in gens.items():
        d = os.path.join(out, part)
        os.mkdir(d)
        fn(d, a.n)
    gen_all_sql(os.path.join(out, "all.sql"), a.n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
