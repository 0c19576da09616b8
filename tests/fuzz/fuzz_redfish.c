/* The Redfish response path as a BMC can feed it: bytes parsed as an HTTP response by the
 * client's parser, the body as JSON, then every reader the driver applies to it (update
 * service, ActionInfo, task, iLO state, inventory member, error text). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "transports/http_client.h"
#include "transports/redfish_map.h"

static void on_response(void *ud, fu_hc_err_t kind, const char *err, const fu_hc_response_t *res)
{
    (void)ud, (void)err;
    if (kind != FU_HC_OK || res == NULL || res->body == NULL)
        return;
    (void)fu_hc_header(res, "location");
    (void)fu_hc_header(res, "x-auth-token");
    char text[256];
    fu_rf_error_text(res->body, res->body_len, text, sizeof(text));
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    if (j == NULL)
        return;
    fu_rf_update_service_t us;
    fu_rf_task_t t;
    if (fu_rf_update_service_read(j, &us) == 0)
        (void)fu_rf_hpe_task_read(&us, &t);
    (void)fu_rf_action_info_protocols(j);
    (void)fu_rf_task_read(j, &t);
    fu_rf_member_t m;
    if (fu_rf_member_read(j, &m) == 0) {
        static const char *targets[] = {"/redfish/v1/UpdateService/FirmwareInventory/1"};
        fu_component_t c = {.name = "iLO 5", .version = "3.10"};
        (void)fu_rf_member_is(&c, &m);
        c.match = "iLO [0-9]+";
        (void)fu_rf_member_is(&c, &m);
        c.targets = targets;
        c.ntargets = 1;
        (void)fu_rf_member_is(&c, &m);
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fu_hc_parse_buffer((const char *)data, size, 1 << 20, on_response, NULL);
    return 0;
}
