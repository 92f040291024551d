/* testutil.h: helpers shared by the unit tests (temporary directories). Include after cmocka.h. */
#ifndef STARLING_TESTS_TESTUTIL_H
#define STARLING_TESTS_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new empty directory /tmp/starling-NAME-XXXXXX; the caller frees the returned path. */
static inline char *test_tmpdir(const char *name)
{
    char tmpl[128];
    snprintf(tmpl, sizeof(tmpl), "/tmp/starling-%s-XXXXXX", name);
    assert_non_null(mkdtemp(tmpl));
    char *dir = strdup(tmpl);
    assert_non_null(dir);
    return dir;
}

static inline int test__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes `dir` and everything below it (nothing when it does not exist). */
static inline void test_rmtree(const char *dir)
{
    nftw(dir, test__rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
