/*
 * test_settings_doc.c - the settings tables of the documentation agree with
 * the settings table of the code: README.md (its tables whose columns are
 * key, default, scope, meaning) and the SETTINGS section of man/droverctl.8
 * (a Default: and a Scope: line per key) name every key once, no other key,
 * and the default and scope (cluster or node) the code has.
 *
 * A failure lists every difference, naming the file, the line and the key.
 * The files are found from the test binary (BUILD/tests/test_...), or in the
 * working directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "source_file.h"

#define DOC_KEY_MAX	64
#define DOC_DEFAULT_MAX 256
#define DOC_ENTRIES_MAX 128
#define DOC_REPORT_MAX	8192
#define DOC_CELLS_MAX	8

/* One key as a document shows it. */
struct doc_entry {
	char key[DOC_KEY_MAX];
	char value[DOC_DEFAULT_MAX]; /* the default, "" for one shown as empty */
	char scope[DOC_KEY_MAX];     /* "cluster" or "node" as written; "" when not shown */
	unsigned line;
};

struct doc {
	const char *name; /* for messages: README.md, man/droverctl.8 */
	struct doc_entry entries[DOC_ENTRIES_MAX];
	size_t n;
	char report[DOC_REPORT_MAX]; /* every problem, one a line */
	size_t problems;
};

static void doc_problem(struct doc *d, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void doc_problem(struct doc *d, unsigned line, const char *fmt, ...)
{
	size_t used = strlen(d->report);
	va_list ap;

	d->problems++;
	if (used >= sizeof(d->report) - 1)
		return;
	if (line > 0)
		used += (size_t)snprintf(d->report + used, sizeof(d->report) - used,
					 "%s:%u: ", d->name, line);
	else
		used +=
		    (size_t)snprintf(d->report + used, sizeof(d->report) - used, "%s: ", d->name);
	if (used >= sizeof(d->report) - 1)
		return;
	va_start(ap, fmt);
	used += (size_t)vsnprintf(d->report + used, sizeof(d->report) - used, fmt, ap);
	va_end(ap);
	if (used < sizeof(d->report) - 1)
		strcat(d->report, "\n");
}

static void doc_add(struct doc *d, unsigned line, const char *key, size_t keylen, const char *value,
		    const char *scope)
{
	struct doc_entry *e;

	if (d->n == DOC_ENTRIES_MAX || keylen >= DOC_KEY_MAX || strlen(value) >= DOC_DEFAULT_MAX) {
		doc_problem(d, line, "too many keys, or one too long");
		return;
	}
	e = &d->entries[d->n++];
	memcpy(e->key, key, keylen);
	e->key[keylen] = '\0';
	snprintf(e->value, sizeof(e->value), "%s", value);
	snprintf(e->scope, sizeof(e->scope), "%s", scope);
	e->line = line;
}

/* The next line of text at *p, NUL-terminated in place; NULL at the end. */
static char *doc_next_line(char **p)
{
	char *line = *p, *nl;

	if (line == NULL || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = line + strlen(line);
	}
	return line;
}

static char *doc_trim(char *s)
{
	char *end;

	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		*--end = '\0';
	return s;
}

/* Splits a Markdown table row "| a | b | c |" into its trimmed cells. */
static size_t doc_cells(char *row, char *cells[DOC_CELLS_MAX])
{
	size_t n = 0;
	char *p = row + 1, *bar;

	while (n < DOC_CELLS_MAX && (bar = strchr(p, '|')) != NULL) {
		*bar = '\0';
		cells[n++] = doc_trim(p);
		p = bar + 1;
	}
	return n;
}

/*
 * One row of a key | default | scope | meaning table. The key cell holds one
 * or more `key`s ("`probe_rise` / `probe_fall`", "`tls_cert`, `tls_key`");
 * the default cell one default for all of them, or one per key separated by
 * " / ", each `value` or the word empty; the scope cell `cluster` or `node`
 * for all of them.
 */
static void doc_readme_row(struct doc *d, unsigned line, char *keys, char *defaults,
			   const char *scope)
{
	const char *key[DOC_CELLS_MAX];
	size_t keylen[DOC_CELLS_MAX], nkeys = 0, ndefaults = 0;
	char value[DOC_CELLS_MAX][DOC_DEFAULT_MAX];
	char *p = keys, *open, *close;

	while (nkeys < DOC_CELLS_MAX && (open = strchr(p, '`')) != NULL &&
	       (close = strchr(open + 1, '`')) != NULL) {
		key[nkeys] = open + 1;
		keylen[nkeys++] = (size_t)(close - open - 1);
		p = close + 1;
	}
	if (nkeys == 0) {
		doc_problem(d, line, "no `key' in the first cell");
		return;
	}
	for (p = defaults;;) {
		while (*p == ' ')
			p++;
		if (ndefaults == DOC_CELLS_MAX) {
			doc_problem(d, line, "too many defaults");
			return;
		}
		if (p[0] == '`' && (close = strchr(p + 1, '`')) != NULL) {
			snprintf(value[ndefaults++], DOC_DEFAULT_MAX, "%.*s", (int)(close - p - 1),
				 p + 1);
			p = close + 1;
		} else if (strncmp(p, "empty", 5) == 0) {
			value[ndefaults++][0] = '\0';
			p += 5;
		} else {
			doc_problem(d, line, "cannot read the default `%s' (want `value' or empty)",
				    p);
			return;
		}
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p++ != '/') {
			doc_problem(d, line, "defaults not separated by ` / ' in `%s'", defaults);
			return;
		}
	}
	if (ndefaults != 1 && ndefaults != nkeys) {
		doc_problem(d, line, "%zu keys but %zu defaults", nkeys, ndefaults);
		return;
	}
	for (size_t i = 0; i < nkeys; i++)
		doc_add(d, line, key[i], keylen[i], value[ndefaults == 1 ? 0 : i], scope);
}

/* Every table of text whose header is | ... | default | meaning |. */
static void doc_parse_readme(struct doc *d, char *text)
{
	char *p = text, *line;
	unsigned lineno = 0;
	bool in_table = false;

	while ((line = doc_next_line(&p)) != NULL) {
		char *cells[DOC_CELLS_MAX];
		size_t n;

		lineno++;
		if (line[0] != '|') {
			in_table = false;
			continue;
		}
		n = doc_cells(line, cells);
		if (!in_table) {
			in_table = n == 4 && strcmp(cells[1], "default") == 0 &&
				   strcmp(cells[2], "scope") == 0 &&
				   strcmp(cells[3], "meaning") == 0;
			if (n == 3 && strcmp(cells[1], "default") == 0 &&
			    strcmp(cells[2], "meaning") == 0)
				doc_problem(d, lineno, "a settings table without a scope column");
			continue;
		}
		if (strncmp(cells[0], "---", 3) == 0)
			continue;
		if (n != 4) {
			doc_problem(d, lineno, "a settings row without four cells");
			continue;
		}
		doc_readme_row(d, lineno, cells[0], cells[1], cells[2]);
	}
}

/* roff text to plain text: \- is a hyphen, \fB \fR \fI \fP switch fonts. */
static void doc_unroff(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = in; *p != '\0' && o + 1 < len; p++) {
		if (p[0] == '\\' && p[1] == '-') {
			out[o++] = '-';
			p++;
		} else if (p[0] == '\\' && p[1] == 'f' && p[2] != '\0') {
			p += 2;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/*
 * The SETTINGS section of a man page: each entry is .TP, then .B key, then
 * its text with one line "Default: \fBvalue\fR." or "Default: empty.".
 */
static void doc_parse_man(struct doc *d, char *text)
{
	char *p = text, *line, key[DOC_KEY_MAX] = "";
	unsigned lineno = 0, key_line = 0;
	bool in_section = false, want_key = false, have_default = false, have_scope = false;

	while ((line = doc_next_line(&p)) != NULL) {
		lineno++;
		if (strncmp(line, ".SH ", 4) == 0) {
			if (in_section && key[0] != '\0' && !have_default)
				doc_problem(d, key_line, "`%s' has no Default: line", key);
			if (in_section && key[0] != '\0' && have_default && !have_scope)
				doc_problem(d, key_line, "`%s' has no Scope: line", key);
			in_section = strcmp(line, ".SH SETTINGS") == 0;
			key[0] = '\0';
			continue;
		}
		if (!in_section)
			continue;
		if (strcmp(line, ".TP") == 0) {
			if (key[0] != '\0' && !have_default)
				doc_problem(d, key_line, "`%s' has no Default: line", key);
			if (key[0] != '\0' && have_default && !have_scope)
				doc_problem(d, key_line, "`%s' has no Scope: line", key);
			key[0] = '\0';
			want_key = true;
			continue;
		}
		if (want_key) {
			want_key = false;
			if (strncmp(line, ".B ", 3) != 0 || strchr(line + 3, ' ') != NULL) {
				doc_problem(d, lineno, "an entry that is not `.B key': %s", line);
				continue;
			}
			doc_unroff(line + 3, key, sizeof(key));
			key_line = lineno;
			have_default = false;
			have_scope = false;
			continue;
		}
		/* "Scope: \fBnode\fR." after the Default: line, for the entry it added. */
		if (key[0] != '\0' && have_default && strncmp(line, "Scope: \\fB", 10) == 0) {
			const char *v = line + 10;
			size_t len = strlen(v);

			if (len > 4 && strcmp(v + len - 4, "\\fR.") == 0)
				snprintf(d->entries[d->n - 1].scope, DOC_KEY_MAX, "%.*s",
					 (int)(len - 4), v);
			else
				doc_problem(d, lineno,
					    "cannot read `%s' (want Scope: \\fBnode\\fR.)", line);
			have_scope = true;
			continue;
		}
		if (key[0] != '\0' && strncmp(line, "Default: ", 9) == 0) {
			char value[DOC_DEFAULT_MAX];
			const char *v = line + 9;
			size_t len = strlen(v);

			if (strcmp(v, "empty.") == 0) {
				value[0] = '\0';
			} else if (strncmp(v, "\\fB", 3) == 0 && len > 7 &&
				   strcmp(v + len - 4, "\\fR.") == 0) {
				char inner[DOC_DEFAULT_MAX];

				snprintf(inner, sizeof(inner), "%.*s", (int)(len - 7), v + 3);
				doc_unroff(inner, value, sizeof(value));
			} else {
				doc_problem(d, lineno,
					    "cannot read `%s' (want Default: \\fBvalue\\fR.)",
					    line);
				continue;
			}
			doc_add(d, key_line, key, strlen(key), value, "");
			have_default = true;
		}
	}
}

/* Every key of the code once, nothing else, with the code's default. */
static void doc_compare(struct doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct doc_entry *e = &d->entries[i];
		const struct setting_def *def = settings_find(e->key);

		for (size_t j = 0; j < i; j++) {
			if (strcmp(d->entries[j].key, e->key) == 0)
				doc_problem(d, e->line, "`%s' again (first on line %u)", e->key,
					    d->entries[j].line);
		}
		if (def == NULL)
			doc_problem(d, e->line, "`%s' is no setting", e->key);
		else if (strcmp(def->default_value, e->value) != 0)
			doc_problem(d, e->line, "`%s' has the default `%s', the code `%s'", e->key,
				    e->value, def->default_value);
		else if (strcmp(settings_scope_name(def->scope), e->scope) != 0)
			doc_problem(d, e->line, "`%s' has the scope `%s', the code `%s'", e->key,
				    e->scope, settings_scope_name(def->scope));
	}
	for (size_t i = 0; i < settings_count(); i++) {
		const struct setting_def *def = settings_def_at(i);
		bool found = false;

		for (size_t j = 0; j < d->n && !found; j++)
			found = strcmp(d->entries[j].key, def->key) == 0;
		if (!found)
			doc_problem(d, 0, "`%s' (default `%s') is missing", def->key,
				    def->default_value);
	}
}

static void doc_check(struct doc *d)
{
	doc_compare(d);
	if (d->problems > 0)
		fail_msg("%zu difference(s) between %s and the settings table:\n%s", d->problems,
			 d->name, d->report);
}

static void test_readme(void **state)
{
	static struct doc d = {.name = "README.md"};
	char *text = source_file_read("README.md", NULL);

	(void)state;
	doc_parse_readme(&d, text);
	free(text);
	doc_check(&d);
}

static void test_man_page(void **state)
{
	static struct doc d = {.name = "man/droverctl.8"};
	char *text = source_file_read("man/droverctl.8", NULL);

	(void)state;
	doc_parse_man(&d, text);
	free(text);
	doc_check(&d);
}

/* The checks themselves: a wrong default, an unknown key and missing keys are each named. */
static void test_differences_named(void **state)
{
	static struct doc readme = {.name = "README.md"}, man = {.name = "droverctl.8"};
	char readme_text[] = "| key | default | scope | meaning |\n"
			     "| --- | --- | --- | --- |\n"
			     "| `queues` | `auto` | node | queues |\n"
			     "| `probe_rise` / `probe_fall` | `2` / `4` | cluster | probes |\n"
			     "| `probe_path` / `probe_host` | `/` / empty | cluster | probes |\n"
			     "| `probe_bogus` | `1` | cluster | no such key |\n"
			     "| `https` | `false` | cluster | node-scoped in the code |\n";
	char man_text[] =
	    ".SH SETTINGS\n"
	    ".TP\n.B queues\nQueues.\nDefault: \\fBauto\\fR.\nScope: \\fBnode\\fR.\n"
	    ".TP\n.B probe_kind\nKind.\nDefault: \\fBhttp\\-proxy\\fR.\n"
	    "Scope: \\fBcluster\\fR.\n"
	    ".TP\n.B probe_url\nURL, no default line.\n"
	    ".TP\n.B probe_host\nHost.\nDefault: \\fBx\\fR.\nScope: \\fBcluster\\fR.\n"
	    ".TP\n.B probe_port\nPort.\nDefault: \\fB3128\\fR.\n"
	    ".SH EXIT STATUS\n";

	(void)state;
	doc_parse_readme(&readme, readme_text);
	doc_compare(&readme);
	assert_non_null(strstr(readme.report, "README.md:4: `probe_fall' has the default `4', "
					      "the code `3'"));
	assert_non_null(strstr(readme.report, "README.md:6: `probe_bogus' is no setting"));
	assert_non_null(
	    strstr(readme.report, "README.md: `fast_path' (default `true') is missing"));
	assert_null(strstr(readme.report, "`probe_path'"));
	assert_null(strstr(readme.report, "`probe_host'"));
	assert_non_null(
	    strstr(readme.report, "README.md:7: `https' has the scope `cluster', the code `node'"));
	assert_int_equal(readme.problems, 1 + 1 + 1 + (settings_count() - 6));

	doc_parse_man(&man, man_text);
	doc_compare(&man);
	assert_non_null(strstr(man.report, "droverctl.8:13: `probe_url' has no Default: line"));
	assert_non_null(strstr(man.report, "droverctl.8:16: `probe_host' has the default `x', "
					   "the code `'"));
	assert_null(strstr(man.report, "`probe_kind' has"));
	assert_non_null(strstr(man.report, "`probe_port' has no Scope: line"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readme),
	    cmocka_unit_test(test_man_page),
	    cmocka_unit_test(test_differences_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
