/* curl_fetch.c - fetches many URLs at once with libcurl, driven by weft.
 *
 * Shows how to drive a non-blocking C library that owns its sockets:
 * libcurl's multi-socket interface tells us which fds it wants watched
 * (CURLMOPT_SOCKETFUNCTION) and when it wants a timeout
 * (CURLMOPT_TIMERFUNCTION); we tell it what became ready
 * (curl_multi_socket_action). weft supplies the waiting:
 *
 *   - one task per socket curl watches: weft_fd_wait(fd, events), then
 *     curl_multi_socket_action for that fd. When curl changes its mind
 *     about a socket whose task is waiting, weft_fd_forget(fd) wakes the
 *     task (-EBADF) and it waits again with the new events;
 *   - curl's timer is a weft_call_later callback;
 *   - curl closes a socket through CURLOPT_CLOSESOCKETFUNCTION, which
 *     calls weft_fd_forget(fd) first, as weft asks of every owner;
 *   - a weft_event says "every transfer is done" to the main task.
 *
 * Everything runs on the loop's one thread, so curl is never entered
 * from two places at once.
 *
 *   ./http_hello 8080 &
 *   ./curl_fetch http://127.0.0.1:8080/a http://127.0.0.1:8080/b
 *
 * Prints one line per URL, in the order given: "STATUS SIZE URL" (the HTTP
 * status, the body's size in bytes; "0 0 URL" when the transfer failed,
 * with curl's message on stderr). Exits 1 if any transfer failed or got
 * an HTTP status of 400 or more, 2 on bad usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <weft.h>

typedef struct fetch {
    const char *url;
    CURL *easy;
    size_t size;
    long status;
    CURLcode rc;
    char err[CURL_ERROR_SIZE];
} fetch_t;

typedef struct app {
    CURLM *multi;
    weft_group_t *watchers; /* the per-socket tasks */
    weft_handle_t *timer;   /* curl's timeout, when it asked for one */
    weft_event_t *done;     /* set when no transfer is left */
    int left;
    bool closing; /* the multi handle is going away: watchers leave */
} app_t;

/* One socket curl asked us to watch; owned by its watcher task. */
typedef struct watch {
    app_t *app;
    curl_socket_t fd;
    int events;       /* what curl wants now; 0 once it said REMOVE */
    unsigned gen;     /* bumped on every change of events */
    bool waiting;     /* the task is parked in weft_fd_wait */
} watch_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    fetch_t *f = userp;
    f->size += size * nmemb;
    return size * nmemb;
}

/* Collects finished transfers. */
static void check_done(app_t *a)
{
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(a->multi, &queued))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        fetch_t *f = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&f);
        f->rc = rc;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &f->status);
        curl_multi_remove_handle(a->multi, e);
        curl_easy_cleanup(e);
        f->easy = NULL;
        if (--a->left == 0)
            weft_event_set(a->done);
    }
}

/* Tells curl what happened on fd (or that its timeout came). */
static void drive(app_t *a, curl_socket_t fd, int flags)
{
    int running;
    curl_multi_socket_action(a->multi, fd, flags, &running);
    check_done(a);
}

/* The task for one socket: wait for what curl wants, tell curl. */
static int watcher(void *arg, void **result)
{
    (void)result;
    watch_t *w = arg;
    app_t *a = w->app;
    while (w->events && !a->closing) {
        unsigned gen = w->gen;
        w->waiting = true;
        int rc = weft_fd_wait(w->fd, w->events, WEFT_FOREVER);
        w->waiting = false;
        if (a->closing || rc == -ECANCELED)
            break;
        if (rc == -EBADF) {
            if (w->gen != gen)
                continue; /* curl changed its mind (or removed it): look again */
            break;        /* curl closed it (on_close): nothing left to watch */
        }
        int flags = rc < 0 ? CURL_CSELECT_ERR
                           : ((rc & WEFT_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((rc & WEFT_WRITABLE) ? CURL_CSELECT_OUT : 0);
        drive(a, w->fd, flags);
        if (rc < 0)
            break; /* the wait itself failed: curl was told, do not spin */
    }
    free(w);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: curl wants fd watched for `what`, or no more. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    app_t *a = userp;
    watch_t *w = socketp;
    int events = what == CURL_POLL_IN      ? WEFT_READABLE
                 : what == CURL_POLL_OUT   ? WEFT_WRITABLE
                 : what == CURL_POLL_INOUT ? WEFT_READABLE | WEFT_WRITABLE
                                           : 0;
    if (!w) {
        if (!events)
            return 0;
        w = calloc(1, sizeof *w);
        if (!w)
            return -1;
        w->app = a;
        w->fd = fd;
        w->events = events;
        if (weft_group_spawn(a->watchers, NULL, watcher, w, NULL) < 0) {
            free(w);
            return -1;
        }
        curl_multi_assign(a->multi, fd, w);
        return 0;
    }
    if (w->events == events)
        return 0;
    w->events = events;
    w->gen++;
    if (!events)
        curl_multi_assign(a->multi, fd, NULL); /* the task frees w */
    if (w->waiting)
        weft_fd_forget(fd); /* wakes the task to look at w again */
    return 0;
}

static void on_timeout(void *arg)
{
    app_t *a = arg;
    weft_handle_release(a->timer);
    a->timer = NULL;
    drive(a, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: call curl back in timeout_ms (-1: never). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    app_t *a = userp;
    if (a->timer) {
        weft_handle_cancel(a->timer);
        a->timer = NULL;
    }
    if (timeout_ms >= 0 && weft_call_later(&a->timer, WEFT_MSEC(timeout_ms), on_timeout, a) < 0)
        return -1;
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: weft forgets an fd before it is closed. */
static int on_close(void *clientp, curl_socket_t fd)
{
    (void)clientp;
    weft_fd_forget(fd);
    return close(fd);
}

typedef struct job {
    fetch_t *f;
    int n;
} job_t;

static int fetch_all(void *arg, void **result)
{
    (void)result;
    job_t *j = arg;
    /* on the heap: curl's callbacks and the watcher tasks use it while
     * this task is suspended (a copy-stack task's locals are not where
     * they were then) */
    app_t *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    int rc = -ENOMEM;
    a->multi = curl_multi_init();
    if (!a->multi) {
        free(a);
        return -ENOMEM;
    }
    if ((rc = weft_group_create(&a->watchers)) < 0)
        goto out_multi;
    if ((rc = weft_event_create(&a->done)) < 0)
        goto out_group;
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);

    for (int i = 0; i < j->n; i++) {
        fetch_t *f = &j->f[i];
        CURL *e = curl_easy_init();
        if (!e) {
            f->rc = CURLE_OUT_OF_MEMORY;
            continue;
        }
        f->easy = e;
        curl_easy_setopt(e, CURLOPT_URL, f->url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(e, CURLOPT_PRIVATE, f);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->err);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
        if (curl_multi_add_handle(a->multi, e) != CURLM_OK) {
            curl_easy_cleanup(e);
            f->easy = NULL;
            f->rc = CURLE_FAILED_INIT;
            continue;
        }
        a->left++;
    }
    /* adding the handles asked for a timeout of 0: the loop starts them */
    rc = a->left ? weft_event_wait(a->done) : 0;

    /* Done (or cancelled): stop curl, then the watchers. Nothing else runs
     * until this task suspends, so curl sees no call from a watcher while
     * it is torn down; the watchers find `closing` when they next run. */
    a->closing = true;
    for (int i = 0; i < j->n; i++)
        if (j->f[i].easy) {
            curl_multi_remove_handle(a->multi, j->f[i].easy);
            curl_easy_cleanup(j->f[i].easy);
            j->f[i].easy = NULL;
            j->f[i].rc = CURLE_ABORTED_BY_CALLBACK;
        }
    if (a->timer) {
        weft_handle_cancel(a->timer);
        a->timer = NULL;
    }
    weft_event_destroy(a->done);
out_group:
    curl_multi_cleanup(a->multi); /* closes cached connections: on_close */
    a->multi = NULL;
    if (a->timer) {
        weft_handle_cancel(a->timer);
        a->timer = NULL;
    }
    weft_group_cancel(a->watchers);
    weft_uncancel(); /* wait for the watchers even if we were cancelled */
    weft_group_wait(a->watchers);
    weft_group_destroy(a->watchers);
    free(a);
    return rc;
out_multi:
    curl_multi_cleanup(a->multi);
    free(a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL...\n", argv[0]);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_fetch: curl_global_init failed\n");
        return 1;
    }
    job_t j = {.n = argc - 1, .f = calloc((size_t)(argc - 1), sizeof(fetch_t))};
    if (!j.f) {
        fprintf(stderr, "curl_fetch: out of memory\n");
        return 1;
    }
    for (int i = 0; i < j.n; i++)
        j.f[i].url = argv[i + 1];
    int rc = weft_run(fetch_all, &j, NULL);
    int failed = 0;
    for (int i = 0; i < j.n; i++) {
        fetch_t *f = &j.f[i];
        if (rc == 0 && f->rc == CURLE_OK) {
            printf("%ld %zu %s\n", f->status, f->size, f->url);
            failed += f->status >= 400;
        } else {
            printf("0 0 %s\n", f->url);
            fprintf(stderr, "curl_fetch: %s: %s\n", f->url,
                    f->err[0] ? f->err : curl_easy_strerror(f->rc));
            failed++;
        }
    }
    if (rc < 0)
        fprintf(stderr, "curl_fetch: %s\n", weft_strerror(rc));
    free(j.f);
    curl_global_cleanup();
    return failed || rc < 0 ? 1 : 0;
}
