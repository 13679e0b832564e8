/*
 * replay.c - a fuzz harness as a plain program: runs LLVMFuzzerTestOneInput
 * once on every file named, or on every file of every directory named, and
 * prints one "ok - ..." line (or dies, under the sanitizers, on the input
 * that breaks it). Lets `make test` replay the seed corpora with any compiler.
 *
 *   replay_fuzz_NAME NAME FILE|DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads path whole; NULL on failure (reason printed). */
static uint8_t *replay_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		/* One spare byte so an empty file still gets a real allocation. */
		buf = malloc((size_t)size + 1);
		if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)size;
	}
	if (buf == NULL)
		fprintf(stderr, "replay: cannot read %s\n", path);
	fclose(f);
	return buf;
}

/*
 * Runs the harness on the file at path. The input gets a heap block of its
 * exact size (copied), so the sanitizers see any read past its end.
 */
static int replay_file(const char *path)
{
	size_t len = 0;
	uint8_t *buf = replay_read(path, &len);
	uint8_t *exact;

	if (buf == NULL)
		return -1;
	exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;
	struct dirent **names;
	int n, ret = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) < 0)
			return -1;
		(*count)++;
		return 0;
	}
	/* Sorted, so a failure names the same file every run. */
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char full[4096];

		if (names[i]->d_name[0] != '.') {
			snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
			if (replay_path(full, count) < 0)
				ret = -1;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int ret = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s NAME FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 2; i < argc; i++) {
		if (replay_path(argv[i], &count) < 0)
			ret = 1;
	}
	if (ret == 0 && count > 0) {
		printf("ok - %s replays %u corpus inputs\n", argv[1], count);
		return 0;
	}
	printf("not ok - %s replays its corpus (%u inputs read%s)\n", argv[1], count,
	       ret ? ", some unreadable" : "");
	return 1;
}
