/*
 * source_file.h - a file of the source tree read whole by a unit test (a
 * fixture, the README), found from the test binary (BUILD/tests/, two
 * levels below the tree) or else from the current directory. Include after
 * cmocka.h: a file that cannot be read fails the test.
 */
#ifndef DROVER_TEST_SOURCE_FILE_H
#define DROVER_TEST_SOURCE_FILE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many directories the binary sits below the tree: BUILD/tests/NAME. */
#define SOURCE_FILE_LEVELS 3

/* relative's text, NUL-terminated, malloc'd; *len (when not NULL) its length. */
static inline char *source_file_read(const char *relative, size_t *len)
{
	char exe[PATH_MAX], path[2 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f = NULL;
	char *text;
	long size;

	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < SOURCE_FILE_LEVELS; up++) {
			char *slash = strrchr(exe, '/');

			if (slash != NULL)
				*slash = '\0';
		}
		snprintf(path, sizeof(path), "%s/%s", exe, relative);
		f = fopen(path, "r");
	}
	if (f == NULL)
		f = fopen(relative, "r");
	if (f == NULL)
		fail_msg("cannot find %s (run from the source tree)", relative);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	text = malloc((size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)size;
	return text;
}

#endif
