/*
 * fuzz_manager.h - a droverd manager for the API, control and web harnesses:
 * a real store (SQLite in a temporary directory, on tmpfs when there is one)
 * and the real control plane, but no NFQUEUE (the manager is started without
 * queue_binder), no rules, no probes. Each input starts from the same freshly
 * made database, so a crash replays alone.
 *
 * The harness links with -Wl,--wrap=api_handle: every request passes
 * __wrap_api_handle, which moves
 * any absolute "path" (backup, restore) into the input's own directory, so
 * an input never writes or reads a file of this machine.
 */
#ifndef DROVER_FUZZ_MANAGER_H
#define DROVER_FUZZ_MANAGER_H

#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "manager.h"

json_t *__real_api_handle(struct manager *m, json_t *request, const char *actor);
json_t *__wrap_api_handle(struct manager *m, json_t *request, const char *actor);

struct fuzz_manager {
	const char *tmp;   /* tmpfs when there is one: SQLite's fsyncs cost nothing there */
	uint8_t *template; /* the template database's bytes */
	size_t template_len;
	char dir[64]; /* this input's directory, removed with it */
	char db[96];
	struct manager *m; /* NULL when not running */
};

static struct fuzz_manager *fuzz_manager_world;

/*
 * A harness's own additions to the template database (users, tokens,
 * settings), made once through the manager before it is saved; NULL: none.
 */
static void (*fuzz_manager_prepare)(struct manager *m);

static void fuzz_manager_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
}

static void fuzz_manager_remove(struct fuzz_manager *f)
{
	char path[128];

	if (f->dir[0] == '\0')
		return;
	unlink(f->db);
	snprintf(path, sizeof(path), "%s-wal", f->db);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", f->db);
	unlink(path);
	/* Backups the input made, and whatever their writing left (temporaries). */
	fuzz_manager_clear_dir(f->dir);
	rmdir(f->dir);
	f->dir[0] = '\0';
}

/* The manager's seam: queues are asked for, none is bound. */
static int fuzz_manager_no_queues(void *arg, uint16_t base, unsigned count, char *err,
				  size_t errlen)
{
	(void)arg;
	(void)base;
	(void)count;
	(void)err;
	(void)errlen;
	return 0;
}

static void fuzz_manager_start(struct fuzz_manager *f)
{
	struct manager_options opt = {.db_path = f->db,
				      .manage_rules = false,
				      .base = NULL,
				      .queue_binder = fuzz_manager_no_queues};
	char err[MANAGER_ERR_MAX];

	f->m = manager_start(&opt, err, sizeof(err));
	if (f->m == NULL) {
		fprintf(stderr, "fuzz: manager_start on %s: %s\n", f->db, err);
		abort();
	}
}

/* Stops the manager, closing the store, and removes its files: nothing outlives the input. */
static void fuzz_manager_done(void)
{
	struct fuzz_manager *f = fuzz_manager_world;

	if (f == NULL)
		return;
	manager_stop(f->m);
	f->m = NULL;
	fuzz_manager_remove(f);
}

/* A new directory for one database. */
static void fuzz_manager_mkdir(struct fuzz_manager *f)
{
	snprintf(f->dir, sizeof(f->dir), "%s/drover-fuzz.XXXXXX", f->tmp);
	if (mkdtemp(f->dir) == NULL)
		abort();
	snprintf(f->db, sizeof(f->db), "%s/drover.db", f->dir);
}

static void fuzz_manager_write(const char *path, const uint8_t *bytes, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, bytes, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void fuzz_manager_read(struct fuzz_manager *f)
{
	int fd = open(f->db, O_RDONLY | O_CLOEXEC);
	off_t len = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);

	if (len <= 0 || (f->template = malloc((size_t)len)) == NULL ||
	    pread(fd, f->template, (size_t)len, 0) != len)
		abort();
	f->template_len = (size_t)len;
	close(fd);
}

/*
 * The template: a new database with a small affinity table and Maglev table
 * (inputs may ask for larger ones), made once per process and kept in memory.
 */
static struct fuzz_manager *fuzz_manager_init(void)
{
	static const char *const small[][2] = {
	    {"affinity_max_clients", "1024"},
	    {"maglev_table_size", "251"},
	};
	struct fuzz_manager *f = calloc(1, sizeof(*f));
	char err[MANAGER_ERR_MAX];

	if (f == NULL)
		abort();
	log_init("fuzz", LOG_LEVEL_ERROR);
	f->tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	fuzz_manager_world = f;
	atexit(fuzz_manager_done);
	fuzz_manager_mkdir(f);
	fuzz_manager_start(f);
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		if (manager_setting_set(f->m, small[i][0], small[i][1], "fuzz", err, sizeof(err)) <
		    0)
			abort();
	}
	if (fuzz_manager_prepare != NULL)
		fuzz_manager_prepare(f->m);
	manager_stop(f->m);
	f->m = NULL;
	/* Closed by its last connection, the database is one file: no -wal left. */
	fuzz_manager_read(f);
	fuzz_manager_remove(f);
	return f;
}

/* A manager over a fresh copy of the template database. */
static struct manager *fuzz_manager_fresh(void)
{
	struct fuzz_manager *f = fuzz_manager_world ? fuzz_manager_world : fuzz_manager_init();

	fuzz_manager_done();
	fuzz_manager_mkdir(f);
	fuzz_manager_write(f->db, f->template, f->template_len);
	fuzz_manager_start(f);
	return f->m;
}

/*
 * An absolute path becomes one of four files in the input's directory,
 * chosen by a hash of the path, so a backup and a restore naming the same
 * path meet. Relative paths and other types are left for the API to refuse.
 */
json_t *__wrap_api_handle(struct manager *m, json_t *request, const char *actor)
{
	json_t *path = json_object_get(request, "path");
	const char *text = json_string_value(path);

	if (text != NULL && text[0] == '/' && fuzz_manager_world != NULL) {
		char inside[160];
		unsigned h = 5381;

		for (const char *p = text; *p != '\0'; p++)
			h = h * 33 + (unsigned char)*p;
		snprintf(inside, sizeof(inside), "%s/file-%u", fuzz_manager_world->dir, h % 4);
		json_string_set(path, inside);
	}
	return __real_api_handle(m, request, actor);
}

/*
 * What every answer must look like: an object with a boolean "ok"; a refusal
 * carries an "error" message. It must also serialise (droverctl and the web
 * UI send it as text).
 */
static void fuzz_check_response(json_t *resp)
{
	json_t *ok;
	char *text;

	assert(json_is_object(resp));
	ok = json_object_get(resp, "ok");
	assert(json_is_boolean(ok));
	if (json_is_false(ok))
		assert(json_is_string(json_object_get(resp, "error")));
	text = json_dumps(resp, JSON_COMPACT);
	assert(text != NULL);
	free(text);
}

/*
 * The control plane's own invariants after a request, seen through its face:
 * no two proxies share a slot, and a slot that takes new clients in the
 * snapshot belongs to the proxy that holds it.
 */
static void fuzz_check_manager(const struct manager *m)
{
	const struct pool_snapshot *snap = manager_snapshot(m);
	size_t n = manager_proxy_count(m);
	int64_t owner[PROXY_SLOTS_MAX] = {0};

	assert(snap != NULL);
	for (size_t i = 0; i < n; i++) {
		struct manager_proxy_view v;

		manager_proxy_view_at(m, i, &v);
		assert(v.slot < PROXY_SLOTS_MAX);
		if (v.slot == 0)
			continue;
		assert(owner[v.slot] == 0);
		owner[v.slot] = v.config.id;
		if (v.slot < snap->nslots && (snap->targets[v.slot].flags & POOL_TARGET_TAKES))
			assert(snap->targets[v.slot].id == v.config.id);
	}
	/* Every entry names a slot of the snapshot (big tables are left out: too slow per input).
	 */
	for (uint32_t e = 0; snap->table.size <= MAGLEV_DEFAULT_SIZE && e < snap->table.size; e++)
		assert(snap->table.entries[e] < snap->nslots ||
		       snap->table.entries[e] == MAGLEV_EMPTY);
}

#endif
