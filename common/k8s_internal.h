/* Private to the Kubernetes API client (common/k8s_*.c): the client object,
 * the response buffer, and the helpers its files share. Nothing outside
 * those files includes this; callers use k8s_client.h. */
#ifndef LCW_K8S_INTERNAL_H
#define LCW_K8S_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "k8s_client.h"
#include "secmem.h"

#define BASE_MAX 512

struct json_object;

struct k8s_client {
	char base[BASE_MAX];
	long connect_ms, total_ms;
	size_t max_body;
	unsigned page_limit;
	char *ca_pem; /* read once; handed to libcurl as a blob per request */
	size_t ca_len;
	int token_dirfd; /* O_PATH; survives confinement and token rotation */
	char token_name[NAME_MAX + 1];
	pthread_mutex_t lock;	 /* guards token and token_gen */
	struct lcw_secret token; /* locked memory, never logged */
	unsigned long token_gen;
};

struct resp_buf {
	char *data;
	size_t len, cap, max;
	int too_large;
};

/* Format err (when there is room) and return rc. */
static inline int
seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static inline int
printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* k8s_client.c: the bearer token. */
int k8s_auth_header(struct k8s_client *c, struct lcw_secret *hdr, unsigned long *gen);
int k8s_token_refresh(struct k8s_client *c, unsigned long gen);

/* k8s_http.c: GET base+path; K8S_OK only for a complete 200 response in
 * rb, which the caller frees with k8s_rb_free either way. */
int k8s_http_get(struct k8s_client *c, const char *path, struct resp_buf *rb, char *err,
		 size_t errlen);
/* The same with a body: method POST, PATCH, PUT or DELETE (its options);
 * K8S_OK for 200, 201 or 202. */
int k8s_http_send(struct k8s_client *c, const char *method, const char *path, const char *content_type,
		  const char *data, size_t len, struct resp_buf *rb, char *err, size_t errlen);
void k8s_rb_free(struct resp_buf *rb);
/* POST a JSON body of at most K8S_POST_MAX bytes; K8S_OK only for 201 (or
 * 200) with the answer in rb, freed by the caller either way. */
#define K8S_POST_MAX 16384u
int k8s_http_post(struct k8s_client *c, const char *path, const char *body, size_t body_len,
		  struct resp_buf *rb, char *err, size_t errlen);

/* k8s_json.c. sensitive: the body holds secret bytes (see tokener_flood). */
int k8s_json_parse(const char *buf, size_t len, int sensitive, struct json_object **out,
		   char *err, size_t errlen);
void k8s_json_wipe_strings(struct json_object *o);
const char *k8s_jstr(struct json_object *o, const char *key); /* string member or NULL */
int k8s_jstr_eq(struct json_object *v, const char *s);	       /* same length and bytes */

/* k8s_pv_list.c, for every paged list: the page's metadata.continue into
 * cont ("" on the last page; K8S_ERR_SHAPE when malformed), and a query
 * value percent-encoded (all but RFC 3986 unreserved characters; out holds
 * 3 * strlen(s) + 1). */
#define CONT_MAX 4096 /* continue tokens are ~100-200 bytes in practice */
int k8s_list_continue(struct json_object *root, char *cont, size_t contlen, char *err,
		      size_t errlen);
/* A list page of that kind: K8S_OK with *root (the caller puts it) and its
 * items array, or K8S_ERR_SHAPE / the parser's error with *root NULL. */
int k8s_list_parse(const char *body, size_t len, const char *kind, struct json_object **root,
		   struct json_object **items, char *err, size_t errlen);
void k8s_query_escape(const char *s, char *out);

/* k8s_names.c: 0 or -1. */
int k8s_csi_driver_name_valid(const char *s);
int k8s_handle_valid(const char *s);

/* k8s_pv_list.c. Called for every PV of the driver whose volumeHandle is
 * one of the handles, with that PV's spec.csi object, by the single-handle
 * lookups that want more than existence. A K8S_ERR_* return (err set) ends
 * the listing. */
struct pv_visit {
	int (*fn)(void *ctx, struct json_object *item, struct json_object *csi, char *err,
		  size_t errlen);
	void *ctx;
};

int k8s_pv_lookup_args_valid(const char *driver, const char *const *handles, size_t n, char *err,
			     size_t errlen);
/* The listing for one handle, with visit called on its PV. */
int k8s_pv_visit_handle(struct k8s_client *c, const char *driver, const char *handle,
			const struct pv_visit *visit, int *found, char *err, size_t errlen);

#endif
