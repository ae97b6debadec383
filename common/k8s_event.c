/* Kubernetes API client: the two things privd asks about a claim. Create a
 * core v1 Event on an object (POST .../events), and read one
 * PersistentVolumeClaim (GET) for its uid and annotations. The Event's
 * JSON is built with json-c from the fields given, never by pasting
 * strings, so no value (a name, a message) can add or change a field. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#define EVENT_MSG_MAX 1024  /* the API server truncates longer messages anyway */
#define EVENT_FIELD_MAX 128 /* reason, type, component, instance, kind */

static int
field_ok(const char *s, size_t max)
{
	return s && s[0] && strlen(s) <= max && printable_ascii(s, strlen(s));
}

static int
add_str(struct json_object *o, const char *key, const char *val)
{
	struct json_object *v = json_object_new_string(val);
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static struct json_object *
new_obj(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();
	if (o && json_object_object_add(parent, key, o)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
k8s_event_json(const struct k8s_event *ev, char **out, size_t *len, char *err, size_t errlen)
{
	char name[K8S_NAME_BUFSZ], ts[32];
	struct json_object *root = NULL, *md, *io, *src;
	struct tm tm;
	time_t t = (time_t)ev->time_s;
	int bad = 0;

	*out = NULL;
	*len = 0;
	if (k8s_dns1123_label_valid(ev->ns) || k8s_dns1123_subdomain_valid(ev->obj_name) ||
	    !field_ok(ev->obj_kind, EVENT_FIELD_MAX) || !field_ok(ev->obj_api_version, 64) ||
	    (ev->obj_uid && strlen(ev->obj_uid) > EVENT_FIELD_MAX) ||
	    (ev->obj_uid && !printable_ascii(ev->obj_uid, strlen(ev->obj_uid))) ||
	    (strcmp(ev->type, "Normal") && strcmp(ev->type, "Warning")) ||
	    !field_ok(ev->reason, EVENT_FIELD_MAX) || !field_ok(ev->component, EVENT_FIELD_MAX) ||
	    !field_ok(ev->instance, EVENT_FIELD_MAX) ||
	    (ev->host && ev->host[0] && !field_ok(ev->host, 253)) || !ev->message ||
	    strlen(ev->message) > EVENT_MSG_MAX || gmtime_r(&t, &tm) == NULL)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "event fields out of range");
	/* <object>.<16 hex>, as kubectl's recorder names them: unique per
	 * event, and within a subdomain's 253 characters */
	snprintf(name, sizeof(name), "%.*s.%016llx", 200, ev->obj_name, ev->name_nonce);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

	root = json_object_new_object();
	if (!root)
		goto oom;
	bad |= add_str(root, "apiVersion", "v1") | add_str(root, "kind", "Event");
	md = new_obj(root, "metadata");
	io = new_obj(root, "involvedObject");
	src = new_obj(root, "source");
	if (!md || !io || !src)
		goto oom;
	bad |= add_str(md, "name", name) | add_str(md, "namespace", ev->ns);
	bad |= add_str(io, "apiVersion", ev->obj_api_version) | add_str(io, "kind", ev->obj_kind);
	bad |= add_str(io, "namespace", ev->ns) | add_str(io, "name", ev->obj_name);
	if (ev->obj_uid && ev->obj_uid[0])
		bad |= add_str(io, "uid", ev->obj_uid);
	bad |= add_str(root, "reason", ev->reason) | add_str(root, "message", ev->message);
	bad |= add_str(root, "type", ev->type);
	bad |= add_str(src, "component", ev->component);
	if (ev->host && ev->host[0])
		bad |= add_str(src, "host", ev->host);
	bad |= add_str(root, "firstTimestamp", ts) | add_str(root, "lastTimestamp", ts);
	bad |= add_str(root, "reportingComponent", ev->component);
	bad |= add_str(root, "reportingInstance", ev->instance);
	struct json_object *cnt = json_object_new_int(1);
	if (!cnt || json_object_object_add(root, "count", cnt)) {
		json_object_put(cnt);
		goto oom;
	}
	if (bad)
		goto oom;
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!s || !(*out = strdup(s)))
		goto oom;
	*len = strlen(*out);
	json_object_put(root);
	return K8S_OK;
oom:
	json_object_put(root);
	return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory for the event");
}

int
k8s_event_create(struct k8s_client *c, const struct k8s_event *ev, char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	struct json_object *o = NULL;
	char path[128], *body;
	size_t len;
	int rc = k8s_event_json(ev, &body, &len, err, errlen);

	if (rc != K8S_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ev->ns);
	rc = k8s_http_post(c, path, body, len, &rb, err, errlen);
	free(body);
	/* the answer is the created Event: anything else is not a create */
	if (rc == K8S_OK && (rc = k8s_json_parse(rb.data, rb.len, 0, &o, err, errlen)) == K8S_OK &&
	    (!json_object_is_type(o, json_type_object) || !k8s_jstr(o, "kind") ||
	     strcmp(k8s_jstr(o, "kind"), "Event")))
		rc = seterr(err, errlen, K8S_ERR_SHAPE, "the answer to the create is not an Event");
	json_object_put(o);
	k8s_rb_free(&rb);
	return rc;
}

int
k8s_pvc_get(struct k8s_client *c, const char *ns, const char *name, char **json, size_t *len,
	    char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	struct json_object *o = NULL, *md;
	char path[384];
	int rc;

	*json = NULL;
	*len = 0;
	if (k8s_dns1123_label_valid(ns) || k8s_dns1123_subdomain_valid(name))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid claim namespace or name");
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s", ns, name);
	rc = k8s_http_get(c, path, &rb, err, errlen);
	if (rc == K8S_OK && (rc = k8s_json_parse(rb.data, rb.len, 0, &o, err, errlen)) == K8S_OK) {
		if (!json_object_is_type(o, json_type_object) || !k8s_jstr(o, "kind") ||
		    strcmp(k8s_jstr(o, "kind"), "PersistentVolumeClaim") ||
		    !json_object_object_get_ex(o, "metadata", &md) || !k8s_jstr(md, "name") ||
		    strcmp(k8s_jstr(md, "name"), name))
			rc = seterr(err, errlen, K8S_ERR_SHAPE, "not the PersistentVolumeClaim asked for");
		else if (!(*json = malloc(rb.len + 1)))
			rc = seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
		else {
			memcpy(*json, rb.data, rb.len);
			(*json)[rb.len] = '\0';
			*len = rb.len;
		}
	}
	json_object_put(o);
	k8s_rb_free(&rb);
	return rc;
}
