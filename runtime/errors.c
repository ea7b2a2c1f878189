/*
 * errors.c -- result codes, error details, and mapping the server's error
 * positions back to the migration file.
 *
 * PostgreSQL reports where in a statement an error is as a character
 * position (1-based, in characters, not bytes), either in the statement
 * itself or, for errors inside a function body, in an "internal query".
 * The catalog knows each statement's line and column in its file, so the
 * position becomes file:line:col, and migc_format_error prints it the way
 * migc's compiler prints its own diagnostics.
 */
#define _GNU_SOURCE /* vasprintf (POSIX.1-2024) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

const char *migc_strerror(migc_result code)
{
    switch (code) {
    case MIGC_OK: return "success";
    case MIGC_EINVAL: return "invalid argument";
    case MIGC_ECATALOG: return "invalid migration catalog";
    case MIGC_ECONNECTION: return "database connection failed";
    case MIGC_EREADONLY: return "database is read-only";
    case MIGC_ELOCKED: return "another process holds the migration lock";
    case MIGC_EHISTORY: return "migration history unreadable";
    case MIGC_EEDITED: return "an applied migration was edited";
    case MIGC_EMISSING: return "an applied migration is missing from the catalog";
    case MIGC_EOUTOFORDER: return "a pending migration is older than an applied one";
    case MIGC_EINTERRUPTED: return "a migration was interrupted";
    case MIGC_EMIGRATION: return "a migration failed";
    case MIGC_ENODOWN: return "a migration has no down script";
    case MIGC_ENOTFOUND: return "no such version in the catalog";
    case MIGC_EAHEAD: return "the database is ahead of this program";
    case MIGC_EPROTOCOL: return "unexpected reply from the server";
    }
    return "unknown error";
}

void migc__copy(char *dst, size_t size, const char *src)
{
    if (size == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void migc__hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void migc__sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

double migc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

char *migc__printf(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

void migc__log(migc__ctx *ctx, const char *fmt, ...)
{
    if (!ctx->opt.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->opt.log(ctx->opt.log_ctx, line);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void set_message(migc__ctx *ctx, migc_result code, const char *fmt,
                        va_list ap)
{
    migc_error *e = ctx->err;
    memset(e, 0, sizeof *e);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

migc_result migc__fail(migc__ctx *ctx, migc_result code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(ctx, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Copies a server message field, dropping a trailing newline. */
static void copy_field(char *dst, size_t size, const char *src)
{
    migc__copy(dst, size, src ? src : "");
    size_t n = strlen(dst);
    while (n > 0 && dst[n - 1] == '\n')
        dst[--n] = '\0';
}

migc_result migc__fail_server(migc__ctx *ctx, migc_result code,
                              const PGresult *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(ctx, code, fmt, ap);
    va_end(ap);
    migc_error *e = ctx->err;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                              : NULL;
    if (!primary)
        primary = res ? PQresultErrorMessage(res) : PQerrorMessage(ctx->conn);
    if (primary && *primary) {
        size_t n = strlen(e->message);
        if (n && n + 2 < sizeof e->message) {
            e->message[n++] = ':';
            e->message[n++] = ' ';
            e->message[n] = '\0';
        }
        copy_field(e->message + n, sizeof e->message - n, primary);
    }
    if (res) {
        copy_field(e->sqlstate, sizeof e->sqlstate,
                   PQresultErrorField(res, PG_DIAG_SQLSTATE));
        copy_field(e->detail, sizeof e->detail,
                   PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
        copy_field(e->hint, sizeof e->hint,
                   PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
    }
    /* The session ended under us: terminated by an administrator, a server
     * shutdown or crash, or a network failure (class 08). */
    if (migc__connection_lost(ctx->conn) ||
        strncmp(e->sqlstate, "57P0", 4) == 0 ||
        strncmp(e->sqlstate, "08", 2) == 0)
        e->code = MIGC_ECONNECTION;
    return e->code;
}

bool migc__connection_lost(PGconn *conn)
{
    return PQstatus(conn) != CONNECTION_OK;
}

/* Byte offset of the 1-based character position `chars` in text (clamped
 * to its length). */
static size_t char_to_byte(const char *text, long chars)
{
    size_t i = 0;
    long seen = 0;
    while (text[i] && seen < chars - 1) {
        i++;
        while (((unsigned char)text[i] & 0xC0) == 0x80)
            i++;
        seen++;
    }
    return i;
}

static long count_chars(const char *text, size_t bytes)
{
    long n = 0;
    for (size_t i = 0; i < bytes && text[i]; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Byte offset in `stmt` of the server's STATEMENT_POSITION, or -1. */
static long statement_offset(const char *stmt, const PGresult *res)
{
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION)
                          : NULL;
    return pos ? (long)char_to_byte(stmt, atol(pos)) : -1;
}

/* Byte offset in `stmt` of an error inside a function body, or -1: the
 * server reports it as a position in an "internal query", which is text
 * of the function's body -- found where the function was created. */
static long internal_offset(const char *stmt, const PGresult *res)
{
    const char *ipos = res ? PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION)
                           : NULL;
    const char *iquery = res ? PQresultErrorField(res, PG_DIAG_INTERNAL_QUERY)
                             : NULL;
    if (!ipos || !iquery || !*iquery)
        return -1;
    const char *found = strstr(stmt, iquery);
    if (!found)
        return -1;
    long base = count_chars(stmt, (size_t)(found - stmt));
    return (long)char_to_byte(stmt, base + atol(ipos));
}

/* Points e at statement i of s, `off` bytes into it (off < 0: its start). */
static void point_at(migc_error *e, const migc_catalog *cat,
                     const migc_script *s, uint32_t i, long off)
{
    const migc_statement *st = migc__statement(cat, s, i);
    const char *text = migc__statement_sql(cat, s, st);
    e->statement = text;
    e->statement_line = st->line;
    e->statement_column = st->column;
    e->line = st->line;
    e->column = st->column;
    for (long k = 0; k < off && text[k]; k++) {
        if (text[k] == '\n') {
            e->line++;
            e->column = 1;
        } else if (((unsigned char)text[k] & 0xC0) != 0x80) {
            e->column++;
        }
    }
}

void migc__locate(migc__ctx *ctx, const migc_migration *m,
                  const migc_script *s, uint32_t statement,
                  const PGresult *res)
{
    migc_error *e = ctx->err;
    e->version = m->version;
    migc__copy(e->id, sizeof e->id, migc__text(ctx, m->id));
    e->file = migc__text(ctx, s->file);
    if (statement >= s->statement_count)
        return;
    e->statement_index = statement + 1;
    const migc_catalog *cat = ctx->cat;
    const char *text =
        migc__statement_sql(cat, s, migc__statement(cat, s, statement));
    long off = statement_offset(text, res);
    if (off < 0)
        off = internal_offset(text, res);
    if (off >= 0 || !res) {
        point_at(e, cat, s, statement, off);
        return;
    }
    /* An error inside a function created by an earlier statement of this
     * script: point into that function's body. */
    for (uint32_t j = 0; j < s->statement_count; j++) {
        long in_body = internal_offset(
            migc__statement_sql(cat, s, migc__statement(cat, s, j)), res);
        if (in_body >= 0) {
            point_at(e, cat, s, j, in_body);
            return;
        }
    }
    point_at(e, cat, s, statement, -1);
}

/* Appends to a bounded buffer, counting what the full text needs. */
typedef struct sink {
    char *buf;
    size_t size;
    size_t len;
} sink;

static void put(sink *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->size ? s->size - s->len : 0;
    int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n;
}

/* Prints the file line the error is on (from the statement's text) and a
 * caret under the error's column. */
static void put_source_line(sink *s, const migc_error *e)
{
    const char *p = e->statement;
    uint32_t line = e->statement_line;
    while (line < e->line && *p) {
        if (*p++ == '\n')
            line++;
    }
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    /* On the statement's first line, text before it is not embedded: pad. */
    uint32_t first_col = e->line == e->statement_line ? e->statement_column : 1;
    put(s, "    %*s%.*s\n    ", (int)(first_col - 1), "", (int)n, p);
    uint32_t col = 1;
    for (; col < first_col && col < e->column; col++)
        put(s, " ");
    for (size_t i = 0; i < n && col < e->column; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c & 0xC0) == 0x80)
            continue;
        put(s, c == '\t' ? "\t" : " ");
        col++;
    }
    put(s, "^\n");
}

size_t migc_format_error(const migc_error *e, char *buf, size_t size)
{
    sink s = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    if (!e)
        return 0;
    if (e->file && e->line)
        put(&s, "%s:%u:%u: error: ", e->file, (unsigned)e->line,
            (unsigned)e->column);
    else if (e->file)
        put(&s, "%s: error: ", e->file);
    else
        put(&s, "migc: error: ");
    put(&s, "%s", e->message[0] ? e->message : migc_strerror(e->code));
    if (e->sqlstate[0])
        put(&s, " (SQLSTATE %s)", e->sqlstate);
    put(&s, "\n");
    if (e->detail[0])
        put(&s, "    detail: %s\n", e->detail);
    if (e->hint[0])
        put(&s, "    hint: %s\n", e->hint);
    if (e->statement && e->line)
        put_source_line(&s, e);
    return s.len;
}

/* ---- connection errors without passwords -------------------------------- */

#define MAX_SECRETS 6

typedef struct secrets {
    char *items[MAX_SECRETS];
    size_t count;
} secrets;

static void add_secret(secrets *s, const char *text, size_t n)
{
    if (n == 0 || s->count == MAX_SECRETS)
        return;
    char *copy = malloc(n + 1);
    if (!copy)
        return;
    memcpy(copy, text, n);
    copy[n] = '\0';
    s->items[s->count++] = copy;
}

int migc__hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The password of a postgres:// URL, raw and percent-decoded. */
static void url_password(secrets *s, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return;
    p += 3;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (!at || (slash && slash < at))
        return;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon)
        return;
    size_t n = (size_t)(at - colon - 1);
    add_secret(s, colon + 1, n);
    char decoded[512];
    size_t k = 0;
    for (const char *c = colon + 1; c < at && k + 1 < sizeof decoded; c++) {
        if (*c == '%' && c + 2 < at && migc__hex_digit(c[1]) >= 0 &&
            migc__hex_digit(c[2]) >= 0) {
            decoded[k++] =
                (char)(migc__hex_digit(c[1]) * 16 + migc__hex_digit(c[2]));
            c += 2;
        } else {
            decoded[k++] = *c;
        }
    }
    add_secret(s, decoded, k);
}

/* The value of "password = ..." in a key=value string (quoted or not). */
static void keyword_password(secrets *s, const char *info)
{
    for (const char *p = strstr(info, "password"); p;
         p = strstr(p + 1, "password")) {
        const char *v = p + strlen("password");
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        const char *e = v;
        if (*v == '\'') {
            v++;
            e = v;
            while (*e && *e != '\'')
                e += (*e == '\\' && e[1]) ? 2 : 1;
        } else {
            while (*e && *e != ' ' && *e != '\t')
                e++;
        }
        add_secret(s, v, (size_t)(e - v));
    }
}

size_t migc_connection_error(PGconn *conn, const char *conninfo, char *buf,
                             size_t size)
{
    secrets s = {{NULL}, 0};
    if (conninfo) {
        char *errmsg = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
            if (strcmp(o->keyword, "password") == 0 && o->val)
                add_secret(&s, o->val, strlen(o->val));
        PQconninfoFree(opts);
        PQfreemem(errmsg);
        url_password(&s, conninfo);
        keyword_password(&s, conninfo);
    }
    const char *env = getenv("PGPASSWORD");
    if (env)
        add_secret(&s, env, strlen(env));
    const char *msg = conn ? PQerrorMessage(conn) : "";
    sink out = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    for (const char *p = msg; *p;) {
        size_t hit = 0;
        for (size_t i = 0; i < s.count; i++) {
            size_t n = strlen(s.items[i]);
            if (n && strncmp(p, s.items[i], n) == 0 && n > hit)
                hit = n;
        }
        if (hit) {
            put(&out, "********");
            p += hit;
        } else {
            put(&out, "%c", *p++);
        }
    }
    for (size_t i = 0; i < s.count; i++)
        free(s.items[i]);
    return out.len;
}
