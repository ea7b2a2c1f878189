/*
 * split.c -- sections and statements of a migration file, the way psql and
 * the migration tools see them.  See split.h.
 */
#include "split.h"

#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "folder.h"
#include "lexer.h"
#include "util.h"

/* ---- annotations ------------------------------------------------------ */

typedef enum directive_kind {
    DIR_NONE,
    DIR_UP,
    DIR_DOWN,
    DIR_BLOCK_BEGIN,
    DIR_BLOCK_END,
    DIR_NO_TRANSACTION,   /* goose NO TRANSACTION, migc:no-transaction */
    DIR_UNSUPPORTED,      /* recognized, but migc cannot honour it */
    DIR_UNKNOWN           /* looks like an annotation, is none */
} directive_kind;

typedef struct directive {
    directive_kind kind;
    migc_format tool;       /* whose annotation; 0 for migc's own */
    bool no_transaction;    /* Up/Down option: notransaction, transaction:false */
    bool transaction_on;    /* dbmate transaction:true */
    const char *problem;    /* for DIR_UNKNOWN / DIR_UNSUPPORTED / bad options */
} directive;

/* Splits s[0..n) into whitespace-separated words. */
typedef struct wordlist {
    size_t count;
    const char *w[8];
    size_t n[8];
} wordlist;

static void split_words(const char *s, size_t n, wordlist *out)
{
    out->count = 0;
    size_t i = 0;
    while (i < n && out->count < 8) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t b = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (i > b) {
            out->w[out->count] = s + b;
            out->n[out->count] = i - b;
            out->count++;
        }
    }
}

static bool word_is(const wordlist *wl, size_t i, const char *lower)
{
    return i < wl->count && mc_word_eq(wl->w[i], wl->n[i], lower);
}

static bool starts_with_ci(const char *s, size_t n, const char *lower)
{
    size_t k = strlen(lower);
    return n >= k && mc_word_eq(s, k, lower);
}

static void parse_goose(const wordlist *wl, directive *dir)
{
    dir->tool = MIGC_FORMAT_GOOSE;
    if (wl->count == 2 && word_is(wl, 1, "up"))
        dir->kind = DIR_UP;
    else if (wl->count == 2 && word_is(wl, 1, "down"))
        dir->kind = DIR_DOWN;
    else if (wl->count == 2 && word_is(wl, 1, "statementbegin"))
        dir->kind = DIR_BLOCK_BEGIN;
    else if (wl->count == 2 && word_is(wl, 1, "statementend"))
        dir->kind = DIR_BLOCK_END;
    else if (wl->count == 3 && word_is(wl, 1, "no") && word_is(wl, 2, "transaction"))
        dir->kind = DIR_NO_TRANSACTION;
    else if (word_is(wl, 1, "envsub")) {
        dir->kind = DIR_UNSUPPORTED;
        dir->problem = "goose ENVSUB is not supported: migc embeds the SQL "
                       "at build time and hashes it, so it cannot substitute "
                       "environment variables at run time";
    } else {
        dir->kind = DIR_UNKNOWN;
        dir->problem = "unknown goose annotation (expected Up, Down, "
                       "StatementBegin, StatementEnd or NO TRANSACTION)";
    }
}

/* True when word i is exactly `word` (case-sensitive). */
static bool word_exact(const wordlist *wl, size_t i, const char *word)
{
    return i < wl->count && wl->n[i] == strlen(word) &&
           memcmp(wl->w[i], word, wl->n[i]) == 0;
}

/* sql-migrate matches "-- +migrate " and its commands case-sensitively and
 * takes anything else for a comment.  A near miss ("-- +migrate down") is
 * an error here: sql-migrate would silently run what follows as part of
 * the previous section. */
static void parse_sql_migrate(const char *raw, const wordlist *wl,
                              directive *dir)
{
    dir->tool = MIGC_FORMAT_SQL_MIGRATE;
    static const char near_miss[] =
        "sql-migrate reads annotations only when written exactly (\"-- "
        "+migrate Up\", \"Down\", \"StatementBegin\", \"StatementEnd\", "
        "option \"notransaction\"): it would take this line for a comment";
    bool exact_prefix = strncmp(raw, "-- +migrate ", 12) == 0;
    if (word_is(wl, 1, "up") || word_is(wl, 1, "down")) {
        dir->kind = word_is(wl, 1, "up") ? DIR_UP : DIR_DOWN;
        if (!exact_prefix || !(word_exact(wl, 1, "Up") ||
                               word_exact(wl, 1, "Down")))
            dir->problem = near_miss;
        for (size_t i = 2; i < wl->count; i++) {
            if (word_exact(wl, i, "notransaction")) {
                dir->no_transaction = true;
            } else if (word_is(wl, i, "notransaction")) {
                dir->problem = near_miss;
            } else {
                dir->kind = DIR_UNKNOWN;
                dir->problem = "unknown sql-migrate option (the only option "
                               "is notransaction)";
            }
        }
    } else if (wl->count == 2 && (word_is(wl, 1, "statementbegin") ||
                                  word_is(wl, 1, "statementend"))) {
        bool begin = word_is(wl, 1, "statementbegin");
        dir->kind = begin ? DIR_BLOCK_BEGIN : DIR_BLOCK_END;
        if (!exact_prefix ||
            !word_exact(wl, 1, begin ? "StatementBegin" : "StatementEnd"))
            dir->problem = near_miss;
    } else {
        dir->kind = DIR_UNKNOWN;
        dir->problem = "unknown sql-migrate annotation (expected Up, Down, "
                       "StatementBegin or StatementEnd)";
    }
    if (dir->problem && dir->kind != DIR_UNKNOWN)
        dir->kind = DIR_UNKNOWN;
}

/* dbmate recognizes "-- migrate:up" and "-- migrate:down" followed by
 * blanks or options, and only "transaction:false"/"true" in lower case;
 * any other "-- migrate:..." line is a comment to it. */
static void parse_dbmate(const char *s, size_t n, directive *dir)
{
    dir->tool = MIGC_FORMAT_DBMATE;
    size_t skip;
    if (n >= 10 && memcmp(s, "migrate:up", 10) == 0 &&
        (n == 10 || s[10] == ' ' || s[10] == '\t')) {
        dir->kind = DIR_UP;
        skip = 10;
    } else if (n >= 12 && memcmp(s, "migrate:down", 12) == 0 &&
               (n == 12 || s[12] == ' ' || s[12] == '\t')) {
        dir->kind = DIR_DOWN;
        skip = 12;
    } else {
        dir->kind = DIR_NONE; /* "-- migrate: a note" is a comment */
        dir->tool = 0;
        return;
    }
    wordlist wl;
    split_words(s + skip, n - skip, &wl);
    for (size_t i = 0; i < wl.count; i++) {
        if (word_exact(&wl, i, "transaction:false")) {
            dir->no_transaction = true;
        } else if (word_exact(&wl, i, "transaction:true")) {
            dir->transaction_on = true;
        } else {
            dir->kind = DIR_UNKNOWN;
            dir->problem = word_is(&wl, i, "transaction:false") ||
                                   word_is(&wl, i, "transaction:true")
                               ? "dbmate reads transaction:false and "
                                 "transaction:true only in lower case: it "
                                 "would ignore this option"
                               : "unknown dbmate option (expected "
                                 "transaction:false or transaction:true)";
        }
    }
}

/* Recognizes an annotation in the line comment s[0..n) (starting with
 * "--"). */
static directive parse_directive(const char *s, size_t n)
{
    directive dir = {DIR_NONE, 0, false, false, NULL};
    const char *raw = s;
    s += 2;
    n -= 2;
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    wordlist wl;
    split_words(s, n, &wl);
    if (wl.count == 0)
        return dir;
    if (word_is(&wl, 0, "+goose"))
        parse_goose(&wl, &dir);
    else if (word_is(&wl, 0, "+migrate"))
        parse_sql_migrate(raw, &wl, &dir);
    else if (n >= 8 && memcmp(s, "migrate:", 8) == 0)
        parse_dbmate(s, n, &dir);
    else if (starts_with_ci(s, n, "migc:")) {
        if (wl.count == 1 && word_is(&wl, 0, "migc:no-transaction")) {
            dir.kind = DIR_NO_TRANSACTION;
        } else {
            dir.kind = DIR_UNKNOWN;
            dir.problem = "unknown migc annotation (the only one is "
                          "-- migc:no-transaction)";
        }
    }
    return dir;
}

/* The Up annotation of a single-file format, as users write it. */
static const char *up_annotation(migc_format format)
{
    switch (format) {
    case MIGC_FORMAT_GOOSE: return "-- +goose Up";
    case MIGC_FORMAT_SQL_MIGRATE: return "-- +migrate Up";
    case MIGC_FORMAT_DBMATE: return "-- migrate:up";
    case MIGC_FORMAT_GOLANG_MIGRATE: break;
    }
    return "";
}

const char *mc_no_transaction_directive(migc_format format, bool down)
{
    switch (format) {
    case MIGC_FORMAT_GOOSE: return "-- +goose NO TRANSACTION";
    case MIGC_FORMAT_SQL_MIGRATE:
        return down ? "-- +migrate Down notransaction"
                    : "-- +migrate Up notransaction";
    case MIGC_FORMAT_DBMATE:
        return down ? "-- migrate:down transaction:false"
                    : "-- migrate:up transaction:false";
    case MIGC_FORMAT_GOLANG_MIGRATE: break;
    }
    return "-- migc:no-transaction";
}

/* ---- the splitter ----------------------------------------------------- */

typedef struct splitter {
    const char *path;
    const char *text;
    size_t len;
    migc_format format;
    mc_diag *diag;
    mc_split *out;
    mc_lexer lx;
    mc_position pos;
    bool ok;

    mc_section *cur;          /* NULL before the Up annotation */
    bool seen_up;
    bool seen_down;
    bool reported_orphan_sql; /* SQL before the Up annotation, reported once */
    bool in_block;            /* inside StatementBegin ... StatementEnd */
    size_t block_at;

    /* The statement being read. */
    bool open;
    size_t st_start;
    size_t st_last;           /* end of its last significant token */
    bool st_semicolon;        /* that token was ';' */
    int paren_depth;
    int begin_depth;
    unsigned ident_count;
    char idents[4];
} splitter;

static void error_at(splitter *sp, size_t offset, const char *msg)
{
    mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len, offset, "%s",
               msg);
    sp->ok = false;
}

static void section_push(mc_section *sec, const mc_stmt *st)
{
    if (sec->count == sec->cap) {
        sec->cap = sec->cap ? sec->cap * 2 : 16;
        sec->stmts = mc_xrealloc(sec->stmts, sec->cap * sizeof *sec->stmts);
    }
    sec->stmts[sec->count++] = *st;
}

/* Skips the inline data after COPY ... FROM stdin: from the end of the
 * statement's line up to and including the psql terminator line "\.". */
static void skip_copy_data(splitter *sp, size_t stmt_end)
{
    const char *p = memchr(sp->text + stmt_end, '\n', sp->len - stmt_end);
    while (p) {
        const char *line = p + 1;
        size_t rest = (size_t)(sp->text + sp->len - line);
        if (rest >= 2 && line[0] == '\\' && line[1] == '.' &&
            (rest == 2 || line[2] == '\n')) {
            mc_lexer_seek(&sp->lx, (size_t)(line - sp->text) + 2);
            return;
        }
        p = memchr(line, '\n', rest);
    }
    mc_lexer_seek(&sp->lx, sp->len);
}

static void close_statement(splitter *sp)
{
    if (!sp->open)
        return;
    sp->open = false;
    sp->paren_depth = 0;
    sp->begin_depth = 0;
    sp->ident_count = 0;
    mc_stmt st;
    st.start = sp->st_start;
    st.end = sp->st_last;
    mc_position_advance(&sp->pos, st.start);
    st.line = sp->pos.line;
    st.column = sp->pos.column;
    st.flags = mc_classify(sp->text, sp->len, st.start, st.end, &st.what);
    if (!sp->st_semicolon)
        st.flags |= MIGC_STMT_UNTERMINATED;
    if (st.flags & MC_CLASS_COPY_STDIN) {
        error_at(sp, st.start,
                 "COPY ... FROM stdin reads inline data that only psql can "
                 "send; load the rows with INSERT statements, or COPY from a "
                 "file on the server");
        skip_copy_data(sp, st.end);
    } else if (st.flags & MC_CLASS_COPY_STDOUT) {
        error_at(sp, st.start,
                 "COPY ... TO STDOUT writes rows to the client, and a "
                 "migration has no client to read them");
    }
    if (sp->cur)
        section_push(sp->cur, &st);
}

/* psql's heuristic for SQL-standard function bodies (psqlscan.l): inside
 * CREATE [OR REPLACE] FUNCTION|PROCEDURE at parenthesis depth 0, BEGIN
 * opens a block (and CASE, within one) that END closes; semicolons inside do
 * not end the statement. */
static void track_identifier(splitter *sp, const char *word, size_t n)
{
    if (sp->ident_count == 0)
        memset(sp->idents, 0, sizeof sp->idents);
    if (mc_word_eq(word, n, "create") || mc_word_eq(word, n, "function") ||
        mc_word_eq(word, n, "procedure") || mc_word_eq(word, n, "or") ||
        mc_word_eq(word, n, "replace")) {
        if (sp->ident_count < sizeof sp->idents)
            sp->idents[sp->ident_count] = (char)(word[0] | 0x20);
    }
    sp->ident_count++;
    const char *id = sp->idents;
    bool in_routine =
        id[0] == 'c' &&
        (id[1] == 'f' || id[1] == 'p' ||
         (id[1] == 'o' && id[2] == 'r' && (id[3] == 'f' || id[3] == 'p')));
    if (!in_routine || sp->paren_depth != 0)
        return;
    if (mc_word_eq(word, n, "begin"))
        sp->begin_depth++;
    else if (mc_word_eq(word, n, "case")) {
        if (sp->begin_depth >= 1)
            sp->begin_depth++;
    } else if (mc_word_eq(word, n, "end")) {
        if (sp->begin_depth > 0)
            sp->begin_depth--;
    }
}

/* Offset of the start of the line containing offset. */
static size_t line_start(const char *text, size_t offset)
{
    while (offset > 0 && text[offset - 1] != '\n')
        offset--;
    return offset;
}

static bool only_blanks_before(const char *text, size_t offset)
{
    size_t b = line_start(text, offset);
    for (size_t i = b; i < offset; i++)
        if (text[i] != ' ' && text[i] != '\t')
            return false;
    return true;
}

static void end_block_if_open(splitter *sp)
{
    if (!sp->in_block)
        return;
    sp->in_block = false;
    error_at(sp, sp->block_at,
             "StatementBegin has no matching StatementEnd in this section");
}

static void begin_section(splitter *sp, mc_section *sec, size_t at)
{
    sec->present = true;
    sec->start = at;
    mc_position_advance(&sp->pos, at);
    sec->first_line = sp->pos.line;
    sp->cur = sec;
}

static void on_section(splitter *sp, const directive *dir, size_t at)
{
    close_statement(sp);
    end_block_if_open(sp);
    mc_section *target = dir->kind == DIR_UP ? &sp->out->up : &sp->out->down;
    const char *which = dir->kind == DIR_UP ? "Up" : "Down";
    if ((dir->kind == DIR_UP && sp->seen_up) ||
        (dir->kind == DIR_DOWN && sp->seen_down)) {
        mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len, at,
                   "a second %s annotation in one file", which);
        sp->ok = false;
        return;
    }
    if (dir->kind == DIR_UP && sp->seen_down) {
        error_at(sp, at, "the Up annotation must come before the Down "
                         "annotation");
        sp->seen_up = true;
        return;
    }
    if (dir->kind == DIR_DOWN && !sp->seen_up) {
        error_at(sp, at, "a Down annotation before any Up annotation");
        sp->seen_down = true;
        return;
    }
    size_t ls = line_start(sp->text, at);
    if (dir->kind == DIR_UP) {
        sp->seen_up = true;
        /* The up script runs from the top of the file, so comments and
         * annotations above the Up line belong to it (and to its hash). */
        begin_section(sp, target, 0);
    } else {
        sp->seen_down = true;
        sp->out->up.end = ls;
        begin_section(sp, target, ls);
    }
    if (dir->no_transaction) {
        target->no_transaction = true;
        target->no_transaction_at = at;
    }
    if (dir->transaction_on) {
        target->transaction_on = true;
        target->transaction_on_at = at;
    }
}

static void on_directive(splitter *sp, const directive *dir, size_t at)
{
    if (dir->tool != 0 && dir->tool != sp->format &&
        dir->kind == DIR_UNKNOWN)
        return; /* an ordinary comment that merely looks like one */
    if (dir->tool != 0 && dir->tool != sp->format) {
        mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len, at,
                   "a %s annotation in a %s folder: one folder holds "
                   "migrations of one format",
                   mc_format_name(dir->tool), mc_format_name(sp->format));
        sp->ok = false;
        return;
    }
    switch (dir->kind) {
    case DIR_NONE:
        return;
    case DIR_UNKNOWN:
    case DIR_UNSUPPORTED:
        error_at(sp, at, dir->problem);
        return;
    case DIR_UP:
    case DIR_DOWN:
        on_section(sp, dir, at);
        return;
    case DIR_BLOCK_BEGIN:
        if (sp->in_block) {
            error_at(sp, at, "StatementBegin inside another StatementBegin "
                             "block (a StatementEnd is missing before it)");
            return;
        }
        close_statement(sp);
        sp->in_block = true;
        sp->block_at = at;
        return;
    case DIR_BLOCK_END:
        if (!sp->in_block) {
            error_at(sp, at, "StatementEnd without a StatementBegin");
            return;
        }
        close_statement(sp);
        sp->in_block = false;
        return;
    case DIR_NO_TRANSACTION:
        /* Applies to the whole file; recorded on both sections. */
        sp->out->up.no_transaction = true;
        sp->out->up.no_transaction_at = at;
        sp->out->down.no_transaction = true;
        sp->out->down.no_transaction_at = at;
        return;
    }
}

static void on_unterminated(splitter *sp, mc_token t)
{
    const char *s = sp->text + t.start;
    switch (t.kind) {
    case MC_TOK_UNTERMINATED_STRING:
        error_at(sp, t.start, "unterminated quoted string");
        break;
    case MC_TOK_UNTERMINATED_ESTRING:
        error_at(sp, t.start, "unterminated E'' string (in E'' strings a "
                              "backslash escapes the next character, so \\' "
                              "does not end it)");
        break;
    case MC_TOK_UNTERMINATED_QUOTED_IDENT:
        error_at(sp, t.start, "unterminated quoted identifier");
        break;
    case MC_TOK_UNTERMINATED_DOLLAR_STRING: {
        size_t n = 1;
        while (s[n] != '$')
            n++;
        mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len, t.start,
                   "unterminated dollar-quoted string %.*s", (int)(n + 1), s);
        sp->ok = false;
        break;
    }
    case MC_TOK_UNTERMINATED_COMMENT:
        error_at(sp, t.start, "unterminated /* comment (block comments "
                              "nest: every /* needs its own */)");
        break;
    default:
        break;
    }
}

static void on_backslash(splitter *sp, mc_token t)
{
    size_t e = t.end;
    while (e < sp->len && ((sp->text[e] >= 'a' && sp->text[e] <= 'z') ||
                           (sp->text[e] >= 'A' && sp->text[e] <= 'Z') ||
                           sp->text[e] == '!' || sp->text[e] == '.' ||
                           sp->text[e] == '?'))
        e++;
    mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len, t.start,
               "psql meta-command %.*s is not SQL: the server cannot run it",
               (int)(e - t.start), sp->text + t.start);
    sp->ok = false;
    /* A meta-command runs to the end of its line. */
    const char *nl = memchr(sp->text + t.start, '\n', sp->len - t.start);
    mc_lexer_seek(&sp->lx, nl ? (size_t)(nl - sp->text) : sp->len);
}

static void on_sql_token(splitter *sp, mc_token t)
{
    if (!sp->cur) {
        if (!sp->reported_orphan_sql) {
            sp->reported_orphan_sql = true;
            mc_diag_at(sp->diag, MC_ERROR, sp->path, sp->text, sp->len,
                       t.start,
                       "SQL before the Up annotation (%s); it would never "
                       "run",
                       up_annotation(sp->format));
            sp->ok = false;
        }
        return;
    }
    if (t.kind == MC_TOK_SEMICOLON) {
        if (!sp->open)
            return; /* an empty statement: nothing to run */
        sp->st_last = t.end;
        sp->st_semicolon = true;
        if (sp->paren_depth == 0 && sp->begin_depth == 0)
            close_statement(sp);
        return;
    }
    if (!sp->open) {
        sp->open = true;
        sp->st_start = t.start;
        sp->paren_depth = 0;
        sp->begin_depth = 0;
        sp->ident_count = 0;
    }
    sp->st_last = t.end;
    sp->st_semicolon = false;
    if (t.kind == MC_TOK_LPAREN)
        sp->paren_depth++;
    else if (t.kind == MC_TOK_RPAREN && sp->paren_depth > 0)
        sp->paren_depth--;
    else if (t.kind == MC_TOK_IDENT)
        track_identifier(sp, sp->text + t.start, t.end - t.start);
}

bool mc_split_file(const char *path, const char *text, size_t len,
                   migc_format format, mc_split *out, mc_diag *d)
{
    memset(out, 0, sizeof *out);
    splitter sp;
    memset(&sp, 0, sizeof sp);
    sp.path = path;
    sp.text = text;
    sp.len = len;
    sp.format = format;
    sp.diag = d;
    sp.out = out;
    sp.ok = true;
    mc_lexer_init(&sp.lx, text, len);
    mc_position_init(&sp.pos, text);
    if (format == MIGC_FORMAT_GOLANG_MIGRATE) {
        begin_section(&sp, &out->up, 0);
        sp.seen_up = true;
    }

    for (;;) {
        mc_token t = mc_lexer_next(&sp.lx);
        if (t.kind == MC_TOK_EOF)
            break;
        switch (t.kind) {
        case MC_TOK_SPACE:
        case MC_TOK_BLOCK_COMMENT:
            break;
        case MC_TOK_LINE_COMMENT:
            if (only_blanks_before(text, t.start)) {
                directive dir = parse_directive(text + t.start,
                                                t.end - t.start);
                on_directive(&sp, &dir, t.start);
            }
            break;
        case MC_TOK_UNTERMINATED_STRING:
        case MC_TOK_UNTERMINATED_ESTRING:
        case MC_TOK_UNTERMINATED_QUOTED_IDENT:
        case MC_TOK_UNTERMINATED_DOLLAR_STRING:
        case MC_TOK_UNTERMINATED_COMMENT:
            on_unterminated(&sp, t);
            sp.open = false; /* the rest of the file is lost to it */
            break;
        case MC_TOK_BACKSLASH:
            on_backslash(&sp, t);
            break;
        default:
            on_sql_token(&sp, t);
            break;
        }
    }
    close_statement(&sp);
    end_block_if_open(&sp);
    if (sp.cur)
        sp.cur->end = len;
    if (format != MIGC_FORMAT_GOLANG_MIGRATE && !sp.seen_up) {
        mc_diag_file(d, MC_ERROR, path, "no Up annotation (%s): migc cannot "
                     "tell what to run",
                     up_annotation(format));
        sp.ok = false;
    }
    if (!out->up.present)
        out->up.no_transaction = false;
    if (!out->down.present)
        out->down.no_transaction = false;
    return sp.ok;
}

void mc_split_free(mc_split *s)
{
    free(s->up.stmts);
    free(s->down.stmts);
    memset(s, 0, sizeof *s);
}
