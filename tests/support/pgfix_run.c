/*
 * pgfix_run.c -- runs a command against a throwaway PostgreSQL cluster.
 *
 * Shell tests need the same fixture as C tests: this starts a cluster
 * (pgfixture.c), exports how to reach it -- DATABASE_URL, PGHOST, PGPORT,
 * PGUSER, PGDATABASE, and PG_BINDIR for the matching psql and pg_dump,
 * PGFIX_SERVER_LOG for the server log -- runs the command, stops the
 * cluster and exits with the command's status.
 *
 * usage: pgfix_run COMMAND [ARG...]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgfixture.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pgfix_run COMMAND [ARG...]\n");
        return 2;
    }
    const char *conninfo = pgfix_start();
    setenv("DATABASE_URL", conninfo, 1);
    setenv("PGHOST", pgfix_socket_dir(), 1);
    const char *port = getenv("PGFIX_PORT");
    setenv("PGPORT", port ? port : "5432", 1);
    setenv("PGUSER", "postgres", 1);
    setenv("PGDATABASE", "postgres", 1);
    setenv("PG_BINDIR", pgfix_bindir(), 1);
    setenv("PGFIX_SERVER_LOG", pgfix_server_log(), 1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    fprintf(stderr, "pgfix_run: %s died of signal %d\n", argv[1],
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 1;
}
