/* SPDX-License-Identifier: MIT */
#pragma once

/* What the configuration takes from libcurl and libcrypto, in one place:
 * collector.url and collector.proxy checked as URLs, and the policy's
 * SHA-256. Nothing else of common/config*.c links either library. */

#include "config-parse.h"

/* Each reports on the key's line and returns 0, -EINVAL, or -ENOMEM. */
int config_check_url(ConfigContext *c, const config_setting_t *group, const char *url);
/* The one proxy mamorid uses: http://host:port (or https://), a CONNECT
 * tunnel that TLS to the collector goes through end to end. The proxy
 * variables of the environment are never used (agent/report/uplink.c). */
int config_check_proxy(ConfigContext *c, const config_setting_t *group, const char *proxy);

/* The policy hash: SHA-256 over each file's path, NUL, text, NUL, as 64 hex
 * digits and a NUL. Returns 0, -ENOMEM or -EIO. */
int config_hash_sources(const ConfigSource *srcs, size_t n, char ret[static 65]);
