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
} builder;

static void copy_script(migc_script *out, const mc_script *s)
{
    memset(out, 0, sizeof *out);
    if (!s->present)
        return;
    const mc_section *sec = s->section;
    migc_statement *stmts = mc_xcalloc(sec->count ? sec->count : 1,
                                       sizeof *stmts);
    mc_buf image = {0};
    out->flags = mc_script_image(s, &image, stmts);
    if (!image.data) {
        mc_buf_reserve(&image, 0);
        image.data[0] = '\0';
    }
    out->sql = image.data;
    out->length = (uint32_t)image.len;
    out->statement_count = (uint32_t)sec->count;
    out->statements = stmts;
    out->first_line = sec->first_line;
    out->transaction = (uint32_t)s->plan.mode;
    out->file = mc_xstrdup(s->catalog_path);
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
    out->id = mc_xstrdup(m->entry->id);
    out->name = mc_xstrdup(m->entry->title);
    copy_script(&out->up, &m->up);
    copy_script(&out->down, &m->down);
    memcpy(out->chain_sha256, m->chain, MIGC_SHA256_SIZE);
}

static void free_script(migc_script *s)
{
    free((void *)s->sql);
    free((void *)s->statements);
    free((void *)s->file);
}

static void free_migrations(migc_migration *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)ms[i].id);
        free((void *)ms[i].name);
        free_script(&ms[i].up);
        free_script(&ms[i].down);
    }
    free(ms);
}

migc_catalog *mc_memcat_build(const char *dir, mc_diag *d, bool *io_error)
{
    mc_folder folder;
    mc_pipeline_result r;
    builder b = {NULL, 0, 0};
    mc_pipeline_scan(dir, &folder, d, &r);
    bool ok = mc_pipeline_load(&folder, d, visit, &b, &r);
    *io_error = r.io_error;
    if (!ok || r.io_error) {
        free_migrations(b.migrations, b.count);
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
    memcpy(cat->chain_sha256, r.chain, MIGC_SHA256_SIZE);
    mc_folder_free(&folder);
    return cat;
}

void mc_memcat_free(migc_catalog *cat)
{
    if (!cat)
        return;
    free_migrations((migc_migration *)cat->migrations, cat->count);
    free((void *)cat->name);
    free((void *)cat->directory);
    free(cat);
}
