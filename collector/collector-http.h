/* SPDX-License-Identifier: MIT */
#pragma once

/* The HTTPS side of mamori-collectord: libmicrohttpd with its own thread
 * pool, TLS from the configured files, the client certificate verified on
 * every connection through its gnutls session (never MHD's client-cert
 * helper), the routing of POST /v1/events and GET /v1/export, and the
 * answers of DESIGN-12. Each worker thread has its own Store. A maintenance
 * thread cuts connections that outlive connection_timeout_sec (slowloris),
 * runs store_sweep() every sweep_interval_sec and store_retention() once a
 * day at retention.hour. */

#include "collector-config.h"

typedef struct CollectorServer CollectorServer;

/* Starts listening with cfg (a reference is taken). 0 or a negative errno (logged). */
int collector_server_start(CollectorConfig *cfg, CollectorServer **ret);
/* A reloaded configuration: requests that start from now on use it. */
void collector_server_set_config(CollectorServer *s, CollectorConfig *cfg);
CollectorConfig *collector_server_get_config(CollectorServer *s);
/* Stops listening, finishes what is in flight, frees everything. */
CollectorServer *collector_server_stop(CollectorServer *s);
