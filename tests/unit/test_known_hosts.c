/* known_hosts reading and checking, against lines written by OpenSSH's own tools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transports/known_hosts.h"

#define K1 "AAAAC3NzaC1lZDI1NTE5AAAAIKBuZcqnwSzV/yIYIoV9Q6wVRzGyY2c01xQFuLYg64nW"
#define K2 "AAAAC3NzaC1lZDI1NTE5AAAAIGohlsbVduLTFFlbURu2LkCIYqfoU22RIAIiMwup8Y28"

static size_t blob(const char *b64, unsigned char *out)
{
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
    assert_true(n > 0);
    return (size_t)n - (b64[strlen(b64) - 1] == '=');
}

static const char text[] =
    "# a comment\n"
    "\n"
    "node1,node1.example ssh-ed25519 " K1 " root@vm\n"
    "[127.1.0.5]:2222 ssh-ed25519 " K1 "\n"
    "127.1.*,!127.1.0.7 ssh-ed25519 " K2 "\n"
    /* ssh-keygen -H of "[127.1.0.9]:2222 ssh-ed25519 K1" */
    "|1|zWW6lzIiPJMQ5+qNk/65Fxq8HBc=|3HA/KVcWotUZjX5SZhw1WOEBRe0= ssh-ed25519 " K1 "\n"
    "broken-line-without-key\n"
    "@revoked node9 ssh-ed25519 " K2 "\n"
    "node9 ssh-ed25519 " K2 "\n"
    "@cert-authority *.example ssh-ed25519 " K2 "\n"
    "rsa-host ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA==\r\n";

static void test_check(void **state)
{
    (void)state;
    fu_known_hosts_t kh;
    assert_int_equal(fu_kh_load_buffer(&kh, "kh", text, sizeof(text) - 1), 0);
    unsigned char k1[128], k2[128];
    size_t l1 = blob(K1, k1), l2 = blob(K2, k2);
    uint32_t line = 0;
    assert_int_equal(fu_kh_check(&kh, "node1", 22, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    assert_int_equal(fu_kh_check(&kh, "NODE1.example", 22, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    /* The same name on another port is another host. */
    assert_int_equal(fu_kh_check(&kh, "node1", 2222, "ssh-ed25519", k1, l1, &line), FU_KH_NOTFOUND);
    assert_int_equal(fu_kh_check(&kh, "node1", 22, "ssh-ed25519", k2, l2, &line), FU_KH_MISMATCH);
    assert_int_equal(line, 3);
    assert_int_equal(fu_kh_check(&kh, "127.1.0.5", 2222, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    /* Wildcards on port 22; a negated pattern takes the host out. */
    assert_int_equal(fu_kh_check(&kh, "127.1.3.4", 22, "ssh-ed25519", k2, l2, &line), FU_KH_MATCH);
    assert_int_equal(fu_kh_check(&kh, "127.1.0.7", 22, "ssh-ed25519", k2, l2, &line), FU_KH_NOTFOUND);
    assert_int_equal(fu_kh_check(&kh, "127.2.0.1", 22, "ssh-ed25519", k2, l2, &line), FU_KH_NOTFOUND);
    /* Hashed entries. */
    assert_int_equal(fu_kh_check(&kh, "127.1.0.9", 2222, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    assert_int_equal(fu_kh_check(&kh, "127.1.0.9", 2222, "ssh-ed25519", k2, l2, &line), FU_KH_MISMATCH);
    assert_int_equal(line, 6);
    assert_int_equal(fu_kh_check(&kh, "127.1.0.8", 2222, "ssh-ed25519", k1, l1, &line), FU_KH_NOTFOUND);
    /* A revoked key loses even when another line lists it. */
    assert_int_equal(fu_kh_check(&kh, "node9", 22, "ssh-ed25519", k2, l2, &line), FU_KH_REVOKED);
    assert_int_equal(line, 8);
    /* Certificate authorities are not host keys. */
    assert_int_equal(fu_kh_check(&kh, "a.example", 22, "ssh-ed25519", k2, l2, &line), FU_KH_NOTFOUND);
    /* Another key type recorded for the host counts as a change, as in OpenSSH. */
    assert_int_equal(fu_kh_check(&kh, "rsa-host", 22, "ssh-ed25519", k1, l1, &line), FU_KH_MISMATCH);
    assert_int_equal(line, 11);
    assert_string_equal(fu_kh_type(&kh, "rsa-host", 22), "ecdsa-sha2-nistp256");
    assert_string_equal(fu_kh_type(&kh, "127.1.0.9", 2222), "ssh-ed25519");
    assert_null(fu_kh_type(&kh, "unknown", 22));
    fu_kh_free(&kh);
}

static void test_add_and_fingerprint(void **state)
{
    (void)state;
    char path[] = "/tmp/fleetup-kh-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path); /* a missing file is an empty list, created on the first add */
    fu_known_hosts_t kh;
    char err[256];
    assert_int_equal(fu_kh_load(&kh, path, err, sizeof(err)), 0);
    unsigned char k1[128];
    size_t l1 = blob(K1, k1);
    uint32_t line;
    assert_int_equal(fu_kh_check(&kh, "10.0.0.1", 2200, "ssh-ed25519", k1, l1, &line), FU_KH_NOTFOUND);
    assert_int_equal(fu_kh_add(&kh, "10.0.0.1", 2200, "ssh-ed25519", k1, l1, err, sizeof(err)), 0);
    assert_int_equal(fu_kh_check(&kh, "10.0.0.1", 2200, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    fu_kh_free(&kh);
    /* What was written reads back the same, in the form ssh itself writes. */
    FILE *fp = fopen(path, "r");
    char buf[512] = "";
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    assert_string_equal(buf, "[10.0.0.1]:2200 ssh-ed25519 " K1 "\n");
    assert_int_equal(fu_kh_load(&kh, path, err, sizeof(err)), 0);
    assert_int_equal(fu_kh_check(&kh, "10.0.0.1", 2200, "ssh-ed25519", k1, l1, &line), FU_KH_MATCH);
    fu_kh_free(&kh);
    unlink(path);
    /* ssh-keygen -lf of K1 */
    char fp64[64];
    fu_kh_fingerprint(k1, l1, fp64);
    assert_string_equal(fp64, "SHA256:hlCmeZl24YgXYHyrRDR983XSTMrlMHU3D7aPT1fzs8s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_add_and_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
