/*
 * catalog.c -- read-only helpers over a generated catalog: version
 * information, lookup by id, and a sanity check of the catalog's shape
 * before anything is applied from it.  The catalog is sorted by version,
 * then id byte-wise (migc_catalog_check), which the runtime's binary
 * search relies on.
 */
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
        if (strcmp(catalog->migrations[i].id, id) == 0)
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

static int compare_to_migration(const void *key, const void *element)
{
    const migc_migration *k = key, *m = element;
    return migc__order(k->version, k->id, m->version, m->id);
}

size_t migc__catalog_index(const migc_catalog *cat, int64_t version,
                           const char *id)
{
    migc_migration key;
    key.version = version;
    key.id = id;
    const migc_migration *m =
        cat->count ? bsearch(&key, cat->migrations, cat->count,
                             sizeof *cat->migrations, compare_to_migration)
                   : NULL;
    return m ? (size_t)(m - cat->migrations) : cat->count;
}

int migc_catalog_check(const migc_catalog *catalog)
{
    if (!catalog || catalog->abi != MIGC_CATALOG_ABI)
        return -1;
    if (catalog->count && !catalog->migrations)
        return -1;
    for (size_t i = 1; i < catalog->count; i++) {
        const migc_migration *a = &catalog->migrations[i - 1];
        const migc_migration *b = &catalog->migrations[i];
        if (a->version > b->version)
            return -1;
        if (a->version == b->version && strcmp(a->id, b->id) >= 0)
            return -1;
    }
    return 0;
}
