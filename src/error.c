/* error.c - the library's version and the text of its statuses.
 *
 * weft reports failures as negative errno values; this file turns them
 * into text, naming the meanings weft gives some of them (WEFT_DONE,
 * -ECANCELED, -ETIMEDOUT) in its own words, and its own codes beyond
 * errno's range (WEFT_EINCOMPLETE, WEFT_ENOTFOUND).
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
    default:
        break;
    }
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}
