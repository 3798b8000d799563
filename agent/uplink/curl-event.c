/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <sys/epoll.h>

#include "curl-event.h"
#include "log.h"

typedef struct Watch {
        curl_socket_t fd;
        sd_event_source *source;
} Watch;

struct CurlEvent {
        sd_event *event;
        int64_t priority;
        CURLM *multi;
        sd_event_source *timer;
        Watch *watches; /* the sockets curl asked us to watch */
        size_t n_watches;
        CurlEventDone done;
        void *userdata;
};

static void curl_event_check_finished(CurlEvent *g) {
        CURLMsg *msg;
        int left = 0;

        /* The handler may remove and re-add handles: read one message at a time. */
        while ((msg = curl_multi_info_read(g->multi, &left)))
                if (msg->msg == CURLMSG_DONE)
                        g->done(g, msg->easy_handle, msg->data.result, g->userdata);
}

static int curl_event_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlEvent *g = userdata;
        int action = 0, running = 0;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        if (curl_multi_socket_action(g->multi, fd, action, &running) != CURLM_OK)
                log_debug("curl could not process I/O on fd %d.", fd);
        curl_event_check_finished(g);
        return 0;
}

static int curl_event_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CurlEvent *g = userdata;
        int running = 0;

        if (curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("curl could not process its timeout.");
        curl_event_check_finished(g);
        return 0;
}

static void curl_event_watch_drop(CurlEvent *g, curl_socket_t fd) {
        for (size_t i = 0; i < g->n_watches; i++)
                if (g->watches[i].fd == fd) {
                        sd_event_source_disable_unref(g->watches[i].source);
                        g->watches[i] = g->watches[--g->n_watches];
                        return;
                }
}

static int curl_event_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlEvent *g = userp;
        sd_event_source *src = socketp;
        uint32_t events = 0;
        Watch *n;

        if (what == CURL_POLL_REMOVE) {
                if (src) {
                        curl_event_watch_drop(g, fd);
                        (void) curl_multi_assign(g->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (src) {
                /* Already watched: epoll refuses the same fd twice. */
                if (sd_event_source_set_io_events(src, events) < 0 || sd_event_source_set_enabled(src, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        n = reallocarray(g->watches, g->n_watches + 1, sizeof *n);
        if (!n)
                return -1;
        g->watches = n;
        if (sd_event_add_io(g->event, &src, fd, events, curl_event_on_io, g) < 0)
                return -1;
        (void) sd_event_source_set_priority(src, g->priority);
        (void) sd_event_source_set_description(src, "curl-io");
        g->watches[g->n_watches++] = (Watch){ fd, src };
        if (curl_multi_assign(g->multi, fd, src) != CURLM_OK) {
                curl_event_watch_drop(g, fd);
                return -1;
        }
        return 0;
}

static int curl_event_on_timer_change(CURLM *multi, long timeout_ms, void *userp) {
        CurlEvent *g = userp;
        uint64_t usec;

        if (timeout_ms < 0) {
                if (g->timer)
                        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
                return 0;
        }
        /* Never call back into curl from here: the timer fires from the loop. */
        usec = (uint64_t) timeout_ms * USEC_PER_MSEC;
        if (g->timer) {
                if (sd_event_source_set_time_relative(g->timer, usec) < 0 ||
                    sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
                        return -1;
                return 0;
        }
        /* accuracy 0 would mean sd-event's default of 250ms: curl asks for exact times */
        if (sd_event_add_time_relative(g->event, &g->timer, CLOCK_MONOTONIC, usec, 1, curl_event_on_timer, g) < 0)
                return -1;
        (void) sd_event_source_set_priority(g->timer, g->priority);
        (void) sd_event_source_set_description(g->timer, "curl-timer");
        return 0;
}

int curl_event_new(sd_event *e, int64_t priority, CurlEventDone done, void *userdata, CurlEvent **ret) {
        _cleanup_(curl_event_freep) CurlEvent *g = NULL;

        assert(e);
        assert(done);
        assert(ret);

        g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(e);
        g->priority = priority;
        g->done = done;
        g->userdata = userdata;
        g->multi = curl_multi_init();
        if (!g->multi)
                return -ENOMEM;
        if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, curl_event_on_socket) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, curl_event_on_timer_change) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK)
                return -EIO;
        *ret = TAKE_PTR(g);
        return 0;
}

CurlEvent *curl_event_free(CurlEvent *g) {
        if (!g)
                return NULL;
        if (g->multi)
                curl_multi_cleanup(g->multi);
        for (size_t i = 0; i < g->n_watches; i++)
                sd_event_source_disable_unref(g->watches[i].source);
        free(g->watches);
        sd_event_source_disable_unref(g->timer);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}

int curl_event_add(CurlEvent *g, CURL *easy) {
        assert(g);
        assert(easy);

        return curl_multi_add_handle(g->multi, easy) == CURLM_OK ? 0 : -EIO;
}

void curl_event_remove(CurlEvent *g, CURL *easy) {
        assert(g);
        assert(easy);

        (void) curl_multi_remove_handle(g->multi, easy);
}
