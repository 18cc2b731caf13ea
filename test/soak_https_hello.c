/* soak_https_hello.c - examples/https_hello against the hostile clients
 * of issue 22 (test/soak.h): a full-speed TLS downloader of /bytes/N and
 * a TLS client that asks for /bytes/N and never reads
 * (test/helper_httpload), slowloris clients that send a TLS record
 * header and then a byte of its ClientHello a second, silent clients,
 * garbage and resets, and a normal TLS client (a fresh handshake and a
 * request on a kept-alive connection) throughout; then no fd left behind
 * and a prompt exit on SIGINT under a fresh load. The certificate is a
 * self-signed one for localhost, made with the openssl command (skipped
 * without it). WEFT_SOAK_SECONDS sets the length (32 s); `make soak`
 * runs it.
 *
 * Covers: examples/https_hello.c, the TLS handshake timeout and record
 * path (src/tls.c), the server's timeouts (src/server.c), the
 * cooperative budget (src/loop.c).
 */
#include "harness.h"

#include "soak.h"

#include <sys/stat.h>

static char dir[64], cert[128], key[128];

/* a TLS record header for a 512-byte ClientHello, then its start */
static const char slow[] =
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static int make_cert(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/weft-soak-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
             "-keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0)
        dir[0] = 0; /* no openssl: the test skips */
    return 0;
}

static int remove_cert(void **state)
{
    (void)state;
    if (dir[0]) {
        remove(cert);
        remove(key);
        rmdir(dir);
    }
    return 0;
}

static void test_https_hello_survives_fast_never_reading_slowloris_and_garbage_clients(void **state)
{
    (void)state;
    if (!dir[0]) {
        printf("soak_https_hello: no openssl command to make a certificate: skipped\n");
        skip();
    }
    char args[300];
    snprintf(args, sizeof args, " %s %s", cert, key);
    soak_server_t sv = {.name = "https_hello",
                        .args = args,
                        .tls = true,
                        .ca = cert,
                        .slowloris = slow,
                        .slowloris_len = sizeof slow - 1,
                        .slow = (int)scaled(200, 10),
                        .silent = (int)scaled(50, 5),
                        .fast = 1,
                        .stalled = 1};
    soak_stats_t st = soak_run(&sv);
    /* the normal TLS client was asked for at all */
    assert_true(st.asks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_https_hello_survives_fast_never_reading_slowloris_and_garbage_clients),
    };
    return run_suite(tests, make_cert, remove_cert);
}
