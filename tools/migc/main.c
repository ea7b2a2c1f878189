/*
 * main.c -- the migc command line.
 *
 * migc compiles a folder of SQL migrations (golang-migrate, goose,
 * sql-migrate or dbmate format) into a C catalog that a service embeds, and
 * offers the checks and helpers around it.  This file only parses arguments
 * and dispatches to the commands; each command is a small function over the
 * pipeline (pipeline.h) and the emitter (emit.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <migc/version.h>

#include <migc/migc.h>

#include "emit.h"
#include "memcat.h"
#include "output.h"
#include "pipeline.h"
#include "util.h"

/* ---- usage ------------------------------------------------------------ */

static const char usage_text[] =
    "usage: migc <command> [options]\n"
    "\n"
    "Compiles a folder of PostgreSQL migrations (golang-migrate, goose,\n"
    "sql-migrate or dbmate format) into a C source file that embeds them.\n"
    "\n"
    "commands:\n"
    "  compile DIR -o OUT.c [--header OUT.h] [--name SYMBOL] [--depfile FILE]\n"
    "                 write the C catalog of the migrations in DIR\n"
    "  check DIR      run every check, write nothing\n"
    "  list DIR [--json]\n"
    "                 one line per migration: version, name, format,\n"
    "                 transaction mode, statements, up hash\n"
    "  new DIR NAME   create the next migration in the folder's style\n"
    "\n"
    "  up DIR [--to V]          apply pending migrations to a database\n"
    "  down DIR N | --all       revert the N newest applied migrations\n"
    "  status DIR [--json]      show every migration's state in a database\n"
    "  plan DIR [--json]        show what up would run, changing nothing\n"
    "  force DIR V              record the database as migrated to V\n"
    "                           (0: nothing applied) without running SQL\n"
    "  These take -d/--database URL-or-conninfo (default: DATABASE_URL,\n"
    "  else libpq's PG* environment); see migc up --help.\n"
    "\n"
    "options:\n"
    "  -h, --help     show help (also: migc COMMAND --help)\n"
    "  --version      show the version\n"
    "\n"
    "exit status:\n"
    "  0  success\n"
    "  1  errors in the migrations (reported as file:line:col: error: ...)\n"
    "  2  bad command line\n"
    "  3  I/O error (unreadable folder, unwritable output, out of memory,\n"
    "     unreachable database)\n"
    "  4  the database refused: a migration failed, or the history shows an\n"
    "     edited, missing or interrupted migration\n";

static const char compile_help[] =
    "usage: migc compile DIR -o OUT.c [--header OUT.h] [--name SYMBOL]\n"
    "                    [--depfile FILE] [-v]\n"
    "\n"
    "Checks the migrations in DIR and writes a C source file defining\n"
    "`const migc_catalog SYMBOL` (see <migc/catalog.h>).  The output is\n"
    "deterministic and is only replaced when its content changes; it is\n"
    "never left half-written.\n"
    "\n"
    "  -o, --output OUT.c   the C file to write (required)\n"
    "  --header OUT.h       also write a header declaring the catalog\n"
    "  --name SYMBOL        C name of the catalog (default: migc_migrations)\n"
    "  --depfile FILE       write Make-syntax dependencies of OUT.c\n"
    "  -v, --verbose        also print notes\n";

static const char check_help[] =
    "usage: migc check DIR [-v]\n"
    "\n"
    "Runs every check migc compile runs and writes nothing.  Prints\n"
    "diagnostics (notes too) and exits 0 when there are no errors, 1 when\n"
    "there are.\n";

static const char list_help[] =
    "usage: migc list DIR [--json]\n"
    "\n"
    "Prints one line per migration: version (or sql-migrate id), name,\n"
    "format, transaction mode of the up script (transaction, none,\n"
    "none-auto, as-written), number of up statements and the first 12 hex\n"
    "digits of the up script's SHA-256.  --json prints a JSON array with the\n"
    "full hashes and the down script too.\n";

static const char new_help[] =
    "usage: migc new DIR NAME\n"
    "\n"
    "Creates the next migration in DIR, following the folder's style: its\n"
    "format (golang-migrate up/down pair by default, the folder's\n"
    "single-file format otherwise) and its versions (sequential with the\n"
    "same width, or a UTC timestamp YYYYMMDDHHMMSS when the folder uses\n"
    "timestamps).  Creates DIR when it does not exist.  Prints the paths\n"
    "of the files it created.\n";

static const char database_help[] =
    "usage: migc up DIR [--to V] [options]\n"
    "       migc down DIR N | --all [options]\n"
    "       migc status DIR [--json] [options]\n"
    "       migc plan DIR [--json] [options]\n"
    "       migc force DIR V [options]\n"
    "\n"
    "Runs the runtime's engine on the migrations in DIR, compiled in memory:\n"
    "exactly what a service embedding them would do.\n"
    "\n"
    "  -d, --database DB       postgres:// URL or libpq key=value string\n"
    "                          (default: DATABASE_URL, else PG* variables)\n"
    "  --to V                  up: stop after version V\n"
    "  --all                   down: revert every applied migration\n"
    "  --json                  status, plan: JSON output\n"
    "  --grouped               up: apply all pending migrations in one\n"
    "                          transaction (a non-transactional one runs on\n"
    "                          its own between groups)\n"
    "  --retry                 up: resume an interrupted non-transactional\n"
    "                          migration at the statement that did not finish\n"
    "  --allow-missing         accept applied migrations missing from DIR\n"
    "  --allow-out-of-order    apply pending migrations older than applied ones\n"
    "  --schema S, --table T   the history table (default public.migc_history)\n"
    "  --lock-timeout MS       lock_timeout for each migration\n"
    "  --lock-retries N        try a migration that hit lock_timeout again,\n"
    "                          up to N times, waiting longer each time\n"
    "  --statement-timeout MS  statement_timeout for each migration\n";

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...)
{
    fputs("migc: error: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see migc --help)\n", stderr);
    return MC_EXIT_USAGE;
}

/* ---- argument parsing ------------------------------------------------- */

typedef struct args {
    const char *positional[3];
    int npositional;
    const char *output;
    const char *header;
    const char *name;
    const char *depfile;
    const char *database;
    const char *to;
    const char *schema;
    const char *table;
    const char *lock_timeout;
    const char *lock_retries;
    const char *statement_timeout;
    bool all;
    bool retry;
    bool grouped;
    bool allow_missing;
    bool allow_out_of_order;
    bool json;
    bool verbose;
    bool help;
    const char *command;
} args;

/* Matches --long=value / --long value / -s value.  Returns 1 when matched
 * (value stored), 0 when not this option, -1 on a missing value. */
static int option_value(int argc, char **argv, int *i, const char *shortopt,
                        const char *longopt, const char **value)
{
    const char *a = argv[*i];
    size_t ll = strlen(longopt);
    if (strncmp(a, longopt, ll) == 0 && a[ll] == '=') {
        *value = a + ll + 1;
        return 1;
    }
    if (strcmp(a, longopt) == 0 || (shortopt && strcmp(a, shortopt) == 0)) {
        if (*i + 1 >= argc)
            return -1;
        *value = argv[++*i];
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, int first, args *out)
{
    memset(out, 0, sizeof *out);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        struct {
            const char *s, *l;
            const char **dst;
        } valued[] = {
            {"-o", "--output", &out->output},
            {NULL, "--header", &out->header},
            {NULL, "--name", &out->name},
            {NULL, "--depfile", &out->depfile},
            {"-d", "--database", &out->database},
            {NULL, "--to", &out->to},
            {NULL, "--schema", &out->schema},
            {NULL, "--table", &out->table},
            {NULL, "--lock-timeout", &out->lock_timeout},
            {NULL, "--lock-retries", &out->lock_retries},
            {NULL, "--statement-timeout", &out->statement_timeout},
        };
        bool matched = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            int r = option_value(argc, argv, &i, valued[k].s, valued[k].l,
                                 valued[k].dst);
            if (r < 0)
                return usage_error("option %s needs a value", a);
            if (r > 0) {
                matched = true;
                break;
            }
        }
        if (matched)
            continue;
        if (strcmp(a, "--json") == 0)
            out->json = true;
        else if (strcmp(a, "--all") == 0)
            out->all = true;
        else if (strcmp(a, "--retry") == 0)
            out->retry = true;
        else if (strcmp(a, "--grouped") == 0)
            out->grouped = true;
        else if (strcmp(a, "--allow-missing") == 0)
            out->allow_missing = true;
        else if (strcmp(a, "--allow-out-of-order") == 0)
            out->allow_out_of_order = true;
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
            out->verbose = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            out->help = true;
        else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (out->npositional == 3)
                    return usage_error("unexpected argument %s", argv[i]);
                out->positional[out->npositional++] = argv[i];
            }
        } else if (a[0] == '-' && a[1] != '\0')
            return usage_error("unknown option %s", a);
        else if (out->npositional == 3)
            return usage_error("unexpected argument %s", a);
        else
            out->positional[out->npositional++] = a;
    }
    return MC_EXIT_OK;
}

/* Exit status after a folder run. */
static int status_of(const mc_diag *d, const mc_pipeline_result *r)
{
    if (r->io_error)
        return MC_EXIT_IO;
    return d->errors ? MC_EXIT_INPUT : MC_EXIT_OK;
}

static void init_diag(mc_diag *d, bool notes)
{
    memset(d, 0, sizeof *d);
    d->out = stderr;
    d->show_notes = notes;
}

/* Prints "N errors, M warnings" when there were any. */
static void summary(const mc_diag *d)
{
    if (d->errors || d->warnings)
        fprintf(stderr, "%u error%s, %u warning%s\n", d->errors,
                d->errors == 1 ? "" : "s", d->warnings,
                d->warnings == 1 ? "" : "s");
}

/* ---- compile ---------------------------------------------------------- */

static void emit_visit(void *ctx, const mc_migration *m)
{
    mc_emit_migration(ctx, m);
}

static void write_header(FILE *out, const void *symbol)
{
    mc_emit_header(out, symbol);
}

typedef struct depfile_args {
    const char *target;
    const mc_folder *folder;
} depfile_args;

static void write_depfile(FILE *out, const void *arg)
{
    const depfile_args *a = arg;
    mc_emit_depfile(out, a->target, a->folder);
}

static int cmd_compile(const args *a)
{
    if (a->help) {
        fputs(compile_help, stdout);
        return MC_EXIT_OK;
    }
    if (a->npositional != 1)
        return usage_error("%s", "compile takes one folder: migc compile DIR "
                                 "-o OUT.c");
    if (!a->output)
        return usage_error("%s", "compile needs an output file: -o OUT.c");
    const char *symbol = a->name ? a->name : "migc_migrations";
    if (!mc_is_c_identifier(symbol))
        return usage_error("--name %s is not a C identifier, or is one the "
                           "migc headers already declare", symbol);

    mc_diag d;
    init_diag(&d, a->verbose);
    mc_folder folder;
    mc_pipeline_result r;
    mc_pipeline_scan(a->positional[0], &folder, &d, &r);
    mc_output out = {0};
    mc_emitter em = {0};
    bool emitting = false;
    if (d.errors == 0) {
        if (mc_output_open(&out, a->output, &d) &&
            mc_emit_begin(&em, out.fp, symbol, &folder, &d))
            emitting = true;
        else
            r.io_error = true;
    }
    bool ok = mc_pipeline_load(&folder, &d, emitting ? emit_visit : NULL, &em,
                               &r);
    mc_output header = {0}, depfile = {0};
    if (ok && emitting) {
        /* Every output is written completely before any replaces its
         * target: a failed header never leaves a new .c behind. */
        ok = mc_emit_end(&em, &folder, r.chain, &d) &&
             mc_output_finish(&out, &d);
        if (ok && a->header) {
            ok = mc_output_open(&header, a->header, &d);
            if (ok) {
                write_header(header.fp, symbol);
                ok = mc_output_finish(&header, &d);
            }
        }
        if (ok && a->depfile) {
            ok = mc_output_open(&depfile, a->depfile, &d);
            if (ok) {
                depfile_args da = {a->output, &folder};
                write_depfile(depfile.fp, &da);
                ok = mc_output_finish(&depfile, &d);
            }
        }
        ok = ok && mc_output_commit(&out, NULL, &d) &&
             (!a->header || mc_output_commit(&header, NULL, &d)) &&
             (!a->depfile || mc_output_commit(&depfile, NULL, &d));
        if (!ok)
            r.io_error = true;
    } else {
        mc_emit_abort(&em);
    }
    mc_output_abort(&out);
    mc_output_abort(&header);
    mc_output_abort(&depfile);
    mc_folder_free(&folder);
    summary(&d);
    return status_of(&d, &r);
}

/* ---- check ------------------------------------------------------------ */

static int cmd_check(const args *a)
{
    if (a->help) {
        fputs(check_help, stdout);
        return MC_EXIT_OK;
    }
    if (a->npositional != 1)
        return usage_error("%s", "check takes one folder: migc check DIR");
    mc_diag d;
    init_diag(&d, true);
    mc_folder folder;
    mc_pipeline_result r;
    mc_pipeline_scan(a->positional[0], &folder, &d, &r);
    mc_pipeline_load(&folder, &d, NULL, NULL, &r);
    if (d.errors == 0 && !r.io_error && folder.count == 0)
        printf("%s: no migrations, ok\n", folder.dir);
    else if (d.errors == 0 && !r.io_error)
        printf("%s: %zu migration%s, %s format, ok\n", folder.dir,
               folder.count, folder.count == 1 ? "" : "s",
               mc_format_name(folder.format));
    mc_folder_free(&folder);
    summary(&d);
    return status_of(&d, &r);
}

/* ---- list ------------------------------------------------------------- */

static const char *mode_name(const mc_script *s)
{
    if (!s->present)
        return "-";
    switch (s->plan.mode) {
    case MIGC_TRANSACTION_SINGLE: return "transaction";
    case MIGC_TRANSACTION_NONE:
        return s->plan.auto_no_transaction ? "none-auto" : "none";
    case MIGC_TRANSACTION_AS_WRITTEN: return "as-written";
    }
    return "?";
}

typedef struct list_ctx {
    const mc_folder *folder;
    bool json;
    size_t id_width;   /* widths of the text columns */
    size_t name_width;
    mc_buf out;
    size_t count;
} list_ctx;

static void json_script(mc_buf *b, const mc_script *s)
{
    if (!s->present) {
        mc_buf_puts(b, "null");
        return;
    }
    char hex[2 * MIGC_SHA256_SIZE + 1];
    mc_hex(s->sha256, MIGC_SHA256_SIZE, hex);
    mc_buf_puts(b, "{\"file\": \"");
    mc_buf_json_string(b, s->catalog_path);
    mc_buf_printf(b, "\", \"transaction\": \"%s\", \"statements\": %zu, "
                     "\"sha256\": \"%s\"}",
                  mode_name(s), s->section->count, hex);
}

static void list_visit(void *ctx, const mc_migration *m)
{
    list_ctx *lc = ctx;
    mc_buf *b = &lc->out;
    const mc_entry *e = m->entry;
    const char *format = mc_format_name(lc->folder->format);
    char hex[2 * MIGC_SHA256_SIZE + 1];
    mc_hex(m->up.sha256, MIGC_SHA256_SIZE, hex);
    if (!lc->json) {
        mc_buf_printf(b, "%-*s  %-*s  %-14s  %-11s  %5zu  %.12s\n",
                      (int)lc->id_width,
                      lc->folder->format == MIGC_FORMAT_SQL_MIGRATE
                          ? e->id
                          : e->version_text,
                      (int)lc->name_width, e->title[0] ? e->title : "-",
                      format, mode_name(&m->up), m->up.section->count, hex);
    } else {
        char chain[2 * MIGC_SHA256_SIZE + 1];
        mc_hex(m->chain, MIGC_SHA256_SIZE, chain);
        mc_buf_puts(b, lc->count ? ",\n  {" : "\n  {");
        mc_buf_printf(b, "\"version\": %lld, \"id\": \"", (long long)e->version);
        mc_buf_json_string(b, e->id);
        mc_buf_puts(b, "\", \"name\": \"");
        mc_buf_json_string(b, e->title);
        mc_buf_printf(b, "\", \"format\": \"%s\", \"up\": ", format);
        json_script(b, &m->up);
        mc_buf_puts(b, ", \"down\": ");
        json_script(b, &m->down);
        mc_buf_printf(b, ", \"chain_sha256\": \"%s\"}", chain);
    }
    lc->count++;
}

static int cmd_list(const args *a)
{
    if (a->help) {
        fputs(list_help, stdout);
        return MC_EXIT_OK;
    }
    if (a->npositional != 1)
        return usage_error("%s", "list takes one folder: migc list DIR");
    mc_diag d;
    init_diag(&d, false);
    mc_folder folder;
    mc_pipeline_result r;
    mc_pipeline_scan(a->positional[0], &folder, &d, &r);
    list_ctx lc = {&folder, a->json, 7, 4, {0}, 0};
    for (size_t i = 0; i < folder.count; i++) {
        const mc_entry *e = &folder.entries[i];
        size_t w = strlen(folder.format == MIGC_FORMAT_SQL_MIGRATE
                              ? e->id
                              : e->version_text);
        if (w > lc.id_width)
            lc.id_width = w;
        if (strlen(e->title) > lc.name_width)
            lc.name_width = strlen(e->title);
    }
    if (!a->json)
        mc_buf_printf(&lc.out, "%-*s  %-*s  %-14s  %-11s  %5s  %s\n",
                      (int)lc.id_width, "VERSION", (int)lc.name_width, "NAME",
                      "FORMAT", "TRANSACTION", "STMTS", "UP-SHA256");
    else
        mc_buf_puts(&lc.out, "[");
    mc_pipeline_load(&folder, &d, list_visit, &lc, &r);
    if (a->json)
        mc_buf_puts(&lc.out, lc.count ? "\n]\n" : "]\n");
    /* Print the listing only when it is complete and correct. */
    if (d.errors == 0 && !r.io_error)
        fwrite(lc.out.data, 1, lc.out.len, stdout);
    mc_buf_free(&lc.out);
    mc_folder_free(&folder);
    summary(&d);
    return status_of(&d, &r);
}

/* ---- new -------------------------------------------------------------- */

/* A file name part made of the user's NAME: letters, digits, '_' and '-';
 * anything else becomes '_'. */
static char *sanitize_name(const char *name)
{
    char *s = mc_xstrdup(name);
    for (char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            *p = '_';
    }
    return s;
}

static bool looks_like_timestamp(const mc_entry *e)
{
    return strlen(e->version_text) == 14 && e->version >= 19700101000000LL;
}

/* The version text of the next migration. */
static char *next_version(const mc_folder *f)
{
    if (f->count == 0)
        return mc_xstrdup("000001");
    const mc_entry *last = &f->entries[f->count - 1];
    if (last->version == INT64_MAX)
        return NULL;
    if (looks_like_timestamp(last)) {
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y%m%d%H%M%S", &tm);
        long long v = atoll(now);
        if (v <= last->version)
            v = last->version + 1;
        return mc_xasprintf("%lld", v);
    }
    return mc_xasprintf("%0*lld", (int)strlen(last->version_text),
                        (long long)last->version + 1);
}

/* Creates path with content, refusing to overwrite.  Returns false after
 * printing an error. */
static bool create_new_file(const char *path, const char *content)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        fprintf(stderr, "%s: error: cannot create: %s\n", path,
                strerror(errno));
        return false;
    }
    size_t len = strlen(content);
    bool ok = write(fd, content, len) == (ssize_t)len;
    if (close(fd) != 0 || !ok) {
        fprintf(stderr, "%s: error: cannot write: %s\n", path,
                strerror(errno));
        unlink(path);
        return false;
    }
    printf("%s\n", path);
    return true;
}

static int cmd_new(const args *a)
{
    if (a->help) {
        fputs(new_help, stdout);
        return MC_EXIT_OK;
    }
    if (a->npositional != 2)
        return usage_error("%s", "new takes a folder and a name: migc new DIR "
                                 "NAME");
    const char *dir = a->positional[0];
    if (a->positional[1][0] == '\0')
        return usage_error("%s", "the migration name is empty");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: error: cannot create folder: %s\n", dir,
                strerror(errno));
        return MC_EXIT_IO;
    }
    mc_diag d;
    init_diag(&d, false);
    mc_folder folder;
    mc_pipeline_result r;
    if (!mc_pipeline_scan(dir, &folder, &d, &r)) {
        mc_folder_free(&folder);
        summary(&d);
        return status_of(&d, &r);
    }
    char *version = next_version(&folder);
    if (!version) {
        fprintf(stderr, "%s: error: the newest version is the largest a "
                        "version can be; no version can follow it\n",
                folder.dir);
        mc_folder_free(&folder);
        return MC_EXIT_INPUT;
    }
    char *name = sanitize_name(a->positional[1]);
    migc_format format = folder.format ? folder.format
                                       : MIGC_FORMAT_GOLANG_MIGRATE;
    char separator = '_';
    if (format == MIGC_FORMAT_SQL_MIGRATE) {
        separator = '-';
        if (folder.count) {
            const mc_entry *last = &folder.entries[folder.count - 1];
            char after = last->up_name[strlen(last->version_text)];
            if (after == '_' || after == '-')
                separator = after;
        }
    }
    bool ok;
    if (format == MIGC_FORMAT_GOLANG_MIGRATE) {
        char *up = mc_xasprintf("%s/%s_%s.up.sql", folder.dir, version, name);
        char *down = mc_xasprintf("%s/%s_%s.down.sql", folder.dir, version,
                                  name);
        ok = create_new_file(up, "") && create_new_file(down, "");
        free(up);
        free(down);
    } else {
        const char *body =
            format == MIGC_FORMAT_GOOSE ? "-- +goose Up\n\n-- +goose Down\n"
            : format == MIGC_FORMAT_SQL_MIGRATE
                ? "-- +migrate Up\n\n-- +migrate Down\n"
                : "-- migrate:up\n\n-- migrate:down\n";
        char *path = mc_xasprintf("%s/%s%c%s.sql", folder.dir, version,
                                  separator, name);
        ok = create_new_file(path, body);
        free(path);
    }
    free(version);
    free(name);
    mc_folder_free(&folder);
    return ok ? MC_EXIT_OK : MC_EXIT_IO;
}

/* ---- database commands ------------------------------------------------ */

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* Parses a non-negative integer argument; false when it is not one. */
static bool parse_count(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return false;
    *out = v;
    return true;
}

/* Like parse_count, for values that must fit in an int (milliseconds). */
static bool parse_int(const char *s, long long *out)
{
    return parse_count(s, out) && *out <= INT_MAX;
}

static int cmd_database(const args *a)
{
    if (a->help) {
        fputs(database_help, stdout);
        return MC_EXIT_OK;
    }
    const char *cmd = a->command;
    bool is_down = strcmp(cmd, "down") == 0, is_force = strcmp(cmd, "force") == 0;
    int want = (is_down && !a->all) || is_force ? 2 : 1;
    if (a->npositional != want)
        return usage_error("%s needs %s", cmd,
                           is_force  ? "a folder and a version"
                           : is_down ? "a folder and a count, or --all"
                                     : "one folder");
    long long number = 0, to = 0, lock_ms = 0, stmt_ms = 0, retries = 0;
    if (want == 2 && !parse_count(a->positional[1], &number))
        return usage_error("%s is not a number", a->positional[1]);
    if (a->to && !parse_count(a->to, &to))
        return usage_error("--to %s is not a version", a->to);
    if (want == 2 && is_down && number > INT_MAX)
        return usage_error("%s is too many migrations", a->positional[1]);
    if (a->lock_timeout && !parse_int(a->lock_timeout, &lock_ms))
        return usage_error("--lock-timeout %s is not a number", a->lock_timeout);
    if (a->lock_retries && !parse_int(a->lock_retries, &retries))
        return usage_error("--lock-retries %s is not a number", a->lock_retries);
    if (a->statement_timeout && !parse_int(a->statement_timeout, &stmt_ms))
        return usage_error("--statement-timeout %s is not a number",
                           a->statement_timeout);

    mc_diag d;
    init_diag(&d, false);
    bool io = false;
    migc_catalog *cat = mc_memcat_build(a->positional[0], &d, &io);
    if (!cat) {
        summary(&d);
        return io ? MC_EXIT_IO : MC_EXIT_INPUT;
    }
    const char *url = a->database ? a->database : getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url && *url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        char text[2048];
        migc_connection_error(conn, url, text, sizeof text);
        fprintf(stderr, "migc: error: cannot connect to the database: %s",
                text);
        PQfinish(conn);
        mc_memcat_free(cat);
        return MC_EXIT_IO;
    }
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.history_schema = a->schema;
    opt.history_table = a->table;
    opt.lock_timeout_ms = (int)lock_ms;
    opt.lock_retries = (int)retries;
    opt.statement_timeout_ms = (int)stmt_ms;
    opt.target_version = to;
    opt.log = log_line;
    if (a->retry)
        opt.flags |= MIGC_RETRY_INTERRUPTED;
    if (a->grouped)
        opt.flags |= MIGC_GROUPED;
    if (a->allow_missing)
        opt.flags |= MIGC_ALLOW_MISSING;
    if (a->allow_out_of_order)
        opt.flags |= MIGC_ALLOW_OUT_OF_ORDER;
    migc_output_format format = a->json ? MIGC_OUTPUT_JSON : MIGC_OUTPUT_TEXT;
    migc_error err;
    migc_result rc;
    if (strcmp(cmd, "up") == 0)
        rc = migc_up(conn, cat, &opt, &err);
    else if (is_down)
        rc = migc_down(conn, cat, &opt, a->all ? -1 : (int)number, &err);
    else if (strcmp(cmd, "status") == 0)
        rc = migc_print_status(conn, cat, &opt, stdout, format, &err);
    else if (strcmp(cmd, "plan") == 0)
        rc = migc_print_plan(conn, cat, &opt, stdout, format, &err);
    else
        rc = migc_force(conn, cat, &opt, number, &err);
    PQfinish(conn);
    if (rc != MIGC_OK) {
        /* Before the catalog goes: the error points into it. */
        char buf[8192];
        migc_format_error(&err, buf, sizeof buf);
        fputs(buf, stderr);
    }
    mc_memcat_free(cat);
    if (rc == MIGC_OK)
        return MC_EXIT_OK;
    if (rc == MIGC_ECONNECTION)
        return MC_EXIT_IO;
    if (rc == MIGC_EINVAL || rc == MIGC_ENOTFOUND)
        return MC_EXIT_USAGE;
    return MC_EXIT_DATABASE;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return MC_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(usage_text, stdout);
        return MC_EXIT_OK;
    }
    if (strcmp(command, "--version") == 0 || strcmp(command, "version") == 0) {
        printf("migc %s (catalog ABI %d)\n", MIGC_VERSION_STRING,
               MIGC_CATALOG_ABI);
        return MC_EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(const args *);
    } commands[] = {
        {"compile", cmd_compile},
        {"check", cmd_check},
        {"list", cmd_list},
        {"new", cmd_new},
        {"up", cmd_database},
        {"down", cmd_database},
        {"status", cmd_database},
        {"plan", cmd_database},
        {"force", cmd_database},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(command, commands[i].name) != 0)
            continue;
        args a;
        int rc = parse_args(argc, argv, 2, &a);
        if (rc != MC_EXIT_OK)
            return rc;
        a.command = command;
        return commands[i].run(&a);
    }
    return usage_error("unknown command %s", command);
}
