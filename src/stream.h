/* stream.h - what other parts of weft (net.c) need from stream.c beyond
 * the public API: opening a stream over an fd whose kind and flags are
 * already known, without the system calls that find them out.
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include "weft.h"

enum {
    WEFT__STREAM_SOCK = 1u,     /* the fd is a socket (send with MSG_NOSIGNAL) */
    WEFT__STREAM_PREPARED = 2u, /* already O_NONBLOCK and FD_CLOEXEC, kind given by
                                 * WEFT__STREAM_SOCK: no fcntl, no fstat */
};

/* weft_stream_open with flags (WEFT__STREAM_*); the same contract: the
 * stream owns fd, also on failure. For accept4(SOCK_NONBLOCK |
 * SOCK_CLOEXEC) and connected sockets: pass WEFT__STREAM_SOCK |
 * WEFT__STREAM_PREPARED. */
int weft__stream_open(weft_stream_t **s, int fd, const weft_stream_opts_t *opts, unsigned flags);

#endif
