/* fault.c: the store's fault-injection hook for tests: fails chosen writes as a full disk or a
 * generic database error (docs/internals/store.md, "Fault injection"). Inert unless armed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store_int.h"

#define FAULT_TABLES 8
#define FAULT_NAME_MAX 64
#define FAULT_SPEC_MAX 512

struct fault_spec {
    char tables[FAULT_TABLES][FAULT_NAME_MAX]; /* none: every write; "x*": a prefix */
    int ntables;
    long long after; /* matching writes let through first */
    long long count; /* matching writes failed then; < 0: all */
    int code;        /* ERR_NOSPACE or ERR_STORE */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* True once the hook may act (a spec was set, or the environment names a spec file): the only
 * thing a write looks at when the hook is off. */
static atomic_bool g_enabled;
static bool g_armed;
static struct fault_spec g_spec;
static long long g_seen;
static char g_file[4096];
static struct stat g_file_id;
static bool g_file_seen;

static void copy_word(char *out, size_t size, const char *p, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }
    memcpy(out, p, len);
    out[len] = '\0';
}

static int parse_count(const char *v, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0) {
        return ERR_INVAL;
    }
    *out = n;
    return 0;
}

static int parse_tables(const char *v, struct fault_spec *s)
{
    while (*v) {
        size_t len = strcspn(v, "|");
        if (len == 0 || len >= FAULT_NAME_MAX || s->ntables == FAULT_TABLES) {
            return ERR_INVAL;
        }
        copy_word(s->tables[s->ntables++], FAULT_NAME_MAX, v, len);
        v += len + (v[len] == '|');
    }
    return s->ntables > 0 ? 0 : ERR_INVAL;
}

/* One "key=value" item of a spec. */
static int parse_item(const char *key, const char *v, struct fault_spec *s)
{
    long long n = 0;
    if (strcmp(key, "table") == 0) {
        return parse_tables(v, s);
    }
    if (strcmp(key, "error") == 0) {
        bool full = strcmp(v, "full") == 0;
        if (!full && strcmp(v, "generic") != 0) {
            return ERR_INVAL;
        }
        s->code = full ? ERR_NOSPACE : ERR_STORE;
        return 0;
    }
    if (parse_count(v, &n) != 0) {
        return ERR_INVAL;
    }
    if (strcmp(key, "after") == 0) {
        s->after = n;
    } else if (strcmp(key, "count") == 0) {
        s->count = n;
    } else if (strcmp(key, "nth") == 0 && n > 0) {
        s->after = n - 1;
        s->count = 1;
    } else {
        return ERR_INVAL;
    }
    return 0;
}

/* "table=a|b*,error=full,nth=2": see store.h. An empty spec or "off" disarms (*armed false). */
static int parse_spec(const char *text, struct fault_spec *s, bool *armed)
{
    memset(s, 0, sizeof(*s));
    s->count = -1;
    s->code = ERR_STORE;
    *armed = false;
    char buf[FAULT_SPEC_MAX];
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) {
        len--;
    }
    if (len >= sizeof(buf)) {
        return ERR_INVAL;
    }
    copy_word(buf, sizeof(buf), text, len);
    if (buf[0] == '\0' || strcmp(buf, "off") == 0) {
        return 0;
    }
    char *p = buf;
    while (*p) {
        size_t item = strcspn(p, ",");
        char *next = p + item + (p[item] == ',');
        p[item] = '\0';
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            return ERR_INVAL;
        }
        *eq = '\0';
        if (parse_item(p, eq + 1, s) != 0) {
            return ERR_INVAL;
        }
        p = next;
    }
    *armed = true;
    return 0;
}

int store_fault_set(const char *spec)
{
    struct fault_spec s;
    bool armed = false;
    if (spec != NULL && parse_spec(spec, &s, &armed) != 0) {
        return ERR_INVAL;
    }
    pthread_mutex_lock(&g_lock);
    g_armed = armed;
    if (armed) {
        g_spec = s;
    }
    g_seen = 0;
    if (armed) {
        atomic_store(&g_enabled, true);
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

int store__fault_init_env(char *err, size_t errlen)
{
    const char *v = getenv("STARLING_STORE_FAIL");
    if (v == NULL) {
        return 0;
    }
    if (v[0] == '@') {
        pthread_mutex_lock(&g_lock);
        copy_word(g_file, sizeof(g_file), v + 1, strlen(v + 1));
        atomic_store(&g_enabled, true);
        pthread_mutex_unlock(&g_lock);
        return 0;
    }
    if (store_fault_set(v) != 0) {
        snprintf(err, errlen, "STARLING_STORE_FAIL: not a fault spec: %s", v);
        return ERR_INVAL;
    }
    return 0;
}

/* File mode: re-reads the spec when the file changed (replaced, written); none = disarmed.
 * Called with g_lock held. */
static void reload_file(void)
{
    struct stat sb;
    if (stat(g_file, &sb) != 0) {
        if (g_file_seen) {
            g_armed = false;
            g_file_seen = false;
        }
        return;
    }
    if (g_file_seen && sb.st_ino == g_file_id.st_ino && sb.st_size == g_file_id.st_size &&
        sb.st_mtim.tv_sec == g_file_id.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == g_file_id.st_mtim.tv_nsec) {
        return;
    }
    g_file_seen = true;
    g_file_id = sb;
    char text[FAULT_SPEC_MAX];
    ssize_t n = -1;
    int fd = open(g_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
    }
    struct fault_spec s;
    bool armed = false;
    text[n > 0 ? n : 0] = '\0';
    if (n < 0 || parse_spec(text, &s, &armed) != 0) {
        /* Unreadable or malformed: fail every write, so that a test notices at once. */
        parse_spec("error=generic", &s, &armed);
    }
    g_armed = armed;
    g_spec = s;
    g_seen = 0;
}

static bool table_matches(const struct fault_spec *s, const char *target)
{
    if (s->ntables == 0) {
        return true;
    }
    for (int i = 0; i < s->ntables; i++) {
        const char *t = s->tables[i];
        size_t len = strlen(t);
        if (len > 0 && t[len - 1] == '*' ? strncmp(t, target, len - 1) == 0
                                         : strcmp(t, target) == 0) {
            return true;
        }
    }
    return false;
}

bool store__fault_on(void)
{
    return atomic_load_explicit(&g_enabled, memory_order_relaxed);
}

int store__fault(const char *target)
{
    if (!atomic_load_explicit(&g_enabled, memory_order_relaxed)) {
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    if (g_file[0] != '\0') {
        reload_file();
    }
    if (g_armed && table_matches(&g_spec, target)) {
        long long n = g_seen++;
        if (n >= g_spec.after && (g_spec.count < 0 || n < g_spec.after + g_spec.count)) {
            rc = g_spec.code;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* The word after `kw` (case-insensitive, followed by a space) in `sql`, or NULL. */
static const char *after_keyword(const char *sql, const char *kw)
{
    size_t len = strlen(kw);
    for (const char *p = sql; *p; p++) {
        if (strncasecmp(p, kw, len) == 0 && p[len] == ' ' && (p == sql || p[-1] == ' ')) {
            p += len;
            while (*p == ' ') {
                p++;
            }
            return p;
        }
    }
    return NULL;
}

void store__write_target(const char *sql, char *out, size_t size)
{
    while (*sql == ' ') {
        sql++;
    }
    const char *name = NULL;
    if (strncasecmp(sql, "INSERT", 6) == 0 || strncasecmp(sql, "REPLACE", 7) == 0) {
        name = after_keyword(sql, "INTO");
    } else if (strncasecmp(sql, "UPDATE", 6) == 0) {
        name = after_keyword(sql, "UPDATE");
    } else if (strncasecmp(sql, "DELETE", 6) == 0) {
        name = after_keyword(sql, "FROM");
    }
    if (name == NULL) {
        copy_word(out, size, "", 0);
        return;
    }
    copy_word(out, size, name, strcspn(name, " (;"));
}
