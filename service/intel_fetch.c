/*
 * intel_fetch: conditional HTTP GETs and the TAXII 2.1 client. See intel_fetch.h.
 *
 * One libcurl easy handle per request: polls are minutes apart, so keeping connections warm buys
 * nothing, and a fresh handle carries no state from one server's answer into the next request.
 */
#include "intel_fetch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "intel.h"

#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S 300L
#define ACCEPT_TAXII "Accept: application/taxii+json;version=2.1"

int ward_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void ward_fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

/* One response: the body (bounded) and the headers we use. */
typedef struct resp {
    char *body;
    size_t len, cap;
    bool too_big;
    char etag[256];
    char last_modified[64];
    char date_added_last[64];
} resp_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t add = size * n;
    if (add > WARD_INTEL_HTTP_MAX_BYTES - r->len) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->len + add + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->len + add + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (b == NULL)
            return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

/* Copy a header's value when the line is "name: value" (case-insensitive name), the value is
 * printable ASCII and fits; otherwise leave out alone. */
static void header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vn = n - nl - 1;
    while (vn > 0 && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn == 0 || vn >= len)
        return;
    for (size_t i = 0; i < vn; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return;
    memcpy(out, v, vn);
    out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t len = size * n;
    /* A redirect's headers come first: a new status line starts a new set. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        r->etag[0] = r->last_modified[0] = r->date_added_last[0] = '\0';
        return len;
    }
    header_value(p, len, "ETag", r->etag, sizeof r->etag);
    header_value(p, len, "Last-Modified", r->last_modified, sizeof r->last_modified);
    header_value(p, len, "X-TAXII-Date-Added-Last", r->date_added_last,
                 sizeof r->date_added_last);
    return len;
}

/* GET url with extra headers; *code gets the HTTP status. 0 ok (any status), -1 transfer failed. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const atomic_bool *cancel = arg;
    return cancel != NULL && atomic_load(cancel) ? 1 : 0;
}

static int get(const char *url, struct curl_slist *hdrs, const atomic_bool *cancel, resp_t *r,
               long *code, char *err, size_t err_len)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WARD_INTEL_HTTP_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wardd/0.1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, err_len, "answer larger than %u MiB refused",
                 WARD_INTEL_HTTP_MAX_BYTES >> 20);
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(err, err_len, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value,
                                     bool *ok)
{
    char line[384];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    if (n == NULL)
        *ok = false;
    return n ? n : l;
}

int ward_fetch_url(ward_fetch_t *f, const char *url, char **body, size_t *len, char *err,
                   size_t err_len)
{
    bool ok = true;
    struct curl_slist *h = NULL;
    if (f->etag[0] != '\0')
        h = add_header(h, "If-None-Match", f->etag, &ok);
    if (f->last_modified[0] != '\0')
        h = add_header(h, "If-Modified-Since", f->last_modified, &ok);
    resp_t r = {0};
    long code = 0;
    int rc = -1;
    if (!ok)
        snprintf(err, err_len, "out of memory");
    else if (get(url, h, f->cancel, &r, &code, err, err_len) == 0) {
        if (code == 304 && (f->etag[0] != '\0' || f->last_modified[0] != '\0')) {
            rc = 0;
        } else if (code == 200) {
            *body = r.body ? r.body : calloc(1, 1);
            *len = r.len;
            r.body = NULL;
            snprintf(f->etag, sizeof f->etag, "%s", r.etag);
            snprintf(f->last_modified, sizeof f->last_modified, "%s", r.last_modified);
            rc = *body != NULL ? 1 : -1;
            if (rc < 0)
                snprintf(err, err_len, "out of memory");
        } else {
            snprintf(err, err_len, "HTTP status %ld", code);
        }
    }
    curl_slist_free_all(h);
    free(r.body);
    return rc;
}

/* ---- TAXII 2.1 -------------------------------------------------------------------------------- */

void ward_taxii_init(ward_taxii_t *t)
{
    memset(t, 0, sizeof *t);
    t->objects = json_object();
}

void ward_taxii_free(ward_taxii_t *t)
{
    json_decref(t->objects);
    t->objects = NULL;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (STIX/TAXII timestamps) to Unix seconds. */
static bool parse_stix_time(const char *s, int64_t *out)
{
    int v[6];
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[6] = {'-', '-', 'T', ':', ':', '\0'};
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int k = 0; k < width[i]; k++, p++) {
            if (!isdigit((unsigned char)*p))
                return false;
            v[i] = v[i] * 10 + (*p - '0');
        }
        if (sep[i] != '\0' && toupper((unsigned char)*p++) != sep[i])
            return false;
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (toupper((unsigned char)*p) != 'Z' || p[1] != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
        v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return false;
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
                    .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5]};
    *out = (int64_t)timegm(&tm);
    return true;
}

/* Upsert or remove one object. Returns true when the map changed. */
static bool apply_object(ward_taxii_t *t, json_t *o, int64_t now)
{
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *id = json_string_value(json_object_get(o, "id"));
    if (type == NULL || strcmp(type, "indicator") != 0 || id == NULL || strlen(id) > 200)
        return false;
    json_t *held = json_object_get(t->objects, id);
    const char *mod = json_string_value(json_object_get(o, "modified"));
    const char *held_mod = held ? json_string_value(json_object_get(held, "modified")) : NULL;
    int64_t tm_new, tm_held;
    if (held != NULL && mod != NULL && held_mod != NULL && parse_stix_time(mod, &tm_new) &&
        parse_stix_time(held_mod, &tm_held) && tm_new < tm_held)
        return false; /* an older version than the one held */
    const char *until = json_string_value(json_object_get(o, "valid_until"));
    int64_t tu;
    bool gone = json_is_true(json_object_get(o, "revoked")) ||
                (until != NULL && parse_stix_time(until, &tu) && tu <= now);
    if (gone) {
        if (held == NULL)
            return false;
        json_object_del(t->objects, id);
        t->removals++;
        return true;
    }
    if (held != NULL && json_equal(held, o))
        return false;
    if (json_object_set(t->objects, id, o) != 0)
        return false;
    t->upserts++;
    return true;
}

int ward_taxii_apply(ward_taxii_t *t, const char *body, size_t len, int64_t now, bool *more,
                     char *next, size_t next_len, char *err, size_t err_len)
{
    json_error_t je;
    json_t *env = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (more != NULL)
        *more = false;
    if (next != NULL && next_len > 0)
        next[0] = '\0';
    if (env == NULL || !json_is_object(env)) {
        snprintf(err, err_len, "not a TAXII envelope: %s", env ? "not a JSON object" : je.text);
        json_decref(env);
        return -1;
    }
    json_t *objs = json_object_get(env, "objects");
    if (objs != NULL && !json_is_array(objs)) {
        snprintf(err, err_len, "not a TAXII envelope: \"objects\" is not an array");
        json_decref(env);
        return -1;
    }
    int changed = 0;
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        if (json_is_object(o) && apply_object(t, o, now))
            changed = 1;
    }
    if (more != NULL)
        *more = json_is_true(json_object_get(env, "more"));
    const char *nx = json_string_value(json_object_get(env, "next"));
    if (next != NULL && nx != NULL && strlen(nx) < next_len)
        snprintf(next, next_len, "%s", nx);
    json_decref(env);
    return changed;
}

/* url + ("?" or "&") + name=value (value escaped). */
static char *with_param(CURL *c, const char *url, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    if (esc == NULL)
        return NULL;
    size_t n = strlen(url) + strlen(name) + strlen(esc) + 3;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name, esc);
    curl_free(esc);
    return out;
}

int ward_taxii_poll(ward_taxii_t *t, const char *url, int64_t now, char *err, size_t err_len)
{
    CURL *esc = curl_easy_init(); /* only for curl_easy_escape */
    bool ok = true;
    struct curl_slist *h = add_header(NULL, "Accept", "application/taxii+json;version=2.1", &ok);
    if (esc == NULL || !ok) {
        snprintf(err, err_len, "out of memory");
        curl_easy_cleanup(esc);
        curl_slist_free_all(h);
        return -1;
    }
    char after[64], next[1024] = "", last_added[64] = "";
    snprintf(after, sizeof after, "%s", t->added_after);
    int changed = 0, rc = 0;
    for (unsigned page = 0;; page++) {
        if (page == WARD_INTEL_TAXII_MAX_PAGES) {
            snprintf(err, err_len, "more than %u pages in one poll", WARD_INTEL_TAXII_MAX_PAGES);
            rc = -1;
            break;
        }
        char *u1 = after[0] ? with_param(esc, url, "added_after", after) : strdup(url);
        char *u2 = u1 && next[0] ? with_param(esc, u1, "next", next) : NULL;
        resp_t r = {0};
        long code = 0;
        if (u1 == NULL || (next[0] && u2 == NULL)) {
            snprintf(err, err_len, "out of memory");
            rc = -1;
        } else if (get(u2 ? u2 : u1, h, t->cancel, &r, &code, err, err_len) != 0) {
            rc = -1;
        } else if (code == 204 || (code == 200 && r.len == 0)) {
            /* No objects (some servers answer 204 or an empty body when nothing is new). */
        } else if (code != 200) {
            snprintf(err, err_len, "HTTP status %ld", code);
            rc = -1;
        }
        free(u1);
        free(u2);
        bool more = false;
        if (rc == 0 && r.len > 0) {
            int a = ward_taxii_apply(t, r.body, r.len, now, &more, next, sizeof next, err,
                                     err_len);
            if (a < 0)
                rc = -1;
            else if (a > 0)
                changed = 1;
            t->pages++;
        }
        if (rc == 0 && r.date_added_last[0] != '\0')
            snprintf(last_added, sizeof last_added, "%s", r.date_added_last);
        free(r.body);
        if (rc != 0 || !more)
            break;
        if (next[0] == '\0') {
            /* "more" without "next": the spec's other way of paging is added_after. */
            if (last_added[0] == '\0' || strcmp(last_added, after) == 0) {
                snprintf(err, err_len, "\"more\": true without \"next\" or a new "
                                       "X-TAXII-Date-Added-Last");
                rc = -1;
                break;
            }
            snprintf(after, sizeof after, "%s", last_added);
        }
    }
    if (rc == 0 && last_added[0] != '\0')
        snprintf(t->added_after, sizeof t->added_after, "%s", last_added);
    curl_easy_cleanup(esc);
    curl_slist_free_all(h);
    return rc == 0 ? changed : -1;
}

char *ward_taxii_bundle(const ward_taxii_t *t, size_t *len)
{
    json_t *arr = json_array();
    json_t *b = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
                          "bundle--00000000-0000-4000-8000-000000000000", "objects", arr);
    if (b == NULL)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(t->objects, k, v)
    {
        json_array_append(arr, v);
    }
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (s != NULL)
        *len = strlen(s);
    return s;
}
