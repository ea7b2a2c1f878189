/*
 * migration.h -- one migration, loaded and checked: the pipeline from file
 * names to hashed, split, transaction-planned scripts.
 *
 * For one folder entry this reads the file(s), normalizes them (BOM, CRLF),
 * rejects invalid UTF-8 and NUL bytes, splits the up and down scripts into
 * statements, decides their transaction modes, and hashes them.  It also
 * builds a script's "image": the exact bytes the catalog embeds and the
 * runtime sends, every statement NUL-terminated (see migc_script in
 * migc/catalog.h).  Migrations are loaded one at a time and released, so
 * the compiler's memory stays proportional to the largest migration.
 */
#ifndef MIGC_MIGRATION_H
#define MIGC_MIGRATION_H

#include <stdbool.h>

#include <migc/catalog.h>

#include "diag.h"
#include "folder.h"
#include "split.h"
#include "txn.h"
#include "util.h"

typedef struct mc_script {
    bool present;
    const char *path;     /* display path (folder as given + file name) */
    char *catalog_path;   /* label/file name, as embedded in the catalog */
    const char *text;     /* normalized text of the whole file */
    size_t text_len;
    mc_section *section;  /* the statements of this script */
    mc_txn_plan plan;
    unsigned char sha256[MIGC_SHA256_SIZE];
} mc_script;

typedef struct mc_migration {
    const mc_entry *entry;
    mc_script up;
    mc_script down;
    unsigned char chain[MIGC_SHA256_SIZE];
    /* Owned storage behind the scripts. */
    char *texts[2];
    size_t lens[2];
    mc_split splits[2];
} mc_migration;

/* Loads and checks migration `entry` of folder f; `prev_chain` is the chain
 * hash of the migration before it (all zero for the first).  Reports
 * diagnostics to d and sets *io_error on read failures.  *out is always
 * valid to release.  Returns false when an error was reported. */
bool mc_migration_load(const mc_folder *f, const mc_entry *entry,
                       const unsigned char prev_chain[MIGC_SHA256_SIZE],
                       mc_migration *out, mc_diag *d, bool *io_error);

/* Frees the texts, statements and paths a load allocated and zeroes *m;
 * the entry it points to stays the folder's. */
void mc_migration_release(mc_migration *m);

/* Builds the image of script s: the bytes the catalog embeds, into `image`
 * (appended; NUL-terminated), and its statement table into `stmts` (an
 * array of s->section->count entries the caller provides).  Returns the
 * script flags (MIGC_SCRIPT_*). */
uint32_t mc_script_image(const mc_script *s, mc_buf *image,
                         migc_statement *stmts);

#endif /* MIGC_MIGRATION_H */
