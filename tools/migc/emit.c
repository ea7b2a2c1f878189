/*
 * emit.c -- the C code generator.  See emit.h.
 */
#include "emit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <migc/version.h>

/* Bytes of SQL per row of a large script; below ISO C's 4095-character
 * minimum for string literals. */
#define ROW_BYTES 4000

bool mc_is_c_identifier(const char *s)
{
    /* Names the migc headers, C itself or <stddef.h>/<stdint.h> (which the
     * generated file includes) already declare, and the names of the
     * generated file's own arrays. */
    static const char *const reserved[] = {
        "migc_format", "migc_transaction_mode", "migc_statement",
        "migc_script", "migc_migration", "migc_catalog", "migc_version",
        "migc_catalog_find", "migc_catalog_check", "migc_catalog_text",
        "migc_script_statements", "migc_result",
        "migc_error", "migc_options", "migc_log_fn", "migc_state",
        "migc_status_entry", "migc_status_report", "migc_output_format",
        "migc_strerror", "migc_format_error", "migc_up", "migc_down",
        "migc_down_to", "migc_force", "migc_status", "migc_status_free",
        "migc_print_status", "migc_print_plan", "migc_main", "PGconn",
        "PGresult", "auto", "break", "case",
        "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int",
        "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union",
        "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof",
        "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary",
        "_Noreturn", "_Static_assert", "_Thread_local", "NULL", "offsetof",
    };
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return false;
    size_t n = strlen(s);
    /* *_t names belong to the C library and POSIX; migc__ to generated
     * code; MIGC_ to the headers' macros and constants; a leading
     * underscore and capital to the implementation. */
    if ((n > 2 && strcmp(s + n - 2, "_t") == 0) ||
        strncmp(s, "migc__", 6) == 0 || strncmp(s, "MIGC_", 5) == 0 ||
        (s[0] == '_' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z'))))
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Source bytes a literal piece holds before it ends at a line break:
 * gcc's time goes with the number of tokens more than with their length,
 * and one piece per source line made the output several times slower to
 * compile.  (Every piece stays within its row, so ISO C's 4095-byte
 * guarantee for one literal is met by the rows.) */
#define PIECE_BYTES 1024

/* Writes s inside a C comment: a "*" "/" in it would end the comment. */
static void comment_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        fputc(*s, out);
        if (s[0] == '*' && s[1] == '/')
            fputc(' ', out);
    }
}

/* Ends the open literal piece of the text array, if any. */
static void close_piece(mc_emitter *e, mc_buf *t)
{
    if (e->piece_open)
        mc_buf_puts(t, "\"\n");
    e->piece_open = false;
}

/* Appends len bytes to the catalog's text: the one array
 * `migc__text[][ROW_BYTES]`, opened by the first call, whose rows are
 * literal pieces.  A piece ends with each NUL (a statement's or a
 * string's end) and at the first line break past PIECE_BYTES; a row ends
 * after ROW_BYTES bytes, in the middle of a string if need be, since the
 * rows are contiguous. */
static void text_put(mc_emitter *e, const char *data, size_t len)
{
    mc_buf *t = &e->text;
    t->len = 0;
    if (!e->text_open) {
        mc_buf_printf(t, "static const char migc__text[][%d] = {\n",
                      ROW_BYTES);
        e->text_open = true;
    }
    for (size_t i = 0; i < len; i++) {
        if (e->row_fill == ROW_BYTES) {
            close_piece(e, t);
            mc_buf_puts(t, "  ,\n");
            e->row_fill = 0;
        }
        if (!e->piece_open) {
            mc_buf_puts(t, "    \"");
            e->piece_open = true;
            e->piece = 0;
            e->prev = 0;
        }
        unsigned char c = (unsigned char)data[i];
        e->row_fill++;
        e->piece++;
        if (c == '\0' || (c == '\n' && e->piece >= PIECE_BYTES)) {
            mc_buf_puts(t, c ? "\\n" : "\\000");
            close_piece(e, t);
            continue;
        }
        switch (c) {
        case '\n': mc_buf_puts(t, "\\n"); break;
        case '"': mc_buf_puts(t, "\\\""); break;
        case '\\': mc_buf_puts(t, "\\\\"); break;
        case '\t': mc_buf_puts(t, "\\t"); break;
        case '?':
            /* "??x" could be a trigraph in strict ISO modes. */
            mc_buf_puts(t, e->prev == '?' ? "\\?" : "?");
            break;
        default:
            if (c >= 0x20 && c < 0x7f)
                mc_buf_putc(t, (char)c);
            else
                mc_buf_printf(t, "\\%03o", c);
        }
        e->prev = (char)c;
        if (t->len >= 65536) {
            /* The escaped text of a huge script is never held whole. */
            fwrite(t->data, 1, t->len, e->out);
            t->len = 0;
        }
    }
    fwrite(t->data, 1, t->len, e->out);
    t->len = 0;
}

/* Appends len bytes and a NUL to the catalog's text; returns their
 * offset, or MIGC_NO_TEXT when the text would outgrow 32-bit offsets
 * (reported by mc_emit_end). */
static uint32_t text_add(mc_emitter *e, const char *data, size_t len)
{
    if (e->too_large || len >= (size_t)MIGC_NO_TEXT - e->text_length) {
        e->too_large = true;
        return MIGC_NO_TEXT;
    }
    uint32_t at = (uint32_t)e->text_length;
    text_put(e, data, len);
    text_put(e, "", 1);
    e->text_length += len + 1;
    return at;
}

/* Writes a comment line into the text array before a script. */
static void text_comment(mc_emitter *e, const char *what)
{
    if (!e->text_open)
        text_put(e, "", 0);
    mc_buf t = {0};
    close_piece(e, &t);
    if (t.len)
        fwrite(t.data, 1, t.len, e->out);
    mc_buf_free(&t);
    fputs("    /* ", e->out);
    comment_text(e->out, what);
    fputs(" */\n", e->out);
}

/* A hash as a string literal of exactly MIGC_SHA256_SIZE bytes (ISO C
 * lets it fill the array without its NUL; the members are declared
 * MIGC_NONSTRING): one token where a brace list was 32. */
static void emit_hash(FILE *out, const unsigned char h[MIGC_SHA256_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    char text[2 + MIGC_SHA256_SIZE * 4];
    size_t n = 0;
    text[n++] = '"';
    for (int i = 0; i < MIGC_SHA256_SIZE; i++) {
        text[n++] = '\\';
        text[n++] = 'x';
        text[n++] = digits[h[i] >> 4];
        text[n++] = digits[h[i] & 15];
    }
    text[n++] = '"';
    fwrite(text, 1, n, out);
}

static void emit_c_string(FILE *out, const char *s)
{
    mc_buf b = {0};
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            mc_buf_printf(&b, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f && *p != '?')
            mc_buf_putc(&b, (char)*p);
        else
            mc_buf_printf(&b, "\\%03o", *p);
    }
    if (b.len)
        fwrite(b.data, 1, b.len, out);
    fputc('"', out);
    mc_buf_free(&b);
}

/* Appends one script's text and statements and spools its migc_script
 * initializer. */
static void emit_script(mc_emitter *e, const mc_script *s, const char *half)
{
    FILE *rows = e->rows;
    if (!s->present) {
        fputs("     {MIGC_NO_TEXT, 0, 0, 0, 0, 0, 0, MIGC_NO_TEXT, {0}}", rows);
        return;
    }
    const mc_section *sec = s->section;
    migc_statement *stmts = mc_xcalloc(sec->count ? sec->count : 1,
                                       sizeof *stmts);
    e->image.len = 0;
    uint32_t flags = mc_script_image(s, &e->image, stmts);
    char *what = mc_xasprintf("%s, %s", s->catalog_path, half);
    text_comment(e, what);
    free(what);
    /* The single-file formats' down shares the up's file. */
    uint32_t file = e->last_file && strcmp(e->last_file, s->catalog_path) == 0
                        ? e->last_file_offset
                        : text_add(e, s->catalog_path, strlen(s->catalog_path));
    e->last_file = s->catalog_path;
    e->last_file_offset = file;
    uint32_t sql = text_add(e, e->image.data ? e->image.data : "",
                            e->image.len);
    /* The statements of every script go into one array (spooled, written
     * after the text). */
    size_t first = e->statement_count;
    for (size_t i = 0; i < sec->count; i++)
        fprintf(e->statements, "    {%u, %u, %u, %u, 0x%x},\n",
                (unsigned)stmts[i].offset, (unsigned)stmts[i].length,
                (unsigned)stmts[i].line, (unsigned)stmts[i].column,
                (unsigned)stmts[i].flags);
    e->statement_count += sec->count;
    fprintf(rows, "     {%lu, %zu, %zu, %zu, %u, %d, 0x%x, %lu,\n      ",
            (unsigned long)sql, e->image.len, first, sec->count,
            (unsigned)sec->first_line, (int)s->plan.mode, (unsigned)flags,
            (unsigned long)file);
    emit_hash(rows, s->sha256);
    fputc('}', rows);
    free(stmts);
}

bool mc_emit_begin(mc_emitter *e, FILE *out, const char *symbol,
                   const mc_folder *f, mc_diag *d)
{
    memset(e, 0, sizeof *e);
    e->out = out;
    e->symbol = symbol;
    e->rows = tmpfile();
    e->statements = tmpfile();
    if (!e->rows || !e->statements) {
        mc_diag_file(d, MC_ERROR, NULL, "cannot create a temporary file: %s",
                     strerror(errno));
        return false;
    }
    fprintf(out, "/* Generated by migc %s from the %s migrations in \"",
            MIGC_VERSION_STRING, mc_format_name(f->format));
    comment_text(out, f->label);
    fprintf(out,
            "\".\n"
            " * Do not edit: edit the migrations and rebuild. */\n"
            "#include <stddef.h>\n"
            "#include <migc/catalog.h>\n"
            "\n"
            "#if !defined(MIGC_CATALOG_ABI) || MIGC_CATALOG_ABI != %d\n"
            "#error \"this catalog was generated for migc catalog ABI %d: "
            "regenerate it with the migc that matches <migc/catalog.h>\"\n"
            "#endif\n\n",
            MIGC_CATALOG_ABI, MIGC_CATALOG_ABI);
    return true;
}

void mc_emit_migration(mc_emitter *e, const mc_migration *m)
{
    const mc_entry *en = m->entry;
    e->last_file = NULL; /* shared within one migration only */
    uint32_t id = text_add(e, en->id, strlen(en->id));
    uint32_t name = text_add(e, en->title, strlen(en->title));
    fprintf(e->rows, "    {%lldLL, %lu, %lu,\n", (long long)en->version,
            (unsigned long)id, (unsigned long)name);
    emit_script(e, &m->up, "up");
    fputs(",\n", e->rows);
    emit_script(e, &m->down, "down");
    fputs(",\n     ", e->rows);
    emit_hash(e->rows, m->chain);
    fputs("},\n", e->rows);
    e->index++;
}

/* Appends a spool file's content to out. */
static bool copy_spool(FILE *spool, FILE *out, mc_diag *d)
{
    rewind(spool);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, spool)) > 0)
        fwrite(buf, 1, n, out);
    if (ferror(spool)) {
        mc_diag_file(d, MC_ERROR, NULL, "cannot read a temporary file");
        return false;
    }
    return true;
}

bool mc_emit_end(mc_emitter *e, const mc_folder *f,
                 const unsigned char chain[MIGC_SHA256_SIZE], mc_diag *d)
{
    FILE *out = e->out;
    bool ok = true;
    if (e->too_large) {
        mc_diag_file(d, MC_ERROR, f->dir,
                     "the migrations' text is larger than 4 GiB, the limit "
                     "of a catalog");
        ok = false;
    }
    if (e->text_open) {
        mc_buf t = {0};
        close_piece(e, &t);
        if (t.len)
            fwrite(t.data, 1, t.len, out);
        mc_buf_free(&t);
        fputs("};\n\n", out);
    }
    if (e->statement_count) {
        fprintf(out, "static const migc_statement migc__statements[%zu] = {\n",
                e->statement_count);
        ok = copy_spool(e->statements, out, d) && ok;
        fputs("};\n\n", out);
    }
    if (e->index) {
        fprintf(out, "static const migc_migration migc__migrations[%zu] = {\n",
                e->index);
        ok = copy_spool(e->rows, out, d) && ok;
        fputs("};\n\n", out);
    }
    /* Declared first, so the definition has a prior declaration
     * (-Wmissing-variable-declarations). */
    fprintf(out, "extern const migc_catalog %s;\n"
                 "const migc_catalog %s = {\n    MIGC_CATALOG_ABI, %d, ",
            e->symbol, e->symbol, (int)f->format);
    emit_c_string(out, e->symbol);
    fputs(", ", out);
    emit_c_string(out, f->label);
    fputs(", ", out);
    emit_c_string(out, MIGC_VERSION_STRING);
    fprintf(out, ",\n    %zu, %s,\n    %s, %zu,\n    %s, %zu,\n    ",
            e->index, e->index ? "migc__migrations" : "NULL",
            e->statement_count ? "migc__statements" : "NULL",
            e->statement_count,
            e->text_open ? "(const char *)migc__text" : "NULL",
            e->text_length);
    emit_hash(out, chain);
    fputs("\n};\n", out);
    mc_emit_abort(e);
    return ok;
}

void mc_emit_abort(mc_emitter *e)
{
    if (e->rows)
        fclose(e->rows);
    if (e->statements)
        fclose(e->statements);
    e->rows = NULL;
    e->statements = NULL;
    mc_buf_free(&e->image);
    mc_buf_free(&e->text);
}

void mc_emit_header(FILE *out, const char *symbol)
{
    fprintf(out,
            "/* Generated by migc %s.  Do not edit. */\n"
            "#ifndef MIGC_GENERATED_%s_H\n"
            "#define MIGC_GENERATED_%s_H\n"
            "\n"
            "#include <migc/catalog.h>\n"
            "\n"
            "#ifdef __cplusplus\n"
            "extern \"C\" {\n"
            "#endif\n"
            "\n"
            "/* The migrations compiled into this program. */\n"
            "extern const migc_catalog %s;\n"
            "\n"
            "#ifdef __cplusplus\n"
            "}\n"
            "#endif\n"
            "\n"
            "#endif\n",
            MIGC_VERSION_STRING, symbol, symbol, symbol);
}

static void depfile_path(FILE *out, const char *path)
{
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '#' || *p == '\\')
            fputc('\\', out);
        else if (*p == '$')
            fputc('$', out);
        fputc(*p, out);
    }
}

void mc_emit_depfile(FILE *out, const char *target, const mc_folder *f)
{
    depfile_path(out, target);
    fputs(": \\\n  ", out);
    depfile_path(out, f->dir);
    for (size_t i = 0; i < f->count; i++) {
        fputs(" \\\n  ", out);
        depfile_path(out, f->entries[i].up_path);
        if (f->entries[i].down_path) {
            fputs(" \\\n  ", out);
            depfile_path(out, f->entries[i].down_path);
        }
    }
    fputc('\n', out);
}
