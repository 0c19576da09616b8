/* libFuzzer target: the whole fleet loader (YAML tree, native and Ansible readers,
 * ranges, baseline, policy) on arbitrary bytes. Any crash, leak or UB is a bug. */
#include <stddef.h>
#include <stdint.h>

#include "core/fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load_buffer("fuzz.yml", (const char *)data, size, &d);
    fu_fleet_free(f);
    fu_diag_free(&d);
    return 0;
}
