/*
 * migration.c -- loading, checking and hashing one migration; building the
 * embedded image of its scripts.  See migration.h.
 */
#include "migration.h"

#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "hash.h"
#include "source.h"

/* Reads and normalizes one file into slot `slot` of m. */
static bool load_text(mc_migration *m, int slot, const char *path,
                      mc_diag *d, bool *io_error)
{
    size_t len;
    char *text = mc_read_file(path, 0, &len, d, io_error);
    if (!text)
        return false;
    len = mc_normalize(text, len);
    m->texts[slot] = text;
    m->lens[slot] = len;
    if (len > UINT32_MAX - 1) {
        mc_diag_file(d, MC_ERROR, path,
                     "file is larger than 4 GiB, the limit of a catalog");
        return false;
    }
    return mc_validate_text(path, text, len, d);
}

static void init_script(mc_script *s, const mc_folder *f, const char *path,
                        const char *name, const char *text, size_t len,
                        mc_section *sec)
{
    s->present = true;
    s->path = path;
    s->catalog_path = mc_xasprintf("%s/%s", f->label, name);
    s->text = text;
    s->text_len = len;
    s->section = sec;
    mc_sha256(text + sec->start, sec->end - sec->start, s->sha256);
}

static bool plan_script(const mc_folder *f, mc_script *s, bool down,
                        mc_diag *d)
{
    return mc_plan_transaction(s->path, s->text, s->text_len, f->format, down,
                               s->section, &s->plan, d);
}

bool mc_migration_load(const mc_folder *f, const mc_entry *entry,
                       const unsigned char prev_chain[MIGC_SHA256_SIZE],
                       mc_migration *m, mc_diag *d, bool *io_error)
{
    memset(m, 0, sizeof *m);
    m->entry = entry;
    bool ok = load_text(m, 0, entry->up_path, d, io_error);
    if (entry->down_path)
        ok = load_text(m, 1, entry->down_path, d, io_error) && ok;
    if (!ok)
        return false;

    ok = mc_split_file(entry->up_path, m->texts[0], m->lens[0], f->format,
                       &m->splits[0], d);
    if (entry->down_path)
        ok = mc_split_file(entry->down_path, m->texts[1], m->lens[1],
                           f->format, &m->splits[1], d) && ok;
    if (!ok)
        return false;

    init_script(&m->up, f, entry->up_path, entry->up_name, m->texts[0],
                m->lens[0], &m->splits[0].up);
    if (f->format == MIGC_FORMAT_GOLANG_MIGRATE) {
        if (entry->down_path)
            init_script(&m->down, f, entry->down_path, entry->down_name,
                        m->texts[1], m->lens[1], &m->splits[1].up);
    } else if (m->splits[0].down.present) {
        init_script(&m->down, f, entry->up_path, entry->up_name, m->texts[0],
                    m->lens[0], &m->splits[0].down);
    }
    ok = plan_script(f, &m->up, false, d);
    if (m->down.present)
        ok = plan_script(f, &m->down, true, d) && ok;
    mc_chain_step(prev_chain, entry->version, entry->id, m->up.sha256,
                  m->chain);
    return ok;
}

void mc_migration_release(mc_migration *m)
{
    free(m->up.catalog_path);
    free(m->down.catalog_path);
    mc_split_free(&m->splits[0]);
    mc_split_free(&m->splits[1]);
    free(m->texts[0]);
    free(m->texts[1]);
    memset(m, 0, sizeof *m);
}

uint32_t mc_script_image(const mc_script *s, mc_buf *image,
                         migc_statement *stmts)
{
    const mc_section *sec = s->section;
    size_t base = image->len;
    for (size_t i = 0; i < sec->count; i++) {
        const mc_stmt *st = &sec->stmts[i];
        stmts[i].offset = (uint32_t)(image->len - base);
        stmts[i].length = (uint32_t)(st->end - st->start);
        stmts[i].line = st->line;
        stmts[i].column = st->column;
        stmts[i].flags = st->flags & MC_CLASS_CATALOG_MASK;
        mc_buf_append(image, s->text + st->start, st->end - st->start);
        if (i + 1 < sec->count)
            mc_buf_putc(image, '\0'); /* the last one ends at the final NUL */
    }
    return s->plan.auto_no_transaction ? MIGC_SCRIPT_AUTO_NO_TRANSACTION : 0;
}
