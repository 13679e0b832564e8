/*
 * fuzz_settings.c - the settings parser: every value text that reaches
 * droverd (SQLite rows, droverctl, the JSON API) goes through settings_set.
 *
 * Input: lines of "key=value", applied in order to one settings struct. For
 * each line: a refusal leaves the settings untouched and says why in a
 * terminated message (also into a short buffer); an acceptance formats back
 * to a canonical text that parses again to the same settings (a value shown
 * is a value that can be saved). The shared address parsers see every value.
 */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

#define FUZZ_ERR_SHORT 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_settings_line(struct settings *s, char *line)
{
	char *eq = strchr(line, '=');
	const char *key = line, *value = "";
	char err[256], shorterr[FUZZ_ERR_SHORT], canon[SETTINGS_VALUE_MAX],
	    again[SETTINGS_VALUE_MAX];
	struct settings before = *s, copy;
	struct cidr c;
	uint32_t addr;
	uint16_t port;

	if (eq != NULL) {
		*eq = '\0';
		value = eq + 1;
	}
	(void)settings_parse_ipv4(value, &addr);
	(void)settings_parse_cidr(value, &c);
	(void)settings_parse_listen(value, &addr, &port);

	err[0] = '\0';
	if (!settings_set(s, key, value, err, sizeof(err))) {
		assert(memcmp(&before, s, sizeof(before)) == 0);
		assert(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		copy = *s;
		memset(shorterr, 'x', sizeof(shorterr));
		assert(!settings_set(&copy, key, value, shorterr, sizeof(shorterr)));
		assert(memchr(shorterr, '\0', sizeof(shorterr)) != NULL);
		assert(!settings_set(&copy, key, value, NULL, 0));
		return;
	}
	assert(settings_find(key) != NULL);
	assert(settings_format(s, key, canon, sizeof(canon)));
	copy = before;
	assert(settings_set(&copy, key, canon, err, sizeof(err)));
	assert(settings_format(&copy, key, again, sizeof(again)));
	assert(strcmp(canon, again) == 0);
	/* A buffer too small is refused, not overrun. */
	assert(!settings_format(s, key, canon, strlen(again)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s;
	char *text = malloc(size + 1), *line, *next;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	settings_defaults(&s);
	for (line = text; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		fuzz_settings_line(&s, line);
	}
	/* Whatever was accepted formats, key by key, within the documented bound. */
	for (size_t i = 0; i < settings_count(); i++) {
		char buf[SETTINGS_VALUE_MAX];
		assert(settings_format(&s, settings_def_at(i)->key, buf, sizeof(buf)));
	}
	free(text);
	return 0;
}
