/* S3 backend, controller side: delete every object of a volume, i.e. all
 * keys under <bucket>/[<prefix>/]volumes/<volume id>/ (contract items 11,
 * 23), with libcurl's SigV4 signing and libxml2 for the responses. No
 * rclone, no crypt layer: the objects are ciphertext.
 *
 * Unlike the original, which counted "not found" and "404" as success, a
 * wrong bucket, bad credentials, a wrong region, an unreachable server or a
 * partial delete are errors with distinct codes; only an already-empty
 * volume prefix is a success (idempotent retries). Every listed key is
 * checked to lie under the volume prefix before anything on its page is
 * deleted.
 *
 * Call s3_purge_global_init() once before threads exist (curl_global_init,
 * xmlInitParser). Nothing here logs; messages carry the bucket, the prefix
 * and S3's error code and message, never credentials. Residual copies we
 * cannot reach: libcurl keeps its own copy of the secret access key for
 * the lifetime of the easy handle (freed, not wiped) and derives the
 * signing key on its own stack/heap. */
#ifndef LCW_S3_PURGE_H
#define LCW_S3_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3_params.h"

enum s3_result {
	S3_OK = 0,
	S3_ERR_INVALID_ARG,    /* bad bucket/prefix/volume id/endpoint: caller bug */
	S3_ERR_NO_SUCH_BUCKET, /* 404 NoSuchBucket */
	S3_ERR_AUTH,	       /* 401/403: InvalidAccessKeyId, SignatureDoesNotMatch,
				  AccessDenied, ... */
	S3_ERR_WRONG_REGION,   /* 301/307, PermanentRedirect, AuthorizationHeaderMalformed */
	S3_ERR_CONNECT,	       /* unresolvable, refused, reset, no reply */
	S3_ERR_TLS,	       /* handshake or certificate verification failed */
	S3_ERR_TIMEOUT,	       /* a request or the whole purge ran out of time */
	S3_ERR_HTTP,	       /* any other non-2xx answer */
	S3_ERR_TOO_LARGE,      /* response body over the limit */
	S3_ERR_BAD_RESPONSE,   /* not the XML we asked for */
	S3_ERR_OUTSIDE_PREFIX, /* the listing returned a key outside the volume:
				  nothing of that page was deleted */
	S3_ERR_DELETE_FAILED,  /* DeleteObjects reported errors for some keys */
	S3_ERR_NOT_EMPTY,      /* keys remained after the purge (a writer is still
				  active somewhere) */
	S3_ERR_INTERNAL,       /* allocation, libcurl setup */
};

const char *s3_result_name(int rc); /* "S3_ERR_AUTH", ... */

/* Zeroed fields take the defaults in brackets. */
struct s3_purge_opts {
	long connect_timeout_ms; /* [5000] */
	long timeout_ms;	 /* [60000] one request */
	long total_timeout_ms;	 /* [1800000] the whole purge, as the original */
	size_t max_body;	 /* [8 MiB] one response body */
	unsigned max_keys;	 /* [1000] ListObjectsV2 page size (1..1000) */
	unsigned max_pages;	 /* [1000000] */
	const char *ca_path;	 /* CA bundle for https; NULL = the system's */
	const char *proxy;	 /* NULL = none (proxy variables are ignored) */
	const char *connect_to;	 /* tests: a CURLOPT_CONNECT_TO entry */
	bool single_deletes;	 /* DELETE per object instead of DeleteObjects */
	bool probe_only;	 /* list at most one key, delete nothing */
};

struct s3_purge_stats {
	uint64_t listed;
	uint64_t deleted;
	unsigned pages;
	unsigned requests;
};

/* Once per process, before threads. Returns 0 or -1. */
int s3_purge_global_init(void);
/* At exit (tests, leak checkers): curl_global_cleanup, xmlCleanupParser. */
void s3_purge_global_cleanup(void);

/* Delete every object under <bucket>/[<prefix>/]volumes/<volid>/. The
 * secret must pass s3_secret_check; prefix must pass s3_prefix_valid (read
 * it from the PV's volume attributes, not from the StorageClass); volid
 * must pass volid_valid. st may be NULL. Returns S3_OK or an S3_ERR_* code
 * with err. */
int s3_purge_volume(const struct s3_secret *s, const char *prefix, const char *volid,
		    const struct s3_purge_opts *o, struct s3_purge_stats *st, char *err,
		    size_t errlen);

/* Before a mount: one ListObjectsV2 of at most one key under the volume's
 * prefix, so that a wrong endpoint, bad credentials, a wrong region or a
 * missing bucket is a clear error at stage time instead of a mount that
 * fails later. Same codes as s3_purge_volume; nothing is changed. */
int s3_probe_volume(const struct s3_secret *s, const char *prefix, const char *volid,
		    const struct s3_purge_opts *o, char *err, size_t errlen);

/* The pieces, exported for the tests. */

/* RFC 3986 / SigV4 URI encoding: unreserved characters as they are, every
 * other byte as %XX (upper case); with keep_slash, '/' stays. Returns 0 or
 * -1 (no room). */
int s3_uri_encode(const char *in, size_t n, bool keep_slash, char *out, size_t outlen);

/* The canonical ListObjectsV2 query (parameters sorted, values encoded):
 * "continuation-token=...&list-type=2&max-keys=N&prefix=...". token may be
 * NULL. Returns 0 or -1. */
int s3_list_query(const char *prefix, unsigned max_keys, const char *token, char *out,
		  size_t outlen);

#endif
