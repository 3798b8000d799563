/* SPDX-License-Identifier: MIT */
/* Any engine, by configuration: the pattern date is either a file's mtime
 * (antivirus.pattern_file) or what a command prints (antivirus.command, e.g.
 * `mdatp health --field definitions_updated`). The command runs without a
 * shell, with a small fixed environment, its output read through a pipe and
 * its exit seen through a child event source, under a timeout: the loop never
 * waits for it. It runs at start, when the monitor's timer says the state
 * may have changed, when antivirus.database_dir changes (if set), and, while
 * the pattern is not current, once an hour (no signal tells of a recovery). */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "av-date.h"
#include "av.h"
#include "dirwatch.h"
#include "log.h"
#include "text.h"
#include "trusted-file.h"

#define GENERIC_SETTLE (1 * USEC_PER_SEC)
#define GENERIC_RECHECK (3600 * USEC_PER_SEC)
#define GENERIC_OUTPUT_MAX 4096

typedef struct Run {
        pid_t pid;
        sd_event_source *child, *out, *timeout;
        int out_fd, err_fd; /* stdout of the command; the exec error pipe */
        char buf[GENERIC_OUTPUT_MAX];
        size_t len;
        bool overflow, timed_out, exited;
        siginfo_t status;
} Run;

typedef struct Generic {
        AvSource *source;
        DirWatch *watch;
        Run *run;
        bool again;               /* asked while a run was under way */
        sd_event_source *recheck; /* while not current */
} Generic;

static char *av_generic_clean(const char *s, size_t n) {
        return text_sanitize(s, n, 512, NULL);
}

/* ---- pattern_file ---- */

static int av_generic_file_read(AvSource *s) {
        const char *path = s->policy->pattern_file;
        AvReading r = { 0 };
        struct stat st;

        r.file = av_generic_clean(path, strlen(path));
        if (stat(path, &st) < 0) {
                int e = errno;
                r.reason = strdup(e == ENOENT ? "no_pattern_file" : "unreadable");
                r.detail = av_generic_clean(strerror(e), strlen(strerror(e)));
        } else {
                r.found = true;
                r.built_at = (usec_t) st.st_mtim.tv_sec * USEC_PER_SEC + (usec_t) st.st_mtim.tv_nsec / NSEC_PER_USEC;
        }
        av_source_report(s, &r);
        av_reading_done(&r);
        return 0;
}

/* ---- command ---- */

static void av_generic_run_free(Run *run) {
        if (!run)
                return;
        if (run->pid > 0 && !run->exited) {
                /* Stopping while it runs: don't leave it behind. */
                (void) sd_event_source_send_child_signal(run->child, SIGKILL, NULL, 0);
                (void) waitid(P_PID, (id_t) run->pid, &run->status, WEXITED);
        }
        sd_event_source_disable_unref(run->child);
        sd_event_source_disable_unref(run->out);
        sd_event_source_disable_unref(run->timeout);
        if (run->out_fd >= 0)
                close(run->out_fd);
        if (run->err_fd >= 0)
                close(run->err_fd);
        free(run);
}

static int av_generic_command_start(Generic *g);

static void av_generic_drain(Run *run) {
        for (;;) {
                char tmp[512];
                ssize_t l = read(run->out_fd, tmp, sizeof tmp);
                if (l < 0 && errno == EINTR)
                        continue;
                if (l <= 0)
                        return; /* EOF, EAGAIN (a grandchild holds the pipe) or an error */
                if (run->len + (size_t) l > sizeof run->buf) {
                        run->overflow = true;
                        l = (ssize_t) (sizeof run->buf - run->len);
                }
                memcpy(run->buf + run->len, tmp, (size_t) l);
                run->len += (size_t) l;
        }
}

static void av_generic_command_finish(Generic *g) {
        AvSource *s = g->source;
        Run *run = TAKE_PTR(g->run);
        const AvPolicy *p = s->policy;
        AvReading r = { 0 };
        int exec_errno = 0;
        char detail[600];
        usec_t t;

        av_generic_drain(run);
        if (read(run->err_fd, &exec_errno, sizeof exec_errno) != sizeof exec_errno)
                exec_errno = 0;
        r.file = av_generic_clean(p->command[0], strlen(p->command[0]));

        if (exec_errno) {
                r.reason = strdup(exec_errno == ENOENT ? "command_not_found" : "command_failed");
                snprintf(detail, sizeof detail, "cannot run %s: %s", p->command[0], strerror(exec_errno));
        } else if (run->timed_out) {
                r.reason = strdup("command_timeout");
                snprintf(detail, sizeof detail, "%s did not finish within %llu s", p->command[0],
                         (unsigned long long) (p->command_timeout / USEC_PER_SEC));
        } else if (run->status.si_code != CLD_EXITED || run->status.si_status != 0) {
                r.reason = strdup("command_failed");
                if (run->status.si_code == CLD_EXITED)
                        snprintf(detail, sizeof detail, "%s exited with status %d", p->command[0], run->status.si_status);
                else
                        snprintf(detail, sizeof detail, "%s was killed by signal %d", p->command[0],
                                 run->status.si_status);
        } else if (run->overflow ||
                   av_date_parse(run->buf, run->len, p->command_output, now_usec(CLOCK_REALTIME), &t) < 0) {
                _cleanup_free_ char *out = av_generic_clean(run->buf, MIN(run->len, (size_t) 200));
                r.reason = strdup("unparseable_output");
                snprintf(detail, sizeof detail, "%s printed no %s: \"%s\"", p->command[0],
                         p->command_output == AV_OUTPUT_MINUTES_AGO ? "number of minutes"
                         : p->command_output == AV_OUTPUT_EPOCH     ? "epoch seconds"
                                                                    : "date",
                         strempty(out));
        } else {
                r.found = true;
                r.built_at = t;
        }
        if (!r.found)
                r.detail = av_generic_clean(detail, strlen(detail));
        av_generic_run_free(run);

        av_source_report(s, &r);
        av_reading_done(&r);

        /* No signal tells of a recovery: while not current, look once an hour. */
        if (av_source_state(s) != AV_STATE_OK && av_source_state(s) != AV_STATE_UNKNOWN) {
                usec_t when = now_usec(CLOCK_MONOTONIC) + GENERIC_RECHECK;
                if (g->recheck) {
                        (void) sd_event_source_set_time(g->recheck, when);
                        (void) sd_event_source_set_enabled(g->recheck, SD_EVENT_ONESHOT);
                }
        } else if (g->recheck)
                (void) sd_event_source_set_enabled(g->recheck, SD_EVENT_OFF);

        if (g->again) {
                g->again = false;
                (void) av_generic_command_start(g);
        }
}

static int av_generic_on_child(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Generic *g = userdata;
        g->run->status = *si;
        g->run->exited = true;
        av_generic_command_finish(g);
        return 0;
}

static int av_generic_on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Generic *g = userdata;
        av_generic_drain(g->run);
        if (revents & (EPOLLHUP | EPOLLERR))
                (void) sd_event_source_set_enabled(src, SD_EVENT_OFF);
        return 0;
}

static int av_generic_on_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        Generic *g = userdata;
        log_warning("%s did not finish within %llu s: killing it.", g->source->policy->command[0],
                    (unsigned long long) (g->source->policy->command_timeout / USEC_PER_SEC));
        g->run->timed_out = true;
        (void) sd_event_source_send_child_signal(g->run->child, SIGKILL, NULL, 0);
        return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void child_exec(char *const *argv, int out_fd, int err_fd) {
        static char *const envp[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                      (char *) "LC_ALL=C", NULL };
        sigset_t none;
        int null_fd, e;

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDERR_FILENO) < 0 ||
            dup2(out_fd, STDOUT_FILENO) < 0)
                goto fail;
        /* Only stdin/out/err and the error pipe (closed by exec) stay open. */
        if (err_fd != 3 && (dup3(err_fd, 3, O_CLOEXEC) < 0))
                goto fail;
        (void) close_range(4, ~0U, 0);
        execve(argv[0], argv, envp);
fail:
        e = errno ? errno : EIO;
        (void) !write(3, &e, sizeof e);
        _exit(127);
}

static int av_generic_command_start(Generic *g) {
        AvSource *s = g->source;
        const AvPolicy *p = s->policy;
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF;
        _cleanup_free_ char *why = NULL;
        Run *run;
        int fds[2], r;
        pid_t pid;

        if (g->run) {
                g->again = true;
                return 0;
        }
        /* Checked at load too; checked again here, since it may have been
         * replaced since (an engine installed or updated later). */
        r = trust_check_executable(p->command[0], &why);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0 && why) {
                AvReading reading = { 0 };
                reading.file = av_generic_clean(p->command[0], strlen(p->command[0]));
                reading.reason = strdup("command_untrusted");
                reading.detail = av_generic_clean(why, strlen(why));
                log_error("Not running %s as root: %s", p->command[0], why);
                av_source_report(s, &reading);
                av_reading_done(&reading);
                return 0;
        }
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Cannot make a pipe for %s: %m", p->command[0]);
        out_r = fds[0];
        out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Cannot make a pipe for %s: %m", p->command[0]);
        err_r = fds[0];
        err_w = fds[1];
        /* The write end is blocking for the child. */
        (void) fcntl(out_w, F_SETFL, 0);

        run = calloc(1, sizeof *run);
        if (!run)
                return log_oom();
        run->out_fd = run->err_fd = -EBADF;

        pid = fork();
        if (pid < 0) {
                free(run);
                return log_error_errno(errno, "Cannot start %s: %m", p->command[0]);
        }
        if (pid == 0)
                child_exec(p->command, out_w, err_w);

        run->pid = pid;
        run->out_fd = TAKE_FD(out_r);
        run->err_fd = TAKE_FD(err_r);
        g->run = run;
        r = sd_event_add_child(s->event, &run->child, pid, WEXITED, av_generic_on_child, g);
        if (r >= 0)
                r = sd_event_add_io(s->event, &run->out, run->out_fd, EPOLLIN, av_generic_on_output, g);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &run->timeout, CLOCK_MONOTONIC, p->command_timeout,
                                               100 * USEC_PER_MSEC, av_generic_on_timeout, g);
        if (r < 0) {
                log_error_errno(r, "Cannot watch %s (pid %d): %m", p->command[0], (int) pid);
                (void) kill(pid, SIGKILL);
                (void) waitid(P_PID, (id_t) pid, &run->status, WEXITED);
                run->exited = true;
                g->run = NULL;
                av_generic_run_free(run);
                return r;
        }
        log_debug("Running %s (pid %d) for the pattern date.", p->command[0], (int) pid);
        return 0;
}

/* ---- the source ---- */

static int av_generic_refresh(AvSource *s) {
        Generic *g = s->data;
        if (s->policy->pattern_file)
                return av_generic_file_read(s);
        return av_generic_command_start(g);
}

static void av_generic_on_dir_changed(DirWatch *w, void *userdata) {
        (void) av_generic_refresh(userdata);
}

static int av_generic_on_recheck(sd_event_source *src, uint64_t usec, void *userdata) {
        Generic *g = userdata;
        (void) av_generic_command_start(g);
        return 0;
}

static int av_generic_start(AvSource *s) {
        Generic *g = calloc(1, sizeof *g);
        int r;

        if (!g)
                return -ENOMEM;
        g->source = s;
        s->data = g;
        if (s->policy->pattern_file) {
                _cleanup_free_ char *dir = strdup(s->policy->pattern_file), *base = strdup(s->policy->pattern_file);
                if (!dir || !base)
                        return -ENOMEM;
                const char *names[] = { basename(base), NULL };
                r = dirwatch_new(s->event, dirname(dir), names, GENERIC_SETTLE, av_generic_on_dir_changed, s, &g->watch);
                if (r < 0)
                        log_warning_errno(r, "Cannot watch %s: %m", s->policy->pattern_file);
                return av_generic_file_read(s);
        }
        if (s->policy->database_dir) {
                r = dirwatch_new(s->event, s->policy->database_dir, NULL, GENERIC_SETTLE, av_generic_on_dir_changed, s,
                                 &g->watch);
                if (r < 0)
                        log_warning_errno(r, "Cannot watch %s: %m", s->policy->database_dir);
        }
        r = sd_event_add_time(s->event, &g->recheck, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_SEC,
                              av_generic_on_recheck, g);
        if (r >= 0)
                r = sd_event_source_set_enabled(g->recheck, SD_EVENT_OFF);
        if (r < 0)
                return r;
        return av_generic_command_start(g);
}

static void av_generic_stop(AvSource *s) {
        Generic *g = s->data;
        if (!g)
                return;
        dirwatch_free(g->watch);
        av_generic_run_free(g->run);
        sd_event_source_disable_unref(g->recheck);
        free(g);
        s->data = NULL;
}

const AvSourceOps av_generic_ops = {
        .engine = "generic",
        .start = av_generic_start,
        .refresh = av_generic_refresh,
        .stop = av_generic_stop,
};
