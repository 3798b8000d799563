/* SPDX-License-Identifier: MIT */
#pragma once

/* libcurl's multi interface driven by sd-event: curl tells which sockets to
 * watch and when to wake it (SOCKETFUNCTION, TIMERFUNCTION); the loop tells
 * curl what happened (curl_multi_socket_action). Nothing here ever blocks
 * and no thread is started; each finished transfer is handed to `done`. */

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct CurlEvent CurlEvent;

/* Called from the loop when a transfer ends; it may remove, reconfigure and
 * add the easy handle again. */
typedef void (*CurlEventDone)(CurlEvent *g, CURL *easy, CURLcode result, void *userdata);

int curl_event_new(sd_event *e, int64_t priority, CurlEventDone done, void *userdata, CurlEvent **ret);
CurlEvent *curl_event_free(CurlEvent *g);
DEFINE_POINTER_CLEANUP(CurlEvent, curl_event_free);

int curl_event_add(CurlEvent *g, CURL *easy);
void curl_event_remove(CurlEvent *g, CURL *easy);
