/*
 * catalog.c -- read-only helpers over a generated catalog: version
 * information, lookup by id, and a sanity check of the catalog's shape
 * before anything is applied from it.  The catalog is sorted by version,
 * then id byte-wise (migc_catalog_check), which the runtime's binary
 * search relies on.  Every start checks only the catalog's shape, in
 * constant time; the full check reads every migration, so it runs where
 * the whole catalog is read anyway (the slow path).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *migc_version(void)
{
    return MIGC_VERSION_STRING;
}

const migc_migration *migc_catalog_find(const migc_catalog *catalog,
                                        const char *id)
{
    if (!catalog || !id)
        return NULL;
    for (size_t i = 0; i < catalog->count; i++)
        if (strcmp(migc_catalog_text(catalog, catalog->migrations[i].id),
                   id) == 0)
            return &catalog->migrations[i];
    return NULL;
}

int migc__order(int64_t version_a, const char *id_a, int64_t version_b,
                const char *id_b)
{
    if (version_a != version_b)
        return version_a < version_b ? -1 : 1;
    return strcmp(id_a, id_b);
}

size_t migc__catalog_index(const migc_catalog *cat, int64_t version,
                           const char *id)
{
    size_t lo = 0, hi = cat->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const migc_migration *m = &cat->migrations[mid];
        int c = migc__order(version, id, m->version,
                            migc_catalog_text(cat, m->id));
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return cat->count;
}

int migc__catalog_shape(const migc_catalog *catalog)
{
    if (!catalog || catalog->abi != MIGC_CATALOG_ABI)
        return -1;
    if (catalog->count && (!catalog->migrations || !catalog->text))
        return -1;
    if (catalog->statement_count && !catalog->statements)
        return -1;
    return 0;
}

/* A text member is a NUL-terminated string inside the text blob. */
static bool text_ok(const migc_catalog *c, uint32_t offset, bool optional)
{
    if (offset == MIGC_NO_TEXT)
        return optional;
    return offset < c->text_length &&
           memchr(c->text + offset, '\0', c->text_length - offset) != NULL;
}

static bool script_ok(const migc_catalog *c, const migc_script *s)
{
    if (s->sql == MIGC_NO_TEXT)
        return s->statement_count == 0;
    return text_ok(c, s->sql, false) && text_ok(c, s->file, false) &&
           s->length < c->text_length - s->sql &&
           s->first_statement <= c->statement_count &&
           s->statement_count <= c->statement_count - s->first_statement;
}

int migc_catalog_check(const migc_catalog *catalog)
{
    if (migc__catalog_shape(catalog) != 0)
        return -1;
    for (size_t i = 0; i < catalog->count; i++) {
        const migc_migration *b = &catalog->migrations[i];
        if (!text_ok(catalog, b->id, false) ||
            !text_ok(catalog, b->name, false) ||
            !script_ok(catalog, &b->up) || b->up.sql == MIGC_NO_TEXT ||
            !script_ok(catalog, &b->down))
            return -1;
        if (i == 0)
            continue;
        const migc_migration *a = &catalog->migrations[i - 1];
        if (migc__order(a->version, migc_catalog_text(catalog, a->id),
                        b->version, migc_catalog_text(catalog, b->id)) >= 0)
            return -1;
    }
    return 0;
}
