/* S3 backend: parsing and validation of the StorageClass / volume-context
 * parameters and of the S3 Secret's keys (upstream-behavior.md §3, §5.4,
 * contract items 10, 14). Pure: no I/O, no allocation except the locked
 * page that holds the S3 secret access key (struct lcw_secret).
 *
 * Every bad value is an error that names the parameter and quotes the
 * value (the original silently dropped what its parser did not like and
 * let rclone's defaults apply). Values are stored parsed (nanoseconds,
 * bytes); privd/s3/rclone_conf.c formats them in the syntax rclone 1.60's
 * flags accept.
 *
 * Accepted syntax, decided against Debian's rclone 1.60 and the original:
 *
 * durations  Go time.ParseDuration syntax, which is exactly what rclone
 *            1.60's mount/VFS flags take: one or more <number><unit>,
 *            number = digits with an optional fraction ("1.5h", ".5h"),
 *            unit = ns us µs ms s m h; plus "d" (24h), which the original
 *            driver accepted ("1d") and newer rclone accepts; and the bare
 *            "0". Rejected: signs, spaces, bare numbers other than 0, "off",
 *            w/M/y (rclone 1.60's flags reject them; "M" would be months),
 *            anything over 2562047h (Go's int64 nanoseconds).
 * sizes      rclone SizeSuffix syntax: <number><unit>[i|iB|ib] with unit
 *            B K M G T P in either case, binary multiples (10G == 10Gi ==
 *            10 GiB, as rclone and the original both read it); "0"; and
 *            "off" (no limit) where rclone allows it. Rejected: decimal
 *            "GB"/"KB" (rclone 1.60 refuses them), a bare number other than
 *            0 (rclone would read it as KiB, a trap), exponents, hex.
 */
#ifndef LCW_S3_PARAMS_H
#define LCW_S3_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secmem.h"

/* Bounds. The prefix leaves room below S3's 1024-byte key limit for
 * "/volumes/<volume id>/files/" and rclone's encrypted names. */
#define S3P_PREFIX_MAX 256
#define S3P_SECRET_NAME_MAX 253 /* Kubernetes object name (DNS subdomain) */
#define S3P_NAMESPACE_MAX 63	/* DNS label */
#define S3P_BUCKET_MAX 255	/* us-east-1 legacy names; 63 elsewhere */
#define S3P_REGION_MAX 64
#define S3P_ACCESS_KEY_ID_MAX 128
#define S3P_ENDPOINT_MAX 512
#define S3P_CHUNK_STREAMS_MAX 1024
#define S3P_VALUE_MAX 1024 /* any parameter value, before parsing */

#define S3P_DURATION_MAX_NS ((uint64_t)INT64_MAX)
#define S3P_SIZE_OFF (-1) /* "off": no limit */

enum rclone_cache_mode {
	RCLONE_CACHE_OFF = 0,
	RCLONE_CACHE_MINIMAL = 1,
	RCLONE_CACHE_WRITES = 2,
	RCLONE_CACHE_FULL = 3,
};
const char *rclone_cache_mode_name(int mode); /* "off", ..., NULL if bad */

/* StorageClass parameter names (contract item 14). */
#define S3P_KEY_BACKEND "storage-backend"
#define S3P_KEY_SECRET_NAME "s3-secret-name"
#define S3P_KEY_SECRET_NAMESPACE "s3-secret-namespace"
#define S3P_KEY_PREFIX "s3-path-prefix"
#define S3P_KEY_CACHE_MODE "rclone-vfs-cache-mode"
#define S3P_KEY_CACHE_MAX_AGE "rclone-vfs-cache-max-age"
#define S3P_KEY_CACHE_MAX_SIZE "rclone-vfs-cache-max-size"
#define S3P_KEY_CACHE_POLL "rclone-vfs-cache-poll-interval"
#define S3P_KEY_WRITE_BACK "rclone-vfs-write-back"
#define S3P_KEY_DIR_CACHE_TIME "rclone-dir-cache-time"
#define S3P_KEY_ATTR_TIMEOUT "rclone-attr-timeout"
#define S3P_KEY_CHUNK_STREAMS "rclone-vfs-read-chunk-streams"

/* Defaults of the original driver (§3.1): full / 4h / 5G / 1m / 3s / 1h / 1h. */
#define S3P_DEFAULT_CACHE_MODE RCLONE_CACHE_FULL
#define S3P_DEFAULT_CACHE_MAX_AGE_NS (4ULL * 3600ULL * 1000000000ULL)
#define S3P_DEFAULT_CACHE_MAX_SIZE (5LL * 1024LL * 1024LL * 1024LL)
#define S3P_DEFAULT_CACHE_POLL_NS (60ULL * 1000000000ULL)
#define S3P_DEFAULT_WRITE_BACK_NS (3ULL * 1000000000ULL)
#define S3P_DEFAULT_DIR_CACHE_TIME_NS (3600ULL * 1000000000ULL)
#define S3P_DEFAULT_ATTR_TIMEOUT_NS (3600ULL * 1000000000ULL)

struct s3_vol_params {
	bool is_s3; /* storage-backend is exactly "s3" (contract item 4) */
	char secret_name[S3P_SECRET_NAME_MAX + 1];	     /* "" = not given */
	char secret_namespace[S3P_NAMESPACE_MAX + 1]; /* "" = not given */
	char prefix[S3P_PREFIX_MAX + 1];	     /* "" = none */
	int cache_mode;				     /* enum rclone_cache_mode */
	uint64_t cache_max_age_ns;
	int64_t cache_max_size; /* bytes; S3P_SIZE_OFF = no limit */
	uint64_t cache_poll_ns; /* > 0 */
	uint64_t write_back_ns; /* 0 allowed: upload as soon as closed */
	uint64_t dir_cache_time_ns;
	uint64_t attr_timeout_ns;
	int read_chunk_streams; /* -1 = unset */
};

/* Defaults, as above. */
void s3_params_init(struct s3_vol_params *p);

/* Apply one parameter. Returns 0 when applied, 1 when the key is not an S3
 * backend parameter (the caller deals with it or ignores it), 2 when it
 * starts with "rclone-" but is none of ours (a typo, or a key the original
 * documented but ignored such as "rclone-cache-dir": ignored, as the
 * original did; log a warning), -1 when the value is invalid: err then
 * names the parameter and quotes the value (escaped, bounded). */
int s3_params_apply(struct s3_vol_params *p, const char *key, const char *value, char *err,
		    size_t errlen);

/* s3_params_init, then s3_params_apply for each pair; keys that are not
 * ours are ignored. Returns 0 or -1 with err (first bad parameter). With
 * unknown, when not NULL, set to the first unknown "rclone-*" key (or NULL). */
int s3_params_parse(struct s3_vol_params *p, const char *const *keys, const char *const *values,
		    size_t n, const char **unknown, char *err, size_t errlen);

/* The tuning travels between processes as struct ipc_s3_tuning (ipc_msg.h).
 * from_tuning checks the ranges again (the receiving side trusts nothing):
 * 0, or -1 when a value is out of range (p is then left at defaults for
 * the bad field). */
struct ipc_s3_tuning;
void s3_params_to_tuning(const struct s3_vol_params *p, struct ipc_s3_tuning *t);
int s3_params_from_tuning(const struct ipc_s3_tuning *t, struct s3_vol_params *p);

/* The parsers above, exported for rclone_conf.c and the tests. */
int lcw_duration_parse(const char *s, uint64_t *ns, char *why, size_t whylen);
/* Go syntax rclone 1.60 accepts, shortest exact form: "1h30m", "500ms",
 * "0s", "1s500ms". Returns 0 or -1 if it does not fit. */
int lcw_duration_format(uint64_t ns, char *out, size_t outlen);
int lcw_size_parse(const char *s, bool off_allowed, int64_t *bytes, char *why, size_t whylen);
/* "off", "0", or the largest exact binary unit: "5G", "1536M", "100K",
 * "1000B". Returns 0 or -1. */
int lcw_size_format(int64_t bytes, char *out, size_t outlen);

/* s3-path-prefix: 1..S3P_PREFIX_MAX bytes of [A-Za-z0-9] and
 * - _ . ! * ' ( ) + = @ , ~ separated by single "/"; no leading or
 * trailing "/", no empty, "." or ".." segment. The empty string means "no
 * prefix" and is valid. Returns 0 or -1 with why. */
int s3_prefix_valid(const char *prefix, char *why, size_t whylen);

/* ---- the S3 Secret (contract item 10) ----------------------------------- */

#define S3S_KEY_BUCKET "s3-bucket"
#define S3S_KEY_REGION "s3-region"
#define S3S_KEY_ACCESS_KEY_ID "s3-access-key-id"
#define S3S_KEY_SECRET_ACCESS_KEY "s3-secret-access-key"
#define S3S_KEY_ENDPOINT "s3-endpoint"
#define S3S_KEY_FORCE_PATH_STYLE "s3-force-path-style"

/* Required keys, NULL-terminated, in the order a missing one is reported. */
extern const char *const s3_secret_required_keys[];
/* Optional keys, NULL-terminated. */
extern const char *const s3_secret_optional_keys[];

struct s3_secret {
	char bucket[S3P_BUCKET_MAX + 1];
	char region[S3P_REGION_MAX + 1]; /* may be empty (us-east-1) */
	char access_key_id[S3P_ACCESS_KEY_ID_MAX + 1];
	struct lcw_secret secret_access_key; /* locked page; bytes[len] == 0 */
	char endpoint[S3P_ENDPOINT_MAX + 1]; /* "" = AWS */
	bool force_path_style;		     /* the value was exactly "true" */
	unsigned seen;			     /* internal: which keys were set */
};

/* Zero *s and allocate the locked page. Returns 0 or -1 (errno). */
int s3_secret_init(struct s3_secret *s);
/* Wipe and release. Safe on a zeroed or already-freed struct. */
void s3_secret_free(struct s3_secret *s);

/* Set one key from the Secret's decoded bytes (not NUL-terminated). Returns
 * 0, 1 when the key is not an S3 key (ignored), or -1 with err naming the
 * key (never quoting a secret value). Empty values are accepted for the
 * required keys, as in the original, except s3-bucket: an empty bucket
 * would make rclone take the next path component ("volumes") as the bucket
 * and the purge would have nothing to address. */
int s3_secret_set(struct s3_secret *s, const char *key, const void *val, size_t len, char *err,
		  size_t errlen);

/* After all keys are set: every required key present? Returns 0 or -1 with
 * err naming the first missing key ("S3 secret lacks key s3-region"). */
int s3_secret_check(const struct s3_secret *s, char *err, size_t errlen);

/* The endpoint as a URL: rclone (aws-sdk-go) reads a value without a
 * scheme as https://value, so do we. */
struct s3_endpoint {
	bool https;
	char host[256]; /* DNS name, IPv4, or "[IPv6]" */
	unsigned port;	/* 0 = scheme default */
	char path[256]; /* "" or "/base" without a trailing slash */
};
/* Parse and validate s3-endpoint. Returns 0 or -1 with why. */
int s3_endpoint_parse(const char *ep, struct s3_endpoint *out, char *why, size_t whylen);

/* Which addressing the node's rclone uses, so that the purge addresses
 * the same objects: path style when s3-force-path-style is "true", and
 * also whenever an endpoint is set (provider "Other", where rclone's
 * force_path_style defaults to true and the original never sent "false");
 * virtual-host style only for AWS (no endpoint). A bucket name with a dot
 * is always addressed path style (a wildcard certificate covers one label
 * only), nor is one that is not a DNS label (upper case, "_", > 63). */
bool s3_use_path_style(const struct s3_secret *s);

#endif
