/* addr.c - socket addresses as values: parsing numeric hosts and paths,
 * formatting, the port.
 *
 * Owns: the mapping between text ("1.2.3.4", "::1", "[fe80::1%lo]",
 * "/run/x.sock", "@abstract") and weft_addr_t. Nothing here resolves a
 * name or suspends: weft_getaddrinfo (resolve.c) does names.
 *
 * Invariant: a weft_addr_t filled here has `len` exactly as the kernel
 * wants it for bind/connect: sizeof the sockaddr for IP, and for
 * Unix-domain addresses the path's bytes (with its NUL; an abstract name
 * has no NUL and its length is what tells where it ends).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* "fe80::1%eth0" or "fe80::1%2": the scope is a number or an interface. */
static int parse_scope(const char *s, uint32_t *scope)
{
    if (!*s)
        return -EINVAL;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end == '\0' && s[0] >= '0' && s[0] <= '9' && v <= UINT32_MAX) {
        *scope = (uint32_t)v;
        return 0;
    }
    unsigned idx = if_nametoindex(s);
    if (!idx)
        return -EINVAL;
    *scope = idx;
    return 0;
}

static int parse_ip6(weft_addr_t *a, const char *host, int port)
{
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
    size_t n = strlen(host);
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']')
            return -EINVAL;
        host++;
        n -= 2;
    }
    if (n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, host, n);
    buf[n] = '\0';
    uint32_t scope = 0;
    char *pct = strchr(buf, '%');
    if (pct) {
        *pct = '\0';
        if (parse_scope(pct + 1, &scope) < 0)
            return -EINVAL;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
    memset(s6, 0, sizeof *s6);
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
        return -EINVAL;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    s6->sin6_scope_id = scope;
    a->len = sizeof *s6;
    return 0;
}

/* Also net.c's, for relative paths (weft_unix_listen, weft_unix_connect). */
int weft__addr_unix(weft_addr_t *a, const char *path)
{
    struct sockaddr_un *su = (struct sockaddr_un *)&a->ss;
    size_t n = strlen(path);
    memset(su, 0, sizeof *su);
    su->sun_family = AF_UNIX;
    if (path[0] == '@') {
        /* abstract: a leading NUL, then the name; no terminator */
        if (n > sizeof su->sun_path)
            return -EINVAL;
        memcpy(su->sun_path + 1, path + 1, n - 1);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n >= sizeof su->sun_path)
        return -EINVAL;
    memcpy(su->sun_path, path, n + 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int weft_addr_parse(weft_addr_t *a, const char *host, int port)
{
    if (!a)
        return -EINVAL;
    if (host && (host[0] == '/' || host[0] == '@'))
        return weft__addr_unix(a, host);
    if (port < 0 || port > 65535)
        return -EINVAL;
    if (host && strcmp(host, "*") == 0)
        return parse_ip6(a, "::", port);
    if (!host || !*host)
        host = "0.0.0.0";
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
    memset(s4, 0, sizeof *s4);
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        a->len = sizeof *s4;
        return 0;
    }
    return parse_ip6(a, host, port);
}

/* snprintf's return is what it wanted to write; ours is what it wrote. */
static int written(int want, size_t size)
{
    if (want < 0)
        return -EINVAL;
    return (size_t)want >= size ? (int)(size - 1) : want;
}

int weft_addr_format(const weft_addr_t *a, char *buf, size_t size)
{
    if (!a || !buf || size == 0)
        return -EINVAL;
    if (size > INT32_MAX)
        size = INT32_MAX;
    char ip[INET6_ADDRSTRLEN];
    switch (a->ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        return written(snprintf(buf, size, "%s:%u", ip, ntohs(s4->sin_port)), size);
    }
    case AF_INET6: {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        if (s6->sin6_scope_id)
            return written(snprintf(buf, size, "[%s%%%u]:%u", ip, (unsigned)s6->sin6_scope_id,
                                    ntohs(s6->sin6_port)),
                           size);
        return written(snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port)), size);
    }
    case AF_UNIX: {
        const struct sockaddr_un *su = (const struct sockaddr_un *)&a->ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = a->len > off ? a->len - off : 0; /* 0: an unnamed socket */
        if (n > sizeof su->sun_path)
            n = sizeof su->sun_path;
        if (n > 0 && su->sun_path[0] == '\0')
            return written(snprintf(buf, size, "@%.*s", (int)(n - 1), su->sun_path + 1), size);
        return written(snprintf(buf, size, "%.*s", (int)strnlen(su->sun_path, n), su->sun_path),
                       size);
    }
    default:
        return -EINVAL;
    }
}

int weft_addr_port(const weft_addr_t *a)
{
    if (!a)
        return -EINVAL;
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return -EINVAL;
}

int weft__addr_of_fd(int fd, weft_addr_t *a, bool peer)
{
    a->len = sizeof a->ss;
    int rc = peer ? getpeername(fd, (struct sockaddr *)&a->ss, &a->len)
                  : getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
    return rc < 0 ? -errno : 0;
}
