/*
 * topo.c -- processes, the cleanup guard, queries and herds for the
 * topology tests.  See topo.h.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* setgroups(), setsid() */
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw() */
#endif

#include "topo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgfixture.h"

enum { MAX_ITEMS = 32, LINE_MAX_LEN = 4200 };

/* ---- small helpers ------------------------------------------------------ */

static _Noreturn void topo_die(const char *what)
{
    fprintf(stderr, "topo: FATAL: %s: %s\n", what, strerror(errno));
    exit(1);
}

double topo_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void topo_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The OS user the servers run as (root only). */
static bool drop;
static uid_t pg_uid;
static gid_t pg_gid;

static void choose_user(void)
{
    if (geteuid() != 0)
        return;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        fprintf(stderr, "topo: FATAL: running as root and there is no "
                        "'postgres' OS user to run the servers as\n");
        exit(1);
    }
    drop = true;
    pg_uid = pw->pw_uid;
    pg_gid = pw->pw_gid;
}

static void become_server_user(void)
{
    if (drop && (setgroups(0, NULL) != 0 || setgid(pg_gid) != 0 ||
                 setuid(pg_uid) != 0)) {
        static const char msg[] = "topo child: cannot become postgres\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (access(dir, F_OK) == 0)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* pg_ctl of the fixture's installation. */
static void pg_ctl_path(char *out, size_t size)
{
    snprintf(out, size, "%s/pg_ctl", pgfix_bindir());
}

/* ---- the guard ---------------------------------------------------------- */

static int guard_fd = -1;
static pid_t main_pid;

/* What the test itself cleans up at exit, mirrored to the guard. */
static struct {
    pid_t pids[MAX_ITEMS];
    size_t npids;
    char *pgdata[MAX_ITEMS];
    size_t npgdata;
    char *dirs[MAX_ITEMS];
    size_t ndirs;
    bool registered;
} own;

static void guard_say(char kind, const char *text)
{
    if (guard_fd < 0 || getpid() != main_pid)
        return;
    char line[LINE_MAX_LEN];
    int n = snprintf(line, sizeof line, "%c %s\n", kind, text);
    if (n > 0 && (size_t)n < sizeof line && write(guard_fd, line, (size_t)n) < 0)
        fprintf(stderr, "topo: warning: the cleanup guard is gone\n");
}

/* In the guard: runs pg_ctl stop -m immediate on a data directory whose
 * server still runs. */
static void guard_stop_server(const char *pg_ctl, const char *datadir)
{
    char pidfile[LINE_MAX_LEN];
    snprintf(pidfile, sizeof pidfile, "%s/postmaster.pid", datadir);
    if (access(pidfile, F_OK) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        become_server_user();
        if (chdir("/tmp") != 0)
            _exit(127);
        const char *argv[] = {pg_ctl, "-D", datadir, "-m", "immediate",
                              "-w", "stop", NULL};
        execv(pg_ctl, (char *const *)argv);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static _Noreturn void guard_main(int fd, const char *pg_ctl)
{
    pid_t pids[MAX_ITEMS * 4];
    char *pgdata[MAX_ITEMS * 4];
    char *dirs[MAX_ITEMS * 4];
    size_t np = 0, nd = 0, nr = 0;
    FILE *in = fdopen(fd, "r");
    char line[LINE_MAX_LEN];
    while (in && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line) < 3)
            continue;
        const char *arg = line + 2;
        switch (line[0]) {
        case 'P':
            if (np < sizeof pids / sizeof pids[0])
                pids[np++] = (pid_t)atol(arg);
            break;
        case 'p':
            for (size_t i = 0; i < np; i++)
                if (pids[i] == (pid_t)atol(arg))
                    pids[i] = 0;
            break;
        case 'D':
            if (nd < sizeof pgdata / sizeof pgdata[0])
                pgdata[nd++] = strdup(arg);
            break;
        case 'R':
            if (nr < sizeof dirs / sizeof dirs[0])
                dirs[nr++] = strdup(arg);
            break;
        default:
            break;
        }
    }
    /* The test is gone: clean up what is left, newest first. */
    for (size_t i = np; i-- > 0;)
        if (pids[i] > 0 && alive(pids[i]))
            kill(pids[i], SIGTERM);
    for (int t = 0; t < 60; t++) {
        bool any = false;
        for (size_t i = 0; i < np; i++)
            any = any || (pids[i] > 0 && alive(pids[i]));
        if (!any)
            break;
        topo_sleep_ms(50);
    }
    for (size_t i = 0; i < np; i++)
        if (pids[i] > 0 && alive(pids[i]))
            kill(pids[i], SIGKILL);
    for (size_t i = nd; i-- > 0;)
        if (pgdata[i])
            guard_stop_server(pg_ctl, pgdata[i]);
    const char *keep = getenv("PGFIX_KEEP"); /* as the fixture does */
    for (size_t i = nr; i-- > 0;)
        if (dirs[i] && !(keep && strcmp(keep, "1") == 0))
            remove_tree(dirs[i]);
    _exit(0);
}

static void on_signal(int sig)
{
    /* The guard cleans up once this process is gone. */
    static const char alarm_msg[] =
        "topo: FATAL: the test's own time limit expired (a hang?): "
        "giving up; the guard stops the servers and removes the "
        "temporary directories\n";
    static const char other_msg[] =
        "topo: FATAL: interrupted by a signal: giving up; the guard stops "
        "the servers and removes the temporary directories\n";
    const char *msg = sig == SIGALRM ? alarm_msg : other_msg;
    size_t len = sig == SIGALRM ? sizeof alarm_msg - 1 : sizeof other_msg - 1;
    if (write(2, msg, len) < 0)
        _exit(128 + sig);
    _exit(128 + sig);
}

void topo_guard_start(void)
{
    choose_user();
    main_pid = getpid();
    char pg_ctl[4096];
    pg_ctl_path(pg_ctl, sizeof pg_ctl);
    int fds[2];
    if (pipe(fds) != 0)
        topo_die("pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        topo_die("fork");
    if (pid == 0) {
        close(fds[1]);
        if (fork() != 0)
            _exit(0); /* the guard is reparented: not our descendant */
        setsid();
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            dup2(null_fd, 1);
            dup2(null_fd, 2);
        }
        guard_main(fds[0], pg_ctl);
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    guard_fd = fds[1];
    fcntl(guard_fd, F_SETFD, FD_CLOEXEC);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void topo_child_after_fork(void)
{
    if (guard_fd >= 0)
        close(guard_fd);
    guard_fd = -1;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
}

static void topo_cleanup(void)
{
    if (getpid() != main_pid)
        return;
    for (size_t i = own.npids; i-- > 0;)
        if (own.pids[i] > 0)
            topo_stop(own.pids[i], 5);
    for (size_t i = own.npgdata; i-- > 0;) {
        if (!own.pgdata[i])
            continue;
        char pidfile[4200];
        snprintf(pidfile, sizeof pidfile, "%s/postmaster.pid", own.pgdata[i]);
        if (access(pidfile, F_OK) == 0 &&
            topo_pg_ctl_stop(own.pgdata[i], "fast", NULL) != 0)
            topo_pg_ctl_stop(own.pgdata[i], "immediate", NULL);
        free(own.pgdata[i]);
        own.pgdata[i] = NULL;
    }
    for (size_t i = own.ndirs; i-- > 0;) {
        if (!own.dirs[i])
            continue;
        if (getenv("PGFIX_KEEP") && strcmp(getenv("PGFIX_KEEP"), "1") == 0)
            fprintf(stderr, "topo: PGFIX_KEEP=1: left %s in place\n",
                    own.dirs[i]);
        else
            remove_tree(own.dirs[i]);
        free(own.dirs[i]);
        own.dirs[i] = NULL;
    }
}

/* The test's own cleanup runs at exit, before the fixture's (atexit runs
 * handlers in reverse order, and this is registered after pgfix_start). */
static void ensure_cleanup(void)
{
    if (own.registered)
        return;
    own.registered = true;
    atexit(topo_cleanup);
}

void topo_guard_fixture(void)
{
    const char *dir = pgfix_socket_dir();
    if (!dir)
        return;
    char data[4200];
    snprintf(data, sizeof data, "%s/data", dir);
    guard_say('R', dir);
    guard_say('D', data);
    ensure_cleanup();
}

/* ---- processes and directories ----------------------------------------- */

char *topo_make_temp_dir(const char *prefix)
{
    char *dir = malloc(strlen(prefix) + 16);
    if (!dir)
        topo_die("malloc");
    sprintf(dir, "/tmp/%s.XXXXXX", prefix);
    if (!mkdtemp(dir))
        topo_die("mkdtemp");
    if (drop && chown(dir, pg_uid, pg_gid) != 0)
        topo_die("chown");
    ensure_cleanup();
    guard_say('R', dir);
    if (own.ndirs < MAX_ITEMS) {
        own.dirs[own.ndirs] = strdup(dir);
        own.ndirs++;
    }
    return dir;
}

void topo_remove_dir(const char *dir)
{
    remove_tree(dir);
    for (size_t i = 0; i < own.ndirs; i++)
        if (own.dirs[i] && strcmp(own.dirs[i], dir) == 0) {
            free(own.dirs[i]);
            own.dirs[i] = NULL;
        }
}

pid_t topo_spawn(const char *const argv[], const char *log_path,
                 const char *cwd, bool guarded)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        topo_die("fork");
    if (pid == 0) {
        topo_child_after_fork();
        int null_fd = open("/dev/null", O_RDONLY);
        int log_fd = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND,
                                     0644)
                              : open("/dev/null", O_WRONLY);
        if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 ||
            dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(127);
        if (drop && log_path && fchown(log_fd, pg_uid, pg_gid) != 0)
            _exit(127);
        become_server_user();
        if (chdir(cwd ? cwd : "/tmp") != 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "topo child: cannot execute %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    if (guarded) {
        char text[32];
        snprintf(text, sizeof text, "%ld", (long)pid);
        ensure_cleanup();
        guard_say('P', text);
        if (own.npids < MAX_ITEMS)
            own.pids[own.npids++] = pid;
    }
    return pid;
}

static void forget_pid(pid_t pid)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", (long)pid);
    for (size_t i = 0; i < own.npids; i++)
        if (own.pids[i] == pid) {
            own.pids[i] = 0;
            guard_say('p', text);
        }
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

int topo_wait(pid_t pid, double timeout_s)
{
    double start = topo_now_s();
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            forget_pid(pid);
            return -1;
        }
        if (topo_now_s() - start > timeout_s) {
            fprintf(stderr, "topo: process %ld did not end within %.0f s: "
                            "killing it\n", (long)pid, timeout_s);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        topo_sleep_ms(10);
    }
    forget_pid(pid);
    return decode_status(status);
}

int topo_stop(pid_t pid, double grace_s)
{
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
        int status = 0;
        waitpid(pid, &status, WNOHANG);
        forget_pid(pid);
        return decode_status(status);
    }
    return topo_wait(pid, grace_s);
}

void topo_guard_pgdata(const char *datadir)
{
    ensure_cleanup();
    guard_say('D', datadir);
    if (own.npgdata < MAX_ITEMS)
        own.pgdata[own.npgdata++] = strdup(datadir);
}

void topo_guard_forget_pgdata(const char *datadir)
{
    for (size_t i = 0; i < own.npgdata; i++)
        if (own.pgdata[i] && strcmp(own.pgdata[i], datadir) == 0) {
            free(own.pgdata[i]);
            own.pgdata[i] = NULL;
        }
    /* The guard's stop is a no-op once postmaster.pid is gone. */
}

int topo_pg_ctl_stop(const char *datadir, const char *mode,
                     const char *log_path)
{
    char pg_ctl[4096];
    pg_ctl_path(pg_ctl, sizeof pg_ctl);
    const char *argv[] = {pg_ctl, "-D", datadir, "-m", mode, "-w",
                          "-t", "60", "stop", NULL};
    return topo_wait(topo_spawn(argv, log_path, "/tmp", false), 90);
}

int topo_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        topo_die("socket");
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        topo_die("bind");
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void topo_print_tail(const char *path, const char *label)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "    (cannot read %s)\n", path);
        return;
    }
    fprintf(stderr, "---- tail of %s (%s) ----\n", label, path);
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > 6000 && fseek(f, size - 6000, SEEK_SET) == 0) {
            int c;
            while ((c = getc(f)) != EOF && c != '\n')
                ;
        } else {
            rewind(f);
        }
    }
    int c;
    while ((c = getc(f)) != EOF)
        fputc(c, stderr);
    fprintf(stderr, "---- end of %s ----\n", label);
    fclose(f);
}

/* ---- queries ------------------------------------------------------------ */

PGconn *topo_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) == CONNECTION_OK)
        return conn;
    fprintf(stderr, "    cannot connect to \"%s\": %s", conninfo,
            PQerrorMessage(conn));
    PQfinish(conn);
    return NULL;
}

bool topo_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "    query failed: %s    in: %s\n",
                PQresultErrorMessage(res), sql);
    PQclear(res);
    return ok;
}

char *topo_query_text(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    char *out = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        PQnfields(res) >= 1)
        out = strdup(PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "    query failed (%d rows): %s    in: %s\n",
                PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1,
                PQresultErrorMessage(res), sql);
    PQclear(res);
    return out;
}

long long topo_query_int(PGconn *conn, const char *sql)
{
    char *text = topo_query_text(conn, sql);
    long long v = text ? atoll(text) : -1;
    free(text);
    return v;
}

/* ---- herds -------------------------------------------------------------- */

typedef struct record {
    int index;
    topo_member_report report;
} record;

static _Noreturn void member(int index, int go_fd, int out_fd,
                             topo_member_fn fn, void *arg, int alarm_s)
{
    topo_child_after_fork();
    alarm((unsigned)alarm_s);
    char c;
    ssize_t got;
    do
        got = read(go_fd, &c, 1);
    while (got < 0 && errno == EINTR);
    close(go_fd);
    if (got != 0)
        _exit(101);
    record r;
    memset(&r, 0, sizeof r);
    r.index = index;
    r.report.rc = -1;
    int status = fn(index, arg, &r.report);
    if (write(out_fd, &r, sizeof r) != (ssize_t)sizeof r)
        status = status ? status : 102;
    fflush(NULL);
    _exit(status);
}

void topo_herd_run(topo_herd *h, int n, topo_member_fn fn, void *arg,
                   int timeout_s)
{
    memset(h, 0, sizeof *h);
    if (n > TOPO_HERD_MAX)
        n = TOPO_HERD_MAX;
    h->n = n;
    int go[2], out[2];
    if (pipe(go) != 0 || pipe(out) != 0)
        topo_die("pipe");
    pid_t pids[TOPO_HERD_MAX];
    bool done[TOPO_HERD_MAX];
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        done[i] = false;
        h->status[i] = -1;
        pids[i] = fork();
        if (pids[i] < 0)
            topo_die("fork");
        if (pids[i] == 0) {
            close(go[1]);
            close(out[0]);
            member(i, go[0], out[1], fn, arg,
                   timeout_s > 10 ? timeout_s - 5 : timeout_s);
        }
    }
    close(go[0]);
    close(out[1]);
    double start = topo_now_s();
    close(go[1]); /* every member reads EOF at once */
    int remaining = n;
    while (remaining > 0 && topo_now_s() - start < timeout_s) {
        bool reaped = false;
        for (int i = 0; i < n; i++) {
            int status;
            if (done[i] || waitpid(pids[i], &status, WNOHANG) != pids[i])
                continue;
            done[i] = true;
            remaining--;
            reaped = true;
            h->status[i] = decode_status(status);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
                h->watchdog++;
                fprintf(stderr, "member %d (pid %ld) hung: killed by its "
                                "own watchdog after %d s\n",
                        i, (long)pids[i], timeout_s - 5);
            }
        }
        if (!reaped)
            topo_sleep_ms(5);
    }
    h->wall_s = topo_now_s() - start;
    for (int i = 0; i < n; i++) {
        if (done[i])
            continue;
        fprintf(stderr, "member %d (pid %ld) hung for more than %d s: "
                        "killing it\n", i, (long)pids[i], timeout_s);
        kill(pids[i], SIGKILL);
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
        h->status[i] = -1;
        h->hung++;
    }
    record r;
    ssize_t got;
    while ((got = read(out[0], &r, sizeof r)) == (ssize_t)sizeof r)
        if (r.index >= 0 && r.index < n) {
            h->report[r.index] = r.report;
            h->reported[r.index] = true;
        }
    close(out[0]);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void topo_herd_print(const topo_herd *h, const char *label)
{
    double up[TOPO_HERD_MAX], conn[TOPO_HERD_MAX];
    int k = 0, applied = 0, appliers = 0, notices = 0;
    for (int i = 0; i < h->n; i++) {
        if (!h->reported[i])
            continue;
        up[k] = h->report[i].up_ms;
        conn[k] = h->report[i].connect_ms;
        k++;
        applied += h->report[i].applied;
        appliers += h->report[i].applied > 0;
        notices += h->report[i].notices;
    }
    if (k == 0) {
        printf("%s: %d processes, %.2f s, no reports\n", label, h->n,
               h->wall_s);
        return;
    }
    qsort(up, (size_t)k, sizeof up[0], compare_double);
    qsort(conn, (size_t)k, sizeof conn[0], compare_double);
    printf("%s: %d processes in %.2f s; migc_up ms min/median/p90/max "
           "%.0f/%.0f/%.0f/%.0f; connect ms median/max %.0f/%.0f; "
           "%d migrations applied by %d process%s",
           label, h->n, h->wall_s, up[0], up[k / 2], up[(k * 9) / 10],
           up[k - 1], conn[k / 2], conn[k - 1], applied, appliers,
           appliers == 1 ? "" : "es");
    if (notices)
        printf("; %d server notices reached the connections' notice "
               "processors", notices);
    printf("\n");
    fflush(stdout);
}

void topo_count_applied(void *ctx, const char *line)
{
    if (strncmp(line, "migc: applied ", 14) == 0)
        ++*(int *)ctx;
}
