/*
 * lexer.re -- the re2c source of migc's SQL tokenizer.  See lexer.h for what
 * it recognizes and why.  Each construct is one small re2c block; the
 * end of input is handled with re2c's EOF rule ($) and the NUL sentinel at
 * text[len], so NUL bytes inside the text cannot end the scan early.
 */
#include "lexer.h"

#include <string.h>

/*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:yyfill:enable = 0;
    re2c:eof = 0;
    re2c:flags:tags = 0;

    space      = [ \t\n\r\f\v];
    ident_start = [A-Za-z_\x80-\xff];
    ident_cont  = [A-Za-z_0-9$\x80-\xff];
    dolq_start  = [A-Za-z_\x80-\xff];
    dolq_cont   = [A-Za-z_0-9\x80-\xff];
    digit      = [0-9];
*/

void mc_lexer_init(mc_lexer *lx, const char *text, size_t len)
{
    lx->base = (const unsigned char *)text;
    lx->cursor = lx->base;
    lx->limit = lx->base + len;
}

void mc_lexer_seek(mc_lexer *lx, size_t offset)
{
    size_t len = (size_t)(lx->limit - lx->base);
    lx->cursor = lx->base + (offset < len ? offset : len);
}

/* The bodies of quoted constructs.  Each is called with the cursor just
 * after the opening quote and returns 1 when the closing quote was found
 * (cursor after it), 0 at the end of input (cursor at the end). */

/* '...' where '' stands for one quote (standard_conforming_strings). */
static int scan_string_body(mc_lexer *lx)
{
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYLIMIT = lx->limit;
    for (;;) {
    /*!re2c
        [']           { lx->cursor = YYCURSOR; return 1; }
        [^']+ | ['][']  { continue; }
        $             { lx->cursor = YYLIMIT; return 0; }
    */
    }
}

/* E'...' where a backslash escapes the next byte and '' is a quote. */
static int scan_estring_body(mc_lexer *lx)
{
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYLIMIT = lx->limit;
    for (;;) {
    /*!re2c
        [']           { lx->cursor = YYCURSOR; return 1; }
        [^'\\]+ | ['][']  | [\\][^]  { continue; }
        [\\]          { lx->cursor = YYLIMIT; return 0; }
        $             { lx->cursor = YYLIMIT; return 0; }
    */
    }
}

/* "..." where "" stands for one double quote. */
static int scan_quoted_ident_body(mc_lexer *lx)
{
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYLIMIT = lx->limit;
    for (;;) {
    /*!re2c
        ["]           { lx->cursor = YYCURSOR; return 1; }
        [^"]+ | ["]["]  { continue; }
        $             { lx->cursor = YYLIMIT; return 0; }
    */
    }
}

/* Scans a (possibly nested) block comment whose opening slash-star was just
 * consumed.  Returns 1 when it closed, 0 at end of input. */
static int scan_block_comment(mc_lexer *lx)
{
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYLIMIT = lx->limit;
    int depth = 1;
    for (;;) {
    /*!re2c
        "/*"      { depth++; continue; }
        "*" "/"   { if (--depth == 0) { lx->cursor = YYCURSOR; return 1; } continue; }
        [^]       { continue; }
        $         { lx->cursor = YYLIMIT; return 0; }
    */
    }
}

/* Scans a dollar-quoted body whose opening delimiter is the `dlen` bytes at
 * `delim` (cursor just after it): the body ends at the first occurrence of
 * the same delimiter, exactly as psql's xdolq state decides.  Returns 1 when
 * found, 0 at end of input. */
static int scan_dollar_body(mc_lexer *lx, const unsigned char *delim,
                            size_t dlen)
{
    const unsigned char *p = lx->cursor;
    while (p < lx->limit) {
        const unsigned char *dollar = memchr(p, '$', (size_t)(lx->limit - p));
        if (!dollar)
            break;
        if ((size_t)(lx->limit - dollar) >= dlen &&
            memcmp(dollar, delim, dlen) == 0) {
            lx->cursor = dollar + dlen;
            return 1;
        }
        p = dollar + 1;
    }
    lx->cursor = lx->limit;
    return 0;
}

mc_token mc_lexer_next(mc_lexer *lx)
{
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYLIMIT = lx->limit;
    const unsigned char *YYMARKER = YYCURSOR;
    const unsigned char *start = YYCURSOR;
    mc_token tok;
    tok.start = (size_t)(start - lx->base);

#define TOKEN(k) do { tok.kind = (k); goto done; } while (0)
#define QUOTED(scan, ok, bad) \
    do { lx->cursor = YYCURSOR; \
         tok.kind = scan(lx) ? (ok) : (bad); \
         YYCURSOR = lx->cursor; goto done; } while (0)

    /*!re2c
        $                     { TOKEN(MC_TOK_EOF); }
        space+                { TOKEN(MC_TOK_SPACE); }
        "--" [^\n\r]*         { TOKEN(MC_TOK_LINE_COMMENT); }
        "/*"                  {
                                  lx->cursor = YYCURSOR;
                                  tok.kind = scan_block_comment(lx)
                                      ? MC_TOK_BLOCK_COMMENT
                                      : MC_TOK_UNTERMINATED_COMMENT;
                                  YYCURSOR = lx->cursor;
                                  goto done;
                              }
        [eE] [']              { QUOTED(scan_estring_body, MC_TOK_STRING,
                                       MC_TOK_UNTERMINATED_ESTRING); }
        ([bBxXnN] | [uU] "&") [']
                              { QUOTED(scan_string_body, MC_TOK_STRING,
                                       MC_TOK_UNTERMINATED_STRING); }
        [']                   { QUOTED(scan_string_body, MC_TOK_STRING,
                                       MC_TOK_UNTERMINATED_STRING); }
        ([uU] "&")? ["]       { QUOTED(scan_quoted_ident_body,
                                       MC_TOK_QUOTED_IDENT,
                                       MC_TOK_UNTERMINATED_QUOTED_IDENT); }
        "$" (dolq_start dolq_cont*)? "$"
                              {
                                  size_t dlen = (size_t)(YYCURSOR - start);
                                  lx->cursor = YYCURSOR;
                                  tok.kind = scan_dollar_body(lx, start, dlen)
                                      ? MC_TOK_DOLLAR_STRING
                                      : MC_TOK_UNTERMINATED_DOLLAR_STRING;
                                  YYCURSOR = lx->cursor;
                                  goto done;
                              }
        "$" digit+            { TOKEN(MC_TOK_PARAM); }
        ident_start ident_cont*
                              { TOKEN(MC_TOK_IDENT); }
        (digit+ ("." digit*)? | "." digit+) ([eE] [+-]? digit+)?
                              { TOKEN(MC_TOK_NUMBER); }
        "("                   { TOKEN(MC_TOK_LPAREN); }
        ")"                   { TOKEN(MC_TOK_RPAREN); }
        ";"                   { TOKEN(MC_TOK_SEMICOLON); }
        "\\"                  { TOKEN(MC_TOK_BACKSLASH); }
        *                     { TOKEN(MC_TOK_OTHER); }
    */

#undef TOKEN
#undef QUOTED
done:
    (void)YYMARKER;
    lx->cursor = YYCURSOR;
    tok.end = (size_t)(YYCURSOR - lx->base);
    return tok;
}

const char *mc_token_kind_name(mc_token_kind kind)
{
    switch (kind) {
    case MC_TOK_EOF: return "eof";
    case MC_TOK_SPACE: return "space";
    case MC_TOK_LINE_COMMENT: return "line-comment";
    case MC_TOK_BLOCK_COMMENT: return "block-comment";
    case MC_TOK_IDENT: return "ident";
    case MC_TOK_QUOTED_IDENT: return "quoted-ident";
    case MC_TOK_STRING: return "string";
    case MC_TOK_DOLLAR_STRING: return "dollar-string";
    case MC_TOK_NUMBER: return "number";
    case MC_TOK_PARAM: return "param";
    case MC_TOK_LPAREN: return "lparen";
    case MC_TOK_RPAREN: return "rparen";
    case MC_TOK_SEMICOLON: return "semicolon";
    case MC_TOK_BACKSLASH: return "backslash";
    case MC_TOK_OTHER: return "other";
    case MC_TOK_UNTERMINATED_STRING: return "unterminated-string";
    case MC_TOK_UNTERMINATED_ESTRING: return "unterminated-estring";
    case MC_TOK_UNTERMINATED_QUOTED_IDENT: return "unterminated-quoted-ident";
    case MC_TOK_UNTERMINATED_DOLLAR_STRING: return "unterminated-dollar-string";
    case MC_TOK_UNTERMINATED_COMMENT: return "unterminated-comment";
    }
    return "?";
}
