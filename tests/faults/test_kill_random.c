/*
 * test_kill_random.c -- kill -9 of a migrating process at random moments.
 *
 * Three catalogs (tests/faults/fixtures):
 *   (a) txn:   six transactional migrations with DDL and data, no sleeps;
 *   (b) bulk:  a transactional INSERT ... SELECT of 200000 rows, then a
 *              transactional migration of 701 statements (three pipeline
 *              batches) whose UPDATEs rewrite 40000 of those rows;
 *   (c) notxn: four -- migc:no-transaction migrations of several statements
 *              each (CREATE INDEX CONCURRENTLY, ALTER TABLE, UPDATE, ...),
 *              all written to be safe to run again (IF NOT EXISTS, ...).
 *
 * References, built once per catalog: the schema-and-data fingerprint
 * (faultlib.h) after every migration and, for a non-transactional one,
 * after every statement, by running the statements directly; and the
 * fingerprint and history of a database migrated by migc_up without
 * interruption, whose duration (the faster of two runs) sets the kill
 * window: [0, 1.1 x duration), and for (a) at most [0, 300 ms).
 *
 * Each trial uses a fresh database.  A forked child connects and runs
 * migc_up; after a random delay (seeded PRNG: MIGC_FAULT_SEED repeats a
 * run) it gets SIGKILL.  Once its backend is gone from pg_stat_activity:
 *
 *  1. the state the kill left must be consistent: the history is a prefix
 *     of the catalog, all applied, plus at most one non-transactional
 *     migration "running" with statements_done = d; the database equals the
 *     reference after the applied migrations, or for a running migration
 *     the reference after its statement d or d + 1 (the one the kill cut
 *     off, which the orphaned backend may still have completed); no
 *     advisory lock is left;
 *  2. the next start (migc_up, default options) returns MIGC_OK, or -- only
 *     when a migration was left running -- MIGC_EINTERRUPTED naming that
 *     migration's version, file and statement d + 1; then the documented
 *     way out: drop the INVALID indexes left behind, and migc_up with
 *     MIGC_RETRY_INTERRUPTED, which must return MIGC_OK;
 *  3. the database and its history must equal the uninterrupted reference,
 *     and one more migc_up has nothing to do.
 *
 * A trial survives when all of this holds, and is lost otherwise (the
 * reason is printed).  The summary table counts trials, survived, lost.
 *
 * MIGC_TEST_QUICK=1 (tests/valgrind.sh, where the test and its migrators
 * run under valgrind), without arguments: 6, 3 and 6 trials instead of 50,
 * 30 and 50 (the .quick_trials below), each checked in full.  Arguments
 * still pick categories and counts.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <migc/migc.h>

#include "faultlib.h"
#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog faults_txn_catalog;
extern const migc_catalog faults_bulk_catalog;
extern const migc_catalog faults_notxn_catalog;

enum {
    BACKEND_GONE_S = 60,      /* for a killed child's backend to end */
    TRIAL_WATCHDOG_S = 120,   /* one trial, start to end */
    MAX_ROWS = 64
};

typedef struct category {
    const char *name;         /* in database names */
    const char *fault;        /* in the summary table */
    const migc_catalog *cat;
    int trials;
    int quick_trials;         /* under MIGC_TEST_QUICK=1 */
    double max_window_ms;     /* kill after [0, 1.1 x the uninterrupted
                                 run) ms, at most [0, this) when > 0 */
    /* references */
    char **after;             /* [k]: after migrations 1..k */
    char ***partial;          /* [i][j]: migration i (0-based, statement by
                                 statement) after its statements 1..j */
    char *final_history;
    double ref_ms;            /* the uninterrupted migc_up */
    char dbname[32];          /* the trials' database, reset for each */
    char *conninfo;
    double window_ms;
    int interrupted;          /* the kill landed while migc_up ran */
    /* results */
    int run, survived, lost;
    int finished_first;       /* the child was done before the kill */
    int left_running;         /* the kill left a migration running */
    int inflight_took_effect; /* ... and its cut-off statement completed */
    int interrupted_reports;  /* next start: MIGC_EINTERRUPTED */
    int after_last_statement; /* ... with every statement done */
    int invalid_dropped;
    int applied_at_kill[MAX_ROWS];
    double seconds;
} category;

/* ---- seeded PRNG (splitmix64) ------------------------------------------ */

static uint64_t rng;

static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform01(void)
{
    return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- watchdog ---------------------------------------------------------- */

static char watchdog_what[128];

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "\nHANG: a trial took longer than its "
                              "watchdog allows: ";
    if (write(2, msg, sizeof msg - 1) < 0 ||
        write(2, watchdog_what, strlen(watchdog_what)) < 0 ||
        write(2, "\n", 1) < 0)
        _exit(1);
    exit(1); /* stops the cluster (atexit) */
}

static void print_error(const char *what, migc_result rc,
                        const migc_error *err);

/* ---- references -------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return d;
}

static void build_references(category *c, PGconn *admin)
{
    const migc_catalog *cat = c->cat;
    char name[64];
    snprintf(name, sizeof name, "ref_%s_steps", c->name);
    char *conninfo = pgfix_create_database(name);
    PGconn *conn = fl_connect(conninfo);
    c->after = calloc(cat->count + 1, sizeof *c->after);
    c->partial = calloc(cat->count, sizeof *c->partial);
    if (!c->after || !c->partial) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    c->after[0] = fl_fingerprint(conn);
    for (size_t i = 0; i < cat->count; i++) {
        const migc_script *s = &cat->migrations[i].up;
        bool txn = s->transaction == MIGC_TRANSACTION_SINGLE;
        if (txn) {
            CHECK(fl_exec(conn, "BEGIN"));
        } else {
            c->partial[i] = calloc(s->statement_count + 1, sizeof **c->partial);
            if (!c->partial[i])
                exit(1);
            c->partial[i][0] = xstrdup(c->after[i]);
        }
        for (uint32_t j = 0; j < s->statement_count; j++) {
            const migc_statement *st = migc_script_statements(cat, s) + j;
            if (!(st->flags & MIGC_STMT_SKIP))
                CHECK(
                    fl_exec(conn, migc_catalog_text(cat, s->sql) + st->offset));
            if (!txn)
                c->partial[i][j + 1] = fl_fingerprint(conn);
        }
        if (txn)
            CHECK(fl_exec(conn, "COMMIT"));
        c->after[i + 1] = txn ? fl_fingerprint(conn)
                              : xstrdup(c->partial[i][s->statement_count]);
        CHECK(c->after[i + 1] != NULL);
    }
    PQfinish(conn);
    fl_drop_database(admin, name);
    free(conninfo);

    /* The same catalog through migc_up, uninterrupted; twice, the faster
     * run's duration sets the kill window (the first may be slowed down by
     * cold caches). */
    for (int run = 1; run <= 2; run++) {
        snprintf(name, sizeof name, "ref_%s_%d", c->name, run);
        conninfo = pgfix_create_database(name);
        conn = fl_connect(conninfo);
        migc_error err;
        double t0 = fl_now();
        migc_result rc = migc_up(conn, cat, NULL, &err);
        double ms = (fl_now() - t0) * 1000.0;
        if (run == 1 || ms < c->ref_ms)
            c->ref_ms = ms;
        CHECK_INT(rc, MIGC_OK);
        if (rc != MIGC_OK)
            print_error("the uninterrupted migc_up", rc, &err);
        char *fp = fl_fingerprint(conn);
        bool same = fp && strcmp(fp, c->after[cat->count]) == 0;
        CHECK(same);
        if (!same)
            fl_show_diff("the uninterrupted migc_up's schema", fp,
                         c->after[cat->count]);
        free(fp);
        char *hist = fl_history(conn);
        CHECK(hist != NULL);
        if (run == 1)
            c->final_history = hist;
        else {
            CHECK(hist && strcmp(hist, c->final_history) == 0);
            free(hist);
        }
        PQfinish(conn);
        fl_drop_database(admin, name);
        free(conninfo);
    }
    c->window_ms = 1.1 * c->ref_ms;
    if (c->max_window_ms > 0 && c->window_ms > c->max_window_ms)
        c->window_ms = c->max_window_ms;
    size_t lines = 0;
    for (const char *p = c->after[cat->count]; p && *p; p++)
        lines += *p == '\n';
    printf("%s: %zu migrations; reference fingerprint %zu lines; "
           "uninterrupted migc_up %.0f ms; kill window [0, %.0f) ms\n",
           c->name, cat->count, lines, c->ref_ms, c->window_ms);
}

static void free_references(category *c)
{
    for (size_t i = 0; i < c->cat->count; i++) {
        if (c->partial[i]) {
            for (uint32_t j = 0; j <= c->cat->migrations[i].up.statement_count;
                 j++)
                free(c->partial[i][j]);
            free(c->partial[i]);
        }
    }
    for (size_t k = 0; k <= c->cat->count; k++)
        free(c->after[k]);
    free(c->after);
    free(c->partial);
    free(c->final_history);
}

/* ---- one trial --------------------------------------------------------- */

typedef struct kill_state {
    size_t applied;       /* history rows 1..applied are applied */
    bool running;         /* then migration `applied` (0-based) is running */
    unsigned done;        /* with this many statements done */
    bool consistent;
    char why[512];
} kill_state;

static void set_why(kill_state *ks, const char *what, const char *a,
                    const char *b)
{
    ks->consistent = false;
    if (!ks->why[0])
        snprintf(ks->why, sizeof ks->why, "%s%s%s%s", what, a ? a : "",
                 b ? " " : "", b ? b : "");
}

/* Reads the history the kill left and checks it against the catalog. */
static void read_kill_state(PGconn *conn, const migc_catalog *cat,
                            kill_state *ks)
{
    memset(ks, 0, sizeof *ks);
    ks->consistent = true;
    if (!fl_true(conn, "SELECT to_regclass('public.migc_history') IS NOT NULL",
                 NULL))
        return;
    PGresult *res = PQexec(conn, "SELECT id, state, statements_done FROM "
                                 "public.migc_history ORDER BY version, id "
                                 "COLLATE \"C\"");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_why(ks, "cannot read the history: ", PQresultErrorMessage(res),
                NULL);
        PQclear(res);
        return;
    }
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        const char *id = PQgetvalue(res, r, 0);
        const char *state = PQgetvalue(res, r, 1);
        size_t i = (size_t)r;
        if (i >= cat->count ||
            strcmp(id, migc_catalog_text(cat, cat->migrations[i].id)) != 0) {
            set_why(ks, "this history row is not the next catalog migration: ",
                    id, NULL);
            break;
        }
        if (strcmp(state, "applied") == 0 && !ks->running) {
            ks->applied++;
            continue;
        }
        if (strcmp(state, "running") == 0 && !ks->running && r == n - 1 &&
            cat->migrations[i].up.transaction != MIGC_TRANSACTION_SINGLE) {
            ks->running = true;
            ks->done = (unsigned)atoi(PQgetvalue(res, r, 2));
            continue;
        }
        set_why(ks, "a history row is in a state it cannot be in here: ",
                    id, state);
        break;
    }
    PQclear(res);
}

static void print_error(const char *what, migc_result rc, const migc_error *err)
{
    char text[4096];
    migc_format_error(err, text, sizeof text);
    fprintf(stderr, "    %s returned %d (%s):\n%s", what, (int)rc,
            migc_strerror(rc), text);
}

/* Checks that an MIGC_EINTERRUPTED report names the running migration,
 * its file and the statement that did not complete. */
static bool check_report(const migc_catalog *cat, const migc_migration *m,
                         unsigned done, const migc_error *err, char *why,
                         size_t size)
{
    const migc_script *s = &m->up;
    const char *id = migc_catalog_text(cat, m->id);
    const char *file = migc_catalog_text(cat, s->file);
    char text[4096];
    migc_format_error(err, text, sizeof text);
    if (err->code != MIGC_EINTERRUPTED || err->version != m->version ||
        strcmp(err->id, id) != 0) {
        snprintf(why, size, "the report names migration %s, not %s", err->id,
                 id);
        return false;
    }
    if (!err->file || strcmp(err->file, file) != 0 || !strstr(text, file)) {
        snprintf(why, size, "the report does not name the file %s", file);
        return false;
    }
    if (done >= s->statement_count)
        return true; /* no statement left: counted apart */
    const migc_statement *st = migc_script_statements(cat, s) + done;
    if (err->statement_index != done + 1 ||
        err->statement != migc_catalog_text(cat, s->sql) + st->offset ||
        err->statement_line != st->line) {
        snprintf(why, size, "the report names statement %u (line %u), not "
                 "statement %u (line %u)", (unsigned)err->statement_index,
                 (unsigned)err->statement_line, done + 1, (unsigned)st->line);
        return false;
    }
    return true;
}

/* Empties the trials' database: DROP SCHEMA public CASCADE takes the
 * history table, every table, index, view and function with it.  The
 * result must equal a new database's fingerprint, with no history. */
static bool reset_database(category *c, PGconn *conn)
{
    if (!fl_exec(conn, "DROP SCHEMA public CASCADE") ||
        !fl_exec(conn, "CREATE SCHEMA public"))
        return false;
    char *fp = fl_fingerprint(conn);
    char *hist = fl_history(conn);
    bool ok = fp && hist && strcmp(fp, c->after[0]) == 0 && !hist[0];
    if (!ok)
        fl_show_diff("the database after the reset", fp, c->after[0]);
    free(fp);
    free(hist);
    return ok;
}

static void run_trial(category *c, int t, PGconn *admin)
{
    const migc_catalog *cat = c->cat;
    const char *conninfo = c->conninfo;
    char name[64], why[768] = "";
    snprintf(name, sizeof name, "%s #%03d", c->name, t);
    snprintf(watchdog_what, sizeof watchdog_what, "%s", name);
    alarm(TRIAL_WATCHDOG_S);
    double t_start = fl_now();
    double delay_ms = uniform01() * c->window_ms;
    PGconn *conn = fl_connect(conninfo);
    if (!reset_database(c, conn)) {
        fprintf(stderr, "cannot reset %s\n", c->dbname);
        exit(1);
    }

    fl_child child;
    fl_spawn(&child, conninfo, cat, 0, 0);
    double t0 = fl_now();
    fl_sleep_ms(delay_ms - (fl_now() - t0) * 1000.0);
    int status;
    bool killed = fl_kill(&child, &status);
    double killed_at = (fl_now() - t0) * 1000.0;
    c->interrupted += killed;
    if (!killed) {
        c->finished_first++;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            snprintf(why, sizeof why, "the child exited with status %d "
                     "before the kill", status);
    }
    double gone = fl_wait_backend_gone(admin, child.backend, BACKEND_GONE_S);
    if (gone < 0 && !why[0])
        snprintf(why, sizeof why, "the killed child's backend %d did not end",
                 child.backend);

    kill_state ks;
    read_kill_state(conn, cat, &ks);
    if (!ks.consistent && !why[0])
        snprintf(why, sizeof why, "after the kill: %s", ks.why);
    if (ks.applied < MAX_ROWS)
        c->applied_at_kill[ks.applied]++;
    bool inflight = false;
    if (!why[0]) {
        char *fp = fl_fingerprint(conn);
        const char *want = c->after[ks.applied];
        bool ok = fp && strcmp(fp, want) == 0;
        if (ks.running) {
            char **p = c->partial[ks.applied];
            uint32_t count = cat->migrations[ks.applied].up.statement_count;
            ok = fp && ks.done <= count && strcmp(fp, p[ks.done]) == 0;
            if (!ok && fp && ks.done < count &&
                strcmp(fp, p[ks.done + 1]) == 0)
                ok = inflight = true;
            want = ks.done <= count ? p[ks.done] : want;
        }
        if (!ok) {
            snprintf(why, sizeof why, "after the kill the database does not "
                     "match its history (%zu applied%s)", ks.applied,
                     ks.running ? ", one running" : "");
            fl_show_diff("the database after the kill", fp, want);
        }
        free(fp);
    }
    long long locks = fl_advisory_locks(admin, c->dbname);
    if (locks != 0 && !why[0])
        snprintf(why, sizeof why, "%lld advisory locks left after the kill",
                 locks);
    if (ks.running) {
        c->left_running++;
        c->inflight_took_effect += inflight;
    }

    /* The next start. */
    char outcome[512] = "";
    migc_error err;
    double t1 = fl_now();
    migc_result rc = why[0] ? MIGC_OK : migc_up(conn, cat, NULL, &err);
    if (why[0]) {
        /* already lost */
    } else if (rc == MIGC_OK && !ks.running) {
        snprintf(outcome, sizeof outcome, "next start OK (%.2f s)",
                 fl_now() - t1);
    } else if (rc == MIGC_EINTERRUPTED && ks.running) {
        c->interrupted_reports++;
        const migc_migration *m = &cat->migrations[ks.applied];
        char rwhy[256] = "";
        if (!check_report(cat, m, ks.done, &err, rwhy, sizeof rwhy)) {
            snprintf(why, sizeof why, "MIGC_EINTERRUPTED: %s", rwhy);
            print_error("the next start", rc, &err);
        }
        if (ks.done >= m->up.statement_count) {
            /* Every statement had completed: show what the report says. */
            c->after_last_statement++;
            printf("  %s: every statement of %s had completed; the report: "
                   "%s\n",
                   name, migc_catalog_text(cat, m->id), err.message);
        }
        char dropped[256];
        int ndropped = fl_drop_invalid_indexes(conn, dropped, sizeof dropped);
        if (ndropped < 0 && !why[0])
            snprintf(why, sizeof why, "cannot drop the invalid indexes");
        if (ndropped > 0)
            c->invalid_dropped += ndropped;
        migc_options opt = MIGC_OPTIONS_INIT;
        opt.flags = MIGC_RETRY_INTERRUPTED;
        migc_error err2;
        migc_result rc2 = migc_up(conn, cat, &opt, &err2);
        if (rc2 != MIGC_OK) {
            if (!why[0])
                snprintf(why, sizeof why, "the retry returned %d (%s)",
                         (int)rc2, migc_strerror(rc2));
            print_error("migc_up with MIGC_RETRY_INTERRUPTED", rc2, &err2);
        }
        snprintf(outcome, sizeof outcome,
                 "next start EINTERRUPTED at %s statement %u/%u; %s%s%s"
                 "retry OK (%.2f s)",
                 migc_catalog_text(cat, m->id), (unsigned)err.statement_index,
                 (unsigned)m->up.statement_count,
                 ndropped > 0 ? "dropped invalid " : "",
                 ndropped > 0 ? dropped : "", ndropped > 0 ? "; " : "",
                 fl_now() - t1);
    } else {
        snprintf(why, sizeof why, "the next start returned %d (%s)%s",
                 (int)rc, migc_strerror(rc),
                 ks.running ? " although a migration was left running" : "");
        print_error("the next start", rc, &err);
    }

    /* The end state: the uninterrupted reference. */
    if (!why[0]) {
        char *fp = fl_fingerprint(conn);
        char *hist = fl_history(conn);
        if (!fp || strcmp(fp, c->after[cat->count]) != 0) {
            snprintf(why, sizeof why, "the final schema or data differ from "
                     "the uninterrupted reference");
            fl_show_diff("the final database", fp, c->after[cat->count]);
        } else if (!hist || strcmp(hist, c->final_history) != 0) {
            snprintf(why, sizeof why, "the final history differs from the "
                     "uninterrupted reference");
            fl_show_diff("the final history", hist, c->final_history);
        }
        free(fp);
        free(hist);
        rc = migc_up(conn, cat, NULL, &err);
        if (rc != MIGC_OK && !why[0]) {
            snprintf(why, sizeof why, "a further start returned %d (%s)",
                     (int)rc, migc_strerror(rc));
            print_error("a further start", rc, &err);
        }
        if (PQtransactionStatus(conn) != PQTRANS_IDLE && !why[0])
            snprintf(why, sizeof why, "the connection was left in a "
                     "transaction");
    }

    c->run++;
    char state[64];
    if (ks.running)
        snprintf(
            state, sizeof state, "%zu applied, %s running %u/%u%s", ks.applied,
            migc_catalog_text(cat, cat->migrations[ks.applied].id), ks.done,
            (unsigned)cat->migrations[ks.applied].up.statement_count,
            inflight ? "+1" : "");
    else
        snprintf(state, sizeof state, "%zu applied", ks.applied);
    if (why[0]) {
        c->lost++;
        printf("  %s: kill at %6.1f ms%s: %s -> LOST: %s\n", name, killed_at,
               killed ? "" : " (child had finished)", state, why);
        th_check(false, __FILE__, __LINE__, name);
    } else {
        c->survived++;
        printf("  %s: kill at %6.1f ms%s: %s -> %s; total %.2f s\n", name,
               killed_at, killed ? "" : " (child had finished)", state,
               outcome, fl_now() - t_start);
        th_check(true, __FILE__, __LINE__, name);
    }
    PQfinish(conn);
    alarm(0);
}

/* ---- main -------------------------------------------------------------- */

static void run_category(category *c, PGconn *admin)
{
    double t0 = fl_now();
    th_case(c->fault);
    printf("\n== %s (%d trials)\n", c->fault, c->trials);
    build_references(c, admin);
    snprintf(c->dbname, sizeof c->dbname, "kill_%s", c->name);
    c->conninfo = pgfix_create_database(c->dbname);
    for (int t = 1; t <= c->trials; t++)
        run_trial(c, t, admin);
    fl_drop_database(admin, c->dbname);
    free(c->conninfo);
    c->seconds = fl_now() - t0;
    free_references(c);
}

static uint64_t choose_seed(void)
{
    const char *env = getenv("MIGC_FAULT_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    double t0 = fl_now();
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    uint64_t seed = choose_seed();
    rng = seed;
    printf("seed %llu (MIGC_FAULT_SEED=%llu repeats these kill times)\n",
           (unsigned long long)seed, (unsigned long long)seed);

    category cats[] = {
        {.name = "txn", .fault = "kill -9, transactional (a)",
         .cat = &faults_txn_catalog, .trials = 50, .quick_trials = 6,
         .max_window_ms = 300},
        {.name = "bulk", .fault = "kill -9, large transactional (b)",
         .cat = &faults_bulk_catalog, .trials = 30, .quick_trials = 3},
        {.name = "notxn", .fault = "kill -9, non-transactional (c)",
         .cat = &faults_notxn_catalog, .trials = 50, .quick_trials = 6},
    };
    size_t ncats = sizeof cats / sizeof cats[0];
    if (th_quick()) {
        printf("MIGC_TEST_QUICK=1: fewer trials\n");
        for (size_t k = 0; k < ncats; k++)
            cats[k].trials = cats[k].quick_trials;
    }
    /* Arguments pick categories (and optionally a trial count: txn=5). */
    if (argc > 1) {
        for (size_t k = 0; k < ncats; k++) {
            int trials = 0;
            for (int a = 1; a < argc; a++) {
                size_t n = strlen(cats[k].name);
                if (strncmp(argv[a], cats[k].name, n) == 0 &&
                    (argv[a][n] == '\0' || argv[a][n] == '='))
                    trials = argv[a][n] ? atoi(argv[a] + n + 1)
                                        : cats[k].trials;
            }
            cats[k].trials = trials;
        }
    }

    pgfix_start();
    PGconn *admin = fl_connect(pgfix_start());
    for (size_t k = 0; k < ncats; k++)
        if (cats[k].trials > 0)
            run_category(&cats[k], admin);
    PQfinish(admin);

    int trials = 0, survived = 0, lost = 0, interrupted = 0;
    printf("\nseed %llu\n", (unsigned long long)seed);
    printf("%-36s %7s %9s %5s %12s\n", "fault", "trials", "survived", "lost",
           "interrupted");
    for (size_t k = 0; k < ncats; k++) {
        category *c = &cats[k];
        if (!c->run)
            continue;
        printf("%-36s %7d %9d %5d %12d\n", c->fault, c->run, c->survived,
               c->lost, c->interrupted);
        interrupted += c->interrupted;
        trials += c->run;
        survived += c->survived;
        lost += c->lost;
    }
    printf("%-36s %7d %9d %5d %12d\n", "total", trials, survived, lost,
           interrupted);
    printf("(interrupted: the kill landed while migc_up was running; in the "
           "other trials the child had already finished)\n");
    printf("\n");
    for (size_t k = 0; k < ncats; k++) {
        category *c = &cats[k];
        if (!c->run)
            continue;
        printf("%s: %.1f s; window [0, %.0f) ms; child done before the kill "
               "%d; applied at the kill:",
               c->name, c->seconds, c->window_ms, c->finished_first);
        for (size_t i = 0; i <= c->cat->count && i < MAX_ROWS; i++)
            printf(" %zu:%d", i, c->applied_at_kill[i]);
        printf("\n");
        if (c->left_running)
            printf("  left running %d (cut-off statement had completed: %d); "
                   "EINTERRUPTED reports %d (after the last statement: %d); "
                   "invalid indexes dropped %d\n",
                   c->left_running, c->inflight_took_effect,
                   c->interrupted_reports, c->after_last_statement,
                   c->invalid_dropped);
    }
    printf("kill test: %.1f s in all\n", fl_now() - t0);
    return th_finish();
}
