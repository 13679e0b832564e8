/* log.c - leveled logging; journald adds the timestamp, so we print "<N>" priority prefixes. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
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

static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (level > log_max)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
	/* A prefix journald understands; a terminal reader still sees the level. */
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "%s: %s: %s\n", log_progname, log_names[level], line);
	else
		fprintf(stderr, "%s%s\n", log_prefix[level], line);
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
