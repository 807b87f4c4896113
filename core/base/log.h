/* Logging: one line per event to stderr, with level and thread tag.
 * The level is set once at start-up (and on SIGHUP) through an atomic, so
 * reading it from any thread is race-free. */
#ifndef XMPPD_LOG_H
#define XMPPD_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
bool log_level_parse(const char *s, enum log_level *out);
/* A short name for the calling thread ("mux0", "router"...), shown in lines. */
void log_set_thread_name(const char *name);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ERR(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_INFO(...)  do { if (log_get_level() >= LOG_LVL_INFO) log_msg(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define LOG_DEBUG(...) do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
