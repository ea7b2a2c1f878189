/*
 * folder.h -- finding the migrations in a folder.
 *
 * Lists a folder, recognizes which tool's format it was written in
 * (golang-migrate by its file names, goose, sql-migrate and dbmate by their
 * annotations), parses versions and titles from file names, pairs
 * golang-migrate up and down files by version, and sorts the migrations
 * numerically (2_x before 10_x).  Duplicate versions (except in sql-migrate
 * folders, which identify migrations by file name), down files without an
 * up, unparseable names and unknown .sql files are errors naming the files;
 * non-.sql files are ignored, but Go migrations migc cannot run get a
 * warning.  Only names and a short prefix of single-file migrations are read
 * here: the texts are loaded one migration at a time later, so memory stays
 * proportional to the largest file, not to the folder.
 */
#ifndef MIGC_FOLDER_H
#define MIGC_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <migc/catalog.h>

#include "diag.h"

typedef struct mc_entry {
    int64_t version;
    char *version_text; /* digits as written in the name ("000042") */
    char *id;           /* identity: decimal version, or sql-migrate file name */
    char *title;
    char *up_name;      /* file holding the up script (and the down, for
                           single-file formats) */
    char *up_path;      /* folder/up_name, for diagnostics and reading */
    char *down_name;    /* golang-migrate down file, or NULL */
    char *down_path;
} mc_entry;

typedef struct mc_folder {
    char *dir;          /* the folder as given, without trailing slashes */
    char *label;        /* its last path component, used in catalog paths */
    migc_format format; /* 0 when the folder holds no migrations */
    mc_entry *entries;  /* sorted in application order */
    size_t count;
} mc_folder;

/* Scans `dir`.  Reports problems to d; sets *io_error when the folder or a
 * file could not be read.  On return *out is always valid to free, with the
 * migrations that could be identified.  Returns false when any error was
 * reported. */
bool mc_folder_scan(const char *dir, mc_folder *out, mc_diag *d,
                    bool *io_error);

/* Frees everything a scan allocated and zeroes *f. */
void mc_folder_free(mc_folder *f);

/* Name of a format as users know it ("golang-migrate", "goose", ...). */
const char *mc_format_name(migc_format format);

#endif /* MIGC_FOLDER_H */
