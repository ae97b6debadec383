/* Kubernetes API client: JSON. A strict parse of a response body that can
 * leave no copy of secret bytes behind in json-c's scratch buffer, the
 * wipe of every string of a parsed tree, and the typed field reads the
 * resource getters use. No I/O. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_DEPTH 64 /* API objects nest far less; bounds json-c's stack */

/* json-c's tokener accumulates every string in one scratch buffer that it
 * grows with realloc and never wipes. Parsing a dummy string at least as long
 * as the body first makes that buffer big enough that the real parse never
 * reallocs; parsing it again afterwards overwrites whatever the real parse
 * left there. Only the public API is used. */
static int
tokener_flood(struct json_tokener *tok, size_t len)
{
	size_t n = len + 16;
	char *s = malloc(n + 2);
	struct json_object *o;

	if (!s)
		return -1;
	s[0] = '"';
	memset(s + 1, 'A', n);
	s[n + 1] = '"';
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, s, (int)(n + 2));
	json_object_put(o);
	json_tokener_reset(tok);
	free(s);
	return o ? 0 : -1;
}

int
k8s_json_parse(const char *buf, size_t len, int sensitive, struct json_object **out, char *err,
	       size_t errlen)
{
	struct json_tokener *tok;
	enum json_tokener_error je;
	struct json_object *o;
	size_t end;

	*out = NULL;
	if (len == 0)
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "empty response body");
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (tok) /* the API server emits standard JSON; refuse json-c's leniencies */
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (!tok || (sensitive && tokener_flood(tok, len))) {
		if (tok)
			json_tokener_free(tok);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory for JSON");
	}
	o = json_tokener_parse_ex(tok, buf, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (sensitive)
		tokener_flood(tok, len);
	json_tokener_free(tok);
	if (je == json_tokener_continue)
		return seterr(err, errlen, K8S_ERR_TRUNCATED, "JSON body ends early (%zu bytes)", len);
	if (je != json_tokener_success || !o)
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "invalid JSON: %s",
			      json_tokener_error_desc(je));
	while (end < len && isspace((unsigned char)buf[end]))
		end++;
	if (end != len) {
		json_object_put(o);
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "invalid JSON: data after the value");
	}
	*out = o;
	return K8S_OK;
}

/* json-c copies every string into its own objects; overwrite them all before
 * the tree is freed (json_object_get_string returns the internal storage). */
void
k8s_json_wipe_strings(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(o), json_object_get_string_len(o));
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			k8s_json_wipe_strings(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			k8s_json_wipe_strings(v);
		}
		break;
	}
	default:
		break;
	}
}

const char *
k8s_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
k8s_jstr_eq(struct json_object *v, const char *s)
{
	size_t n = strlen(s);
	return (size_t)json_object_get_string_len(v) == n && memcmp(json_object_get_string(v), s, n) == 0;
}
