/* SPDX-License-Identifier: MIT */
#pragma once

/* collector.url and collector.proxy checked as URLs (url.c), and the
 * policy's SHA-256 (sha256.c): without libcurl and libcrypto, so that
 * mamorictl and the root daemon link neither for the configuration. */

#include "config-parse.h"

/* Each reports on the key's line and returns 0, -EINVAL, or -ENOMEM. */
int config_check_url(ConfigContext *c, const config_setting_t *group, const char *url);
/* The one proxy mamorid uses: http://host:port (or https://), a CONNECT
 * tunnel that TLS to the collector goes through end to end. The proxy
 * variables of the environment are never used (agent/report/uplink.c). */
int config_check_proxy(ConfigContext *c, const config_setting_t *group, const char *proxy);

/* The policy hash: SHA-256 over each file's path, NUL, text, NUL, as 64 hex
 * digits and a NUL. Returns 0. */
int config_hash_sources(const ConfigSource *srcs, size_t n, char ret[static 65]);
