/*
 * pgfixture.c - a throwaway PostgreSQL cluster for one test process.
 *
 * This is the PostgreSQL side of migc's tests: it finds the server binaries,
 * runs "initdb -A trust -N" into a fresh directory under /tmp, starts the
 * server with pg_ctl on a Unix socket in that directory (no TCP), checks it
 * answers, and stops it and removes the directory at exit. initdb refuses to
 * run as root, so under root every child program runs as the "postgres" OS
 * user. Child programs are run with fork/execv, never through a shell of
 * ours; their output goes to a log in the directory, shown on failure.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* setgroups() */
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw() */
#endif

#include "pgfixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

enum { PATHLEN = 4096, TAIL_BYTES = 4096 };

#define SUPERUSER "postgres"   /* initdb -U: same name whoever runs it */
#define VERSIONS_DIR "/usr/lib/postgresql"

static char bindir[PATHLEN];   /* found once, kept across clusters */

static struct {
    pid_t owner;          /* process that made dir; 0 when no cluster */
    bool drop;            /* root: run children as the postgres user */
    uid_t uid;
    gid_t gid;
    char dir[32];         /* socket, logs and data/ live here */
    char data[64];
    char cmdlog[64];      /* output of initdb and pg_ctl */
    char serverlog[64];
    int cmdlog_fd;
    bool server_started;  /* pg_ctl start was run: stop any server at exit */
    char *conninfo;
} fx;

static bool keep_dir(void)
{
    const char *keep = getenv("PGFIX_KEEP");
    return keep && strcmp(keep, "1") == 0;
}

static _Noreturn void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("pgfix: FATAL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fx.owner == getpid() && !keep_dir())
        fprintf(stderr, "pgfix: (set PGFIX_KEEP=1 to keep %s)\n", fx.dir);
    exit(1);
}

/* Prints the last few KB of a log file to stderr. */
static void print_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pgfix: (cannot read %s: %s)\n", path, strerror(errno));
        return;
    }
    fprintf(stderr, "pgfix: ---- tail of %s ----\n", path);
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > TAIL_BYTES && fseek(f, size - TAIL_BYTES, SEEK_SET) == 0) {
            int c;
            while ((c = getc(f)) != EOF && c != '\n') /* skip partial line */
                ;
        } else {
            rewind(f);
        }
    }
    int c;
    while ((c = getc(f)) != EOF)
        fputc(c, stderr);
    fprintf(stderr, "pgfix: ---- end of %s ----\n", path);
    fclose(f);
}

/* In a forked child: report on the redirected stderr and leave without
 * running the parent's atexit handlers or flushing its stdio buffers. */
static _Noreturn void child_fail(const char *what, const char *arg)
{
    const char *parts[] = { "pgfix child: ", what, " ", arg, "\n" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
    _exit(127);
}

/* Forks and execs argv[0] (an absolute path) with stdin from /dev/null and
 * stdout and stderr to out_fd; when drop, as the postgres user in fx.dir.
 * Returns the child's pid, or -1 if fork failed. */
static pid_t spawn(const char *const argv[], int out_fd, bool drop)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
        dup2(null_fd, 0) < 0)
        child_fail("cannot redirect output for", argv[0]);
    if (drop && (setgroups(0, NULL) != 0 || setgid(fx.gid) != 0 ||
                 setuid(fx.uid) != 0))
        child_fail("cannot become user " SUPERUSER " to run", argv[0]);
    if (drop && chdir(fx.dir) != 0)
        child_fail("cannot chdir to", fx.dir);
    execv(argv[0], (char *const *)argv);
    child_fail("cannot execute", argv[0]);
}

/* Waits for a child; returns its exit status, 128+signal if it was
 * killed, or -1 if pid is -1 or waiting failed. */
static int wait_child(pid_t pid)
{
    int status;
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* Runs a server program (initdb, pg_ctl) with output to the command log. */
static int run_tool(const char *const argv[])
{
    return wait_child(spawn(argv, fx.cmdlog_fd, fx.drop));
}

static bool join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size;
}

static bool has_initdb(const char *dir)
{
    char path[PATHLEN];
    return join(path, sizeof path, dir, "initdb") && access(path, X_OK) == 0;
}

/* Finds an executable called name on PATH; writes its directory to out. */
static bool find_on_path(const char *name, char *out, size_t size)
{
    for (const char *p = getenv("PATH"); p && *p; p += p[0] == ':') {
        size_t len = strcspn(p, ":");
        int n = len ? snprintf(out, size, "%.*s", (int)len, p)
                    : snprintf(out, size, ".");   /* empty entry: cwd */
        char file[PATHLEN];
        if (n > 0 && (size_t)n < size && join(file, sizeof file, out, name) &&
            access(file, X_OK) == 0)
            return true;
        p += len;
    }
    return false;
}

/* `pg_config --bindir`, if pg_config is on PATH and initdb is there. */
static bool bindir_from_pg_config(char *out, size_t size)
{
    char dir[PATHLEN], exe[PATHLEN];
    int fds[2];
    if (!find_on_path("pg_config", dir, sizeof dir) ||
        !join(exe, sizeof exe, dir, "pg_config") || pipe(fds) != 0)
        return false;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    const char *argv[] = { exe, "--bindir", NULL };
    pid_t pid = spawn(argv, fds[1], false);
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size &&
           (n = read(fds[0], out + len, size - 1 - len)) != 0) {
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0)
            len += (size_t)n;
    }
    close(fds[0]);
    int status = wait_child(pid);
    while (len > 0 && strchr(" \t\r\n", out[len - 1]))
        len--;
    out[len] = '\0';
    return status == 0 && len > 0 && has_initdb(out);
}

/* The highest-version /usr/lib/postgresql/<version>/bin holding initdb. */
static bool bindir_from_versions(char *out, size_t size)
{
    DIR *d = opendir(VERSIONS_DIR);
    if (!d)
        return false;
    double best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        double version = strtod(e->d_name, &end);
        char dir[PATHLEN];
        int n = snprintf(dir, sizeof dir, VERSIONS_DIR "/%s/bin", e->d_name);
        if (end == e->d_name || *end != '\0' || version <= best ||
            n <= 0 || (size_t)n >= size || !has_initdb(dir))
            continue;
        best = version;
        memcpy(out, dir, (size_t)n + 1);
    }
    closedir(d);
    return best >= 0;
}

static void find_bindir(void)
{
    const char *env = getenv("PG_BINDIR");
    if (env && *env) {
        if (!has_initdb(env))
            die("PG_BINDIR=%s has no executable initdb", env);
        int n = snprintf(bindir, sizeof bindir, "%s", env);
        if (n < 0 || (size_t)n >= sizeof bindir)
            die("PG_BINDIR is too long");
        return;
    }
    if (bindir_from_pg_config(bindir, sizeof bindir) ||
        bindir_from_versions(bindir, sizeof bindir) ||
        (find_on_path("initdb", bindir, sizeof bindir) && has_initdb(bindir)))
        return;
    bindir[0] = '\0';
    die("no PostgreSQL server binaries found: PG_BINDIR is unset, "
        "`pg_config --bindir` has no initdb, no " VERSIONS_DIR
        "/*/bin/initdb, no initdb on PATH. Install the PostgreSQL server "
        "(e.g. apt-get install postgresql) or set PG_BINDIR");
}

static int port_number(void)
{
    const char *env = getenv("PGFIX_PORT");
    if (!env || !*env)
        return 5432;
    char *end;
    long port = strtol(env, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        die("PGFIX_PORT=%s is not a port number", env);
    return (int)port;
}

/* Root may not run initdb: pick the postgres OS user to run it as. */
static void choose_user(void)
{
    if (geteuid() != 0)
        return;
    errno = 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        die("running as root, and initdb refuses to run as root, but there "
            "is no 'postgres' OS user to run it as (%s); create one "
            "(useradd -r postgres) or run the tests as another user",
            errno ? strerror(errno) : "no such user");
    fx.drop = true;
    fx.uid = pw->pw_uid;
    fx.gid = pw->pw_gid;
}

static void make_dir(void)
{
    strcpy(fx.dir, "/tmp/pgfix.XXXXXX");
    if (!mkdtemp(fx.dir))
        die("mkdtemp(%s): %s", fx.dir, strerror(errno));
    fx.owner = getpid();
    if (fx.drop && chown(fx.dir, fx.uid, fx.gid) != 0)
        die("chown %s to postgres: %s", fx.dir, strerror(errno));
    snprintf(fx.data, sizeof fx.data, "%s/data", fx.dir);
    snprintf(fx.cmdlog, sizeof fx.cmdlog, "%s/commands.log", fx.dir);
    snprintf(fx.serverlog, sizeof fx.serverlog, "%s/server.log", fx.dir);
    fx.cmdlog_fd = open(fx.cmdlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                        0600);
    if (fx.cmdlog_fd < 0)
        die("cannot create %s: %s", fx.cmdlog, strerror(errno));
}

static void init_cluster(void)
{
    char initdb[PATHLEN + 16];
    join(initdb, sizeof initdb, bindir, "initdb");
    const char *argv[] = { initdb, "-D", fx.data, "-A", "trust", "-N",
                           "-U", SUPERUSER, "--no-locale", "-E", "UTF8", NULL };
    int status = run_tool(argv);
    if (status != 0) {
        print_tail(fx.cmdlog);
        die("initdb failed (status %d): %s -D %s", status, initdb, fx.data);
    }
}

static void start_server(int port)
{
    char pg_ctl[PATHLEN + 16], opts[128];
    join(pg_ctl, sizeof pg_ctl, bindir, "pg_ctl");
    /* pg_ctl hands -o to the server through /bin/sh, hence the quoting. */
    snprintf(opts, sizeof opts, "-k '%s' -p %d -F -c listen_addresses='' "
             "-c max_connections=200", fx.dir, port);
    const char *argv[] = { pg_ctl, "-D", fx.data, "-l", fx.serverlog, "-w",
                           "-t", "60", "-o", opts, "start", NULL };
    fx.server_started = true;
    int status = run_tool(argv);
    if (status != 0) {
        print_tail(fx.cmdlog);
        print_tail(fx.serverlog);
        die("PostgreSQL server did not start (pg_ctl status %d), see the "
            "logs above", status);
    }
}

/* True if c needs no quoting in a conninfo value. */
static bool plain(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("_-./", c);
}

/* A malloc'd conninfo string for dbname on the cluster. */
static char *make_conninfo(const char *dbname)
{
    size_t len = strlen(dbname);
    char *value = malloc(2 * len + 3);
    if (!value)
        die("out of memory");
    bool quote = len == 0;
    for (const char *s = dbname; *s; s++)
        quote = quote || !plain(*s);
    char *v = value;
    if (quote)
        *v++ = '\'';
    for (const char *s = dbname; *s; s++) {
        if (*s == '\'' || *s == '\\')
            *v++ = '\\';
        *v++ = *s;
    }
    if (quote)
        *v++ = '\'';
    *v = '\0';
#define CONNINFO "host=%s port=%d user=" SUPERUSER " dbname=%s"
    int port = port_number();
    int n = snprintf(NULL, 0, CONNINFO, fx.dir, port, value);
    char *out = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!out)
        die("out of memory");
    snprintf(out, (size_t)n + 1, CONNINFO, fx.dir, port, value);
    free(value);
    return out;
}

/* libpq's last error for conn without its trailing newline; malloc'd. */
static char *error_text(PGconn *conn)
{
    char *msg = strdup(PQerrorMessage(conn));
    if (!msg)
        die("out of memory");
    for (size_t len = strlen(msg); len > 0 && msg[len - 1] == '\n'; len--)
        msg[len - 1] = '\0';
    return msg;
}

static PGconn *connect_or_die(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        char *msg = error_text(conn);
        PQfinish(conn);
        print_tail(fx.serverlog);
        die("cannot connect to \"%s\": %s", conninfo, msg);
    }
    return conn;
}

static void check_server(void)
{
    PGconn *conn = connect_or_die(fx.conninfo);
    PGresult *res = PQexec(conn, "SELECT 1");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK &&
              PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    PQclear(res);
    if (!ok) {
        char *msg = error_text(conn);
        PQfinish(conn);
        print_tail(fx.serverlog);
        die("server at \"%s\" did not answer SELECT 1: %s", fx.conninfo,
            msg);
    }
    PQfinish(conn);
}

const char *pgfix_start(void)
{
    static bool registered;
    if (fx.conninfo)
        return fx.conninfo;
    if (!registered) {
        if (atexit(pgfix_stop) != 0)
            die("atexit failed");
        registered = true;
    }
    int port = port_number();
    pgfix_bindir();
    choose_user();
    make_dir();
    init_cluster();
    start_server(port);
    fx.conninfo = make_conninfo("postgres");
    check_server();
    return fx.conninfo;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "pgfix: warning: cannot remove %s: %s\n", path,
                strerror(errno));
    return 0;
}

void pgfix_stop(void)
{
    if (fx.owner == 0 || fx.owner != getpid())
        return;
    char pidfile[PATHLEN];
    if (fx.server_started &&
        join(pidfile, sizeof pidfile, fx.data, "postmaster.pid") &&
        access(pidfile, F_OK) == 0) {   /* else no server is running */
        char pg_ctl[PATHLEN + 16];
        join(pg_ctl, sizeof pg_ctl, bindir, "pg_ctl");
        const char *argv[] = { pg_ctl, "-D", fx.data, "-m", "immediate",
                               "-w", "stop", NULL };
        int status = run_tool(argv);
        if (status != 0) {
            print_tail(fx.cmdlog);
            fprintf(stderr, "pgfix: warning: pg_ctl stop failed (status %d);"
                    " a server may still run on %s\n", status, fx.data);
        }
    }
    close(fx.cmdlog_fd);
    if (keep_dir())
        fprintf(stderr, "pgfix: PGFIX_KEEP=1: left %s in place\n", fx.dir);
    else if (nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "pgfix: warning: cannot remove %s: %s\n", fx.dir,
                strerror(errno));
    free(fx.conninfo);
    memset(&fx, 0, sizeof fx);
}

char *pgfix_create_database(const char *name)
{
    PGconn *conn = connect_or_die(pgfix_start());
    char *ident = PQescapeIdentifier(conn, name, strlen(name));
    char *sql = NULL;
    if (ident) {
        sql = malloc(strlen(ident) + sizeof "CREATE DATABASE ");
        if (sql)
            snprintf(sql, strlen(ident) + sizeof "CREATE DATABASE ",
                     "CREATE DATABASE %s", ident);
    }
    PGresult *res = sql ? PQexec(conn, sql) : NULL;
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    char *msg = ok ? NULL : error_text(conn);
    PQclear(res);
    PQfreemem(ident);
    free(sql);
    PQfinish(conn);
    if (!ok)
        die("CREATE DATABASE \"%s\" failed: %s", name, msg);
    return make_conninfo(name);
}

const char *pgfix_bindir(void)
{
    if (!bindir[0])
        find_bindir();
    return bindir;
}

const char *pgfix_server_log(void)
{
    return fx.conninfo ? fx.serverlog : NULL;
}

const char *pgfix_socket_dir(void)
{
    return fx.conninfo ? fx.dir : NULL;
}
