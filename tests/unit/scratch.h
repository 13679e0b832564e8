/*
 * scratch.h - a unit test's own directory under /tmp, made at setup and
 * removed whole (whatever the test left in it) at teardown.
 */
#ifndef DROVER_TEST_SCRATCH_H
#define DROVER_TEST_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static inline int scratch_remove_entry(const char *path, const struct stat *st, int flag,
				       struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Makes /tmp/drover-test-NAME.XXXXXX into dir; NULL when it cannot. */
static inline char *scratch_make(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/drover-test-%s.XXXXXX", name);
	return mkdtemp(dir);
}

/* Removes dir and everything below it. */
static inline void scratch_remove(const char *dir)
{
	nftw(dir, scratch_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
