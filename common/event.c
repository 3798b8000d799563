/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include <systemd/sd-id128.h>

#include "event.h"
#include "string-table.h"
#include "text.h"

static const EventKindInfo kinds[_EVENT_KIND_MAX] = {
        [EVENT_USB_BLOCKED] = { "usb.blocked", "7cc7cfbe6c854a04bda98507c5f86cc2", EVENT_SEVERITY_HIGH, LOG_WARNING },
        [EVENT_USB_ALLOWED] = { "usb.allowed", "bef1852e9ff14dcdb1112d6a8b06d086", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_AGENT_STARTED] = { "agent.started", "bbcda12104d94258b7a3bbf5fca93566", EVENT_SEVERITY_INFO, LOG_NOTICE },
        [EVENT_AGENT_STOPPING] = { "agent.stopping", "0f32abbcb6b841c78509ec5edf27e953", EVENT_SEVERITY_MEDIUM,
                                   LOG_NOTICE },
        [EVENT_AGENT_CONFIG_CHANGED] = { "agent.config_changed", "4782f4955a27498bbfcb35f1f9d1ee6f",
                                         EVENT_SEVERITY_MEDIUM, LOG_NOTICE },
        [EVENT_AGENT_CONFIG_ERROR] = { "agent.config_error", "9e2f8641a95e4f7bb7e6a639b5ac36dd", EVENT_SEVERITY_HIGH,
                                       LOG_ERR },
        [EVENT_AGENT_HEARTBEAT] = { "agent.heartbeat", "456105b0ef7149ba98d429976d4cb152", EVENT_SEVERITY_INFO,
                                    LOG_DEBUG },
        [EVENT_AGENT_EVENTS_DROPPED] = { "agent.events_dropped", "8dec71b6883b40fbbde67e0d332607f8",
                                         EVENT_SEVERITY_HIGH, LOG_ERR },
        [EVENT_AGENT_TEST] = { "agent.test", "3710c249ee9b4d8ab92e5e36ee2ebed8", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_LOCK_ENFORCED] = { "lock.enforced", "6de31c9e15ee483a87b22f83ce560434", EVENT_SEVERITY_LOW, LOG_INFO },
        [EVENT_LOCK_FAILED] = { "lock.failed", "da88b654b200489eb3b5b5fa8b98b822", EVENT_SEVERITY_HIGH, LOG_WARNING },
        [EVENT_LOCK_IDLE_SESSION] = { "lock.idle_session", "977788916e4b44ecaa4f59d196af2dd7", EVENT_SEVERITY_MEDIUM,
                                      LOG_NOTICE },
        [EVENT_LOCK_SESSION_TERMINATED] = { "lock.session_terminated", "03272429bd474bcd861ae406f3fc2e49",
                                            EVENT_SEVERITY_MEDIUM, LOG_NOTICE },
        [EVENT_AV_PATTERN_STALE] = { "av.pattern_stale", "758ae50940634edb93d1303be7fa17ae", EVENT_SEVERITY_HIGH,
                                     LOG_WARNING },
        [EVENT_AV_PATTERN_OK] = { "av.pattern_ok", "3b2dd6dbd3854022aec964f6dd8c3ab1", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_AV_MISSING] = { "av.missing", "88cb9d789c7f457ab9056b4aab1ebf72", EVENT_SEVERITY_HIGH, LOG_WARNING },
        [EVENT_AV_ENGINE_INACTIVE] = { "av.engine_inactive", "c6bbef6065de46fe9c586d851379f73e", EVENT_SEVERITY_HIGH,
                                       LOG_WARNING },
        [EVENT_AGENT_SPOOL_CORRUPT] = { "agent.spool_corrupt", "61d8a6251a544b9ea72b3b538e251e85", EVENT_SEVERITY_HIGH,
                                        LOG_ERR },
        [EVENT_USB_BLOCK_FAILED] = { "usb.block_failed", "206694df6d8a458b83aeb2ede7f7b73d", EVENT_SEVERITY_CRITICAL,
                                     LOG_ERR },
        [EVENT_USB_EXPIRING] = { "usb.expiring", "5d0e4b7f2a8c4e61b9a3f07c6d21e854", EVENT_SEVERITY_INFO, LOG_NOTICE },
        [EVENT_AGENT_DELIVERY_REFUSED] = { "agent.delivery_refused", "1cf62dea82eb4dc2b49d5aeb06a0fa61",
                                           EVENT_SEVERITY_HIGH, LOG_ERR },
        [EVENT_AGENT_DELIVERY_RESUMED] = { "agent.delivery_resumed", "bed22309a78245a79ab1d149f4da45c3",
                                           EVENT_SEVERITY_INFO, LOG_NOTICE },
        [EVENT_AGENT_POSTURE] = { "agent.posture", "c3e1f0a9b8d74e2c9f51a6d08b3e7c42", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_DEVICE_BLOCKED] = { "device.blocked", "9c8104371b3747eea1a09de8a4f87dc2", EVENT_SEVERITY_HIGH,
                                   LOG_WARNING },
        [EVENT_DEVICE_ALLOWED] = { "device.allowed", "71aa40dde130487a988bed6ccae59588", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_DEVICE_BLOCK_FAILED] = { "device.block_failed", "59fbd25a0a2c4be5935ffdc560fab838",
                                        EVENT_SEVERITY_CRITICAL, LOG_ERR },
        [EVENT_USB_READONLY_VIOLATED] = { "usb.readonly_violated", "59f254cde80c474c8acd80882788ac1c",
                                          EVENT_SEVERITY_HIGH, LOG_ERR },
        [EVENT_NET_QUARANTINED] = { "net.quarantined", "62f11b36aa19492da247969507152b5b", EVENT_SEVERITY_CRITICAL,
                                    LOG_CRIT },
        [EVENT_NET_QUARANTINE_RELEASED] = { "net.quarantine_released", "0244ec78765843158bb4680451a6c880",
                                            EVENT_SEVERITY_MEDIUM, LOG_NOTICE },
        [EVENT_NET_QUARANTINE_TAMPERED] = { "net.quarantine_tampered", "a83c8b1b11fa4e098fc43a75655cd8cc",
                                            EVENT_SEVERITY_HIGH, LOG_WARNING },
        [EVENT_AV_DETECTION] = { "av.detection", "3f965721ca614e6d88332f486366dcd5", EVENT_SEVERITY_CRITICAL, LOG_ERR },
        [EVENT_AV_REPORTS_DROPPED] = { "av.reports_dropped", "a3076f55f97544ee807e3a7c58cc1333", EVENT_SEVERITY_MEDIUM,
                                       LOG_WARNING },
        [EVENT_AV_FULL_SCAN_OVERDUE] = { "av.full_scan_overdue", "0a709070b08c413ba7acf835a5d84a75",
                                         EVENT_SEVERITY_HIGH, LOG_WARNING },
        [EVENT_AV_FULL_SCAN_OK] = { "av.full_scan_ok", "bfab89547dfe4c83bf04486d59d42e2b", EVENT_SEVERITY_INFO, LOG_INFO },
        [EVENT_MEDIA_SCANNED] = { "media.scanned", "6d1f4a2b9c7e4e0f8a3b5c2d1e9f7a64", EVENT_SEVERITY_INFO, LOG_INFO },
};

static const char *const event_severity_table[_EVENT_SEVERITY_MAX] = {
        [EVENT_SEVERITY_INFO] = "info", [EVENT_SEVERITY_LOW] = "low",           [EVENT_SEVERITY_MEDIUM] = "medium",
        [EVENT_SEVERITY_HIGH] = "high", [EVENT_SEVERITY_CRITICAL] = "critical",
};

const EventKindInfo *event_kind_info(EventKind k) {
        return (unsigned) k < _EVENT_KIND_MAX ? &kinds[k] : NULL;
}

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(event_severity, EventSeverity, "info");

int event_kind_from_string(const char *s) {
        for (unsigned i = 0; i < _EVENT_KIND_MAX; i++)
                if (s && streq(s, kinds[i].name))
                        return (int) i;
        return -EINVAL;
}

Event *event_new(EventKind kind) {
        Event *e;
        sd_id128_t id;

        if ((unsigned) kind >= _EVENT_KIND_MAX)
                return NULL;
        e = calloc(1, sizeof *e);
        if (!e)
                return NULL;
        e->kind = kind;
        e->severity = kinds[kind].severity;
        e->time = now_usec(CLOCK_REALTIME);
        /* sd_id128_randomize() makes a v4 UUID from the kernel's CSPRNG. */
        if (sd_id128_randomize(&id) < 0) {
                free(e);
                return NULL;
        }
        sd_id128_to_uuid_string(id, e->id);
        json_object_begin(&e->body);
        return e;
}

Event *event_free(Event *e) {
        if (!e)
                return NULL;
        free(e->policy_ref);
        free(e->message);
        json_writer_free(&e->body);
        free(e);
        return NULL;
}

int event_set_policy_ref(Event *e, const char *ref) {
        assert(e);

        return free_and_strdup(&e->policy_ref, ref);
}

int event_set_message(Event *e, const char *format, ...) {
        va_list ap;
        char *m;
        int r;

        assert(e);
        assert(format);

        va_start(ap, format);
        r = vasprintf(&m, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        /* Messages carry device strings, escaped already (text.h): keep them to
         * one clean line without escaping their escapes a second time. */
        free(e->message);
        e->message = text_sanitize_flags(m, (size_t) r, 2048, TEXT_KEEP_BACKSLASH, NULL);
        free(m);
        return e->message ? 0 : -ENOMEM;
}

int event_render(Event *e, const EventEnvelope *env, char **ret, size_t *ret_len) {
        JsonWriter w = JSON_WRITER_INIT;
        char ts[RFC3339_MAX];
        size_t body_len = 0;

        assert(e);
        assert(env);
        assert(ret);

        /* Close the body once; rendering twice (journal, then spool) reuses it. */
        if (e->body.depth == 1)
                json_object_end(&e->body);
        if (json_error(&e->body) < 0)
                return -ENOMEM;
        body_len = e->body.len;

        json_object_begin(&w);
        json_kv_string(&w, "id", e->id);
        json_kv_uint(&w, "seq", e->seq);
        json_kv_string(&w, "time", format_rfc3339(ts, e->time));
        json_kv_string(&w, "kind", kinds[e->kind].name);
        json_kv_string(&w, "severity", event_severity_to_string(e->severity));
        json_key(&w, "host");
        json_object_begin(&w);
        json_kv_string(&w, "name", env->host_name);
        json_kv_string(&w, "machine_id", env->machine_id);
        json_object_end(&w);
        json_key(&w, "agent");
        json_object_begin(&w);
        json_kv_string(&w, "name", "mamori");
        json_kv_string(&w, "version", env->agent_version);
        json_kv_string(&w, "policy_hash", env->policy_hash);
        json_object_end(&w);
        if (env->site_department || env->site_location) {
                json_key(&w, "site");
                json_object_begin(&w);
                json_kv_string(&w, "department", env->site_department);
                json_kv_string(&w, "location", env->site_location);
                json_object_end(&w);
        }
        if (e->policy_ref)
                json_kv_string(&w, "policy_ref", e->policy_ref);
        if (env->user_name || env->user_uid >= 0) {
                json_key(&w, "user");
                json_object_begin(&w);
                if (env->user_name)
                        json_kv_string(&w, "name", env->user_name);
                if (env->user_uid >= 0)
                        json_kv_int(&w, "uid", env->user_uid);
                if (env->session_id)
                        json_kv_string(&w, "session", env->session_id);
                json_object_end(&w);
        }
        if (e->message)
                json_kv_string(&w, "message", e->message);
        json_members_raw(&w, e->body.buf ? e->body.buf : "{}", e->body.buf ? body_len : 2);
        json_object_end(&w);

        *ret = json_steal(&w, ret_len);
        return *ret ? 0 : -ENOMEM;
}
