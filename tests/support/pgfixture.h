/*
 * pgfixture.h - a throwaway PostgreSQL cluster for one test process.
 *
 * migc's tests must run against a real server, but must neither depend on
 * nor disturb any server already on the machine. In the manner of
 * PostgreSQL's own TAP tests, the fixture runs initdb into a fresh temporary
 * directory, starts a server that listens only on a Unix socket in that
 * directory, and removes it all at exit. It never skips: when PostgreSQL
 * cannot be found or started, the test process fails loudly (exit status 1).
 *
 * Environment: PG_BINDIR picks the server binaries; PGFIX_PORT the port
 * (default 5432; sockets are per directory, so parallel tests do not
 * collide); PGFIX_KEEP=1 leaves the directory in place for debugging.
 * Link with -lpq.
 */
#ifndef MIGC_TESTS_PGFIXTURE_H
#define MIGC_TESTS_PGFIXTURE_H

/*
 * Starts a fresh cluster for this process and returns a libpq connection
 * string for its "postgres" database, in key=value form
 * ("host=<socketdir> port=<port> user=postgres dbname=postgres").
 * The string is owned by the fixture and valid until pgfix_stop().
 * Calling it again returns the same cluster. Registers pgfix_stop() with
 * atexit(). On any failure prints why (with the server log tail when the
 * server did not start) and exits with status 1.
 */
const char *pgfix_start(void);

/*
 * Stops the cluster and removes its temporary directory (kept when
 * PGFIX_KEEP=1). Safe to call more than once, and a no-op in a forked child
 * of the process that started the cluster. A later pgfix_start() starts a
 * new cluster.
 */
void pgfix_stop(void);

/*
 * Creates an empty database called name (any name; it is quoted) on the
 * cluster, starting the cluster first if needed, and returns a connection
 * string for it. The string is malloc'd; the caller frees it. Exits with
 * status 1 on failure.
 */
char *pgfix_create_database(const char *name);

/*
 * The directory holding the server binaries in use (for example
 * /usr/lib/postgresql/15/bin), for tests that need pg_dump or psql of the
 * same version. Owned by the fixture; does not start a cluster. Exits with
 * status 1 when no PostgreSQL installation is found.
 */
const char *pgfix_bindir(void);

/*
 * The path of the running cluster's server log (where log_statement output
 * goes), and the directory of its Unix socket.  Owned by the fixture; NULL
 * when no cluster runs.
 */
const char *pgfix_server_log(void);
const char *pgfix_socket_dir(void);

#endif
