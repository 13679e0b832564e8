/*
 * log.h - leveled logging to stderr (journald reads it) or syslog, and the
 * one escaping of untrusted text that every line, stored audit entry and
 * printed answer goes through.
 */
#ifndef DROVER_LOG_H
#define DROVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Room for the escape of n bytes of text: each byte may become "\\xHH". */
#define LOG_ESCAPED_SIZE(n) ((n)*4 + 1)

void log_init(const char *progname, enum log_level level);
bool log_parse_level(const char *name, enum log_level *out);

/*
 * Copies in to out (outlen bytes, NUL included) with every control
 * character made visible: newline, carriage return and tab as \n, \r, \t,
 * the backslash as \\, and other C0 controls, DEL, the C1 controls
 * (U+0080..U+009F) and bytes that are not UTF-8 as \xHH, one per byte. So
 * a text from outside (a typed user name) can neither start a line of its
 * own, nor forge a journald priority, nor reach a terminal as an escape
 * sequence. Longer text is cut at an escape's boundary. Pure; returns out.
 */
char *log_escape(const char *in, char *out, size_t outlen);
/* True when text holds no byte log_escape would change. */
bool log_is_clean(const char *text);

/*
 * log_warn appends strerror(errno); log_warnx does not. Every line is passed
 * through log_escape, so no argument can break it into two.
 */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx: start-up failures and broken invariants only; never on the packet path. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
