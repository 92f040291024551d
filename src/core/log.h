/* log.h: the System Log, CommuniGate-style records in DATADIR/SystemLogs, one file per day. */
#ifndef STARLING_CORE_LOG_H
#define STARLING_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "core/buf.h"

/* CommuniGate's levels; the digit is written in every record. A component's Log Level keeps
 * records whose level is <= it; LOG_NONE (-1) as a setting keeps nothing. */
enum log_level {
    LOG_NONE = -1,
    LOG_CRASH = 0,
    LOG_FAILURES = 1,
    LOG_MAJOR = 2,
    LOG_PROBLEMS = 3,
    LOG_LOWLEVEL = 4,
    LOG_ALLINFO = 5,
};

/* Record tags. XMPPI/XMPPS follow xmpp.receiving.log_level, XMPPO xmpp.sending.log_level,
 * SYSTEM and ADMIN server.log_level. */
enum log_tag {
    LOG_TAG_SYSTEM,
    LOG_TAG_XMPPI,
    LOG_TAG_XMPPS,
    LOG_TAG_XMPPO,
    LOG_TAG_ADMIN,
    LOG_TAG_COUNT,
};

struct log_options {
    const char *dir;    /* folder of the log files, e.g. DATADIR/SystemLogs; NULL: no files */
    bool to_stderr;     /* also write every kept record to standard error */
    long max_file_size; /* bytes; past it a new file of the same day is started */
    int keep_days;      /* files older than this are deleted (0: keep all) */
};

/* Opens the log. Safe to call before: records then go to standard error only. */
int log_open(const struct log_options *opt);
void log_close(void);
/* Live-applied: sets the level kept for a tag. Thread-safe. */
void log_set_level(enum log_tag tag, int level);
bool log_enabled(enum log_tag tag, int level);

/* Writes one record; `conn_id` 0 and `peer` NULL are left out. Thread-safe: a record is written
 * with one write(2), or, on a thread inside log_batch_begin/end, with the other records of its
 * loop iteration (see log_batch_flush). Newlines in the text are written as "\n" escapes to keep
 * one line a record. */
void log_rec(enum log_tag tag, int level, unsigned long conn_id, const char *peer, const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));
void log_vrec(enum log_tag tag, int level, unsigned long conn_id, const char *peer, const char *fmt,
              va_list ap);
/* An event loop's thread: from log_batch_begin on, its records (except LOG_CRASH and
 * LOG_FAILURES, written at once) are held in a per-thread buffer (16 KiB, written when full)
 * and written together by log_batch_flush, which the loop calls at the end of every iteration;
 * log_batch_end flushes and stops. A crash loses at most the current iteration's records. */
void log_batch_begin(void);
void log_batch_flush(void);
void log_batch_end(void);

/* The context of the records about one connection (or another object with an id): kept beside
 * it and passed by pointer, so that no call site repeats the id and peer by hand. The record is
 * the same as log_rec's: "XMPPS-000029([10.10.0.83]:47320) text"; `account` is written in the
 * peer's place when there is no peer (as records about an account without a connection do). */
struct log_ctx {
    enum log_tag tag;    /* the tag of its records */
    unsigned long id;    /* 0: none */
    const char *peer;    /* "[ip]:port" (or another name of the far end); NULL: none */
    const char *account; /* the account concerned once known; NULL: none */
};
void log_conn(const struct log_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same under another tag than the context's (e.g. a pre-session XMPPI record on a stream
 * already known as a client's). */
void log_conn_tag(const struct log_ctx *ctx, enum log_tag tag, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool log_conn_enabled(const struct log_ctx *ctx, int level);

/* Formats one record (without the newline) into `out`, e.g.
 * "12:39:08.978 3 XMPPS-000029([10.10.0.83]:47320) read failed: timeout". Pure; for tests. */
int log_format(struct buf *out, const struct timespec *when, int level, enum log_tag tag,
               unsigned long conn_id, const char *peer, struct strv text);

const char *log_tag_name(enum log_tag tag);

/* A record, its newline included, is at most this many bytes: a longer text is cut (never inside
 * a UTF-8 sequence) and ends with "…". */
#define LOG_RECORD_MAX 4096

/* For tests: replaces the clock that dates records and names files (NULL: the real clock). Call
 * it before log_open; a change of the returned day starts a new file like midnight does. */
typedef void log_clock_fn(struct timespec *now);
void log_set_clock(log_clock_fn *fn);
/* Parses a level by name ("All Info", "Low-Level", "Problems", "Major", "Failures", "Crash",
 * "None", case- and separator-insensitive: "allinfo", "low_level"…) or digit. ERR_INVAL if unknown. */
int log_level_parse(const char *s, int *level);
const char *log_level_name(int level);

#endif
