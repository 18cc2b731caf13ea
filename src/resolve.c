/* resolve.c - name resolution: getaddrinfo on the loop's thread pool.
 *
 * Owns: weft_getaddrinfo and the mapping of EAI_* codes to statuses.
 * The lookup is a detachable pool job: its record (hints and copies of
 * the host and service strings) is malloc'd, since a cancelled caller's
 * stack may be gone when a detached lookup runs, and the drop function
 * frees both the record and whatever list the lookup produced.
 */
#include "pool.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct lookup {
    struct addrinfo hints;
    char *host, *service; /* NULL, or point into name[] */
    char name[];
} lookup_t;

static int map_eai(int eai, int err)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
    case EAI_SERVICE:
        return -WEFT_ENOTFOUND;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -EAFNOSUPPORT;
    case EAI_SYSTEM:
        /* these two would read as a detached lookup to weft_getaddrinfo */
        if (err == ETIMEDOUT || err == ECANCELED)
            return -EAGAIN;
        return err > 0 ? -err : -EIO;
    case EAI_BADFLAGS:
    case EAI_SOCKTYPE:
        return -EINVAL;
    default: /* EAI_FAIL and the like: the resolver failed for good */
        return -EIO;
    }
}

/* Runs on a pool thread. */
static int lookup_run(void *arg, void **result)
{
    lookup_t *lk = arg;
    struct addrinfo *res = NULL;
    errno = 0;
    int eai = getaddrinfo(lk->host, lk->service, &lk->hints, &res);
    int rc = map_eai(eai, errno);
    if (rc < 0 && res) {
        freeaddrinfo(res);
        res = NULL;
    }
    *result = res;
    return rc;
}

static void lookup_drop(void *arg, void *result)
{
    if (result)
        freeaddrinfo(result);
    free(arg);
}

int weft_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                     struct addrinfo **res)
{
    if ((!host && !service) || !res)
        return -EINVAL;
    *res = NULL;
    if (!weft__task())
        return -WEFT_ENOTASK;
    size_t hl = host ? strlen(host) + 1 : 0, sl = service ? strlen(service) + 1 : 0;
    lookup_t *lk = malloc(sizeof *lk + hl + sl);
    if (!lk)
        return -ENOMEM;
    memset(&lk->hints, 0, sizeof lk->hints);
    if (hints) {
        /* only these four may be set in hints; the pointers must be NULL */
        lk->hints.ai_flags = hints->ai_flags;
        lk->hints.ai_family = hints->ai_family;
        lk->hints.ai_socktype = hints->ai_socktype;
        lk->hints.ai_protocol = hints->ai_protocol;
    } else {
        lk->hints.ai_family = AF_UNSPEC;
        lk->hints.ai_socktype = SOCK_STREAM;
        lk->hints.ai_flags = AI_ADDRCONFIG;
    }
    lk->host = host ? memcpy(lk->name, host, hl) : NULL;
    lk->service = service ? memcpy(lk->name + hl, service, sl) : NULL;
    void *list = NULL;
    int rc = weft__pool_run(lookup_run, lk, &list, true, lookup_drop);
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        return rc; /* detached: lookup_drop frees lk and the list */
    /* the lookup ran to its end, or never started (-ENOMEM, -EAGAIN):
     * lk is still ours */
    free(lk);
    if (rc == 0)
        *res = list;
    return rc;
}
