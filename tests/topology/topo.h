/*
 * topo.h -- support for the topology tests: real server processes besides
 * the fixture's cluster (a PgBouncer, a streaming standby), a herd of
 * processes that call migc_up together, and a guard that cleans up after
 * the test even when it is killed.
 *
 * The guard is a detached process (double fork, setsid) started first
 * thing in main().  The test tells it, over a pipe, which processes it
 * started, which data directories hold a server and which temporary
 * directories it made.  When the pipe closes -- the test ended, normally
 * or by any signal, SIGKILL from a ctest timeout included -- the guard
 * kills those processes, stops those servers (pg_ctl stop -m immediate)
 * and removes those directories.  A normal exit cleans up first
 * (topo_cleanup via atexit), so the guard then finds nothing left.
 *
 * As root, server programs run as the "postgres" OS user, like the
 * fixture's (tests/support/pgfixture.c).  PGFIX_KEEP=1 keeps the
 * temporary directories (the servers are stopped all the same).
 */
#ifndef MIGC_TESTS_TOPO_H
#define MIGC_TESTS_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

/* ---- the guard and cleanup --------------------------------------------- */

/* Starts the guard; installs handlers so that SIGINT, SIGTERM, SIGHUP and
 * SIGALRM end the test at once (the guard then cleans up), and ignores
 * SIGPIPE.  Call first in main(), before pgfix_start(). */
void topo_guard_start(void);

/* Hands the fixture's cluster (pgfix_socket_dir()) to the guard too, so a
 * killed test does not leave it running. */
void topo_guard_fixture(void);

/* Closes the guard's pipe in a forked child that does not exec. */
void topo_child_after_fork(void);

/* ---- processes and directories ----------------------------------------- */

/* Makes a fresh directory /tmp/<prefix>.XXXXXX, owned by the server user
 * (as root), removed at exit and by the guard.  Returns a malloc'd path;
 * exits on failure. */
char *topo_make_temp_dir(const char *prefix);

/* Removes a directory tree made by topo_make_temp_dir now. */
void topo_remove_dir(const char *dir);

/* Forks and execs argv[0] (absolute path) as the server user (when root),
 * with stdin from /dev/null and stdout+stderr appended to log_path, in
 * directory cwd.  The process is registered with the guard when
 * `guarded`.  Returns its pid; exits on fork failure. */
pid_t topo_spawn(const char *const argv[], const char *log_path,
                 const char *cwd, bool guarded);

/* Waits for a child (up to timeout_s; then SIGKILLs it).  Returns its exit
 * status, 128+signal, or -1.  Tells the guard to forget it. */
int topo_wait(pid_t pid, double timeout_s);

/* Stops a guarded child: SIGTERM, then SIGKILL after grace_s. */
int topo_stop(pid_t pid, double grace_s);

/* Registers / unregisters a data directory whose server the guard must
 * stop with pg_ctl (bindir is pgfix_bindir()). */
void topo_guard_pgdata(const char *datadir);
void topo_guard_forget_pgdata(const char *datadir);

/* Runs pg_ctl -D datadir -m mode -w stop as the server user; returns its
 * status. */
int topo_pg_ctl_stop(const char *datadir, const char *mode,
                     const char *log_path);

/* An unused TCP port on 127.0.0.1 (bound, read, released). */
int topo_free_port(void);

/* Prints the last bytes of a log file to stderr. */
void topo_print_tail(const char *path, const char *label);

/* ---- time --------------------------------------------------------------- */

double topo_now_s(void);
void topo_sleep_ms(long ms);

/* ---- queries (report their failures on stderr) -------------------------- */

/* Connects; NULL (reported) on failure. */
PGconn *topo_connect(const char *conninfo);
/* Runs a command; true on success. */
bool topo_exec(PGconn *conn, const char *sql);
/* The one value of a one-row query as a number, or -1 (reported). */
long long topo_query_int(PGconn *conn, const char *sql);
/* The one value of a one-row query, malloc'd, or NULL (reported). */
char *topo_query_text(PGconn *conn, const char *sql);

/* ---- a herd of processes that start together --------------------------- */

enum { TOPO_HERD_MAX = 128 };

/* What one member reports back. */
typedef struct topo_member_report {
    int rc;            /* its result (exit status of the member) */
    int applied;       /* migrations it applied (counted from its log) */
    double connect_ms; /* connecting */
    double up_ms;      /* migc_up */
    int notices;       /* NOTICEs/WARNINGs its connection received */
    char message[240]; /* its error message, if any (truncated) */
} topo_member_report;

/* One member: runs in a forked child, after the start signal; fills *out
 * and returns the exit status (0 = fine).  Must not return while a
 * connection it opened is still needed. */
typedef int (*topo_member_fn)(int index, void *arg, topo_member_report *out);

typedef struct topo_herd {
    int n;
    double wall_s;                        /* start signal to last exit */
    int status[TOPO_HERD_MAX];            /* exit status; -1 hung, 128+sig */
    bool reported[TOPO_HERD_MAX];
    topo_member_report report[TOPO_HERD_MAX];
    int hung;                             /* killed by the parent */
    int watchdog;                         /* killed by their own alarm */
} topo_herd;

/* Forks n members blocked on a pipe, releases them at once, waits at most
 * timeout_s (each member's own alarm fires a few seconds earlier) and
 * collects their reports.  Hung members are SIGKILLed and counted. */
void topo_herd_run(topo_herd *h, int n, topo_member_fn fn, void *arg,
                   int timeout_s);

/* Prints "label: N processes in X s; migc_up min/median/max ..." */
void topo_herd_print(const topo_herd *h, const char *label);

/* A migc log callback that counts "migc: applied" lines in an int. */
void topo_count_applied(void *ctx, const char *line);

#endif
