/*
 * memcat.c -- building a migc_catalog on the heap.  See memcat.h.
 */
#include "memcat.h"

#include <stdlib.h>
#include <string.h>

#include <migc/version.h>

#include "pipeline.h"
#include "util.h"

typedef struct builder {
    migc_migration *migrations;
    size_t count;
    size_t cap;
    mc_buf text;                /* the catalog's text blob */
    migc_statement *statements; /* every script's statements */
    size_t statement_count;
    size_t statement_cap;
    bool too_large;             /* the text outgrew 32-bit offsets */
} builder;

/* Appends len bytes and a NUL to the text; returns their offset. */
static uint32_t add_text(builder *b, const char *data, size_t len)
{
    size_t at = b->text.len;
    if (at + len >= MIGC_NO_TEXT) {
        b->too_large = true;
        return MIGC_NO_TEXT;
    }
    mc_buf_append(&b->text, data, len);
    mc_buf_putc(&b->text, '\0');
    return (uint32_t)at;
}

static uint32_t add_string(builder *b, const char *s)
{
    return add_text(b, s, strlen(s));
}

static void copy_script(builder *b, migc_script *out, const mc_script *s)
{
    memset(out, 0, sizeof *out);
    out->sql = out->file = MIGC_NO_TEXT;
    if (!s->present)
        return;
    const mc_section *sec = s->section;
    if (b->statement_cap - b->statement_count < sec->count) {
        b->statement_cap = 2 * (b->statement_count + sec->count) + 64;
        b->statements = mc_xrealloc(b->statements,
                                    b->statement_cap * sizeof *b->statements);
    }
    mc_buf image = {0};
    out->flags =
        mc_script_image(s, &image, b->statements + b->statement_count);
    out->sql = add_text(b, image.data ? image.data : "", image.len);
    out->length = (uint32_t)image.len;
    mc_buf_free(&image);
    out->first_statement = (uint32_t)b->statement_count;
    out->statement_count = (uint32_t)sec->count;
    b->statement_count += sec->count;
    out->first_line = sec->first_line;
    out->transaction = (uint32_t)s->plan.mode;
    out->file = add_string(b, s->catalog_path);
    memcpy(out->sha256, s->sha256, MIGC_SHA256_SIZE);
}

static void visit(void *ctx, const mc_migration *m)
{
    builder *b = ctx;
    if (b->count == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->migrations = mc_xrealloc(b->migrations,
                                    b->cap * sizeof *b->migrations);
    }
    migc_migration *out = &b->migrations[b->count++];
    memset(out, 0, sizeof *out);
    out->version = m->entry->version;
    out->id = add_string(b, m->entry->id);
    out->name = add_string(b, m->entry->title);
    copy_script(b, &out->up, &m->up);
    copy_script(b, &out->down, &m->down);
    memcpy(out->chain_sha256, m->chain, MIGC_SHA256_SIZE);
}

static void builder_free(builder *b)
{
    free(b->migrations);
    free(b->statements);
    mc_buf_free(&b->text);
}

migc_catalog *mc_memcat_build(const char *dir, mc_diag *d, bool *io_error)
{
    mc_folder folder;
    mc_pipeline_result r;
    builder b;
    memset(&b, 0, sizeof b);
    mc_pipeline_scan(dir, &folder, d, &r);
    bool ok = mc_pipeline_load(&folder, d, visit, &b, &r);
    *io_error = r.io_error;
    if (ok && b.too_large) {
        mc_diag_file(d, MC_ERROR, folder.dir,
                     "the migrations' text is larger than 4 GiB, the limit "
                     "of a catalog");
        ok = false;
    }
    if (!ok || r.io_error) {
        builder_free(&b);
        mc_folder_free(&folder);
        return NULL;
    }
    migc_catalog *cat = mc_xcalloc(1, sizeof *cat);
    cat->abi = MIGC_CATALOG_ABI;
    cat->format = (uint32_t)folder.format;
    cat->name = mc_xstrdup("migc_migrations");
    cat->directory = mc_xstrdup(folder.label);
    cat->migc_version = MIGC_VERSION_STRING;
    cat->count = b.count;
    cat->migrations = b.migrations;
    cat->statements = b.statements;
    cat->statement_count = b.statement_count;
    cat->text = b.text.data;
    cat->text_length = b.text.len;
    memcpy(cat->chain_sha256, r.chain, MIGC_SHA256_SIZE);
    mc_folder_free(&folder);
    return cat;
}

void mc_memcat_free(migc_catalog *cat)
{
    if (!cat)
        return;
    free((void *)cat->migrations);
    free((void *)cat->statements);
    free((void *)cat->text);
    free((void *)cat->name);
    free((void *)cat->directory);
    free(cat);
}
