/* The claim a PersistentVolume names, the force-unstage annotation, and
 * the events' rate limit (see pv_claim.h). Pure. */
#define _GNU_SOURCE
#include "pv_claim.h"

#include <string.h>

#include <json-c/json.h>

#include "k8s_client.h"

static const char *
str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static struct json_object *
parse_kind(const char *json, size_t len, const char *kind, int kind_optional)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *o = NULL;

	if (!tok || len > (1u << 26))
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len ||
		  !json_object_is_type(o, json_type_object) ||
		  (str_of(o, "kind") ? strcmp(str_of(o, "kind"), kind) != 0 : !kind_optional))) {
		json_object_put(o);
		o = NULL;
	}
out:
	if (tok)
		json_tokener_free(tok);
	return o;
}

/* metadata.annotations[FORCE_UNSTAGE_ANNOTATION] == "true", exactly (as
 * the Go driver compares it). */
static int
annotated_force(struct json_object *o)
{
	struct json_object *md, *an;
	const char *v;

	if (!json_object_object_get_ex(o, "metadata", &md) ||
	    !json_object_object_get_ex(md, "annotations", &an))
		return 0;
	v = str_of(an, FORCE_UNSTAGE_ANNOTATION);
	return v && strcmp(v, "true") == 0;
}

static void
copy_uid(char *dst, size_t n, const char *uid)
{
	size_t l = uid ? strlen(uid) : 0;
	dst[0] = '\0';
	if (l == 0 || l >= n)
		return;
	for (size_t i = 0; i < l; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f') ||
		      uid[i] == '-'))
			return; /* a UUID or nothing */
	memcpy(dst, uid, l + 1);
}

int
pv_claim_parse(const char *json, size_t len, struct pv_claim *out)
{
	struct json_object *o, *spec, *ref;
	const char *ns, *name;

	memset(out, 0, sizeof(*out));
	/* a list item has no kind: PVs come from a GET or from the listing */
	o = parse_kind(json, len, "PersistentVolume", 1);
	if (!o)
		return -1;
	out->force = annotated_force(o);
	if (json_object_object_get_ex(o, "spec", &spec) &&
	    json_object_object_get_ex(spec, "claimRef", &ref) &&
	    (ns = str_of(ref, "namespace")) && (name = str_of(ref, "name")) &&
	    k8s_dns1123_label_valid(ns) == 0 && k8s_dns1123_subdomain_valid(name) == 0) {
		out->has_claim = 1;
		strcpy(out->ns, ns);     /* bounded by the checks above */
		strcpy(out->name, name);
		copy_uid(out->uid, sizeof(out->uid), str_of(ref, "uid"));
	}
	json_object_put(o);
	return 0;
}

int
pvc_claim_parse(const char *json, size_t len, struct pv_claim *out)
{
	struct json_object *o = parse_kind(json, len, "PersistentVolumeClaim", 0), *md;
	char uid[sizeof(out->uid)];

	if (!o)
		return -1;
	out->force = annotated_force(o);
	if (json_object_object_get_ex(o, "metadata", &md)) {
		copy_uid(uid, sizeof(uid), str_of(md, "uid"));
		if (uid[0])
			memcpy(out->uid, uid, sizeof(uid));
	}
	json_object_put(o);
	return 0;
}

int
event_limit_admit(struct event_limit *l, const char *volume_id, const char *reason,
		  uint64_t now_s)
{
	struct event_slot *free_slot = NULL, *s;

	if (strlen(volume_id) >= sizeof(s->volume_id) || strlen(reason) >= sizeof(s->reason))
		return 0;
	for (int i = 0; i < EVENT_LIMIT_SLOTS; i++) {
		s = &l->slot[i];
		int stale = s->last_s == 0 || now_s - s->last_s >= EVENT_MIN_INTERVAL_S ||
			    now_s < s->last_s;
		if (s->last_s && strcmp(s->volume_id, volume_id) == 0 &&
		    strcmp(s->reason, reason) == 0) {
			if (!stale)
				return 0;
			s->last_s = now_s;
			return 1;
		}
		/* an expired slot limits nothing any more: reusable */
		if (stale && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL) {
		l->dropped++;
		return 0;
	}
	strcpy(free_slot->volume_id, volume_id);
	strcpy(free_slot->reason, reason);
	free_slot->last_s = now_s;
	return 1;
}
