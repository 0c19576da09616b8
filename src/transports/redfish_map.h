/* Redfish resources to fleetup's model, without I/O: which FirmwareInventory member is
 * which baseline component, and what the JSON of a task, an error or an update service
 * says. Shared by the Redfish driver and fleetsim (so both sides agree), unit-tested on
 * captured BMC responses and fuzzed. */
#ifndef FU_REDFISH_MAP_H
#define FU_REDFISH_MAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fleet.h"
#include "core/plan.h"

/* One FirmwareInventory / SoftwareInventory member. */
typedef struct {
    const char *odata_id, *id, *name, *version, *software_id;
    bool updateable;
} fu_rf_member_t;

/* Does baseline component c describe member m? Its `targets` name the member's
 * @odata.id; else its `match` (POSIX extended regex, case-insensitive, whole Name or
 * SoftwareId); else its name equals the member's Id, Name or SoftwareId (case-insensitive). */
bool fu_rf_member_is(const fu_component_t *c, const fu_rf_member_t *m);

/* Reads a member's JSON into m (strings point into j). -1 when it has no Version. */
int fu_rf_member_read(json_t *j, fu_rf_member_t *m);

/* The installed version of every component that applies to node n from the members:
 * inv->versions[i] points into members (NULL when no member is component i). */
void fu_rf_inventory(const fu_fleet_t *f, const fu_node_t *n, const fu_rf_member_t *members,
                     size_t nmembers, fu_inventory_t *inv);

/* What an update service offers (strings point into j). */
typedef struct {
    const char *simple_update;  /* the SimpleUpdate action target, or NULL */
    const char *action_info;    /* its @Redfish.ActionInfo, or NULL */
    const char *multipart_push; /* MultipartHttpPushUri, or NULL */
    const char *http_push;      /* HttpPushUri, or NULL */
    const char *firmware_inventory, *software_inventory;
    bool hpe;                   /* Oem.Hpe present (iLO: State, FlashProgressPercent) */
    const char *hpe_state;      /* Oem.Hpe.State, or NULL */
    int hpe_percent;            /* Oem.Hpe.FlashProgressPercent, or -1 */
} fu_rf_update_service_t;
int fu_rf_update_service_read(json_t *j, fu_rf_update_service_t *us);

/* Transfer protocols a SimpleUpdate ActionInfo allows: bit 0 HTTP, bit 1 HTTPS;
 * 3 when it does not say. */
unsigned fu_rf_action_info_protocols(json_t *j);

typedef enum {
    FU_RF_TASK_RUNNING, /* New, Starting, Running, Pending, Suspended, Stopping, Service */
    FU_RF_TASK_DONE,    /* Completed, with TaskStatus OK or Warning */
    FU_RF_TASK_FAILED   /* Exception, Killed, Cancelled, Interrupted, or Completed/Critical */
} fu_rf_task_state_t;

typedef struct {
    fu_rf_task_state_t state;
    int percent; /* PercentComplete, or -1 */
    char message[256]; /* the last Messages[] entry's Message, else "" */
} fu_rf_task_t;
/* A Task resource (or an HPE update service's Oem.Hpe.State/FlashProgressPercent when
 * hpe is set). -1 when it is neither. */
int fu_rf_task_read(json_t *j, fu_rf_task_t *t);
int fu_rf_hpe_task_read(const fu_rf_update_service_t *us, fu_rf_task_t *t);

/* A Redfish error body to one line: error.message and every
 * @Message.ExtendedInfo MessageId and Message, bounded to out. */
void fu_rf_error_text(const char *body, size_t len, char *out, size_t outlen);

#endif
