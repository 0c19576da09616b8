/* Names and per-type defaults of the fleet model. */
#include <string.h>

#include "core/fleet.h"

const char *const fu_node_type_names[FU_TYPE__COUNT] = {
    [FU_TYPE_LINUX] = "linux",         [FU_TYPE_WINDOWS] = "windows",
    [FU_TYPE_HPUX] = "hpux",           [FU_TYPE_VMWARE] = "vmware",
    [FU_TYPE_OA] = "oa",               [FU_TYPE_ILO] = "ilo",
    [FU_TYPE_VC] = "vc",               [FU_TYPE_FC_SWITCH] = "fc-switch",
    [FU_TYPE_SAS_SWITCH] = "sas-switch", [FU_TYPE_MOONSHOT] = "moonshot",
    [FU_TYPE_SUPERDOME] = "superdome", [FU_TYPE_BMC] = "bmc",
};

const char *fu_node_type_name(fu_node_type_t t)
{
    return (unsigned)t < FU_TYPE__COUNT ? fu_node_type_names[t] : "?";
}

bool fu_node_type_parse(const char *s, fu_node_type_t *out)
{
    for (int i = 0; i < FU_TYPE__COUNT; i++)
        if (strcmp(s, fu_node_type_names[i]) == 0) {
            *out = (fu_node_type_t)i;
            return true;
        }
    return false;
}

/* Operating systems and the SSH consoles of OA, VC and switches go over SSH; BMCs and
 * the Redfish-managed chassis (Moonshot, Superdome) over Redfish/HTTPS. */
fu_transport_kind_t fu_node_type_transport(fu_node_type_t t)
{
    switch (t) {
    case FU_TYPE_ILO:
    case FU_TYPE_MOONSHOT:
    case FU_TYPE_SUPERDOME:
    case FU_TYPE_BMC:
        return FU_TRANSPORT_REDFISH;
    default:
        return FU_TRANSPORT_SSH;
    }
}

/* Operating systems run fleetup's agent, which fetches over HTTPS and pins the server's
 * certificate; BMCs and device consoles fetch with their own firmware's client, for which
 * plain HTTP (the image is checked by its SHA-256) is what works everywhere. */
fu_scheme_t fu_node_type_default_scheme(fu_node_type_t t)
{
    switch (t) {
    case FU_TYPE_LINUX:
    case FU_TYPE_WINDOWS:
    case FU_TYPE_HPUX:
    case FU_TYPE_VMWARE:
        return FU_SCHEME_HTTPS;
    default:
        return FU_SCHEME_HTTP;
    }
}

uint16_t fu_transport_default_port(fu_transport_kind_t t)
{
    switch (t) {
    case FU_TRANSPORT_SSH:
        return 22;
    case FU_TRANSPORT_REDFISH:
        return 443;
    default:
        return 0;
    }
}

const char *fu_transport_name(fu_transport_kind_t t)
{
    static const char *const n[] = {"ssh", "redfish", "local", "sim"};
    return (unsigned)t < FU_TRANSPORT__COUNT ? n[t] : "?";
}

const char *fu_callback_name(fu_callback_t c)
{
    return c == FU_CALLBACK_PUSH ? "push" : "pull";
}

const char *fu_scheme_name(fu_scheme_t s)
{
    return s == FU_SCHEME_HTTP ? "http" : "https";
}

const char *fu_hostkey_name(fu_hostkey_t h)
{
    static const char *const n[] = {"strict", "accept-new", "off"};
    return (unsigned)h < 3 ? n[h] : "?";
}

const char *fu_phase_name(fu_phase_t p)
{
    static const char *const n[] = {"connect", "inventory", "stage", "install", "activate", "verify"};
    return (unsigned)p < FU_PHASE__COUNT ? n[p] : "?";
}

const char *fu_node_transport_address(const fu_node_t *n)
{
    /* BMCs, and the SSH consoles of enclosures and switches, sit on the management
     * network; an operating system is reached on its production address. */
    bool console = n->type == FU_TYPE_OA || n->type == FU_TYPE_VC ||
                   n->type == FU_TYPE_FC_SWITCH || n->type == FU_TYPE_SAS_SWITCH;
    if ((n->transport == FU_TRANSPORT_REDFISH || console) && n->mgmt_address)
        return n->mgmt_address;
    return n->address;
}

const char *fu_node_label(const fu_node_t *n, const char *key)
{
    for (uint32_t i = 0; i < n->nlabels; i++)
        if (strcmp(n->labels[i].key, key) == 0)
            return n->labels[i].value;
    return NULL;
}

void fu_fleet_free(fu_fleet_t *f)
{
    if (f == NULL)
        return;
    fu_arena_t a = f->arena;
    fu_arena_free(&a); /* f itself lives in its arena */
}
