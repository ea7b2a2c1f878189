/*
 * catalog.c -- read-only helpers over a generated catalog: version
 * information, lookup by id, and a sanity check of the catalog's shape
 * before anything is applied from it.
 */
#include <string.h>

#include <migc/migc.h>

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
