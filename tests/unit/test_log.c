/* test_log.c: unit tests of the System Log (format, escaping, levels, files, rotation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "testutil.h"

#define T_1239 1710074348 /* 2024-03-10 12:39:08 UTC */
#define T_2359 1710115199 /* 2024-03-10 23:59:59 UTC */
#define DAY 86400

static struct timespec fake_now;

static void fake_clock(struct timespec *ts)
{
    *ts = fake_now;
}

static int setup_utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static char *fmt(const struct timespec *ts, int level, enum log_tag tag, unsigned long id,
                 const char *peer, struct strv text)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(log_format(&b, ts, level, tag, id, peer, text), 0);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

static void test_format_exact(void **state)
{
    (void)state;
    struct timespec ts = { T_1239, 978123456 };
    char *s = fmt(&ts, LOG_PROBLEMS, LOG_TAG_XMPPS, 29, "[10.10.0.83]:47320",
                  STRV("read failed: timeout"));
    assert_string_equal(s, "12:39:08.978 3 XMPPS-000029([10.10.0.83]:47320) read failed: timeout");
    free(s);

    s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL, STRV("started"));
    assert_string_equal(s, "12:39:08.978 2 SYSTEM started");
    free(s);

    ts.tv_nsec = 5000000;
    s = fmt(&ts, LOG_ALLINFO, LOG_TAG_XMPPO, 1234567, NULL, STRV("x"));
    assert_string_equal(s, "12:39:08.005 5 XMPPO-1234567 x");
    free(s);

    ts.tv_nsec = 0;
    s = fmt(&ts, LOG_CRASH, LOG_TAG_ADMIN, 0, "postmaster@example.com", STRV("login"));
    assert_string_equal(s, "12:39:08.000 0 ADMIN(postmaster@example.com) login");
    free(s);

    s = fmt(&ts, LOG_FAILURES, LOG_TAG_XMPPI, 7, NULL, STRV(""));
    assert_string_equal(s, "12:39:08.000 1 XMPPI-000007 ");
    free(s);
}

static void test_format_local_time(void **state)
{
    (void)state;
    struct timespec ts = { T_1239, 0 };
    setenv("TZ", "CET-1", 1);
    tzset();
    char *s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL, STRV("x"));
    setenv("TZ", "UTC", 1);
    tzset();
    assert_string_equal(s, "13:39:08.000 2 SYSTEM x");
    free(s);
}

static void test_format_escapes(void **state)
{
    (void)state;
    struct timespec ts = { T_1239, 0 };
    char *s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL,
                  STRV("a\nb\rc\td\x01"
                       "e\x7f"
                       "f\\g \xc3\xa9"));
    assert_string_equal(s, "12:39:08.000 2 SYSTEM a\\nb\\rc\\td\\x01e\\x7ff\\g \xc3\xa9");
    free(s);

    /* A NUL inside the view is escaped too, and the peer is escaped like the text. */
    s = fmt(&ts, LOG_MAJOR, LOG_TAG_XMPPS, 1, "bad\npeer", STRV("x\0y"));
    assert_string_equal(s, "12:39:08.000 2 XMPPS-000001(bad\\npeer) x\\x00y");
    free(s);
    assert_null(strchr(s = fmt(&ts, 2, LOG_TAG_SYSTEM, 0, NULL, STRV("1\n2\n3")), '\n'));
    free(s);
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >= 0xf0 ? 3 : (*p >= 0xe0 ? 2 : (*p >= 0xc0 ? 1 : -1)));
        if (n < 0) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static void test_format_truncation(void **state)
{
    (void)state;
    struct timespec ts = { T_1239, 0 };
    static char big[10000];
    const char *prefix = "12:39:08.000 2 SYSTEM ";
    size_t plen = strlen(prefix);

    /* Exactly fitting: no ellipsis. */
    size_t fit = LOG_RECORD_MAX - 1 - plen;
    memset(big, 'a', fit);
    char *s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL, (struct strv){ big, fit });
    assert_int_equal(strlen(s), LOG_RECORD_MAX - 1);
    assert_false(ends_with(s, "\xe2\x80\xa6"));
    free(s);

    /* One byte more: cut, ends with the ellipsis, still within the limit. */
    memset(big, 'a', fit + 1);
    s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL, (struct strv){ big, fit + 1 });
    assert_true(strlen(s) <= LOG_RECORD_MAX - 1);
    assert_true(ends_with(s, "a\xe2\x80\xa6"));
    free(s);

    /* Multi-byte characters are never cut in the middle. */
    for (size_t i = 0; i + 2 <= sizeof(big); i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    for (size_t len = 5000; len < 5004; len += 2) {
        for (int shift = 0; shift < 3; shift++) {
            char *p = fmt(&ts, LOG_MAJOR, LOG_TAG_XMPPS, 3, "ab" + (shift % 2),
                          (struct strv){ big, len });
            assert_true(strlen(p) <= LOG_RECORD_MAX - 1);
            assert_true(ends_with(p, "\xc3\xa9\xe2\x80\xa6"));
            assert_true(valid_utf8(p));
            free(p);
        }
    }

    /* Escapes are not cut either: a text of newlines ends with a whole "\n". */
    memset(big, '\n', sizeof(big));
    s = fmt(&ts, LOG_MAJOR, LOG_TAG_SYSTEM, 0, NULL, (struct strv){ big, 3000 });
    assert_true(strlen(s) <= LOG_RECORD_MAX - 1);
    assert_true(ends_with(s, "\\n\xe2\x80\xa6"));
    assert_int_equal((strlen(s) - plen - 3) % 2, 0);
    free(s);
}

static void test_level_names(void **state)
{
    (void)state;
    for (int l = LOG_NONE; l <= LOG_ALLINFO; l++) {
        int got = 99;
        assert_int_equal(log_level_parse(log_level_name(l), &got), 0);
        assert_int_equal(got, l);
        char digit[16];
        snprintf(digit, sizeof(digit), "%d", l);
        got = 99;
        assert_int_equal(log_level_parse(digit, &got), 0);
        assert_int_equal(got, l);
    }
    assert_string_equal(log_level_name(LOG_ALLINFO), "All Info");
    assert_string_equal(log_level_name(LOG_LOWLEVEL), "Low-Level");
    assert_string_equal(log_level_name(LOG_PROBLEMS), "Problems");
    assert_string_equal(log_level_name(LOG_MAJOR), "Major");
    assert_string_equal(log_level_name(LOG_FAILURES), "Failures");
    assert_string_equal(log_level_name(LOG_CRASH), "Crash");
    assert_string_equal(log_level_name(LOG_NONE), "None");

    static const struct {
        const char *text;
        int level;
    } ok[] = {
        { "allinfo", LOG_ALLINFO },
        { "ALL_INFO", LOG_ALLINFO },
        { "All-Info", LOG_ALLINFO },
        { "low level", LOG_LOWLEVEL },
        { "low_level", LOG_LOWLEVEL },
        { "LOWLEVEL", LOG_LOWLEVEL },
        { " major ", LOG_MAJOR },
        { "problems", LOG_PROBLEMS },
        { "failures", LOG_FAILURES },
        { "crash", LOG_CRASH },
        { "NONE", LOG_NONE },
        { " 3 ", LOG_PROBLEMS },
        { "-1", LOG_NONE },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int got = 99;
        assert_int_equal(log_level_parse(ok[i].text, &got), 0);
        assert_int_equal(got, ok[i].level);
    }
    static const char *const bad[] = {
        "", "   ", "6", "-2", "10", "3x", "maj", "majors", "all info please", "--", "1.5"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int got = 99;
        assert_int_equal(log_level_parse(bad[i], &got), ERR_INVAL);
        assert_int_equal(got, 99);
    }
    assert_int_equal(log_level_parse(NULL, &(int){ 0 }), ERR_INVAL);
    assert_string_equal(log_tag_name(LOG_TAG_XMPPI), "XMPPI");
    assert_string_equal(log_tag_name(LOG_TAG_ADMIN), "ADMIN");
}

static void test_levels(void **state)
{
    (void)state;
    log_set_level(LOG_TAG_XMPPS, LOG_PROBLEMS);
    assert_true(log_enabled(LOG_TAG_XMPPS, LOG_CRASH));
    assert_true(log_enabled(LOG_TAG_XMPPS, LOG_PROBLEMS));
    assert_false(log_enabled(LOG_TAG_XMPPS, LOG_LOWLEVEL));
    log_set_level(LOG_TAG_XMPPS, LOG_NONE);
    assert_false(log_enabled(LOG_TAG_XMPPS, LOG_CRASH));
    log_set_level(LOG_TAG_XMPPS, LOG_ALLINFO);
    assert_true(log_enabled(LOG_TAG_XMPPS, LOG_ALLINFO));
    assert_false(log_enabled(LOG_TAG_XMPPI, LOG_ALLINFO)); /* other tags keep their level */
    log_set_level(LOG_TAG_XMPPS, LOG_MAJOR);
}

/* ---- Files ---- */

/* Returns the file's content (caller frees) or NULL if it does not exist. */
static char *slurp(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1 << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        assert_int_equal(buf_append(&b, chunk, n), 0);
    }
    fclose(f);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

static bool exists(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* A log in a new folder at 12:39:08.978, XMPPS kept up to Problems; returns the folder. */
static char *open_log_1239(struct log_options *opt)
{
    char *dir = test_tmpdir("log");
    fake_now = (struct timespec){ T_1239, 978000000 };
    log_set_clock(fake_clock);
    *opt = (struct log_options){ .dir = dir, .to_stderr = false, .max_file_size = 0 };
    assert_int_equal(log_open(opt), 0);
    log_set_level(LOG_TAG_XMPPS, LOG_PROBLEMS);
    return dir;
}

static void test_file_write(void **state)
{
    (void)state;
    struct log_options opt;
    char *dir = open_log_1239(&opt);
    log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 29, "[10.10.0.83]:47320", "read failed: %s", "timeout");
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 29, NULL, "filtered out");
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "two\nlines");
    log_close();
    log_set_level(LOG_TAG_XMPPS, LOG_MAJOR);

    char *s = slurp(dir, "2024-03-10.log");
    assert_non_null(s);
    assert_string_equal(s, "12:39:08.978 3 XMPPS-000029([10.10.0.83]:47320) read failed: timeout\n"
                           "12:39:08.978 2 SYSTEM two\\nlines\n");
    free(s);

    /* Opening again appends to the same day's file. */
    assert_int_equal(log_open(&opt), 0);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "again");
    log_close();
    s = slurp(dir, "2024-03-10.log");
    assert_int_equal(count_lines(s), 3);
    assert_true(ends_with(s, "SYSTEM again\n"));
    free(s);

    struct stat st;
    char path[512];
    snprintf(path, sizeof(path), "%s/2024-03-10.log", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

/* A connection's context gives the same records as log_rec with its id and peer; the account
 * takes the peer's place only when there is no peer; another tag can be asked for. */
static void test_conn_context(void **state)
{
    (void)state;
    struct log_options opt;
    char *dir = open_log_1239(&opt);
    struct log_ctx c = { .tag = LOG_TAG_XMPPS, .id = 29, .peer = "[10.10.0.83]:47320" };
    assert_true(log_conn_enabled(&c, LOG_PROBLEMS));
    assert_false(log_conn_enabled(&c, LOG_LOWLEVEL));
    log_conn(&c, LOG_PROBLEMS, "read failed: %s", "timeout");
    log_conn(&c, LOG_LOWLEVEL, "filtered out");
    c.account = "alice@example.com";
    log_conn_tag(&c, LOG_TAG_XMPPI, LOG_MAJOR, "with peer");
    c.peer = NULL;
    c.id = 0;
    log_conn(&c, LOG_MAJOR, "account only");
    log_close();
    log_set_level(LOG_TAG_XMPPS, LOG_MAJOR);

    char *s = slurp(dir, "2024-03-10.log");
    assert_non_null(s);
    assert_string_equal(s, "12:39:08.978 3 XMPPS-000029([10.10.0.83]:47320) read failed: timeout\n"
                           "12:39:08.978 2 XMPPI-000029([10.10.0.83]:47320) with peer\n"
                           "12:39:08.978 2 XMPPS(alice@example.com) account only\n");
    free(s);
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

static void test_rotation_by_size(void **state)
{
    (void)state;
    char *dir = test_tmpdir("log");
    fake_now = (struct timespec){ T_1239, 0 };
    log_set_clock(fake_clock);
    /* Each record is "12:39:08.000 2 SYSTEM record NN\n" = 32 bytes: 3 fit in 100. */
    struct log_options opt = { .dir = dir, .to_stderr = false, .max_file_size = 100 };
    assert_int_equal(log_open(&opt), 0);
    for (int i = 0; i < 10; i++) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "record %02d", i);
    }
    log_close();

    static const char *const names[] = { "2024-03-10.log", "2024-03-10-1.log", "2024-03-10-2.log",
                                         "2024-03-10-3.log" };
    int next = 0;
    for (size_t f = 0; f < 4; f++) {
        char *s = slurp(dir, names[f]);
        assert_non_null(s);
        assert_true(strlen(s) <= 100);
        for (const char *line = s; *line; line = strchr(line, '\n') + 1) {
            char want[64];
            snprintf(want, sizeof(want), "12:39:08.000 2 SYSTEM record %02d\n", next++);
            assert_memory_equal(line, want, strlen(want));
        }
        free(s);
    }
    assert_int_equal(next, 10);
    assert_false(exists(dir, "2024-03-10-4.log"));

    /* Reopening skips the full files and continues in the last one with room. */
    assert_int_equal(log_open(&opt), 0);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "record 10");
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "record 11");
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "record 12");
    log_close();
    char *s = slurp(dir, "2024-03-10-3.log");
    assert_int_equal(count_lines(s), 3);
    free(s);
    s = slurp(dir, "2024-03-10-4.log");
    assert_non_null(s);
    assert_string_equal(s, "12:39:08.000 2 SYSTEM record 12\n");
    free(s);
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

static void test_delete_old_files(void **state)
{
    (void)state;
    char *dir = test_tmpdir("log");
    touch(dir, "2024-03-01.log");
    touch(dir, "2024-03-06-2.log");
    touch(dir, "2024-03-07.log");
    touch(dir, "2024-03-09-1.log");
    touch(dir, "2023-13-01.log");
    touch(dir, "notes.txt");
    touch(dir, "2024-03-01.log.gz");
    fake_now = (struct timespec){ T_1239, 0 };
    log_set_clock(fake_clock);
    struct log_options opt = { .dir = dir, .to_stderr = false, .keep_days = 3 };
    assert_int_equal(log_open(&opt), 0);
    log_close();
    assert_false(exists(dir, "2024-03-01.log"));
    assert_false(exists(dir, "2024-03-06-2.log"));
    assert_true(exists(dir, "2024-03-07.log"));
    assert_true(exists(dir, "2024-03-09-1.log"));
    assert_true(exists(dir, "2024-03-10.log"));
    assert_true(exists(dir, "2023-13-01.log"));
    assert_true(exists(dir, "notes.txt"));
    assert_true(exists(dir, "2024-03-01.log.gz"));

    /* keep_days 0 keeps everything. */
    opt.keep_days = 0;
    fake_now.tv_sec += 400 * DAY;
    assert_int_equal(log_open(&opt), 0);
    log_close();
    assert_true(exists(dir, "2024-03-07.log"));
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

static void test_day_change(void **state)
{
    (void)state;
    char *dir = test_tmpdir("log");
    fake_now = (struct timespec){ T_2359, 500000000 };
    log_set_clock(fake_clock);
    struct log_options opt = { .dir = dir, .to_stderr = false, .keep_days = 1 };
    assert_int_equal(log_open(&opt), 0);
    touch(dir, "2024-03-09.log"); /* one day old now, two after midnight */
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "before midnight");
    assert_true(exists(dir, "2024-03-09.log"));
    fake_now = (struct timespec){ T_2359 + 1, 100000000 };
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "after midnight");
    log_close();

    char *s = slurp(dir, "2024-03-10.log");
    assert_string_equal(s, "23:59:59.500 2 SYSTEM before midnight\n");
    free(s);
    s = slurp(dir, "2024-03-11.log");
    assert_string_equal(s, "00:00:00.100 2 SYSTEM after midnight\n");
    free(s);
    assert_false(exists(dir, "2024-03-09.log"));
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

static void test_stderr_copy(void **state)
{
    (void)state;
    char *dir = test_tmpdir("log");
    char path[512];
    snprintf(path, sizeof(path), "%s/stderr.txt", dir);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);

    fake_now = (struct timespec){ T_1239, 0 };
    log_set_clock(fake_clock);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "before open"); /* stderr only */
    struct log_options opt = { .dir = NULL, .to_stderr = false };
    assert_int_equal(log_open(&opt), 0);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "nowhere");
    opt.to_stderr = true;
    assert_int_equal(log_open(&opt), 0);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "copied");
    log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL, "filtered");
    log_close();
    log_set_clock(NULL);

    dup2(saved, STDERR_FILENO);
    close(saved);
    char *s = slurp(dir, "stderr.txt");
    assert_string_equal(s, "12:39:08.000 2 SYSTEM before open\n12:39:08.000 2 SYSTEM copied\n");
    free(s);
    test_rmtree(dir);
    free(dir);
}

#define THREADS 4
#define PER_THREAD 1000

static void *writer(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        log_rec(LOG_TAG_XMPPS, LOG_MAJOR, (unsigned long)n + 1, "[127.0.0.1]:5222",
                "thread %ld record %04d padding padding padding", n, i);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char *dir = test_tmpdir("log");
    fake_now = (struct timespec){ T_1239, 0 };
    log_set_clock(fake_clock);
    struct log_options opt = { .dir = dir, .to_stderr = false, .max_file_size = 20000 };
    assert_int_equal(log_open(&opt), 0);
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    log_close();
    log_set_clock(NULL);

    /* Every record is whole, in order per thread, and no file is far past the limit. */
    int next[THREADS] = { 0 };
    int files = 0;
    for (int f = 0; f < 100; f++) {
        char name[64];
        if (f == 0) {
            snprintf(name, sizeof(name), "2024-03-10.log");
        } else {
            snprintf(name, sizeof(name), "2024-03-10-%d.log", f);
        }
        char *s = slurp(dir, name);
        if (s == NULL) {
            break;
        }
        files++;
        assert_true(strlen(s) <= 20000 + LOG_RECORD_MAX);
        for (const char *line = s; *line; line = strchr(line, '\n') + 1) {
            long t;
            int rec;
            unsigned long id;
            int used = 0;
            assert_int_equal(sscanf(line,
                                    "12:39:08.000 2 XMPPS-%06lu([127.0.0.1]:5222) thread %ld "
                                    "record %04d padding padding padding\n%n",
                                    &id, &t, &rec, &used),
                             3);
            assert_true(used > 0);
            assert_true(t >= 0 && t < THREADS);
            assert_int_equal(id, (unsigned long)t + 1);
            assert_int_equal(rec, next[t]);
            next[t]++;
        }
        free(s);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(next[i], PER_THREAD);
    }
    assert_true(files > 10);
    test_rmtree(dir);
    free(dir);
}

static void test_open_fails(void **state)
{
    (void)state;
    struct log_options opt = { .dir = "/nonexistent-dir/sub/logs", .to_stderr = false };
    assert_int_equal(log_open(&opt), ERR_IO);
    log_close();
}

/* On a loop's thread records wait for the end of the iteration (log_batch_flush), except
 * failures, which go out at once after what was held; a full buffer is written too. */
static void test_batch(void **state)
{
    (void)state;
    struct log_options opt;
    char *dir = open_log_1239(&opt);
    log_batch_begin();
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "one");
    log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 7, NULL, "two");
    char *s = slurp(dir, "2024-03-10.log");
    assert_string_equal(s, "");
    free(s);
    log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "three");
    s = slurp(dir, "2024-03-10.log");
    assert_string_equal(s, "12:39:08.978 2 SYSTEM one\n"
                           "12:39:08.978 3 XMPPS-000007 two\n"
                           "12:39:08.978 1 SYSTEM three\n");
    free(s);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "four");
    s = slurp(dir, "2024-03-10.log");
    assert_int_equal(count_lines(s), 3);
    free(s);
    log_batch_flush();
    s = slurp(dir, "2024-03-10.log");
    assert_int_equal(count_lines(s), 4);
    assert_true(ends_with(s, "SYSTEM four\n"));
    free(s);

    /* 16 KiB held at most: long records push the earlier ones out. */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int written = 0;
    for (int i = 0; i < 8 && written == 0; i++) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "%s", big);
        s = slurp(dir, "2024-03-10.log");
        written = count_lines(s) - 4;
        free(s);
    }
    assert_true(written >= 5);

    /* After log_batch_end every record is written at once again. */
    log_batch_end();
    s = slurp(dir, "2024-03-10.log");
    int before = count_lines(s);
    free(s);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "five");
    s = slurp(dir, "2024-03-10.log");
    assert_int_equal(count_lines(s), before + 1);
    free(s);
    log_close();
    log_set_clock(NULL);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_exact),
        cmocka_unit_test(test_format_local_time),
        cmocka_unit_test(test_format_escapes),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_file_write),
        cmocka_unit_test(test_conn_context),
        cmocka_unit_test(test_rotation_by_size),
        cmocka_unit_test(test_delete_old_files),
        cmocka_unit_test(test_day_change),
        cmocka_unit_test(test_stderr_copy),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
