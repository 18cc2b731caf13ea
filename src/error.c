/* error.c - the library's version and the text of its statuses.
 *
 * weft reports failures as negative errno values; this file turns them
 * into text, naming the meanings weft gives some of them (WEFT_DONE,
 * -ECANCELED, -ETIMEDOUT) in its own words, and its own codes beyond
 * errno's range (WEFT_EINCOMPLETE ... WEFT_EGROUPDONE). A misuse code's
 * text says what happened and then, after a colon, what to do instead:
 * it is often the only thing a newcomer reads about the mistake.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

#define WEFT_STR2(x) #x
#define WEFT_STR(x) WEFT_STR2(x)

const char *weft_version(void)
{
    return WEFT_STR(WEFT_VERSION_MAJOR) "." WEFT_STR(WEFT_VERSION_MINOR) "." WEFT_STR(
        WEFT_VERSION_PATCH);
}

const char *weft_strerror(int status)
{
    if (status == 0)
        return "success";
    if (status == WEFT_DONE)
        return "finished (coroutine returned or generator exhausted)";
    if (status == INT_MIN)
        return "unknown error";
    int e = status < 0 ? -status : status;
    switch (e) {
    case ECANCELED:
        return "operation cancelled (the task was cancelled)";
    case ETIMEDOUT:
        return "timed out (a deadline passed)";
    case WEFT_EINCOMPLETE:
        return "incomplete (the stream ended before the bytes asked for)";
    case WEFT_ENOTFOUND:
        return "no such host or service";
    case WEFT_ECERT:
        return "certificate verification failed (the TLS peer's certificate)";
    case WEFT_ENOTASK:
        return "not called from a task: call it from a task's function (weft_run's main, or "
               "one started with weft_spawn)";
    case WEFT_ENOLOOP:
        return "no weft loop runs on this thread: call it inside weft_run";
    case WEFT_EGROUPLIVE:
        return "the group still has running children: call weft_group_wait before "
               "weft_group_destroy";
    case WEFT_ETHREAD:
        return "started on another thread: a coroutine is resumed only on the thread it "
               "first ran on";
    case WEFT_ENOTOWNER:
        return "the calling task does not hold this lock: acquire it first (only its holder "
               "may release it, or wait on or notify a condition over it)";
    case WEFT_EGROUPDONE:
        return "the task group's wait has returned, so it takes no more children: spawn them "
               "into a new group (weft_group_create)";
    case WEFT_ENOTCORO:
        return "not called from a coroutine: weft_coro_yield works only in the function of a "
               "coroutine (weft_coro_create), weft_gen_yield in a generator's (weft_gen_create)";
    default:
        break;
    }
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}
