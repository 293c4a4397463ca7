/* Shared tables of the etcd and log sections, and checks of a key table. */
#include "config/cfg.h"

const char *const cfg_log_levels[] = {"error", "warn", "info", "debug", NULL};
