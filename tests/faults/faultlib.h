/*
 * faultlib.h -- what the fault-injection tests share.
 *
 * A migrator is a forked child that connects, reports its server process id
 * through a pipe, runs migc_up and reports the outcome (its result code and
 * migc_format_error's text) through the same pipe before it exits with the
 * result code.  The parent watches the child's backend in pg_stat_activity
 * from another connection and injects the fault (kill -9 of the child,
 * pg_terminate_backend, an immediate server restart).
 *
 * A database is compared with a reference through two texts:
 * fl_fingerprint() lists, one sorted line each, the relations, columns,
 * indexes (with their validity), constraints, views and functions of the
 * public schema and, for every table, its row count and an order-independent
 * hash of its rows -- everything but the history table and its head
 * (sequence, function); fl_history() lists
 * the history rows (id, state, progress, hashes, error) and the newest row's
 * applied_count.
 */
#ifndef MIGC_FAULTLIB_H
#define MIGC_FAULTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <migc/migc.h>

/* Monotonic seconds. */
double fl_now(void);
void fl_sleep_ms(double ms);

/* Connects (client_min_messages = warning); prints and exits on failure. */
PGconn *fl_connect(const char *conninfo);

/* The single value of a query with up to one text parameter, into buf.
 * Returns false (after printing the error) when the query failed or did
 * not return exactly one row. */
bool fl_value(PGconn *conn, const char *sql, const char *param, char *buf,
              size_t size);
/* The value is "t". */
bool fl_true(PGconn *conn, const char *sql, const char *param);
/* The value as a number, -1 on failure. */
long long fl_int(PGconn *conn, const char *sql, const char *param);
/* Runs a command; false (after printing) on failure. */
bool fl_exec(PGconn *conn, const char *sql);

/* Schema and data of the public schema, without the history table;
 * malloc'd, NULL on failure (printed). */
char *fl_fingerprint(PGconn *conn);
/* The history table's rows ("" when it does not exist); malloc'd, NULL on
 * failure (printed). */
char *fl_history(PGconn *conn);
/* Prints the first lines in which got and want differ. */
void fl_show_diff(const char *what, const char *got, const char *want);

/* Drops every INVALID index of the database (DROP INDEX CONCURRENTLY, as
 * docs/OPERATIONS.md says); their names go to names (comma-separated).
 * Returns how many, or -1 on failure. */
int fl_drop_invalid_indexes(PGconn *conn, char *names, size_t size);

/* DROP DATABASE ... WITH (FORCE). */
void fl_drop_database(PGconn *admin, const char *name);

/* What a migrator child reports. */
typedef struct fl_outcome {
    int rc;                   /* migc_up's result; -1: none reported */
    char sqlstate[6];
    int64_t version;
    uint32_t statement_index;
    char message[1024];
    char text[4096];          /* migc_format_error */
} fl_outcome;

typedef struct fl_child {
    pid_t pid;
    int backend;              /* server process id of its connection */
    int fd;                   /* read end of its pipe; -1 when closed */
} fl_child;

/* Forks a migrator that runs migc_up(catalog) up to target (0: all) with
 * flags, on a connection to conninfo.  Returns once it has connected and
 * reported its backend; exits the test on failure. */
void fl_spawn(fl_child *c, const char *conninfo, const migc_catalog *catalog,
              int64_t target, unsigned flags);
/* Waits for the child to exit and reads its outcome.  Returns its wait
 * status. */
int fl_finish(fl_child *c, fl_outcome *out);
/* SIGKILLs the child and reaps it.  Returns false when it had already
 * exited on its own (*status receives its wait status). */
bool fl_kill(fl_child *c, int *status);

/* Polls `sql` (its $1 is the backend's pid as text) every 10 ms until it
 * returns true.  Returns the seconds waited, or -1 on timeout or when child
 * (> 0) exited first. */
double fl_wait_for(PGconn *admin, int backend, pid_t child, const char *sql,
                   double timeout_s);
/* Waits until the backend is gone from pg_stat_activity; seconds, or -1. */
double fl_wait_backend_gone(PGconn *admin, int backend, double timeout_s);

/* Advisory locks held in the database called dbname. */
long long fl_advisory_locks(PGconn *admin, const char *dbname);

#endif
