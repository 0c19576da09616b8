/* The Redfish resources of one simulated BMC, as JSON, shaped after HPE iLO 5/6 and the
 * DMTF mockups: what a client reads. Built per request from the BMC's small record, so
 * an idle BMC costs no JSON. */
#include "fleetsim.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define V1 "/redfish/v1"

const char *const fs_fw_names[FS_NFW] = {
    "iLO 5",
    "System ROM",
    "HPE Ethernet 10/25Gb 2-port 640SFP28 Adapter",
    "HPE Smart Array P408i-a SR Gen10",
};
const char *const fs_fw_versions[FS_NFW] = {
    "2.90 Jan 01 2025",
    "U46 v2.00 (01/01/2024)",
    "14.28.22",
    "4.11",
};
const char *const fs_fw_software_ids[FS_NFW] = {
    "1.3.6.1.4.1.232.3.4",
    "U46",
    "0x15b3:0x1015",
    "0x9005:0x028f",
};
static const char *const fw_device_class[FS_NFW] = {
    "2f317b9d-c9e3-4d76-bff6-b9d0d085a952", /* iLO's own HPE device classes */
    "aa148d2e-6e09-453e-bc6f-63baa5f5ccc4",
    "a6b1a447-382a-5a4f-3b10-a2b2a3e4bdb9",
    "35e7b8ba-bb4e-4f5e-89a0-5a1a6e9f6a0e",
};

static const char *const member_paths[2][FS_NFW] = {
    {V1 "/UpdateService/FirmwareInventory/1", V1 "/UpdateService/FirmwareInventory/2",
     V1 "/UpdateService/FirmwareInventory/3", V1 "/UpdateService/FirmwareInventory/4"},
    {V1 "/UpdateService/SoftwareInventory/1", V1 "/UpdateService/SoftwareInventory/2",
     V1 "/UpdateService/SoftwareInventory/3", V1 "/UpdateService/SoftwareInventory/4"},
};

const char *fs_member_path(uint32_t member)
{
    return member < FS_NFW ? member_paths[0][member] : NULL;
}

static json_t *odata_link(const char *path)
{
    return json_pack("{s:s}", "@odata.id", path);
}

static json_t *status_ok(const char *state)
{
    return json_pack("{s:s,s:s}", "State", state, "Health", "OK");
}

static json_t *collection(const char *path, const char *type, const char *name,
                          const char *const *members, size_t n)
{
    json_t *m = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(m, odata_link(members[i]));
    return json_pack("{s:s,s:s,s:s,s:o,s:I}", "@odata.id", path, "@odata.type", type, "Name",
                     name, "Members", m, "Members@odata.count", (json_int_t)n);
}

/* A stable UUID per BMC from the seed. */
static void bmc_uuid(const fs_world_t *w, uint32_t b, char out[37])
{
    uint64_t h1 = fs_hash(w->o.seed, b, 6, 0), h2 = fs_hash(w->o.seed, b, 7, 0);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(h1 >> 32),
             (unsigned)(h1 >> 16) & 0xffff, (unsigned)h1 & 0xfff,
             (unsigned)((h2 >> 48) & 0x3fff) | 0x8000, (unsigned long long)(h2 & 0xffffffffffffull));
}

json_t *fs_res_root(const fs_world_t *w, uint32_t b)
{
    char uuid[37];
    bmc_uuid(w, b, uuid);
    const fs_bmc_t *m = &w->bmcs[b];
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:{s:o},s:{s:b,s:b,s:b}}",
        "@odata.id", V1 "/", "@odata.type", "#ServiceRoot.v1_13_0.ServiceRoot", "Id",
        "RootService", "Name", "Root Service", "RedfishVersion", "1.13.0", "UUID", uuid,
        "Product", m->ilo ? "ProLiant DL360 Gen10" : "fleetsim BMC", "Systems",
        odata_link(V1 "/Systems"), "Managers", odata_link(V1 "/Managers"),
        "SessionService", odata_link(V1 "/SessionService"), "UpdateService",
        odata_link(V1 "/UpdateService"), "TaskService", odata_link(V1 "/TaskService"), "Links", "Sessions",
        odata_link(V1 "/SessionService/Sessions"), "ProtocolFeaturesSupported", "ExpandQuery", 0,
        "FilterQuery", 0, "SelectQuery", 0);
    json_object_set_new(j, "Vendor", json_string(m->ilo ? "HPE" : "DMTF"));
    if (m->ilo)
        json_object_set_new(j, "Oem", json_pack("{s:{s:[{s:s,s:s}]}}", "Hpe", "Manager",
                                                "ManagerType", "iLO 5", "ManagerFirmwareVersion",
                                                m->version[0]));
    return j;
}

json_t *fs_res_systems(void)
{
    static const char *const m[] = {V1 "/Systems/1"};
    return collection(V1 "/Systems", "#ComputerSystemCollection.ComputerSystemCollection",
                      "Computer Systems", m, 1);
}

json_t *fs_res_system(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    char serial[24];
    snprintf(serial, sizeof(serial), "FSIM%06X%02X", b, (unsigned)(fs_hash(w->o.seed, b, 8, 0) & 0xff));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:[o]},"
                     "s:{s:{s:s,s:[s,s,s,s]}},s:o}", "@odata.id",
                     V1 "/Systems/1", "@odata.type", "#ComputerSystem.v1_13_0.ComputerSystem",
                     "Id", "1", "Name", "Computer System", "SystemType", "Physical",
                     "Manufacturer", m->ilo ? "HPE" : "Contoso", "Model",
                     m->ilo ? "ProLiant DL360 Gen10" : "3500 Rack Server", "SerialNumber",
                     serial, "BiosVersion", m->version[1], "PowerState", "On", "Status",
                     status_ok("Enabled"), "Links", "ManagedBy", odata_link(V1 "/Managers/1"),
                     "Actions", "#ComputerSystem.Reset", "target",
                     V1 "/Systems/1/Actions/ComputerSystem.Reset", "ResetType@Redfish.AllowableValues",
                     "On", "ForceOff", "GracefulShutdown", "ForceRestart", "Boot",
                     json_pack("{s:s,s:s,s:s}", "BootSourceOverrideEnabled", "Disabled",
                               "BootSourceOverrideTarget", "None", "BootSourceOverrideMode", "UEFI"));
}

json_t *fs_res_managers(void)
{
    static const char *const m[] = {V1 "/Managers/1"};
    return collection(V1 "/Managers", "#ManagerCollection.ManagerCollection", "Managers", m, 1);
}

json_t *fs_res_manager(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:[o]}}", "@odata.id",
                     V1 "/Managers/1", "@odata.type", "#Manager.v1_10_0.Manager", "Id", "1",
                     "Name", "Manager", "ManagerType", "BMC", "Model",
                     m->ilo ? "iLO 5" : "fleetsim BMC", "FirmwareVersion", m->version[0],
                     "Status", status_ok("Enabled"), "Links", "ManagerForServers",
                     odata_link(V1 "/Systems/1"));
}

json_t *fs_res_session_service(void)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:o,s:o}", "@odata.id", V1 "/SessionService",
                     "@odata.type", "#SessionService.v1_1_8.SessionService", "Id",
                     "SessionService", "Name", "Session Service", "ServiceEnabled", 1,
                     "SessionTimeout", 1800, "Status", status_ok("Enabled"), "Sessions",
                     odata_link(V1 "/SessionService/Sessions"));
}

json_t *fs_res_session(const fs_world_t *w, uint32_t id)
{
    char path[96], sid[16];
    snprintf(path, sizeof(path), V1 "/SessionService/Sessions/%u", id);
    snprintf(sid, sizeof(sid), "%u", id);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "@odata.id", path, "@odata.type",
                     "#Session.v1_3_0.Session", "Id", sid, "Name", "User Session", "UserName",
                     w->o.user);
}

json_t *fs_res_sessions(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    char paths[FS_NSESSIONS][96];
    const char *p[FS_NSESSIONS];
    size_t n = 0;
    for (uint32_t i = 0; m->sessions && i < FS_NSESSIONS; i++)
        if (m->sessions[i].id) {
            snprintf(paths[n], sizeof(paths[n]), V1 "/SessionService/Sessions/%u", m->sessions[i].id);
            p[n] = paths[n];
            n++;
        }
    return collection(V1 "/SessionService/Sessions", "#SessionCollection.SessionCollection",
                      "Sessions", p, n);
}

static const char *const hpe_states[] = {"Idle", "Uploading", "Progressing", "Complete", "Error"};

/* The newest task, for Oem.Hpe's progress and result. */
static const fs_task_t *newest_task(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    return m->next_task ? fs_task_find(w, b, m->next_task) : NULL;
}

json_t *fs_res_update_service(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:o,s:s,s:s,s:I,s:o,s:o,s:{s:{s:s,s:s,s:[s,s]}}}", "@odata.id",
        V1 "/UpdateService", "@odata.type", "#UpdateService.v1_11_0.UpdateService", "Id",
        "UpdateService", "Name", "Update Service", "ServiceEnabled", 1, "Status",
        status_ok(m->state == FS_IDLE || m->state == FS_RESETTING ? "Enabled" : "Updating"),
        "HttpPushUri", V1 "/UpdateService/update", "MultipartHttpPushUri",
        V1 "/UpdateService/upload", "MaxImageSizeBytes", (json_int_t)FS_PUSH_LIMIT,
        "FirmwareInventory", odata_link(V1 "/UpdateService/FirmwareInventory"), "SoftwareInventory",
        odata_link(V1 "/UpdateService/SoftwareInventory"), "Actions", "#UpdateService.SimpleUpdate",
        "target", V1 "/UpdateService/Actions/UpdateService.SimpleUpdate",
        "@Redfish.ActionInfo", V1 "/UpdateService/SimpleUpdateActionInfo",
        "TransferProtocol@Redfish.AllowableValues", "HTTP", "HTTPS");
    if (m->ilo) {
        const fs_task_t *t = newest_task(w, b);
        json_t *hpe = json_pack("{s:s,s:s,s:i}", "@odata.type",
                                "#HpeiLOUpdateServiceExt.v2_3_0.HpeiLOUpdateServiceExt", "State",
                                hpe_states[m->hpe_state], "FlashProgressPercent",
                                t && m->hpe_state != FS_HPE_IDLE ? fs_task_percent(w, t) : 0);
        if (t && (m->hpe_state == FS_HPE_COMPLETE || m->hpe_state == FS_HPE_ERROR))
            json_object_set_new(hpe, "Result",
                                json_pack("{s:s,s:s}", "MessageId",
                                          m->hpe_state == FS_HPE_COMPLETE ? "iLO.2.14.UpdateComplete"
                                                                          : "iLO.2.14.UpdateFailed",
                                          "Message", t->message));
        json_object_set_new(j, "Oem", json_pack("{s:o}", "Hpe", hpe));
    }
    return j;
}

json_t *fs_res_action_info(void)
{
    json_t *targets = json_array();
    for (uint32_t i = 0; i < FS_NFW; i++)
        json_array_append_new(targets, json_string(member_paths[0][i]));
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:[{s:s,s:b,s:s},{s:s,s:b,s:s,s:[s,s]},{s:s,s:b,s:s,s:o},"
        "{s:s,s:b,s:s},{s:s,s:b,s:s}]}",
        "@odata.id", V1 "/UpdateService/SimpleUpdateActionInfo", "@odata.type",
        "#ActionInfo.v1_1_2.ActionInfo", "Id", "SimpleUpdateActionInfo", "Name",
        "SimpleUpdate Action Info", "Parameters", "Name", "ImageURI", "Required", 1, "DataType",
        "String", "Name", "TransferProtocol", "Required", 0, "DataType", "String",
        "AllowableValues", "HTTP", "HTTPS", "Name", "Targets", "Required", 0, "DataType",
        "StringArray", "AllowableValues", targets, "Name", "Username", "Required", 0, "DataType",
        "String", "Name", "Password", "Required", 0, "DataType", "String");
}

json_t *fs_res_inventory(bool software)
{
    return collection(software ? V1 "/UpdateService/SoftwareInventory"
                               : V1 "/UpdateService/FirmwareInventory",
                      "#SoftwareInventoryCollection.SoftwareInventoryCollection",
                      software ? "Software Inventory" : "Firmware Inventory",
                      member_paths[software], FS_NFW);
}

json_t *fs_res_member(const fs_world_t *w, uint32_t b, uint32_t i, bool software)
{
    const fs_bmc_t *m = &w->bmcs[b];
    char id[4];
    snprintf(id, sizeof(id), "%u", i + 1);
    const fs_task_t *t = newest_task(w, b);
    bool updating = m->state == FS_FLASHING && t && t->member == (int)i;
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:o}", "@odata.id",
                          member_paths[software][i], "@odata.type",
                          "#SoftwareInventory.v1_3_0.SoftwareInventory", "Id", id, "Name",
                          fs_fw_names[i], "Version", m->version[i], "Updateable", 1,
                          "SoftwareId", fs_fw_software_ids[i], "Manufacturer",
                          m->ilo ? "HPE" : "Contoso", "Status",
                          status_ok(updating ? "Updating" : "Enabled"));
    if (m->ilo)
        json_object_set_new(j, "Oem", json_pack("{s:{s:s}}", "Hpe", "DeviceClass",
                                                fw_device_class[i]));
    return j;
}

json_t *fs_res_task_service(void)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:o,s:o}", "@odata.id", V1 "/TaskService",
                     "@odata.type", "#TaskService.v1_1_4.TaskService", "Id", "TaskService",
                     "Name", "Task Service", "ServiceEnabled", 1, "CompletedTaskOverWritePolicy",
                     "Oldest", "Status", status_ok("Enabled"), "Tasks",
                     odata_link(V1 "/TaskService/Tasks"));
}

json_t *fs_res_tasks(const fs_world_t *w, uint32_t b)
{
    const fs_bmc_t *m = &w->bmcs[b];
    char paths[FS_NTASKS][64];
    const char *p[FS_NTASKS];
    size_t n = 0;
    uint32_t first = m->next_task > FS_NTASKS ? m->next_task - FS_NTASKS + 1 : 1;
    for (uint32_t id = first; id <= m->next_task; id++) {
        snprintf(paths[n], sizeof(paths[n]), V1 "/TaskService/Tasks/%u", id);
        p[n] = paths[n];
        n++;
    }
    return collection(V1 "/TaskService/Tasks", "#TaskCollection.TaskCollection", "Tasks", p, n);
}

static void iso_time(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *fs_res_task(const fs_world_t *w, const fs_task_t *t)
{
    static const char *const states[] = {"Running", "Completed", "Exception"};
    static const char *const ids[] = {"TaskEvent.1.0.TaskProgressChanged",
                                      "TaskEvent.1.0.TaskCompletedOK", "TaskEvent.1.0.TaskAborted"};
    char path[64], id[16], start[32];
    snprintf(path, sizeof(path), V1 "/TaskService/Tasks/%u", t->id);
    snprintf(id, sizeof(id), "%u", t->id);
    iso_time(t->start_ms, start);
    bool failed = t->state == FS_TASK_EXCEPTION;
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:[{s:s,s:s,s:s}]}", "@odata.id", path, "@odata.type",
        "#Task.v1_4_3.Task", "Id", id, "Name", "Firmware update", "TaskState", states[t->state],
        "TaskStatus", failed ? "Critical" : "OK", "PercentComplete", fs_task_percent(w, t),
        "StartTime", start, "Messages", "MessageId", ids[t->state], "Message", t->message,
        "Severity", failed ? "Critical" : "OK");
    if (t->state != FS_TASK_RUNNING) {
        char end[32];
        iso_time(t->end_ms, end);
        json_object_set_new(j, "EndTime", json_string(end));
    }
    return j;
}

/* A Redfish error body: the code says "see ExtendedInfo", as BMCs do. */
json_t *fs_res_error(const char *message_id, const char *message)
{
    return json_pack("{s:{s:s,s:s,s:[{s:s,s:s,s:s,s:s}]}}", "error", "code",
                     "Base.1.8.GeneralError", "message",
                     "A general error has occurred. See ExtendedInfo for more information.",
                     "@Message.ExtendedInfo", "@odata.type", "#Message.v1_1_1.Message",
                     "MessageId", message_id, "Message", message, "Severity", "Critical");
}

/* iLO 5 answers a started update with a success message in the error envelope. */
json_t *fs_res_ilo_success(void)
{
    return json_pack("{s:{s:s,s:s,s:[{s:s}]}}", "error", "code", "iLO.0.10.ExtendedInfo",
                     "message", "See @Message.ExtendedInfo for more information.",
                     "@Message.ExtendedInfo", "MessageId", "Base.1.4.Success");
}
