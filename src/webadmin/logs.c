/* logs.c: lists the System Log files and reads their records with filters, for the WebAdmin. */
#include "webadmin/web_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#define LOGS_LIMIT_DEFAULT 500
#define LOGS_LIMIT_MAX 5000
#define LOGS_TAGS_MAX 16
#define LOGS_TEXT_MAX 256

/* "YYYY-MM-DD.log" or "YYYY-MM-DD-N.log": the only names served (no path tricks). */
static bool log_name_ok(const char *name)
{
    static const char pattern[] = "dddd-dd-dd";
    size_t n = strlen(name);
    if (n < sizeof(pattern) - 1 + 4 || n > 40 || strcmp(name + n - 4, ".log") != 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof(pattern) - 1; i++) {
        bool digit = isdigit((unsigned char)name[i]) != 0;
        if (pattern[i] == 'd' ? !digit : name[i] != '-') {
            return false;
        }
    }
    const char *rest = name + sizeof(pattern) - 1;
    if (rest[0] == '.') {
        return rest == name + n - 4;
    }
    if (rest[0] != '-' || !isdigit((unsigned char)rest[1])) {
        return false;
    }
    for (rest++; rest < name + n - 4; rest++) {
        if (!isdigit((unsigned char)*rest)) {
            return false;
        }
    }
    return true;
}

static int by_newest(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa;
    json_t *b = *(json_t *const *)pb;
    const char *na = json_string_value(json_object_get(a, "name"));
    const char *nb = json_string_value(json_object_get(b, "name"));
    /* Same day: "D-2.log" follows "D-1.log" follows "D.log". */
    size_t la = strlen(na), lb = strlen(nb);
    int day = strncmp(nb, na, 10);
    if (day != 0) {
        return day;
    }
    if (la != lb) {
        return la < lb ? 1 : -1;
    }
    return strcmp(nb, na);
}

json_t *web_logs_list(const char *dir)
{
    json_t *list = json_array();
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (d == NULL) {
        return list;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (!log_name_ok(e->d_name)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        json_array_append_new(list, json_pack("{s:s, s:I, s:I}", "name", e->d_name, "size",
                                              (json_int_t)st.st_size, "modified",
                                              (json_int_t)st.st_mtime));
    }
    closedir(d);
    n = json_array_size(list);
    if (n > 1) {
        json_t **items = xcalloc(n, sizeof(*items));
        for (size_t i = 0; i < n; i++) {
            items[i] = json_incref(json_array_get(list, i));
        }
        qsort(items, n, sizeof(*items), by_newest);
        json_array_clear(list);
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(list, items[i]);
        }
        free(items);
    }
    return list;
}

/* The filters of one read. */
struct filter {
    char tags[LOGS_TAGS_MAX][16];
    int ntags;
    int level;                /* records with a level above it are left out */
    char from[13], to[13];    /* "HH:MM[:SS[.mmm]]" compared as text; "" = open */
    char text[LOGS_TEXT_MAX]; /* case-insensitive substring; "" = any */
    long conn;                /* only this connection's records; 0 = any */
    int limit;
};

/* One parsed record; the views point into the line. */
struct record {
    struct strv time, tag, conn, peer, text;
    int level;
};

static bool parse_record(struct strv line, struct record *r)
{
    const char *p = line.p, *end = line.p + line.len;
    memset(r, 0, sizeof(*r));
    if (line.len < 16 || p[2] != ':' || p[5] != ':' || p[8] != '.' || p[12] != ' ' ||
        !isdigit((unsigned char)p[13]) || p[14] != ' ') {
        return false;
    }
    r->time = (struct strv){ p, 12 };
    r->level = p[13] - '0';
    p += 15;
    const char *t = p;
    while (p < end && (isupper((unsigned char)*p) || isdigit((unsigned char)*p))) {
        p++;
    }
    r->tag = (struct strv){ t, (size_t)(p - t) };
    if (p < end && *p == '-') {
        const char *c = ++p;
        while (p < end && isdigit((unsigned char)*p)) {
            p++;
        }
        r->conn = (struct strv){ c, (size_t)(p - c) };
    }
    if (p < end && *p == '(') {
        const char *close = memchr(p, ')', (size_t)(end - p));
        if (close != NULL) {
            r->peer = (struct strv){ p + 1, (size_t)(close - p - 1) };
            p = close + 1;
        }
    }
    if (p < end && *p == ' ') {
        p++;
    }
    r->text = (struct strv){ p, (size_t)(end - p) };
    return r->tag.len > 0;
}

static bool contains_ci(struct strv hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i + n <= hay.len; i++) {
        if (strncasecmp(hay.p + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool record_matches(const struct filter *f, const struct record *r, struct strv line)
{
    if (r->level > f->level) {
        return false;
    }
    if (f->ntags > 0) {
        bool found = false;
        for (int i = 0; i < f->ntags && !found; i++) {
            found = strv_eq(r->tag, strv_c(f->tags[i]));
        }
        if (!found) {
            return false;
        }
    }
    if (f->from[0] != '\0' && strncmp(r->time.p, f->from, strlen(f->from)) < 0) {
        return false;
    }
    if (f->to[0] != '\0' && strncmp(r->time.p, f->to, strlen(f->to)) > 0) {
        return false;
    }
    if (f->conn != 0 && (r->conn.len == 0 || strtol(r->conn.p, NULL, 10) != f->conn)) {
        return false;
    }
    return contains_ci(line, f->text);
}

static json_t *record_json(const struct record *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "time", json_stringn_nocheck(r->time.p, r->time.len));
    json_object_set_new(o, "level", json_integer(r->level));
    json_object_set_new(o, "tag", json_stringn_nocheck(r->tag.p, r->tag.len));
    json_object_set_new(o, "conn",
                        r->conn.len ? json_integer(strtol(r->conn.p, NULL, 10)) : json_null());
    json_object_set_new(o, "peer",
                        r->peer.len ? json_stringn(r->peer.p, r->peer.len) : json_null());
    json_t *text = json_stringn(r->text.p, r->text.len);
    /* A record cut inside a UTF-8 sequence by an older writer: show it with U+FFFD. */
    json_object_set_new(o, "text", text != NULL ? text : json_string("\xEF\xBF\xBD"));
    return o;
}

/* "HH:MM", "HH:MM:SS" or "HH:MM:SS.mmm" (or empty) into dst[13]. */
static bool time_arg(const json_t *v, char *dst)
{
    const char *s = json_string_value(v);
    static const char pattern[] = "dd:dd:dd.ddd";
    size_t n;
    dst[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (s == NULL) {
        return false;
    }
    n = strlen(s);
    if (n != 0 && n != 5 && n != 8 && n != 12) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool digit = isdigit((unsigned char)s[i]) != 0;
        if (pattern[i] == 'd' ? !digit : s[i] != pattern[i]) {
            return false;
        }
    }
    memcpy(dst, s, n + 1);
    return true;
}

static int add_tag(struct filter *f, struct strv t, char *err, size_t errlen)
{
    while (t.len > 0 && t.p[0] == ' ') {
        t.p++;
        t.len--;
    }
    while (t.len > 0 && t.p[t.len - 1] == ' ') {
        t.len--;
    }
    if (t.len == 0) {
        return 0;
    }
    if (t.len >= sizeof(f->tags[0]) || f->ntags == LOGS_TAGS_MAX) {
        snprintf(err, errlen, "tags: at most %d tags of up to 15 characters", LOGS_TAGS_MAX);
        return ERR_INVAL;
    }
    for (size_t i = 0; i < t.len; i++) {
        f->tags[f->ntags][i] = (char)toupper((unsigned char)t.p[i]);
    }
    f->tags[f->ntags][t.len] = '\0';
    f->ntags++;
    return 0;
}

static int parse_tags(const json_t *v, struct filter *f, char *err, size_t errlen)
{
    size_t i;
    json_t *item;
    int rc = 0;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (rc == 0 && *s != '\0') {
            const char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            rc = add_tag(f, (struct strv){ s, n }, err, errlen);
            s += comma ? n + 1 : n;
        }
        return rc;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "tags must be a list of tag names or a comma list");
        return ERR_INVAL;
    }
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item)) {
            snprintf(err, errlen, "tags must be a list of tag names or a comma list");
            return ERR_INVAL;
        }
        rc = add_tag(f, strv_c(json_string_value(item)), err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_filter(const json_t *args, struct filter *f, char *err, size_t errlen)
{
    json_t *v;
    memset(f, 0, sizeof(*f));
    f->level = LOG_ALLINFO;
    f->limit = LOGS_LIMIT_DEFAULT;
    if (parse_tags(json_object_get(args, "tags"), f, err, errlen) != 0) {
        return ERR_INVAL;
    }
    v = json_object_get(args, "level");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 5) {
        f->level = (int)json_integer_value(v);
    } else if (json_is_string(v) && log_level_parse(json_string_value(v), &f->level) == 0 &&
               f->level >= 0) {
        /* a level name */
    } else if (v != NULL && !json_is_null(v)) {
        snprintf(err, errlen, "level must be 0..5 or a level name (Crash … All Info)");
        return ERR_INVAL;
    }
    if (!time_arg(json_object_get(args, "from"), f->from) ||
        !time_arg(json_object_get(args, "to"), f->to)) {
        snprintf(err, errlen, "from and to must be times HH:MM, HH:MM:SS or HH:MM:SS.mmm");
        return ERR_INVAL;
    }
    v = json_object_get(args, "text");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(f->text)) {
            snprintf(err, errlen, "text must be a string of at most %d bytes", LOGS_TEXT_MAX - 1);
            return ERR_INVAL;
        }
        snprintf(f->text, sizeof(f->text), "%s", json_string_value(v));
    }
    v = json_object_get(args, "conn");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(err, errlen, "conn must be a connection id (a positive number)");
            return ERR_INVAL;
        }
        f->conn = (long)json_integer_value(v);
    }
    v = json_object_get(args, "limit");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > LOGS_LIMIT_MAX) {
            snprintf(err, errlen, "limit must be 1..%d", LOGS_LIMIT_MAX);
            return ERR_INVAL;
        }
        f->limit = (int)json_integer_value(v);
    }
    return 0;
}

/* Keeps the last f->limit matching records of the open file. */
static json_t *scan(FILE *fp, const struct filter *f, long *matched)
{
    json_t **ring = xcalloc((size_t)f->limit, sizeof(*ring));
    long n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        struct strv v = { line, (size_t)len };
        struct record r;
        while (v.len > 0 && (v.p[v.len - 1] == '\n' || v.p[v.len - 1] == '\r')) {
            v.len--;
        }
        if (!parse_record(v, &r) || !record_matches(f, &r, v)) {
            continue;
        }
        size_t slot = (size_t)(n % f->limit);
        json_decref(ring[slot]);
        ring[slot] = record_json(&r);
        n++;
    }
    free(line);
    json_t *records = json_array();
    long kept = n < f->limit ? n : f->limit;
    for (long i = n - kept; i < n; i++) {
        json_array_append_new(records, ring[i % f->limit]);
    }
    free(ring);
    *matched = n;
    return records;
}

int web_logs_read(const char *dir, const json_t *args, json_t **out, char *err, size_t errlen)
{
    struct filter *f = xcalloc(1, sizeof(*f));
    const char *name;
    char path[4096];
    json_t *list = NULL;
    json_t *records;
    long matched = 0;
    FILE *fp;
    int rc = parse_filter(args, f, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    name = json_string_value(json_object_get(args, "file"));
    if (json_object_get(args, "file") == NULL || json_is_null(json_object_get(args, "file"))) {
        list = web_logs_list(dir);
        name = json_string_value(json_object_get(json_array_get(list, 0), "name"));
        if (name == NULL) {
            snprintf(err, errlen, "there are no log files");
            rc = ERR_NOTFOUND;
            goto fail;
        }
    } else if (name == NULL || !log_name_ok(name)) {
        snprintf(err, errlen, "file must be the name of a log file (YYYY-MM-DD[-N].log)");
        rc = ERR_INVAL;
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "re");
    if (fp == NULL) {
        snprintf(err, errlen, "no log file %s", name);
        rc = ERR_NOTFOUND;
        goto fail;
    }
    records = scan(fp, f, &matched);
    fclose(fp);
    *out = json_pack("{s:s, s:o, s:I, s:b}", "file", name, "records", records, "matched",
                     (json_int_t)matched, "truncated", matched > f->limit);
fail:
    json_decref(list);
    free(f);
    return rc;
}
