/* Events and claims against tests/k8s/fake_apiserver.py over real TLS:
 * the Event's JSON (built with json-c: no value can add a field), its
 * POST (201 with the created object; 403 where RBAC says no; the body the
 * server got), the PVC GET, and privd's pure claim parser and event rate
 * limit (privd/k8s/pv_claim.c). Run through tests/k8s/run.sh with this
 * binary as its argument; output "ok -"/"not ok -" lines and
 * "k8s-event: N passed, N failed". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "k8s_client.h"
#include "pv_claim.h"

static int passed, failed;
static const char *dir, *logpath;
static int main_port;

static void __attribute__((format(printf, 3, 4)))
check(int cond, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		printf("ok - %s\n", name);
		passed++;
		return;
	}
	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static const char *
jget(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v;
	if (b) {
		if (!json_object_object_get_ex(o, a, &o))
			return NULL;
		a = b;
	}
	if (!json_object_object_get_ex(o, a, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct k8s_event
base_event(void)
{
	return (struct k8s_event){
		.ns = "default", .obj_api_version = "v1", .obj_kind = "PersistentVolumeClaim",
		.obj_name = "data-a", .obj_uid = "5b1e0c9a-0000-4000-8000-00000000000a",
		.type = "Warning", .reason = "UnuploadedData",
		.message = "3 file(s) are not uploaded yet", .component = "lukscryptwalker.csi.k8s.io",
		.instance = "node-1", .host = "node-1", .time_s = 1714557600,
		.name_nonce = 0x1234abcdull,
	};
}

static void
t_event_json(void)
{
	struct k8s_event ev = base_event();
	struct json_object *o;
	char *s = NULL, err[256] = "";
	size_t len = 0;
	int rc = k8s_event_json(&ev, &s, &len, err, sizeof(err));

	check(rc == K8S_OK && s && len == strlen(s), "event json: built", "%s %s",
	      k8s_result_name(rc), err);
	if (rc != K8S_OK)
		return;
	o = json_tokener_parse(s);
	check(o && jget(o, "kind", NULL) && !strcmp(jget(o, "kind", NULL), "Event") &&
		      !strcmp(jget(o, "apiVersion", NULL), "v1") &&
		      !strcmp(jget(o, "metadata", "namespace"), "default") &&
		      !strcmp(jget(o, "metadata", "name"), "data-a.000000001234abcd") &&
		      !strcmp(jget(o, "involvedObject", "kind"), "PersistentVolumeClaim") &&
		      !strcmp(jget(o, "involvedObject", "name"), "data-a") &&
		      !strcmp(jget(o, "involvedObject", "namespace"), "default") &&
		      !strcmp(jget(o, "involvedObject", "uid"), ev.obj_uid) &&
		      !strcmp(jget(o, "reason", NULL), "UnuploadedData") &&
		      !strcmp(jget(o, "type", NULL), "Warning") &&
		      !strcmp(jget(o, "source", "component"), ev.component) &&
		      !strcmp(jget(o, "source", "host"), "node-1") &&
		      !strcmp(jget(o, "reportingComponent", NULL), ev.component) &&
		      !strcmp(jget(o, "reportingInstance", NULL), "node-1") &&
		      !strcmp(jget(o, "firstTimestamp", NULL), "2024-05-01T10:00:00Z") &&
		      !strcmp(jget(o, "lastTimestamp", NULL), "2024-05-01T10:00:00Z"),
	      "event json: every field where the API expects it", "%s", s);
	json_object_put(o);
	free(s);

	/* a message that tries to close the string and add fields stays one
	 * string value */
	ev.message = "x\",\"type\":\"Normal\",\"reason\":\"Fake\"}\n\\";
	rc = k8s_event_json(&ev, &s, &len, err, sizeof(err));
	o = rc == K8S_OK ? json_tokener_parse(s) : NULL;
	check(o && !strcmp(jget(o, "message", NULL), ev.message) &&
		      !strcmp(jget(o, "type", NULL), "Warning") &&
		      !strcmp(jget(o, "reason", NULL), "UnuploadedData"),
	      "event json: a message cannot add or change a field", "%s", s ? s : err);
	json_object_put(o);
	free(s);

	struct {
		const char *what;
		struct k8s_event ev;
	} bad[] = {
		{ "namespace with a slash", base_event() }, { "type", base_event() },
		{ "object name", base_event() },	    { "control byte in reason", base_event() },
		{ "message too long", base_event() },
	};
	static char longmsg[1100];
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	bad[0].ev.ns = "default/../kube-system";
	bad[1].ev.type = "Error";
	bad[2].ev.obj_name = "Data_A";
	bad[3].ev.reason = "Un\nuploaded";
	bad[4].ev.message = longmsg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[96];
		s = NULL;
		rc = k8s_event_json(&bad[i].ev, &s, &len, err, sizeof(err));
		snprintf(name, sizeof(name), "event json: refused: %s", bad[i].what);
		check(rc == K8S_ERR_INVALID_ARG && s == NULL, name, "%s", k8s_result_name(rc));
		free(s);
	}
}

static struct k8s_client *
client(void)
{
	char base[128], tok[600], ca[600], err[256] = "";
	struct k8s_client_opts o = { 0 };
	struct k8s_client *c = NULL;

	snprintf(base, sizeof(base), "https://127.0.0.1:%d", main_port);
	snprintf(tok, sizeof(tok), "%s/token-old", dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	o.api_base = base;
	o.token_path = tok;
	o.ca_path = ca;
	int rc = k8s_client_new(&o, &c, err, sizeof(err));
	check(rc == K8S_OK, "client", "%s %s", k8s_result_name(rc), err);
	return c;
}

/* The last logged request's line containing all of needles. */
static int
logged(const char *n1, const char *n2, const char *n3)
{
	FILE *f = fopen(logpath, "r");
	char *line = NULL;
	size_t cap = 0;
	int hit = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0)
		if (strstr(line, n1) && (!n2 || strstr(line, n2)) && (!n3 || strstr(line, n3)))
			hit++;
	free(line);
	fclose(f);
	return hit;
}

static void
t_event_post(struct k8s_client *c)
{
	struct k8s_event ev = base_event();
	char err[512] = "";
	int rc;

	ev.name_nonce = 0x51515151;
	rc = k8s_event_create(c, &ev, err, sizeof(err));
	check(rc == K8S_OK, "event POST: 201 with the created Event", "%s %s", k8s_result_name(rc),
	      err);
	check(logged("\"method\": \"POST\"", "/api/v1/namespaces/default/events",
		     "data-a.0000000051515151") == 1 &&
		      logged("data-a.0000000051515151", "\"content_type\": \"application/json\"",
			     "\\\"reason\\\":\\\"UnuploadedData\\\"") == 1,
	      "event POST: the server got the Event as JSON, once", "request log");

	ev.ns = "forbidden";
	rc = k8s_event_create(c, &ev, err, sizeof(err));
	check(rc == K8S_ERR_FORBIDDEN && strstr(err, "cannot create resource \"events\""),
	      "event POST: 403 where RBAC forbids it", "%s %s", k8s_result_name(rc), err);
}

static void
t_pvc_get(struct k8s_client *c)
{
	struct pv_claim pc;
	char *json = NULL, err[512] = "";
	size_t len = 0;
	int rc = k8s_pvc_get(c, "default", "data-forced", &json, &len, err, sizeof(err));

	memset(&pc, 0, sizeof(pc));
	check(rc == K8S_OK && json && pvc_claim_parse(json, len, &pc) == 0 && pc.force == 1 &&
		      strncmp(pc.uid, "5b1e0c9a-", 9) == 0,
	      "PVC GET: annotated claim read, force set, uid", "%s %s", k8s_result_name(rc), err);
	free(json);
	json = NULL;
	rc = k8s_pvc_get(c, "default", "data-yes", &json, &len, err, sizeof(err));
	memset(&pc, 0, sizeof(pc));
	check(rc == K8S_OK && pvc_claim_parse(json, len, &pc) == 0 && pc.force == 0,
	      "PVC GET: \"yes\" is not \"true\"", "%s", k8s_result_name(rc));
	free(json);
	json = NULL;
	rc = k8s_pvc_get(c, "default", "data-plain", &json, &len, err, sizeof(err));
	memset(&pc, 0, sizeof(pc));
	check(rc == K8S_OK && pvc_claim_parse(json, len, &pc) == 0 && pc.force == 0,
	      "PVC GET: no annotation, no force", "%s", k8s_result_name(rc));
	free(json);
	json = NULL;
	rc = k8s_pvc_get(c, "default", "data-gone", &json, &len, err, sizeof(err));
	check(rc == K8S_ERR_NOT_FOUND && json == NULL, "PVC GET: 404", "%s", k8s_result_name(rc));
	rc = k8s_pvc_get(c, "forbidden", "data-forced", &json, &len, err, sizeof(err));
	check(rc == K8S_ERR_FORBIDDEN && json == NULL, "PVC GET: 403 where RBAC forbids it", "%s",
	      k8s_result_name(rc));
	rc = k8s_pvc_get(c, "default", "../secrets/x", &json, &len, err, sizeof(err));
	check(rc == K8S_ERR_INVALID_ARG && !logged("secrets/x", NULL, NULL),
	      "PVC GET: a name that is no object name is never sent", "%s", k8s_result_name(rc));
}

static void
t_pv_claim_parse(void)
{
	struct pv_claim pc;
	int r;
	const char *pv_item =
		"{\"metadata\":{\"name\":\"pv-1\",\"annotations\":{\"lukscryptwalker.io/force-unstage\":"
		"\"true\"}},\"spec\":{\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":"
		"\"apps\",\"name\":\"data-0\",\"uid\":\"0a1b2c3d-0000-4000-8000-000000000001\"}}}";
	const char *pv_plain =
		"{\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"pv-1\",\"annotations\":{"
		"\"lukscryptwalker.io/force-unstage\":\"True\"}},\"spec\":{\"claimRef\":{\"namespace\":"
		"\"Apps!\",\"name\":\"data-0\"}}}";
	const char *pvc_as_pv = "{\"kind\":\"PersistentVolumeClaim\",\"metadata\":{}}";

	r = pv_claim_parse(pv_item, strlen(pv_item), &pc);
	check(r == 0 && pc.force && pc.has_claim &&
		      !strcmp(pc.ns, "apps") && !strcmp(pc.name, "data-0") &&
		      !strcmp(pc.uid, "0a1b2c3d-0000-4000-8000-000000000001"),
	      "PV claim: list item with claimRef and force", "force %d claim %d", pc.force,
	      pc.has_claim);
	r = pv_claim_parse(pv_plain, strlen(pv_plain), &pc);
	check(r == 0 && !pc.force && !pc.has_claim,
	      "PV claim: \"True\" does not force; an invalid namespace is no claim", "%d %d",
	      pc.force, pc.has_claim);
	check(pv_claim_parse(pvc_as_pv, strlen(pvc_as_pv), &pc) == -1 &&
		      pv_claim_parse("{\"kind\":\"PersistentVolume\"} x", 29, &pc) == -1,
	      "PV claim: another kind, or trailing bytes, is refused", "parsed");
}

static void
t_event_limit(void)
{
	static struct event_limit l;
	char id[32];
	int n = 0;

	check(event_limit_admit(&l, "vol-a", "UnuploadedData", 1000) == 1 &&
		      event_limit_admit(&l, "vol-a", "UnuploadedData", 1000 + EVENT_MIN_INTERVAL_S - 1) == 0 &&
		      event_limit_admit(&l, "vol-a", "S3MountReestablished", 1001) == 1 &&
		      event_limit_admit(&l, "vol-b", "UnuploadedData", 1001) == 1 &&
		      event_limit_admit(&l, "vol-a", "UnuploadedData", 1000 + EVENT_MIN_INTERVAL_S) == 1,
	      "event limit: once per (volume, reason) per interval", "admitted wrongly");
	memset(&l, 0, sizeof(l));
	for (int i = 0; i < 3 * EVENT_LIMIT_SLOTS; i++) {
		snprintf(id, sizeof(id), "vol-%d", i);
		n += event_limit_admit(&l, id, "UnuploadedData", 5000);
	}
	check(n == EVENT_LIMIT_SLOTS && l.dropped == 2 * EVENT_LIMIT_SLOTS,
	      "event limit: a fixed table; past it events are dropped, nothing grows",
	      "admitted %d dropped %lu", n, l.dropped);
	check(event_limit_admit(&l, "vol-new", "UnuploadedData", 5000 + EVENT_MIN_INTERVAL_S) == 1,
	      "event limit: expired slots are reused", "not admitted");
}

int
main(void)
{
	const char *ports = getenv("K8S_TEST_PORTS");
	int wrong, dead;

	setvbuf(stdout, NULL, _IOLBF, 0);
	dir = getenv("K8S_TEST_DIR");
	logpath = getenv("K8S_TEST_LOG");
	if (!dir || !logpath || !ports || sscanf(ports, "%d %d %d", &main_port, &wrong, &dead) != 3) {
		fprintf(stderr, "run me through tests/k8s/run.sh\n");
		printf("k8s-event: 0 passed, 1 failed\n");
		return 1;
	}
	t_event_json();
	t_pv_claim_parse();
	t_event_limit();
	struct k8s_client *c = client();
	if (c) {
		t_event_post(c);
		t_pvc_get(c);
		k8s_client_free(c);
	}
	printf("k8s-event: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
