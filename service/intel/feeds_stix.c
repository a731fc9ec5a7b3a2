/*
 * feeds_stix: STIX 2.1 bundles (and TAXII 2.1 envelopes, and bare arrays of STIX objects), plus
 * the scanner of STIX patterns that finds the addresses in the patterns ward can match on.
 *
 * Supported patterns are exactly those that say "the address is one of these": comparisons of
 * ipv4-addr:value or ipv6-addr:value with =, ISSUBSET or IN ('a', 'b'), joined by OR, inside one
 * or more [...] observation expressions joined by OR, with any grouping parentheses. With only
 * OR, grouping cannot change the meaning, so the scanner is a flat state machine: no recursion,
 * one pass, bounded nesting, bounded output. Everything else (AND, FOLLOWEDBY, NOT, qualifiers,
 * other object paths, other operators) is "unsupported", counted and skipped, never guessed at.
 *
 * Invariants: an unsupported construct anywhere wins over a bad address (the pattern is skipped,
 * not reported); a pattern either yields all its addresses or none.
 */
#include "feeds_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Pattern scanner */

enum tok {
    T_END,
    T_LBRACK,
    T_RBRACK,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_EQ,
    T_STRING,
    T_WORD,
    T_OTHER
};

typedef struct scanner {
    const char *p, *end;
    const char *tok; /* the token's text (for T_STRING: inside the quotes) */
    size_t tok_n;
    bool escaped; /* a T_STRING with backslash escapes in it */
} scanner_t;

static bool word_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == ':' || ch == '.' || ch == '*';
}

/* Returns the next token, or -1 for an unterminated string. */
static int next_tok(scanner_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
    if (s->p >= s->end)
        return T_END;
    char ch = *s->p;
    s->tok = s->p;
    s->tok_n = 1;
    switch (ch) {
    case '[':
        s->p++;
        return T_LBRACK;
    case ']':
        s->p++;
        return T_RBRACK;
    case '(':
        s->p++;
        return T_LPAREN;
    case ')':
        s->p++;
        return T_RPAREN;
    case ',':
        s->p++;
        return T_COMMA;
    case '=':
        s->p++;
        return T_EQ;
    case '\'': {
        const char *q = ++s->p;
        s->escaped = false;
        while (q < s->end && *q != '\'') {
            if (*q == '\\') {
                s->escaped = true;
                if (q + 1 >= s->end)
                    return -1;
                q++;
            }
            q++;
        }
        if (q >= s->end)
            return -1;
        s->tok = s->p;
        s->tok_n = (size_t)(q - s->p);
        s->p = q + 1;
        return T_STRING;
    }
    default:
        break;
    }
    if (word_char(ch)) {
        const char *q = s->p;
        /* A quote inside a word is a typed literal (b'..', h'..', t'..'): unsupported anyway. */
        while (q < s->end && word_char(*q))
            q++;
        if (q < s->end && *q == '\'')
            return T_OTHER;
        s->tok_n = (size_t)(q - s->p);
        s->p = q;
        return T_WORD;
    }
    s->p++;
    return T_OTHER;
}

static bool tok_is(const scanner_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->tok_n == n && memcmp(s->tok, lit, n) == 0;
}

#define STIX_MAX_NESTING 32

ward_status_t ward__stix_pattern(const char *p, size_t n, ward__stix_addr_t *out, size_t max,
                                 size_t *count, const char **why)
{
    enum { EXPECT_OBS, EXPECT_CMP, AFTER_CMP, AFTER_OBS } state = EXPECT_OBS;
    scanner_t s = {.p = p, .end = p + n};
    int outer = 0, inner = 0; /* open parentheses outside and inside [...] */
    size_t k = 0;
    const char *bad = NULL;
    bool full = false;
    *count = 0;
    *why = NULL;
    for (;;) {
        int t = next_tok(&s);
        if (t < 0) {
            *why = "unterminated string in pattern";
            return WARD_E_MALFORMED;
        }
        switch (state) {
        case EXPECT_OBS:
            if (t == T_LPAREN) {
                if (++outer > STIX_MAX_NESTING)
                    return WARD_E_UNSUPPORTED;
            } else if (t == T_LBRACK) {
                state = EXPECT_CMP;
            } else if (t == T_END) {
                *why = "pattern is empty or ends after OR";
                return WARD_E_MALFORMED;
            } else {
                return WARD_E_UNSUPPORTED;
            }
            break;
        case EXPECT_CMP: {
            if (t == T_LPAREN) {
                if (++inner > STIX_MAX_NESTING)
                    return WARD_E_UNSUPPORTED;
                break;
            }
            if (t == T_END) {
                *why = "pattern ends inside [...]";
                return WARD_E_MALFORMED;
            }
            if (t != T_WORD)
                return WARD_E_UNSUPPORTED;
            bool v6;
            if (tok_is(&s, "ipv4-addr:value"))
                v6 = false;
            else if (tok_is(&s, "ipv6-addr:value"))
                v6 = true;
            else
                return WARD_E_UNSUPPORTED;
            t = next_tok(&s);
            bool set = false;
            if (t == T_WORD && tok_is(&s, "IN"))
                set = true;
            else if (!(t == T_EQ || (t == T_WORD && tok_is(&s, "ISSUBSET"))))
                return t < 0 ? WARD_E_MALFORMED : WARD_E_UNSUPPORTED;
            if (set && next_tok(&s) != T_LPAREN)
                return WARD_E_UNSUPPORTED;
            for (;;) {
                t = next_tok(&s);
                if (t < 0) {
                    *why = "unterminated string in pattern";
                    return WARD_E_MALFORMED;
                }
                if (t != T_STRING)
                    return WARD_E_UNSUPPORTED;
                ward__stix_addr_t a;
                bool has_colon = memchr(s.tok, ':', s.tok_n) != NULL;
                if (s.escaped || has_colon != v6 ||
                    !ward__ip_parse_cidr_n(s.tok, s.tok_n, &a.addr, &a.prefix, &a.is_v4)) {
                    if (bad == NULL)
                        bad = v6 ? "bad IPv6 address in pattern" : "bad IPv4 address in pattern";
                } else if (k < max) {
                    out[k++] = a;
                } else {
                    full = true;
                }
                if (!set)
                    break;
                t = next_tok(&s);
                if (t == T_RPAREN)
                    break;
                if (t != T_COMMA)
                    return t < 0 ? WARD_E_MALFORMED : WARD_E_UNSUPPORTED;
            }
            state = AFTER_CMP;
            break;
        }
        case AFTER_CMP:
            if (t == T_WORD && tok_is(&s, "OR")) {
                state = EXPECT_CMP;
            } else if (t == T_RPAREN) {
                if (--inner < 0) {
                    *why = "unbalanced ')' in pattern";
                    return WARD_E_MALFORMED;
                }
            } else if (t == T_RBRACK) {
                if (inner != 0) {
                    *why = "unbalanced '(' in pattern";
                    return WARD_E_MALFORMED;
                }
                state = AFTER_OBS;
            } else if (t == T_END) {
                *why = "pattern ends inside [...]";
                return WARD_E_MALFORMED;
            } else {
                return WARD_E_UNSUPPORTED;
            }
            break;
        case AFTER_OBS:
            if (t == T_WORD && tok_is(&s, "OR")) {
                state = EXPECT_OBS;
            } else if (t == T_RPAREN) {
                if (--outer < 0) {
                    *why = "unbalanced ')' in pattern";
                    return WARD_E_MALFORMED;
                }
            } else if (t == T_END) {
                if (outer != 0) {
                    *why = "unbalanced '(' in pattern";
                    return WARD_E_MALFORMED;
                }
                if (bad != NULL) {
                    *why = bad;
                    return WARD_E_MALFORMED;
                }
                if (full) {
                    *why = "too many addresses in one pattern";
                    return WARD_E_FULL;
                }
                *count = k;
                return WARD_OK;
            } else {
                /* AND, FOLLOWEDBY, WITHIN, REPEATS, START ... */
                return WARD_E_UNSUPPORTED;
            }
            break;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Bundles */

#define STIX_MAX_ADDRS 4096

static const char *jstr(json_t *obj, const char *key, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return json_string_value(v);
}

static void stix_indicator(ward__feed_ctx_t *c, json_t *o, size_t idx, ward__stix_addr_t *addrs)
{
    size_t idn = 0;
    const char *id = jstr(o, "id", &idn);
    char where[96];
    snprintf(where, sizeof where, "objects[%zu]%s%.*s", idx, id ? " " : "",
             (int)(idn < 80 ? idn : 80), id ? id : "");

    if (json_is_true(json_object_get(o, "revoked"))) {
        ward__feed_skip(c, false, true);
        return;
    }
    size_t ptn = 0, pn = 0;
    const char *ptype = jstr(o, "pattern_type", &ptn);
    if (ptype != NULL && strcmp(ptype, "stix") != 0) {
        ward__feed_skip(c, true, false);
        return;
    }
    const char *pattern = jstr(o, "pattern", &pn);
    if (pattern == NULL) {
        ward__feed_bad(c, 0, "%s: indicator without a pattern", where);
        return;
    }
    size_t k = 0;
    const char *why = NULL;
    ward_status_t rc = ward__stix_pattern(pattern, pn, addrs, STIX_MAX_ADDRS, &k, &why);
    if (rc == WARD_E_UNSUPPORTED) {
        ward__feed_skip(c, true, false);
        return;
    }
    if (rc != WARD_OK) {
        ward__feed_bad(c, 0, "%s: %s", where, why ? why : "bad pattern");
        return;
    }

    ward_indicator_t ind = {0};
    ind.confidence = ward__feed_confidence(c, WARD__DEFAULT_CONFIDENCE);
    json_t *conf = json_object_get(o, "confidence");
    if (conf != NULL) {
        if (!json_is_integer(conf) || json_integer_value(conf) < 0 ||
            json_integer_value(conf) > 100) {
            ward__feed_bad(c, 0, "%s: confidence is not an integer 0..100", where);
            return;
        }
        ind.confidence = (uint8_t)json_integer_value(conf);
    }
    size_t tn = 0;
    const char *ts = jstr(o, "valid_from", &tn);
    if (ts != NULL && !ward__parse_time((ward__str_t){ts, tn}, &ind.first_seen)) {
        ward__feed_bad(c, 0, "%s: valid_from is not a timestamp", where);
        return;
    }
    ts = jstr(o, "valid_until", &tn);
    if (ts != NULL && !ward__parse_time((ward__str_t){ts, tn}, &ind.expires)) {
        ward__feed_bad(c, 0, "%s: valid_until is not a timestamp", where);
        return;
    }
    /* A timestamp at or before 1970 would read as "never expires". */
    if (ts != NULL && ind.expires <= 0)
        ind.expires = 1;
    json_t *types = json_object_get(o, "indicator_types");
    if (!json_is_array(types) || json_array_size(types) == 0)
        types = json_object_get(o, "labels");
    json_t *t0 = json_is_array(types) ? json_array_get(types, 0) : NULL;
    if (json_is_string(t0) && json_string_length(t0) > 0 && json_string_length(t0) <= 128)
        ind.category = ward__feed_intern(c, json_string_value(t0), json_string_length(t0));
    else
        ind.category = c->category;
    ind.ref = id != NULL && idn <= 256 ? ward__feed_intern(c, id, idn) : 0;
    for (size_t i = 0; i < k; i++) {
        ind.addr = addrs[i].addr;
        ind.prefix = addrs[i].prefix;
        ind.is_v4 = addrs[i].is_v4;
        if (!ward__feed_add(c, &ind))
            return;
    }
}

ward_status_t ward__load_stix(ward__feed_ctx_t *c, const char *data, size_t len)
{
    json_t *root = ward__feed_json(c, data, len);
    if (root == NULL)
        return WARD_E_MALFORMED;
    json_t *objects = NULL;
    if (json_is_array(root)) {
        objects = root;
    } else if (json_is_object(root)) {
        objects = json_object_get(root, "objects");
        if (objects == NULL && json_is_string(json_object_get(root, "type")))
            objects = root; /* a single STIX object */
    }
    ward_status_t rc = WARD_OK;
    if (objects == NULL || (!json_is_array(objects) && objects != root)) {
        c->st->bad++;
        ward__feed_fail(c, 0, "not a STIX bundle: no \"objects\" array");
        rc = WARD_E_MALFORMED;
    } else {
        ward__stix_addr_t *addrs = malloc(STIX_MAX_ADDRS * sizeof *addrs);
        if (addrs == NULL) {
            c->oom = true;
            json_decref(root);
            return WARD_E_NOMEM;
        }
        size_t n = json_is_array(objects) ? json_array_size(objects) : 1;
        for (size_t i = 0; i < n && !c->oom; i++) {
            json_t *o = json_is_array(objects) ? json_array_get(objects, i) : objects;
            if (!json_is_object(o)) {
                ward__feed_bad(c, 0, "objects[%zu]: not an object", i);
                continue;
            }
            json_t *type = json_object_get(o, "type");
            if (!json_is_string(type)) {
                ward__feed_bad(c, 0, "objects[%zu]: no \"type\"", i);
                continue;
            }
            if (strcmp(json_string_value(type), "indicator") == 0)
                stix_indicator(c, o, i, addrs);
        }
        free(addrs);
    }
    json_decref(root);
    return c->oom ? WARD_E_NOMEM : rc;
}
