/* libFuzzer target: known_hosts files (patterns, hashed entries, markers, base64 keys)
 * on arbitrary bytes, then a lookup and a check as a connection would make them. */
#include <stddef.h>
#include <stdint.h>

#include "transports/known_hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fu_known_hosts_t kh;
    if (fu_kh_load_buffer(&kh, "fuzz", (const char *)data, size) == 0) {
        static const unsigned char key[] = "\0\0\0\x0bssh-ed25519\0\0\0\x20"
                                           "0123456789abcdef0123456789abcdef";
        uint32_t line = 0;
        fu_kh_type(&kh, "127.1.0.5", 2222);
        fu_kh_check(&kh, "127.1.0.5", 2222, "ssh-ed25519", key, sizeof(key) - 1, &line);
        fu_kh_check(&kh, "node1.example", 22, "ssh-ed25519", key, sizeof(key) - 1, &line);
    }
    fu_kh_free(&kh);
    return 0;
}
