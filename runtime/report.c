/*
 * report.c -- status and plan: what the database has, what would run.
 *
 * Both are read-only: they read the history without taking the migration
 * lock and never create or change anything, so an operator can run
 * --print-schema-plan against production before a deploy.  The plan lists
 * every pending migration with its file, hash, transaction mode and
 * statements, and warns about statements that take strong locks or rewrite
 * tables.  Text is for people, JSON for tools.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- status ------------------------------------------------------------ */

static const char *state_name(migc_state s)
{
    switch (s) {
    case MIGC_STATE_APPLIED: return "applied";
    case MIGC_STATE_PENDING: return "pending";
    case MIGC_STATE_RUNNING: return "running";
    case MIGC_STATE_FAILED: return "failed";
    case MIGC_STATE_EDITED: return "edited";
    case MIGC_STATE_MISSING: return "missing";
    }
    return "?";
}

static void fill_from_row(migc_status_entry *e, const migc__row *r)
{
    migc__copy(e->applied_at, sizeof e->applied_at, r->applied_at);
    e->duration_ms = r->duration_ms;
    e->statements_done = r->done;
    e->statements_total = r->total;
    migc__copy(e->error, sizeof e->error, r->error);
}

migc_result migc_status(PGconn *conn, const migc_catalog *catalog,
                        const migc_options *options,
                        migc_status_report **report, migc_error *err)
{
    *report = NULL;
    migc__ctx ctx;
    migc_result rc = migc__ctx_init(&ctx, conn, catalog, options, true, err);
    migc__history h = {NULL, 0};
    bool missing_table = false;
    if (rc == MIGC_OK)
        rc = migc__history_read(&ctx, &h, &missing_table);
    if (rc == MIGC_OK)
        rc = migc__history_check_versions(&ctx, &h);
    migc_status_report *r = NULL;
    if (rc == MIGC_OK) {
        r = calloc(1, sizeof *r);
        size_t cap = catalog->count + h.count + 1;
        if (r)
            r->entries = calloc(cap, sizeof *r->entries);
        if (!r || !r->entries) {
            free(r);
            r = NULL;
            rc = migc__fail(&ctx, MIGC_EINVAL, "out of memory");
        }
    }
    if (rc == MIGC_OK) {
        size_t k = 0; /* next history row not in the catalog, by order */
        for (size_t i = 0; i <= catalog->count; i++) {
            const migc_migration *m = i < catalog->count ? &catalog->migrations[i]
                                                         : NULL;
            /* Rows the catalog lacks, in order before m. */
            for (; k < h.count; k++) {
                const migc__row *row = &h.rows[k];
                if (m && (row->version > m->version ||
                          (row->version == m->version &&
                           strcmp(row->id, migc__text(&ctx, m->id)) >= 0)))
                    break;
                if (migc__catalog_index(catalog, row->version, row->id) <
                    catalog->count)
                    continue;
                migc_status_entry *e = &r->entries[r->count++];
                e->version = row->version;
                migc__copy(e->id, sizeof e->id, row->id);
                migc__copy(e->name, sizeof e->name, row->name);
                e->state = MIGC_STATE_MISSING;
                fill_from_row(e, row);
                if (strcmp(row->state, "applied") == 0 &&
                    row->version > r->current_version)
                    r->current_version = row->version;
            }
            if (!m)
                break;
            migc_status_entry *e = &r->entries[r->count++];
            e->version = m->version;
            migc__copy(e->id, sizeof e->id, migc__text(&ctx, m->id));
            migc__copy(e->name, sizeof e->name, migc__text(&ctx, m->name));
            e->file = migc__text(&ctx, m->up.file);
            e->duration_ms = -1;
            e->statements_total = m->up.statement_count;
            const migc__row *row =
                migc__history_find(&h, m->version, migc__text(&ctx, m->id));
            if (!row) {
                e->state = MIGC_STATE_PENDING;
                r->pending++;
                continue;
            }
            fill_from_row(e, row);
            if (memcmp(row->up_sha256, m->up.sha256, MIGC_SHA256_SIZE) != 0)
                e->state = MIGC_STATE_EDITED;
            else if (strcmp(row->state, "failed") == 0)
                e->state = MIGC_STATE_FAILED;
            else if (strcmp(row->state, "applied") != 0)
                e->state = MIGC_STATE_RUNNING;
            else
                e->state = MIGC_STATE_APPLIED;
            if (strcmp(row->state, "applied") == 0 &&
                m->version > r->current_version)
                r->current_version = m->version;
        }
        *report = r;
    }
    migc__history_free(&h);
    migc__ctx_free(&ctx);
    return rc;
}

void migc_status_free(migc_status_report *report)
{
    if (!report)
        return;
    free(report->entries);
    free(report);
}

/* JSON string contents. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

migc_result migc_print_status(PGconn *conn, const migc_catalog *catalog,
                              const migc_options *options, FILE *out,
                              migc_output_format format, migc_error *err)
{
    migc_status_report *r;
    migc_result rc = migc_status(conn, catalog, options, &r, err);
    if (rc != MIGC_OK)
        return rc;
    if (format == MIGC_OUTPUT_JSON) {
        fprintf(out, "{\"current_version\": %lld, \"pending\": %zu, "
                     "\"migrations\": [",
                (long long)r->current_version, r->pending);
        for (size_t i = 0; i < r->count; i++) {
            const migc_status_entry *e = &r->entries[i];
            fprintf(out, "%s\n  {\"version\": %lld, \"id\": ", i ? "," : "",
                    (long long)e->version);
            json_str(out, e->id);
            fputs(", \"name\": ", out);
            json_str(out, e->name);
            fputs(", \"file\": ", out);
            if (e->file)
                json_str(out, e->file);
            else
                fputs("null", out);
            fprintf(out, ", \"state\": \"%s\", \"applied_at\": ",
                    state_name(e->state));
            if (e->applied_at[0])
                json_str(out, e->applied_at);
            else
                fputs("null", out);
            fprintf(out, ", \"duration_ms\": ");
            if (e->duration_ms >= 0)
                fprintf(out, "%lld", (long long)e->duration_ms);
            else
                fputs("null", out);
            fprintf(out, ", \"statements_done\": %u, \"statements_total\": %u, "
                         "\"error\": ",
                    (unsigned)e->statements_done, (unsigned)e->statements_total);
            if (e->error[0])
                json_str(out, e->error);
            else
                fputs("null", out);
            fputc('}', out);
        }
        fputs(r->count ? "\n]}\n" : "]}\n", out);
    } else {
        fprintf(out, "database at version %lld; %zu pending\n",
                (long long)r->current_version, r->pending);
        fprintf(out, "%-16s %-9s %-20s %9s  %-30s %s\n", "VERSION", "STATE",
                "APPLIED AT", "DURATION", "NAME", "FILE");
        for (size_t i = 0; i < r->count; i++) {
            const migc_status_entry *e = &r->entries[i];
            char dur[32] = "-";
            if (e->duration_ms >= 0)
                snprintf(dur, sizeof dur, "%lld ms", (long long)e->duration_ms);
            fprintf(out, "%-16s %-9s %-20s %9s  %-30s %s\n", e->id,
                    state_name(e->state),
                    e->applied_at[0] ? e->applied_at : "-", dur, e->name,
                    e->file ? e->file : "(not in this program)");
            if (e->state == MIGC_STATE_FAILED || e->state == MIGC_STATE_RUNNING)
                fprintf(out, "%16s statement %u of %u did not complete%s%s\n",
                        "", (unsigned)e->statements_done + 1,
                        (unsigned)e->statements_total, e->error[0] ? ": " : "",
                        e->error);
        }
    }
    migc_status_free(r);
    return MIGC_OK;
}

/* ---- plan -------------------------------------------------------------- */

/* The leading keywords of a statement, upper-cased, skipping comments and
 * the contents of strings, identifiers in quotes and dollar quotes. */
static size_t statement_words(const char *s, char words[][24], size_t max)
{
    size_t n = 0;
    const char *p = s;
    while (*p && n < max) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q)
                p++;
            if (*p)
                p++;
        } else if (*p == '$') {
            const char *e = strchr(p + 1, '$');
            if (e && e - p < 64 && !isdigit((unsigned char)p[1])) {
                size_t tl = (size_t)(e - p + 1);
                char tag[64];
                memcpy(tag, p, tl);
                tag[tl] = '\0';
                const char *close = strstr(e + 1, tag);
                p = close ? close + tl : p + strlen(p);
            } else {
                p++;
            }
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            size_t k = 0;
            while ((isalnum((unsigned char)*p) || *p == '_' || *p == '$') &&
                   k < 23)
                words[n][k++] = (char)toupper((unsigned char)*p++);
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '$')
                p++;
            words[n++][k] = '\0';
        } else {
            p++;
        }
    }
    return n;
}

/* Index of the first `w` at or after `from`, or n. */
static size_t find_word(char words[][24], size_t n, size_t from, const char *w)
{
    for (size_t i = from; i < n; i++)
        if (strcmp(words[i], w) == 0)
            return i;
    return n;
}

static bool has(char words[][24], size_t n, const char *w)
{
    return find_word(words, n, 0, w) < n;
}

/* A warning about locks or rewrites a statement causes, or NULL. */
static const char *lock_warning(const char *stmt)
{
    char w[64][24];
    size_t n = statement_words(stmt, w, 64);
    if (n == 0)
        return NULL;
    bool concurrently = has(w, n, "CONCURRENTLY");
    if (strcmp(w[0], "CREATE") == 0 && n > 1 &&
        (strcmp(w[1], "INDEX") == 0 ||
         (strcmp(w[1], "UNIQUE") == 0 && n > 2 && strcmp(w[2], "INDEX") == 0)))
        return concurrently ? NULL
                            : "CREATE INDEX blocks writes to the table while "
                              "it builds (SHARE lock); CREATE INDEX "
                              "CONCURRENTLY does not";
    if (strcmp(w[0], "ALTER") == 0 && n > 1 && strcmp(w[1], "TABLE") == 0) {
        /* ALTER [COLUMN] x [SET DATA] TYPE: an ALTER after ALTER TABLE */
        size_t alter = find_word(w, n, 2, "ALTER");
        if (alter < n && find_word(w, n, alter + 1, "TYPE") < n)
            return "ALTER TABLE ... ALTER COLUMN ... TYPE may rewrite the "
                   "whole table under an ACCESS EXCLUSIVE lock";
        if (has(w, n, "SET") && has(w, n, "NOT") && has(w, n, "NULL"))
            return "SET NOT NULL scans the whole table under an ACCESS "
                   "EXCLUSIVE lock";
        if (has(w, n, "ADD") && (has(w, n, "FOREIGN") || has(w, n, "CHECK")) &&
            !has(w, n, "VALID"))
            return "adding a FOREIGN KEY or CHECK constraint checks every row "
                   "while holding the lock; add it NOT VALID, then VALIDATE "
                   "CONSTRAINT";
        if (has(w, n, "DETACH") && concurrently)
            return NULL;
        return "ALTER TABLE takes an ACCESS EXCLUSIVE lock on the table: "
               "reads and writes wait until the transaction ends";
    }
    if (strcmp(w[0], "VACUUM") == 0 && has(w, n, "FULL"))
        return "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock";
    if (strcmp(w[0], "CLUSTER") == 0)
        return "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock";
    if (strcmp(w[0], "REINDEX") == 0 && !concurrently)
        return "REINDEX blocks writes while it rebuilds; REINDEX ... "
               "CONCURRENTLY does not";
    if (strcmp(w[0], "REFRESH") == 0 && !concurrently)
        return "REFRESH MATERIALIZED VIEW blocks reads of the view; "
               "REFRESH ... CONCURRENTLY does not";
    if (strcmp(w[0], "TRUNCATE") == 0 ||
        (strcmp(w[0], "DROP") == 0 && n > 1 && strcmp(w[1], "TABLE") == 0))
        return "takes an ACCESS EXCLUSIVE lock on the table";
    if (strcmp(w[0], "LOCK") == 0)
        return "locks the table explicitly";
    return NULL;
}

static const char *mode_text(const migc_script *s)
{
    switch (s->transaction) {
    case MIGC_TRANSACTION_SINGLE:
        return "transaction";
    case MIGC_TRANSACTION_NONE:
        return (s->flags & MIGC_SCRIPT_AUTO_NO_TRANSACTION) ? "none (automatic)"
                                                            : "none";
    case MIGC_TRANSACTION_AS_WRITTEN:
        return "as-written";
    }
    return "?";
}

static void plan_text_migration(FILE *out, const migc_catalog *cat,
                                const migc_migration *m)
{
    const migc_script *s = &m->up;
    char sha[2 * MIGC_SHA256_SIZE + 1];
    migc__hex(s->sha256, MIGC_SHA256_SIZE, sha);
    fprintf(out, "\n%s %s\n", migc_catalog_text(cat, m->id),
            migc_catalog_text(cat, m->name));
    fprintf(out, "  file:        %s\n  sha256:      %s\n",
            migc_catalog_text(cat, s->file), sha);
    fprintf(out, "  transaction: %s\n  statements:  %u\n", mode_text(s),
            (unsigned)s->statement_count);
    for (uint32_t i = 0; i < s->statement_count; i++) {
        const migc_statement *st = migc__statement(cat, s, i);
        const char *text = migc__statement_sql(cat, s, st);
        fprintf(out, "\n  -- statement %u, line %u%s\n", (unsigned)i + 1,
                (unsigned)st->line,
                (st->flags & MIGC_STMT_SKIP) ? " (absorbed wrapper, not sent)"
                                             : "");
        const char *warning = lock_warning(text);
        if (warning)
            fprintf(out, "  -- warning: %s\n", warning);
        fputs("  ", out);
        for (const char *p = text; *p; p++) {
            fputc(*p, out);
            if (*p == '\n')
                fputs("  ", out);
        }
        fputc('\n', out);
    }
}

static void plan_json_migration(FILE *out, const migc_catalog *cat,
                                const migc_migration *m, bool first)
{
    const migc_script *s = &m->up;
    char sha[2 * MIGC_SHA256_SIZE + 1];
    migc__hex(s->sha256, MIGC_SHA256_SIZE, sha);
    fprintf(out, "%s\n    {\"version\": %lld, \"id\": ", first ? "" : ",",
            (long long)m->version);
    json_str(out, migc_catalog_text(cat, m->id));
    fputs(", \"name\": ", out);
    json_str(out, migc_catalog_text(cat, m->name));
    fputs(", \"file\": ", out);
    json_str(out, migc_catalog_text(cat, s->file));
    fprintf(out, ", \"sha256\": \"%s\", \"transaction\": \"%s\", "
                 "\"statements\": [",
            sha, mode_text(s));
    for (uint32_t i = 0; i < s->statement_count; i++) {
        const migc_statement *st = migc__statement(cat, s, i);
        const char *text = migc__statement_sql(cat, s, st);
        const char *warning = lock_warning(text);
        fprintf(out, "%s\n      {\"line\": %u, \"column\": %u, \"sent\": %s, "
                     "\"sql\": ",
                i ? "," : "", (unsigned)st->line, (unsigned)st->column,
                (st->flags & MIGC_STMT_SKIP) ? "false" : "true");
        json_str(out, text);
        fputs(", \"warning\": ", out);
        if (warning)
            json_str(out, warning);
        else
            fputs("null", out);
        fputc('}', out);
    }
    fputs(s->statement_count ? "\n    ]}" : "]}", out);
}

migc_result migc_print_plan(PGconn *conn, const migc_catalog *catalog,
                            const migc_options *options, FILE *out,
                            migc_output_format format, migc_error *err)
{
    migc_status_report *r;
    migc_result rc = migc_status(conn, catalog, options, &r, err);
    if (rc != MIGC_OK)
        return rc;
    int64_t target = options && options->target_version
                         ? options->target_version
                         : (catalog->count
                                ? catalog->migrations[catalog->count - 1].version
                                : 0);
    size_t problems = 0, pending = 0;
    for (size_t i = 0; i < r->count; i++) {
        migc_state st = r->entries[i].state;
        if (st == MIGC_STATE_EDITED || st == MIGC_STATE_FAILED ||
            st == MIGC_STATE_RUNNING ||
            (st == MIGC_STATE_MISSING && r->entries[i].version <= target))
            problems++;
        if (st == MIGC_STATE_PENDING && r->entries[i].version <= target)
            pending++;
    }
    bool json = format == MIGC_OUTPUT_JSON;
    if (json) {
        fputs("{\"catalog\": ", out);
        json_str(out, catalog->directory);
        fprintf(out, ", \"current_version\": %lld, \"target_version\": %lld, "
                     "\"problems\": [",
                (long long)r->current_version, (long long)target);
    } else {
        fprintf(out, "schema plan for \"%s\" (%zu migration%s in this "
                     "program)\n",
                catalog->directory, catalog->count,
                catalog->count == 1 ? "" : "s");
        fprintf(out, "database: version %lld; target: version %lld; %zu "
                     "pending\n",
                (long long)r->current_version, (long long)target, pending);
    }
    size_t shown = 0;
    bool allow_old = options && (options->flags & MIGC_ALLOW_OUT_OF_ORDER);
    for (size_t i = 0; i < r->count; i++) {
        const migc_status_entry *e = &r->entries[i];
        bool out_of_order = e->state == MIGC_STATE_PENDING &&
                            e->version < r->current_version && !allow_old;
        if (!out_of_order &&
            (e->state == MIGC_STATE_PENDING || e->state == MIGC_STATE_APPLIED ||
             (e->state == MIGC_STATE_MISSING && e->version > target)))
            continue;
        char line[1024];
        if (out_of_order)
            snprintf(line, sizeof line,
                     "migration %s (%s) is pending but older than the applied "
                     "version %lld: up refuses it unless out-of-order "
                     "migrations are allowed",
                     e->id, e->file, (long long)r->current_version);
        else
            snprintf(line, sizeof line, "migration %s (%s) is %s%s%s", e->id,
                     e->file ? e->file : e->name, state_name(e->state),
                     e->error[0] ? ": " : "", e->error);
        if (json) {
            fputs(shown ? ", " : "", out);
            json_str(out, line);
        } else {
            fprintf(out, "problem: %s\n", line);
        }
        shown++;
    }
    if (json)
        fputs("], \"pending\": [", out);
    size_t k = 0;
    for (size_t i = 0; i < r->count; i++) {
        const migc_status_entry *e = &r->entries[i];
        if (e->state != MIGC_STATE_PENDING || e->version > target)
            continue;
        const migc_migration *m =
            &catalog->migrations[migc__catalog_index(catalog, e->version, e->id)];
        if (json)
            plan_json_migration(out, catalog, m, k == 0);
        else
            plan_text_migration(out, catalog, m);
        k++;
    }
    if (json)
        fputs(k ? "\n  ]}\n" : "]}\n", out);
    else if (pending == 0 && problems == 0)
        fputs("nothing to do\n", out);
    migc_status_free(r);
    return MIGC_OK;
}
