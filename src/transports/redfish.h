/* The Redfish transport: BMCs (iLO and others) over HTTPS with DMTF Redfish. Connect
 * logs in (a session, else Basic) and discovers the UpdateService; inventory reads
 * FirmwareInventory and SoftwareInventory; install either has the BMC pull each package
 * from fleetup's own server (SimpleUpdate with ImageURI) or pushes it (multipart
 * HttpPush), then follows the task monitor (or iLO's Oem.Hpe.State); activate resets
 * the host; verify inventories again, waiting for a BMC that resets after its flash. */
#ifndef FU_REDFISH_H
#define FU_REDFISH_H

#include <uv.h>

#include "transports/transport.h"

typedef struct {
    uv_loop_t *loop;
    /* Pull mode: the URL the BMC downloads component c from (fleetup's /pkg/SHA256 with
     * the node's token, http or https by the node's callback_scheme). local is the
     * address this process uses to reach the BMC (so the BMC can reach it back), or
     * NULL. Returns the length written, or -1 with a message in buf. */
    int (*image_uri)(void *ud, uint32_t node, uint32_t component, const char *local, char *buf,
                     size_t len);
    /* Push mode: component c's package bytes, mapped once and shared by every node. */
    int (*package)(void *ud, uint32_t component, const void **data, size_t *len);
    void *ud;
    uint64_t poll_ms;       /* task monitor polling; 0: 500 ms */
    uint64_t reset_wait_ms; /* how long a BMC may stay away after a flash; 0: 5 min */
    uint64_t request_timeout_ms; /* a request without progress; 0: 30 s */
} fu_redfish_opts_t;

fu_transport_t *fu_redfish_new(const fu_fleet_t *f, const fu_redfish_opts_t *o, const char **err);

/* Closes every session (DELETE, bounded at a few seconds) and every connection; done
 * runs once nothing of the transport is left on the loop. Then destroy frees it. */
void fu_redfish_shutdown(fu_transport_t *t, void (*done)(void *ud), void *ud);

/* Nodes whose certificate is not checked (tls_insecure), for the report's warning. */
uint32_t fu_redfish_insecure_nodes(const fu_fleet_t *f, const uint32_t *nodes, uint32_t n);

#endif
