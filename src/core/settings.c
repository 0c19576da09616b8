/* Node settings: the keys a node, a group's vars or `defaults:` may carry, their types,
 * and the error helpers every reader shares (did-you-mean, Jinja refusal). */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/inventory.h"

static bool check_address(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what);

const char *const fu_setting_names[FU_S__KNOWN] = {
    [FU_S_TYPE] = "type",
    [FU_S_TRANSPORT] = "transport",
    [FU_S_ADDRESS] = "address",
    [FU_S_MGMT_ADDRESS] = "mgmt_address",
    [FU_S_PORT] = "port",
    [FU_S_USER] = "user",
    [FU_S_CALLBACK] = "callback",
    [FU_S_CALLBACK_SCHEME] = "callback_scheme",
    [FU_S_HOST_KEY_CHECK] = "host_key_check",
    [FU_S_KNOWN_HOSTS] = "known_hosts",
    [FU_S_SSH_AGENT] = "ssh_agent",
    [FU_S_KEY_FILE] = "key_file",
    [FU_S_KEY_PASSPHRASE_ENV] = "key_passphrase_env",
    [FU_S_KEY_PASSPHRASE_FILE] = "key_passphrase_file",
    [FU_S_PASSWORD_ENV] = "password_env",
    [FU_S_PASSWORD_FILE] = "password_file",
    [FU_S_PASSWORD_INLINE] = "password",
    [FU_S_TLS_FINGERPRINT] = "tls_fingerprint",
    [FU_S_TLS_CA_FILE] = "tls_ca_file",
    [FU_S_TLS_INSECURE] = "tls_insecure",
    [FU_S_PLAIN_HTTP] = "plain_http",
};

static void vdiag(fu_diag_t *d, fu_diag_level_t lvl, const fu_ynode_t *at, const char *fmt,
                  va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (at)
        fu_diag_add(d, lvl, at->file, at->line, at->col, "%s", buf);
    else
        fu_diag_add(d, lvl, NULL, 0, 0, "%s", buf);
}

void fu_err(fu_diag_t *d, const fu_ynode_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(d, FU_DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

void fu_warn(fu_diag_t *d, const fu_ynode_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(d, FU_DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    /* Optimal string alignment: a swap of two neighbours ("bois"/"bios") costs 1. */
    size_t dist[65][65];
    for (size_t i = 0; i <= la; i++)
        dist[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        dist[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = dist[i - 1][j - 1] + (ca != cb);
            if (dist[i - 1][j] + 1 < best)
                best = dist[i - 1][j] + 1;
            if (dist[i][j - 1] + 1 < best)
                best = dist[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && dist[i - 2][j - 2] + 1 < best)
                best = dist[i - 2][j - 2] + 1;
            dist[i][j] = best;
        }
    return dist[la][lb];
}

const char *fu_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 99;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (cands[i] == NULL)
            continue;
        size_t dist = edit_distance(word, cands[i]);
        size_t limit = wl <= 4 ? 1 : wl <= 8 ? 2 : 3;
        if (dist <= limit && dist < bestd) {
            best = cands[i];
            bestd = dist;
        }
    }
    return best;
}

void fu_err_unknown_key(fu_diag_t *d, const fu_ynode_t *key, const char *where,
                        const char *const *valid, size_t nvalid)
{
    const char *s = fu_suggest(key->u.str, valid, nvalid);
    if (s) {
        fu_err(d, key, "unknown key '%s' in %s: did you mean '%s'?", key->u.str, where, s);
        return;
    }
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < nvalid && used < sizeof(list) - 64; i++)
        if (valid[i])
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                                     valid[i]);
    fu_err(d, key, "unknown key '%s' in %s (valid keys: %s)", key->u.str, where, list);
}

int fu_setting_lookup(const char *key)
{
    for (int i = 0; i < FU_S__KNOWN; i++)
        if (strcmp(key, fu_setting_names[i]) == 0)
            return i;
    return -1;
}

bool fu_y_expect_map(fu_diag_t *d, const fu_ynode_t *v, const char *what)
{
    if (v && v->kind == FU_Y_MAP)
        return true;
    fu_err(d, v, "%s must be a mapping (key: value lines), not %s", what, fu_y_kind_name(v));
    return false;
}

const char *fu_y_string(fu_diag_t *d, const fu_ynode_t *v, const char *what)
{
    if (v == NULL || v->kind != FU_Y_SCALAR || fu_y_is_null(v)) {
        fu_err(d, v, "%s must be a single value, not %s", what, fu_y_kind_name(v));
        return NULL;
    }
    if (strstr(v->u.str, "{{") || strstr(v->u.str, "{%")) {
        fu_err(d, v, "%s: Jinja templates ('{{ ... }}') are not supported: fleetup does not "
                     "evaluate templates; write the value itself",
               what);
        return NULL;
    }
    if (memchr(v->u.str, '\0', v->n) != NULL) {
        fu_err(d, v, "%s contains a NUL character", what);
        return NULL;
    }
    return v->u.str;
}

static bool enum_value(fu_diag_t *d, const fu_ynode_t *v, const char *what,
                       const char *const *names, size_t n, long long *out)
{
    const char *s = fu_y_string(d, v, what);
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(s, names[i]) == 0) {
            *out = (long long)i;
            return true;
        }
    const char *sug = fu_suggest(s, names, n);
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                                     names[i]);
    if (sug)
        fu_err(d, v, "unknown %s '%s': did you mean '%s'? (one of: %s)", what, s, sug, list);
    else
        fu_err(d, v, "unknown %s '%s' (one of: %s)", what, s, list);
    return false;
}

bool fu_address_ok(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what)
{
    return check_address(d, v, s, what);
}

static bool check_address(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253) {
        fu_err(d, v, "%s must be a host name or an IP address (1 to 253 characters)", what);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%')) {
            fu_err(d, v, "%s '%s' has the character '%c', which no host name or IP address has",
                   what, s, isprint(c) ? c : '?');
            return false;
        }
    }
    return true;
}

static bool check_env_name(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what)
{
    bool ok = s[0] && !isdigit((unsigned char)s[0]);
    for (const char *p = s; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '_';
    if (!ok)
        fu_err(d, v, "%s '%s' is not an environment variable name (letters, digits, '_')", what, s);
    return ok;
}

static bool parse_port_value(fu_diag_t *d, const fu_ynode_t *v, const char *what, long long *out)
{
    long long p;
    if (v && v->kind == FU_Y_SCALAR && v->quoted) {
        /* Ansible inventories often quote ports; accept a quoted number. */
        char *end;
        p = strtoll(v->u.str, &end, 10);
        if (v->n == 0 || *end != '\0')
            p = -1;
    } else if (!fu_y_scalar_int(v, &p)) {
        p = -1;
    }
    if (p < 1 || p > 65535) {
        if (v && v->kind == FU_Y_SCALAR)
            fu_err(d, v, "%s must be a TCP port from 1 to 65535, not '%s'", what, v->u.str);
        else
            fu_err(d, v, "%s must be a TCP port from 1 to 65535, not %s", what, fu_y_kind_name(v));
        return false;
    }
    *out = p;
    return true;
}

static const char *const transport_names[] = {"ssh", "redfish", "local", "sim"};
static const char *const callback_names[] = {"pull", "push"};
static const char *const scheme_names[] = {"http", "https"};
/* A SHA-256 certificate fingerprint: 64 hex digits, optionally in pairs joined by ':'
 * (as openssl x509 -fingerprint -sha256 and fleetsim print it). */
static bool check_fingerprint(fu_diag_t *d, const fu_ynode_t *v, const char *s, const char *what)
{
    size_t digits = 0;
    for (const char *p = s; *p; p++) {
        if (isxdigit((unsigned char)*p))
            digits++;
        else if (*p != ':' || (p - s) % 3 != 2) {
            digits = 0;
            break;
        }
    }
    if (digits != 64) {
        fu_err(d, v, "%s must be a SHA-256 fingerprint: 64 hex digits, plain or as pairs joined "
                     "by ':' (openssl x509 -noout -fingerprint -sha256 prints it)", what);
        return false;
    }
    return true;
}

static const char *const hostkey_names[] = {"strict", "accept-new", "off"};

bool fu_setting_parse(fu_inv_t *inv, int id, const char *label, const fu_ynode_t *val,
                      fu_setting_t *out)
{
    fu_diag_t *d = inv->d;
    const char *what = id == FU_S_LABEL ? label : fu_setting_names[id];
    char whatbuf[128];
    if (id == FU_S_LABEL) {
        snprintf(whatbuf, sizeof(whatbuf), "label '%s'", label);
        what = whatbuf;
    }
    memset(out, 0, sizeof(*out));
    out->id = (uint32_t)id;
    out->label = label;
    out->at = val;
    long long e;
    switch (id) {
    case FU_S_TYPE:
        if (!enum_value(d, val, "node type", fu_node_type_names, FU_TYPE__COUNT, &e))
            return false;
        out->v.i = e;
        return true;
    case FU_S_TRANSPORT:
        if (!enum_value(d, val, what, transport_names, 4, &e))
            return false;
        out->v.i = e;
        return true;
    case FU_S_CALLBACK:
        if (!enum_value(d, val, "callback mode", callback_names, 2, &e))
            return false;
        out->v.i = e;
        return true;
    case FU_S_CALLBACK_SCHEME:
        if (!enum_value(d, val, what, scheme_names, 2, &e))
            return false;
        out->v.i = e;
        return true;
    case FU_S_HOST_KEY_CHECK:
        if (!enum_value(d, val, what, hostkey_names, 3, &e))
            return false;
        out->v.i = e;
        return true;
    case FU_S_PORT:
        return parse_port_value(d, val, what, &out->v.i);
    case FU_S_SSH_AGENT:
    case FU_S_TLS_INSECURE:
    case FU_S_PLAIN_HTTP:
        if (!fu_y_scalar_bool(val, &out->v.b)) {
            fu_err(d, val, "%s must be true or false", what);
            return false;
        }
        return true;
    default:
        break;
    }
    const char *s = fu_y_string(d, val, what);
    if (s == NULL)
        return false;
    out->v.s = s;
    switch (id) {
    case FU_S_ADDRESS:
    case FU_S_MGMT_ADDRESS:
        return check_address(d, val, s, what);
    case FU_S_KEY_PASSPHRASE_ENV:
    case FU_S_PASSWORD_ENV:
        return check_env_name(d, val, s, what);
    case FU_S_TLS_FINGERPRINT:
        return check_fingerprint(d, val, s, what);
    case FU_S_USER:
    case FU_S_KNOWN_HOSTS:
    case FU_S_TLS_CA_FILE:
    case FU_S_KEY_FILE:
    case FU_S_KEY_PASSPHRASE_FILE:
    case FU_S_PASSWORD_FILE:
        if (s[0] == '\0') {
            fu_err(d, val, "%s must not be empty", what);
            return false;
        }
        return true;
    default:
        return true;
    }
}

void fu_settings_set(fu_arena_t *a, fu_settings_t *s, const fu_setting_t *v)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].id == v->id &&
            (v->id != FU_S_LABEL || strcmp(s->v[i].label, v->label) == 0)) {
            s->v[i] = *v;
            return;
        }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        fu_setting_t *nv = fu_arena_alloc(a, cap * sizeof(*nv));
        if (s->n)
            memcpy(nv, s->v, s->n * sizeof(*nv));
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = *v;
}

void fu_labels_parse(fu_inv_t *inv, const fu_ynode_t *map, fu_settings_t *into)
{
    if (fu_y_is_null(map))
        return;
    if (!fu_y_expect_map(inv->d, map, "labels"))
        return;
    for (size_t i = 0; i < map->n; i++) {
        const fu_ynode_t *k = map->u.pairs[i].key, *v = map->u.pairs[i].val;
        fu_setting_t s;
        if (k->n == 0 || strpbrk(k->u.str, " \t=,:!&") != NULL) {
            fu_err(inv->d, k, "label name '%s' must be non-empty and hold no space, '=', ',', "
                              "':', '!' or '&'", k->u.str);
            continue;
        }
        if (fu_setting_parse(inv, FU_S_LABEL, k->u.str, v, &s))
            fu_settings_set(inv->a, into, &s);
    }
}
