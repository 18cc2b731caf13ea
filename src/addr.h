/* addr.h - address helpers shared by net.c and udp.c. */
#ifndef WEFT_ADDR_H
#define WEFT_ADDR_H

#include "internal.h"

/* Fills *a with the Unix-domain address of path (relative paths too).
 * 0 or -EINVAL (too long, empty). */
int weft__addr_unix(weft_addr_t *a, const char *path);

/* The local (peer false) or peer address of socket fd. 0 or -errno. */
int weft__addr_of_fd(int fd, weft_addr_t *a, bool peer);

#endif
