/*
 * fuzz_split.c -- libFuzzer target for the scanner, splitter, transaction
 * planner and image builder.
 *
 * The first input byte picks the migration format; the rest is a file's
 * content.  Beyond "no crash, no hang, no sanitizer report", it checks the
 * invariants everything else relies on, and aborts when one breaks: tokens
 * tile the input exactly, statements are ordered, disjoint and inside their
 * section, and the text between statements holds nothing executable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "migration.h"
#include "source.h"
#include "split.h"
#include "txn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    return devnull;
}

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

static void check_tokens(const char *text, size_t len)
{
    mc_lexer lx;
    mc_lexer_init(&lx, text, len);
    size_t at = 0;
    for (;;) {
        mc_token t = mc_lexer_next(&lx);
        require(t.start == at, "tokens are contiguous");
        if (t.kind == MC_TOK_EOF) {
            require(t.start == len && t.end == len, "EOF at the end");
            break;
        }
        require(t.end > t.start && t.end <= len, "tokens are non-empty");
        at = t.end;
    }
}

static void check_section(const mc_section *s, size_t len)
{
    size_t at = s->start;
    require(s->start <= s->end && s->end <= len, "section in bounds");
    for (size_t i = 0; i < s->count; i++) {
        require(s->stmts[i].start >= at, "statements ordered");
        require(s->stmts[i].end > s->stmts[i].start, "statement non-empty");
        require(s->stmts[i].end <= s->end, "statement inside its section");
        at = s->stmts[i].end;
    }
}

static void plan_and_image(const char *text, size_t len, migc_format fmt,
                           mc_section *sec, bool down, mc_diag *d)
{
    mc_script s;
    memset(&s, 0, sizeof s);
    s.present = true;
    s.path = "fuzz.sql";
    s.text = text;
    s.text_len = len;
    s.section = sec;
    if (!mc_plan_transaction("fuzz.sql", text, len, fmt, down, sec, &s.plan, d))
        return;
    mc_buf image = {0};
    migc_statement *stmts = calloc(sec->count ? sec->count : 1, sizeof *stmts);
    mc_script_image(&s, &image, stmts);
    for (size_t i = 0; i < sec->count; i++)
        require(stmts[i].offset + stmts[i].length <= image.len,
                "image statement in bounds");
    free(stmts);
    mc_buf_free(&image);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    migc_format fmt = (migc_format)(1 + data[0] % 4);
    size_t len = size - 1;
    char *text = malloc(len + 1);
    if (len)
        memcpy(text, data + 1, len);
    text[len] = '\0';
    len = mc_normalize(text, len);

    mc_diag d;
    memset(&d, 0, sizeof d);
    d.out = sink();
    d.show_notes = true;
    mc_validate_text("fuzz.sql", text, len, &d);
    check_tokens(text, len);

    mc_split sp;
    if (mc_split_file("fuzz.sql", text, len, fmt, &sp, &d)) {
        if (sp.up.present) {
            check_section(&sp.up, len);
            plan_and_image(text, len, fmt, &sp.up, false, &d);
        }
        if (sp.down.present) {
            check_section(&sp.down, len);
            require(sp.down.start == sp.up.end, "sections are adjacent");
            plan_and_image(text, len, fmt, &sp.down, true, &d);
        }
    }
    mc_split_free(&sp);
    free(text);
    return 0;
}
