/* log.c - leveled logging; journald adds the timestamp, so we print "<N>" priority prefixes. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "drover";
static enum log_level log_max = LOG_LEVEL_INFO;

/* sd-daemon(3) priority prefixes, understood by journald on stderr. */
static const char *const log_prefix[] = {
    [LOG_LEVEL_ERROR] = "<3>",
    [LOG_LEVEL_WARNING] = "<4>",
    [LOG_LEVEL_INFO] = "<6>",
    [LOG_LEVEL_DEBUG] = "<7>",
};

static const char *const log_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_max = level;
}

bool log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

#define LOG_LINE_MAX 1024

/*
 * The length of the UTF-8 sequence at p that log_escape may keep as it is:
 * 0 for a byte that is not the start of a whole, shortest-form sequence, or
 * whose code point is a C1 control (terminals act on those too).
 */
static size_t log_utf8_keep(const unsigned char *p)
{
	uint32_t cp;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1fU;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0fU;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07U;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (p[i] & 0x3fU);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

char *log_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t used = 0;

	if (outlen == 0)
		return out;
	while (*p != '\0') {
		char esc[4];
		size_t n = 0, keep = 0;

		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't' : '\\';
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f ||
			   (*p >= 0x80 && (keep = log_utf8_keep(p)) == 0)) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 0xf];
			n = 4;
		} else {
			keep = *p < 0x80 ? 1 : keep;
		}
		if (used + (n ? n : keep) >= outlen)
			break;
		if (n != 0) {
			memcpy(out + used, esc, n);
			used += n;
			p++;
		} else {
			memcpy(out + used, p, keep);
			used += keep;
			p += keep;
		}
	}
	out[used] = '\0';
	return out;
}

bool log_is_clean(const char *text)
{
	size_t len = strlen(text);
	char buf[LOG_ESCAPED_SIZE(LOG_LINE_MAX)];

	/* Escaping only ever lengthens: a clean text comes out the same. */
	if (len > LOG_LINE_MAX)
		return false;
	return strcmp(log_escape(text, buf, sizeof(buf)), text) == 0;
}

static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], shown[LOG_ESCAPED_SIZE(LOG_LINE_MAX)];
	int n;

	if (level > log_max)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
	/* Whatever the arguments held, this is one line, and its priority is ours. */
	log_escape(line, shown, sizeof(shown));
	/* A prefix journald understands; a terminal reader still sees the level. */
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "%s: %s: %s\n", log_progname, log_names[level], shown);
	else
		fprintf(stderr, "%s%s\n", log_prefix[level], shown);
}

#define LOG_BODY(level, errnum)                                                                    \
	do {                                                                                       \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, errnum, fmt, ap);                                                \
		va_end(ap);                                                                        \
	} while (0)

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_LEVEL_WARNING, saved);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARNING, 0);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_LEVEL_ERROR, saved);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
	exit(1);
}
