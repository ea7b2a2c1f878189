/*
 * folder.c -- listing, format detection, name parsing, pairing and ordering
 * of migration files.  See folder.h.
 */
#define _XOPEN_SOURCE 700
#include "folder.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "source.h"
#include "util.h"

/* How much of a single-file migration is read to find its format. */
#define SNIFF_BYTES 65536

const char *mc_format_name(migc_format format)
{
    switch (format) {
    case MIGC_FORMAT_GOLANG_MIGRATE: return "golang-migrate";
    case MIGC_FORMAT_GOOSE: return "goose";
    case MIGC_FORMAT_SQL_MIGRATE: return "sql-migrate";
    case MIGC_FORMAT_DBMATE: return "dbmate";
    }
    return "unknown";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static size_t leading_digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Parses the n leading digits of s as a version; false on overflow. */
static bool parse_version(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int digit = s[i] - '0';
        if (v > (INT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the regular files of dir, sorted by name, skipping dot files. */
static char **list_files(const char *dir, size_t *count, mc_diag *d,
                         bool *io_error)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        mc_diag_file(d, MC_ERROR, dir, "cannot open folder: %s",
                     strerror(errno));
        *io_error = true;
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *path = mc_xasprintf("%s/%s", dir, de->d_name);
        struct stat stbuf;
        if (stat(path, &stbuf) != 0) {
            /* A .sql name that cannot be read (a broken link) would be a
             * migration silently missing from the catalog. */
            if (ends_with(de->d_name, ".sql")) {
                mc_diag_file(d, MC_ERROR, path, "cannot read: %s",
                             strerror(errno));
                *io_error = true;
            }
            free(path);
            continue;
        }
        free(path);
        if (!S_ISREG(stbuf.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = mc_xrealloc(names, cap * sizeof *names);
        }
        names[n++] = mc_xstrdup(de->d_name);
    }
    closedir(dp);
    if (n)
        qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
}

/* golang-migrate: {version}_{title}.{up|down}.sql */
static bool golang_name(const char *name, size_t *digits, bool *down)
{
    size_t n = leading_digits(name);
    if (n == 0 || name[n] != '_')
        return false;
    if (ends_with(name, ".up.sql")) {
        *down = false;
    } else if (ends_with(name, ".down.sql")) {
        *down = true;
    } else {
        return false;
    }
    *digits = n;
    return true;
}

/* Finds the first annotation in the head of a single-file migration. */
static migc_format sniff_format(const char *text)
{
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3; /* a UTF-8 byte order mark */
    for (const char *line = text; line && *line;) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += 2;
            while (*p == ' ' || *p == '\t')
                p++;
            if (strncmp(p, "+goose ", 7) == 0)
                return MIGC_FORMAT_GOOSE;
            if (strncmp(p, "+migrate ", 9) == 0)
                return MIGC_FORMAT_SQL_MIGRATE;
            if (strncmp(p, "migrate:up", 10) == 0 ||
                strncmp(p, "migrate:down", 12) == 0)
                return MIGC_FORMAT_DBMATE;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

static void add_entry(mc_folder *f, size_t *cap, const mc_entry *e)
{
    if (f->count == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        f->entries = mc_xrealloc(f->entries, *cap * sizeof *f->entries);
    }
    f->entries[f->count++] = *e;
}

static void free_entry(mc_entry *e)
{
    free(e->version_text);
    free(e->id);
    free(e->title);
    free(e->up_name);
    free(e->up_path);
    free(e->down_name);
    free(e->down_path);
}

static char *strip_sql(const char *s, const char *suffix)
{
    return mc_xstrndup(s, strlen(s) - strlen(suffix));
}

/* Fills the common fields of an entry for file `name` whose version is the
 * `digits` leading digits.  Returns false (after reporting) on overflow. */
static bool init_entry(mc_folder *f, mc_entry *e, const char *name,
                       size_t digits, mc_diag *d)
{
    memset(e, 0, sizeof *e);
    char *path = mc_xasprintf("%s/%s", f->dir, name);
    if (!parse_version(name, digits, &e->version)) {
        mc_diag_file(d, MC_ERROR, path,
                     "version %.*s does not fit in a signed 64-bit integer",
                     (int)digits, name);
        free(path);
        return false;
    }
    e->version_text = mc_xstrndup(name, digits);
    e->id = mc_xasprintf("%lld", (long long)e->version);
    e->up_name = mc_xstrdup(name);
    e->up_path = path;
    return true;
}


static int compare_entries(const void *a, const void *b)
{
    const mc_entry *x = a, *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    /* sql-migrate: same numeric prefix, then by file name. */
    return strcmp(x->up_name, y->up_name);
}

/* Sorts the entries and reports (and drops) every entry whose version an
 * earlier one already has.  Linear after the sort. */
static void sort_and_drop_duplicates(mc_folder *f, mc_diag *d, bool *ok)
{
    if (f->count == 0)
        return;
    qsort(f->entries, f->count, sizeof *f->entries, compare_entries);
    size_t kept = 1;
    for (size_t i = 1; i < f->count; i++) {
        mc_entry *first = &f->entries[kept - 1];
        if (f->entries[i].version == first->version) {
            mc_diag_file(d, MC_ERROR, f->entries[i].up_path,
                         "duplicate version %s: %s has it too",
                         f->entries[i].version_text, first->up_path);
            *ok = false;
            free_entry(&f->entries[i]);
            continue;
        }
        f->entries[kept++] = f->entries[i];
    }
    f->count = kept;
}

/* The entry with `version` in the sorted entries, or NULL. */
static mc_entry *find_version(const mc_folder *f, int64_t version)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->entries[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->count && f->entries[lo].version == version
               ? &f->entries[lo]
               : NULL;
}

static void scan_golang(mc_folder *f, char **names, size_t n, mc_diag *d,
                        bool *ok)
{
    size_t cap = 0;
    /* The ups first, sorted, so that downs can be paired with them. */
    for (size_t i = 0; i < n; i++) {
        size_t digits;
        bool down;
        if (!ends_with(names[i], ".sql") ||
            !golang_name(names[i], &digits, &down) || down)
            continue;
        mc_entry e;
        if (!init_entry(f, &e, names[i], digits, d)) {
            *ok = false;
            continue;
        }
        e.title = strip_sql(names[i] + digits + 1, ".up.sql");
        add_entry(f, &cap, &e);
    }
    sort_and_drop_duplicates(f, d, ok);
    for (size_t i = 0; i < n; i++) {
        size_t digits;
        bool down;
        if (!ends_with(names[i], ".sql")) {
            continue;
        } else if (!golang_name(names[i], &digits, &down)) {
            char *path = mc_xasprintf("%s/%s", f->dir, names[i]);
            mc_diag_file(d, MC_ERROR, path,
                         "not a golang-migrate file name (expected "
                         "{version}_{title}.up.sql or "
                         "{version}_{title}.down.sql)");
            free(path);
            *ok = false;
            continue;
        } else if (!down) {
            continue;
        }
        mc_entry e;
        if (!init_entry(f, &e, names[i], digits, d)) {
            *ok = false;
            continue;
        }
        mc_entry *up = find_version(f, e.version);
        if (!up) {
            mc_diag_file(d, MC_ERROR, e.up_path,
                         "down migration without an up migration (no "
                         "%s_*.up.sql in the folder)",
                         e.version_text);
            *ok = false;
        } else if (up->down_name) {
            mc_diag_file(d, MC_ERROR, e.up_path,
                         "duplicate version %s: %s has it too",
                         e.version_text, up->down_path);
            *ok = false;
        } else {
            up->down_name = e.up_name;
            up->down_path = e.up_path;
            e.up_name = e.up_path = NULL;
        }
        free_entry(&e);
    }
}

static void scan_single_file(mc_folder *f, char **names, size_t n,
                             const bool *skip, mc_diag *d, bool *ok)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ends_with(names[i], ".sql") || skip[i])
            continue;
        size_t digits = leading_digits(names[i]);
        const char *rest = names[i] + digits;
        bool named = digits > 0;
        if (f->format == MIGC_FORMAT_GOOSE)
            named = named && rest[0] == '_';
        if (!named) {
            char *path = mc_xasprintf("%s/%s", f->dir, names[i]);
            mc_diag_file(d, MC_ERROR, path,
                         "file name does not start with a version number "
                         "(expected %s)",
                         f->format == MIGC_FORMAT_SQL_MIGRATE
                             ? "{version}-{title}.sql"
                             : "{version}_{title}.sql");
            free(path);
            *ok = false;
            continue;
        }
        mc_entry e;
        if (!init_entry(f, &e, names[i], digits, d)) {
            *ok = false;
            continue;
        }
        if (f->format == MIGC_FORMAT_GOOSE && e.version == 0) {
            mc_diag_file(d, MC_ERROR, e.up_path,
                         "goose versions start at 1 (goose refuses version 0)");
            *ok = false;
        }
        if (*rest == '_' || *rest == '-')
            rest++;
        e.title = strip_sql(rest, ".sql");
        if (f->format == MIGC_FORMAT_SQL_MIGRATE) {
            free(e.id);
            e.id = mc_xstrdup(names[i]);
        }
        add_entry(f, &cap, &e);
    }
    /* sql-migrate identifies migrations by file name: one version may
     * appear in several files there. */
    if (f->format == MIGC_FORMAT_SQL_MIGRATE && f->count > 1)
        qsort(f->entries, f->count, sizeof *f->entries, compare_entries);
    else
        sort_and_drop_duplicates(f, d, ok);
}

/* Decides the format of a folder without golang-migrate names from the
 * annotations of its .sql files. */
static migc_format detect_single_file_format(mc_folder *f, char **names,
                                             size_t n, bool *skip, mc_diag *d,
                                             bool *ok, bool *io_error)
{
    migc_format found = 0;
    const char *found_in = NULL;
    bool any_sql = false;
    for (size_t i = 0; i < n; i++) {
        if (!ends_with(names[i], ".sql"))
            continue;
        any_sql = true;
        char *path = mc_xasprintf("%s/%s", f->dir, names[i]);
        size_t len;
        char *head = mc_read_file(path, SNIFF_BYTES, &len, d, io_error);
        migc_format fmt = head ? sniff_format(head) : 0;
        free(head);
        if (!head)
            *ok = false;
        if (fmt && found && fmt != found) {
            mc_diag_file(d, MC_ERROR, path,
                         "a %s migration in a folder of %s migrations (%s): "
                         "one folder holds one format",
                         mc_format_name(fmt), mc_format_name(found), found_in);
            *ok = false;
            skip[i] = true; /* reported once; not checked any further */
        } else if (fmt && !found) {
            found = fmt;
            found_in = names[i];
        }
        free(path);
    }
    if (any_sql && !found) {
        mc_diag_file(d, MC_ERROR, f->dir,
                     "cannot tell the format of these migrations: name "
                     "golang-migrate files {version}_{title}.up.sql, or "
                     "annotate single files with -- +goose Up, -- +migrate "
                     "Up or -- migrate:up");
        *ok = false;
    }
    return found;
}

/* Go migrations (goose) are code migc cannot run: warn about them. */
static void warn_go_migrations(const mc_folder *f, char **names, size_t n,
                               mc_diag *d)
{
    for (size_t i = 0; i < n; i++) {
        size_t digits = leading_digits(names[i]);
        if (digits == 0 || names[i][digits] != '_' ||
            !ends_with(names[i], ".go") || ends_with(names[i], "_test.go"))
            continue;
        char *path = mc_xasprintf("%s/%s", f->dir, names[i]);
        bool io = false;
        mc_diag quiet = {0};
        quiet.out = d->out;
        size_t len;
        char *text = mc_read_file(path, 0, &len, &quiet, &io);
        if (text && strstr(text, "goose"))
            mc_diag_file(d, MC_WARNING, path,
                         "Go migration ignored: migc embeds SQL migrations "
                         "only, so version %.*s is not in the catalog",
                         (int)digits, names[i]);
        free(text);
        free(path);
    }
}

static char *folder_label(const char *dir)
{
    char *real = realpath(dir, NULL);
    const char *base = real ? real : dir;
    const char *slash = strrchr(base, '/');
    const char *label = slash && slash[1] ? slash + 1 : base;
    char *out = mc_xstrdup(label[0] ? label : "migrations");
    free(real);
    return out;
}

bool mc_folder_scan(const char *dir, mc_folder *out, mc_diag *d,
                    bool *io_error)
{
    memset(out, 0, sizeof *out);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    out->dir = mc_xstrndup(dir, dl);
    out->label = folder_label(out->dir);
    size_t n = 0;
    char **names = list_files(out->dir, &n, d, io_error);
    if (!names && *io_error)
        return false;
    bool ok = true;
    bool golang = false;
    for (size_t i = 0; i < n; i++) {
        size_t digits;
        bool down;
        if (ends_with(names[i], ".sql") && golang_name(names[i], &digits, &down))
            golang = true;
    }
    if (golang) {
        out->format = MIGC_FORMAT_GOLANG_MIGRATE;
        scan_golang(out, names, n, d, &ok);
    } else {
        bool *skip = mc_xcalloc(n ? n : 1, sizeof *skip);
        out->format = detect_single_file_format(out, names, n, skip, d, &ok,
                                                io_error);
        if (out->format)
            scan_single_file(out, names, n, skip, d, &ok);
        free(skip);
    }
    warn_go_migrations(out, names, n, d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ok;
}

void mc_folder_free(mc_folder *f)
{
    for (size_t i = 0; i < f->count; i++)
        free_entry(&f->entries[i]);
    free(f->entries);
    free(f->dir);
    free(f->label);
    memset(f, 0, sizeof *f);
}
