/* Redfish JSON to fleetup's model. No I/O: every function reads a parsed resource. */
#include "transports/redfish_map.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A pattern matches the whole text, case-insensitively. */
static bool whole_match(const char *pattern, const char *text)
{
    if (text == NULL)
        return false;
    char anchored[512];
    if (snprintf(anchored, sizeof(anchored), "^(%s)$", pattern) >= (int)sizeof(anchored))
        return false;
    regex_t re;
    if (regcomp(&re, anchored, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
        return false; /* the loader checks patterns; a bad one matches nothing */
    bool ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static bool same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

bool fu_rf_member_is(const fu_component_t *c, const fu_rf_member_t *m)
{
    if (c->ntargets > 0) {
        for (uint32_t i = 0; i < c->ntargets; i++) {
            const char *t = c->targets[i];
            size_t tl = strlen(t), ml = m->odata_id ? strlen(m->odata_id) : 0;
            /* Trailing slashes are not significant in Redfish URIs. */
            while (tl > 1 && t[tl - 1] == '/')
                tl--;
            while (ml > 1 && m->odata_id[ml - 1] == '/')
                ml--;
            if (m->odata_id && tl == ml && strncmp(t, m->odata_id, tl) == 0)
                return true;
        }
        return false;
    }
    if (c->match != NULL)
        return whole_match(c->match, m->name) || whole_match(c->match, m->software_id);
    return same(c->name, m->id) || same(c->name, m->name) || same(c->name, m->software_id);
}

int fu_rf_member_read(json_t *j, fu_rf_member_t *m)
{
    memset(m, 0, sizeof(*m));
    if (!json_is_object(j))
        return -1;
    m->odata_id = jstr(j, "@odata.id");
    m->id = jstr(j, "Id");
    m->name = jstr(j, "Name");
    m->version = jstr(j, "Version");
    m->software_id = jstr(j, "SoftwareId");
    m->updateable = json_is_true(json_object_get(j, "Updateable"));
    return m->version != NULL ? 0 : -1;
}

void fu_rf_inventory(const fu_fleet_t *f, const fu_node_t *n, const fu_rf_member_t *members,
                     size_t nmembers, fu_inventory_t *inv)
{
    for (uint32_t i = 0; i < inv->n && i < f->baseline.ncomponents; i++) {
        const fu_component_t *c = &f->baseline.components[i];
        inv->versions[i] = NULL;
        if (!fu_component_applies(f, c, n))
            continue;
        for (size_t k = 0; k < nmembers; k++) {
            if (fu_rf_member_is(c, &members[k])) {
                inv->versions[i] = members[k].version;
                break;
            }
        }
    }
}

int fu_rf_update_service_read(json_t *j, fu_rf_update_service_t *us)
{
    memset(us, 0, sizeof(*us));
    us->hpe_percent = -1;
    if (!json_is_object(j))
        return -1;
    json_t *act = json_object_get(json_object_get(j, "Actions"), "#UpdateService.SimpleUpdate");
    if (json_is_object(act)) {
        us->simple_update = jstr(act, "target");
        us->action_info = jstr(act, "@Redfish.ActionInfo");
    }
    us->multipart_push = jstr(j, "MultipartHttpPushUri");
    us->http_push = jstr(j, "HttpPushUri");
    us->firmware_inventory = jstr(json_object_get(j, "FirmwareInventory"), "@odata.id");
    us->software_inventory = jstr(json_object_get(j, "SoftwareInventory"), "@odata.id");
    json_t *hpe = json_object_get(json_object_get(j, "Oem"), "Hpe");
    if (json_is_object(hpe)) {
        us->hpe = true;
        us->hpe_state = jstr(hpe, "State");
        json_t *p = json_object_get(hpe, "FlashProgressPercent");
        if (json_is_integer(p) && json_integer_value(p) >= 0 && json_integer_value(p) <= 100)
            us->hpe_percent = (int)json_integer_value(p);
    }
    return 0;
}

unsigned fu_rf_action_info_protocols(json_t *j)
{
    json_t *params = json_object_get(j, "Parameters");
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        const char *name = jstr(p, "Name");
        if (name == NULL || strcmp(name, "TransferProtocol") != 0)
            continue;
        json_t *vals = json_object_get(p, "AllowableValues");
        if (!json_is_array(vals))
            return 3;
        unsigned out = 0;
        size_t k;
        json_t *v;
        json_array_foreach(vals, k, v)
        {
            if (same(json_string_value(v), "HTTP"))
                out |= 1;
            else if (same(json_string_value(v), "HTTPS"))
                out |= 2;
        }
        return out;
    }
    return 3;
}

static void last_message(json_t *j, char *out, size_t outlen)
{
    out[0] = '\0';
    json_t *msgs = json_object_get(j, "Messages");
    size_t n = json_array_size(msgs);
    if (n == 0)
        return;
    json_t *m = json_array_get(msgs, n - 1);
    const char *text = jstr(m, "Message");
    const char *id = jstr(m, "MessageId");
    if (text != NULL)
        snprintf(out, outlen, "%s%s%s%s", text, id ? " (" : "", id ? id : "", id ? ")" : "");
    else if (id != NULL)
        snprintf(out, outlen, "%s", id);
}

int fu_rf_task_read(json_t *j, fu_rf_task_t *t)
{
    memset(t, 0, sizeof(*t));
    t->percent = -1;
    const char *state = jstr(j, "TaskState");
    if (state == NULL)
        return -1;
    const char *status = jstr(j, "TaskStatus");
    json_t *p = json_object_get(j, "PercentComplete");
    if (json_is_integer(p) && json_integer_value(p) >= 0 && json_integer_value(p) <= 100)
        t->percent = (int)json_integer_value(p);
    last_message(j, t->message, sizeof(t->message));
    if (same(state, "Completed"))
        t->state = same(status, "Critical") ? FU_RF_TASK_FAILED : FU_RF_TASK_DONE;
    else if (same(state, "Exception") || same(state, "Killed") || same(state, "Cancelled") ||
             same(state, "Interrupted"))
        t->state = FU_RF_TASK_FAILED;
    else
        t->state = FU_RF_TASK_RUNNING;
    if (t->state == FU_RF_TASK_FAILED && t->message[0] == '\0')
        snprintf(t->message, sizeof(t->message), "task ended %s", state);
    return 0;
}

int fu_rf_hpe_task_read(const fu_rf_update_service_t *us, fu_rf_task_t *t)
{
    memset(t, 0, sizeof(*t));
    t->percent = us->hpe_percent;
    if (!us->hpe || us->hpe_state == NULL)
        return -1;
    const char *s = us->hpe_state;
    if (same(s, "Complete"))
        t->state = FU_RF_TASK_DONE;
    else if (same(s, "Error") || same(s, "Failed"))
        t->state = FU_RF_TASK_FAILED, snprintf(t->message, sizeof(t->message), "iLO update state %s", s);
    else
        t->state = FU_RF_TASK_RUNNING; /* Idle, Uploading, Progressing, Writing... */
    return 0;
}

void fu_rf_error_text(const char *body, size_t len, char *out, size_t outlen)
{
    out[0] = '\0';
    if (outlen == 0)
        return;
    json_t *j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    size_t used = 0;
#define ADD(...)                                                                              \
    do {                                                                                      \
        if (used < outlen) {                                                                  \
            int w_ = snprintf(out + used, outlen - used, __VA_ARGS__);                        \
            used += w_ > 0 ? (size_t)w_ : 0;                                                  \
        }                                                                                     \
    } while (0)
    const char *msg = jstr(e, "message");
    if (msg != NULL)
        ADD("%s", msg);
    json_t *info = json_object_get(e, "@Message.ExtendedInfo");
    if (info == NULL)
        info = json_object_get(j, "@Message.ExtendedInfo");
    size_t i;
    json_t *m;
    json_array_foreach(info, i, m)
    {
        if (i >= 4)
            break;
        const char *id = jstr(m, "MessageId"), *text = jstr(m, "Message");
        if (id == NULL && text == NULL)
            continue;
        ADD("%s%s%s%s", used ? "; " : "", id ? id : "", id && text ? ": " : "", text ? text : "");
    }
#undef ADD
    if (used >= outlen && outlen > 4)
        memcpy(out + outlen - 4, "...", 4);
    json_decref(j);
}
