/* The Redfish JSON mapping on responses shaped after real BMCs (iLO 5 and the DMTF
 * mockups, in tests/unit/redfish/): update service discovery, ActionInfo protocols,
 * inventory members to baseline components, tasks, iLO's update state, error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/loader.h"
#include "transports/redfish_map.h"

static json_t *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/unit/redfish/%s", FU_SOURCE_DIR, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (j == NULL)
        fail_msg("%s: %s", path, e.text);
    return j;
}

static void test_update_service_ilo5(void **state)
{
    (void)state;
    json_t *j = load("ilo5_update_service.json");
    fu_rf_update_service_t us;
    assert_int_equal(fu_rf_update_service_read(j, &us), 0);
    assert_string_equal(us.simple_update, "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate/");
    assert_null(us.action_info);
    assert_null(us.multipart_push);
    assert_string_equal(us.http_push, "/cgi-bin/uploadFile");
    assert_string_equal(us.firmware_inventory, "/redfish/v1/UpdateService/FirmwareInventory/");
    assert_string_equal(us.software_inventory, "/redfish/v1/UpdateService/SoftwareInventory/");
    assert_true(us.hpe);
    assert_string_equal(us.hpe_state, "Progressing");
    assert_int_equal(us.hpe_percent, 42);
    fu_rf_task_t t;
    assert_int_equal(fu_rf_hpe_task_read(&us, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_RUNNING);
    assert_int_equal(t.percent, 42);
    json_object_set_new(json_object_get(json_object_get(j, "Oem"), "Hpe"), "State", json_string("Error"));
    assert_int_equal(fu_rf_update_service_read(j, &us), 0);
    assert_int_equal(fu_rf_hpe_task_read(&us, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_FAILED);
    assert_non_null(strstr(t.message, "Error"));
    json_object_set_new(json_object_get(json_object_get(j, "Oem"), "Hpe"), "State", json_string("Complete"));
    fu_rf_update_service_read(j, &us);
    fu_rf_hpe_task_read(&us, &t);
    assert_int_equal(t.state, FU_RF_TASK_DONE);
    json_decref(j);
}

static void test_update_service_dmtf(void **state)
{
    (void)state;
    json_t *j = load("dmtf_update_service.json");
    fu_rf_update_service_t us;
    assert_int_equal(fu_rf_update_service_read(j, &us), 0);
    assert_string_equal(us.multipart_push, "/redfish/v1/UpdateService/update-multipart");
    assert_string_equal(us.action_info, "/redfish/v1/UpdateService/SimpleUpdateActionInfo");
    assert_false(us.hpe);
    fu_rf_task_t t;
    assert_int_equal(fu_rf_hpe_task_read(&us, &t), -1);
    json_decref(j);
    j = load("dmtf_action_info.json");
    assert_int_equal(fu_rf_action_info_protocols(j), 2); /* HTTPS only (NFS is not ours) */
    json_decref(j);
    j = json_pack("{s[{ss}]}", "Parameters", "Name", "ImageURI");
    assert_int_equal(fu_rf_action_info_protocols(j), 3); /* silent: no restriction known */
    json_decref(j);
    assert_int_equal(fu_rf_update_service_read(json_null(), &us), -1);
}

static void test_tasks(void **state)
{
    (void)state;
    fu_rf_task_t t;
    json_t *j = load("task_exception.json");
    assert_int_equal(fu_rf_task_read(j, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_FAILED);
    assert_int_equal(t.percent, 40);
    assert_non_null(strstr(t.message, "The installation of the update failed."));
    assert_non_null(strstr(t.message, "Update.1.0.ApplyFailed"));
    json_decref(j);
    j = load("task_running.json");
    assert_int_equal(fu_rf_task_read(j, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_RUNNING);
    assert_int_equal(t.percent, 65);
    json_decref(j);
    j = load("task_completed.json");
    assert_int_equal(fu_rf_task_read(j, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_DONE);
    /* Completed with a Critical status is a failure (some BMCs end that way). */
    json_object_set_new(j, "TaskStatus", json_string("Critical"));
    assert_int_equal(fu_rf_task_read(j, &t), 0);
    assert_int_equal(t.state, FU_RF_TASK_FAILED);
    assert_non_null(strstr(t.message, "Completed"));
    json_object_set_new(j, "PercentComplete", json_integer(300)); /* out of range: ignored */
    fu_rf_task_read(j, &t);
    assert_int_equal(t.percent, -1);
    json_decref(j);
    j = load("ilo5_fw_member_1.json"); /* not a task */
    assert_int_equal(fu_rf_task_read(j, &t), -1);
    json_decref(j);
}

static void test_errors(void **state)
{
    (void)state;
    char out[256];
    static const char *files[] = {"ilo5_error_401.json", "dmtf_error_400.json"};
    char body[4096];
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/tests/unit/redfish/%s", FU_SOURCE_DIR, files[i]);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t n = fread(body, 1, sizeof(body), fp);
        fclose(fp);
        fu_rf_error_text(body, n, out, sizeof(out));
        if (i == 0) {
            assert_string_equal(out, "See @Message.ExtendedInfo for more information.; "
                                     "Base.1.4.NoValidSession");
        } else {
            assert_non_null(strstr(out, "Base.1.8.ActionParameterValueFormatError: The value 'ftp://x'"));
            /* bounded: a long message is cut with "..." */
            char small[40];
            fu_rf_error_text(body, n, small, sizeof(small));
            assert_int_equal(strlen(small), sizeof(small) - 1);
            assert_string_equal(small + sizeof(small) - 4, "...");
        }
    }
    fu_rf_error_text("<html>502 Bad Gateway</html>", 28, out, sizeof(out));
    assert_string_equal(out, "");
}

static const char fleet_yml[] =
    "fleetup: 1\n"
    "nodes:\n"
    "  ilo-a: {type: ilo, address: 127.0.0.1}\n"
    "  linux-a: {type: linux}\n"
    "baseline:\n"
    "  components:\n"
    "    - {name: ilo-firmware, version: '3.10', match: 'iLO [0-9]+', applies_to: [ilo]}\n"
    "    - {name: system-rom, version: 'U46 v2.12 (05/02/2024)', applies_to: [ilo],\n"
    "       targets: [/redfish/v1/UpdateService/FirmwareInventory/2]}\n"
    "    - {name: 0x1015-0x15b3, version: '14.32.10', applies_to: [ilo]}\n"
    "    - {name: storage, version: '5.00', applies_to: [ilo]}\n"
    "    - {name: kernel, version: '6.1', applies_to: [linux]}\n";

static void test_inventory_mapping(void **state)
{
    (void)state;
    fu_diag_t d;
    fu_diag_init(&d);
    fu_fleet_t *f = fu_fleet_load_buffer("rf.yml", fleet_yml, strlen(fleet_yml), &d);
    if (f == NULL) {
        fu_diag_print(&d, stderr);
        fail_msg("fleet did not load");
    }
    fu_diag_free(&d);
    json_t *js[] = {load("ilo5_fw_member_1.json"), load("ilo5_fw_member_2.json"),
                    load("ilo5_fw_member_nic.json")};
    fu_rf_member_t m[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(fu_rf_member_read(js[i], &m[i]), 0);
    assert_true(m[0].updateable);
    const char *v[FU_MAX_COMPONENTS];
    fu_inventory_t inv = {v, (uint32_t)f->baseline.ncomponents};
    fu_rf_inventory(f, &f->nodes[0], m, 3, &inv);
    assert_string_equal(v[0], "2.72 Sep 04 2022");       /* by match: "iLO 5" */
    assert_string_equal(v[1], "U46 v2.10 (03/01/2024)"); /* by targets (trailing '/' ignored) */
    assert_string_equal(v[2], "14.28.22");               /* by SoftwareId */
    assert_null(v[3]);                                   /* absent */
    assert_null(v[4]);                                   /* does not apply to a BMC */
    /* The planner then installs what is older or absent. */
    fu_plan_t plan;
    fu_plan_node(f, &f->nodes[0], &inv, false, &plan);
    assert_int_equal(plan.install, 0xfu);
    /* A member without Version is not an inventory member. */
    json_object_del(js[2], "Version");
    assert_int_equal(fu_rf_member_read(js[2], &m[2]), -1);
    /* match is anchored: "iLO 5 Recovery" is not "iLO [0-9]+". */
    m[0].name = "iLO 5 Recovery";
    assert_false(fu_rf_member_is(&f->baseline.components[0], &m[0]));
    m[0].name = "ilo 6";
    assert_true(fu_rf_member_is(&f->baseline.components[0], &m[0])); /* case-insensitive */
    for (int i = 0; i < 3; i++)
        json_decref(js[i]);
    fu_fleet_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_service_ilo5), cmocka_unit_test(test_update_service_dmtf),
        cmocka_unit_test(test_tasks),               cmocka_unit_test(test_errors),
        cmocka_unit_test(test_inventory_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
