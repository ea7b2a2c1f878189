/*
 * test_roundtrip.c -- property tests of the statement splitter.
 *
 * 1. For every migration file of the repository's fixtures and of
 *    migrations/: the statements are in order, inside the file and
 *    disjoint, the text between them is only whitespace, comments,
 *    annotations and empty statements, and the statements together with
 *    the text between them concatenate back to the file exactly.
 * 2. For thousands of generated files, built from fragments that hide ';'
 *    in every quoting construct, the splitter finds exactly the statements
 *    the generator wrote, at the positions it wrote them.
 *
 * Usage: test_roundtrip FOLDER...
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "folder.h"
#include "harness.h"
#include "lexer.h"
#include "source.h"
#include "split.h"
#include "util.h"

/* True when text[from, to) holds nothing a server would run; text is
 * text_len bytes followed by a NUL. */
static bool only_trivia(const char *text, size_t text_len, size_t from,
                        size_t to)
{
    mc_lexer lx;
    mc_lexer_init(&lx, text, text_len);
    mc_lexer_seek(&lx, from);
    for (;;) {
        mc_token t = mc_lexer_next(&lx);
        if (t.kind == MC_TOK_EOF || t.start >= to)
            return true;
        if (t.end > to)
            return false;
        if (t.kind != MC_TOK_SPACE && t.kind != MC_TOK_LINE_COMMENT &&
            t.kind != MC_TOK_BLOCK_COMMENT && t.kind != MC_TOK_SEMICOLON)
            return false;
    }
}

/* Checks the round-trip property of one section; appends its pieces to
 * `rebuilt` in file order. */
static void check_section(const char *text, size_t len, const mc_section *s,
                          mc_buf *rebuilt)
{
    size_t at = s->start;
    for (size_t i = 0; i < s->count; i++) {
        const mc_stmt *st = &s->stmts[i];
        CHECK(st->start >= at);
        CHECK(st->end > st->start);
        CHECK(st->end <= s->end);
        if (st->start < at || st->end > s->end || st->end <= st->start)
            return;
        CHECK(only_trivia(text, len, at, st->start));
        mc_buf_append(rebuilt, text + at, st->start - at);
        mc_buf_append(rebuilt, text + st->start, st->end - st->start);
        at = st->end;
    }
    CHECK(only_trivia(text, len, at, s->end));
    mc_buf_append(rebuilt, text + at, s->end - at);
}

static void check_file(const mc_folder *f, const char *path)
{
    th_case(path);
    mc_diag d = {0};
    d.out = stderr;
    bool io = false;
    size_t len;
    char *text = mc_read_file(path, 0, &len, &d, &io);
    CHECK(text != NULL);
    if (!text)
        return;
    len = mc_normalize(text, len);
    mc_split sp;
    CHECK(mc_split_file(path, text, len, f->format, &sp, &d));
    CHECK(sp.up.present);
    mc_buf rebuilt = {0};
    mc_buf_puts(&rebuilt, "");
    if (sp.up.present) {
        CHECK_INT(sp.up.start, 0);
        check_section(text, len, &sp.up, &rebuilt);
    }
    if (sp.down.present) {
        CHECK_INT(sp.down.start, sp.up.end);
        check_section(text, len, &sp.down, &rebuilt);
        CHECK_INT(sp.down.end, len);
    } else {
        CHECK_INT(sp.up.end, len);
    }
    CHECK_MEM(rebuilt.data, rebuilt.len, text, len);
    mc_buf_free(&rebuilt);
    mc_split_free(&sp);
    free(text);
}

static void check_folder(const char *dir)
{
    mc_diag d = {0};
    d.out = stderr;
    bool io = false;
    mc_folder f;
    th_case(dir);
    CHECK(mc_folder_scan(dir, &f, &d, &io));
    CHECK(f.count > 0);
    for (size_t i = 0; i < f.count; i++) {
        check_file(&f, f.entries[i].up_path);
        if (f.entries[i].down_path)
            check_file(&f, f.entries[i].down_path);
    }
    mc_folder_free(&f);
}

/* ---- generated files -------------------------------------------------- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Fragments that may start a statement. */
static const char *const heads[] = {
    "SELECT", "INSERT", "x1", "price$usd", "Grüße", "'a;b'", "\"q;\"",
    "$$;$$", "(1;2)", "update", "\"a\"\"b\"", "E'x\\';y'",
};

/* Fragments inside a statement: none holds a ';' outside quotes. */
static const char *const parts[] = {
    "a", "t", "1.5", "$1", "+", "::", ",", "'it''s;'", "E'\\\\'",
    "U&'d\\0061t;'", "B'101'", "X'1F'", "\"a;\"", "$t$ ; $u$ ; $u$ $t$",
    "$f$ $$ ; $$ $f$", "/* ; /* ; */ ; */", "-- ; ' \" $$\n", "((;))",
    "(SELECT 1; SELECT 2)", "N'n;'", "\n", "\t", "東京",
};

/* Trivia that may stand between statements. */
static const char *const gaps[] = {
    " ", "\n", "\n\n", "-- between ; 'x\n", "/* between; /* n */ */", ";",
    "\t;\n",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void generated_case(unsigned iteration)
{
    mc_buf text = {0};
    size_t starts[32], ends[32];
    size_t nstmt = 1 + rnd(8);
    bool last_unterminated = rnd(4) == 0;
    for (size_t s = 0; s < nstmt; s++) {
        size_t ngap = rnd(3);
        for (size_t g = 0; g < ngap; g++)
            mc_buf_puts(&text, gaps[rnd(COUNT(gaps))]);
        if (text.len && text.data[text.len - 1] != '\n' &&
            text.data[text.len - 1] != ' ')
            mc_buf_putc(&text, ' ');
        starts[s] = text.len;
        mc_buf_puts(&text, heads[rnd(COUNT(heads))]);
        size_t nparts = rnd(8);
        for (size_t p = 0; p < nparts; p++) {
            mc_buf_putc(&text, ' ');
            mc_buf_puts(&text, parts[rnd(COUNT(parts))]);
        }
        bool terminated = !(last_unterminated && s + 1 == nstmt);
        if (terminated)
            mc_buf_puts(&text, rnd(2) ? " ;" : ";");
        else
            mc_buf_puts(&text, " z"); /* ends on a token, not on trivia */
        ends[s] = text.len;
    }
    mc_buf_puts(&text, rnd(2) ? "\n" : "");

    char name[64];
    snprintf(name, sizeof name, "generated #%u", iteration);
    th_case(name);
    mc_diag d = {0};
    d.out = stderr;
    mc_split sp;
    bool ok = mc_split_file("gen.sql", text.data, text.len,
                            MIGC_FORMAT_GOLANG_MIGRATE, &sp, &d);
    CHECK(ok);
    CHECK_INT(sp.up.count, nstmt);
    bool same = sp.up.count == nstmt;
    for (size_t s = 0; same && s < nstmt; s++) {
        if (sp.up.stmts[s].start != starts[s] || sp.up.stmts[s].end != ends[s]) {
            same = false;
            CHECK_MEM(text.data + sp.up.stmts[s].start,
                      sp.up.stmts[s].end - sp.up.stmts[s].start,
                      text.data + starts[s], ends[s] - starts[s]);
        }
    }
    if (!same)
        fprintf(stderr, "    input: [%s]\n", text.data);
    CHECK(same);
    mc_split_free(&sp);
    mc_buf_free(&text);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        check_folder(argv[i]);
    for (unsigned i = 0; i < 5000; i++)
        generated_case(i);
    th_case("");
    return th_finish();
}
