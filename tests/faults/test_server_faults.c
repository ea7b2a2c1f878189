/*
 * test_server_faults.c -- the server ends the migrating session.
 *
 * The catalog (tests/faults/fixtures/slow): 1 creates slow_base; 2 is
 * transactional and sleeps for the session's migc_faults.sleep seconds
 * (0 when unset: a re-run does not sleep); 3 runs without a transaction
 * and sleeps in its statement 2; 4 runs without a transaction and its
 * statement 2 is a CREATE INDEX CONCURRENTLY; 5 runs without a transaction,
 * two statements.
 *
 * A forked child runs migc_up and sends back its result and
 * migc_format_error's text (faultlib.h).  Once pg_stat_activity shows it
 * where the fault must hit:
 *
 * (2)  pg_ctl restart -m immediate (as the postgres OS user, on the
 *      fixture's data directory) during migration 2's sleep: the child gets
 *      MIGC_ECONNECTION with a message naming the migration and the lost
 *      connection; after the restart the database is at version 1 with no
 *      trace of migration 2, and a new connection applies it.
 * (3a) pg_terminate_backend during migration 2's sleep: MIGC_ECONNECTION,
 *      or the server's admin-shutdown error (SQLSTATE 57P01); version 1;
 *      a new connection applies migration 2.
 * (3b) pg_terminate_backend during statement 2 of migration 3: the next
 *      start reports MIGC_EINTERRUPTED at statement 2; the retry
 *      (MIGC_RETRY_INTERRUPTED) completes it.
 * (3c) pg_terminate_backend during migration 4's CREATE INDEX CONCURRENTLY,
 *      held mid-build by an open writing transaction: it leaves an INVALID
 *      index; the next start reports MIGC_EINTERRUPTED at statement 2; a
 *      retry without dropping the index fails ("already exists"), as
 *      docs/OPERATIONS.md says; after DROP INDEX CONCURRENTLY the retry
 *      completes and the index is valid.
 * (3d) pg_terminate_backend after migration 5's last statement, while the
 *      history update that records it applied is held (a trigger the test
 *      adds sleeps in it): the next start reports MIGC_EINTERRUPTED for
 *      migration 5 with both statements done; the retry records it applied.
 */
#define _DEFAULT_SOURCE /* setgroups() */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <migc/migc.h>

#include "faultlib.h"
#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog faults_slow_catalog;

enum { WAIT_S = 30, SLEEP_S = 30 };

#define M2_FILE "slow/000002_slow_transactional.up.sql"
#define M3_FILE "slow/000003_slow_no_transaction.up.sql"
#define M4_FILE "slow/000004_index_concurrently.up.sql"
#define M5_FILE "slow/000005_two_statements.up.sql"

/* The backend sleeps in pg_sleep. */
#define SLEEPING_SQL                                                       \
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity WHERE "      \
    "pid = $1::integer AND state = 'active' AND wait_event = 'PgSleep')"

static const migc_catalog *const cat = &faults_slow_catalog;

/* conninfo plus a session setting of migc_faults.sleep; malloc'd. */
static char *with_sleep(const char *conninfo, int seconds)
{
    size_t n = strlen(conninfo) + 64;
    char *s = malloc(n);
    if (!s)
        exit(1);
    snprintf(s, n, "%s options='-c migc_faults.sleep=%d'", conninfo, seconds);
    return s;
}

static void print_error(const char *what, migc_result rc, const migc_error *err)
{
    char text[4096];
    migc_format_error(err, text, sizeof text);
    fprintf(stderr, "    %s returned %d (%s):\n%s", what, (int)rc,
            migc_strerror(rc), text);
}

/* migc_up on a new connection, up to target (0: all), with flags. */
static migc_result up(const char *conninfo, int64_t target, unsigned flags,
                      migc_error *err)
{
    PGconn *conn = fl_connect(conninfo);
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = target;
    opt.flags = flags;
    migc_result rc = migc_up(conn, cat, &opt, err);
    bool idle = PQstatus(conn) == CONNECTION_OK &&
                PQtransactionStatus(conn) == PQTRANS_IDLE;
    CHECK(idle);
    PQfinish(conn);
    return rc;
}

/* "1:applied:2/2,2:..." */
static char *history(PGconn *conn, char *buf, size_t size)
{
    fl_value(conn,
             "SELECT coalesce(string_agg(id || ':' || state || ':' || "
             "statements_done || '/' || statements_total, ',' ORDER BY "
             "version), '') FROM migc_history",
             NULL, buf, size);
    return buf;
}

static bool exists(PGconn *conn, const char *relation)
{
    return fl_true(conn, "SELECT to_regclass($1) IS NOT NULL", relation);
}

static void show_outcome(const fl_outcome *out, double seconds)
{
    printf("  the migrator's migc_up returned %d (%s) %.2f s after the fault"
           "%s%s%s:\n%s",
           out->rc, out->rc >= 0 ? migc_strerror((migc_result)out->rc) : "-",
           seconds, out->sqlstate[0] ? ", SQLSTATE " : "", out->sqlstate,
           out->sqlstate[0] ? "" : "", out->text);
}

/* The message names the lost connection or the server's reason. */
static bool says_connection_ended(const char *text)
{
    return strstr(text, "server closed the connection") ||
           strstr(text, "connection was lost") ||
           strstr(text, "terminating connection") ||
           strstr(text, "no connection to the server");
}

/* ---- pg_ctl restart -m immediate --------------------------------------- */

/* Runs pg_ctl restart -m immediate on the fixture's cluster, as the
 * postgres OS user when root (as pgfixture.c runs pg_ctl).  Returns its
 * exit status. */
static int restart_server(void)
{
    const char *dir = pgfix_socket_dir();
    char pg_ctl[4200], data[4200], out[4200];
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", pgfix_bindir());
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "%s/faults-pg_ctl.log", dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        perror(out);
        return -1;
    }
    struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;
    if (geteuid() == 0 && !pw) {
        fprintf(stderr, "no postgres OS user to run pg_ctl as\n");
        close(fd);
        return -1;
    }
    if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
        perror("fchown");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(fd, 1) < 0 ||
            dup2(fd, 2) < 0)
            _exit(126);
        if (pw && (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
                   setuid(pw->pw_uid) != 0))
            _exit(125);
        if (chdir(dir) != 0)
            _exit(124);
        execl(pg_ctl, pg_ctl, "restart", "-D", data, "-m", "immediate", "-w",
              "-t", "60", "-l", pgfix_server_log(), (char *)NULL);
        _exit(127);
    }
    close(fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (rc != 0) {
        fprintf(stderr, "pg_ctl restart failed (status %d); see %s\n", rc,
                out);
        FILE *f = fopen(out, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fputs(line, stderr);
        if (f)
            fclose(f);
    }
    return rc;
}

/* ---- (2) and (3a): transactional migration 2 ---------------------------- */

typedef enum fault { RESTART, TERMINATE } fault;

static void test_transactional(fault how)
{
    bool restart = how == RESTART;
    th_case(restart ? "(2) immediate restart, transactional"
                    : "(3a) pg_terminate_backend, transactional");
    printf("%s during transactional migration 2's sleep\n",
           restart ? "(2) pg_ctl restart -m immediate"
                   : "(3a) pg_terminate_backend");
    char *conninfo = pgfix_create_database(restart ? "restart_txn"
                                                   : "terminate_txn");
    migc_error err;
    migc_result rc = up(conninfo, 1, 0, &err);
    CHECK_INT(rc, MIGC_OK);
    PGconn *admin = fl_connect(pgfix_start());

    char *slow = with_sleep(conninfo, SLEEP_S);
    fl_child child;
    double t0 = fl_now();
    fl_spawn(&child, slow, cat, 2, 0);
    double waited = fl_wait_for(admin, child.backend, child.pid, SLEEPING_SQL,
                                WAIT_S);
    CHECK(waited >= 0);
    printf("  migration 2 sleeping after %.2f s\n", fl_now() - t0);
    double t1 = fl_now();
    if (restart) {
        CHECK_INT(restart_server(), 0);
        printf("  pg_ctl restart -m immediate took %.2f s\n", fl_now() - t1);
        PQfinish(admin); /* the restart ended it */
        admin = fl_connect(pgfix_start());
    } else {
        char pid[16];
        snprintf(pid, sizeof pid, "%d", child.backend);
        CHECK(fl_true(admin, "SELECT pg_terminate_backend($1::integer)", pid));
    }
    fl_outcome out;
    int status = fl_finish(&child, &out);
    show_outcome(&out, fl_now() - t1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == out.rc);
    if (restart) {
        CHECK_INT(out.rc, MIGC_ECONNECTION);
    } else {
        bool admin_shutdown = out.rc == MIGC_EMIGRATION &&
                              strcmp(out.sqlstate, "57P01") == 0;
        CHECK(out.rc == MIGC_ECONNECTION || admin_shutdown);
        if (admin_shutdown)
            printf("  (the server's admin-shutdown error, not "
                   "MIGC_ECONNECTION)\n");
    }
    CHECK(strstr(out.text, M2_FILE) != NULL);
    CHECK(strstr(out.text, "migration 2") != NULL);
    CHECK(says_connection_ended(out.text));
    CHECK_INT(out.version, 2);

    /* Nothing of migration 2 remains. */
    CHECK(fl_wait_backend_gone(admin, child.backend, WAIT_S) >= 0);
    PGconn *conn = fl_connect(conninfo);
    char buf[256];
    CHECK_STR(history(conn, buf, sizeof buf), "1:applied:2/2");
    CHECK(!exists(conn, "s2a"));
    CHECK(!exists(conn, "s2b"));
    CHECK_INT(fl_int(conn, "SELECT count(*) FROM slow_base", NULL), 1000);
    CHECK_INT(fl_advisory_locks(admin, restart ? "restart_txn"
                                               : "terminate_txn"), 0);

    /* A re-run on a new connection applies it cleanly. */
    double t2 = fl_now();
    rc = up(conninfo, 2, 0, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("the re-run", rc, &err);
    printf("  re-run on a new connection: %d (%s) in %.2f s\n", (int)rc,
           migc_strerror(rc), fl_now() - t2);
    CHECK_STR(history(conn, buf, sizeof buf), "1:applied:2/2,2:applied:5/5");
    CHECK(exists(conn, "s2b"));
    CHECK_INT(fl_int(conn, "SELECT count(*) FROM s2a", NULL), 1000);
    CHECK_INT(fl_int(conn, "SELECT count(*) FROM slow_base", NULL), 1001);
    PQfinish(conn);
    PQfinish(admin);
    free(slow);
    free(conninfo);
}

/* ---- (3b), (3c), (3d): non-transactional migrations -------------------- */

/* Terminates the child's backend, reaps it, checks the result code (the
 * connection ended: MIGC_ECONNECTION, or the admin-shutdown error). */
static void terminate(PGconn *admin, fl_child *child, const char *file)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", child->backend);
    double t = fl_now();
    CHECK(fl_true(admin, "SELECT pg_terminate_backend($1::integer)", pid));
    fl_outcome out;
    fl_finish(child, &out);
    show_outcome(&out, fl_now() - t);
    CHECK(out.rc == MIGC_ECONNECTION ||
          (out.rc == MIGC_EMIGRATION && strcmp(out.sqlstate, "57P01") == 0));
    CHECK(strstr(out.text, file) != NULL);
    CHECK(says_connection_ended(out.text));
    CHECK(fl_wait_backend_gone(admin, child->backend, WAIT_S) >= 0);
}

/* The next start with the default options: MIGC_EINTERRUPTED naming
 * migration `version`, its file and statement `index` (0: none). */
static void expect_interrupted(const char *conninfo, int64_t version,
                               const char *file, uint32_t index,
                               const char *statement_prefix)
{
    migc_error err;
    migc_result rc = up(conninfo, 0, 0, &err);
    char text[4096];
    migc_format_error(&err, text, sizeof text);
    printf("  next start: %d (%s):\n%s", (int)rc, migc_strerror(rc), text);
    CHECK_INT(rc, MIGC_EINTERRUPTED);
    CHECK_INT(err.version, version);
    CHECK(err.file != NULL && strcmp(err.file, file) == 0);
    CHECK(strstr(text, file) != NULL);
    CHECK_INT(err.statement_index, index);
    if (statement_prefix)
        CHECK(err.statement != NULL &&
              strncmp(err.statement, statement_prefix,
                      strlen(statement_prefix)) == 0);
    CHECK(strstr(err.hint, "MIGC_RETRY_INTERRUPTED") != NULL);
}

static void test_notxn_sleep(void)
{
    th_case("(3b) pg_terminate_backend, non-transactional statement 2");
    printf("(3b) pg_terminate_backend during statement 2 of "
           "non-transactional migration 3\n");
    char *conninfo = pgfix_create_database("terminate_notxn");
    migc_error err;
    CHECK_INT(up(conninfo, 2, 0, &err), MIGC_OK);
    PGconn *admin = fl_connect(pgfix_start());
    PGconn *watch = fl_connect(conninfo);
    char *slow = with_sleep(conninfo, SLEEP_S);
    fl_child child;
    fl_spawn(&child, slow, cat, 3, 0);
    CHECK(fl_wait_for(watch, child.backend, child.pid,
                      SLEEPING_SQL " AND EXISTS (SELECT 1 FROM migc_history "
                      "WHERE id = '3' AND state = 'running' AND "
                      "statements_done = 1)",
                      WAIT_S) >= 0);
    terminate(admin, &child, M3_FILE);
    char buf[256];
    printf("  history: %s\n", history(watch, buf, sizeof buf));
    CHECK(strncmp(buf, "1:applied:2/2,2:applied:5/5,3:", 30) == 0);
    CHECK(strstr(buf, ":1/3") != NULL);
    CHECK(exists(watch, "s3a"));
    CHECK(!exists(watch, "s3b"));

    expect_interrupted(conninfo, 3, M3_FILE, 2, "SELECT pg_sleep(");
    migc_result rc = up(conninfo, 3, MIGC_RETRY_INTERRUPTED, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("the retry", rc, &err);
    CHECK_STR(history(watch, buf, sizeof buf),
              "1:applied:2/2,2:applied:5/5,3:applied:3/3");
    CHECK(exists(watch, "s3b"));
    printf("  retry: %d (%s); history %s\n", (int)rc, migc_strerror(rc), buf);
    PQfinish(watch);
    PQfinish(admin);
    free(slow);
    free(conninfo);
}

static void test_notxn_index(void)
{
    th_case("(3c) pg_terminate_backend, CREATE INDEX CONCURRENTLY");
    printf("(3c) pg_terminate_backend during migration 4's CREATE INDEX "
           "CONCURRENTLY\n");
    char *conninfo = pgfix_create_database("terminate_cic");
    migc_error err;
    CHECK_INT(up(conninfo, 3, 0, &err), MIGC_OK);
    PGconn *admin = fl_connect(pgfix_start());
    PGconn *watch = fl_connect(conninfo);
    /* An open writing transaction holds the build after its first phase. */
    PGconn *blocker = fl_connect(conninfo);
    CHECK(fl_exec(blocker, "BEGIN"));
    CHECK(fl_exec(blocker, "INSERT INTO slow_base VALUES (2000000, 'held')"));
    fl_child child;
    fl_spawn(&child, conninfo, cat, 4, 0);
    CHECK(fl_wait_for(watch, child.backend, child.pid,
                      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity"
                      " WHERE pid = $1::integer AND wait_event_type = 'Lock'"
                      " AND query LIKE 'CREATE INDEX CONCURRENTLY%') AND "
                      "EXISTS (SELECT 1 FROM migc_history WHERE id = '4' AND "
                      "state = 'running' AND statements_done = 1)",
                      WAIT_S) >= 0);
    CHECK(fl_true(watch, "SELECT NOT indisvalid FROM pg_catalog.pg_index WHERE "
                         "indexrelid = to_regclass('slow_base_note')", NULL));
    terminate(admin, &child, M4_FILE);
    CHECK(fl_exec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    CHECK(fl_true(watch, "SELECT NOT indisvalid FROM pg_catalog.pg_index WHERE "
                         "indexrelid = to_regclass('slow_base_note')", NULL));
    char buf[256];
    printf("  history: %s; slow_base_note left INVALID\n",
           history(watch, buf, sizeof buf));

    expect_interrupted(conninfo, 4, M4_FILE, 2, "CREATE INDEX CONCURRENTLY");
    /* Resuming without dropping the invalid index fails on it. */
    migc_result rc = up(conninfo, 4, MIGC_RETRY_INTERRUPTED, &err);
    char text[4096];
    migc_format_error(&err, text, sizeof text);
    printf("  retry before dropping the invalid index: %d (%s):\n%s", (int)rc,
           migc_strerror(rc), text);
    CHECK_INT(rc, MIGC_EMIGRATION);
    CHECK_STR(err.sqlstate, "42P07");
    CHECK_INT(err.statement_index, 2);
    CHECK_STR(history(watch, buf, sizeof buf),
              "1:applied:2/2,2:applied:5/5,3:applied:3/3,4:failed:1/3");
    expect_interrupted(conninfo, 4, M4_FILE, 2, "CREATE INDEX CONCURRENTLY");

    /* The documented way out: drop it, then resume. */
    char names[256];
    CHECK_INT(fl_drop_invalid_indexes(watch, names, sizeof names), 1);
    CHECK_STR(names, "public.slow_base_note");
    rc = up(conninfo, 4, MIGC_RETRY_INTERRUPTED, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("the retry", rc, &err);
    CHECK_STR(history(watch, buf, sizeof buf),
              "1:applied:2/2,2:applied:5/5,3:applied:3/3,4:applied:3/3");
    CHECK(fl_true(watch, "SELECT indisvalid FROM pg_catalog.pg_index WHERE "
                         "indexrelid = to_regclass('slow_base_note')", NULL));
    CHECK(fl_true(watch, "SELECT EXISTS (SELECT 1 FROM information_schema."
                         "columns WHERE table_name = 's4' AND "
                         "column_name = 'w')", NULL));
    printf("  dropped %s, retry: %d (%s); history %s\n", names, (int)rc,
           migc_strerror(rc), buf);
    PQfinish(watch);
    PQfinish(admin);
    free(conninfo);
}

static void test_notxn_after_last(void)
{
    th_case("(3d) pg_terminate_backend after the last statement");
    printf("(3d) pg_terminate_backend after migration 5's last statement, "
           "before it is recorded applied\n");
    char *conninfo = pgfix_create_database("terminate_end");
    migc_error err;
    CHECK_INT(up(conninfo, 4, 0, &err), MIGC_OK);
    PGconn *admin = fl_connect(pgfix_start());
    PGconn *watch = fl_connect(conninfo);
    CHECK(fl_exec(watch,
                  "CREATE FUNCTION faults_stall() RETURNS trigger "
                  "LANGUAGE plpgsql AS $$ BEGIN "
                  "IF NEW.id = '5' AND NEW.state = 'applied' AND "
                  "OLD.state = 'running' THEN PERFORM pg_sleep(30); END IF; "
                  "RETURN NEW; END $$"));
    CHECK(fl_exec(watch, "CREATE TRIGGER faults_stall BEFORE UPDATE ON "
                         "migc_history FOR EACH ROW EXECUTE FUNCTION "
                         "faults_stall()"));
    fl_child child;
    fl_spawn(&child, conninfo, cat, 5, 0);
    CHECK(fl_wait_for(watch, child.backend, child.pid,
                      SLEEPING_SQL " AND EXISTS (SELECT 1 FROM "
                      "pg_catalog.pg_stat_activity WHERE pid = $1::integer "
                      "AND query LIKE 'UPDATE%')",
                      WAIT_S) >= 0);
    terminate(admin, &child, M5_FILE);
    CHECK(fl_exec(watch, "DROP TRIGGER faults_stall ON migc_history"));
    CHECK(fl_exec(watch, "DROP FUNCTION faults_stall()"));
    char buf[256];
    printf("  history: %s\n", history(watch, buf, sizeof buf));
    CHECK_STR(buf, "1:applied:2/2,2:applied:5/5,3:applied:3/3,"
                   "4:applied:3/3,5:running:2/2");
    CHECK(exists(watch, "s5b"));

    migc_result rc = up(conninfo, 0, 0, &err);
    char text[4096];
    migc_format_error(&err, text, sizeof text);
    printf("  next start: %d (%s):\n%s", (int)rc, migc_strerror(rc), text);
    CHECK_INT(rc, MIGC_EINTERRUPTED);
    CHECK_INT(err.version, 5);
    CHECK(err.file != NULL && strcmp(err.file, M5_FILE) == 0);
    /* Every statement completed: the report must not name a statement
     * the script does not have. */
    CHECK(strstr(err.message, "statement 3 of 2") == NULL);

    rc = up(conninfo, 0, MIGC_RETRY_INTERRUPTED, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("the retry", rc, &err);
    CHECK_STR(history(watch, buf, sizeof buf),
              "1:applied:2/2,2:applied:5/5,3:applied:3/3,4:applied:3/3,"
              "5:applied:2/2");
    printf("  retry: %d (%s); history %s\n", (int)rc, migc_strerror(rc), buf);
    PQfinish(watch);
    PQfinish(admin);
    free(conninfo);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    double t0 = fl_now();
    pgfix_start();
    CHECK_INT(cat->count, 5);
    test_transactional(RESTART);
    printf("  (2) done at %.2f s\n", fl_now() - t0);
    test_transactional(TERMINATE);
    printf("  (3a) done at %.2f s\n", fl_now() - t0);
    test_notxn_sleep();
    printf("  (3b) done at %.2f s\n", fl_now() - t0);
    test_notxn_index();
    printf("  (3c) done at %.2f s\n", fl_now() - t0);
    test_notxn_after_last();
    printf("server faults test: %.2f s in all\n", fl_now() - t0);
    return th_finish();
}
