/* libFuzzer target: the HTTP client's response parser (llhttp callbacks, head and body
 * limits, chunked and read-until-close bodies, Retry-After) through fu_hc_parse_buffer(),
 * which runs the same code as a live response; the pin parser on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_response(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    size_t *sum = ud;
    if (kind != FU_HC_OK) {
        if (err == NULL || res != NULL)
            abort();
        *sum += strlen(err);
        return;
    }
    if (err != NULL || res == NULL || res->body == NULL || res->body[res->body_len] != '\0')
        abort();
    for (uint32_t i = 0; i < res->nheaders; i++) {
        *sum += strlen(res->header_names[i]) + strlen(res->header_values[i]);
        if (fu_hc_header(res, res->header_names[i]) == NULL)
            abort();
    }
    for (size_t i = 0; i < res->body_len; i++)
        *sum += (unsigned char)res->body[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    /* A small limit, so the fuzzer reaches it; the default for the rest. */
    size_t max = size && (data[0] & 1) ? 256 : 0;
    fu_hc_parse_buffer((const char *)data, size, max, on_response, &sum);
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    uint8_t pin[32];
    fu_hc_parse_pin(s, pin);
    free(s);
    return (int)(sum & 0); /* keeps sum alive without making the result depend on it */
}
