/* log.c: the System Log: record formatting, per-tag levels, daily files with size rotation. */
#include "core/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

#define ELLIPSIS "\xe2\x80\xa6" /* "…" in UTF-8 */
#define ELLIPSIS_LEN (sizeof(ELLIPSIS) - 1)
#define MAX_INDEX 100000 /* files of one day: a bound for the search of a free name */

_Static_assert(LOG_TAG_COUNT == 5, "initialise `levels` for every tag");

/* Levels are read on every record by every worker and changed live: atomics, no lock. */
static _Atomic int levels[LOG_TAG_COUNT] = { LOG_MAJOR, LOG_MAJOR, LOG_MAJOR, LOG_MAJOR,
                                             LOG_MAJOR };
static _Atomic(log_clock_fn *) clock_hook;
static atomic_bool to_stderr = true;

/* The file descriptor number stays the same while the log is open: rotation puts the new file
 * under it with dup3(), so a writer that loaded it just before a rotation still writes to a
 * valid file (the old or the new one), never to a closed or reused descriptor. */
static atomic_int log_fd = -1;
static atomic_long file_size;    /* bytes in the current file, as counted by the writers */
static atomic_long max_size;     /* 0: no size limit */
static atomic_int file_day = -1; /* local date of the current file, in days since 1970-01-01 */

/* Held only to open, rotate and close files; records are written without it. */
static pthread_mutex_t rotate_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_dir;  /* under rotate_lock */
static int keep_days;  /* under rotate_lock */
static int file_index; /* under rotate_lock: N of YYYY-MM-DD-N.log, 0 for YYYY-MM-DD.log */

static const char *const tag_names[LOG_TAG_COUNT] = {
    [LOG_TAG_SYSTEM] = "SYSTEM", [LOG_TAG_XMPPI] = "XMPPI", [LOG_TAG_XMPPS] = "XMPPS",
    [LOG_TAG_XMPPO] = "XMPPO",   [LOG_TAG_ADMIN] = "ADMIN",
};

/* Indexed by level + 1. */
static const char *const level_names[] = {
    "None", "Crash", "Failures", "Major", "Problems", "Low-Level", "All Info",
};

const char *log_tag_name(enum log_tag tag)
{
    if ((int)tag < 0 || tag >= LOG_TAG_COUNT) {
        return "?";
    }
    return tag_names[tag];
}

const char *log_level_name(int level)
{
    if (level < LOG_NONE || level > LOG_ALLINFO) {
        return "Unknown";
    }
    return level_names[level + 1];
}

static bool is_separator(char c)
{
    return c == ' ' || c == '\t' || c == '-' || c == '_';
}

/* Compares two level names ignoring case, spaces, '-' and '_'. */
static bool loose_eq(const char *a, const char *b)
{
    for (;;) {
        while (is_separator(*a)) {
            a++;
        }
        while (is_separator(*b)) {
            b++;
        }
        if (*a == '\0' || *b == '\0') {
            return *a == *b;
        }
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) {
            return false;
        }
        a++;
        b++;
    }
}

/* Accepts "-1" and "0".."5", surrounded by blanks; sets *ok to whether `s` was a number. */
static int parse_level_digits(const char *s, int *level, bool *ok)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    const char *p = (*s == '-') ? s + 1 : s;
    if (!isdigit((unsigned char)*p)) {
        *ok = false;
        return ERR_INVAL;
    }
    *ok = true;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    if (errno != 0 || *end != '\0' || v < LOG_NONE || v > LOG_ALLINFO) {
        return ERR_INVAL;
    }
    *level = (int)v;
    return 0;
}

int log_level_parse(const char *s, int *level)
{
    if (s == NULL) {
        return ERR_INVAL;
    }
    bool numeric = false;
    int rc = parse_level_digits(s, level, &numeric);
    if (numeric) {
        return rc;
    }
    for (int l = LOG_NONE; l <= LOG_ALLINFO; l++) {
        if (loose_eq(s, level_names[l + 1])) {
            *level = l;
            return 0;
        }
    }
    return ERR_INVAL;
}

void log_set_level(enum log_tag tag, int level)
{
    if ((int)tag < 0 || tag >= LOG_TAG_COUNT) {
        return;
    }
    if (level < LOG_NONE) {
        level = LOG_NONE;
    }
    if (level > LOG_ALLINFO) {
        level = LOG_ALLINFO;
    }
    atomic_store_explicit(&levels[tag], level, memory_order_relaxed);
}

bool log_enabled(enum log_tag tag, int level)
{
    if ((int)tag < 0 || tag >= LOG_TAG_COUNT || level < 0) {
        return false;
    }
    return level <= atomic_load_explicit(&levels[tag], memory_order_relaxed);
}

void log_set_clock(log_clock_fn *fn)
{
    atomic_store(&clock_hook, fn);
}

static void now(struct timespec *ts)
{
    log_clock_fn *fn = atomic_load(&clock_hook);
    if (fn != NULL) {
        fn(ts);
        return;
    }
    clock_gettime(CLOCK_REALTIME, ts);
}

/* ---- Formatting ---- */

/* A fixed-size line being built; never written past cap. */
struct line {
    char *p;
    size_t len;
    size_t cap;
    bool full; /* something did not fit */
};

/* Writes the escaped form of c into esc (at least 5 bytes) and returns its length. Control
 * characters are escaped so that a record is always one line. */
static size_t escape_char(unsigned char c, char *esc)
{
    static const char hex[] = "0123456789abcdef";
    if (c >= 0x20 && c != 0x7f) {
        esc[0] = (char)c;
        return 1;
    }
    esc[0] = '\\';
    switch (c) {
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        esc[1] = 'x';
        esc[2] = hex[c >> 4];
        esc[3] = hex[c & 0xf];
        return 4;
    }
}

static size_t escaped_len(struct strv s)
{
    char esc[5];
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        n += escape_char((unsigned char)s.p[i], esc);
    }
    return n;
}

/* Appends s escaped, up to `limit` bytes in the line. When cut inside a UTF-8 sequence, drops
 * the sequence's first bytes as well (not going back before `s` started). */
static void put_escaped(struct line *w, struct strv s, size_t limit)
{
    size_t start = w->len;
    char esc[5];
    if (w->full) {
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        size_t n = escape_char(c, esc);
        if (w->len + n > limit) {
            w->full = true;
            if ((c & 0xc0) == 0x80) {
                while (w->len > start && ((unsigned char)w->p[w->len - 1] & 0xc0) == 0x80) {
                    w->len--;
                }
                if (w->len > start && (unsigned char)w->p[w->len - 1] >= 0xc0) {
                    w->len--;
                }
            }
            return;
        }
        memcpy(w->p + w->len, esc, n);
        w->len += n;
    }
}

/* Builds a record without its newline into dst (at most cap bytes, cap > 64) and returns its
 * length. `cut` says the text was already shortened by the caller. */
static size_t format_line(char *dst, size_t cap, const struct tm *tm, long ms, int level,
                          enum log_tag tag, unsigned long conn_id, const char *peer,
                          struct strv text, bool cut)
{
    struct line w = { dst, 0, cap, false };
    if (level < 0) {
        level = 0;
    }
    if (level > 9) {
        level = 9;
    }
    int n = snprintf(dst, cap, "%02d:%02d:%02d.%03ld %d %s", tm->tm_hour, tm->tm_min, tm->tm_sec,
                     ms, level, log_tag_name(tag));
    w.len = (size_t)n;
    if (conn_id != 0) {
        n = snprintf(dst + w.len, cap - w.len, "-%06lu", conn_id);
        w.len += (size_t)n;
    }
    struct strv pv = strv_c(peer);
    size_t total = w.len + 1 + escaped_len(text);
    if (peer != NULL) {
        total += 2 + escaped_len(pv);
    }
    /* Room for the ellipsis is kept only when the record will not fit whole. */
    size_t limit = (total <= cap && !cut) ? cap : cap - ELLIPSIS_LEN;
    if (peer != NULL) {
        put_escaped(&w, STRV("("), limit);
        put_escaped(&w, pv, limit);
        put_escaped(&w, STRV(")"), limit);
    }
    put_escaped(&w, STRV(" "), limit);
    put_escaped(&w, text, limit);
    if (w.full || cut) {
        memcpy(w.p + w.len, ELLIPSIS, ELLIPSIS_LEN);
        w.len += ELLIPSIS_LEN;
    }
    return w.len;
}

static long millis(const struct timespec *ts)
{
    long ms = ts->tv_nsec / 1000000;
    return ms < 0 ? 0 : (ms > 999 ? 999 : ms);
}

int log_format(struct buf *out, const struct timespec *when, int level, enum log_tag tag,
               unsigned long conn_id, const char *peer, struct strv text)
{
    struct tm tm;
    char line[LOG_RECORD_MAX];
    time_t t = when->tv_sec;
    if (localtime_r(&t, &tm) == NULL) {
        return ERR_INVAL;
    }
    size_t len = format_line(line, sizeof(line) - 1, &tm, millis(when), level, tag, conn_id, peer,
                             text, false);
    return buf_append(out, line, len);
}

/* ---- Files ---- */

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm), independent of time zones. */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int tm_day(const struct tm *tm)
{
    return (int)days_from_civil(tm->tm_year + 1900L, tm->tm_mon + 1L, tm->tm_mday);
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void file_name(char *dst, size_t cap, const char *dir, int day, int index)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    if (index == 0) {
        snprintf(dst, cap, "%s/%04d-%02d-%02d.log", dir, y, m, d);
    } else {
        snprintf(dst, cap, "%s/%04d-%02d-%02d-%d.log", dir, y, m, d, index);
    }
}

/* Opens the last file of `day` (from `index` on) if it is under the size limit, else the next
 * one. Returns the descriptor (and sets *index and *size) or -1. Called under rotate_lock. */
static int open_day_file(int day, int *index, long *size)
{
    long max = atomic_load(&max_size);
    char path[PATH_MAX];
    for (int i = *index; i < MAX_INDEX; i++) {
        struct stat st;
        file_name(path, sizeof(path), log_dir, day, i + 1);
        if (stat(path, &st) == 0) {
            continue; /* a later file of the day exists: continue that one */
        }
        file_name(path, sizeof(path), log_dir, day, i);
        if (stat(path, &st) == 0 && max > 0 && st.st_size >= max) {
            continue;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            return -1;
        }
        if (fstat(fd, &st) != 0) {
            close(fd);
            return -1;
        }
        *index = i;
        *size = (long)st.st_size;
        return fd;
    }
    return -1;
}

/* Parses "YYYY-MM-DD.log" or "YYYY-MM-DD-N.log"; returns the day or -1 for other names. */
static long log_name_day(const char *name)
{
    static const char pattern[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof(pattern) - 1; i++) {
        bool digit = isdigit((unsigned char)name[i]) != 0;
        if (pattern[i] == 'd' ? !digit : name[i] != '-') {
            return -1;
        }
    }
    const char *rest = name + sizeof(pattern) - 1;
    if (*rest == '-') {
        rest++;
        if (!isdigit((unsigned char)*rest)) {
            return -1;
        }
        while (isdigit((unsigned char)*rest)) {
            rest++;
        }
    }
    if (strcmp(rest, ".log") != 0) {
        return -1;
    }
    long y = strtol(name, NULL, 10);
    long m = strtol(name + 5, NULL, 10);
    long d = strtol(name + 8, NULL, 10);
    if (m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }
    return days_from_civil(y, m, d);
}

/* Deletes the log files dated more than keep_days before `today`. Called under rotate_lock. */
static void delete_old_files(int today)
{
    if (keep_days <= 0) {
        return;
    }
    DIR *d = opendir(log_dir);
    if (d == NULL) {
        return;
    }
    char path[PATH_MAX];
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long day = log_name_day(e->d_name);
        if (day >= 0 && day < (long)today - keep_days) {
            snprintf(path, sizeof(path), "%s/%s", log_dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* Puts the next file under the log's descriptor. Called under rotate_lock. */
static void switch_file(int fd, int day, int index)
{
    long new_size = 0;
    int nfd = open_day_file(day, &index, &new_size);
    if (nfd < 0) {
        /* Keep the current file; try again after another max_size bytes or on the next day. */
        static const char msg[] = "log: cannot open a new log file, continuing the old one\n";
        write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
        atomic_store(&file_size, 0);
        atomic_store(&file_day, day);
        return;
    }
    int rc = dup3(nfd, fd, O_CLOEXEC);
    close(nfd);
    if (rc < 0) {
        return;
    }
    file_index = index;
    atomic_store(&file_size, new_size);
    atomic_store(&file_day, day);
}

/* Starts a new file when the day changed or the current one is full; the condition is checked
 * again under the lock because another writer may have rotated first. */
static void rotate(int day, size_t len)
{
    pthread_mutex_lock(&rotate_lock);
    int fd = atomic_load(&log_fd);
    long size = atomic_load(&file_size);
    long max = atomic_load(&max_size);
    if (fd >= 0 && day != atomic_load(&file_day)) {
        delete_old_files(day);
        switch_file(fd, day, 0);
    } else if (fd >= 0 && max > 0 && size > 0 && size + (long)len > max) {
        switch_file(fd, day, file_index + 1);
    }
    pthread_mutex_unlock(&rotate_lock);
}

/* Records made by a thread that runs an event loop (log_batch_begin) are joined here and
 * written by log_batch_flush at the end of the loop iteration: two write(2) calls per iteration
 * instead of two per record. Failures and crashes (levels <= LOG_FAILURES) are never held:
 * they flush what is held and go out at once, so the records before a failure stay before it.
 * What a crash can lose is the records of the iteration it interrupts. */
#define BATCH_MAX (4 * LOG_RECORD_MAX)
static __thread struct {
    bool on;
    int day;
    size_t len;
    char buf[BATCH_MAX];
} t_batch;

static void emit_now(const char *line, size_t len, int day)
{
    if (atomic_load_explicit(&to_stderr, memory_order_relaxed)) {
        write_all(STDERR_FILENO, line, len);
    }
    int fd = atomic_load(&log_fd);
    if (fd < 0) {
        return;
    }
    long size = atomic_load(&file_size);
    long max = atomic_load(&max_size);
    if (day != atomic_load(&file_day) || (max > 0 && size > 0 && size + (long)len > max)) {
        rotate(day, len);
    }
    write_all(fd, line, len);
    atomic_fetch_add(&file_size, (long)len);
}

void log_batch_flush(void)
{
    if (t_batch.len > 0) {
        size_t len = t_batch.len;
        t_batch.len = 0;
        emit_now(t_batch.buf, len, t_batch.day);
    }
}

void log_batch_begin(void)
{
    t_batch.on = true;
}

void log_batch_end(void)
{
    log_batch_flush();
    t_batch.on = false;
}

static void emit(const char *line, size_t len, int level, int day)
{
    if (!t_batch.on || level <= LOG_FAILURES) {
        log_batch_flush();
        emit_now(line, len, day);
        return;
    }
    if (t_batch.len + len > sizeof(t_batch.buf) || (t_batch.len > 0 && day != t_batch.day)) {
        log_batch_flush();
    }
    memcpy(t_batch.buf + t_batch.len, line, len);
    t_batch.len += len;
    t_batch.day = day;
}

void log_vrec(enum log_tag tag, int level, unsigned long conn_id, const char *peer, const char *fmt,
              va_list ap)
{
    if (!log_enabled(tag, level)) {
        return;
    }
    /* Both buffers on the stack: logging never allocates; the lock is taken only to rotate. */
    char text[LOG_RECORD_MAX];
    char line[LOG_RECORD_MAX];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0) {
        n = 0;
        text[0] = '\0';
    }
    bool cut = (size_t)n >= sizeof(text);
    struct strv tv = { text, cut ? sizeof(text) - 1 : (size_t)n };

    struct timespec ts;
    struct tm tm;
    now(&ts);
    time_t t = ts.tv_sec;
    if (localtime_r(&t, &tm) == NULL) {
        return;
    }
    size_t len =
        format_line(line, sizeof(line) - 1, &tm, millis(&ts), level, tag, conn_id, peer, tv, cut);
    line[len++] = '\n';
    emit(line, len, level, tm_day(&tm));
}

void log_rec(enum log_tag tag, int level, unsigned long conn_id, const char *peer, const char *fmt,
             ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vrec(tag, level, conn_id, peer, fmt, ap);
    va_end(ap);
}

static void ctx_vrec(const struct log_ctx *ctx, enum log_tag tag, int level, const char *fmt,
                     va_list ap)
{
    const char *peer = ctx->peer != NULL ? ctx->peer : ctx->account;
    log_vrec(tag, level, ctx->id, peer, fmt, ap);
}

void log_conn(const struct log_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx_vrec(ctx, ctx->tag, level, fmt, ap);
    va_end(ap);
}

void log_conn_tag(const struct log_ctx *ctx, enum log_tag tag, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx_vrec(ctx, tag, level, fmt, ap);
    va_end(ap);
}

bool log_conn_enabled(const struct log_ctx *ctx, int level)
{
    return log_enabled(ctx->tag, level);
}

/* Called under rotate_lock. */
static void close_locked(void)
{
    int fd = atomic_exchange(&log_fd, -1);
    if (fd >= 0) {
        close(fd);
    }
    free(log_dir);
    log_dir = NULL;
    atomic_store(&file_day, -1);
    atomic_store(&file_size, 0);
    atomic_store(&to_stderr, true);
}

/* Opens today's file in the log folder. Called under rotate_lock. */
static int open_files_locked(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return ERR_IO;
    }
    struct timespec ts;
    struct tm tm;
    now(&ts);
    time_t t = ts.tv_sec;
    if (localtime_r(&t, &tm) == NULL) {
        return ERR_INTERNAL;
    }
    log_dir = xstrdup(dir);
    int day = tm_day(&tm);
    delete_old_files(day);
    int index = 0;
    long size = 0;
    int fd = open_day_file(day, &index, &size);
    if (fd < 0) {
        free(log_dir);
        log_dir = NULL;
        return ERR_IO;
    }
    file_index = index;
    atomic_store(&file_size, size);
    atomic_store(&file_day, day);
    atomic_store(&log_fd, fd);
    return 0;
}

int log_open(const struct log_options *opt)
{
    int rc = 0;
    pthread_mutex_lock(&rotate_lock);
    close_locked();
    atomic_store(&to_stderr, opt->to_stderr);
    atomic_store(&max_size, opt->max_file_size > 0 ? opt->max_file_size : 0);
    keep_days = opt->keep_days;
    if (opt->dir != NULL) {
        rc = open_files_locked(opt->dir);
    }
    pthread_mutex_unlock(&rotate_lock);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&rotate_lock);
    close_locked();
    pthread_mutex_unlock(&rotate_lock);
}
